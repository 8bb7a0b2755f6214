"""Graph building blocks shared by the kNN models (ParticleNet, hit_gnn): EdgeConv and kNN coordinates.

:class:`EdgeConvBlock` runs :class:`torch_geometric.nn.EdgeConv` on a flat graph of real
particles (training) and has a padded twin, :meth:`EdgeConvBlock.forward_dense`, built from
the same modules (export; see :mod:`dl4hep.models.nets.particlenet`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import EdgeConv

from dl4hep.errors import ConfigError, did_you_mean
from dl4hep.models.common import gather_neighbours, masked_mean

__all__ = ["EdgeConvBlock", "coord_indices"]


def coord_indices(coords: list[str] | None, point_names: list[str] | None, where: str) -> list[int]:
    """Column indices of the kNN coordinates (default: the first two point features)."""
    if coords is None:
        return [0, 1]
    names = list(point_names or [])
    missing = [c for c in coords if c not in names]
    if missing:
        raise ConfigError(
            f"{where}.hyperparameters.coords: {missing} are not point features of the dataset {names}."
            + did_you_mean(missing[0], names)
        )
    return [names.index(c) for c in coords]


class EdgeConvBlock(nn.Module):
    """EdgeConv with an MLP ``h([x_i, x_j - x_i])`` (Linear-BN-ReLU per width), mean aggregation and a shortcut."""

    def __init__(self, in_dim: int, widths: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        prev = 2 * in_dim
        for w in widths:
            layers += [nn.Linear(prev, w, bias=False), nn.BatchNorm1d(w), nn.ReLU()]
            prev = w
        self.conv = EdgeConv(nn.Sequential(*layers), aggr="mean")
        self.shortcut = nn.Sequential(
            nn.Linear(in_dim, widths[-1], bias=False), nn.BatchNorm1d(widths[-1])
        )
        self.act = nn.ReLU()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.act(self.conv(x, edge_index) + self.shortcut(x))

    def forward_dense(self, x: Tensor, idx: Tensor, valid: Tensor) -> Tensor:
        """Padded twin of :meth:`forward` (eval mode): ``x`` ``(B, P, C)``, neighbours ``idx``/``valid`` ``(B, P, k)``.

        Same modules as the EdgeConv: ``conv.nn`` on ``[x_i, x_j - x_i]``, mean over
        the valid neighbours (0 without any, like PyG's empty scatter-mean).
        """
        b, p, c = x.shape
        k = idx.shape[-1]
        xi = x.unsqueeze(2).expand(b, p, k, c)
        xj = gather_neighbours(x, idx)
        h = self.conv.nn(torch.cat([xi, xj - xi], dim=-1).reshape(b * p * k, 2 * c))
        agg = masked_mean(h.reshape(b, p, k, h.shape[-1]), valid, dim=2)
        return self.act(agg + self.shortcut(x.reshape(b * p, c)).reshape(b, p, agg.shape[-1]))
