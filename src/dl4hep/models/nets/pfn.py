"""Particle Flow Network / Deep Sets (Komiske, Metodiev, Thaler, arXiv:1810.05165).

``F(sum_i Phi(p_i))``: a per-particle network Phi, a sum over real particles
(padding masked out), and a network F on the latent sum.
"""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from pydantic import Field

from dl4hep.contracts import POINTS, POINTS_MASK
from dl4hep.models import plugin


class Params(plugin.Params):
    """Particle Flow Network (Deep Sets): per-particle Phi, masked sum, F."""

    phi_sizes: list[int] = Field(default_factory=lambda: [128, 128, 128], min_length=1)
    f_sizes: list[int] = Field(default_factory=lambda: [128, 128], min_length=1)
    activation: plugin.Activation = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=(POINTS,),
    description="Particle Flow Network / Deep Sets",
    network="PFN",
    tiny={"phi_sizes": [32, 32], "f_sizes": [32], "dropout": 0.0},
    permutation_invariant=True,
)

# ------------------------------------------------------------------ network (imports torch)

import torch
from torch import Tensor, nn

from dl4hep.models.common import mlp

__all__ = ["PFN", "SPEC", "Params"]


class PFN(nn.Module):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)`` -> logits ``(B, C)``."""

    input_names = (POINTS, POINTS_MASK)
    #: Outputs do not depend on the padded width: batches may be cut to their longest cloud.
    trim_padding = True
    #: ``precision: auto`` trains it with bf16 autocast on CPUs with native bf16 (faster there).
    cpu_bf16 = True

    def __init__(
        self,
        params: Params,
        *,
        num_classes: int,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        self.phi = mlp([input_dim, *params.phi_sizes], act=params.activation)
        self.f = mlp(
            [params.phi_sizes[-1], *params.f_sizes], act=params.activation, dropout=params.dropout
        )
        self.head = nn.Linear(params.f_sizes[-1], num_classes)

    def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
        latent = self.phi(points)
        latent = torch.where(points_mask.unsqueeze(-1), latent, latent.new_zeros(()))
        return self.head(self.f(latent.sum(1)))
