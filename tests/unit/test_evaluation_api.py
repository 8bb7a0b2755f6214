"""End-to-end tests of dl4hep.evaluation.api.evaluate_task on synthetic inputs in tmp_path."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from dl4hep.config import AnalysisConfig, resolve_analysis
from dl4hep.errors import ConfigError, DataError, InputFileError
from dl4hep.evaluation import api, importance

REPO = Path(__file__).resolve().parents[2]
FEATURES = ["f0", "f1", "f2"]


def make_config(task: str, models: dict, experiment: str = "CMS", **task_override) -> AnalysisConfig:
    raw = {
        "config_dir": str(REPO / "configs"),
        "experiment": experiment,
        "tasks": {task: {"models": models, **task_override}},
    }
    return AnalysisConfig.model_validate(resolve_analysis(raw))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def write_inputs(tmp: Path, cfg: AnalysisConfig, task: str, *, n: int = 3000, seed: int = 0,
                 drop_class_in_test: str | None = None) -> dict:
    """Predictions, dataset (meta + tabular parquet) and model dirs (history.csv) for every model."""
    tcfg = cfg.task(task)
    classes = tcfg.classes
    rng = np.random.default_rng(seed)
    pred_dir, ds_dir = tmp / "predictions" / task, tmp / "datasets" / task
    ds_dir.mkdir(parents=True)
    (ds_dir / "meta.json").write_text(json.dumps({"classes": classes, "background": tcfg.background_class,
                                                  "tabular": FEATURES, "observers": ["pt", "mll"]}))
    for split in ("train", "val", "test"):
        labels = rng.integers(0, len(classes), n)
        if split == "test" and drop_class_in_test:
            labels[labels == classes.index(drop_class_in_test)] = classes.index(tcfg.background_class)
        x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
        x[:, 0] += labels  # f0 separates the classes
        weight = np.where(labels == classes.index(tcfg.background_class), 0.5, 0.01) * rng.uniform(0.8, 1.2, n)
        arr = ak.zip({"tabular": ak.zip({f: np.ascontiguousarray(x[:, j]) for j, f in enumerate(FEATURES)}),
                      "label": labels.astype(np.int64), "weight": weight})
        ak.to_parquet(arr, ds_dir / f"{split}.parquet")
        for k, model in enumerate(tcfg.models):
            logits = rng.normal(size=(n, len(classes)))
            logits[np.arange(n), labels] += 1.5 + 0.5 * k
            probs = _softmax(logits).astype(np.float32)
            df = pd.DataFrame({"run": np.ones(n, np.int64), "event": np.arange(n, dtype=np.int64),
                               "label": labels.astype(np.int64), "weight": weight})
            for j, c in enumerate(classes):
                df[f"score_{c}"] = probs[:, j]
            df["obs_pt"] = rng.uniform(0, 1500, n).astype(np.float32)
            df["obs_mll"] = rng.uniform(0, 300, n).astype(np.float32)
            (pred_dir / model).mkdir(parents=True, exist_ok=True)
            df.to_parquet(pred_dir / model / f"{split}.parquet")
    model_dirs = {}
    for model in tcfg.models:
        d = tmp / "models" / task / model
        d.mkdir(parents=True)
        ep = np.arange(5)
        pd.DataFrame({"epoch": ep, "train_loss": 1 / (ep + 1), "val_loss": 1.1 / (ep + 1),
                      "train_acc": 0.5 + 0.05 * ep, "val_acc": 0.5 + 0.04 * ep, "val_auc": 0.6 + 0.05 * ep,
                      "lr": 1e-3 * 0.5**ep, "samples_per_s": 1e4, "epoch_time_s": 2.0}).to_csv(d / "history.csv",
                                                                                            index=False)
        model_dirs[model] = d
    return {"dataset_dir": ds_dir, "predictions_dir": pred_dir, "models": model_dirs}


def fake_score_fn(n_classes: int):
    """A 'model' that uses only feature f0: class k is most likely near f0 = k."""

    def fn(tab: np.ndarray) -> np.ndarray:
        centres = np.arange(n_classes)
        return _softmax(-((tab[:, [0]] - centres[None, :]) ** 2))

    return fn


@pytest.fixture
def inject_model(monkeypatch):
    def install(n_classes: int):
        monkeypatch.setattr(importance, "load_score_fn", lambda d: (fake_score_fn(n_classes), {"tabular": FEATURES}))
    return install


def _expected_plots(stems: list[str]) -> set[str]:
    return {f"{s}.{ext}" for s in stems for ext in ("pdf", "png")}


def _written(out: Path) -> dict[str, Path]:
    """Plot file name -> path, from the comparison's and every model's ``plots/index.json``."""
    dirs = [out / "plots"] + sorted(p / "plots" for p in (out / "models").iterdir())
    return {name: d / name for d in dirs for name in json.loads((d / "index.json").read_text())["plots"]}


def _names(summary: dict) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p in summary["plots"]}


@pytest.mark.slow
def test_binary_task_every_output(tmp_path, inject_model):
    cfg = make_config("dilepton", {"dnn": {}, "dnn_wide": {"base": "dnn"}},
                      evaluation={"background_uncertainty": 0.1})
    inputs = write_inputs(tmp_path, cfg, "dilepton")
    inject_model(2)
    out = tmp_path / "evaluation" / "dilepton"
    summary = api.evaluate_task(config=cfg, task="dilepton", out_dir=out, **inputs)

    stems = ["roc", "features"] + [f"{k}_{m}" for m in ("dnn", "dnn_wide") for k in
                                  ("roc", "confusion", "scores", "significance", "training", "efficiency_vs_pt",
                                   "importance")]
    expected = _expected_plots(stems)
    written = _written(out)
    assert set(written) == expected
    assert _names(summary) == expected
    for name, path in written.items():
        assert path.stat().st_size > 1000, name
    # the comparison draws the overlays, each model its own plots
    assert set(json.loads((out / "plots" / "index.json").read_text())["plots"]) == _expected_plots(["roc", "features"])
    for m in ("dnn", "dnn_wide"):
        met = json.loads((out / "metrics" / f"{m}.json").read_text())
        assert 0.5 < met["auc"] <= 1.0
        assert set(met["signal_vs_background"]["hww"]["rejection"]) == {"0.3", "0.5", "0.7"}
        sig = met["signal_vs_background"]["hww"]["significance"]
        assert sig["formula"] == "cowan2012" and sig["z"] > 0
        assert sig["z"] <= sig["z_asimov"] + 1e-9  # an uncertainty can only lower Z
        assert set(met["permutation_importance"]["auc_drop"]) == set(FEATURES)
        # f0 drives the fake model: shuffling it costs the most AUC
        drops = met["permutation_importance"]["auc_drop"]
        assert drops["f0"] > max(drops["f1"], drops["f2"]) + 0.05
        cm = pd.read_csv(out / "metrics" / f"confusion_{m}.csv", index_col=0)
        assert cm.to_numpy().sum() == met["n_test"]
        assert np.allclose(np.asarray(met["confusion_normalised"]).sum(axis=1), 1.0)
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["model"]) == ["dnn", "dnn_wide"]
    assert {"auc", "auc_lo", "auc_hi", "accuracy", "rejection_0.5", "rejection_0.5_lo", "rejection_0.5_hi",
            "best_z"} <= set(table.columns)
    assert all(table["auc_lo"] < table["auc"]) and all(table["auc"] < table["auc_hi"])
    assert table.loc[1, "auc"] > table.loc[0, "auc"]  # dnn_wide got the stronger synthetic scores
    md = (out / "comparison.md").read_text()
    assert "| dnn |" in md and "| dnn_wide |" in md
    assert (out / "provenance.json").exists()


@pytest.mark.slow
def test_multiclass_task_every_output(tmp_path, inject_model):
    cfg = make_config("jets", {"dnn": {}, "pfn": {}}, experiment="ATLAS")
    inputs = write_inputs(tmp_path, cfg, "jets", n=2000)
    inject_model(5)
    out = tmp_path / "eval"
    api.evaluate_task(config=cfg, task="jets", out_dir=out, **inputs)
    signals = ["top", "w", "z", "hbb"]
    stems = ["roc", "features"] + [f"roc_{s}" for s in signals]
    stems += [f"{k}_{m}" for m in ("dnn", "pfn") for k in
              ("confusion", "scores", "significance", "training", "efficiency_vs_pt")]
    stems += ["importance_dnn"]  # pfn reads points: no permutation importance
    stems += [f"roc{c}_{m}" for m in ("dnn", "pfn") for c in ["", *(f"_{s}" for s in signals)]]  # each model's own
    expected = _expected_plots(stems)
    written = _written(out)
    assert set(written) == expected
    for name, path in written.items():
        assert path.stat().st_size > 1000, name
    met = json.loads((out / "metrics" / "dnn.json").read_text())
    assert set(met["auc_one_vs_rest"]) == {"top", "w", "z", "hbb", "qcd"}
    assert set(met["signal_vs_background"]) == set(signals) | {api.INCLUSIVE}
    assert met["primary"] == api.INCLUSIVE
    table = pd.read_csv(out / "comparison.csv")
    assert {"best_z_top", "auc_hbb"} <= set(table.columns)


def test_importance_skipped_without_inference_api(tmp_path, caplog, monkeypatch):
    cfg = make_config("dilepton", {"dnn": {}}, experiment="none", evaluation={"pt_observer": None})
    inputs = write_inputs(tmp_path, cfg, "dilepton", n=500)
    monkeypatch.setattr(importance, "load_score_fn", lambda d: (None, "dl4hep.training.inference is not available"))
    with caplog.at_level(logging.WARNING, logger="dl4hep.evaluation"):
        summary = api.evaluate_task(config=cfg, task="dilepton", out_dir=tmp_path / "e", **inputs)
    assert "importance_dnn.pdf" not in _names(summary) and "confusion_dnn.pdf" in _names(summary)
    assert "roc.png" in summary["plots"]
    assert any("permutation importance skipped" in r.message for r in caplog.records)
    assert summary["skipped"][0]["plot"] == "importance_dnn"


def test_missing_score_column_names_file_and_column(tmp_path):
    cfg = make_config("dilepton", {"dnn": {}})
    inputs = write_inputs(tmp_path, cfg, "dilepton", n=200)
    path = inputs["predictions_dir"] / "dnn" / "test.parquet"
    pd.read_parquet(path).drop(columns=["score_hww"]).to_parquet(path)
    with pytest.raises(DataError, match=r"test\.parquet has no column 'score_hww'"):
        api.evaluate_task(config=cfg, task="dilepton", out_dir=tmp_path / "e", **inputs)


def test_empty_test_split_is_an_error(tmp_path):
    cfg = make_config("dilepton", {"dnn": {}})
    inputs = write_inputs(tmp_path, cfg, "dilepton", n=200)
    path = inputs["predictions_dir"] / "dnn" / "test.parquet"
    pd.read_parquet(path).iloc[:0].to_parquet(path)
    with pytest.raises(DataError, match="empty test split"):
        api.evaluate_task(config=cfg, task="dilepton", out_dir=tmp_path / "e", **inputs)


def test_unknown_model_is_a_config_error(tmp_path):
    cfg = make_config("dilepton", {"dnn": {}})
    with pytest.raises(ConfigError, match="'dnnn' is not a model of task 'dilepton'.*Did you mean 'dnn'"):
        api.evaluate_task(config=cfg, task="dilepton", dataset_dir=tmp_path, models={"dnnn": tmp_path},
                          predictions_dir=tmp_path, out_dir=tmp_path / "e")


SMALL_TASK = """
input: generated
features: [jet_substructure]
classes: [top, w, qcd]
background: qcd
samples:
  top: {label: top, generator: {process: ttbar_hadronic}}
  wqq: {label: w, generator: {process: w_hadronic}}
  qcd: {label: qcd, generator: {process: qcd_dijet}}
