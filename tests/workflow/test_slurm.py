"""The mini workflow through a real SLURM scheduler: `snakemake --profile workflow/profiles/slurm`
on a one-node cluster that workflow/scripts/slurm-cluster.sh starts (munge, MariaDB + slurmdbd
for sacct, slurmctld, slurmd) and stops again. Every job is an sbatch job; the outputs must be
those of the local run (tests/workflow/conftest.py). The test skips, saying why, only where the
daemons cannot start (packages missing, not root, no loopback networking).

Time: about the local run again plus the scheduling overhead, which the test reports (wall time
of both runs, queue waits from sacct) on the terminal and in .snakemake/dl4hep-ci/slurm-timing.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from dl4hep.config import load_analysis
from tests.paths import REPO
from tests.workflow._compare_runs import compare_runs, summary
from tests.workflow.conftest import mini_config, planned_jobs, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.cluster]

SCRIPT = REPO / "workflow/scripts/slurm-cluster.sh"
#: The SLURM run takes the mini workflow's tasks whose jobs cover every rule (generation to the
#: report, K-fold, the search, `apply` to a `label: null` sample); the jets task, whose four
#: point-cloud trainings are half of the mini run's CPU time, runs locally only, to keep CI
#: within 30 minutes (docs/decisions.md).
SLURM_TASKS = ("egamma", "dilepton")
#: rules whose jobs train a network and ask for the GPU of their model's `device: auto`
TRAINING_RULES = {"train", "train_fold", "search_worker"}
MINI = load_analysis(REPO / "configs/mini.yaml")
#: first status check 2 s after a submission instead of the plugin's 40 s (a busy real cluster
#: wants 40; a private one-node cluster answers at once)
STATUS_CHECK = ["--slurm-init-seconds-before-status-checks", "2"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node cluster; yields the environment its clients need."""
    state = Path(os.environ.get("DL4HEP_SLURM_DIR") or tmp_path_factory.mktemp("slurm"))
    env = dict(os.environ, DL4HEP_SLURM_DIR=str(state))
    res = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=300)
    if res.returncode == 3:
        pytest.skip("no SLURM cluster on this machine: " + res.stderr.strip().splitlines()[0])
    assert res.returncode == 0, res.stdout + res.stderr
    for line in res.stdout.splitlines():  # export SLURM_CONF=...; export PATH=<state>/bin:$PATH
        key, value = line.removeprefix("export ").split("=", 1)
        env[key] = value.replace("$PATH", os.environ["PATH"])
    try:
        yield env
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, env=env, timeout=300)
        alive = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, env=env).stdout
        assert " running (pid" not in alive, f"daemons left running:\n{alive}"


