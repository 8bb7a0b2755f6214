"""The whole chain on configs/mini.yaml: generation -> features -> datasets -> training ->
predictions -> evaluation and the HTML report, then a re-run check after a model change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _snakemake(repo: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=repo, capture_output=True, text=True,
        timeout=timeout, env=env,
    )


@pytest.fixture(scope="module")
def mini_run(repo, mini_local_run):
    """The mini workflow run once into a temporary output directory (tests/workflow/conftest.py)."""
    os.chdir(repo)
    return mini_local_run.out, mini_local_run.cfgfile, mini_local_run.cfg


def test_every_task_and_model_has_metrics_with_a_real_auc(mini_run):
    out, _, cfg = mini_run
    for task, tcfg in cfg.tasks.items():
        eval_dir = out / "evaluation" / task
        assert (eval_dir / "comparison.csv").stat().st_size > 0
        table = (eval_dir / "comparison.md").read_text()
        for model in tcfg.models:
            assert model in table
            metrics = json.loads((eval_dir / "metrics" / f"{model}.json").read_text())
            auc = metrics["auc"]
            assert isinstance(auc, float) and 0.5 < auc <= 1.0, f"{task}/{model}: AUC {auc}"
            assert (out / "models" / task / model / "model.onnx").stat().st_size > 1000


def test_every_plot_is_written_as_pdf_and_png(mini_run):
    out, _, cfg = mini_run
    for task in cfg.tasks:
        plots = out / "evaluation" / task / "plots"
        index = json.loads((plots / "index.json").read_text())
        files = index["plots"]
        assert any("roc" in f for f in files)
        for name in files:
            assert (plots / name).stat().st_size > 1000, name
        pngs = {p.stem for p in plots.glob("*.png")}
        pdfs = {p.stem for p in plots.glob("*.pdf")}
        assert pngs and pngs == pdfs


def test_every_stage_writes_provenance(mini_run):
    out, _, _ = mini_run
    records = list(out.rglob("*provenance.json"))
    stages = {json.loads(p.read_text())["stage"] for p in records}
    assert {"generate", "features", "dataset", "train", "predict", "evaluate"} <= stages
    sample = json.loads(next(out.rglob("ntuples/**/*.provenance.json")).read_text())
    assert sample["git_commit"] and sample["dl4hep_version"]


def test_changing_one_model_reruns_only_that_model(mini_run, repo):
    out, cfgfile, _ = mini_run
    raw = yaml.safe_load(cfgfile.read_text())
    raw["tasks"]["jets"]["models"]["pfn"]["training"]["epochs"] = 3
    changed = cfgfile.with_name("changed.yaml")
    changed.write_text(yaml.safe_dump(raw))
    res = _snakemake(repo, "-n", "--configfile", str(changed), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    jobs = {line.split()[0]: int(line.split()[1]) for line in text.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("train") == 1 and jobs.get("predict") == 1 and jobs.get("export") == 1
    assert jobs.get("evaluate") == 1
    assert "generate" not in jobs and "features" not in jobs and "dataset" not in jobs
    # every model-level job of the plan is for jets/pfn
    model_jobs = re.findall(r"wildcards: task=(\w+), model=(\w+)", text)
    assert model_jobs and set(model_jobs) == {("jets", "pfn")}, model_jobs


def test_html_report_gathers_the_plots(mini_run, repo):
    out, cfgfile, _ = mini_run
    report = out.parent / "report.html"
    res = _snakemake(repo, "--configfile", str(cfgfile), "--report", str(report), timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 50_000
    assert "roc" in html
