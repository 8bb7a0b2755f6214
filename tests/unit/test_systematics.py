"""Weight-variation systematics and negative event weights in the evaluation, against independent computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dl4hep.evaluation import api
from dl4hep.evaluation.metrics import eff_bkg_at, rejection_at, roc, weighted_auc
from dl4hep.evaluation.significance import scan_cuts
from dl4hep.evaluation.systematics import roc_band, systematics
from dl4hep.training.objectives import weighted_cross_entropy
from tests.unit.test_evaluation_api import make_config, write_inputs


def sample(n: int = 400, seed: int = 3, negative: float = 0.2):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    d = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    w = rng.uniform(0.5, 1.5, n) * np.where(rng.random(n) < negative, -1.0, 1.0)
    return y, d, w


def pairwise_auc(y, d, w):
    """Σ_s Σ_b w_s w_b ([d_s > d_b] + ½[d_s = d_b]) / (W_S W_B), by brute force over every pair."""
    ds, db, ws, wb = d[y][:, None], d[~y][None, :], w[y][:, None], w[~y][None, :]
    return float(np.sum(ws * wb * ((ds > db) + 0.5 * (ds == db))) / (w[y].sum() * w[~y].sum()))


def test_weighted_auc_with_negative_weights_is_the_pairwise_statistic():
    y, d, w = sample()
    d = np.round(d, 2)  # ties
    assert weighted_auc(y, d, w) == pytest.approx(pairwise_auc(y, d, w), rel=1e-12)
    assert roc(y, d, w).auc == pytest.approx(pairwise_auc(y, d, w), rel=1e-12)
    yp, dp, wp = sample(negative=0.0)
    assert weighted_auc(yp, dp, wp) == pytest.approx(
        roc_auc_score(yp, dp, sample_weight=wp), rel=1e-12
    )


def test_efficiency_lookup_takes_the_first_cut_reaching_it_with_negative_weights():
    y, d, w = sample(n=300)
    curve = roc(y, d, w)
    assert np.any(np.diff(curve.eff_sig) < 0)  # the signed curve steps back somewhere
    cuts = np.sort(np.unique(d))[::-1]  # tightest first
    eff_s = np.array([w[y & (d >= c)].sum() for c in cuts]) / w[y].sum()
    eff_b = np.array([w[~y & (d >= c)].sum() for c in cuts]) / w[~y].sum()
    for target in (0.2, 0.5, 0.8):
        first = int(
            np.argmax(eff_s >= target)
        )  # first (tightest) cut whose signed efficiency reaches it
        before = (eff_s[first - 1], eff_b[first - 1]) if first else (0.0, 0.0)
        f = (target - before[0]) / (eff_s[first] - before[0])
        expected = before[1] + f * (eff_b[first] - before[1])
        assert float(eff_bkg_at(curve, np.array([target]))[0]) == pytest.approx(expected, rel=1e-9)
        assert rejection_at(curve, target)["eff_bkg"] == pytest.approx(expected, rel=1e-9)


def test_significance_yields_are_signed_sums():
    y, d, w = sample()
    sc = scan_cuts(d, y, w / 0.2, n_cuts=50)
    for k in (0, len(sc.cuts) // 2):
        assert sc.s[k] == pytest.approx(w[y & (d >= sc.cuts[k])].sum() / 0.2)
        assert sc.b[k] == pytest.approx(w[~y & (d >= sc.cuts[k])].sum() / 0.2)


def test_training_loss_keeps_the_sign_of_negative_weights():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.0], [0.0, 3.0]])
    labels = torch.tensor([0, 1, 0])
    w = torch.tensor([1.0, -0.5, 2.0])
    num, den = weighted_cross_entropy(logits, labels, w)
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    ce = -np.log(p[np.arange(3), labels.numpy()])
    assert float(num) == pytest.approx(float(np.sum(ce * w.numpy())), rel=1e-6)
    assert float(den) == pytest.approx(3.5)


def asimov(s, b):
    return np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))


def test_systematics_yields_envelope_and_total_against_numpy():
    y, d, w = sample()
    rng = np.random.default_rng(9)
    factors = rng.uniform(0.8, 1.2, size=(3, len(w)))
    variations = {
        "lumi_up": 1.05 * w,
        "lumi_down": 0.95 * w,
        **{f"sc_{i}": w * factors[i] for i in range(3)},
    }
    groups = {
        "lumi": {"members": ["lumi_up", "lumi_down"], "envelope": ["lumi_up", "lumi_down"]},
        "sc": {"members": ["sc_0", "sc_1", "sc_2"], "envelope": ["sc_0", "sc_2"]},
    }
    out = systematics(d, y, w, variations, groups, cut=0.5, test_fraction=0.25)
    passed = d >= 0.5

    def figures(x):
        s, b = x[passed & y].sum() / 0.25, x[passed & ~y].sum() / 0.25
        return {"s": s, "b": b, "z": asimov(s, b), "eff_sig": x[passed & y].sum() / x[y].sum()}

    nom = figures(w)
    for key in ("s", "b", "z", "eff_sig"):
        assert out["nominal"][key] == pytest.approx(nom[key], rel=1e-9)
        for v, x in variations.items():
            assert out["variations"][v][key] == pytest.approx(figures(x)[key], rel=1e-9)
    assert out["variations"]["lumi_up"]["s"] == pytest.approx(1.05 * nom["s"])
    sc = [figures(variations[m]) for m in ("sc_0", "sc_2")]  # sc_1 is outside the envelope
    assert out["envelopes"]["sc"]["hi"]["b"] == pytest.approx(max(nom["b"], *(f["b"] for f in sc)))
    assert out["envelopes"]["sc"]["lo"]["b"] == pytest.approx(min(nom["b"], *(f["b"] for f in sc)))
    dev = {
        g: max(out["envelopes"][g]["hi"]["s"] - nom["s"], nom["s"] - out["envelopes"][g]["lo"]["s"])
        for g in groups
    }
    assert dev["lumi"] == pytest.approx(0.05 * abs(nom["s"]))
    assert out["total"]["s"] == pytest.approx(np.hypot(dev["lumi"], dev["sc"]))


def test_roc_band_holds_the_nominal_curve_and_ignores_a_global_factor():
    y, d, w = sample(negative=0.1)
    nominal = roc(y, d, w)
    grid = np.linspace(0.05, 0.95, 50)
    flat = roc_band(y, d, nominal, {"lumi_up": 1.1 * w}, ["lumi_up"], grid)
    np.testing.assert_allclose(
        flat.eff_bkg_hi, flat.eff_bkg_lo, rtol=1e-12
    )  # efficiencies do not move
    shaped = {"up": w * (1 + 0.5 * d), "down": w * (1 - 0.5 * d)}
    band = roc_band(y, d, nominal, shaped, ["up", "down"], grid)
    nom = eff_bkg_at(nominal, grid)
    assert np.all(band.eff_bkg_lo <= nom + 1e-12) and np.all(nom <= band.eff_bkg_hi + 1e-12)
    assert np.max(band.eff_bkg_hi - band.eff_bkg_lo) > 0.01


@pytest.mark.slow
def test_evaluation_writes_systematics_into_metrics_table_and_roc(tmp_path):
    cfg = make_config(
        "dilepton", {"dnn": {}}, evaluation={"permutation_importance": False, "bootstrap": 0}
    )
    inputs = write_inputs(tmp_path, cfg, "dilepton", n=1500)
    meta_path = inputs["dataset_dir"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["weight_variations"] = ["lumi_up", "lumi_down", "shape_0", "shape_1"]
    meta["weight_groups"] = {
        "lumi": {"members": ["lumi_up", "lumi_down"], "envelope": ["lumi_up", "lumi_down"]},
        "shape": {"members": ["shape_0", "shape_1"], "envelope": ["shape_0", "shape_1"]},
    }
    meta_path.write_text(json.dumps(meta))
    path = inputs["predictions_dir"] / "dnn" / "test.parquet"
    df = pd.read_parquet(path)
    df["weight_lumi_up"], df["weight_lumi_down"] = 1.02 * df["weight"], 0.98 * df["weight"]
    df["weight_shape_0"] = df["weight"] * (1 + 0.3 * df["score_hww"])
    df["weight_shape_1"] = df["weight"] * (1 - 0.3 * df["score_hww"])
    df.to_parquet(path)
    out = tmp_path / "evaluation"
    api.evaluate_task(config=cfg, task="dilepton", out_dir=out, **inputs)
    met = json.loads((out / "metrics" / "dnn.json").read_text())
    syst = met["systematics"]["hww"]
    assert (
        syst["cut_from"] == "best_significance"
        and syst["cut"] == met["signal_vs_background"]["hww"]["significance"]["cut"]
    )
    assert syst["nominal"]["s"] == pytest.approx(
        met["signal_vs_background"]["hww"]["significance"]["s"]
    )
    assert syst["variations"]["lumi_up"]["s"] == pytest.approx(1.02 * syst["nominal"]["s"])
    assert (
        syst["envelopes"]["lumi"]["hi"]["z"]
        > syst["nominal"]["z"]
        > syst["envelopes"]["lumi"]["lo"]["z"]
    )
    table = pd.read_csv(out / "comparison.csv")
    lo = min(e["lo"]["z"] for e in syst["envelopes"].values())
    assert table.loc[0, "z_syst_lo"] == pytest.approx(lo)
    assert "Z range, weight syst." in (out / "comparison.md").read_text()
    assert (out / "plots" / "roc.png").exists()