def _sacct(env) -> list[dict[str, str]]:
    fields = "JobID,Comment%200,Partition,AllocCPUS,ReqMem,AllocTRES%200,Submit,Start,End,State"
    out = subprocess.run(
        ["sacct", "-X", "-P", "--noheader", "--starttime", "now-1days", f"--format={fields}"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    return [dict(zip(fields.replace("%200", "").split(","), line.split("|"), strict=True))
            for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def slurm_run(slurm, mini_local_run, tmp_path_factory):
    cfgfile = mini_config(tmp_path_factory.mktemp("mini-slurm"), tasks=SLURM_TASKS)
    planned = planned_jobs(cfgfile)
    t0 = time.perf_counter()
    res = run_snakemake(REPO, "--profile", "workflow/profiles/slurm", *STATUS_CHECK, "--configfile", str(cfgfile),
                        timeout=2400, env=slurm)
    seconds = time.perf_counter() - t0
    assert res.returncode == 0, "SLURM run failed:\n" + (res.stdout + res.stderr)[-8000:]
    return {"out": cfgfile.parent / "results", "seconds": seconds, "jobs": _sacct(slurm), "log": res.stdout + res.stderr,
            "planned": planned}


def _model_cpus(comment: str) -> int:
    """CPUs a training job of the mini config asks for: training.threads auto (1 tabular, 2 points)."""
    rest = re.match(r"rule_\w+?_wildcards_(\w+)", comment).group(1)
    task = next(t for t in SLURM_TASKS if rest.startswith(t + "_"))
    models = MINI.tasks[task].models
    model = next(m for m in sorted(models, key=len, reverse=True) if rest[len(task) + 1 :].startswith(m))
    return 1 if models[model].inputs == "tabular" else 2


def test_every_job_ran_as_a_slurm_job(slurm_run):
    jobs, planned = slurm_run["jobs"], slurm_run["planned"]
    rules = [re.match(r"rule_(\w+?)(_wildcards|$)", j["Comment"]).group(1) for j in jobs]
    assert sorted(set(rules)) == sorted(set(planned) - {"all"})
    assert {"generate", "features", "dataset", "train", "predict", "export", "evaluate", "apply"} <= set(rules)
    assert len(jobs) == sum(planned.values()) - 1  # every planned job but the local `all`
    assert {j["State"] for j in jobs} == {"COMPLETED"}
    training_cpus = set()
    for job, rule in zip(jobs, rules, strict=True):
        gpu = "gres/gpu=1" in job["AllocTRES"]
        if rule in TRAINING_RULES:  # device: auto models ask for their GPU (a placeholder here: trained on the CPU)
            cpus = str(_model_cpus(job["Comment"]))
            assert (job["Partition"], job["AllocCPUS"], job["ReqMem"], gpu) == ("gpu", cpus, "16000M", True), job
            training_cpus.add(job["AllocCPUS"])
        else:
            assert job["Partition"] == "cpu" and not gpu, job
    assert training_cpus == {"1", "2"}  # the DNNs on one CPU, the hit GNN on two


def _in_tasks(rel: str) -> bool:
    """Outputs of the SLURM run's tasks (a path component names the task; the per-task report pages too)."""
    return any(part in SLURM_TASKS or part.removesuffix(".tsv").removesuffix(".log") in SLURM_TASKS
               for part in rel.split("/"))


def test_outputs_are_those_of_the_local_run(slurm_run, mini_local_run):
    result = compare_runs(mini_local_run.out, slurm_run["out"], select=_in_tasks)
    assert not result["missing"] and not result["extra"], (result["missing"], result["extra"])
    assert not result["different"], result["different"]
    counts = summary(result)
    # ntuples, features, datasets and predictions are data, not just "present"
    assert counts["identical"] + counts["same_content"] + counts["close"] > 40, counts


def test_logs_hold_records_not_progress_bars(slurm_run, mini_local_run):
    local_jobs = sum(planned_jobs(mini_local_run.cfgfile).values()) - 1
    for out, n_jobs in ((mini_local_run.out, local_jobs), (slurm_run["out"], sum(slurm_run["planned"].values()) - 1)):
        logs = list((out / "logs").rglob("*.log"))
        assert len(logs) == n_jobs  # one per job but `all`
        for log in logs:
            text = log.read_text(errors="replace")
            assert "\r" not in text and "\u2588" not in text, f"progress bar in {log}"
            assert " DEBUG " not in text, f"debug records in {log}"
        generated = (out / "logs/generate/dilepton/ttbar/chunk0.log").read_text()
        assert re.search(r"INFO dl4hep.progress: generate \w+: 300/300 ev \(100%\)", generated), generated[-2000:]


def test_report_scheduling_overhead(slurm_run, mini_local_run, request):
    jobs = slurm_run["jobs"]

    def t(s: str) -> datetime:
        return datetime.fromisoformat(s)

    waits = sorted((t(j["Start"]) - t(j["Submit"])).total_seconds() for j in jobs)
    busy = sum((t(j["End"]) - t(j["Start"])).total_seconds() for j in jobs)
    span = (max(t(j["End"]) for j in jobs) - min(t(j["Submit"]) for j in jobs)).total_seconds()
    record = {
        "local_s": round(mini_local_run.seconds, 1), "slurm_s": round(slurm_run["seconds"], 1),
        "overhead_s": round(slurm_run["seconds"] - mini_local_run.seconds, 1),
        "jobs": len(jobs), "queue_wait_median_s": waits[len(waits) // 2], "queue_wait_max_s": waits[-1],
        "sum_job_wall_s": busy, "first_submit_to_last_end_s": span,
        "status_check": STATUS_CHECK[-1], "tasks": list(SLURM_TASKS),
    }
    path = REPO / ".snakemake/dl4hep-ci/slurm-timing.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nSLURM mini workflow: {json.dumps(record)}")
    assert record["jobs"] == sum(slurm_run["planned"].values()) - 1
