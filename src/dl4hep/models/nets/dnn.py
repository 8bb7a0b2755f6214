"""Multilayer perceptron on the tabular block."""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from pydantic import Field, field_validator

from dl4hep.models import plugin


class Params(plugin.Params):
    """Multilayer perceptron on the tabular block."""

    hidden: list[int] = Field(
        default_factory=lambda: [128, 128, 64],
        min_length=1,
        description="Widths of the hidden layers.",
    )
    activation: plugin.Activation = "silu"
    batch_norm: bool = Field(True, description="BatchNorm1d after each hidden Linear.")
    dropout: float = Field(0.1, ge=0, lt=1)

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"widths must be >= 1, got {v}")
        return v


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=("tabular",),
    description="MLP on tabular features",
    network="DNN",
    tiny={"hidden": [32, 32], "dropout": 0.0},
)

# ------------------------------------------------------------------ network (imports torch)

from torch import Tensor, nn

from dl4hep.models.common import mlp

__all__ = ["DNN", "SPEC", "Params"]


class DNN(nn.Module):
    """MLP: ``(batch, features)`` normalised tabular features -> ``(batch, classes)`` logits."""

    input_names = ("tabular",)

    def __init__(
        self,
        params: Params,
        *,
        num_classes: int,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        self.body = mlp(
            [input_dim, *params.hidden],
            act=params.activation,
            batch_norm=params.batch_norm,
            dropout=params.dropout,
        )
        self.head = nn.Linear(params.hidden[-1], num_classes)

    def forward(self, tabular: Tensor) -> Tensor:
        return self.head(self.body(tabular))
