"""Multi-process (DDP) training on the CPU: `dl4hep train --nproc 2` runs two gloo processes
under torchrun, as the workflow's train rule does for a job with two GPUs.

Two processes with batch_size B follow one process with 2B (the same global batch): the loss
curve agrees to float rounding, only rank 0 writes (one checkpoint, one history, one TensorBoard
file, one log), and an interrupted two-process run resumes exactly.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from tests.paths import REPO
from tests.unit._synthetic import make_dataset

pytestmark = pytest.mark.slow

TIMING = {"samples_per_s", "epoch_time_s"}


def _config(tmp_path, batch_size: int):
    """The repository's dilepton task with a small DNN (no BatchNorm, no dropout: both see per-rank batches)."""
    cfg = {
        "config_dir": str(REPO / "configs"),
        "output": str(tmp_path / "out"),
        "seed": 5,
        "tasks": {"dilepton": {"models": {"dnn": {
            "hyperparameters": {"hidden": [16, 16], "batch_norm": False, "dropout": 0.0},
            "training": {
                "epochs": 4, "batch_size": batch_size, "lr": 1e-2, "warmup_epochs": 1, "schedule": "cosine",
                "early_stopping_patience": None, "device": "auto",
            },
        }}}},
    }
    path = tmp_path / f"config-b{batch_size}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("ddp") / "ds", n=256, n_classes=2, seed=11)
    meta = json.loads((root / "meta.json").read_text())
    meta.update(classes=["hww", "ttbar"], background="ttbar")  # the dilepton task's classes
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def _train(config, dataset, out, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="2", DL4HEP_GPU_LOCK_DIR=str(out.parent / "locks"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    res = subprocess.run(
        [sys.executable, "-m", "dl4hep", "train", "-v", "--config", str(config), "--task", "dilepton",
         "--model", "dnn", "--dataset-dir", str(dataset), "--out-dir", str(out), *extra],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return res


def _history(d):
    with open(d / "history.csv") as f:
        return list(csv.DictReader(f))


def _state(d, name="last.pt"):
    return torch.load(d / name, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: --nproc 2 would use NCCL on two GPUs; this test checks the CPU/gloo path")
    tmp = tmp_path_factory.mktemp("runs")
    single, ddp = tmp / "single", tmp / "ddp"
    _train(_config(tmp, 64), dataset, single)
    res = _train(_config(tmp, 32), dataset, ddp, "--nproc", "2")
    return {"tmp": tmp, "single": single, "ddp": ddp, "ddp_log": res.stderr}


def test_two_processes_follow_one_process_with_the_same_global_batch(runs):
    single, ddp = _history(runs["single"]), _history(runs["ddp"])
    assert [r["epoch"] for r in ddp] == ["1", "2", "3", "4"]
    for col in ("train_loss", "val_loss", "train_acc", "val_acc", "val_auc", "lr"):
        a = np.array([float(r[col]) for r in single])
        b = np.array([float(r[col]) for r in ddp])
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=col)
        print(f"{col}: max |ddp - single| = {np.abs(b - a).max():.2e}")
    # the loss does move (the comparison is not between two flat curves)
    assert float(single[-1]["train_loss"]) < 0.9 * float(single[0]["train_loss"])
    ws, wd = _state(runs["single"])["state_dict"], _state(runs["ddp"])["state_dict"]
    for k in ws:
        torch.testing.assert_close(wd[k], ws[k], rtol=1e-4, atol=1e-5)
    assert json.loads((runs["ddp"] / "summary.json").read_text())["world_size"] == 2


def test_only_rank_zero_writes(runs):
    single, ddp = runs["single"], runs["ddp"]

    def files(d):
        return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and "tensorboard" not in p.parts)

    assert files(ddp) == files(single) == ["best.pt", "history.csv", "last.pt", "provenance.json", "summary.json"]
    assert len(list((ddp / "tensorboard").iterdir())) == 1, "one TensorBoard event file"
    # one record per epoch in the log: rank 1 logs warnings only
    assert runs["ddp_log"].count("epoch 1: train_loss") == 1, runs["ddp_log"][-3000:]
    # progress inside an epoch: one record (rank 0), no redrawn bar in the log
    assert runs["ddp_log"].count("epoch 1/4: 4/4 batch (100%)") == 1, runs["ddp_log"][-3000:]
    assert "\r" not in runs["ddp_log"]
    assert "launching 2 training processes on the CPU (gloo)" in runs["ddp_log"]


def test_interrupted_two_process_run_resumes_exactly(runs, dataset):
    tmp = runs["tmp"]
    cut = tmp / "cut"
    config = _config(tmp, 32)
    _train(config, dataset, cut, "--nproc", "2", "--stop-after", "2")
    assert len(_history(cut)) == 2
    _train(config, dataset, cut, "--nproc", "2", "--resume")
    full, resumed = _state(runs["ddp"]), _state(cut)
    assert full["epoch"] == resumed["epoch"] == 4
    for k in full["state_dict"]:
        assert torch.equal(full["state_dict"][k], resumed["state_dict"][k]), k

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]

    assert strip(_history(cut)) == strip(_history(runs["ddp"]))
