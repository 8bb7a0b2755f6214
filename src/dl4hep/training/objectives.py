"""What a model learns: class probabilities, a continuous target, or an anomaly score.

The trainer (:mod:`dl4hep.training.api`, :mod:`dl4hep.training.epoch`) runs one loop for every objective; an
:class:`Objective` supplies what differs: the dataset columns it needs, which training
rows it may see, the per-row loss, the validation figures and the prediction columns.

* ``classification``: softmax cross entropy (the existing behaviour).
* ``regression`` (task ``kind: regression``): target y = ``target`` / ``relative_to``
  observers, standardised with the training split's weighted mean and std; losses ``mse``,
  ``huber`` (quadratic below ``huber_delta`` std, linear above), ``gaussian_nll``
  (heteroscedastic: the model predicts μ and ln σ, loss ½((y − μ)/σ)² + ln σ; Nix & Weigend 1994,
  Kendall & Gal, arXiv:1703.04977) and ``quantile`` (pinball loss max(q r, (q − 1) r), r = y − f_q,
  averaged over the quantiles; Koenker & Bassett 1978).
* ``anomaly`` (autoencoder model types): the model returns its reconstruction error, the
  loss is its weighted mean, and only background rows are ever read (enforced here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dl4hep.config import ModelConfig, TaskConfig
from dl4hep.contracts import LABEL, score_column
from dl4hep.errors import DataError

__all__ = [
    "Objective",
    "class_weights",
    "gaussian_nll",
    "make_objective",
    "output_columns",
    "pinball",
    "restrict_rows",
    "weighted_cross_entropy",
]

#: Clamp of the predicted ln σ: σ within e^±7 target std keeps the Gaussian loss finite.
LOG_SIGMA_RANGE = 7.0


def weighted_cross_entropy(
    logits: Tensor, labels: Tensor, weights: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-sample cross entropy times ``weights``; returns ``(weighted sum, |weight| sum)``.

    The batch loss is their ratio, so the loss scale does not depend on the
    overall weight normalisation; negative (NLO) weights are allowed.
    """
    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    return (ce * weights).sum(), weights.abs().sum()


def gaussian_nll(mu: Tensor, log_sigma: Tensor, y: Tensor) -> Tensor:
    """Per-row ½((y − μ)/σ)² + ln σ (the Gaussian negative log-likelihood without ½ ln 2π)."""
    log_sigma = log_sigma.clamp(-LOG_SIGMA_RANGE, LOG_SIGMA_RANGE)
    return 0.5 * ((y - mu) * torch.exp(-log_sigma)) ** 2 + log_sigma


def pinball(pred: Tensor, y: Tensor, quantiles: Tensor) -> Tensor:
    """Per-row mean over quantiles of max(q r, (q − 1) r), r = y − f_q; ``pred`` is ``(N, Q)``."""
    r = y.unsqueeze(1) - pred
    return torch.maximum(quantiles * r, (quantiles - 1) * r).mean(dim=1)


