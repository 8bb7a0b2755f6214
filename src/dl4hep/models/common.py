"""Building blocks shared by the models: activations, MLPs, masked kNN graphs, pooling.

Point-cloud batches arrive padded: ``points`` ``(batch, particles, features)``,
``mask`` ``(batch, particles)`` bool (True for real particles) and ``p4``
``(batch, particles, 4)`` as ``(px, py, pz, E)`` in GeV. Graph models turn the
padded batch into a flat PyG-style graph of real particles only, so padding can
never enter a message, a BatchNorm statistic or a pooled sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "ExportPath",
    "FastDropout",
    "activation",
    "dense_to_flat",
    "dropout_keep",
    "flat_to_dense",
    "gather_neighbours",
    "knn_edge_index",
    "knn_indices",
    "masked_mean",
    "mlp",
    "segment_mean",
]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (relu, silu, gelu, tanh, leaky_relu)."""
    return _ACTIVATIONS[name]()


def mlp(
    sizes: list[int],
    *,
    act: str = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    last_act: bool = True,
) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...``, each followed by [BatchNorm], activation, [dropout]."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def dropout_keep(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> Tensor:
    """Bernoulli(1 - ``p``) keep mask of ``shape``, from 16-bit slices of 64-bit random integers.

    On a CPU one random draw costs ~100 elementwise operations, and ``bernoulli_``
    draws once per element; four 16-bit slices per 64-bit draw make the mask about
    4x cheaper. ``p`` is rounded to a multiple of 2^-16. The draws come from torch's
    global generator, so seeding and checkpointed RNG states still reproduce them.
    """
    n = math.prod(shape)
    info = torch.iinfo(torch.int64)
    bits = torch.randint(info.min, info.max, ((n + 3) // 4,), dtype=torch.int64, device=device)
    return bits.view(torch.int16)[:n].view(shape) >= round(p * 65536) - 32768


class FastDropout(nn.Module):
    """:class:`torch.nn.Dropout` (inverted scaling) with the cheaper mask of :func:`dropout_keep`."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p <= 0:
            return x
        keep = dropout_keep(x.shape, self.p, x.device)
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ExportPath:
    """Mixin of a module with a traceable inference twin of its training forward.

    ``dl4hep export`` and ``dl4hep apply`` (TorchScript) call :meth:`use_export_path` on every
    such submodule (:func:`dl4hep.models.registry.use_export_path`) before tracing; a model
    whose spec says ``export="twin"`` has at least one. The twin must give the same outputs
    in eval mode (``tests/unit/test_models.py`` checks it for every such model).
    """

    def use_export_path(self) -> None:
        """Switch this module to its traceable twin (a plain flag; no parameter changes)."""
        raise NotImplementedError


def dense_to_flat(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Padded ``(B, P, C)`` to real rows ``(N, C)``, graph index ``(N,)`` and flat position ``(B, P)``.

    ``position[b, p]`` is the row of particle ``p`` of graph ``b`` in the flat
    tensor (meaningless where ``mask`` is False).
    """
    b, p = mask.shape
    batch = torch.arange(b, device=x.device).unsqueeze(1).expand(b, p)[mask]
    position = torch.cumsum(mask.reshape(-1).long(), 0).reshape(b, p) - 1
    return x[mask], batch, position


def flat_to_dense(x: Tensor, mask: Tensor) -> Tensor:
    """Inverse of :func:`dense_to_flat`: ``(N, C)`` back to ``(B, P, C)`` with zeros at padding."""
    out = x.new_zeros(mask.shape[0], mask.shape[1], x.shape[-1])
    out[mask] = x
    return out


#: Offset per key index added to squared distances (far above fp32 rounding, far below
#: the squared spacing of normalised coordinates).
_KNN_TIEBREAK = 1e-5


def knn_indices(coords: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Padded k-nearest-neighbour indices ``(B, P, k')`` and their validity ``(B, P, k')``, ``k' = min(k, P - 1)``.

    Plain torch (no torch-cluster): squared distances ``(B, P, P)`` of the
    padded batch, padded keys and the particle itself set to +inf, then top-k.
    ``valid`` is False for a padded centre and for the +inf slots of a particle
    with fewer than ``k`` real neighbours (their ``idx`` is meaningless). Shared
    by :func:`knn_edge_index` (flat graph) and the dense inference path, so both
    pick exactly the same neighbours.
    """
    b, p, _ = coords.shape
    k = min(k, p - 1)
    if k < 1:
        empty = torch.zeros(b, p, 0, dtype=torch.long, device=coords.device)
        return empty, empty.bool()
    c = coords.float()
    sq = (c * c).sum(-1)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * torch.bmm(c, c.transpose(1, 2))
    # Equal distances are common (hits on the integer crystal grid) and top-k breaks ties
    # differently per runtime (torch vs onnxruntime) once bmm rounding noise (~1e-7) enters:
    # a small index-ordered offset makes the neighbour order unique everywhere.
    tiebreak = torch.arange(p, device=c.device, dtype=d2.dtype) * _KNN_TIEBREAK
    invalid = ~mask.unsqueeze(1) | torch.eye(p, dtype=torch.bool, device=c.device).unsqueeze(0)
    d2 = (d2 + tiebreak).masked_fill(invalid, float("inf"))
    dist, idx = torch.topk(d2, k, dim=-1, largest=False)  # (B, P, k)
    valid = mask.unsqueeze(-1) & torch.isfinite(dist)
    return idx, valid


def knn_edge_index(coords: Tensor, mask: Tensor, position: Tensor, k: int) -> Tensor:
    """k-nearest-neighbour graph of real particles, as a flat ``edge_index`` ``(2, E)``.

    Neighbours from :func:`knn_indices` (no self-loops, padding never a
    neighbour). Edges run neighbour -> centre (``edge_index[1]`` is the centre,
    PyG's source-to-target flow); edges touching padding are dropped, so a
    particle with fewer than ``k`` real neighbours gets fewer edges.

    Args:
        coords: ``(B, P, D)`` coordinates of the kNN metric.
        mask: ``(B, P)`` bool, True for real particles.
        position: ``(B, P)`` flat row of each particle (from :func:`dense_to_flat`).
        k: neighbours per particle.
    """
    b, p, _ = coords.shape
    idx, valid = knn_indices(coords, mask, k)
    if idx.shape[-1] == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=coords.device)
    src = torch.gather(position.unsqueeze(1).expand(b, p, p), 2, idx)
    dst = position.unsqueeze(-1).expand(b, p, idx.shape[-1])
    return torch.stack([src[valid], dst[valid]])


def gather_neighbours(x: Tensor, idx: Tensor) -> Tensor:
    """Neighbour features ``(B, P, k, C)`` of padded ``x`` ``(B, P, C)`` at indices ``idx`` ``(B, P, k)``.

    One flat ``index_select`` (an ONNX ``Gather``), no ``(B, P, P, C)`` expansion.
    """
    b, p, c = x.shape
    k = idx.shape[-1]
    offset = (torch.arange(b, device=x.device) * p).view(b, 1, 1)
    return x.reshape(b * p, c).index_select(0, (idx + offset).reshape(-1)).reshape(b, p, k, c)


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (``x.shape`` without the last axis) is True; 0 if none."""
    m = mask.unsqueeze(-1)
    total = torch.where(m, x, x.new_zeros(())).sum(dim)
    count = m.to(x.dtype).sum(dim).clamp(min=1)
    return total / count


def segment_mean(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Mean of rows ``x`` ``(N, C)`` per graph index ``batch`` ``(N,)`` -> ``(num_graphs, C)``."""
    total = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch, x)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return total / count.unsqueeze(1)
