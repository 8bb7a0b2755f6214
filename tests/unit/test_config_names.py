"""Every feature and observer name a config uses is checked before any job, with the key path and a did-you-mean."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from dl4hep.cli import main
from dl4hep.errors import ConfigError
from dl4hep.validate import checked_from_dict
from tests.paths import REAL_DATA, REPO

NANO = str(REAL_DATA / "nano_tt_v12.root")
DY = str(REAL_DATA / "nano_dy.root")


def task(**override):
    """A dilepton task on real NanoAOD with the Python set and declared columns side by side."""
    t = {"input": "nanoaod", "features": ["dilepton_kinematics", "columns"], "classes": ["a", "b"],
         "feature_options": {"columns": {"columns": {
             "nj30": {"expr": "n(jets, pt > 30)", "use": "both"},
             "j1_pt": {"expr": "jets[0].pt", "use": "tabular", "fill": 0}}}},
         "selection": "n_leptons >= 2 and nj30 >= 1",
         "samples": {"sa": {"label": "a", "files": [NANO]}, "sb": {"label": "b", "files": [DY], "files_per_job": 1}},
         "models": {"dnn": {"features": ["mll", "j1_pt"]}},
         "evaluation": {"pt_observer": "mll", "sculpting_observer": "nj30"},
         "dataset": {"balance": "pt_eta", "reweight_observers": ["pt", "nj30"]}}
    for key, value in override.items():
        node = t
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return t


def write(tmp_path, t, output=None):
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(t, sort_keys=False))
    cfg = {"config_dir": str(REPO / "configs"), "output": str(output or tmp_path / "out"),
           "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, cfg


def test_a_config_naming_only_known_names_passes(tmp_path):
    _, raw = write(tmp_path, task())
    cfg = checked_from_dict(raw)
    assert cfg.tasks["t"].models["dnn"].features == ["mll", "j1_pt"]


REJECTED = [  # (override, key path, nearest name)
    ({"selection": "n_lepton >= 2"}, "tasks.t.selection", "n_leptons"),
    ({"selection": "nj3 >= 1"}, "tasks.t.selection", "nj30"),
    ({"evaluation.pt_observer": "mlll"}, "tasks.t.evaluation.pt_observer", "mll"),
    ({"evaluation.sculpting_observer": "nj31"}, "tasks.t.evaluation.sculpting_observer", "nj30"),
    ({"dataset.reweight_observers": ["pt", "nj3O"]}, "tasks.t.dataset.reweight_observers[1]", "nj30"),
    ({"models.dnn.features": ["mll", "j1pt"]}, "tasks.t.models.dnn.features[1]", "j1_pt"),
    ({"feature_options.columns.columns.j1_pt.expr": "jets[0].ptt"}, "tasks.t.feature_options.columns.columns.j1_pt.expr", "pt"),
    ({"feature_options.columns.columns.nj30.expr": "n(jest, pt > 30)"}, "tasks.t.feature_options.columns.columns.nj30.expr", "jets"),
]


@pytest.mark.parametrize(("override", "key", "nearest"), REJECTED, ids=[r[1].split(".", 2)[2] for r in REJECTED])
def test_unknown_names_are_rejected_with_key_path_and_suggestion(tmp_path, override, key, nearest):
    _, raw = write(tmp_path, task(**override))
    with pytest.raises(ConfigError) as err:
        checked_from_dict(raw)
    msg = str(err.value)
    assert msg.startswith(f"{key}: "), msg
    assert "Did you mean" in msg and f"'{nearest}'" in msg.split("Did you mean", 1)[1], msg


def test_default_observers_are_checked_only_when_used(tmp_path):
    t = task()
    del t["evaluation"]["pt_observer"], t["dataset"]["reweight_observers"]
    t["dataset"]["balance"] = "none"  # default reweight_observers [pt, eta]: no 'eta' here, but unused
    _, raw = write(tmp_path, t)
    checked_from_dict(raw)
    t["dataset"]["balance"] = "pt_eta"  # now the default [pt, eta] is used: 'eta' is unknown
    _, raw = write(tmp_path, t)
    with pytest.raises(ConfigError, match=r"^tasks.t.dataset.reweight_observers\[1\]: unknown observer 'eta'"):
        checked_from_dict(raw)


def test_check_config_rejects_and_names_the_key(tmp_path, capsys):
    path, _ = write(tmp_path, task(**{"models.dnn.features": ["mll", "j1pt"]}))
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "tasks.t.models.dnn.features[1]: unknown tabular feature 'j1pt'" in err and "'j1_pt'" in err


@pytest.mark.slow
def test_check_config_prints_files_events_parts_and_jobs(tmp_path, capsys):
    t = task()
    t["samples"]["sa"] = {"label": "a", "files": [str(REAL_DATA / "nano_*.root")], "files_per_job": 2}
    path, _ = write(tmp_path, t)
    assert main(["check-config", "--config", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    dy_events = _entries(DY)
    assert out["input_files"] == {"sa": len(list(REAL_DATA.glob("nano_*.root"))), "sb": 1}
    n = len(list(REAL_DATA.glob("nano_*.root")))  # nano_dy.root and nano_tt_v12.root: one part of two files
    assert out["samples"]["sa"]["files"] == n and out["samples"]["sa"]["parts"] == -(-n // 2)
    assert out["samples"]["sa"]["events"] == sum(_entries(str(p)) for p in REAL_DATA.glob("nano_*.root"))
    assert out["samples"]["sb"]["events"] == dy_events and out["samples"]["sb"]["parts"] == 1
    assert out["jobs"] == {"generate": 0, "features": -(-n // 2) + 1, "dataset": 1, "train": 1, "predict": 1, "export": 1,
                           "evaluate_model": 1, "evaluate": 1, "apply": 0}


def _entries(path: str) -> int:
    import uproot

    with uproot.open(path) as f:
        return int(f["Events"].num_entries)


@pytest.mark.slow
def test_snakemake_dry_run_rejects_an_unknown_name(tmp_path):
    pytest.importorskip("snakemake", reason="snakemake is not installed (the dev extra)")
    path, _ = write(tmp_path, task(**{"evaluation.sculpting_observer": "nj31"}))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path),
                          "-d", str(tmp_path / "wd"), "-s", str(REPO / "Snakefile")], capture_output=True, text=True,
                         cwd=REPO, timeout=300, env=dict(os.environ, HOME=str(tmp_path)))
    assert res.returncode != 0
    text = res.stdout + res.stderr
    assert "tasks.t.evaluation.sculpting_observer: unknown observer 'nj31'" in text and "'nj30'" in text, text[-2000:]
