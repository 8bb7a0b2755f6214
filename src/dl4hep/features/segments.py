"""Flat-array helpers for per-object ("segment") computations shared by the feature sets.

A *segment* is a run of consecutive elements of a flat array that belong to one object
(the hits of a cluster, the constituents of a jet); ``counts[s]`` is its length and the
segments follow each other in order, so segment ``s`` starts at ``starts(counts)[s]``.
Every helper is one or a few numpy calls over the whole chunk, with no Python loop over
segments.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "argsort_desc_within", "by_integer", "scatter_padded", "slots", "stack_columns", "starts",
]


def starts(counts: np.ndarray) -> np.ndarray:
    """Index of the first element of every segment."""
    return np.cumsum(counts) - counts


def slots(counts: np.ndarray) -> np.ndarray:
    """Position of every element inside its segment (0, 1, ... per segment)."""
    return np.arange(int(np.sum(counts))) - np.repeat(starts(counts), counts)


def _ordered_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> int64 in [0, 2**32) with the order of ``np.sort`` (-0.0 == 0.0, every NaN equal and last)."""
    x = np.where(np.isnan(x), np.float32(np.nan), x + np.float32(0.0))  # one NaN, -0.0 -> +0.0
    b = x.view(np.int32).astype(np.int64)
    return np.where(b < 0, b ^ 0x7FFFFFFF, b) + 2**31  # negative floats: reverse the magnitude bits


def argsort_desc_within(segment: np.ndarray, values: np.ndarray, nan_first: bool = False) -> np.ndarray:
    """Indices ordering elements by segment, then by decreasing ``values``, ties in input order.

    NaN values go last, as in ``np.lexsort((-values, segment))`` (the same result), or first
    with ``nan_first``, as in ``ak.argsort(..., ascending=False)``. When ``values`` are float32
    (or exactly representable as such) and segments < 2**31, the two keys are packed into one
    int64 (segment in the high 32 bits, the order-preserving bits of ``-values`` in the low
    ones) and sorted with one stable argsort: 5-10x faster than the lexsort on grouped input.
    """
    if values.dtype != np.float32:
        with np.errstate(over="ignore"):
            v32 = values.astype(np.float32)
        if not np.array_equal(v32, values, equal_nan=True):
            return _lexsort_desc(segment, values, nan_first)
        values = v32
    if len(segment) and segment.max() >= 2**31:
        return _lexsort_desc(segment, values, nan_first)
    bits = _ordered_bits(-values)
    if nan_first:
        bits[np.isnan(values)] = 0  # below every number (0 is the bits of no canonical float)
    return np.argsort((segment.astype(np.int64) << 32) | bits, kind="stable")


def _lexsort_desc(segment: np.ndarray, values: np.ndarray, nan_first: bool) -> np.ndarray:
    if nan_first:
        return np.lexsort((-values, ~np.isnan(values), segment))
    return np.lexsort((-values, segment))


def scatter_padded(values: np.ndarray, rows: np.ndarray, slot: np.ndarray, n: int, length: int,
                   dtype: type = np.float32) -> np.ndarray:
    """``(n, length, *values.shape[1:])`` zeros with ``values[k]`` placed at ``(rows[k], slot[k])``.

    ``slot < length`` must hold. One flat destination index per value; a row of features is
    moved as one opaque item (a ``np.void`` view), 2x faster than 2-d fancy indexing.
    """
    out = np.zeros((n, length, *values.shape[1:]), dtype)
    dest = rows * length + slot
    values = np.ascontiguousarray(values, dtype=dtype)
    if values.ndim == 1 or values.size == 0:
        out.reshape(n * length, *values.shape[1:])[dest] = values
        return out
    width = int(np.prod(values.shape[1:]))
    item = np.dtype((np.void, values.itemsize * width))
    out.reshape(n * length, width).view(item)[dest] = values.reshape(len(values), width).view(item)
    return out


def stack_columns(columns: list[np.ndarray], dtype: type = np.float32) -> np.ndarray:
    """``np.stack(columns, axis=-1).astype(dtype)``, 2-4x faster.

    Each column is cast into a contiguous row of a ``(k, n)`` buffer, then one transposing copy.
    """
    out = np.empty((len(columns), len(columns[0])), dtype)
    for i, c in enumerate(columns):
        out[i] = c
    return np.ascontiguousarray(out.T)


def by_integer(fn: Callable[[np.ndarray], np.ndarray], k: np.ndarray) -> np.ndarray:
    """``fn(k)`` for an integer array, evaluated once per value of ``k``'s range and gathered.

    Identical results to ``fn(k)`` (same inputs to the same elementwise functions); used for
    crystal (ieta, iphi) -> trigonometric factors, where a few hundred values repeat many
    times. Falls back to ``fn(k)`` when the range is larger than the array.
    """
    if len(k) == 0:
        return fn(k)
    lo, hi = int(k.min()), int(k.max())
    if hi - lo + 1 > len(k):
        return fn(k)
    return fn(np.arange(lo, hi + 1, dtype=k.dtype))[k - lo]
