"""ParticleNet (Qu, Gouskos, arXiv:1902.08570): EdgeConv on dynamic kNN graphs.

The first block's graph is the kNN in the ``coords`` point features (Delta eta,
Delta phi to the jet axis); later blocks rebuild it in the previous block's
feature space. Message passing uses :class:`torch_geometric.nn.EdgeConv` on a
flat graph of real particles with a plain-torch kNN (no torch-cluster).

With ``dense = True`` (set by ``dl4hep export``) the same modules run on the
padded ``(B, P, F)`` batch instead: top-k neighbour indices ``(B, P, k)`` with
validity, gathered neighbour features ``(B, P, k, F)``, the EdgeConv MLP on
``[x_i, x_j - x_i]``, a masked mean over ``k`` and masked pooling. Its shapes
depend only on ``(B, P)``, so torch.export / ONNX can trace it with a dynamic
batch; it is inference-only (eval-mode BatchNorm) and equal to the
torch-geometric path, which stays the training path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import EdgeConv

from dl4hep.errors import ConfigError, did_you_mean
from dl4hep.models.common import (
    dense_to_flat,
    flat_to_dense,
    gather_neighbours,
    knn_edge_index,
    knn_indices,
    masked_mean,
    segment_mean,
)
from dl4hep.models.specs import ParticleNetParams

__all__ = ["EdgeConvBlock", "ParticleNet", "coord_indices"]


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
        self.shortcut = nn.Sequential(nn.Linear(in_dim, widths[-1], bias=False), nn.BatchNorm1d(widths[-1]))
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


class ParticleNet(nn.Module):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)`` -> logits ``(B, C)``."""

    input_names = ("points", "points_mask")
    #: Outputs do not depend on the padded width: batches may be cut to their longest cloud.
    trim_padding = True
    #: ``precision: auto`` trains it with bf16 autocast on CPUs with native bf16 (faster there).
    cpu_bf16 = True
    #: Use :meth:`forward_dense` (padded, traceable; inference only) instead of the torch-geometric path.
    dense = False

    def __init__(
        self, params: ParticleNetParams, *, num_classes: int, input_dim: int, point_names: list[str] | None = None
    ):
        super().__init__()
        self.k = params.k
        idx = coord_indices(params.coords, point_names, "particlenet")
        self.register_buffer("coord_idx", torch.tensor(idx, dtype=torch.long), persistent=False)
        self.input_bn = nn.BatchNorm1d(input_dim)
        blocks = []
        prev = input_dim
        for widths in params.conv_channels:
            blocks.append(EdgeConvBlock(prev, list(widths)))
            prev = widths[-1]
        self.blocks = nn.ModuleList(blocks)
        head: list[nn.Module] = []
        for w in params.fc_channels:
            head += [nn.Linear(prev, w), nn.ReLU(), nn.Dropout(params.dropout)]
            prev = w
        head.append(nn.Linear(prev, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
        if self.dense:
            return self.forward_dense(points, points_mask)
        x, batch, position = dense_to_flat(points, points_mask)
        coords = points.index_select(-1, self.coord_idx)
        x = self.input_bn(x)
        for i, block in enumerate(self.blocks):
            if i > 0:
                coords = flat_to_dense(x, points_mask)
            edge_index = knn_edge_index(coords, points_mask, position, self.k)
            x = block(x, edge_index)
        return self.head(segment_mean(x, batch, points.shape[0]))

    def forward_dense(self, points: Tensor, points_mask: Tensor) -> Tensor:
        """Padded-batch forward with the same weights (inference only: BatchNorm must use running stats)."""
        if self.training:
            raise RuntimeError("ParticleNet.forward_dense is inference-only; call .eval() first")
        b, p, f = points.shape
        real = points_mask.unsqueeze(-1)
        zero = points.new_zeros(())
        x = torch.where(real, self.input_bn(points.reshape(b * p, f)).reshape(b, p, f), zero)
        coords = points.index_select(-1, self.coord_idx)
        for i, block in enumerate(self.blocks):
            if i > 0:
                coords = x
            idx, valid = knn_indices(coords, points_mask, self.k)
            x = torch.where(real, block.forward_dense(x, idx, valid), zero)
        return self.head(masked_mean(x, points_mask, dim=1))