models: {dnn: {}}
evaluation: {permutation_importance: false, pt_observer: null}
"""


@pytest.mark.slow
def test_class_absent_from_test_skips_its_curves(tmp_path, caplog):
    definition = tmp_path / "small.yaml"
    definition.write_text(SMALL_TASK)
    cfg = make_config("jets", {"dnn": {}}, definition=str(definition))
    inputs = write_inputs(tmp_path, cfg, "jets", n=1500, drop_class_in_test="w")
    with caplog.at_level(logging.WARNING, logger="dl4hep.evaluation"):
        summary = api.evaluate_task(config=cfg, task="jets", out_dir=tmp_path / "e", **inputs)
    assert "roc_w.pdf" not in summary["plots"] and "roc_top.pdf" in summary["plots"]
    assert any(s["plot"] == "roc_w" for s in summary["skipped"])
    assert any("'w' has no test rows" in r.message for r in caplog.records)
    met = json.loads((tmp_path / "e" / "metrics" / "dnn.json").read_text())
    assert "w" not in met["signal_vs_background"] and "w" not in met["auc_one_vs_rest"]


@pytest.mark.slow
def test_significance_can_be_switched_off(tmp_path, inject_model):
    cfg = make_config("dilepton", {"dnn": {}}, evaluation={"significance": False})
    inputs = write_inputs(tmp_path, cfg, "dilepton")
    inject_model(2)
    out = tmp_path / "evaluation" / "dilepton"
    summary = api.evaluate_task(config=cfg, task="dilepton", out_dir=out, **inputs)
    assert not any(p.startswith("significance_") for p in _names(summary))
    index = json.loads((out / "plots" / "index.json").read_text())
    assert {"plot": "significance_dnn", "reason": "evaluation.significance is false"} in index["skipped"]
    met = json.loads((out / "metrics" / "dnn.json").read_text())
    assert "significance" not in met["signal_vs_background"]["hww"]
    assert 0.5 < met["auc"] <= 1.0


@pytest.mark.slow
def test_per_model_evaluation_then_comparison_without_predictions(tmp_path, inject_model):
    """evaluate-model writes one model's outputs on its own; the comparison reads only those."""
    import shutil

    cfg = make_config("dilepton", {"dnn": {}, "dnn_wide": {"base": "dnn"}})
    inputs = write_inputs(tmp_path, cfg, "dilepton")
    inject_model(2)
    out = tmp_path / "evaluation" / "dilepton"
    first = api.evaluate_model(config=cfg, task="dilepton", model="dnn", model_dir=inputs["models"]["dnn"],
                               dataset_dir=inputs["dataset_dir"], predictions_dir=inputs["predictions_dir"],
                               out_dir=out / "models" / "dnn")
    # the model's own ROC and confusion matrix as soon as it is evaluated; the overlay only in the comparison
    assert "roc.png" not in first["plots"] and {"roc_dnn.png", "confusion_dnn.png"} <= set(first["plots"])
    assert not (out / "comparison.csv").exists()  # nothing of the task before every model is evaluated
    with pytest.raises(InputFileError, match=r"models/dnn_wide/metrics\.json does not exist.*evaluate-model"):
        api.compare_models(config=cfg, task="dilepton", models=["dnn", "dnn_wide"], eval_dir=out,
                           dataset_dir=inputs["dataset_dir"])
    api.evaluate_model(config=cfg, task="dilepton", model="dnn_wide", model_dir=inputs["models"]["dnn_wide"],
                       dataset_dir=inputs["dataset_dir"], predictions_dir=inputs["predictions_dir"],
                       out_dir=out / "models" / "dnn_wide")
    shutil.rmtree(inputs["predictions_dir"])  # the comparison recomputes nothing from predictions
    summary = api.compare_models(config=cfg, task="dilepton", models=["dnn", "dnn_wide"], eval_dir=out,
                                 dataset_dir=inputs["dataset_dir"])
    assert summary["best"] == "dnn_wide"  # the stronger synthetic scores
    for m in ("dnn", "dnn_wide"):
        assert (out / "metrics" / f"{m}.json").read_bytes() == (out / "models" / m / "metrics.json").read_bytes()
    table = pd.read_csv(out / "comparison.csv").set_index("model")
    best, other = table.loc["dnn_wide"], table.loc["dnn"]
    assert best["delta_auc"] == 0 and pd.isna(best["delta_auc_lo"])
    assert other["delta_auc"] == pytest.approx(other["auc"] - best["auc"], abs=1e-12)
    assert other["delta_auc_lo"] <= other["delta_auc"] <= other["delta_auc_hi"]
    assert bool(other["delta_auc_significant"]) == (other["delta_auc_hi"] < 0 or other["delta_auc_lo"] > 0)
    md = (out / "comparison.md").read_text()
    assert "## Differences to the best model (`dnn_wide`)" in md and "| dnn | " in md.split("Differences")[1]


def test_evaluate_model_refuses_a_regression_task(tmp_path):
    cfg = make_config("egamma_energy", {"dnn_gauss": {}})
    with pytest.raises(ConfigError, match="is a regression"):
        api.evaluate_model(config=cfg, task="egamma_energy", model="dnn_gauss", model_dir=tmp_path,
                           dataset_dir=tmp_path, predictions_dir=tmp_path, out_dir=tmp_path / "e")
