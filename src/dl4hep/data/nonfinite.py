"""Find rows whose training inputs hold NaN or +-inf, counted per feature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["nonfinite_rows"]


def nonfinite_rows(
    *,
    weight: np.ndarray,
    tabular: np.ndarray | None,
    tabular_names: Sequence[str],
    points: np.ndarray | None,
    points_mask: np.ndarray | None,
    point_names: Sequence[str],
    points_p4: np.ndarray | None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Rows with any non-finite input and the number of such rows per feature.

    Args:
        weight: ``(rows,)`` generator weights (a NaN weight is as harmful as a NaN input).
        tabular: ``(rows, T)`` or None.
        points: ``(rows, P, F)`` or None; only entries with ``points_mask`` True count.
        points_p4: ``(rows, P, 4)`` or None, reported as ``points_p4``.

    Returns:
        ``(bad, counts)``: bad is ``(rows,)`` bool; counts maps feature name to the
        number of rows where that feature is non-finite (a row can count for several).
    """
    bad = ~np.isfinite(weight)
    counts: dict[str, int] = {}
    if bad.any():
        counts["weight"] = int(bad.sum())
    if tabular is not None and tabular.shape[1]:
        per = ~np.isfinite(tabular)
        for j, name in enumerate(tabular_names):
            n = int(per[:, j].sum())
            if n:
                counts[name] = n
        bad |= per.any(axis=1)
    if points is not None and points.shape[-1]:
        per = np.any(~np.isfinite(points) & points_mask[:, :, None], axis=1)  # (rows, F)
        for j, name in enumerate(point_names):
            n = int(per[:, j].sum())
            if n:
                counts[f"points.{name}"] = n
        bad |= per.any(axis=1)
    if points_p4 is not None:
        per = np.any(~np.isfinite(points_p4) & points_mask[:, :, None], axis=(1, 2))
        if per.any():
            counts["points_p4"] = int(per.sum())
        bad |= per
    return bad, counts
