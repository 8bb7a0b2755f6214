"""Input standardisation statistics, computed on the training split only.

Models subtract ``mean`` and divide by ``std`` per feature. Point statistics use
only real particles/hits (``points_mask`` True), so zero padding does not pull
the mean towards 0. A standard deviation below :data:`STD_FLOOR` (a constant
feature) is replaced by 1 so the division is harmless.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STD_FLOOR", "points_stats", "tabular_stats"]

STD_FLOOR = 1e-6


def _stats(values: np.ndarray) -> dict[str, list[float]]:
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] == 0:
        n = v.shape[1] if v.ndim == 2 else 0
        return {"mean": [0.0] * n, "std": [1.0] * n}
    mean = v.mean(axis=0)
    std = v.std(axis=0)
    std = np.where(std < STD_FLOOR, 1.0, std)
    return {"mean": [float(x) for x in mean], "std": [float(x) for x in std]}


def tabular_stats(x: np.ndarray) -> dict[str, list[float]]:
    """Mean and std per column of ``x``, shape ``(rows, features)``."""
    return _stats(x)


def points_stats(points: np.ndarray, mask: np.ndarray) -> dict[str, list[float]]:
    """Mean and std per feature over unmasked entries.

    Args:
        points: ``(rows, particles, features)``.
        mask: ``(rows, particles)`` bool, True for real particles.
    """
    return _stats(np.asarray(points)[np.asarray(mask, dtype=bool)])
