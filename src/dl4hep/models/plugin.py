"""What a model plugin declares, torch-free: its hyperparameter schema and its :class:`ModelSpec`.

A plugin file ``dl4hep/models/nets/<type>.py`` starts with a ``Params`` class (a subclass of
:class:`Params`) and ``SPEC = ModelSpec(...)``; config checks read only that head
(:mod:`dl4hep.models.specs`), so it may import pydantic and this module but not torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dl4hep.contracts import Block

__all__ = ["Activation", "ModelSpec", "Params"]

Activation = Literal["relu", "silu", "gelu", "tanh", "leaky_relu"]


class Params(BaseModel):
    """Base of every model's hyperparameters: unknown keys are errors (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ModelSpec:
    """A model type as the registry sees it.

    Attributes:
        params: The hyperparameter schema (defaults are the shipped architecture).
        inputs: Dataset blocks the model can read (``tabular`` or ``points``).
        description: One line for listings and docs.
        network: Name of the ``nn.Module`` class in the plugin file (or the class itself, for a
            plugin registered with :meth:`dl4hep.plugins.Registry.register`). It is built as
            ``network(params, num_classes=, input_dim=, point_names=)``.
        objective: ``classifier`` models return class logits (or regression outputs); ``anomaly``
            models return one anomaly score per row and train on the background class only.
        requires_p4: Whether the model needs ``points_p4`` in the dataset: ``True``/``False``, or
            the name of the boolean hyperparameter that switches the need on (see :meth:`needs_p4`).
        tiny: Small hyperparameters with which the tests build and run the model in milliseconds.
        permutation_invariant: Whether outputs are unchanged when the particles are reordered
            (checked by the tests for every point-cloud model that claims it).
        export: ``as_trained``: ONNX/TorchScript trace the training forward; ``twin``: some of the
            model's modules subclass :class:`dl4hep.models.common.ExportPath` and switch to a
            traceable inference twin for export (:func:`dl4hep.models.registry.use_export_path`).
    """

    params: type[Params]
    inputs: tuple[Block, ...]
    description: str
    network: str | type
    objective: Literal["classifier", "anomaly"] = "classifier"
    requires_p4: bool | str = False
    tiny: dict[str, Any] = field(default_factory=dict)
    permutation_invariant: bool = False
    export: Literal["as_trained", "twin"] = "as_trained"

    def needs_p4(self, params: Params) -> bool:
        """Whether a model with these (validated) hyperparameters reads ``points_p4``."""
        if isinstance(self.requires_p4, str):
            return bool(getattr(params, self.requires_p4))
        return self.requires_p4
