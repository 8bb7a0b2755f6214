"""A trained dl4hep model inside a coffea analysis: a ``coffea.ml_tools.torch_wrapper`` subclass.

::

    from dl4hep.coffea import Tagger
    tagger = Tagger("results/models/dy_vs_tt/dnn", config="configs/examples/nanoaod_analysis.yaml",
                    task="dy_vs_tt")
    scores = tagger(events)  # NanoEvents, eager or dask: (events, classes), or (events, objects, classes)

:meth:`Tagger.prepare_awkward` takes the branches the task's feature sets need from the NanoEvents
(``Jet_pt`` is ``events.Jet.pt`` with ``NanoAODSchema``, ``events.Jet_pt`` with ``BaseSchema``),
builds the task's features with the code ``dl4hep features`` and ``dl4hep apply`` run
(:meth:`dl4hep.features.api.FeaturePlan.compute`) and normalises them with the training
statistics, so the probabilities equal those of ``dl4hep apply`` for the same rows. Unlike
``apply`` the task's ``selection`` is not applied: every event (or every object of the task's
collection, in stored order) gets a score, and the analysis cuts as it likes.

coffea's wrapper loads TorchScript only: the first ``Tagger`` of a model traces ``best.pt`` into
``model.torchscript.pt`` beside it (:mod:`dl4hep.apply.torchscript`). With dask the features of a
partition are computed inside one ``map_partitions`` task that reads only the needed branches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea.ml_tools.helper import nonserializable_attribute
from coffea.ml_tools.torch_wrapper import torch_wrapper

from dl4hep.apply.api import task_schema
from dl4hep.apply.rows import is_event_level, model_tensors, row_counts
from dl4hep.apply.scorer import load_scorer
from dl4hep.config import AnalysisConfig
from dl4hep.errors import BranchNotFoundError, ConfigError, did_you_mean
from dl4hep.features.api import FeaturePlan
from dl4hep.io.reader import logical_record
from dl4hep.io.schema import InputSchema
from dl4hep.validate import load_checked

__all__ = ["Tagger", "branch_names"]

#: File name of the traced model in the model directory.
TORCHSCRIPT = "model.torchscript.pt"


def branch_names(events: Any) -> set[str]:
    """Flat NanoAOD branch names the NanoEvents provide (``Jet_pt`` for ``events.Jet.pt``)."""
    names = set(events.fields)
    for coll in events.fields:
        sub = events[coll].fields
        names.update(f"{coll}_{f}" for f in sub)
    return names


def _branch(events: Any, branch: str) -> Any:
    if branch in events.fields:
        return events[branch]
    head, _, rest = branch.partition("_")
    if head in events.fields and rest in events[head].fields:
        return events[head][rest]
    raise BranchNotFoundError(
        f"branch '{branch}' not found in the NanoEvents."
        + did_you_mean(branch, branch_names(events))
    )


class _Col:
    """A column as :func:`dl4hep.io.reader.logical_record` expects it (the NanoEvents branch as key)."""

    def __init__(self, collection: str | None, field: str, branch: str) -> None:
        self.collection, self.field, self.column = collection, field, branch


def _columns(
    schema: InputSchema, needs: dict[str, dict[str, bool]], available: set[str]
) -> list[_Col]:
    """Event identity, weight and every needed field as branches (the rules of the file reader)."""
    cols = [
        _Col(None, k, b)
        for k, b in (
            ("run", schema.event_id.run),
            ("luminosityBlock", schema.event_id.luminosityBlock),
            ("event", schema.event_id.event),
            ("weight", schema.weight),
        )
        if b
    ]
    for coll, fields in needs.items():
        spec = schema.collection(coll, where="the task's feature sets")
        for name, required in fields.items():
            branch = spec.fields.get(name)
            if branch is None and required:
                raise ConfigError(
                    f"input schema {schema.source} maps no branch for '{coll}.{name}', which the task needs"
                )
            if branch is not None:
                cols.append(_Col(coll, name, branch))
    missing = sorted({c.column for c in cols} - available)
    if missing:
        raise BranchNotFoundError(
            f"the NanoEvents lack branch '{missing[0]}' (input schema {schema.source}), which "
            "the task's features need." + did_you_mean(missing[0], available)
        )
    return cols


class Tagger(torch_wrapper):
    """``Tagger(model_dir, config=..., task=...)(events)``: class probabilities of a dl4hep model on NanoEvents.

    Args:
        model_dir: trained model directory (``best.pt``); its TorchScript trace is written beside it once.
        config: the analysis config (path(s) or an :class:`AnalysisConfig`) the model was trained with.
        task: the task name.
        torchscript: use this TorchScript file instead of ``model_dir/model.torchscript.pt``.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        config: str | Path | list[str | Path] | AnalysisConfig,
        task: str,
        torchscript: str | Path | None = None,
    ) -> None:
        cfg = (
            config
            if isinstance(config, AnalysisConfig)
            else load_checked(*(config if isinstance(config, list) else [config]))
        )
        self.task_config, self.task = cfg.task(task), task
        self.schema = task_schema(cfg, task)
        plan = FeaturePlan(self.task_config, task)
        scorer = load_scorer(model_dir)
        if scorer.classes != list(self.task_config.classes):
            raise ConfigError(
                f"model {model_dir} was trained for classes {scorer.classes}, task '{task}' has "
                f"{self.task_config.classes}"
            )
        self.classes, self.inputs = scorer.classes, scorer.inputs
        names = plan.tabular if scorer.block == "tabular" else plan.points
        self.spec = scorer.input_spec(list(names), plan.max_points, task=task)
        self.event_level = is_event_level([s[0] for s in plan.sets])
        path = Path(torchscript) if torchscript else Path(model_dir) / TORCHSCRIPT
        if not path.exists():
            from dl4hep.apply.torchscript import export_torchscript

            export_torchscript(Path(model_dir), path)
        super().__init__(str(path), expected_output_shape=(None, len(self.classes)))
        nonserializable_attribute.__init__(self, ["model", "device", "plan"])
        self._counts: Any = None

    def _create_plan(self) -> FeaturePlan:
        return FeaturePlan(self.task_config, self.task)

    # ------------------------------------------------------------------ features of one partition
    def _branches(self, events: Any) -> tuple[InputSchema, list[_Col]]:
        available = branch_names(events)
        flavour = self.schema.resolve(available, "the NanoEvents")
        return flavour, _columns(flavour, self.plan.needs, available)

    def _model_inputs(self, flavour: InputSchema, cols: list[_Col], record: ak.Array) -> ak.Array:
        """Per event: the model inputs, regular per row (event-level) or a list of rows (object-level)."""
        if (
            ak.backend(record) == "typetracer"
        ):  # dask's metadata pass: touch the branches, compute on 0 events
            ak.typetracer.touch_data(record)
            empty = ak.Array(record.layout.form.length_zero_array())
            return ak.Array(
                self._model_inputs(flavour, cols, empty).layout.to_typetracer(forget_length=True)
            )
        self.schema.bind(flavour)
        chunk = logical_record(flavour, cols, {c.column: record[c.column] for c in cols})
        rows = self.plan.compute(chunk, flavour)
        tensors = model_tensors(rows, self.spec)
        out = {k: ak.from_numpy(tensors[k].numpy()) for k in self.inputs}
        if not self.event_level:
            counts = row_counts(rows, len(chunk))
            out = {k: ak.unflatten(v, counts) for k, v in out.items()}
        return ak.zip(out, depth_limit=1)

    def prepare_awkward(self, events: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        flavour, cols = self._branches(events)
        arrays = {c.column: _branch(events, c.column) for c in {c.column: c for c in cols}.values()}
        lib = self.get_awkward_lib(events)
        if lib is ak:
            per_event = self._model_inputs(flavour, cols, ak.zip(arrays, depth_limit=1))
        else:
            per_event = lib.map_partitions(
                self._model_inputs,
                flavour,
                cols,
                lib.zip(arrays, depth_limit=1),
                label="dl4hep_features",
            )
        if self.event_level:
            self._counts = None
            return tuple(per_event[k] for k in self.inputs), {}
        self._counts = lib.num(per_event[self.inputs[0]], axis=1)
        return tuple(lib.flatten(per_event[k], axis=1) for k in self.inputs), {}

    def postprocess_awkward(self, return_array: Any, *args: Any, **kwargs: Any) -> Any:
        """Object-level tasks: one list of scores per event, aligned with the task's collection."""
        if self._counts is None:
            return return_array
        lib = self.get_awkward_lib(return_array) or ak
        return lib.unflatten(return_array, self._counts)

    def validate_numpy_input(self, *args: np.ndarray, **kwargs: np.ndarray) -> None:
        """Inputs are built by this class; nothing to check (and no warning)."""
