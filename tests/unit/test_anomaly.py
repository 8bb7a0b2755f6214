"""Anomaly detection: autoencoders trained on background only, the reconstruction error as the score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dl4hep.errors import ConfigError, DataError
from tests.unit._regression_toys import manifold_toy, task_config

pytestmark = pytest.mark.usefixtures("one_thread")
AE = {"hidden": [16], "latent": 2}


def _train(tmp_path, ds, out="m", epochs=15):
    from dl4hep.training.api import train_model

    cfg = task_config(
        kind="classification",
        model_type="autoencoder",
        classes=["anomaly", "qcd"],
        epochs=epochs,
        hyperparameters=AE,
    )
    train_model(
        config=cfg, task="t", model="m", dataset_dir=ds, out_dir=tmp_path / out, progress=False
    )
    return cfg


def test_off_manifold_objects_score_high(tmp_path):
    from sklearn.metrics import roc_auc_score

    from dl4hep.training.predict import predict_model

    ds = manifold_toy(tmp_path / "ds")
    cfg = _train(tmp_path, ds)
    predict_model(
        config=cfg,
        task="t",
        model="m",
        dataset_dir=ds,
        model_dir=tmp_path / "m",
        out_dir=tmp_path / "p",
    )
    df = pd.read_parquet(tmp_path / "p" / "test.parquet")
    assert roc_auc_score(df.label == 0, df.anomaly_score) > 0.9
    # class scores are the monotonic map a = e / (1 + e): background 1 - a, the one signal a
    a = df.anomaly_score / (1 + df.anomaly_score)
    assert np.allclose(df.score_anomaly, a, atol=1e-6) and np.allclose(
        df.score_qcd, 1 - a, atol=1e-6
    )


def test_training_sees_background_rows_only(tmp_path):
    """Two datasets that differ only in their signal rows give bit-identical models."""
    a = manifold_toy(tmp_path / "a", n=400, signal_seed=1)
    b = manifold_toy(tmp_path / "b", n=400, signal_seed=99)
    (b / "meta.json").write_text((a / "meta.json").read_text())  # same normalisation for both
    assert not pd.read_parquet(a / "train.parquet").equals(pd.read_parquet(b / "train.parquet"))
    _train(tmp_path, a, "ma", epochs=3)
    _train(tmp_path, b, "mb", epochs=3)
    sa = torch.load(tmp_path / "ma" / "best.pt", weights_only=False)
    sb = torch.load(tmp_path / "mb" / "best.pt", weights_only=False)
    assert all(torch.equal(sa["state_dict"][k], sb["state_dict"][k]) for k in sa["state_dict"])
    assert sa["best_val_loss"] == sb["best_val_loss"]  # validation on background rows only, too


def test_no_background_rows_is_an_error(tmp_path):
    import awkward as ak

    ds = manifold_toy(tmp_path / "ds", n=100)
    arr = ak.from_parquet(ds / "train.parquet")
    arr = ak.with_field(arr, np.zeros(len(arr), np.int64), "label")
    ak.to_parquet(arr, ds / "train.parquet")
    with pytest.raises(DataError, match="no rows of the background class 'qcd'"):
        _train(tmp_path, ds)


def test_autoencoders_only_in_classification_tasks_with_their_own_loss(tmp_path):
    import yaml

    from dl4hep.validate import load_checked

    def load(task):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"config_dir": "configs", "tasks": task}))
        return load_checked(path)

    with pytest.raises(
        ConfigError, match="anomaly-detection autoencoder; a regression task cannot use it"
    ):
        load({"egamma_energy": {"models": {"ae": {"base": "autoencoder"}}}})
    with pytest.raises(
        ConfigError, match="trains on its reconstruction error; remove loss 'cross_entropy'"
    ):
        load(
            {
                "jets": {
                    "models": {"dnn": {}, "autoencoder": {"training": {"loss": "cross_entropy"}}}
                }
            }
        )


def test_set_autoencoder_ignores_padding_and_exports():
    from dl4hep.models.registry import build_model, example_inputs

    net = build_model(
        "set_autoencoder",
        {"phi_sizes": [8], "latent": 3, "decoder": [8]},
        num_classes=1,
        input_dim=5,
    )
    net.eval()
    x = example_inputs(("points", "points_mask"), batch=6, input_dim=5, max_points=10)
    base = net(x["points"], x["points_mask"])
    noisy = torch.where(
        x["points_mask"].unsqueeze(-1), x["points"], torch.randn_like(x["points"]) * 100
    )
    assert base.shape == (6, 1) and torch.all(base >= 0)
    assert torch.allclose(net(noisy, x["points_mask"]), base)  # padded slots never enter the score
    # the score is the mean squared error per real particle, computed independently here
    rec = net.reconstruct(x["points"], x["points_mask"])
    m = x["points_mask"].float()
    want = (((rec - x["points"]) ** 2).mean(-1) * m).sum(1) / m.sum(1)
    assert torch.allclose(base[:, 0], want)


def test_evaluation_ranks_an_autoencoder_by_its_error():
    from dl4hep.config import TaskConfig
    from dl4hep.evaluation.curves import signal_curves
    from dl4hep.evaluation.metrics import roc

    tcfg = TaskConfig.model_validate(
        {
            "features": ["x"],
            "classes": ["top", "w", "qcd"],
            "samples": {s: {"label": s, "files": ["f.root"]} for s in ("top", "w", "qcd")},
            "models": {"ae": {"type": "autoencoder", "inputs": "tabular"}},
        }
    )
    rng = np.random.default_rng(0)
    n = 300
    label = rng.integers(0, 3, n)
    e = rng.exponential(1.0, n) * np.where(label == 2, 1.0, 3.0)
    a = e / (1 + e)
    df = pd.DataFrame(
        {
            "label": label,
            "weight": np.ones(n),
            "anomaly_score": e,
            "score_top": a / 2,
            "score_w": a / 2,
            "score_qcd": 1 - a,
        }
    )
    curves = signal_curves(df, tcfg, "test")
    for name, sig in (("top", [0]), ("w", [1]), ("signal", [0, 1])):
        rows = np.isin(label, [*sig, 2])
        want = roc(np.isin(label[rows], sig), e[rows], np.ones(rows.sum())).auc
        assert curves[name].roc.auc == pytest.approx(want)
