"""How long Snakemake takes to plan a dataset of thousands of input files (``snakemake -n``).

Usage (from the repository root): python benchmarks/plan_many_files.py [--files 3000]
[--per-job 1,10] [--remote] [--json out.json]

Writes ``--files`` empty ``.root`` files in a temporary folder (the dry run never opens them),
lists them in an ``@list`` file as a dataset query would, and times, for each ``files_per_job``:
the dl4hep plan alone (expand the list, group, write the group lists) and the whole
``snakemake -n`` (parse, plan, DAG, job listing). ``--remote`` lists ``root://`` URLs instead,
which are not contacted when planning. One dilepton task with one model, so the feature jobs
dominate the DAG.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dl4hep.config import analysis_from_dict
from dl4hep.plan import LIST_DIR, Plan

REPO = Path(__file__).resolve().parents[1]


def _dataset(folder: Path, n: int, remote: bool) -> Path:
    """``n`` files (or URLs) and an @list naming them; returns the list."""
    lines = []
    for i in range(n):
        if remote:
            lines.append(f"root://eos.example.org//eos/cms/store/mc/Run3/TT/NANOAODSIM/{i:05d}.root")
        else:
            (folder / f"f{i:05d}.root").touch()
            lines.append(str(folder / f"f{i:05d}.root"))
    lst = folder / "dataset.txt"
    lst.write_text("# dasgoclient -query 'file dataset=...' with a redirector prefix\n" + "\n".join(lines) + "\n")
    return lst


def _config(folder: Path, lst: Path, per_job: int) -> dict:
    return {
        "output": str(folder / f"results{per_job}"),
        "tasks": {"dilepton": {
            "input": "nanoaod",
            "samples": {
                "hww": {"generator": None, "files": [f"@{lst}"], "files_per_job": per_job, "cross_section": 1.0},
                "ttbar": {"generator": None, "files": [str(REPO / "tests/data/nano_tt_v12.root")],
                          "cross_section": 88.3},
            },
            "models": {"dnn": {}},
        }},
    }


def _time_plan(raw: dict, list_dir: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    plan = Plan(analysis_from_dict(raw), list_dir=str(list_dir))
    parts = plan.parts("dilepton", "hww")
    for part in parts:
        plan.ntuple("dilepton", "hww", part)
        plan.ntuple_files("dilepton", "hww", part)
    return time.perf_counter() - t0, len(parts)


def _time_dry_run(cfg: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    env = dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", str(cfg)],
                         cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    text = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{text[-3000:]}")
    m = re.search(r"^features\s+(\d+)", text, re.M)
    return wall, int(m.group(1)) if m else -1, text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--per-job", default="1,10", help="comma-separated files_per_job values")
    ap.add_argument("--remote", action="store_true", help="list root:// URLs instead of local files")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dl4hep-plan-") as tmp:
        folder = Path(tmp)
        lst = _dataset(folder, args.files, args.remote)
        for per_job in (int(x) for x in args.per_job.split(",")):
            raw = _config(folder, lst, per_job)
            plan_s, groups = _time_plan(raw, folder / f"lists{per_job}")
            cfg = folder / f"config{per_job}.yaml"
            cfg.write_text(yaml.safe_dump(raw))
            dry_s, feature_jobs, _ = _time_dry_run(cfg)
            row = {"files": args.files, "remote": args.remote, "files_per_job": per_job, "feature_jobs": feature_jobs,
                   "plan_s": round(plan_s, 3), "snakemake_dry_run_s": round(dry_s, 2)}
            results.append(row)
            print(json.dumps(row), flush=True)
            assert feature_jobs == groups + 1, (feature_jobs, groups)  # + the one ttbar file
        _remove_lists(folder, args.remote)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _remove_lists(folder: Path, remote: bool) -> None:
    """Delete the group lists the dry runs wrote under the repository's .snakemake (they name our files)."""
    marker = "eos.example.org" if remote else str(folder)
    for lst in (REPO / LIST_DIR).glob("*.txt"):
        if marker in lst.read_text():
            lst.unlink()


if __name__ == "__main__":
    main()