@dataclass
class Objective:
    """One training objective; ``state`` travels in the checkpoint to prediction."""

    kind: str  # classification | regression | anomaly
    loss_name: str
    n_outputs: int
    background: int = -1
    target: str | None = None
    relative_to: str | None = None
    huber_delta: float = 1.0
    quantiles: list[float] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0

    @property
    def extra(self) -> tuple[str, ...]:
        base = (LABEL, "train_weight")
        return (*base, "observers") if self.kind == "regression" else base

    @property
    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "loss": self.loss_name,
            "n_outputs": self.n_outputs,
            "background": self.background,
            "target": self.target,
            "relative_to": self.relative_to,
            "huber_delta": self.huber_delta,
            "quantiles": list(self.quantiles),
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Objective:
        fields = {k: v for k, v in state.items() if k != "loss"}
        return cls(loss_name=state["loss"], **fields)

    # ---------------------------------------------------------------- set-up on the training split

    def setup(self, columns: dict[str, Tensor], classes: list[str], where: str) -> None:
        """Check the training columns and fit what the loss needs (the target's mean and std)."""
        labels = columns[LABEL].long()
        if self.kind == "anomaly":
            if not bool((labels == self.background).any()):
                raise DataError(
                    f"{where}: the train split has no rows of the background class "
                    f"'{classes[self.background]}', the only class an autoencoder trains on"
                )
            return
        if self.kind == "classification":
            present = torch.unique(labels).tolist()
            if len(present) < 2:
                raise DataError(
                    f"{where} holds only class {[classes[i] for i in present]}; "
                    f"training needs at least two of {classes} (check samples and selection)"
                )
            return
        y = self.raw_target(columns).cpu().numpy()
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(
                f"{where}: {int(bad.sum())} of {len(y)} rows have a non-finite regression target "
                f"{self.target}{'/' + self.relative_to if self.relative_to else ''} (no true value, or a zero "
                "denominator); require_truth_match: true on the samples keeps only matched objects"
            )
        w = np.abs(columns["train_weight"].double().numpy())
        w = w if w.sum() > 0 else np.ones_like(y)
        self.mean = float(np.average(y, weights=w))
        self.std = float(np.sqrt(np.average((y - self.mean) ** 2, weights=w))) or 1.0

    def raw_target(self, batch: dict[str, Tensor]) -> Tensor:
        """target / relative_to of the batch rows, float64 on the batch's device."""
        missing = [
            o
            for o in (self.target, self.relative_to)
            if o is not None and f"observers.{o}" not in batch
        ]
        if missing:
            have = sorted(k.split(".", 1)[1] for k in batch if k.startswith("observers."))
            raise DataError(
                f"the dataset has no observer(s) {missing} for the regression target; observers: {have}"
            )
        y = batch[f"observers.{self.target}"].double()
        return y / batch[f"observers.{self.relative_to}"].double() if self.relative_to else y

    def train_rows(self, labels: Tensor) -> Tensor | None:
        """Rows the model may see (background only for an autoencoder); None: all."""
        return labels.long() == self.background if self.kind == "anomaly" else None

    # ---------------------------------------------------------------- loss

    def loss(self, out: Tensor, batch: dict[str, Tensor], w: Tensor) -> tuple[Tensor, Tensor]:
        """``(Σ w·loss, Σ |w|)`` over the batch (their ratio is the batch loss)."""
        out = out.float()
        if self.kind == "classification":
            return weighted_cross_entropy(out, batch[LABEL].long(), w)
        if self.kind == "anomaly":
            if bool(
                (batch[LABEL].long() != self.background).any()
            ):  # pragma: no cover - guarded by train_rows
                raise DataError("an autoencoder batch holds non-background rows")
            per_row = out[:, 0]
        else:
            per_row = self._regression_loss(out, batch)
        return (per_row * w).sum(), w.abs().sum()

    def _regression_loss(self, out: Tensor, batch: dict[str, Tensor]) -> Tensor:
        y = ((self.raw_target(batch) - self.mean) / self.std).float()
        if self.loss_name == "mse":
            return (out[:, 0] - y) ** 2
        if self.loss_name == "huber":
            return F.huber_loss(out[:, 0], y, reduction="none", delta=self.huber_delta)
        if self.loss_name == "gaussian_nll":
            return gaussian_nll(out[:, 0], out[:, 1], y)
        q = torch.as_tensor(self.quantiles, dtype=torch.float32, device=out.device)
        return pinball(out, y, q)

    def correct(self, out: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Correctly classified rows (classification only; 0 otherwise)."""
        if self.kind != "classification":
            return torch.zeros((), dtype=torch.long, device=out.device)
        return (out.argmax(1) == batch[LABEL].long()).sum()


def make_objective(task: TaskConfig, model: ModelConfig, *, anomaly: bool) -> Objective:
    """The objective of ``model`` in ``task`` (``anomaly``: the model type is an autoencoder)."""
    bkg = task.classes.index(task.background_class)
    loss = model.training.loss
    if anomaly:
        return Objective("anomaly", "reconstruction", 1, background=bkg)
    if task.kind == "classification":
        return Objective("classification", "cross_entropy", len(task.classes), background=bkg)
    assert task.regression is not None
    loss = "mse" if loss == "auto" else loss
    n = {"gaussian_nll": 2, "quantile": len(model.training.quantiles)}.get(loss, 1)
    return Objective(
        "regression",
        loss,
        n,
        background=bkg,
        target=task.regression.target,
        relative_to=task.regression.relative_to,
        huber_delta=model.training.huber_delta,
        quantiles=list(model.training.quantiles),
    )


def restrict_rows(batches: Any, objective: Objective, where: str) -> Any:
    """In-memory batches limited to the rows ``objective`` may see (the same object if all)."""
    from dl4hep.data.tensors import TensorBatches

    if objective.kind != "anomaly":
        return batches
    if not isinstance(batches, TensorBatches):
        raise DataError(
            f"{where}: an autoencoder selects background rows in memory, but the split is streamed "
            "(larger than the memory budget); cap it with training.max_train_samples"
        )
    keep = objective.train_rows(batches.tensors[LABEL])
    assert keep is not None
    idx = torch.nonzero(keep).squeeze(1)
    batches.tensors = {k: v.index_select(0, idx) for k, v in batches.tensors.items()}
    batches.n = len(idx)
    return batches


def output_columns(out: Tensor, state: dict[str, Any], classes: list[str]) -> dict[str, np.ndarray]:
    """Prediction columns of raw model outputs ``(N, n_outputs)`` (docs/architecture.md, Predictions).

    classification: ``score_<class>`` softmax; anomaly: ``anomaly_score`` = the error e and class
    scores from a = e / (1 + e) (background 1 − a, each signal a / n_signal, so every ROC
    of a signal against the background ranks rows by e); regression: ``prediction`` (target units),
    ``prediction_sigma`` (gaussian_nll: σ; quantile: half the 16–84 % spread when both are predicted)
    and ``prediction_q<q>`` per quantile.
    """
    out = out.float()
    kind = state.get("kind", "classification")
    if kind == "classification":
        p = torch.softmax(out, dim=1).numpy()
        return {score_column(c): p[:, i].astype(np.float32) for i, c in enumerate(classes)}
    if kind == "anomaly":
        e = out[:, 0].double().numpy()
        a = e / (1.0 + e)
        n_sig = max(1, len(classes) - 1)
        cols = {
            score_column(c): (1 - a if i == state["background"] else a / n_sig).astype(np.float32)
            for i, c in enumerate(classes)
        }
        return {"anomaly_score": e.astype(np.float32), **cols}
    mean, std = state["mean"], state["std"]
    raw = out.double().numpy() * std + mean
    cols = {}
    if state["loss"] == "quantile":
        qs = state["quantiles"]
        for i, q in enumerate(qs):
            cols[f"prediction_q{q:g}"] = raw[:, i]
        cols["prediction"] = raw[:, int(np.argmin(np.abs(np.asarray(qs) - 0.5)))]
        if 0.16 in qs and 0.84 in qs:
            cols["prediction_sigma"] = 0.5 * (raw[:, qs.index(0.84)] - raw[:, qs.index(0.16)])
    else:
        cols["prediction"] = raw[:, 0]
        if state["loss"] == "gaussian_nll":
            ls = out[:, 1].double().clamp(-LOG_SIGMA_RANGE, LOG_SIGMA_RANGE).numpy()
            cols["prediction_sigma"] = np.exp(ls) * std
    return {k: v.astype(np.float32) for k, v in cols.items()}


def nan_if(kind: str, value: float) -> float:
    """``value`` for classification, NaN for objectives without an accuracy or AUC."""
    return value if kind == "classification" else math.nan


def class_weights(labels: Tensor, weights: Tensor, n_classes: int, mode: str) -> Tensor:
    """Per-class loss weights, float64: ``none`` gives ones; ``balanced`` gives each class present the
    same total weight (from the sums of ``|weights|`` over the training split)."""
    if mode == "none":
        return torch.ones(n_classes, dtype=torch.float64)
    sums = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, labels, weights.abs().double())
    present = sums > 0
    out = torch.ones(n_classes, dtype=torch.float64)
    out[present] = sums[present].sum() / (present.sum() * sums[present])
    return out
