"""Classifier metrics with physics weights: ROC, AUC, background rejection, confusion.

All curves come from :func:`sklearn.metrics.roc_curve` with ``sample_weight``;
nothing here re-implements a ROC. Weights are the physics weights of the
predictions (σ·L/N per row), so efficiencies are yield fractions.

Binomial uncertainties use the effective number of entries
``N_eff = (Σw)² / Σw²`` (Kish), which equals ``N`` for unit weights:
``σ_ε = sqrt(ε (1 − ε) / N_eff)`` and, for the rejection ``R = 1/ε_B``,
``σ_R = σ_εB / ε_B²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "Roc",
    "binomial_error",
    "binary_discriminant",
    "confusion_matrix",
    "effective_entries",
    "rejection_at",
    "roc",
]


@dataclass(frozen=True)
class Roc:
    """A weighted ROC curve of one discriminant (signal = positive class).

    Attributes:
        eff_sig: signal efficiency ε_S per threshold, non-decreasing, shape ``(K,)``.
        eff_bkg: background efficiency ε_B per threshold, shape ``(K,)``.
        thresholds: discriminant cut (``d >= cut`` passes) per point, shape ``(K,)``.
        auc: area under the ε_B–ε_S curve (sklearn ``roc_auc_score``).
        n_sig_eff: effective number of signal entries ``(Σw)²/Σw²``.
        n_bkg_eff: effective number of background entries.
    """

    eff_sig: np.ndarray
    eff_bkg: np.ndarray
    thresholds: np.ndarray
    auc: float
    n_sig_eff: float
    n_bkg_eff: float


def effective_entries(weights: np.ndarray) -> float:
    """Kish effective sample size ``(Σw)² / Σw²`` (``N`` for unit weights, 0 if empty)."""
    w = np.asarray(weights, dtype=np.float64)
    sw2 = float(np.sum(w * w))
    if sw2 <= 0:
        return 0.0
    return float(np.sum(w)) ** 2 / sw2


def binomial_error(eff: np.ndarray | float, n_eff: np.ndarray | float) -> np.ndarray:
    """Binomial uncertainty ``sqrt(ε(1−ε)/N_eff)`` of an efficiency (NaN where ``N_eff`` is 0)."""
    eff = np.clip(np.asarray(eff, dtype=np.float64), 0.0, 1.0)
    n = np.asarray(n_eff, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.sqrt(eff * (1.0 - eff) / np.where(n > 0, n, 1.0)), np.nan)


def binary_discriminant(score_sig: np.ndarray, score_bkg: np.ndarray) -> np.ndarray:
    """Signal-vs-background discriminant ``s / (s + b)`` of two softmax scores.

    For a two-class model this is the signal score itself; for a multi-class
    model it is the likelihood ratio of the two classes, ignoring the others.
    Rows where both scores are zero get 0.5.
    """
    s = np.asarray(score_sig, dtype=np.float64)
    b = np.asarray(score_bkg, dtype=np.float64)
    tot = s + b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, s / np.where(tot > 0, tot, 1.0), 0.5)


def roc(is_signal: np.ndarray, discriminant: np.ndarray, weights: np.ndarray | None = None) -> Roc:
    """Weighted ROC of ``discriminant`` for ``is_signal`` (True) against the rest (False).

    Args:
        is_signal: bool, shape ``(N,)``.
        discriminant: larger is more signal-like, shape ``(N,)``.
        weights: physics weights, shape ``(N,)`` (unit weights if None).

    Raises:
        ValueError: if either class has no entries (the caller decides to skip).
    """
    y = np.asarray(is_signal, dtype=bool)
    d = np.asarray(discriminant, dtype=np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    if not y.any() or y.all():
        raise ValueError("ROC needs both signal and background entries")
    fpr, tpr, thr = roc_curve(y, d, sample_weight=w, drop_intermediate=False)
    auc = float(roc_auc_score(y, d, sample_weight=w))
    return Roc(
        eff_sig=tpr,
        eff_bkg=fpr,
        thresholds=thr,
        auc=auc,
        n_sig_eff=effective_entries(w[y]),
        n_bkg_eff=effective_entries(w[~y]),
    )


def rejection_at(curve: Roc, eff_sig: float) -> dict[str, float | None]:
    """Background rejection ``1/ε_B`` at signal efficiency ``eff_sig`` with its uncertainty.

    ε_B and the cut are linearly interpolated along the ROC in ε_S. The
    uncertainty is binomial on ε_B with ``N_B,eff``: ``σ_R = σ_εB / ε_B²``.

    Returns:
        ``{"eff_sig", "eff_bkg", "eff_bkg_err", "rejection", "rejection_err", "cut"}``;
        ``rejection`` and ``rejection_err`` are None where ε_B is 0 (no background passes).
    """
    tpr, fpr, thr = curve.eff_sig, curve.eff_bkg, curve.thresholds
    # First ROC point reaching eff_sig (the tightest such cut, hence the lowest ε_B on a
    # plateau of ε_S), interpolated linearly from the point before it.
    i = int(np.clip(np.searchsorted(tpr, eff_sig, side="left"), 0, len(tpr) - 1))
    if i == 0 or tpr[i] == tpr[i - 1]:
        eps_b, cut = float(fpr[i]), float(thr[i])
    else:
        f = (eff_sig - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_b = float(fpr[i - 1] + f * (fpr[i] - fpr[i - 1]))
        # roc_curve's first threshold is +inf (nothing passes): no interpolation towards it.
        cut = float(thr[i]) if not np.isfinite(thr[i - 1]) else float(thr[i - 1] + f * (thr[i] - thr[i - 1]))
    err_b = float(binomial_error(eps_b, curve.n_bkg_eff))
    if eps_b > 0:
        rej: float | None = 1.0 / eps_b
        rej_err: float | None = err_b / eps_b**2
    else:
        rej, rej_err = None, None
    return {
        "eff_sig": float(eff_sig),
        "eff_bkg": eps_b,
        "eff_bkg_err": err_b,
        "rejection": rej,
        "rejection_err": rej_err,
        "cut": cut,
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and row-normalised confusion matrix (rows: true class, columns: predicted).

    Returns:
        ``(counts, normalised)``, both shape ``(n_classes, n_classes)``; a row of
        a class with no entries is all NaN in ``normalised``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    rows = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), np.nan)
    return counts, norm
