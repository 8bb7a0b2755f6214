"""The command line: help for every stage, user errors exit 2 with a clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dl4hep.cli import build_parser, main

STAGES = ["generate", "features", "dataset", "train", "predict", "export", "evaluate", "inspect", "check-config"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([stage, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: dl4hep {stage}" in out
    assert len(out.splitlines()) > 3


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "dl4hep", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.startswith("dl4hep ")


@pytest.mark.reliability
def test_config_error_exits_2_naming_the_key(at_repo, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  jets:\n    selecton: 'pt > 1'\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'tasks.jets.selecton'" in err
    assert "Did you mean 'selection'" in err


def test_check_config_summarises_tasks(at_repo, capsys):
    assert main(["check-config", "--config", "configs/mini.yaml"]) == 0
    out = capsys.readouterr().out
    assert '"jets"' in out and '"particle_transformer"' in out
