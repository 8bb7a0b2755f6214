"""ParticleNet (Qu, Gouskos, arXiv:1902.08570): EdgeConv on dynamic kNN graphs.

The first block's graph is the kNN in the ``coords`` point features (Delta eta,
Delta phi to the jet axis); later blocks rebuild it in the previous block's
feature space. Message passing uses :class:`torch_geometric.nn.EdgeConv` on a
flat graph of real particles with a plain-torch kNN (no torch-cluster).

With ``dense = True`` (set through :meth:`ParticleNet.use_export_path` by ``dl4hep export``)
the same modules run on the padded ``(B, P, F)`` batch instead: top-k neighbour indices
``(B, P, k)`` with validity, gathered neighbour features ``(B, P, k, F)``, the EdgeConv MLP on
``[x_i, x_j - x_i]``, a masked mean over ``k`` and masked pooling. Its shapes
depend only on ``(B, P)``, so torch.export / ONNX can trace it with a dynamic
batch; it is inference-only (eval-mode BatchNorm) and equal to the
torch-geometric path, which stays the training path.
"""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from pydantic import Field, field_validator

from dl4hep.contracts import POINTS, POINTS_MASK
from dl4hep.models import plugin


class Params(plugin.Params):
    """ParticleNet: EdgeConv blocks, static kNN in ``coords`` then dynamic kNN in feature space."""

    k: int = Field(16, ge=1, description="Neighbours per particle.")
    conv_channels: list[list[int]] = Field(
        default_factory=lambda: [[64, 64, 64], [128, 128, 128], [256, 256, 256]],
        min_length=1,
        description="Channels of the MLP inside each EdgeConv block.",
    )
    fc_channels: list[int] = Field(
        default_factory=lambda: [256], description="Fully connected head widths."
    )
    dropout: float = Field(0.1, ge=0, lt=1)
    coords: list[str] | None = Field(
        None,
        description="Point features of the first kNN graph, e.g. [deta, dphi] (default: the first two).",
    )

    @field_validator("conv_channels")
    @classmethod
    def _nonempty(cls, v: list[list[int]]) -> list[list[int]]:
        if any(len(block) == 0 for block in v):
            raise ValueError("every EdgeConv block needs at least one channel width")
        return v


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=(POINTS,),
    description="ParticleNet (EdgeConv)",
    network="ParticleNet",
    tiny={"k": 4, "conv_channels": [[16, 16], [32, 32]], "fc_channels": [32], "dropout": 0.0},
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

__all__ = ["SPEC", "ParticleNet", "Params"]


class ParticleNet(nn.Module, ExportPath):
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

    def use_export_path(self) -> None:
        self.dense = True

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
