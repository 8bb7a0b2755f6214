"""Trainer, predict and data tensors on small synthetic datasets (docs/architecture.md contracts)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch

from dl4hep.errors import DataError
from tests.unit._synthetic import make_config, make_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "dnn": {"hidden": [16, 16]},
    "pfn": {"phi_sizes": [16, 16], "f_sizes": [16]},
    "particlenet": {"k": 4, "conv_channels": [[16, 16], [16, 16]], "fc_channels": [16]},
    "particle_transformer": {"embed_dims": [16, 16], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1},
    "hit_gnn": {"k": 4, "hidden": 16, "num_layers": 2},
}
HISTORY = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "val_auc", "lr", "samples_per_s", "epoch_time_s"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), n=192, max_points=8, n_classes=3, seed=3)


def _train(tmp, dataset, kind="dnn", *, out="m", training=None, n_classes=3, **kw):
    from dl4hep.training.api import train_model

    cfg = make_config(kind, hyperparameters=TINY[kind], training=training, n_classes=n_classes)
    return train_model(config=cfg, task="t", model=kind, dataset_dir=dataset, out_dir=tmp / out, progress=False, **kw)


def _history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_train_writes_model_directory(tmp_path, dataset):
    result = _train(tmp_path, dataset, "pfn")
    d = tmp_path / "m"
    for name in ("best.pt", "last.pt", "history.csv", "summary.json", "provenance.json"):
        assert (d / name).is_file(), name
    assert (d / "tensorboard").is_dir()
    rows = _history(d / "history.csv")
    assert list(rows[0]) == HISTORY
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    summary = json.loads((d / "summary.json").read_text())
    assert summary["parameters"] == result["parameters"] > 0
    assert summary["flops_per_sample"] > 0
    assert json.loads((d / "provenance.json").read_text())["stage"] == "train"
    ckpt = torch.load(d / "best.pt", weights_only=False)
    assert ckpt["model"]["classes"] == ["c0", "c1", "c2"]
    assert ckpt["model"]["input"]["block"] == "points"


@pytest.mark.parametrize("kind", ["dnn", "particlenet", "particle_transformer"])
def test_seeded_runs_are_identical(tmp_path, dataset, kind):
    _train(tmp_path, dataset, kind, out="a", training={"epochs": 2})
    _train(tmp_path, dataset, kind, out="b", training={"epochs": 2})
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("kind", ["dnn", "pfn", "particle_transformer"])
def test_resume_reproduces_uninterrupted_run(tmp_path, dataset, kind):
    training = {"epochs": 4, "schedule": "cosine", "warmup_epochs": 1, "early_stopping_patience": 3}
    if kind == "dnn":
        training["optimizer"] = "radam"
    _train(tmp_path, dataset, kind, out="full", training=training)
    _train(tmp_path, dataset, kind, out="cut", training=training, stop_after=2)
    assert len(_history(tmp_path / "cut" / "history.csv")) == 2
    _train(tmp_path, dataset, kind, out="cut", training=training, resume=True)
    full = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
    for k in full["state_dict"]:
        assert torch.equal(full["state_dict"][k], cut["state_dict"][k]), k
    assert full["epoch"] == cut["epoch"] == 4
    hf, hc = _history(tmp_path / "full" / "history.csv"), _history(tmp_path / "cut" / "history.csv")
    timing = {"samples_per_s", "epoch_time_s"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in hf] == [
        {k: v for k, v in r.items() if k not in timing} for r in hc
    ]
    # a finished run resumed again does nothing more
    again = _train(tmp_path, dataset, kind, out="cut", training=training, resume=True)
    assert again["epochs_run"] == 0


def test_resume_restores_outputs_the_workflow_deleted(tmp_path, dataset):
    """Snakemake removes best.pt/history.csv of an interrupted job; --resume must bring them back."""
    training = {"epochs": 4, "early_stopping_patience": None}
    _train(tmp_path, dataset, "dnn", out="full", training=training)
    _train(tmp_path, dataset, "dnn", out="cut", training=training, stop_after=2)
    best_before = torch.load(tmp_path / "cut" / "best.pt", weights_only=False)
    (tmp_path / "cut" / "best.pt").unlink()
    (tmp_path / "cut" / "history.csv").unlink()
    _train(tmp_path, dataset, "dnn", out="cut", training=training, resume=True)
    assert len(_history(tmp_path / "cut" / "history.csv")) == 4
    full_best = torch.load(tmp_path / "full" / "best.pt", weights_only=False)
    cut_best = torch.load(tmp_path / "cut" / "best.pt", weights_only=False)
    assert cut_best["epoch"] == full_best["epoch"]
    for k in full_best["state_dict"]:
        assert torch.equal(full_best["state_dict"][k], cut_best["state_dict"][k]), k
    # a finished run whose outputs were deleted (e.g. --forcerun) gets them back unchanged
    (tmp_path / "cut" / "best.pt").unlink()
    (tmp_path / "cut" / "history.csv").unlink()
    again = _train(tmp_path, dataset, "dnn", out="cut", training=training, resume=True)
    assert again["epochs_run"] == 0
    restored = torch.load(tmp_path / "cut" / "best.pt", weights_only=False)
    for k in full_best["state_dict"]:
        assert torch.equal(full_best["state_dict"][k], restored["state_dict"][k]), k
    assert len(_history(tmp_path / "cut" / "history.csv")) == 4
    assert best_before["epoch"] <= 2


def test_resume_with_changed_settings_trains_afresh(tmp_path, dataset):
    _train(tmp_path, dataset, "dnn", out="m", training={"epochs": 2})
    result = _train(tmp_path, dataset, "dnn", out="m", training={"epochs": 3, "lr": 2e-3}, resume=True)
    assert result["epochs_run"] == 3
    assert [int(r["epoch"]) for r in _history(tmp_path / "m" / "history.csv")] == [1, 2, 3]
    ckpt = torch.load(tmp_path / "m" / "last.pt", weights_only=False)
    assert ckpt["model_config"]["training"]["lr"] == 2e-3


def test_learns_a_separable_dataset(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=600, n_classes=2, sep=1.0, seed=7)
    result = _train(tmp_path, ds, "dnn", training={"epochs": 4, "lr": 5e-3}, n_classes=2)
    assert result["best_val_auc"] > 0.8


def test_early_stopping(tmp_path, dataset):
    result = _train(tmp_path, dataset, "dnn", training={"epochs": 30, "lr": 0.5, "early_stopping_patience": 1,
                                                       "optimizer": "sgd", "schedule": "constant"})
    assert result["epochs_run"] < 30


def test_single_class_dataset_is_an_error(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=64, n_classes=1)
    meta = json.loads((ds / "meta.json").read_text())
    meta["classes"] = ["c0", "c1"]
    (ds / "meta.json").write_text(json.dumps(meta))
    from dl4hep.training.api import train_model

    cfg = make_config("dnn", hyperparameters=TINY["dnn"], n_classes=2)
    with pytest.raises(DataError, match=r"holds only class \['c0'\].*at least two"):
        train_model(config=cfg, task="t", model="dnn", dataset_dir=ds, out_dir=tmp_path / "m", progress=False)


def test_empty_split_is_an_error(tmp_path):
    ds = make_dataset(tmp_path / "ds", n_classes=2, sizes={"train": 64, "val": 0, "test": 8})
    from dl4hep.training.api import train_model

    cfg = make_config("dnn", hyperparameters=TINY["dnn"], n_classes=2)
    with pytest.raises(DataError, match=r"val split .* is empty"):
        train_model(config=cfg, task="t", model="dnn", dataset_dir=ds, out_dir=tmp_path / "m", progress=False)


def test_class_mismatch_is_an_error(tmp_path, dataset):
    from dl4hep.training.api import train_model

    cfg = make_config("dnn", hyperparameters=TINY["dnn"], n_classes=2)
    with pytest.raises(DataError, match=r"has classes \['c0', 'c1', 'c2'\] but task 't' has \['c0', 'c1'\]"):
        train_model(config=cfg, task="t", model="dnn", dataset_dir=dataset, out_dir=tmp_path / "m", progress=False)


def test_summary_only(tmp_path, dataset, capsys):
    from dl4hep.training.api import train_model

    cfg = make_config("particle_transformer", n_classes=3)  # default (paper) size
    out = train_model(config=cfg, task="t", model="particle_transformer", dataset_dir=dataset,
                      out_dir=tmp_path / "m", summary_only=True)
    assert 1.5e6 < out["parameters"] < 2.7e6
    assert out["flops_per_sample"] > 2 * out["parameters"]  # attention over 8 particles on top of the matmuls
    assert "parameters" in capsys.readouterr().out
    assert not (tmp_path / "m" / "last.pt").exists()


def test_feature_subset(tmp_path, dataset):
    from dl4hep.training.api import train_model

    cfg = make_config("dnn", hyperparameters=TINY["dnn"], n_classes=3, features=["tau21", "mass"], training={"epochs": 1})
    train_model(config=cfg, task="t", model="dnn", dataset_dir=dataset, out_dir=tmp_path / "m", progress=False)
    ckpt = torch.load(tmp_path / "m" / "best.pt", weights_only=False)
    assert ckpt["model"]["input"]["names"] == ["tau21", "mass"]


def _dataset_without_p4(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=64, max_points=8, n_classes=3, seed=5)
    meta = json.loads((ds / "meta.json").read_text())
    meta["has_points_p4"] = False
    (ds / "meta.json").write_text(json.dumps(meta))
    return ds


def test_pair_features_need_four_momenta_in_the_dataset(tmp_path):
    """The model spec says ParT reads points_p4 when use_pair_features is on: an error before any output."""
    from dl4hep.errors import ConfigError
    from dl4hep.training.api import train_model

    ds = _dataset_without_p4(tmp_path)
    cfg = make_config("particle_transformer", hyperparameters=TINY["particle_transformer"], n_classes=3)
    with pytest.raises(ConfigError, match=r"particle_transformer\.hyperparameters\.use_pair_features is true but "
                                          r"the dataset has no points_p4"):
        train_model(config=cfg, task="t", model="particle_transformer", dataset_dir=ds, out_dir=tmp_path / "m",
                    progress=False)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_pair_features_off_train_without_four_momenta(tmp_path):
    from dl4hep.training.api import train_model

    ds = _dataset_without_p4(tmp_path)
    off = make_config("particle_transformer", n_classes=3, training={"epochs": 1},
                      hyperparameters={**TINY["particle_transformer"], "use_pair_features": False})
    result = train_model(config=off, task="t", model="particle_transformer", dataset_dir=ds, out_dir=tmp_path / "m",
                         progress=False)
    assert result["epochs_run"] == 1
    example = torch.load(tmp_path / "m" / "best.pt", weights_only=False)["example"]
    assert not example["points_p4"].any()  # the dataset's four-momenta were not read


def test_train_state_early_stopping_and_checkpoint_round_trip():
    from dl4hep.config import TrainingConfig
    from dl4hep.training.state import TrainState

    net = torch.nn.Linear(2, 1)
    cfg = TrainingConfig(epochs=10, early_stopping_patience=2)
    state = TrainState()
    outcomes, best_weight = [], None
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.85], start=1):
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        if loss == 0.8:
            best_weight = net.weight.detach().clone()
        outcomes.append(state.record({"epoch": epoch, "val_loss": loss}, net, cfg))
    # improved on 1.0 and 0.8; 0.9 and 0.85 are the 1st and 2nd epochs without improvement
    assert outcomes == [(True, False), (True, False), (False, False), (False, True)]
    assert state.best_loss == 0.8 and state.bad_epochs == 2 and state.finished
    assert torch.equal(state.best_state["weight"], best_weight)
    state.epoch = 4
    again = TrainState.from_checkpoint(state.to_payload())
    assert again == state and again.history is not state.history


def test_last_epoch_finishes_the_run_without_early_stopping():
    from dl4hep.config import TrainingConfig
    from dl4hep.training.state import TrainState

    cfg, state, net = TrainingConfig(epochs=2, early_stopping_patience=None), TrainState(), torch.nn.Linear(1, 1)
    assert state.record({"epoch": 1, "val_loss": 1.0}, net, cfg) == (True, False) and not state.finished
    assert state.record({"epoch": 2, "val_loss": 2.0}, net, cfg) == (False, False) and state.finished


def test_predict_writes_contract_columns(tmp_path, dataset):
    from dl4hep.training.predict import predict_model

    _train(tmp_path, dataset, "particle_transformer", training={"epochs": 1})
    cfg = make_config("particle_transformer", hyperparameters=TINY["particle_transformer"], n_classes=3)
    out = predict_model(config=cfg, task="t", model="particle_transformer", dataset_dir=dataset,
                        model_dir=tmp_path / "m", out_dir=tmp_path / "p")
    assert out["rows"] == {"train": 192, "val": 96, "test": 96}
    df = pd.read_parquet(tmp_path / "p" / "test.parquet")
    assert list(df.columns) == ["run", "event", "label", "weight", "score_c0", "score_c1", "score_c2", "obs_pt", "obs_eta"]
    assert df["label"].dtype == np.int64 and df["weight"].dtype == np.float64
    assert df["score_c0"].dtype == np.float32
    np.testing.assert_allclose(df[["score_c0", "score_c1", "score_c2"]].sum(axis=1), 1.0, atol=1e-5)
    truth = pd.read_parquet(dataset / "test.parquet", columns=["event", "label"])
    np.testing.assert_array_equal(df["event"], truth["event"])
    assert (tmp_path / "p" / "provenance.json").is_file()


def test_streaming_batches_visit_every_row_once(tmp_path):
    from dl4hep.data.tensors import StreamingBatches, input_spec, make_batches, read_meta

    ds = make_dataset(tmp_path / "ds", n=100, row_group_size=16)
    spec = input_spec(read_meta(ds), inputs="points")
    batches = make_batches(ds, "train", spec, extra=("event",), batch_size=10, shuffle=True,
                           generator=torch.Generator().manual_seed(0), device="cpu", memory_budget=1)
    assert isinstance(batches, StreamingBatches)
    events = torch.cat([b["event"] for b in batches])
    assert sorted(events.tolist()) == list(range(100))
    assert not torch.equal(events, torch.arange(100))


def test_tensor_batches_shard_for_ddp(tmp_path):
    from dl4hep.data.tensors import TensorBatches

    t = {"x": torch.arange(10)}
    seen = []
    for rank in range(3):
        b = TensorBatches(t, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(1), rank=rank, world_size=3)
        seen += torch.cat([x["x"] for x in b]).tolist()
    assert len(seen) == 12 and set(seen) == set(range(10))


def test_normalisation_applied_and_padding_zero(dataset):
    from dl4hep.data.tensors import input_spec, load_split, read_meta

    meta = read_meta(dataset)
    t = load_split(dataset, "train", input_spec(meta, inputs="points"))
    pts, mask = t["points"], t["points_mask"]
    assert (pts[~mask] == 0).all() and (t["points_p4"][~mask] == 0).all()
    torch.testing.assert_close(pts[mask].mean(0), torch.zeros(5), atol=1e-4, rtol=0)
    tab = load_split(dataset, "train", input_spec(meta, inputs="tabular"))["tabular"]
    torch.testing.assert_close(tab.std(0, unbiased=False), torch.ones(4), atol=1e-4, rtol=0)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step", "constant"])
def test_schedules(schedule):
    from dl4hep.config import TrainingConfig
    from dl4hep.training.schedules import lr_multiplier

    cfg = TrainingConfig(epochs=10, schedule=schedule, warmup_epochs=1, step_size_epochs=3, step_gamma=0.5)
    f = lr_multiplier(cfg, steps_per_epoch=10)
    values = [f(s) for s in range(100)]
    assert all(0 <= v <= 1 + 1e-9 for v in values)
    assert values[0] < values[9]  # warm-up rises
    if schedule == "cosine":
        assert values[-1] < 0.01
    if schedule == "step":
        assert values[30] == pytest.approx(0.5) and values[60] == pytest.approx(0.25)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_training(tmp_path, dataset):
    result = _train(tmp_path, dataset, "particle_transformer", training={"epochs": 1, "device": "cuda"})
    assert result["device"].startswith("cuda")


# ------------------------------------------------------------------ devices: one GPU per training


def _fake_cuda(monkeypatch, n: int) -> None:
    """Pretend ``n`` CUDA devices with distinct UUIDs (the claim logic never touches a GPU)."""
    import types

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=f"uuid-{i}"))


def test_concurrent_trainings_get_distinct_gpus(tmp_path, monkeypatch):
    from dl4hep.training.devices import _HELD, pick_device

    monkeypatch.setenv("DL4HEP_GPU_LOCK_DIR", str(tmp_path))
    _fake_cuda(monkeypatch, 2)
    held = len(_HELD)
    try:
        first, second = pick_device("auto"), pick_device("cuda")
        assert {str(first), str(second)} == {"cuda:0", "cuda:1"}
        assert str(pick_device("cuda:1")) == "cuda:1"  # pinned: no claim
        assert str(pick_device("auto", 1, distributed=True)) == "cuda:1"  # DDP rank: the launcher claimed
    finally:
        for claim in _HELD[held:]:
            claim.release()


def test_gpu_claims_across_processes(tmp_path):
    """A GPU claimed by another process is skipped; when every GPU is held, the claim shares with a warning."""
    import subprocess
    import sys

    from dl4hep.training.devices import claim_gpus

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from dl4hep.training.devices import claim_gpus; "
         f"c = claim_gpus(1, ['a', 'b'], directory=Path({str(tmp_path)!r})); print(c.indices, flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "[0]"
        mine = claim_gpus(1, ["a", "b"], directory=tmp_path, hold=False)
        assert mine.indices == [1] and not mine.shared
        crowded = claim_gpus(1, ["a", "b"], directory=tmp_path, hold=False)  # a and b both held now
        assert crowded.indices == [0] and crowded.shared
        mine.release()
        again = claim_gpus(1, ["a", "b"], directory=tmp_path, hold=False)
        assert again.indices == [1] and not again.shared
        again.release()
    finally:
        holder.communicate("", timeout=30)
    after = claim_gpus(2, ["a", "b"], directory=tmp_path, hold=False)  # the holder exited: its lock is gone
    assert after.indices == [0, 1] and not after.shared
    after.release()


def test_visible_devices_for_the_ddp_children(monkeypatch):
    from dl4hep.training.devices import visible_devices_env
    from dl4hep.training.launch import launch_command

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_devices_env([1, 3]) == "1,3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-x,GPU-y,GPU-z")  # e.g. set by SLURM
    assert visible_devices_env([2]) == "GPU-z"
    cmd = launch_command(2, ["train", "-c", "a.yaml", "--nproc", "2", "--resume", "--nproc=2"])
    assert cmd[cmd.index("-m", 3) + 1:] == ["dl4hep", "train", "-c", "a.yaml", "--resume"]
    assert cmd[cmd.index("--nproc_per_node") + 1] == "2"


def test_cpu_only_machine_picks_the_cpu():
    from dl4hep.errors import ConfigError
    from dl4hep.training.devices import pick_device

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert str(pick_device("auto")) == "cpu" and str(pick_device("cpu")) == "cpu"
    with pytest.raises(ConfigError, match="no CUDA device"):
        pick_device("cuda:0")


def test_progress_in_a_log_file_is_one_record_per_interval(monkeypatch, caplog):
    from dl4hep.progress import LogProgress, progress

    monkeypatch.setenv("DL4HEP_PROGRESS_INTERVAL", "0")
    with caplog.at_level("INFO", logger="dl4hep.progress"):
        bar = progress(range(4), total=4, desc="epoch 1/3", unit="batch", leave=False)
        assert isinstance(bar, LogProgress)  # stderr is captured, not a terminal
        for _ in bar:
            pass
        bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "dl4hep.progress"]
    assert lines[0].startswith("epoch 1/3: 1/4 batch (25%)")
    assert lines[-1].startswith("epoch 1/3: 4/4 batch (100%)")
    assert len(lines) == 4 and not any("\r" in m or "\u2588" in m for m in lines)
