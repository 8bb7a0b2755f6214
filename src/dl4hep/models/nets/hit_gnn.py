"""EdgeConv graph network for calorimeter hit clouds (DGCNN / GravNet-style).

Hits are graph nodes; edges join each hit to its ``k`` nearest neighbours in
``coords`` (by default the first two point features, e.g. crystal ieta, iphi).
``num_layers`` EdgeConv layers of width ``hidden`` with residual connections,
optionally rebuilding the graph in feature space (``dynamic``), then mean and
max pooling over real hits and a small head.

``dense = True`` (set through :meth:`HitGNN.use_export_path` by ``dl4hep export``) selects
:meth:`HitGNN.forward_dense`, the padded, traceable inference twin of the torch-geometric
path (see :mod:`dl4hep.models.nets.particlenet`).
"""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from pydantic import Field

from dl4hep.contracts import POINTS, POINTS_MASK
from dl4hep.models import plugin


class Params(plugin.Params):
    """EdgeConv graph network on calorimeter hit clouds (kNN in ``coords``)."""

    k: int = Field(8, ge=1)
    hidden: int = Field(64, ge=1)
    num_layers: int = Field(3, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    dynamic: bool = Field(
        False, description="Rebuild the kNN graph in feature space after the first layer."
    )
    coords: list[str] | None = Field(
        None,
        description="Point features of the kNN graph, e.g. [ieta, iphi] (default: the first two).",
    )


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=(POINTS,),
    description="EdgeConv GNN on hit clouds",
    network="HitGNN",
    tiny={"k": 4, "hidden": 16, "num_layers": 2, "dropout": 0.0, "dynamic": True},
    permutation_invariant=True,
    export="twin",
)

# ------------------------------------------------------------------ network (imports torch)

import torch
from torch import Tensor, nn

from dl4hep.models.common import (
    ExportPath,
    dense_to_flat,
    flat_to_dense,
    knn_edge_index,
    knn_indices,
    masked_mean,
    segment_mean,
)
from dl4hep.models.graph import EdgeConvBlock, coord_indices

__all__ = ["SPEC", "HitGNN", "Params"]


class HitGNN(nn.Module, ExportPath):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)`` -> logits ``(B, C)``."""

    input_names = (POINTS, POINTS_MASK)
    #: Outputs do not depend on the padded width: batches may be cut to their longest cloud.
    trim_padding = True
    #: ``precision: auto`` trains it with bf16 autocast on CPUs with native bf16 (faster there).
    cpu_bf16 = True
    #: Use :meth:`forward_dense` (padded, traceable; inference only) instead of the torch-geometric path.
    dense = False

    def __init__(
        self,
        params: Params,
        *,
        num_classes: int,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        self.k = params.k
        self.dynamic = params.dynamic
        idx = coord_indices(params.coords, point_names, "hit_gnn")
        self.register_buffer("coord_idx", torch.tensor(idx, dtype=torch.long), persistent=False)
        self.embed = nn.Sequential(nn.Linear(input_dim, params.hidden), nn.ReLU())
        self.layers = nn.ModuleList(
            EdgeConvBlock(params.hidden, [params.hidden]) for _ in range(params.num_layers)
        )
        self.head = nn.Sequential(
            nn.Linear(2 * params.hidden, params.hidden),
            nn.ReLU(),
            nn.Dropout(params.dropout),
            nn.Linear(params.hidden, num_classes),
        )

    def use_export_path(self) -> None:
        self.dense = True

    def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
        if self.dense:
            return self.forward_dense(points, points_mask)
        x, batch, position = dense_to_flat(points, points_mask)
        n_graphs = points.shape[0]
        edge_index = knn_edge_index(
            points.index_select(-1, self.coord_idx), points_mask, position, self.k
        )
        x = self.embed(x)
        for i, layer in enumerate(self.layers):
            if self.dynamic and i > 0:
                edge_index = knn_edge_index(
                    flat_to_dense(x, points_mask), points_mask, position, self.k
                )
            x = x + layer(x, edge_index)
        mean = segment_mean(x, batch, n_graphs)
        dense = flat_to_dense(x, points_mask).masked_fill(~points_mask.unsqueeze(-1), float("-inf"))
        maxed = dense.amax(1)
        maxed = torch.where(torch.isfinite(maxed), maxed, maxed.new_zeros(()))
        return self.head(torch.cat([mean, maxed], dim=1))

    def forward_dense(self, points: Tensor, points_mask: Tensor) -> Tensor:
        """Padded-batch forward with the same weights (inference only: BatchNorm must use running stats)."""
        if self.training:
            raise RuntimeError("HitGNN.forward_dense is inference-only; call .eval() first")
        real = points_mask.unsqueeze(-1)
        zero = points.new_zeros(())
        idx, valid = knn_indices(points.index_select(-1, self.coord_idx), points_mask, self.k)
        x = torch.where(real, self.embed(points), zero)
        for i, layer in enumerate(self.layers):
            if self.dynamic and i > 0:
                idx, valid = knn_indices(x, points_mask, self.k)
            x = torch.where(real, x + layer.forward_dense(x, idx, valid), zero)
        mean = masked_mean(x, points_mask, dim=1)
        maxed = x.masked_fill(~real, float("-inf")).amax(1)
        maxed = torch.where(torch.isfinite(maxed), maxed, maxed.new_zeros(()))
        return self.head(torch.cat([mean, maxed], dim=1))
