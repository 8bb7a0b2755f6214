"""Models: the registry of architectures that ``dl4hep train`` builds (no stage of its own).

Input: a model config (``type``, ``inputs``, ``hyperparameters``; ``configs/models/<type>.yaml``)
and the dataset block it reads. Output: an ``nn.Module`` taking the tensors named in its
``input_names`` (``tabular``; or ``points``, ``points_mask``, ``points_p4``) and returning
``(batch, classes)`` logits, or ``(batch, 1)`` anomaly scores. Training, prediction and export
(``dl4hep.training``) are the stages that use it.

Modules:

- :mod:`~dl4hep.models.plugin` (torch-free): ``Params`` base and :class:`ModelSpec`, what a plugin declares.
- :mod:`~dl4hep.models.specs` (torch-free): the registry ``MODELS``, :func:`model_spec`,
  :func:`check_model`, :func:`parse_hyperparameters` (run when a config is loaded).
- :mod:`~dl4hep.models.registry` (torch): :func:`build_model`, :func:`use_export_path`, sizes, example inputs.
- :mod:`~dl4hep.models.common`, :mod:`~dl4hep.models.graph` (torch): layers shared by the architectures.
- :mod:`dl4hep.models.nets`: one file per architecture; the file name is the model type.

Adding a model is one file ``src/dl4hep/models/nets/<type>.py`` plus ``configs/models/<type>.yaml``.
The file's head, everything up to ``SPEC = ...``, must not import torch: config checks run only
that part. The tests build every registered model with ``SPEC.tiny`` and check its output shape,
finiteness, padding and (if claimed) permutation invariance and export twin::

    \"\"\"My net (Author, arXiv:xxxx.xxxxx): what it does.\"\"\"
    # ruff: noqa: E402  (torch is imported below the torch-free head)

    from __future__ import annotations

    from pydantic import Field

    from dl4hep.models import plugin


    class Params(plugin.Params):
        hidden: int = Field(64, ge=1, description="Width of every layer.")


    SPEC = plugin.ModelSpec(
        params=Params, inputs=("points",), description="My net", network="MyNet",
        tiny={"hidden": 8}, permutation_invariant=True,
    )

    # ---------------------------------------------------------- network (imports torch)

    from torch import Tensor, nn


    class MyNet(nn.Module):
        input_names = ("points", "points_mask")
        trim_padding = True  # outputs do not depend on the padded width

        def __init__(self, params: Params, *, num_classes: int, input_dim: int,
                     point_names: list[str] | None = None):
            super().__init__()
            ...

        def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
            ...

A module with a traceable inference twin for export subclasses
:class:`dl4hep.models.common.ExportPath` and the spec says ``export="twin"``; a model that reads
``points_p4`` sets ``requires_p4`` (docs/models.md).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "build_model",
    "check_model",
    "count_parameters",
    "model_inputs",
    "model_spec",
    "model_types",
    "parse_hyperparameters",
    "trims_padding",
    "use_export_path",
]

_HOME = {
    "check_model": "specs",
    "model_spec": "specs",
    "model_types": "specs",
    "parse_hyperparameters": "specs",
    "build_model": "registry",
    "count_parameters": "registry",
    "model_inputs": "registry",
    "trims_padding": "registry",
    "use_export_path": "registry",
}


def __getattr__(name: str) -> Any:
    """Import the entry functions on first use: the torch-free ones do not pull in torch."""
    if name in _HOME:
        return getattr(importlib.import_module(f"dl4hep.models.{_HOME[name]}"), name)
    raise AttributeError(f"module 'dl4hep.models' has no attribute '{name}'")
