"""Autoencoders for anomaly detection: the reconstruction error is the anomaly score.

Trained on the background class only (QCD jets), an autoencoder learns to compress and
rebuild background; objects unlike it (top, W, Z, H→bb̄ jets never seen in training)
come back worse, so their error is larger (Heimel, Kasieczka, Plehn, Thompson,
SciPost Phys. 6 (2019) 030; Farina, Nakai, Shih, Phys. Rev. D 101 (2020) 075021).
Both models return the score itself, ``(batch, 1)``: the mean squared difference of the
normalised inputs and their reconstruction, so training minimises the mean score and
prediction, evaluation and the ONNX graph all use the same number. ``reconstruct`` gives
the reconstruction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dl4hep.models.common import mlp
from dl4hep.models.specs import AutoencoderParams, SetAutoencoderParams

__all__ = ["Autoencoder", "SetAutoencoder"]

#: Fourier frequencies of the slot position fed to the set decoder.
_N_FREQ = 4


class Autoencoder(nn.Module):
    """``tabular`` ``(B, F)`` -> reconstruction error ``(B, 1)`` through a ``latent``-wide bottleneck."""

    input_names = ("tabular",)

    def __init__(
        self,
        params: AutoencoderParams,
        *,
        num_classes: int = 1,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        widths = [input_dim, *params.hidden]
        self.encoder = nn.Sequential(
            mlp(widths, act=params.activation), nn.Linear(widths[-1], params.latent)
        )
        back = [params.latent, *reversed(params.hidden)]
        self.decoder = nn.Sequential(
            mlp(back, act=params.activation), nn.Linear(back[-1], input_dim)
        )

    def reconstruct(self, tabular: Tensor) -> Tensor:
        return self.decoder(self.encoder(tabular))

    def forward(self, tabular: Tensor) -> Tensor:
        return (self.reconstruct(tabular) - tabular).pow(2).mean(dim=1, keepdim=True)


class SetAutoencoder(nn.Module):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)`` -> reconstruction error ``(B, 1)``.

    Encoder: a per-particle network, the mean over real particles, a linear map to the
    latent vector (Deep Sets, permutation invariant). Decoder: for every slot, an MLP of the
    latent vector and Fourier features of the slot's relative position t = p / P (the
    particles are ordered by decreasing pT or energy, so slot p is "the p-th hardest").
    The error averages the squared difference over real particles only.
    """

    input_names = ("points", "points_mask")
    trim_padding = False  # t = p / P depends on the padded width P: batches keep the full width

    def __init__(
        self,
        params: SetAutoencoderParams,
        *,
        num_classes: int = 1,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        self.phi = mlp([input_dim, *params.phi_sizes], act=params.activation)
        self.to_latent = nn.Linear(params.phi_sizes[-1], params.latent)
        dec = [params.latent + 2 * _N_FREQ, *params.decoder]
        self.decoder = nn.Sequential(mlp(dec, act=params.activation), nn.Linear(dec[-1], input_dim))

    def _slots(self, points: Tensor) -> Tensor:
        p = points.shape[1]
        t = torch.arange(p, device=points.device, dtype=points.dtype) / p
        k = torch.arange(1, _N_FREQ + 1, device=points.device, dtype=points.dtype) * math.pi
        return torch.cat(
            [torch.sin(t[:, None] * k), torch.cos(t[:, None] * k)], dim=1
        )  # (P, 2 N_FREQ)

    def reconstruct(self, points: Tensor, points_mask: Tensor) -> Tensor:
        m = points_mask.unsqueeze(-1).to(points.dtype)
        pooled = (self.phi(points) * m).sum(1) / m.sum(1).clamp_min(1.0)
        z = self.to_latent(pooled)
        slots = self._slots(points)
        grid = torch.cat(
            [
                z.unsqueeze(1).expand(-1, points.shape[1], -1),
                slots.unsqueeze(0).expand(points.shape[0], -1, -1),
            ],
            dim=-1,
        )
        return self.decoder(grid)

    def forward(self, points: Tensor, points_mask: Tensor) -> Tensor:
        m = points_mask.to(points.dtype)
        sq = (self.reconstruct(points, points_mask) - points).pow(2).mean(-1)
        return ((sq * m).sum(1) / m.sum(1).clamp_min(1.0)).unsqueeze(1)
