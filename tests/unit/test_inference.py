"""In-memory inference API (dl4hep.training.inference) and permutation importance on a trained model."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from tests.unit._synthetic import TABULAR, make_config, make_dataset

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]

INFORMATIVE = "tau21"
HP = {"hidden": [16, 16]}
TRAINING = {"epochs": 4, "lr": 5e-3}


def _one_informative_feature(root):
    """Synthetic dataset whose only class-dependent tabular feature is ``INFORMATIVE`` (others pure noise)."""
    ds = make_dataset(root, n=512, n_classes=2, sep=1.5, seed=11)
    rng = np.random.default_rng(5)
    for split in ("train", "val", "test"):
        arr = ak.from_parquet(ds / f"{split}.parquet")
        n = len(arr)
        cols = {k: (ak.to_numpy(arr.tabular[k]) if k == INFORMATIVE else rng.normal(size=n).astype(np.float32))
                for k in TABULAR}
        arr = ak.with_field(arr, ak.zip({k: np.ascontiguousarray(v) for k, v in cols.items()}), "tabular")
        ak.to_parquet(arr, ds / f"{split}.parquet")
    tab = ak.from_parquet(ds / "train.parquet", columns=["tabular"]).tabular
    x = np.stack([ak.to_numpy(tab[k]) for k in TABULAR], 1)
    meta = json.loads((ds / "meta.json").read_text())
    meta["norm"]["tabular"] = {"mean": x.mean(0).tolist(), "std": x.std(0).tolist()}
    (ds / "meta.json").write_text(json.dumps(meta))
    return ds


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from dl4hep.training.api import train_model
    from dl4hep.training.predict import predict_model

    root = tmp_path_factory.mktemp("inference")
    ds = _one_informative_feature(root / "ds")
    out = {"ds": ds, "root": root}
    for name, features in (("dnn", None), ("dnn_subset", ["tau21", "mass"])):
        cfg = make_config("dnn", hyperparameters=HP, training=TRAINING, n_classes=2, name=name, features=features)
        train_model(config=cfg, task="t", model=name, dataset_dir=ds, out_dir=root / name, progress=False)
        predict_model(config=cfg, task="t", model=name, dataset_dir=ds, model_dir=root / name, out_dir=root / f"p_{name}")
        out[name] = cfg
    return out


def _test_tabular(ds):
    tab = ak.from_parquet(ds / "test.parquet", columns=["tabular"]).tabular
    return np.stack([ak.to_numpy(tab[k]).astype(np.float32) for k in TABULAR], 1)


@pytest.mark.parametrize("name", ["dnn", "dnn_subset"])
def test_predict_arrays_equals_dl4hep_predict(setup, name):
    from dl4hep.training.inference import load_model, predict_arrays

    root = setup["root"]
    model, meta = load_model(root / name)
    assert not model.training
    assert meta["tabular"] == TABULAR and meta["classes"] == ["c0", "c1"] and meta["block"] == "tabular"
    assert meta["features"] == (TABULAR if name == "dnn" else ["tau21", "mass"])
    x = _test_tabular(setup["ds"])
    x_before = x.copy()
    probs = predict_arrays(model, meta, tabular=x, batch_size=37)  # several batches
    np.testing.assert_array_equal(x, x_before)  # input untouched (normalisation on a copy)
    written = pd.read_parquet(root / f"p_{name}" / "test.parquet")[["score_c0", "score_c1"]].to_numpy()
    assert probs.shape == written.shape == (len(x), 2)
    np.testing.assert_allclose(probs, written, atol=1e-6, rtol=0)
    assert predict_arrays(model, meta, tabular=x[:0]).shape == (0, 2)
    with pytest.raises(ValueError, match=r"expected \(N, 4\)"):
        predict_arrays(model, meta, tabular=x[:, :2])


def test_permutation_importance_end_to_end(setup, tmp_path):
    from dl4hep.data.tensors import read_meta
    from dl4hep.evaluation.importance import importance_metrics, run_importance

    cfg = setup["dnn"]
    tcfg = cfg.task("t")
    result = run_importance(
        setup["root"] / "dnn", cfg.model("t", "dnn").features, classes=tcfg.classes,
        background=tcfg.background_class, dataset_dir=setup["ds"], dataset_meta=read_meta(setup["ds"]),
        seed=cfg.seed, max_rows=100_000,
    )
    assert not isinstance(result, str), result
    imp = importance_metrics(result)
    assert imp["baseline_auc"] > 0.8
    drops = imp["auc_drop"]
    assert set(drops) == set(TABULAR)
    assert max(drops, key=drops.get) == INFORMATIVE
    assert drops[INFORMATIVE] > 0.2
