"""One epoch of training (:func:`train_one_epoch`) and the validation pass (:func:`validate`).

Both weight each row by its event weight (``training.use_event_weights``) times its class
weight, and sum the objective's loss numerator and denominator in float64, so the epoch loss is
the weighted mean over the split whatever the batching. Under DDP every rank divides its loss
sum by the weight of the *global* batch (times the world size, since DDP averages gradients),
so N processes with ``batch_size`` B follow one process with N·B.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dl4hep.config import TrainingConfig
from dl4hep.contracts import LABEL
from dl4hep.progress import progress as progress_bar
from dl4hep.training.devices import Dist, autocast
from dl4hep.training.objectives import Objective, nan_if

__all__ = ["EpochStats", "FitParts", "row_weights", "train_one_epoch", "validate"]


@dataclass
class FitParts:
    """What the optimisation steps of a run use, built once by the trainer.

    ``forward`` is ``net`` compiled (``training.compile``) and/or wrapped in DDP; the
    validation pass runs ``net`` itself.
    """

    net: nn.Module
    forward: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    objective: Objective
    class_weights: Tensor
    names: tuple[str, ...]
    train_cfg: TrainingConfig
    device: torch.device
    dist: Dist


@dataclass
class EpochStats:
    """Training figures of one epoch over all ranks; ``started`` is its ``perf_counter`` start."""

    loss: float
    acc: float
    seen: int
    train_time: float
    started: float


def row_weights(batch: dict[str, Tensor], class_weights: Tensor, use_event_weights: bool) -> Tensor:
    """Per-row loss weight: event weight (or 1) times the weight of the row's class, float32."""
    labels = batch[LABEL].long()
    w = batch["train_weight"].float() if use_event_weights else torch.ones_like(labels, dtype=torch.float32)
    return w * class_weights[labels].float()


def _step(fit: FitParts, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One optimiser step on ``batch``; returns the loss numerator, denominator, loss and outputs."""
    w = row_weights(batch, fit.class_weights, fit.train_cfg.use_event_weights)
    with autocast(fit.train_cfg, fit.device, fit.net):
        logits = fit.forward(*[batch[n] for n in fit.names])
    num, den = fit.objective.loss(logits, batch, w)
    # DDP averages the ranks' gradients: dividing each rank's sum by the global batch
    # weight / world size makes that average the gradient of the global-batch loss
    loss = num * fit.dist.world / fit.dist.all_sum(den).clamp_min(1e-12)
    fit.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if fit.train_cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_(fit.net.parameters(), fit.train_cfg.grad_clip)
    fit.optimizer.step()
    fit.scheduler.step()
    return num, den, loss, logits


def train_one_epoch(fit: FitParts, batches: Any, *, epoch: int, show_progress: bool) -> EpochStats:
    """Run the optimiser over ``batches`` once; weighted training loss and accuracy over all ranks."""
    t0 = time.perf_counter()
    fit.net.train()
    sum_loss = torch.zeros((), dtype=torch.float64, device=fit.device)
    sum_w = torch.zeros((), dtype=torch.float64, device=fit.device)
    correct = torch.zeros((), dtype=torch.long, device=fit.device)
    seen = 0
    bar = progress_bar(
        batches, total=len(batches), desc=f"epoch {epoch}/{fit.train_cfg.epochs}", file=sys.stderr,
        disable=not show_progress, leave=False, mininterval=1.0, unit="batch",
    )
    for step, batch in enumerate(bar):
        num, den, loss, logits = _step(fit, batch)
        sum_loss += num.detach().double()
        sum_w += den.detach().double()
        correct += fit.objective.correct(logits.detach(), batch)
        seen += len(batch[LABEL])
        if step % 50 == 0 and bar.disable is False:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{fit.scheduler.get_last_lr()[0]:.2e}")
    bar.close()
    train_time = time.perf_counter() - t0
    if fit.dist.enabled:  # training metrics over all ranks
        count = torch.tensor(float(seen), device=fit.device, dtype=torch.float64)
        totals = fit.dist.all_sum(torch.stack([sum_loss, sum_w, correct.double(), count]))
        sum_loss, sum_w, correct, seen = totals[0], totals[1], totals[2].long(), int(totals[3].item())
    return EpochStats(
        loss=float((sum_loss / sum_w.clamp_min(1e-12)).item()),
        acc=nan_if(fit.objective.kind, correct.item() / max(1, seen)),
        seen=seen, train_time=train_time, started=t0,
    )


@torch.no_grad()
def validate(fit: FitParts, batches: Any) -> dict[str, float]:
    """Weighted loss, accuracy and ROC AUC (one-vs-rest macro for several classes) of ``fit.net`` on a split.

    Accuracy and AUC are NaN for objectives other than classification.
    """
    fit.net.eval()
    num = torch.zeros((), dtype=torch.float64, device=fit.device)
    den = torch.zeros((), dtype=torch.float64, device=fit.device)
    probs, labels_all = [], []
    for batch in batches:
        w = row_weights(batch, fit.class_weights, fit.train_cfg.use_event_weights)
        with autocast(fit.train_cfg, fit.device, fit.net):
            logits = fit.net(*[batch[n] for n in fit.names])
        a, b = fit.objective.loss(logits, batch, w)
        num += a.double()
        den += b.double()
        probs.append(torch.softmax(logits.float(), 1).cpu())
        labels_all.append(batch[LABEL].long().cpu())
    p = torch.cat(probs).numpy()
    y = torch.cat(labels_all).numpy()
    kind = fit.objective.kind
    return {
        "loss": float((num / den.clamp_min(1e-12)).item()),
        "acc": nan_if(kind, float((p.argmax(1) == y).mean()) if len(y) else float("nan")),
        "auc": _roc_auc(y, p) if kind == "classification" else float("nan"),
    }


def _roc_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(labels, probs[:, 1]))
        return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(probs.shape[1]))))
    except ValueError:  # a class missing from the validation split
        return float("nan")
