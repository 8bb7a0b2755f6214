"""Particle Flow Network / Deep Sets (Komiske, Metodiev, Thaler, arXiv:1810.05165).

``F(sum_i Phi(p_i))``: a per-particle network Phi, a sum over real particles
(padding masked out), and a network F on the latent sum.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dl4hep.models.common import mlp
from dl4hep.models.specs import PFNParams

__all__ = ["PFN"]


class PFN(nn.Module):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)`` -> logits ``(B, C)``."""

    input_names = ("points", "points_mask")
    #: Outputs do not depend on the padded width: batches may be cut to their longest cloud.
    trim_padding = True
    #: ``precision: auto`` trains it with bf16 autocast on CPUs with native bf16 (faster there).
    cpu_bf16 = True

    def __init__(self, params: PFNParams, *, num_classes: int, input_dim: int, point_names: list[str] | None = None):
        super().__init__()
        self.phi = mlp([input_dim, *params.phi_sizes], act=params.activation)
        self.f = mlp([params.phi_sizes[-1], *params.f_sizes], act=params.activation, dropout=params.dropout)
        self.head = nn.Linear(params.f_sizes[-1], num_classes)

    def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
        latent = self.phi(points)
        latent = torch.where(points_mask.unsqueeze(-1), latent, latent.new_zeros(()))
        return self.head(self.f(latent.sum(1)))
