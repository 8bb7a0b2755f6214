"""Classifier metrics with physics weights: ROC, AUC, background rejection, confusion.

All curves come from :func:`sklearn.metrics.roc_curve` with ``sample_weight``;
nothing here re-implements a ROC. Weights are the physics weights of the
predictions (σ·L/N per row), so efficiencies are yield fractions.

Negative (NLO) weights: every efficiency is a signed sum over a signed total, so a curve can
step backwards where a negative-weight row passes. The AUC is the trapezoid area along that
curve (:func:`weighted_auc`), which is the weighted Mann–Whitney statistic
``Σ_s Σ_b w_s w_b ([d_s > d_b] + ½[d_s = d_b]) / (W_S W_B)`` for any signs (sklearn's
``roc_auc_score`` refuses a non-monotonic curve); look-ups at a signal efficiency take the
first (tightest) cut that reaches it (:func:`eff_bkg_at`).

Efficiency intervals are Clopper–Pearson (``hist.intervals.clopper_pearson_interval``,
68.27 % central coverage) on the effective counts: with ``N_eff = (Σw)² / Σw²`` (Kish),
which equals ``N`` for unit weights, an efficiency ε is treated as ``ε·N_eff`` passes out
of ``N_eff`` trials. The rejection ``R = 1/ε_B`` takes the inverted bounds
``[1/ε_B,hi, 1/ε_B,lo]``: at high rejection few background entries pass, the interval is
strongly asymmetric, and the normal approximation ``σ_R = σ_εB / ε_B²`` understates the
upward error (and gives none at all when no background passes). AUC intervals are a
weighted bootstrap (:func:`bootstrap_intervals`, which also gives the rejections' intervals). Score distributions are compared with a weighted
Kolmogorov–Smirnov test (:func:`weighted_ks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hist.intervals import clopper_pearson_interval
from scipy.stats import kstwo
from sklearn.metrics import roc_curve

#: Central coverage of every interval: one Gaussian standard deviation.
COVERAGE = 0.682689492137086

__all__ = [
    "COVERAGE",
    "Roc",
    "auc_and_rejections",
    "binomial_error",
    "binary_discriminant",
    "bootstrap_intervals",
    "confusion_matrix",
    "effective_entries",
    "eff_bkg_at",
    "efficiency_interval",
    "rejection_at",
    "roc",
    "weighted_auc",
    "weighted_ks",
]


@dataclass(frozen=True)
class Roc:
    """A weighted ROC curve of one discriminant (signal = positive class).

    Attributes:
        eff_sig: signal efficiency ε_S per threshold, non-decreasing, shape ``(K,)``.
        eff_bkg: background efficiency ε_B per threshold, shape ``(K,)``.
        thresholds: discriminant cut (``d >= cut`` passes) per point, shape ``(K,)``.
        auc: area under the ε_B–ε_S curve (:func:`weighted_auc`).
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


