"""Evaluation in the flattened (pT, η) phase space: the spectrum alone earns no AUC there."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from dl4hep.evaluation.flat_phase_space import flat_phase_space
from dl4hep.evaluation.metrics import roc


def _sample(n: int = 40_000, seed: int = 3) -> pd.DataFrame:
    """Signal at higher pT than background; a shape variable x ~ N(1, 1) vs N(0, 1) independent of pT."""
    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.int64)  # 0 = signal, 1 = background
    sig = label == 0
    pt = np.where(sig, rng.uniform(10, 40, n), rng.exponential(6.0, n) + 5.0)
    x = rng.normal(np.where(sig, 1.0, 0.0), 1.0)
    return pd.DataFrame({"label": label, "weight": np.ones(n), "obs_pt": pt,
                         "obs_eta": rng.uniform(-1.4, 1.4, n), "x": x})


def _curve(df: pd.DataFrame, column: str) -> SimpleNamespace:
    rows = np.arange(len(df))
    return SimpleNamespace(rows=rows, is_signal=df["label"].to_numpy() == 0, discriminant=df[column].to_numpy())


def test_spectrum_only_discriminant_drops_to_half_and_shape_keeps_its_analytic_auc():
    df = _sample()
    out = flat_phase_space(df, ["pt", "eta"], 2, {"shape": _curve(df, "x"), "spectrum": _curve(df, "obs_pt")})
    # Independent: for two unit Gaussians a distance 1 apart, AUC = Φ(1/√2) = 0.760.
    assert out["auc"]["shape"] == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.01)
    # pT alone: ~0.9 unweighted, near 0.5 once both classes are flat in pT (the 15 bins leave the
    # within-bin slope of the steep background spectrum: ~0.59 here, which `gain` accounts for).
    raw_pt_auc = roc(df["label"].to_numpy() == 0, df["obs_pt"].to_numpy(), df["weight"].to_numpy()).auc
    assert raw_pt_auc > 0.85
    assert out["auc"]["spectrum"] < 0.62
    assert out["observer_auc"]["shape"]["pt"] < 0.62
    assert out["gain"]["shape"] == pytest.approx(out["auc"]["shape"] - max(out["observer_auc"]["shape"].values()))
    assert out["gain"]["shape"] > 0.15


def test_missing_observer_gives_none():
    df = _sample(1000).drop(columns=["obs_eta"])
    assert flat_phase_space(df, ["pt", "eta"], 2, {"shape": _curve(df, "x")}) is None
