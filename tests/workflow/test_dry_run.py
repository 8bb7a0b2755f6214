"""Snakemake dry runs: the default DAG, every profile, and config errors before any job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dl4hep.config import load_analysis
from tests.paths import REAL_DATA

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # Snakemake subprocesses: seconds each

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(repo: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"))
    return subprocess.run(
        [*SNAKEMAKE, *args], cwd=repo, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_default_config_dry_run_lists_the_whole_analysis(repo, tmp_path):
    res = snakemake(repo, "-n", "--config", f"output={tmp_path}/out")
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    for rule in ("generate", "features", "dataset", "train", "predict", "export", "evaluate_model", "evaluate", "all"):
        assert f"rule {rule}:" in text or f"{rule} " in text, f"rule {rule} missing from the DAG"
    # every generated chunk, every model trained once (no K-fold in the default), one evaluation per task
    assert "generate" in text and "train" in text
    job_counts = {line.split()[0]: int(line.split()[1]) for line in text.splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit()}
    cfg = load_analysis(repo / "configs/config.yaml")
    assert job_counts.get("generate") == sum(s.chunks for t in cfg.tasks.values() for s in t.samples.values()
                                             if s.generator is not None)
    assert job_counts.get("train") == sum(len(t.models) for t in cfg.tasks.values())
    assert job_counts.get("evaluate") == len(cfg.tasks)
    # and every model of a classification task on its own, as soon as it is predicted
    assert job_counts.get("evaluate_model") == sum(len(t.models) for t in cfg.tasks.values() if t.kind != "regression")
    assert not (tmp_path / "out").exists(), "a dry run must not write outputs"


@pytest.mark.parametrize("profile", ["local", "lxplus-htcondor", "slurm"])
def test_profiles_pass_a_dry_run(repo, tmp_path, profile):
    res = snakemake(
        repo, "-n", "--profile", f"workflow/profiles/{profile}",
        "--configfile", "configs/full.yaml", "--config", f"output={tmp_path}/out",
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "train" in res.stdout + res.stderr


@pytest.mark.reliability
def test_misspelled_key_fails_before_any_job(repo, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        (repo / "configs/mini.yaml").read_text().replace("luminosity:", "luminosty:")
        + f"\noutput: {tmp_path}/out\n"
    )
    res = snakemake(repo, "--cores", "1", "--configfile", str(bad))
    assert res.returncode != 0
    assert "luminosty" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.reliability
def test_wrong_type_in_a_task_override_fails_before_any_job(repo, tmp_path):
    bad = tmp_path / "wrongtype.yaml"
    bad.write_text(f"output: {tmp_path}/out\ntasks:\n  dilepton:\n    samples:\n      hww: {{events: lots}}\n")
    res = snakemake(repo, "--cores", "1", "--configfile", str(bad))
    assert res.returncode != 0
    assert "events" in res.stderr and "lots" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.reliability
def test_glob_matching_nothing_fails_before_any_job(repo, tmp_path):
    cfg = tmp_path / "own.yaml"
    cfg.write_text(
        f"output: {tmp_path}/out\n"
        "tasks:\n  dilepton:\n    input: nanoaod\n    samples:\n"
        f"      hww: {{generator: null, files: ['{tmp_path}/nothing/*.root'], cross_section: 1.0}}\n"
        f"      ttbar: {{generator: null, files: ['{REAL_DATA}/nano_tt_v12.root'], cross_section: 1.0}}\n"
    )
    res = snakemake(repo, "-n", "--configfile", str(cfg))
    assert res.returncode != 0
    text = res.stdout + res.stderr
    assert "samples.hww.files" in text and "matches no file" in text
    assert not (tmp_path / "out").exists()
