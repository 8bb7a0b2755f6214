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


def test_verbose_flags_set_dl4hep_logging_only(at_repo, capsys):
    import logging

    for argv, level in (([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG),
                        (["-v", "-v"], logging.DEBUG)):
        assert main([*argv, "check-config", "--config", "configs/mini.yaml"]) == 0
        assert logging.getLogger("dl4hep").getEffectiveLevel() == level, argv
        # other libraries stay at WARNING: no fsspec/asyncio debug records in the stage logs
        assert logging.getLogger("fsspec.local").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("asyncio").getEffectiveLevel() == logging.WARNING
    capsys.readouterr()


def test_verbose_flag_after_the_subcommand(at_repo, capsys):
    import logging

    assert main(["check-config", "-v", "--config", "configs/mini.yaml"]) == 0
    assert logging.getLogger("dl4hep").getEffectiveLevel() == logging.INFO
    assert main(["-v", "check-config", "-v", "--config", "configs/mini.yaml"]) == 0  # counts add up
    assert logging.getLogger("dl4hep").getEffectiveLevel() == logging.DEBUG
    res = subprocess.run([sys.executable, "-m", "dl4hep", "inspect", "-v", "tests/data/nano_dy.root", "--filter",
                          "Photon_pt"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Photon_pt" in res.stdout
    assert "-v: progress and summaries (INFO), -vv: debug" in " ".join(build_parser().format_help().split())
    capsys.readouterr()


def test_debug_output_names_only_dl4hep_loggers(tmp_path):
    """-vv on a real stage (features of a CMS NanoAOD file): every DEBUG record is dl4hep's own."""
    from tests.paths import REAL_DATA, REPO

    nano = str(REAL_DATA / "nano_tt_v12.root")
    cfg = tmp_path / "nano.yaml"
    cfg.write_text(
        f"output: {tmp_path}/out\nconfig_dir: {REPO / 'configs'}\ntasks:\n  dilepton:\n    input: nanoaod\n"
        f"    samples:\n      hww: {{generator: null, files: ['{nano}'], cross_section: 1.0}}\n"
        f"      ttbar: {{generator: null, files: ['{nano}'], cross_section: 1.0}}\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "dl4hep", "-vv", "features", "--config", str(cfg), "--task", "dilepton", "--sample",
         "hww", "--input", nano, "--out", str(tmp_path / "f.parquet")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    records = [line.split()[1:3] for line in res.stderr.splitlines() if line[:2].isdigit()]
    assert ["INFO", "dl4hep.progress:"] in records  # a one-line progress record, not a bar
    assert all(name.startswith("dl4hep") for level, name in records if level == "DEBUG"), records
    assert "\r" not in res.stderr
