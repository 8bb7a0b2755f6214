"""Paired-bootstrap differences between models (dl4hep.evaluation.paired) against an independent computation."""

from __future__ import annotations

import numpy as np

from dl4hep.evaluation.paired import PAIRED_COVERAGE, PairedDelta, paired_bootstrap


def _mann_whitney_auc(y: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
    """Weighted AUC as P(d_s > d_b) + ½ P(d_s = d_b) over every signal-background pair (O(N²), no ROC)."""
    ds, db, ws, wb = d[y], d[~y], w[y], w[~y]
    wins = (ds[:, None] > db[None, :]) + 0.5 * (ds[:, None] == db[None, :])
    return float((ws[:, None] * wb[None, :] * wins).sum() / (ws.sum() * wb.sum()))


def _toy(n: int = 400, seed: int = 3) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    truth = rng.normal(size=n) + 1.5 * y
    discs = {
        "strong": truth + 0.3 * rng.normal(size=n),  # little noise on top of the separation
        "weak": truth + 2.0 * rng.normal(size=n),  # much more noise: clearly worse
        "twin": truth + 0.3 * rng.normal(size=n),  # as good as "strong", different noise
    }
    return y, discs, rng.uniform(0.5, 2.0, n)


def test_auc_differences_match_a_brute_force_paired_bootstrap():
    y, discs, w = _toy()
    n_boot, seed = 60, 11
    got = paired_bootstrap(
        y, discs, w, reference="strong", signal_efficiencies=[0.5], n_boot=n_boot, seed=seed
    )
    # independent: the same replica draws, AUCs by pair counting instead of a ROC
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {"weak": [], "twin": []}
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        ref = _mann_whitney_auc(y[i], discs["strong"][i], w[i])
        for m in diffs:
            diffs[m].append(_mann_whitney_auc(y[i], discs[m][i], w[i]) - ref)
    q = [50 * (1 - PAIRED_COVERAGE), 50 * (1 + PAIRED_COVERAGE)]
    for m, reps in diffs.items():
        lo, hi = np.percentile(reps, q)
        nominal = _mann_whitney_auc(y, discs[m], w) - _mann_whitney_auc(y, discs["strong"], w)
        d = got[m]["auc"]
        np.testing.assert_allclose([d.delta, d.lo, d.hi], [nominal, lo, hi], rtol=0, atol=1e-10)
    assert got["weak"]["auc"].significant and got["weak"]["auc"].hi < 0
    assert not got["twin"]["auc"].significant  # equally good models: the interval holds 0
    assert got["strong"]["auc"] == PairedDelta(0.0, None, None)  # the reference itself


def test_pairing_is_tighter_than_two_separate_intervals():
    """The shared fluctuation cancels: the paired spread of ΔAUC is below the unpaired one."""
    y, discs, w = _toy(n=600, seed=5)
    got = paired_bootstrap(
        y, discs, w, reference="strong", signal_efficiencies=[0.5], n_boot=80, seed=1
    )
    rng = np.random.default_rng(2)
    unpaired = []
    for _ in range(80):  # independent draws for the two models
        i, j = rng.integers(0, len(y), len(y)), rng.integers(0, len(y), len(y))
        unpaired.append(
            _mann_whitney_auc(y[i], discs["twin"][i], w[i])
            - _mann_whitney_auc(y[j], discs["strong"][j], w[j])
        )
    d = got["twin"]["auc"]
    assert d.hi - d.lo < np.subtract(*np.percentile(unpaired, [97.5, 2.5]))


def test_rejection_difference_of_an_identical_model_is_zero_and_a_worse_one_is_significant():
    y, discs, w = _toy(n=800, seed=9)
    discs["copy"] = discs["strong"].copy()
    got = paired_bootstrap(
        y, discs, w, reference="strong", signal_efficiencies=[0.3, 0.5], n_boot=50, seed=0
    )
    for key in ("auc", "rejection_0.3", "rejection_0.5"):
        d = got["copy"][key]
        assert d.delta == 0 and d.lo == 0 and d.hi == 0 and not d.significant
    worse = got["weak"]["rejection_0.5"]
    assert worse.delta < 0 and worse.significant
