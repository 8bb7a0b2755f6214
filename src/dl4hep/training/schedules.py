"""The optimiser (:func:`make_optimizer`) and its per-step learning-rate schedule (:func:`make_scheduler`):
multipliers of the peak ``lr`` wrapped in ``LambdaLR``."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from dl4hep.config import TrainingConfig

__all__ = ["lr_multiplier", "make_optimizer", "make_scheduler"]


def make_optimizer(net: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``net``'s trainable parameters, without weight decay on biases and
    normalisation parameters (the 1-d tensors)."""
    decay = [p for p in net.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "radam":
        return torch.optim.RAdam(groups, lr=cfg.lr, decoupled_weight_decay=True)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainingConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule of :func:`lr_multiplier` (``scheduler.step()`` after every optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(cfg, steps_per_epoch))


def lr_multiplier(cfg: TrainingConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of ``cfg.lr`` at optimiser step ``step`` (0-based).

    ``cosine``: linear warm-up over ``warmup_epochs``, then half-cosine to 0.
    ``onecycle``: warm-up from ``lr/25`` over ``warmup_epochs`` (30 % of training
    if 0), then cosine down to ``lr/25/1e4`` (as ``torch.optim.lr_scheduler.OneCycleLR``).
    ``step``: warm-up, then ``step_gamma`` every ``step_size_epochs``.
    ``constant``: warm-up, then 1.
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if cfg.schedule == "onecycle" and warm == 0:
        warm = int(0.3 * total)
    warm = min(warm, total - 1)

    def fn(step: int) -> float:
        if cfg.schedule == "onecycle":
            lo, end = 1 / 25, 1 / 25 / 1e4
            if step < warm:
                return lo + (1 - lo) * step / max(1, warm)
            t = min(1.0, (step - warm) / max(1, total - warm))
            return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))
        if step < warm:
            return (step + 1) / (warm + 1)
        if cfg.schedule == "cosine":
            t = min(1.0, (step - warm) / max(1, total - warm))
            return 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            return cfg.step_gamma ** ((step // steps_per_epoch) // cfg.step_size_epochs)
        return 1.0

    return fn
