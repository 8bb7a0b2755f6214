"""Regression: losses, response/resolution figures against hand-worked cases, a toy with a known response."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from dl4hep.errors import ConfigError, DataError
from dl4hep.evaluation.resolution import sigma_eff, summarise, weighted_quantile
from dl4hep.training.objectives import gaussian_nll, pinball
from tests.unit._regression_toys import NOISE, energy_toy, task_config

pytestmark = pytest.mark.usefixtures("one_thread")
REG = {"target": "true_energy", "relative_to": "energy"}


# ------------------------------------------------------------------ sigma_eff, quantiles (hand-worked)


def test_sigma_eff_of_ten_equally_spaced_points():
    # 68.3 % of 10 unit weights needs 7 points: the narrowest 7 consecutive span 6 -> half-width 3
    assert sigma_eff(np.arange(10.0)) == 3.0


def test_sigma_eff_ignores_a_far_tail():
    x = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 5, 10, 20])  # 7 points within [0, 0.6]
    assert sigma_eff(x) == pytest.approx(0.3)
    assert np.std(x) > 5  # the RMS would be dominated by the tail


def test_sigma_eff_with_weights():
    # weights 0.1, 0.6, 0.2, 0.1: no single point holds 68.3 %, [1, 2] holds 0.8 -> half-width 0.5
    assert sigma_eff(np.array([0.0, 1, 2, 3]), np.array([0.1, 0.6, 0.2, 0.1])) == pytest.approx(0.5)
    # a point holding 70 % alone: zero width
    assert sigma_eff(np.array([0.0, 1, 2]), np.array([0.15, 0.7, 0.15])) == 0.0


def test_sigma_eff_of_a_gaussian_is_sigma():
    x = np.random.default_rng(1).normal(3.0, 2.0, 200_000)
    assert sigma_eff(x) == pytest.approx(2.0, rel=0.01)


def test_weighted_quantile_and_summary():
    assert weighted_quantile(np.array([3.0, 1, 2]), 0.5) == 2.0
    # weight 3 on 10 moves the median there
    assert weighted_quantile(np.array([1.0, 2, 10]), 0.5, np.array([1.0, 1, 3])) == 10.0
    x = np.arange(1, 101, dtype=float)  # 1..100: q(15.87 %) = 16, median 50, q(84.13 %) = 85
    s = summarise(x)
    assert (s.q16, s.median, s.q84, s.n) == (16.0, 50.0, 85.0, 100)
    assert s.sigma_eff == pytest.approx(34.0)  # 69 points needed (68.27 of 100): width 68
    assert (
        summarise(np.array([np.nan, 1.0]), np.array([1.0, 0.0])).n == 0
    )  # NaN and zero weight drop out


# ------------------------------------------------------------------ losses (hand-worked)


def test_gaussian_nll_values():
    mu, ls, y = (
        torch.tensor([0.0, 1.0]),
        torch.tensor([math.log(2.0), 0.0]),
        torch.tensor([2.0, 1.0]),
    )
    got = gaussian_nll(mu, ls, y)
    assert got[0].item() == pytest.approx(0.5 * 1.0 + math.log(2.0))  # ((2-0)/2)^2 / 2 + ln 2
    assert got[1].item() == pytest.approx(0.0)


def test_gaussian_nll_is_minimal_at_the_rms_width():
    r = torch.from_numpy(np.random.default_rng(0).normal(0, 0.3, 20_000)).float()
    rms = r.pow(2).mean().sqrt().item()
    grid = np.linspace(-2.5, 0.0, 251)
    loss = [gaussian_nll(torch.zeros_like(r), torch.full_like(r, g), r).mean().item() for g in grid]
    assert np.exp(grid[int(np.argmin(loss))]) == pytest.approx(rms, abs=0.01)


def test_pinball_values_and_minimum_at_the_quantile():
    q = torch.tensor([0.9])
    assert pinball(torch.tensor([[0.0]]), torch.tensor([1.0]), q).item() == pytest.approx(
        0.9
    )  # under-predicted
    assert pinball(torch.tensor([[0.0]]), torch.tensor([-1.0]), q).item() == pytest.approx(
        0.1
    )  # over-predicted
    y = torch.from_numpy(np.random.default_rng(2).exponential(1.0, 5001)).float()
    grid = np.linspace(0, 4, 401)
    loss = [pinball(torch.full((len(y), 1), float(g)), y, q).mean().item() for g in grid]
    assert grid[int(np.argmin(loss))] == pytest.approx(np.quantile(y.numpy(), 0.9), abs=0.02)


# ------------------------------------------------------------------ config


def test_regression_task_needs_its_block_and_matching_losses():
    with pytest.raises(ValueError, match="needs a 'regression:' block"):
        task_config(kind="regression", model_type="dnn", classes=["a", "b"])
    with pytest.raises(ValueError, match="loss 'mse' does not fit a classification task"):
        task_config(kind="classification", model_type="dnn", loss="mse", classes=["a", "b"])
    with pytest.raises(ValueError, match="quantiles must increase"):
        from dl4hep.config import TrainingConfig

        TrainingConfig(quantiles=[0.5, 0.2])


def test_regression_target_must_be_an_observer(tmp_path):
    import yaml

    from dl4hep.validate import load_checked

    cfg = {
        "config_dir": "configs",
        "tasks": {"egamma_energy": {"regression": {"target": "true_enrgy"}}},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(
        ConfigError, match=r"regression.target: unknown observer 'true_enrgy'.*true_energy"
    ):
        load_checked(path)


# ------------------------------------------------------------------ training on a toy with a known response


def _train_predict(tmp_path, loss):
    from dl4hep.training.api import train_model
    from dl4hep.training.predict import predict_model

    ds = energy_toy(tmp_path / "ds")
    cfg = task_config(
        kind="regression",
        model_type="dnn",
        loss=loss,
        classes=["photon", "electron"],
        epochs=25,
        hyperparameters={"hidden": [32, 32], "dropout": 0.0, "batch_norm": False},
        regression=REG,
    )
    train_model(
        config=cfg, task="t", model="m", dataset_dir=ds, out_dir=tmp_path / "m", progress=False
    )
    predict_model(
        config=cfg,
        task="t",
        model="m",
        dataset_dir=ds,
        model_dir=tmp_path / "m",
        out_dir=tmp_path / "p",
    )
    return pd.read_parquet(tmp_path / "p" / "test.parquet")


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "huber", "gaussian_nll", "quantile"])
def test_trained_correction_beats_the_raw_energy(tmp_path, loss):
    df = _train_predict(tmp_path, loss)
    # target column = E_true / E_raw from the observers, independently of the trainer
    assert np.allclose(df.target, df.obs_true_energy / df.obs_energy, rtol=1e-5)
    raw, corrected = summarise(1 / df.target), summarise(df.prediction / df.target)
    assert raw.median < 0.85 and raw.sigma_eff > 0.08  # the toy's response 0.8 + 0.15 tanh(x0)
    assert corrected.median == pytest.approx(1.0, abs=0.01)
    assert (
        corrected.sigma_eff < 3 * NOISE < raw.sigma_eff / 3
    )  # down to the 1 % noise the features cannot know
    if loss in (
        "gaussian_nll",
        "quantile",
    ):  # the predicted sigma covers about 68 % of the residuals
        covered = ((df.prediction - df.target).abs() < df.prediction_sigma).mean()
        assert 0.5 < covered < 0.85


def test_unmatched_objects_are_an_error(tmp_path):
    import awkward as ak

    from dl4hep.training.api import train_model

    ds = energy_toy(tmp_path / "ds", n=200)
    arr = ak.from_parquet(ds / "train.parquet")
    true_e = ak.to_numpy(arr.observers.true_energy).copy()
    true_e[:3] = np.nan  # clusters without a matched particle
    arr = ak.with_field(arr, true_e.astype(np.float32), ["observers", "true_energy"])
    ak.to_parquet(arr, ds / "train.parquet")
    cfg = task_config(
        kind="regression",
        model_type="dnn",
        classes=["photon", "electron"],
        epochs=1,
        regression=REG,
    )
    with pytest.raises(
        DataError, match=r"3 of 200 rows have a non-finite regression target true_energy/energy"
    ):
        train_model(
            config=cfg, task="t", model="m", dataset_dir=ds, out_dir=tmp_path / "m", progress=False
        )
    assert not (tmp_path / "m").exists()  # nothing written before the check
