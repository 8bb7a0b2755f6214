"""Feature rows of one chunk -> model tensors, object indices and per-entry layout.

Every feature set emits its objects event by event in stored order (``event_index`` is
non-decreasing; see :class:`dl4hep.features.base.FeatureOutput`), so a row's object index is
its position among the rows of its event, and rows unflatten onto entries by their counts.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
import torch

from dl4hep.data.tensors import InputSpec, arrays_to_tensors
from dl4hep.errors import DataError
from dl4hep.features import registry as features_registry
from dl4hep.features.base import FeatureOutput

__all__ = [
    "is_event_level",
    "model_tensors",
    "object_index",
    "row_counts",
    "usable_rows",
]

def is_event_level(feature_sets: list[str]) -> bool:
    """True when every set of the task gives one row per event (keys need no object index).

    Each set says so itself (``EVENT_LEVEL``, :mod:`dl4hep.features.protocol`).
    """
    return features_registry.is_event_level(feature_sets)


def row_counts(rows: FeatureOutput, entries: int) -> np.ndarray:
    """Rows per entry of the chunk; raises if the rows are not grouped by entry in order."""
    idx = np.asarray(rows.event_index, np.int64)
    if len(idx) and (np.any(np.diff(idx) < 0) or idx[0] < 0 or idx[-1] >= entries):
        raise DataError(
            "feature rows are not ordered by entry; cannot align scores with the input's entries"
        )
    return np.bincount(idx, minlength=entries).astype(np.int64)


def object_index(rows: FeatureOutput, counts: np.ndarray) -> np.ndarray:
    """Index of each row's object within its event (0 for event-level rows)."""
    starts = np.cumsum(counts) - counts
    return np.arange(len(rows), dtype=np.int64) - starts[np.asarray(rows.event_index, np.int64)]


def model_tensors(rows: FeatureOutput, spec: InputSpec) -> dict[str, torch.Tensor]:
    """Normalised model inputs of every row, built by the code ``dl4hep predict`` uses (arrays_to_tensors)."""
    if spec.block == "tabular":
        arr: dict[str, Any] = {
            "tabular": ak.zip({n: np.asarray(rows.tabular[n], np.float32) for n in spec.all_names})
        }
    else:
        if rows.points is None or rows.points_mask is None:
            raise DataError(
                "the task's feature sets build no point clouds, but the model reads points"
            )
        arr = {"points": ak.from_numpy(rows.points), "points_mask": ak.from_numpy(rows.points_mask)}
        if spec.has_p4:
            arr["points_p4"] = ak.from_numpy(rows.points_p4)
    return arrays_to_tensors(ak.Array(arr) if len(rows) else _empty(spec), spec)


def _empty(spec: InputSpec) -> ak.Array:
    if spec.block == "tabular":
        return ak.Array({"tabular": ak.zip({n: np.zeros(0, np.float32) for n in spec.all_names})})
    width = len(spec.all_names)  # arrays_to_tensors re-pads empty inputs to max_points itself
    return ak.Array(
        {
            "points": np.zeros((0, 1, width), np.float32),
            "points_mask": np.zeros((0, 1), bool),
            "points_p4": np.zeros((0, 1, 4), np.float32),
        }
    )


def usable_rows(tensors: dict[str, torch.Tensor]) -> np.ndarray:
    """Rows whose model inputs are all finite (the dataset stage drops the others under nan_policy)."""
    ok: np.ndarray | None = None
    for t in tensors.values():
        if not t.is_floating_point():
            continue
        good = torch.isfinite(t.reshape(len(t), -1)).all(dim=1).numpy()
        ok = good if ok is None else ok & good
    n = len(next(iter(tensors.values()))) if tensors else 0
    return np.ones(n, bool) if ok is None else ok
