"""Which differences between models are significant: a paired bootstrap over the same test events.

Two models scored on the same test events share that sample's fluctuation, so their AUCs are
correlated (DeLong, DeLong & Clarke-Pearson 1988) and comparing two separate intervals overstates
the uncertainty of the difference. Here each bootstrap replica draws the test events with
replacement *once* and recomputes every model on that same draw (the paired bootstrap, Efron &
Tibshirani 1993, ch. 16): the spread of ``metric(model) − metric(reference)`` over the replicas
gives its percentile interval at :data:`PAIRED_COVERAGE`, and a difference is significant when
that interval excludes 0. Metrics: the weighted AUC and the background rejection 1/ε_B at each
signal efficiency, from the same ROC as :mod:`dl4hep.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dl4hep.evaluation.metrics import auc_and_rejections as figures

__all__ = ["PAIRED_COVERAGE", "PairedDelta", "paired_bootstrap"]

#: Central coverage of the paired intervals (two-sided 95 %).
PAIRED_COVERAGE = 0.95


@dataclass(frozen=True)
class PairedDelta:
    """``metric(model) − metric(reference)`` on the test split and its paired-bootstrap interval.

    ``lo``/``hi`` are None when too few replicas give a finite difference (e.g. no background passes).
    """

    delta: float
    lo: float | None
    hi: float | None

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0."""
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)


def _replicas(
    is_signal: np.ndarray,
    discs: list[np.ndarray],
    w: np.ndarray,
    effs: Sequence[float],
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Figures of every model on each replica that holds both classes, shape ``(R, M, 1 + E)``."""
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):  # a loop over replicas, each one vectorised over events
        i = rng.integers(0, len(is_signal), len(is_signal))
        y = is_signal[i]
        if y.all() or not y.any():
            continue
        reps.append([figures(y, d[i], w[i], effs) for d in discs])
    return np.asarray(reps, dtype=np.float64).reshape(len(reps), len(discs), 1 + len(effs))


def _interval(diffs: np.ndarray, n_boot: int) -> tuple[float | None, float | None]:
    finite = diffs[np.isfinite(diffs)]
    if len(finite) < max(1, n_boot // 2):
        return None, None
    lo, hi = np.percentile(finite, [50 * (1 - PAIRED_COVERAGE), 50 * (1 + PAIRED_COVERAGE)])
    return float(lo), float(hi)


def paired_bootstrap(
    is_signal: np.ndarray,
    discriminants: Mapping[str, np.ndarray],
    weights: np.ndarray,
    *,
    reference: str,
    signal_efficiencies: Sequence[float],
    n_boot: int,
    seed: int,
) -> dict[str, dict[str, PairedDelta]]:
    """Paired differences to ``reference`` of every model's AUC and rejections on the same events.

    Args:
        is_signal: bool, shape ``(N,)``: the truth of the common test events.
        discriminants: model -> discriminant on those events, shape ``(N,)`` each.
        weights: physics weights of the events, shape ``(N,)``.
        reference: the model every other one is compared with (its own entries are differences of 0).
        signal_efficiencies: ε_S of the rejection differences.
        n_boot: replicas; ``seed``: their seed (the same draws for every model).

    Returns:
        ``{model: {"auc": PairedDelta, "rejection_<eff:g>": PairedDelta, ...}}`` for every model.
    """
    y = np.asarray(is_signal, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    names = list(discriminants)
    discs = [np.asarray(discriminants[m], dtype=np.float64) for m in names]
    keys = ["auc"] + [f"rejection_{e:g}" for e in signal_efficiencies]
    nominal = np.stack([figures(y, d, w, signal_efficiencies) for d in discs])
    reps = _replicas(y, discs, w, signal_efficiencies, n_boot, seed)
    ref = names.index(reference)
    out: dict[str, dict[str, PairedDelta]] = {}
    with np.errstate(invalid="ignore"):
        delta = nominal - nominal[ref]
        diffs = reps - reps[:, [ref], :]
    for m, name in enumerate(names):
        out[name] = {}
        for k, key in enumerate(keys):
            lo, hi = (None, None) if m == ref else _interval(diffs[:, m, k], n_boot)
            out[name][key] = PairedDelta(float(delta[m, k]), lo, hi)
    return out
