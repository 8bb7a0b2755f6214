"""K-fold training: fold assignment, fold datasets, out-of-fold predictions, fold averaging, metric spread."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dl4hep.config import AnalysisConfig
from dl4hep.data.kfold import assign_folds, build_fold_datasets
from dl4hep.errors import DataError
from dl4hep.evaluation.kfold import fold_headlines, kfold_markdown, spread
from tests.unit._synthetic import TABULAR, make_config, make_dataset

K = 3


def _unique_events(root):
    """Give every row of the synthetic dataset its own event number (the helper numbers each split from 0)."""
    offset = 0
    for split in ("train", "val", "test"):
        path = root / f"{split}.parquet"
        arr = ak.from_parquet(path)
        arr = ak.with_field(arr, np.arange(offset, offset + len(arr), dtype=np.int64), "event")
        offset += len(arr)
        ak.to_parquet(arr, path)
    return root


def _events(path) -> np.ndarray:
    return ak.to_numpy(ak.from_parquet(path, columns=["event"])["event"])


def test_fold_is_event_number_mod_k():
    event = np.array([0, 1, 2, 3, 4, 5, 17, -1, -4], dtype=np.int64)
    np.testing.assert_array_equal(assign_folds(event, 3), [0, 1, 2, 0, 1, 2, 2, 2, 2])
    with pytest.raises(ValueError):
        assign_folds(event, 1)


def test_task_kfold_applies_to_models_without_their_own():
    raw = make_config("dnn").model_dump()
    raw["tasks"]["t"]["kfold"] = 4
    raw["tasks"]["t"]["models"]["other"] = {**raw["tasks"]["t"]["models"]["dnn"], "kfold": 1}
    cfg = AnalysisConfig.model_validate(raw)
    assert cfg.task("t").folds("dnn") == 4 and cfg.task("t").folds("other") == 1
    assert make_config("dnn").task("t").folds("dnn") == 1


def test_fold_datasets_partition_the_events(tmp_path):
    ds = _unique_events(make_dataset(tmp_path / "ds", n=120))
    cfg = make_config("dnn")
    build_fold_datasets(config=cfg, task="t", k=K, dataset_dir=ds, out_dir=tmp_path / "folds")
    every = np.concatenate([_events(ds / f"{s}.parquet") for s in ("train", "val", "test")])
    val_events = set(_events(ds / "val.parquet"))
    tested = []
    for fold in range(K):
        d = tmp_path / "folds" / f"fold{fold}"
        train, val, test = (_events(d / f"{s}.parquet") for s in ("train", "val", "test"))
        assert set(test) == {e for e in every if e % K == fold}
        assert not (set(train) | set(val)) & set(test)  # the fold's model never sees its test events
        assert set(train) | set(val) | set(test) == set(every)
        assert set(val) <= val_events and not set(train) & val_events
        tested.append(test)
        # normalisation refitted on the fold's training rows (independent computation)
        arr = ak.from_parquet(d / "train.parquet")
        x = np.stack([ak.to_numpy(arr.tabular[n]) for n in TABULAR], 1).astype(np.float64)
        meta = json.loads((d / "meta.json").read_text())
        np.testing.assert_allclose(meta["norm"]["tabular"]["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
        # training weights: each class sums to the same total over the fold's training rows
        labels, tw = ak.to_numpy(arr.label), ak.to_numpy(arr.train_weight)
        np.testing.assert_allclose(tw[labels == 0].sum(), tw[labels == 1].sum(), rtol=1e-9)
        assert meta["kfold"] == {"k": K, "fold": fold, "rule": meta["kfold"]["rule"]}
    all_tested = np.concatenate(tested)
    assert len(all_tested) == len(every) and set(all_tested) == set(every)  # each event tested exactly once


def test_fold_without_a_class_is_an_error(tmp_path):
    ds = _unique_events(make_dataset(tmp_path / "ds", sizes={"train": 1, "val": 1, "test": 1}))  # class c0 only
    with pytest.raises(DataError, match="fold"):
        build_fold_datasets(config=make_config("dnn"), task="t", k=2, dataset_dir=ds, out_dir=tmp_path / "f")
    assert not (tmp_path / "f").exists()


@pytest.mark.slow
def test_out_of_fold_predictions_come_from_the_model_that_did_not_train_on_the_event(tmp_path, one_thread):
    import torch

    from dl4hep.data.tensors import load_split
    from dl4hep.training.api import train_model
    from dl4hep.training.checkpoint import load_trained
    from dl4hep.training.kfold import average_fold_scores, predict_kfold
    from dl4hep.training.predict import score_tensors

    ds = _unique_events(make_dataset(tmp_path / "ds", n=96))
    raw = make_config("dnn", hyperparameters={"hidden": [8]}, training={"epochs": 2}).model_dump()
    raw["tasks"]["t"]["models"]["dnn"]["kfold"] = K
    cfg = AnalysisConfig.model_validate(raw)
    build_fold_datasets(config=cfg, task="t", k=K, dataset_dir=ds, out_dir=tmp_path / "folds")
    model_dir = tmp_path / "model"
    for fold in range(K):
        train_model(config=cfg, task="t", model="dnn", dataset_dir=tmp_path / "folds" / f"fold{fold}",
                    out_dir=model_dir / f"fold{fold}", progress=False)
    predict_kfold(config=cfg, task="t", model="dnn", dataset_dir=ds, model_dir=model_dir, out_dir=tmp_path / "pred")

    test = pd.read_parquet(tmp_path / "pred" / "test.parquet")
    every = np.concatenate([_events(ds / f"{s}.parquet") for s in ("train", "val", "test")])
    assert sorted(test["event"]) == sorted(every)  # every event exactly once
    np.testing.assert_array_equal(test["fold"], test["event"] % K)
    for fold in range(K):
        seen = np.concatenate([_events(tmp_path / "folds" / f"fold{fold}" / f"{s}.parquet") for s in ("train", "val")])
        assert not set(test.loc[test["fold"] == fold, "event"]) & set(seen)
    # the score of each event is fold model (event mod K)'s own score, recomputed independently
    rows = {}
    for s in ("train", "val", "test"):
        rows.update({int(e): (s, i) for i, e in enumerate(_events(ds / f"{s}.parquet"))})
    per_fold = []
    for fold in range(K):
        net, spec, _ = load_trained(model_dir / f"fold{fold}")
        scores = {s: score_tensors(net, load_split(ds, s, spec, extra=()), device=torch.device("cpu"))
                  for s in ("train", "val", "test")}
        per_fold.append(np.concatenate([scores[s] for s in ("train", "val", "test")]))
        mine = test[test["fold"] == fold]
        expect = np.array([scores[rows[e][0]][rows[e][1], 1] for e in mine["event"]])
        np.testing.assert_allclose(mine["score_c1"], expect, rtol=1e-5, atol=1e-6)
    # train predictions: each model on its own training rows, so every event K-1 times
    train = pd.read_parquet(tmp_path / "pred" / "train.parquet")
    assert not (train["event"] % K == train["fold"]).any()
    # applying the K-fold model to a file: the mean of the K models' probabilities
    avg = np.concatenate([average_fold_scores(model_dir, ds / f"{s}.parquet") for s in ("train", "val", "test")])
    np.testing.assert_allclose(avg, np.mean(per_fold, axis=0), rtol=1e-5, atol=1e-6)
    # `dl4hep apply`'s scorer for the K-fold directory: raw inputs, each fold normalised its own way
    from dl4hep.apply.scorer import load_scorer
    from dl4hep.data.tensors import arrays_to_tensors, input_spec, read_meta

    scorer = load_scorer(model_dir)
    assert scorer.mean == [0.0] * len(scorer.names) and scorer.std == [1.0] * len(scorer.names)
    raw = input_spec(read_meta(ds), inputs="tabular")
    raw = raw.__class__(**{**raw.to_dict(), "mean": scorer.mean, "std": scorer.std})
    applied = np.concatenate([scorer.run(arrays_to_tensors(ak.from_parquet(ds / f"{s}.parquet"), raw))
                              for s in ("train", "val", "test")])
    np.testing.assert_allclose(applied, avg, rtol=1e-5, atol=1e-6)


def test_fold_metrics_are_mean_and_spread_of_per_fold_values():
    cfg = make_config("dnn")
    rng = np.random.default_rng(3)
    n = 600
    label = rng.integers(0, 2, n)
    fold = np.arange(n) % K
    s1 = np.clip(0.5 + (label - 0.5) * (0.2 + 0.2 * fold) + rng.normal(0, 0.25, n), 0.001, 0.999)
    w = rng.uniform(0.5, 2, n)
    df = pd.DataFrame({"label": label, "weight": w, "score_c0": 1 - s1, "score_c1": s1, "fold": fold,
                       "event": np.arange(n)})
    # c0 is the signal, c1 the background (the last class)
    out = fold_headlines(df, cfg.task("t"), K)
    aucs = [roc_auc_score(label[fold == f] == 0, (1 - s1)[fold == f], sample_weight=w[fold == f]) for f in range(K)]
    accs = [np.mean((s1[fold == f] > 0.5) == (label[fold == f] == 1)) for f in range(K)]
    np.testing.assert_allclose([p["auc"] for p in out["per_fold"]], aucs, rtol=1e-9)
    np.testing.assert_allclose(out["mean"]["auc"], np.mean(aucs), rtol=1e-9)
    np.testing.assert_allclose(out["std"]["auc"], np.std(aucs, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(out["mean"]["accuracy"], np.mean(accs), rtol=1e-9)
    assert out["std"]["auc"] > 0.01  # the folds were built to differ
    assert "best_z_c0" in out["mean"] and "rejection_0.5" in out["mean"]
    table = kfold_markdown({"dnn": {"kfold": out}})
    assert f"{np.mean(aucs):.4g} ± {np.std(aucs, ddof=1):.2g}" in table


def test_spread_skips_undefined_values():
    mean, std = spread([{"fold": 0, "a": 1.0}, {"fold": 1, "a": None}, {"fold": 2, "a": 3.0}])
    assert mean == {"a": 2.0} and std["a"] == pytest.approx(np.sqrt(2.0))
