"""Mass sculpting: cuts at fixed background efficiency and the Jensen-Shannon divergence."""

from __future__ import annotations

import numpy as np
import pytest

from dl4hep.evaluation.sculpting import cut_at_background_efficiency, sculpting


def test_cut_keeps_the_requested_weighted_fraction():
    d = np.arange(10, dtype=float)
    w = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 11.0])  # the top row alone is 11/20 of the weight
    assert cut_at_background_efficiency(d, w, 0.5) == 9.0
    assert cut_at_background_efficiency(d, np.ones(10), 0.3) == 7.0  # rows 7, 8, 9


def test_independent_tagger_does_not_sculpt_and_a_mass_tagger_does():
    rng = np.random.default_rng(1)
    mass = rng.exponential(50, 20_000)
    edges = np.arange(0, 301, 20.0)
    blind = sculpting(rng.random(20_000), mass, np.ones(20_000), edges)
    peaked = sculpting(np.exp(-((mass - 90) / 15) ** 2) + 0.05 * rng.random(20_000), mass, np.ones(20_000), edges)
    for eff in (0.5, 0.1, 0.02):
        assert blind.jsd[eff] < 0.01
        assert peaked.jsd[eff] > 10 * blind.jsd[eff]
    assert peaked.jsd[0.5] < peaked.jsd[0.1] < peaked.jsd[0.02]  # tighter cuts sculpt more
    np.testing.assert_allclose(blind.inclusive.sum(), 1.0)
    # hand check of the divergence definition on the tight cut: JSD = ½KL(P‖M) + ½KL(Q‖M)
    p, q = peaked.inclusive, peaked.passed[0.02]
    m = 0.5 * (p + q)
    kl = lambda a, b: float(np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / b), 0.0)))  # noqa: E731
    assert peaked.jsd[0.02] == pytest.approx(0.5 * kl(p, m) + 0.5 * kl(q, m), rel=1e-9)


def test_no_background_weight_gives_none():
    assert sculpting(np.ones(3), np.ones(3), np.zeros(3), np.array([0.0, 1.0, 2.0])) is None
