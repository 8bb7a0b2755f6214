"""Where a training run stands between epochs, and what of it a checkpoint stores.

:class:`TrainState` is the early-stopping bookkeeping (epoch, best validation loss, epochs
without improvement), the history rows and the best weights. It travels in ``last.pt`` so
``--resume`` continues exactly where an interrupted run stopped (the RNG states travel beside
it, :func:`dl4hep.training.checkpoint.capture_rng`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from dl4hep.config import ModelConfig, TrainingConfig

__all__ = ["TrainState", "stale_reason"]


@dataclass
class TrainState:
    """Progress of one training: the last finished epoch and the early-stopping state.

    ``finished`` is set when early stopping fired or the last epoch ran; a resumed finished
    run trains no further.
    """

    epoch: int = 0
    best_loss: float = math.inf
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = None
    finished: bool = False

    def to_payload(self) -> dict[str, Any]:
        """The checkpoint entries of this state (keys as :meth:`from_checkpoint` reads them)."""
        return {
            "epoch": self.epoch, "best_val_loss": self.best_loss, "bad_epochs": self.bad_epochs,
            "history": self.history, "finished": self.finished,
            # Snakemake deletes best.pt of an interrupted job: last.pt can restore it on resume.
            "best_state_dict": self.best_state,
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> TrainState:
        """The state saved in a checkpoint by :meth:`to_payload`."""
        return cls(
            epoch=ckpt["epoch"], best_loss=ckpt["best_val_loss"], bad_epochs=ckpt["bad_epochs"],
            history=list(ckpt["history"]), best_state=ckpt.get("best_state_dict"),
            finished=bool(ckpt.get("finished", False)),
        )

    def record(self, row: dict[str, Any], net: nn.Module, train_cfg: TrainingConfig) -> tuple[bool, bool]:
        """Add epoch ``row`` (a history row); return ``(improved, stop)``.

        An epoch improves when its validation loss is below the best so far (its weights become
        the best weights); ``stop`` is early stopping after ``early_stopping_patience`` epochs
        without improvement.
        """
        self.history.append(row)
        improved = row["val_loss"] < self.best_loss
        if improved:
            self.best_loss, self.bad_epochs = row["val_loss"], 0
        else:
            self.bad_epochs += 1
        patience = train_cfg.early_stopping_patience
        stop = patience is not None and self.bad_epochs >= patience
        self.finished = stop or row["epoch"] == train_cfg.epochs
        if improved:
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        return improved, stop


def stale_reason(ckpt: dict[str, Any], *, model_cfg: ModelConfig, meta: dict[str, Any], seed: int) -> str | None:
    """Why ``ckpt`` cannot be continued under the current settings (None if it can)."""
    if ckpt.get("model_config") != model_cfg.model_dump(mode="json"):
        return "it was made with other model or training settings"
    if ckpt.get("meta") != meta:
        return "it was trained on another dataset (meta.json differs)"
    if ckpt.get("seed") != seed:
        return "it was made with another seed"
    return None
