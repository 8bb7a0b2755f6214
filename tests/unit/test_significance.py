"""Significance formulas (Asimov, Cowan 2012) and the cut scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dl4hep.evaluation.significance import (
    MIN_BACKGROUND_ENTRIES,
    asimov_z,
    asimov_z_uncertainty,
    s_over_sqrt_b,
    s_over_sqrt_s_plus_b,
    scan_cuts,
)


@pytest.mark.parametrize(
    ("s", "b", "expected"),
    [
        # sqrt(2((s+b) ln(1+s/b) - s)), by hand
        (10.0, 100.0, math.sqrt(2 * (110 * math.log(1.1) - 10))),  # 0.98399
        (5.0, 1.0, math.sqrt(2 * (6 * math.log(6) - 5))),  # 3.6180
        (100.0, 10.0, math.sqrt(2 * (110 * math.log(11) - 100))),  # 18.26
    ],
)
def test_asimov_hand_computed(s, b, expected):
    assert asimov_z(s, b) == pytest.approx(expected, rel=1e-12)


def test_asimov_known_value():
    assert float(asimov_z(10.0, 100.0)) == pytest.approx(0.98399, abs=1e-5)


def test_asimov_small_signal_limit_is_s_over_sqrt_b():
    for s, b in [(1.0, 1e4), (0.1, 100.0), (1e-3, 1.0)]:
        z = float(asimov_z(s, b))
        assert abs(z / (s / math.sqrt(b)) - 1) < 0.01


def test_simple_formulas_and_empty_background():
    assert s_over_sqrt_b(4.0, 16.0) == pytest.approx(1.0)
    assert s_over_sqrt_s_plus_b(4.0, 12.0) == pytest.approx(1.0)
    assert np.isnan(asimov_z(1.0, 0.0)) and np.isnan(s_over_sqrt_b(1.0, 0.0))


def test_cowan_tends_to_asimov_as_uncertainty_vanishes():
    s, b = np.array([3.0, 10.0, 50.0]), np.array([10.0, 100.0, 20.0])
    za = asimov_z(s, b)
    for rel in (1e-3, 1e-5):
        np.testing.assert_allclose(asimov_z_uncertainty(s, b, rel * b), za, rtol=1e-3)
    np.testing.assert_allclose(asimov_z_uncertainty(s, b, 0.0), za)


def test_cowan_hand_computed_and_monotonic():
    s, b, sig = 10.0, 100.0, 10.0  # 10 % uncertainty
    t1 = (s + b) * math.log((s + b) * (b + sig**2) / (b**2 + (s + b) * sig**2))
    t2 = b**2 / sig**2 * math.log(1 + sig**2 * s / (b * (b + sig**2)))
    assert float(asimov_z_uncertainty(s, b, sig)) == pytest.approx(math.sqrt(2 * (t1 - t2)), rel=1e-10)
    zs = [float(asimov_z_uncertainty(s, b, r * b)) for r in (0.0, 0.05, 0.1, 0.3)]
    assert zs == sorted(zs, reverse=True)  # more uncertainty, less significance


def test_scan_finds_best_cut_and_respects_minimum_background():
    rng = np.random.default_rng(1)
    n = 4000
    y = rng.random(n) < 0.2
    d = np.clip(rng.normal(np.where(y, 0.75, 0.3), 0.15), 0, 1)
    w = np.where(y, 0.1, 1.0)
    sc = scan_cuts(d, y, w)
    assert sc.best is not None
    # yields at the best cut are the weighted sums above it
    cut = sc.cuts[sc.best]
    assert sc.s[sc.best] == pytest.approx(w[y & (d >= cut)].sum())
    assert sc.b[sc.best] == pytest.approx(w[~y & (d >= cut)].sum())
    assert sc.n_bkg[sc.best] >= MIN_BACKGROUND_ENTRIES
    assert sc.z_asimov[sc.best] == pytest.approx(np.nanmax(np.where(sc.n_bkg >= MIN_BACKGROUND_ENTRIES,
                                                                    sc.z_asimov, np.nan)))
    summary = sc.summary()
    assert summary["z"] == summary["z_asimov"]
    with_unc = scan_cuts(d, y, w, rel_bkg_uncertainty=0.2)
    assert with_unc.summary()["z"] < summary["z"]
    # yields scale linearly: dividing weights by a test fraction of 0.2 scales s and b by 5
    scaled = scan_cuts(d, y, w / 0.2)
    np.testing.assert_allclose(scaled.s, 5 * sc.s)
