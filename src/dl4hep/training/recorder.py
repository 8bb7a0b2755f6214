"""What rank 0 writes after each epoch: ``last.pt``, ``best.pt``, ``history.csv`` and TensorBoard scalars.

Every file is written through :mod:`dl4hep.io.atomic`, so an interrupted job leaves the previous
epoch's files intact. ``last.pt`` holds everything exact resume needs (:class:`Checkpointer`);
``best.pt`` is the same payload written when the validation loss improved.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dl4hep.config import ModelConfig
from dl4hep.io.atomic import atomic_output
from dl4hep.training.checkpoint import capture_rng, save_checkpoint
from dl4hep.training.state import TrainState

__all__ = ["HISTORY_COLUMNS", "Checkpointer", "EpochRecorder", "write_history"]

HISTORY_COLUMNS = [
    "epoch", "train_loss", "val_loss", "train_acc", "val_acc", "val_auc", "lr", "samples_per_s", "epoch_time_s",
]


@dataclass
class Checkpointer:
    """The parts of a checkpoint besides :class:`TrainState`: model description, weights, optimiser,
    scheduler, RNG states and the example rows the export checks run on."""

    info: dict[str, Any]
    model_cfg: ModelConfig
    meta: dict[str, Any]
    seed: int
    example: dict[str, Tensor]
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data_gen: torch.Generator

    def payload(self, state: TrainState) -> dict[str, Any]:
        """The checkpoint of the run as it stands (current weights, RNG states now)."""
        return {
            "model": self.info, "model_config": self.model_cfg.model_dump(mode="json"), "meta": self.meta,
            "state_dict": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), **state.to_payload(), "rng": capture_rng(self.data_gen),
            "example": self.example, "seed": self.seed,
        }


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    """``history.csv``: one row per epoch, columns :data:`HISTORY_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r[k] for k in HISTORY_COLUMNS})
    with atomic_output(path) as tmp:
        tmp.write_text(buf.getvalue())


def _tensorboard(out_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed; skipping TensorBoard logs (pip install tensorboard)", stacklevel=3)
        return None
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))


class EpochRecorder:
    """Rank 0's epoch outputs in ``out_dir``; TensorBoard logs only when ``tensorboard`` is true."""

    def __init__(self, out_dir: Path, checkpointer: Checkpointer, *, tensorboard: bool):
        self.out_dir, self.checkpointer = out_dir, checkpointer
        self.last, self.best = out_dir / "last.pt", out_dir / "best.pt"
        self.writer = _tensorboard(out_dir) if tensorboard else None
        out_dir.mkdir(parents=True, exist_ok=True)

    def epoch_done(self, state: TrainState, improved: bool) -> None:
        """Checkpoint, history and scalars of the epoch just recorded in ``state``."""
        payload = self.checkpointer.payload(state)
        save_checkpoint(self.last, payload)
        if improved:
            save_checkpoint(self.best, payload)
        write_history(self.out_dir / "history.csv", state.history)
        if self.writer is not None:
            row = state.history[-1]
            for k in HISTORY_COLUMNS[1:]:
                self.writer.add_scalar(k, row[k], state.epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def restore_outputs(self, state: TrainState) -> None:
        """Rewrite ``history.csv``, and ``best.pt`` if missing: a resumed, already finished run still owes
        the workflow its outputs (Snakemake deletes the outputs of an interrupted job)."""
        if not state.history:
            return
        write_history(self.out_dir / "history.csv", state.history)
        if not self.best.exists() and state.best_state is not None:
            save_checkpoint(self.best, {**self.checkpointer.payload(state), "state_dict": state.best_state})
