"""Metrics of dl4hep.evaluation.metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from dl4hep.evaluation.metrics import (
    binary_discriminant,
    binomial_error,
    confusion_matrix,
    effective_entries,
    rejection_at,
    roc,
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
    sigma_b = np.sqrt(0.2 * 0.8 / 10)  # binomial, N_B = 10
    assert r["eff_bkg_err"] == pytest.approx(sigma_b)
    assert r["rejection_err"] == pytest.approx(sigma_b / 0.2**2)  # 3.162
    assert r["cut"] == pytest.approx(0.5)
    # half way between (ε_S, ε_B) = (0.5, 0.2) and (1.0, 0.2) -> ε_B = 0.2 again
    assert rejection_at(roc(y, d), 0.75)["eff_bkg"] == pytest.approx(0.2)


def test_rejection_uses_effective_entries_for_weights():
    # the same 10 background events with doubled weights: N_eff unchanged (10)
    d = np.array([0.9] * 5 + [0.5] * 5 + [0.7] * 2 + [0.1] * 8)
    y = np.array([True] * 10 + [False] * 10)
    w = np.where(y, 1.0, 2.0)
    r = rejection_at(roc(y, d, w), 1.0)
    assert r["eff_bkg_err"] == pytest.approx(np.sqrt(0.2 * 0.8 / 10))
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
