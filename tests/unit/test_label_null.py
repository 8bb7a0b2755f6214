"""Samples declared with `label: null` (e.g. collision data): config checks and the workflow plan."""

from __future__ import annotations

import pytest
import yaml

from dl4hep.config import analysis_from_dict
from dl4hep.errors import ConfigError
from dl4hep.plan import Plan
from tests.paths import REAL_DATA, REPO

NANO = str(REAL_DATA / "nano_tt_v12.root")


def config(tmp_path, samples, models=("dnn",)):
    task = {
        "input": "nanoaod",
        "features": ["columns"],
        "classes": ["a", "b"],
        "feature_options": {"columns": {"columns": {"met": {"expr": "met.pt", "use": "both"}}}},
        "samples": samples,
        "models": {m: {"base": "dnn"} for m in models},
    }
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return analysis_from_dict(
        {
            "config_dir": str(REPO / "configs"),
            "output": str(tmp_path / "out"),
            "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}},
        }
    )


def labelled(**extra):
    return {"sa": {"label": "a", "files": [NANO]}, "sb": {"label": "b", "files": [NANO]}, **extra}


def test_label_null_samples_are_applied_not_trained(tmp_path):
    data = {"label": None, "files": [NANO, str(REAL_DATA / "nano_dy.root")]}
    cfg = config(tmp_path, labelled(data=data), models=("dnn", "dnn_small"))
    task = cfg.task("t")
    assert task.labelled_samples == ["sa", "sb"] and task.unlabelled_samples == ["data"]
    plan = Plan(cfg)
    assert [s for s, _ in plan.task_features("t")] == ["sa", "sb"]  # the dataset's inputs
    applied = plan.apply_outputs("t")
    assert applied == [
        f"{tmp_path}/out/applied/t/{m}/data/file{i}.parquet"
        for m in ("dnn", "dnn_small")
        for i in (0, 1)
    ]
    assert set(applied) <= set(plan.targets())
    summary = plan.summary()
    assert summary["jobs"]["apply"] == 4 and summary["jobs"]["features"] == 2
    assert summary["samples"]["data"]["label"] is None
    # a label: null sample does not change the dataset digest (adding data re-runs no training)
    assert plan.digest_dataset("t") == Plan(config(tmp_path, labelled())).digest_dataset("t")


def test_every_class_needs_a_labelled_sample(tmp_path):
    with pytest.raises(ConfigError, match=r"class\(es\) \['b'\] have no labelled sample"):
        config(
            tmp_path,
            {"sa": {"label": "a", "files": [NANO]}, "sb": {"label": None, "files": [NANO]}},
        )


def test_label_typos_and_unknown_keys_are_still_errors(tmp_path):
    with pytest.raises(ConfigError, match="label 'bb' is not one of classes.*Did you mean 'b'"):
        config(tmp_path, labelled(sc={"label": "bb", "files": [NANO]}))
    with pytest.raises(ConfigError, match="unknown key.*lable"):
        config(tmp_path, labelled(sc={"lable": None, "files": [NANO]}))
    with pytest.raises(ConfigError, match="label"):  # the key stays required: null must be written
        config(tmp_path, labelled(sc={"files": [NANO]}))
