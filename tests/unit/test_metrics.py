"""Metrics of dl4hep.evaluation.metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta, ks_2samp, norm
from sklearn.metrics import roc_auc_score, roc_curve

from dl4hep.evaluation.metrics import (
    binary_discriminant,
    binomial_error,
    bootstrap_intervals,
    confusion_matrix,
    effective_entries,
    efficiency_interval,
    rejection_at,
    roc,
    weighted_ks,
)


def test_roc_matches_sklearn_weighted():
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.4
    d = rng.normal(y.astype(float), 1.0)
    w = rng.uniform(0.1, 2.0, 500)
    c = roc(y, d, w)
    fpr, tpr, _ = roc_curve(y, d, sample_weight=w, drop_intermediate=False)
    assert c.auc == pytest.approx(roc_auc_score(y, d, sample_weight=w), rel=1e-12)
    np.testing.assert_allclose(c.eff_sig, tpr)
    np.testing.assert_allclose(c.eff_bkg, fpr)
    assert c.n_sig_eff == pytest.approx(w[y].sum() ** 2 / (w[y] ** 2).sum())


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="both signal and background"):
        roc(np.ones(5, bool), np.arange(5.0))


def test_rejection_hand_computed_ten_background_events():
    y = np.array([True] * 10 + [False] * 10)
    # All 10 signal at d = 0.9, no background there: at ε_S = 100 % nothing of the background passes.
    r = rejection_at(roc(y, np.array([0.9] * 10 + [0.8] * 2 + [0.1] * 8)), 1.0)
    assert r["eff_bkg"] == 0.0 and r["rejection"] is None
    # 5 signal at 0.9, 5 at 0.5; 2 of 10 background at 0.7, 8 at 0.1.
    d = np.array([0.9] * 5 + [0.5] * 5 + [0.7] * 2 + [0.1] * 8)
    assert rejection_at(roc(y, d), 0.5)["eff_bkg"] == 0.0  # cut 0.9
    r = rejection_at(roc(y, d), 1.0)  # cut 0.5: ε_B = 2/10
    assert r["eff_bkg"] == pytest.approx(0.2)
    assert r["rejection"] == pytest.approx(5.0)
    # Clopper-Pearson 68.27 % for k = 2 of N = 10, from the beta quantiles (independent of hist):
    lo, hi = beta.ppf(norm.cdf(-1), 2, 9), beta.ppf(norm.cdf(1), 3, 8)
    assert r["eff_bkg_interval"] == pytest.approx([lo, hi], rel=1e-9)
    assert r["rejection_interval"] == pytest.approx([1 / hi, 1 / lo], rel=1e-9)
    assert 1 / lo - 5.0 > 5.0 - 1 / hi  # the upward error is the larger one
    assert r["cut"] == pytest.approx(0.5)
    # half way between (ε_S, ε_B) = (0.5, 0.2) and (1.0, 0.2) -> ε_B = 0.2 again
    assert rejection_at(roc(y, d), 0.75)["eff_bkg"] == pytest.approx(0.2)


def test_rejection_uses_effective_entries_for_weights():
    # the same 10 background events with doubled weights: N_eff unchanged (10)
    d = np.array([0.9] * 5 + [0.5] * 5 + [0.7] * 2 + [0.1] * 8)
    y = np.array([True] * 10 + [False] * 10)
    w = np.where(y, 1.0, 2.0)
    r = rejection_at(roc(y, d, w), 1.0)
    unit = rejection_at(roc(y, d), 1.0)
    assert r["eff_bkg_interval"] == pytest.approx(unit["eff_bkg_interval"])
    # unequal weights lower N_eff below N
    assert effective_entries(np.array([1.0, 1.0, 1.0, 5.0])) == pytest.approx(64 / 28)


def test_binomial_error_edges():
    assert binomial_error(0.0, 10) == 0.0
    assert binomial_error(0.5, 100) == pytest.approx(0.05)
    assert np.isnan(binomial_error(0.5, 0))


def test_binary_discriminant_is_signal_score_for_two_classes():
    s = np.array([0.2, 0.7, 0.0])
    b = 1 - s
    np.testing.assert_allclose(binary_discriminant(s, b), s)
    # three classes: ratio of the two, ignoring the third
    assert binary_discriminant(np.array([0.3]), np.array([0.1]))[0] == pytest.approx(0.75)
    assert binary_discriminant(np.array([0.0]), np.array([0.0]))[0] == 0.5


def test_confusion_rows_sum_to_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 3, 200))
    counts, norm = confusion_matrix(labels, pred, 4)  # class 3 absent
    assert counts.sum() == 200
    np.testing.assert_allclose(norm[:3].sum(axis=1), 1.0)
    assert np.isnan(norm[3]).all()
    assert counts[1, 1] == np.sum((labels == 1) & (pred == 1))


def test_no_passing_background_still_bounds_the_rejection():
    """ε_B = 0 of N = 10: no rejection value, but CP gives ε_B < 1 − 0.158655^(1/10) = 0.167, so R > 6.0."""
    y = np.array([True] * 10 + [False] * 10)
    r = rejection_at(roc(y, np.array([0.9] * 10 + [0.8] * 2 + [0.1] * 8)), 1.0)
    assert r["rejection"] is None
    lo, hi = r["rejection_interval"]
    assert lo == pytest.approx(1 / (1 - 0.158655 ** (1 / 10)), rel=1e-5) and hi is None


def test_efficiency_interval_covers_and_is_exact_for_unit_weights():
    lo, hi = efficiency_interval(np.array([0.0, 0.5, 1.0]), np.array([20, 20, 20]))
    assert lo[0] == 0.0 and hi[2] == 1.0
    assert lo[1] == pytest.approx(beta.ppf(norm.cdf(-1), 10, 11)) and hi[1] == pytest.approx(beta.ppf(norm.cdf(1), 11, 10))
    assert np.isnan(efficiency_interval(0.5, 0)[0])


def test_weighted_ks_equals_scipy_for_unit_weights_and_sees_weights():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 400), rng.normal(0.2, 1, 300)
    d, p = weighted_ks(a, np.ones(400), b, np.ones(300))
    ref = ks_2samp(a, b, method="exact")
    assert d == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=0.05)
    # weights that undo the shift: b reweighted towards N(0, 1) makes the samples compatible
    wb = np.exp(-0.2 * b)
    d_w, p_w = weighted_ks(a, np.ones(400), b, wb)
    assert d_w < d and p_w > p


def test_auc_bootstrap_interval_matches_the_analytic_spread():
    """Hanley-McNeil standard error of the AUC, an independent formula, against the 68 % bootstrap width."""
    rng = np.random.default_rng(2)
    n = 1000
    y = np.arange(2 * n) < n
    d = rng.normal(y.astype(float), 1.0)
    auc = roc_auc_score(y, d)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (n - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2)) / n**2)
    (lo, hi), = bootstrap_intervals(y, d, n_boot=300, seed=1)
    assert lo < auc < hi
    assert (hi - lo) / 2 == pytest.approx(se, rel=0.25)
    assert bootstrap_intervals(y, d, n_boot=0) is None


def test_rejection_bootstrap_interval_carries_the_cut_fluctuation():
    """Gaussian scores (signal N(1,1), background N(0,1)) at ε_S = 50 %: the cut is c = 1, ε_B = 1 − Φ(1).

    The asymptotic variance of ε_B at a fixed ε_S (Hsieh & Turnbull 1996) adds to the binomial term
    of ε_B the cut's fluctuation from the signal quantile, scaled by the ROC slope f_B(c)/f_S(c):
    Var = ε_B(1 − ε_B)/N_B + (φ(c)/φ(c − 1))² ε_S(1 − ε_S)/N_S; σ_R = σ_εB/ε_B². The bootstrap
    interval of 1/ε_B must match it, and be wider than the Clopper–Pearson one (binomial term only).
    """
    rng = np.random.default_rng(5)
    n = 5000
    y = np.arange(2 * n) < n
    d = rng.normal(y.astype(float), 1.0)
    eps_b = norm.sf(1.0)
    slope = norm.pdf(1.0) / norm.pdf(0.0)
    sigma_eps = np.sqrt(eps_b * (1 - eps_b) / n + slope**2 * 0.25 / n)
    sigma_r = sigma_eps / eps_b**2
    auc_ci, rej_ci = bootstrap_intervals(y, d, effs=[0.5], n_boot=300, seed=1)
    assert [auc_ci] == bootstrap_intervals(y, d, n_boot=300, seed=1)  # the same replicas
    r = rejection_at(roc(y, d), 0.5)
    assert rej_ci[0] < r["rejection"] < rej_ci[1]
    assert (rej_ci[1] - rej_ci[0]) / 2 == pytest.approx(sigma_r, rel=0.2)
    cp_lo, cp_hi = r["rejection_interval"]
    assert rej_ci[1] - rej_ci[0] > 1.15 * (cp_hi - cp_lo)


def test_rejection_bootstrap_interval_is_open_when_no_background_passes():
    y = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    d = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(0.0, 0.4, 50)]  # fully separated
    auc_ci, rej_ci = bootstrap_intervals(y, d, effs=[0.5], n_boot=50, seed=0)
    assert auc_ci == (1.0, 1.0)
    assert rej_ci is None  # 1/ε_B is infinite on every replica
    assert bootstrap_intervals(y, d, effs=[0.5], n_boot=0) is None


def test_weighted_confusion_matrix_hand_computed():
    labels, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    cells, norm = confusion_matrix(labels, pred, 2, weights=np.array([3.0, 1.0, 2.0, 2.0]))
    np.testing.assert_allclose(cells, [[3.0, 1.0], [0.0, 4.0]])
    np.testing.assert_allclose(norm, [[0.75, 0.25], [0.0, 1.0]])
