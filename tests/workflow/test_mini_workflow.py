"""The whole chain on configs/mini.yaml: generation -> features -> datasets -> training ->
predictions -> evaluation and the HTML report, then a re-run check after a model change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dl4hep.config import load_analysis
from dl4hep.plan import Plan

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
            if tcfg.kind == "regression":  # response E/E_true near 1 with a finite resolution
                resp = metrics["response"]
                assert resp["n"] > 10 and abs(resp["median"] - 1) < 0.05 and 0 < resp["sigma_eff"] < 0.2, resp
                continue
            auc = metrics["auc"]
            if cfg.model(task, model).type in ("autoencoder", "set_autoencoder"):  # trained on background only
                # at mini statistics the reconstruction error flags top jets (3-prong) but not every signal
                assert isinstance(auc, float) and 0 < auc < 1 and max(metrics["auc_one_vs_rest"].values()) > 0.55
                continue
            assert isinstance(auc, float) and 0.5 < auc <= 1.0, f"{task}/{model}: AUC {auc}"
            for onnx in Plan(cfg).exports(task, model):  # one per fold for K-fold models
                assert Path(onnx).stat().st_size > 1000
            if tcfg.folds(model) > 1:  # mean and spread across folds, every event predicted once
                assert metrics["kfold"]["k"] == tcfg.folds(model) and metrics["kfold"]["std"]["auc"] is not None
                test = pd.read_parquet(out / "predictions" / task / model / "test.parquet")
                assert not test.duplicated(["run", "event"]).any()
                assert (test["fold"] == test["event"] % tcfg.folds(model)).all()


def test_unlabelled_samples_are_scored_by_every_model(mini_run):
    """`label: null` samples (pseudo-data here) go through `apply`, not through training or metrics."""
    out, _, cfg = mini_run
    import uproot

    unlabelled = [(t, s) for t, tc in cfg.tasks.items() for s, sc in tc.samples.items() if sc.label is None]
    assert unlabelled, "configs/mini.yaml has no label: null sample"
    for task, sample in unlabelled:
        with uproot.open(out / "ntuples" / task / sample / "chunk0.root") as f:
            events = set(f["Events"]["event"].array(library="np").tolist())
        for model in cfg.tasks[task].models:
            scored = pd.read_parquet(out / "applied" / task / model / sample / "chunk0.parquet")
            assert 0 < len(scored) <= len(events) and set(scored["event"]) <= events
            assert not scored.duplicated(["run", "luminosityBlock", "event"]).any()
            probs = scored.filter(like="score_")
            assert list(probs.columns) == [f"score_{c}" for c in cfg.tasks[task].classes]
            assert ((probs.sum(axis=1) - 1).abs() < 1e-5).all()
            for split in ("train", "val", "test"):  # none of its events reached the dataset
                rows = pd.read_parquet(out / "predictions" / task / model / f"{split}.parquet", columns=["event"])
                assert events.isdisjoint(rows["event"].tolist()), split


def test_search_writes_a_best_overlay_that_loads(mini_run):
    out, cfgfile, cfg = mini_run
    searched = [(t, m) for t, tc in cfg.tasks.items() for m, mc in tc.models.items() if mc.search]
    assert searched, "configs/mini.yaml runs no hyperparameter search"
    for task, model in searched:
        sdir = out / "search" / task / model
        loaded = load_analysis(cfgfile, sdir / "best.yaml")
        best = yaml.safe_load((sdir / "best.yaml").read_text())["tasks"][task]["models"][model]
        assert loaded.model(task, model).training.lr == best["training"]["lr"]
        assert len(pd.read_csv(sdir / "trials.csv")) >= cfg.model(task, model).search.trials
        assert (sdir / "plots" / "trials.png").stat().st_size > 1000


def test_every_plot_is_written_as_pdf_and_png(mini_run):
    out, _, cfg = mini_run
    for task in cfg.tasks:
        plots = out / "evaluation" / task / "plots"
        index = json.loads((plots / "index.json").read_text())
        files = index["plots"]
        headline = "response_vs" if cfg.tasks[task].kind == "regression" else "roc"
        assert any(headline in f for f in files), files
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


def test_tasks_are_generated_in_the_config_order(mini_local_run):
    """``task_priority``: generation starts task by task in the config's order (the first task's plots
    come early), and a trained model's predict/evaluate_model run before later tasks' generation."""
    log = mini_local_run.log
    started = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: task=(\w+)", log, re.M)
    order = list(mini_local_run.cfg.tasks)
    generated = [order.index(task) for rule, task in started if rule == "generate"]
    chunks = [s.chunks for t in mini_local_run.cfg.tasks.values() for s in t.samples.values() if s.files is None]
    assert len(generated) == sum(chunks)
    assert generated == sorted(generated), [order[i] for i in generated]
    first_eval = next(i for i, (rule, task) in enumerate(started) if rule == "evaluate_model")
    last_generate = max(i for i, (rule, _) in enumerate(started) if rule == "generate")
    assert first_eval < last_generate, "a first model's evaluation waited for every task's generation"
