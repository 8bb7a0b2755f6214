"""Multilayer perceptron on the tabular block."""

from __future__ import annotations

from torch import Tensor, nn

from dl4hep.models.common import mlp
from dl4hep.models.specs import DNNParams

__all__ = ["DNN"]


class DNN(nn.Module):
    """MLP: ``(batch, features)`` normalised tabular features -> ``(batch, classes)`` logits."""

    input_names = ("tabular",)

    def __init__(self, params: DNNParams, *, num_classes: int, input_dim: int, point_names: list[str] | None = None):
        super().__init__()
        self.body = mlp(
            [input_dim, *params.hidden], act=params.activation, batch_norm=params.batch_norm, dropout=params.dropout
        )
        self.head = nn.Linear(params.hidden[-1], num_classes)

    def forward(self, tabular: Tensor) -> Tensor:
        return self.head(self.body(tabular))
