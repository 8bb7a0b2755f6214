"""The local run of the mini workflow, shared by the tests that inspect it (test_mini_workflow.py)
and the SLURM run that must reproduce it (test_slurm.py): one run per session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from dl4hep.config import AnalysisConfig, load_analysis
from tests.paths import REPO


class MiniRun(NamedTuple):
    out: Path  # the output directory (config `output`)
    cfgfile: Path  # mini.yaml with that output
    cfg: AnalysisConfig
    seconds: float  # wall time of `snakemake --cores 2`
    log: str  # Snakemake's own output (jobs in the order they started)


def run_snakemake(cwd: Path, *args: str, timeout: int = 1500, env: dict[str, str] | None = None):
    env = dict(env or os.environ, MPLBACKEND="Agg")
    env.setdefault("CONDOR_CONFIG", "/dev/null")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def mini_config(directory: Path, tasks: tuple[str, ...] | None = None) -> Path:
    """configs/mini.yaml with its output below ``directory`` (only ``tasks`` when given)."""
    out = directory / "results"
    raw = yaml.safe_load((REPO / "configs/mini.yaml").read_text())
    raw["output"] = str(out)
    if tasks is not None:
        raw["tasks"] = {name: raw["tasks"][name] for name in tasks}
    cfgfile = directory / "mini.yaml"
    cfgfile.write_text(yaml.safe_dump(raw))
    return cfgfile


@pytest.fixture(scope="session")
def mini_local_run(tmp_path_factory) -> MiniRun:
    """The mini workflow, run once with the local executor on 2 cores."""
    cfgfile = mini_config(tmp_path_factory.mktemp("mini"))
    t0 = time.perf_counter()
    res = run_snakemake(REPO, "--cores", "2", "--configfile", str(cfgfile), "--show-failed-logs")
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        pytest.fail("mini workflow failed:\n" + (res.stdout + res.stderr)[-8000:])
    cfg = load_analysis(cfgfile)
    return MiniRun(Path(cfg.output), cfgfile, cfg, seconds, res.stdout + res.stderr)


def planned_jobs(*cfgfiles: Path | str) -> dict[str, int]:
    """Jobs per rule that ``snakemake -n`` plans for a config from scratch (its "Job stats" table)."""
    res = run_snakemake(REPO, "-n", "--forceall", "--configfile", *map(str, cfgfiles), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    rows = (line.split() for line in table.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit() and row[0] != "total"}
