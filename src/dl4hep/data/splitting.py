"""Deterministic train/val/test assignment from a hash of ``(run, event)``.

The split of an object depends only on its event identity, never on file order,
chunking or the other events, and every object of one event (several jets or
clusters) lands in the same split. The hash is SplitMix64 (Steele, Lea & Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) applied twice:
``h = mix(mix(run) XOR event)``; its low 32 bits divided by 2^32 give a number
in ``[0, 1)`` that is compared with the cumulative split fractions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["SPLITS", "assign_splits", "event_hash", "event_uniform"]

#: Split names in the order their fractions are accumulated.
SPLITS: tuple[str, str, str] = ("train", "val", "test")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_LOW32 = np.uint64(0xFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def event_hash(run: np.ndarray, event: np.ndarray) -> np.ndarray:
    """64-bit hash of each ``(run, event)`` pair, shape ``(n,)`` uint64 (wrapping arithmetic)."""
    r = np.asarray(run, dtype=np.int64).astype(np.uint64)
    e = np.asarray(event, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return _splitmix64(_splitmix64(r) ^ e)


def event_uniform(run: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``hash(run, event) mod 2^32 / 2^32``: a number in ``[0, 1)`` per object, float64."""
    return (event_hash(run, event) & _LOW32).astype(np.float64) / 2.0**32


def assign_splits(run: np.ndarray, event: np.ndarray, fractions: Mapping[str, float]) -> np.ndarray:
    """Split index per object (0 = train, 1 = val, 2 = test), shape ``(n,)`` int8.

    Args:
        run, event: event identity of each object, shape ``(n,)``.
        fractions: ``{"train": f, "val": f, "test": f}`` summing to 1.
    """
    u = event_uniform(run, event)
    edges = np.cumsum([float(fractions[s]) for s in SPLITS])
    edges[-1] = np.inf  # rounding of the sum must never leave an object unassigned
    return np.searchsorted(edges, u, side="right").astype(np.int8)
