"""Permutation importance with an injected scoring function (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from dl4hep.evaluation.importance import load_score_fn, permutation_importance


def test_informative_feature_ranks_first():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.random(n) < 0.5
    x = rng.normal(size=(n, 3)).astype(np.float32)
    x[:, 1] += 2.0 * y  # only feature "b" separates

    def score_fn(tab):
        p = 1 / (1 + np.exp(-2 * (tab[:, 1] - 1)))
        return np.stack([p, 1 - p], axis=1)  # classes (signal, background)

    imp = permutation_importance(score_fn, x, y, features=["a", "b", "c"], bkg_index=1, seed=1)
    assert imp.baseline_auc > 0.9
    assert imp.drop_mean[1] > 0.3
    assert abs(imp.drop_mean[0]) < 1e-12 and abs(imp.drop_mean[2]) < 1e-12  # unused: exactly no change
    # reproducible and the input array is left untouched
    again = permutation_importance(score_fn, x, y, features=["a", "b", "c"], bkg_index=1, seed=1)
    np.testing.assert_array_equal(imp.drop_mean, again.drop_mean)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"expected \(N, 2\)"):
        permutation_importance(lambda t: t, np.zeros((4, 3)), np.array([1, 0, 1, 0], bool),
                               features=["a", "b"], bkg_index=1)


def test_load_score_fn_without_inference_module(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dl4hep.training.inference", None)  # import raises ImportError
    fn, reason = load_score_fn(tmp_path)
    assert fn is None and "not available" in reason
