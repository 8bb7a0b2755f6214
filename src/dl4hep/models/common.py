"""Building blocks shared by the models: activations, MLPs, masked kNN graphs, pooling.

Point-cloud batches arrive padded: ``points`` ``(batch, particles, features)``,
``mask`` ``(batch, particles)`` bool (True for real particles) and ``p4``
``(batch, particles, 4)`` as ``(px, py, pz, E)`` in GeV. Graph models turn the
padded batch into a flat PyG-style graph of real particles only, so padding can
never enter a message, a BatchNorm statistic or a pooled sum.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["activation", "dense_to_flat", "flat_to_dense", "knn_edge_index", "mlp", "segment_mean"]

_ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (relu, silu, gelu, tanh, leaky_relu)."""
    return _ACTIVATIONS[name]()


def mlp(
    sizes: list[int], *, act: str = "relu", batch_norm: bool = False, dropout: float = 0.0, last_act: bool = True
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


def knn_edge_index(coords: Tensor, mask: Tensor, position: Tensor, k: int) -> Tensor:
    """k-nearest-neighbour graph of real particles, as a flat ``edge_index`` ``(2, E)``.

    Plain torch (no torch-cluster): squared distances ``(B, P, P)`` of the
    padded batch, padded keys and the particle itself set to +inf, then top-k.
    Edges run neighbour -> centre (``edge_index[1]`` is the centre, PyG's
    source-to-target flow); edges touching padding are dropped, so a particle
    with fewer than ``k`` real neighbours gets fewer edges.

    Args:
        coords: ``(B, P, D)`` coordinates of the kNN metric.
        mask: ``(B, P)`` bool, True for real particles.
        position: ``(B, P)`` flat row of each particle (from :func:`dense_to_flat`).
        k: neighbours per particle.
    """
    b, p, _ = coords.shape
    k = min(k, p - 1)
    if k < 1:
        return torch.zeros(2, 0, dtype=torch.long, device=coords.device)
    c = coords.float()
    sq = (c * c).sum(-1)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * torch.bmm(c, c.transpose(1, 2))
    invalid = ~mask.unsqueeze(1) | torch.eye(p, dtype=torch.bool, device=c.device).unsqueeze(0)
    d2 = d2.masked_fill(invalid, float("inf"))
    dist, idx = torch.topk(d2, k, dim=-1, largest=False)  # (B, P, k)
    valid = mask.unsqueeze(-1) & torch.isfinite(dist)
    src = torch.gather(position.unsqueeze(1).expand(b, p, p), 2, idx)
    dst = position.unsqueeze(-1).expand(b, p, k)
    return torch.stack([src[valid], dst[valid]])


def segment_mean(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Mean of rows ``x`` ``(N, C)`` per graph index ``batch`` ``(N,)`` -> ``(num_graphs, C)``."""
    total = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch, x)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return total / count.unsqueeze(1)
