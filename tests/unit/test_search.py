"""Hyperparameter search: space checks, resume, pruning, best-trial YAML as a config overlay."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from dl4hep.config import AnalysisConfig, deep_merge, load_analysis
from dl4hep.config.search_space import trial_model
from dl4hep.errors import ConfigError
from dl4hep.validate import check_search
from tests.paths import REPO
from tests.unit._synthetic import make_config, make_dataset

optuna = pytest.importorskip("optuna")


def _config(search: dict, epochs: int = 3) -> AnalysisConfig:
    raw = make_config("dnn", hyperparameters={"hidden": [8]}, training={"epochs": epochs}).model_dump()
    raw["tasks"]["t"]["models"]["dnn"]["search"] = search
    return AnalysisConfig.model_validate(raw)


def test_space_keys_resolve_and_are_checked():
    cfg = _config({"space": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "hidden": {"choices": [[4], [8, 8]]},
                             "hyperparameters.dropout": {"low": 0.0, "high": 0.5}}})
    mcfg = cfg.model("t", "dnn")
    check_search(mcfg, where="m")
    trial = trial_model(mcfg, {"lr": 3e-3, "hidden": [8, 8], "hyperparameters.dropout": 0.2}, epochs=2)
    assert trial.training.lr == 3e-3 and trial.training.epochs == 2
    assert trial.hyperparameters["hidden"] == [8, 8] and trial.hyperparameters["dropout"] == 0.2
    assert trial.search is None
    bad = [
        ({"hiden": {"choices": [[4]]}}, "Did you mean 'hidden'"),
        ({"training.lrr": {"low": 1e-4, "high": 1e-2}}, "Did you mean 'lr'"),
        ({"epochs": {"low": 1, "high": 5}}, "cannot be searched"),
        ({"lr": {"low": -1.0, "high": 1.0}}, "greater than 0"),
        ({"hidden": {"choices": [[0]]}}, "hidden"),
    ]
    for space, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_search(_config({"space": space}).model("t", "dnn"), where="m")


def test_range_or_choices_is_required():
    with pytest.raises(ValueError, match="low and high"):
        _config({"space": {"lr": {"low": 1e-3}}})
    with pytest.raises(ValueError, match="log needs low > 0"):
        _config({"space": {"lr": {"low": 0.0, "high": 1.0, "log": True}}})


@pytest.mark.slow
def test_a_second_call_continues_the_study(tmp_path, one_thread):
    from dl4hep.training.search import FINISHED, open_study, run_search

    ds = make_dataset(tmp_path / "ds", n=64)
    space = {"space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}, "epochs": 1, "startup_trials": 5}
    first = run_search(config=_config({**space, "trials": 2}), task="t", model="dnn", dataset_dir=ds,
                       out_dir=tmp_path / "s")
    assert first["finished"] == 2 and first["ran"] == 2
    before = open_study(_config({**space, "trials": 2}), "t", "dnn", tmp_path / "s").get_trials(states=FINISHED)
    again = run_search(config=_config({**space, "trials": 2}), task="t", model="dnn", dataset_dir=ds,
                       out_dir=tmp_path / "s")
    assert again["ran"] == 0 and again["finished"] == 2  # nothing left to do
    more = run_search(config=_config({**space, "trials": 3}), task="t", model="dnn", dataset_dir=ds,
                      out_dir=tmp_path / "s")
    assert more["ran"] == 1 and more["finished"] == 3
    after = open_study(_config({**space, "trials": 3}), "t", "dnn", tmp_path / "s").get_trials(states=FINISHED)
    assert [(t.number, t.params, t.value) for t in after[:2]] == [(t.number, t.params, t.value) for t in before]
    assert len({t.params["lr"] for t in after}) == 3  # the resumed sampler does not repeat earlier points


@pytest.mark.slow
def test_a_bad_trial_is_pruned_and_the_best_yaml_is_a_valid_overlay(tmp_path, one_thread):
    from dl4hep.evaluation.search_report import best_overlay, write_search_report
    from dl4hep.training.search import open_study, run_search

    ds = make_dataset(tmp_path / "ds", n=256, sep=2.0)
    search = {"trials": 3, "space": {"lr": {"choices": [0.03, 1e-7]}}, "startup_trials": 2, "warmup_epochs": 0}
    cfg = _config(search, epochs=3)
    study = open_study(cfg, "t", "dnn", tmp_path / "s")
    for index in (0, 0, 1):  # two good learning rates, then one that cannot learn in time
        study.enqueue_trial({"lr": index})
    run_search(config=cfg, task="t", model="dnn", dataset_dir=ds, out_dir=tmp_path / "s")
    trials = open_study(cfg, "t", "dnn", tmp_path / "s").get_trials()
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert max(trials[2].intermediate_values) < 3  # stopped before its last epoch
    good = trials[0].intermediate_values[1]
    assert trials[2].intermediate_values[1] > good

    summary = write_search_report(config=cfg, task="t", model="dnn", search_dir=tmp_path / "s")
    assert summary["best"] == {"lr": 0.03} and summary["states"] == {"COMPLETE": 2, "PRUNED": 1}
    assert (tmp_path / "s" / "plots" / "trials.png").stat().st_size > 1000
    table = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert list(table["state"]) == states and list(table["lr"]) == [0.03, 0.03, 1e-7]
    overlay = yaml.safe_load((tmp_path / "s" / "best.yaml").read_text())
    assert overlay == best_overlay("t", "dnn", {"lr": 0.03})
    merged = AnalysisConfig.model_validate(deep_merge(cfg.model_dump(), overlay))
    assert merged.model("t", "dnn").training.lr == 0.03


def test_best_overlay_loads_with_the_mini_config(tmp_path):
    from dl4hep.evaluation.search_report import best_overlay

    overlay = tmp_path / "best.yaml"
    overlay.write_text(yaml.safe_dump(best_overlay("dilepton", "dnn", {"lr": 0.002, "hidden": [16, 16],
                                                                        "training.weight_decay": 0.0})))
    cfg = load_analysis(REPO / "configs/mini.yaml", overlay)
    mcfg = cfg.model("dilepton", "dnn")
    assert mcfg.training.lr == 0.002 and mcfg.training.weight_decay == 0.0
    assert mcfg.hyperparameters["hidden"] == [16, 16]
    assert list(cfg.task("jets").models) == list(load_analysis(REPO / "configs/mini.yaml").task("jets").models)
