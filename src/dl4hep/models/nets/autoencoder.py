"""Dense autoencoder for anomaly detection: the reconstruction error is the anomaly score.

Trained on the background class only (QCD jets), an autoencoder learns to compress and
rebuild background; objects unlike it (top, W, Z, H→bb̄ jets never seen in training)
come back worse, so their error is larger (Heimel, Kasieczka, Plehn, Thompson,
SciPost Phys. 6 (2019) 030; Farina, Nakai, Shih, Phys. Rev. D 101 (2020) 075021).
The model returns the score itself, ``(batch, 1)``: the mean squared difference of the
normalised inputs and their reconstruction, so training minimises the mean score and
prediction, evaluation and the ONNX graph all use the same number. ``reconstruct`` gives
the reconstruction. The point-cloud twin is :mod:`dl4hep.models.nets.set_autoencoder`.
"""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from pydantic import Field

from dl4hep.models import plugin


class Params(plugin.Params):
    """Dense autoencoder on the tabular block; its output is the per-row reconstruction error."""

    hidden: list[int] = Field(
        default_factory=lambda: [32, 16],
        min_length=1,
        description="Encoder widths (the decoder mirrors them).",
    )
    latent: int = Field(
        4,
        ge=1,
        description="Bottleneck width: far below the feature count, so only the "
        "training (background) manifold is reconstructed well.",
    )
    activation: plugin.Activation = "silu"


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=("tabular",),
    objective="anomaly",
    network="Autoencoder",
    description="Dense autoencoder: reconstruction error as anomaly score",
    tiny={"hidden": [16, 8], "latent": 3},
)

# ------------------------------------------------------------------ network (imports torch)

from torch import Tensor, nn

from dl4hep.models.common import mlp

__all__ = ["SPEC", "Autoencoder", "Params"]


class Autoencoder(nn.Module):
    """``tabular`` ``(B, F)`` -> reconstruction error ``(B, 1)`` through a ``latent``-wide bottleneck."""

    input_names = ("tabular",)

    def __init__(
        self,
        params: Params,
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
