"""What every feature set returns for one chunk, and small columnar helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np
import vector

# cartesian and delta_phi live in dl4hep.kinematics; re-exported here for the feature sets
from dl4hep.kinematics import cartesian, delta_phi

__all__ = ["FeatureOutput", "cartesian", "delta_phi", "to_numpy"]

vector.register_awkward()  # Momentum4D behaviour for every feature set


@dataclass
class FeatureOutput:
    """Rows produced by one feature set for one chunk (one row per object).

    Attributes:
        event_index: ``(rows,)`` int64, entry of the chunk each row comes from.
        tabular: name -> ``(rows,)`` float32.
        observers: name -> ``(rows,)`` float32.
        points: ``(rows, P, F)`` float32, zero-padded, or None.
        points_mask: ``(rows, P)`` bool.
        points_p4: ``(rows, P, 4)`` float32 ``(px, py, pz, E)``.
        truth_match: ``(rows,)`` bool, or None when the input has no flag.
    """

    event_index: np.ndarray
    tabular: dict[str, np.ndarray] = field(default_factory=dict)
    observers: dict[str, np.ndarray] = field(default_factory=dict)
    points: np.ndarray | None = None
    points_mask: np.ndarray | None = None
    points_p4: np.ndarray | None = None
    truth_match: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.event_index)


def to_numpy(x: ak.Array | np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Flat numpy array of ``dtype``; missing values (None) become NaN.

    ``ak.fill_none`` (~7x the cost of the conversion) only runs on option-type arrays.
    """
    if isinstance(x, ak.Array):
        x = ak.to_numpy(ak.fill_none(x, np.nan) if x.layout.is_option else x, allow_missing=False)
    return np.asarray(x, dtype=dtype)

