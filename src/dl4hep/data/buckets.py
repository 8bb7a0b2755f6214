"""Point-cloud batches without work on padding: per-row lengths, batch trimming, length bucketing.

Datasets pad every jet (or hit cloud) to ``max_points`` slots, real entries first,
while a typical jet fills about half of them. A batch is cut to the last real slot
of its longest member (:func:`trim_length`), and the training order groups rows of
similar length (:func:`bucketed_batches`): the epoch's shuffled permutation is cut
into windows of ``window`` batches, each window sorted by length, cut into batches,
and the batch order shuffled again. Batches are then nearly free of padding while
every row is still visited once per epoch in a seed-reproducible order (the same
scheme as a "sortish" sampler). Models mask padding everywhere, so trimming changes
no output beyond float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["POINT_KEYS", "bucketed_batches", "point_lengths", "trim_length"]

#: Tensors with a particle axis (axis 1) that are trimmed together.
POINT_KEYS = ("points", "points_mask", "points_p4")


def point_lengths(mask: Tensor) -> Tensor:
    """Per row, one past the last real slot of ``mask`` ``(N, P)`` (0 for a row without any), int64."""
    n, p = mask.shape
    if p == 0:
        return torch.zeros(n, dtype=torch.long)
    slot = torch.arange(1, p + 1, dtype=torch.long).expand(n, p)
    return torch.where(mask, slot, torch.zeros((), dtype=torch.long)).amax(1)


def trim_length(lengths: Tensor, idx: Tensor) -> int:
    """Slots a batch ``idx`` needs: its longest row, at least one (models need a non-empty axis)."""
    return max(1, int(lengths.index_select(0, idx).max())) if len(idx) else 1


def bucketed_batches(
    perm: Tensor,
    lengths: Tensor,
    *,
    batch_size: int,
    window: int,
    generator: torch.Generator | None,
) -> list[Tensor]:
    """Batches of row indices from the shuffled ``perm``, rows of similar length together.

    ``perm`` is cut into windows of ``window * batch_size`` rows; each window is
    sorted by ``lengths`` (stable, so ties keep their shuffled order), the sorted
    sequence is cut into batches of ``batch_size`` (only the last one shorter) and
    the batch order is shuffled with ``generator``. ``window <= 1`` keeps ``perm``'s
    order (plain shuffled batches).
    """
    if window <= 1 or len(perm) <= batch_size:
        return list(perm.split(batch_size))
    span = window * batch_size
    key = torch.arange(len(perm)) // span * (int(lengths.max()) + 1) + lengths.index_select(0, perm)
    ordered = perm.index_select(0, torch.argsort(key, stable=True))
    batches = list(ordered.split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle.tolist()]
