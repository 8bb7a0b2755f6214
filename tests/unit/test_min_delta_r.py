"""The compiled p_T · min ΔR to the τ_N axes against a direct numpy evaluation of the definition."""

from __future__ import annotations

import numpy as np

from dl4hep.features.min_delta_r import min_dr2


def _reference(pt, y, phi, counts, axis_y, axis_phi, n_max):
    """Per particle and N: p_T · min over the N axes of sqrt(Δy² + Δφ²), Δφ wrapped with np.mod."""
    jet = np.repeat(np.arange(len(counts)), counts)
    out = np.empty((n_max, len(y)))
    for n in range(1, n_max + 1):
        rows = slice(n * (n - 1) // 2, n * (n + 1) // 2)
        dy = y[:, None] - axis_y[jet, rows]
        dphi = np.mod(phi[:, None] - axis_phi[jet, rows] + np.pi, 2 * np.pi) - np.pi
        out[n - 1] = pt * np.sqrt(np.min(dy**2 + dphi**2, axis=1))
    return out


def weighted_min_dr(pt, y, phi, counts, axis_y, axis_phi, n_max):
    """p_T · sqrt(min_dr2) per particle and N, as the τ kernel sums it (a test-side loop over calls)."""
    jet = np.repeat(np.arange(len(counts)), counts)
    out = np.empty((n_max, len(y)))
    for i, j in enumerate(jet):
        for n in range(1, n_max + 1):
            d2 = min_dr2(y[i], phi[i], axis_y[j], axis_phi[j], n * (n - 1) // 2, n * (n + 1) // 2)
            out[n - 1, i] = pt[i] * np.sqrt(d2)
    return out


def test_equals_definition_on_random_jets():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 40, 200)
    n = int(counts.sum())
    pt, y = rng.exponential(5.0, n), rng.normal(0.0, 1.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)  # axes and particles anywhere: Δφ crosses ±π often
    axis_y, axis_phi = rng.normal(0.0, 1.0, (200, 6)), rng.uniform(-np.pi, np.pi, (200, 6))
    got = weighted_min_dr(pt, y, phi, counts, axis_y, axis_phi, 3)
    np.testing.assert_allclose(
        got, _reference(pt, y, phi, counts, axis_y, axis_phi, 3), rtol=1e-12, atol=1e-12
    )


def test_nan_axis_propagates_as_np_minimum():
    counts = np.array([2])
    pt, y, phi = np.array([1.0, 2.0]), np.array([0.0, 0.5]), np.array([0.0, 0.1])
    axis_y = np.array([[0.0, 0.0, np.nan, 0.0, 0.0, 0.0]])
    axis_phi = np.zeros((1, 6))
    got = weighted_min_dr(pt, y, phi, counts, axis_y, axis_phi, 3)
    assert np.isnan(got[1]).all()  # N = 2 has a NaN axis: NaN, not the other axis' distance
    np.testing.assert_allclose(got[0], [0.0, 2.0 * np.hypot(0.5, 0.1)])
    np.testing.assert_allclose(got[2], got[0])
