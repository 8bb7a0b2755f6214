"""Deployable like a catalog workflow: from any working directory, as a Snakemake `module` of an
analysis directory that holds only its own config, with a conda environment file for the jobs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dl4hep.config import load_analysis
from tests.paths import REPO
from tests.workflow.conftest import planned_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # Snakemake subprocesses: seconds each


def _snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _jobs(text: str) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1]) for line in text.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}


def test_default_config_from_another_working_directory(tmp_path):
    """No --configfile: configs/config.yaml of the checkout, found relative to the workflow."""
    res = _snakemake(tmp_path, "-n", "-s", str(REPO / "Snakefile"), "--config", f"output={tmp_path}/out")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    jobs = _jobs(res.stdout + res.stderr)
    cfg = load_analysis(REPO / "configs/config.yaml")
    assert jobs.get("generate") == sum(s.chunks for t in cfg.tasks.values() for s in t.samples.values())
    assert jobs.get("train") == sum(len(t.models) for t in cfg.tasks.values())
    assert [p.name for p in tmp_path.iterdir()] == [".snakemake"], "a dry run writes no output"


@pytest.fixture
def analysis(tmp_path) -> Path:
    """An analysis directory with only a Snakefile that uses dl4hep as a module, and its config."""
    (tmp_path / "config").mkdir()
    cfg = yaml.safe_load((REPO / "configs/mini.yaml").read_text())
    cfg["output"] = "results"  # relative: below the analysis directory
    cfg["tasks"]["dilepton"]["samples"]["hww"]["events"] = 60
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        f'module dl4hep:\n    snakefile:\n        "{REPO / "Snakefile"}"\n    config:\n        config\n\n\n'
        "use rule * from dl4hep\n"
    )
    return tmp_path


@pytest.mark.slow
def test_module_from_an_analysis_directory(analysis):
    res = _snakemake(analysis, "-n")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    jobs = _jobs(res.stdout + res.stderr)
    # the same DAG as the mini config run from the checkout
    planned = planned_jobs(analysis / "config/config.yaml")
    assert {k: v for k, v in jobs.items() if k in planned or k == "total"} == planned | {"total": sum(planned.values())}
    # two real jobs: generation and features run in the analysis directory, configs from the checkout
    target = "results/features/dilepton/hww/chunk0.parquet"
    res = _snakemake(analysis, "--cores", "2", target)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert (analysis / target).stat().st_size > 0
    assert (analysis / "results/ntuples/dilepton/hww/chunk0.root").is_file()
    assert sorted(p.name for p in analysis.iterdir()) == [".snakemake", "Snakefile", "config", "results"]


def test_conda_environment_matches_the_package():
    res = subprocess.run([sys.executable, str(REPO / "workflow/scripts/conda-env.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    env = yaml.safe_load((REPO / "workflow/envs/dl4hep.yaml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert re.fullmatch(r"python=3\.1[1-9]", python)  # the pythia8mc wheel needs 3.11
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", smk.read_text(), re.M):
            if "    shell:" in body:
                assert "    conda:\n        CONDA_ENV" in body, f"rule {rule} in {smk.name} has no conda env"