def efficiency_interval(eff: np.ndarray | float, n_eff: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson 68 % interval ``(lo, hi)`` of an efficiency measured with ``n_eff`` effective entries.

    NaN where ``n_eff`` is 0. For unit weights this is the exact binomial interval of
    ``k = ε N`` passes out of ``N``.
    """
    eff = np.clip(np.asarray(eff, dtype=np.float64), 0.0, 1.0)
    n = np.asarray(n_eff, dtype=np.float64)
    has = n > 0
    safe = np.where(has, n, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = clopper_pearson_interval(eff * safe, safe, coverage=COVERAGE)
    return np.where(has, np.clip(lo, 0.0, 1.0), np.nan), np.where(has, np.clip(hi, 0.0, 1.0), np.nan)


def rejection_interval(eff_bkg: float, n_bkg_eff: float) -> tuple[float | None, float | None]:
    """68 % interval ``(lo, hi)`` of ``R = 1/ε_B`` from the Clopper–Pearson interval of ε_B.

    ``hi`` is None (unbounded) where the lower ε_B bound is 0, i.e. when no background passes.
    """
    lo_e, hi_e = (float(x) for x in efficiency_interval(eff_bkg, n_bkg_eff))
    if not np.isfinite(hi_e) or hi_e <= 0:
        return None, None
    return 1.0 / hi_e, (1.0 / lo_e if lo_e > 0 else None)


def auc_and_rejections(
    is_signal: np.ndarray, discriminant: np.ndarray, weights: np.ndarray, effs: Sequence[float]
) -> np.ndarray:
    """``[AUC, 1/ε_B(eff_0), 1/ε_B(eff_1), ...]`` of one discriminant (inf where ε_B is 0)."""
    curve = roc(is_signal, discriminant, weights)
    eps_b = eff_bkg_at(curve, np.asarray(effs, dtype=np.float64))
    with np.errstate(divide="ignore"):
        rejection = np.where(eps_b > 0, 1.0 / np.where(eps_b > 0, eps_b, 1.0), np.inf)
    return np.concatenate([[curve.auc], rejection])


def bootstrap_intervals(is_signal: np.ndarray, discriminant: np.ndarray, weights: np.ndarray | None = None,
                        effs: Sequence[float] = (), n_boot: int = 200,
                        seed: int = 0) -> list[tuple[float, float | None] | None] | None:
    """68 % bootstrap intervals of ``[AUC, 1/ε_B(eff_0), ...]`` (rows resampled with replacement, weights kept).

    The 15.87 and 84.13 percentiles of ``n_boot`` replicas (Efron & Tibshirani 1993, ch. 13). Unlike
    a Clopper–Pearson interval on ε_B, the rejection's interval also carries the fluctuation of the cut
    that gives ε_S. None when ``n_boot`` is 0 or too few replicas hold both classes (tiny samples); a
    rejection's upper bound is None (unbounded) when that percentile falls on replicas where no
    background passes, its interval None when most of them do.
    """
    y = np.asarray(is_signal, dtype=bool)
    d = np.asarray(discriminant, dtype=np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    if n_boot <= 0 or y.sum() < 2 or (~y).sum() < 2:
        return None
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):  # a loop over replicas, each one vectorised over rows
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        reps.append(auc_and_rejections(y[i], d[i], w[i], effs))
    if len(reps) < n_boot // 2:
        return None
    q = [50 * (1 - COVERAGE), 50 * (1 + COVERAGE)]
    out: list[tuple[float, float | None] | None] = []
    for column in np.asarray(reps).T:
        if np.mean(np.isinf(column)) > 0.5:
            out.append(None)
            continue
        lo, hi = np.percentile(column, q)
        out.append((float(lo), float(hi) if np.isfinite(hi) else None))
    return out


def weighted_ks(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> tuple[float, float | None]:
    """Weighted two-sample Kolmogorov–Smirnov statistic and p-value ``(D, p)``.

    ``D = max |F_a(x) − F_b(x)|`` with weighted empirical CDFs (normalised cumulative sums of
    the weights over the pooled sorted values). The p-value uses the exact one-sample KS
    distribution (``scipy.stats.kstwo``) at the effective size
    ``n = n_a n_b / (n_a + n_b)`` with Kish effective counts (the usual approximation for
    weighted samples, cf. Monahan, *Numerical Methods of Statistics*, §13.6). None when a
    sample is empty or has no positive total weight.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    wa, wb = np.asarray(wa, np.float64), np.asarray(wb, np.float64)
    if not len(a) or not len(b) or wa.sum() <= 0 or wb.sum() <= 0:
        return float("nan"), None
    x = np.concatenate([a, b])
    order = np.argsort(x, kind="stable")
    wx = np.concatenate([wa / wa.sum(), -wb / wb.sum()])[order]
    diff = np.cumsum(wx)
    last = np.r_[x[order][1:] != x[order][:-1], True]  # evaluate the CDFs after each distinct value
    d = float(np.max(np.abs(diff[last])))
    na, nb = effective_entries(wa), effective_entries(wb)
    n = max(1, int(round(na * nb / (na + nb))))
    return d, float(kstwo.sf(d, n))


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
    auc = float(np.trapezoid(tpr, fpr))  # = roc_auc_score for w >= 0; signed weights: see weighted_auc
    return Roc(
        eff_sig=tpr,
        eff_bkg=fpr,
        thresholds=thr,
        auc=auc,
        n_sig_eff=effective_entries(w[y]),
        n_bkg_eff=effective_entries(w[~y]),
    )


def weighted_auc(is_signal: np.ndarray, discriminant: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted AUC, negative weights included: the trapezoid area along sklearn's ROC.

    Equals ``roc_auc_score`` for non-negative weights; see the module docstring for signed ones.
    """
    y = np.asarray(is_signal, dtype=bool)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    fpr, tpr, _ = roc_curve(y, np.asarray(discriminant, dtype=np.float64), sample_weight=w, drop_intermediate=False)
    return float(np.trapezoid(tpr, fpr))


def eff_bkg_at(curve: Roc, eff_sig: np.ndarray) -> np.ndarray:
    """ε_B at each signal efficiency of ``eff_sig``: the first ROC point reaching it, interpolated from the one before.

    The search runs on the running maximum of ε_S, so it stays right where negative weights make the
    curve step back.
    """
    tpr, fpr = curve.eff_sig, curve.eff_bkg
    x = np.asarray(eff_sig, dtype=np.float64)
    i = np.clip(np.searchsorted(np.maximum.accumulate(tpr), x, side="left"), 0, len(tpr) - 1)
    prev = np.maximum(i - 1, 0)
    step = tpr[i] - tpr[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where((i > 0) & (step > 0), (x - tpr[prev]) / np.where(step > 0, step, 1.0), 1.0)
    return fpr[prev] + f * (fpr[i] - fpr[prev])


def rejection_at(curve: Roc, eff_sig: float) -> dict[str, float | None]:
    """Background rejection ``1/ε_B`` at signal efficiency ``eff_sig`` with its uncertainty.

    ε_B and the cut are linearly interpolated along the ROC in ε_S. Intervals are
    Clopper–Pearson on ε_B with ``N_B,eff`` entries (:func:`efficiency_interval`,
    :func:`rejection_interval`).

    Returns:
        ``{"eff_sig", "eff_bkg", "eff_bkg_interval", "rejection", "rejection_interval", "cut"}``;
        ``rejection`` is None where ε_B is 0 (no background passes), while its interval still
        gives the lower bound; an upper bound of None is unbounded.
    """
    tpr, fpr, thr = curve.eff_sig, curve.eff_bkg, curve.thresholds
    # First ROC point reaching eff_sig (the tightest such cut, hence the lowest ε_B on a
    # plateau of ε_S), interpolated linearly from the point before it.
    i = int(np.clip(np.searchsorted(np.maximum.accumulate(tpr), eff_sig, side="left"), 0, len(tpr) - 1))
    if i == 0 or tpr[i] == tpr[i - 1]:
        eps_b, cut = float(fpr[i]), float(thr[i])
    else:
        f = (eff_sig - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_b = float(fpr[i - 1] + f * (fpr[i] - fpr[i - 1]))
        # roc_curve's first threshold is +inf (nothing passes): no interpolation towards it.
        cut = float(thr[i]) if not np.isfinite(thr[i - 1]) else float(thr[i - 1] + f * (thr[i] - thr[i - 1]))
    lo, hi = (float(x) for x in efficiency_interval(eps_b, curve.n_bkg_eff))
    return {
        "eff_sig": float(eff_sig),
        "eff_bkg": eps_b,
        "eff_bkg_interval": [lo, hi],
        "rejection": 1.0 / eps_b if eps_b > 0 else None,
        "rejection_interval": list(rejection_interval(eps_b, curve.n_bkg_eff)),
        "cut": cut,
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int,
                     weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts (or summed weights) and the row-normalised confusion matrix (rows: true, columns: predicted).

    With ``weights`` the cells are Σw, so the normalised rows are the weighted fractions that
    match the weighted ROC and score plots.

    Returns:
        ``(counts, normalised)``, both shape ``(n_classes, n_classes)``; a row of
        a class with no entries (or no positive weight) is all NaN in ``normalised``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if weights is None:
        counts = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(counts, (labels, predicted), 1)
    else:
        counts = np.zeros((n_classes, n_classes), dtype=np.float64)
        np.add.at(counts, (labels, predicted), np.asarray(weights, dtype=np.float64))
    rows = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), np.nan)
    return counts, norm
