"""Show that a change left the mini workflow's outputs unchanged: run configs/mini.yaml with the code
of a base commit and with the working tree, and compare every output file exactly.

    .venv/bin/python workflow/scripts/compare-mini.py --base HEAD~3
    .venv/bin/python workflow/scripts/compare-mini.py --base-out /tmp/base-out   # reuse a base run

Each run gets its own output directory; the base code runs from a temporary git worktree (put first
on PYTHONPATH, so the rules' ``python -m dl4hep`` imports it). Files are sorted by
tests/workflow/_compare_runs.py with ``rtol = atol = 0``: numbers must be equal, not close. Files
that hold times or host names (logs, benchmarks, provenance, plots, ONNX, the Optuna search, which
is timing-dependent by design) are compared by presence. ``--select PREFIX`` restricts both trees
(e.g. ``evaluation/`` when a change moved only other outputs). Prints a summary and every differing
file; exit 1 if any differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.workflow._compare_runs import compare_runs, summary  # noqa: E402


def run_mini(code: Path, out: Path) -> None:
    """The mini workflow with the package source at ``code/src``, outputs into ``out``."""
    raw = yaml.safe_load((code / "configs" / "mini.yaml").read_text())
    raw["output"] = str(out)
    cfg = out.with_suffix(".yaml")
    cfg.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(code / "src"), "MPLBACKEND": "Agg"}
    print(f"compare-mini: running the mini workflow of {code} into {out}", flush=True)
    res = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg), "--quiet"],
                         cwd=code, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"compare-mini: the run of {code} failed:\n{res.stderr[-4000:]}")


def base_tree(ref: str, scratch: Path) -> Path:
    tree = scratch / "base"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="git ref of the code before the change (default HEAD)")
    ap.add_argument("--base-out", type=Path, help="an existing output directory of the base run (skips running it)")
    ap.add_argument("--new-out", type=Path, help="an existing output directory of the working tree's run")
    ap.add_argument("--select", default="", help="compare only paths starting with this prefix")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dl4hep-compare-") as tmp:
        scratch = Path(tmp)
        base_out, new_out = args.base_out, args.new_out
        try:
            if base_out is None:
                base_out = scratch / "base-out"
                run_mini(base_tree(args.base, scratch), base_out)
            if new_out is None:
                new_out = scratch / "new-out"
                run_mini(REPO, new_out)
        finally:
            if (scratch / "base").exists():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(scratch / "base")])
        result = compare_runs(base_out, new_out, rtol=0.0, atol=0.0,
                              select=lambda rel: rel.startswith(args.select))
    print("compare-mini:", summary(result))
    bad = result["different"] + [(f, "only in the base run") for f in result["missing"]] \
        + [(f, "only in the new run") for f in result["extra"]]
    for rel, why in bad:
        print(f"  {rel}: {why}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
