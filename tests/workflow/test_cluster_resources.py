"""What each job asks a batch system for, checked per rule without a pool.

HTCondor: the lxplus profile's submit descriptions, built by the htcondor executor plugin's own
``run_job`` for every job of the mini workflow (tests/workflow/_htcondor_submits.py replaces
only the schedd), against what the plugin documents it reads: request_cpus = threads,
request_memory (MB), request_gpus, ``+Attr`` from ``classad_Attr`` and getenv. The requests must
come from the rule's own mem_mb / runtime / gpu, with no GPU for a CPU-pinned model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dl4hep.config import analysis_from_dict, load_yaml
from tests.paths import REPO
from tests.workflow.conftest import planned_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # Snakemake subprocesses: seconds each

#: lxplus flavours and their limits in minutes (CERN batch documentation).
FLAVOURS = {"espresso": 20, "microcentury": 60, "longlunch": 120, "workday": 480, "tomorrow": 1440,
            "testmatch": 4320, "nextweek": 10080}
#: rules whose jobs train networks (and ask for the GPUs of their model)
TRAINING_RULES = {"train", "train_fold", "search_worker"}
MINI = analysis_from_dict(load_yaml(REPO / "configs/mini.yaml"))


def _env() -> dict[str, str]:
    return dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"))


@pytest.fixture(scope="module")
def overrides(tmp_path_factory) -> Path:
    """mini.yaml plus a CPU-pinned model (dilepton dnn) and a two-GPU, three-thread model (jets pfn)."""
    tmp = tmp_path_factory.mktemp("cluster")
    extra = tmp / "extra.yaml"
    extra.write_text(yaml.safe_dump({
        "output": str(tmp / "out"),
        "tasks": {
            "dilepton": {"models": {"dnn": {"training": {"device": "cpu"}}}},
            "jets": {"models": {"pfn": {"training": {"gpus": 2, "threads": 3}}}},
        },
    }))
    return extra


@pytest.fixture(scope="module")
def submits(overrides, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("submits") / "submits.json"
    res = subprocess.run(
        [sys.executable, str(REPO / "tests/workflow/_htcondor_submits.py"), str(out),
         "--profile", "workflow/profiles/lxplus-htcondor", "--configfile", "configs/mini.yaml", str(overrides),
         # a batch job's threads are the rule's (a local dry run would cap them at --cores)
         "--cores", "1024"],
        cwd=REPO, capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return json.loads(out.read_text())


#: training.threads: "auto" resolves to 1 for tabular models and 2 for point-cloud models; the
#: overrides set 3 for jets pfn
EXPLICIT_THREADS = {("jets", "pfn"): 3}


def _rule_threads() -> dict[str, int | str]:
    """``threads:`` of every rule, read from the rule files: a number, or ``model_threads``."""
    out: dict[str, int | str] = {}
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", smk.read_text(), re.M):
            m = re.search(r"^    threads: (\w+)", body, re.M)
            if m:
                out[rule] = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
    return out


def _expected_threads(rule_threads: int | str, wildcards: dict[str, str]) -> int:
    if rule_threads != "model_threads":
        return int(rule_threads)
    key = (wildcards["task"], wildcards["model"])
    inputs = MINI.model(*key).inputs
    return EXPLICIT_THREADS.get(key, 1 if inputs == "tabular" else 2)


@pytest.fixture(scope="module")
def planned(overrides) -> dict[str, int]:
    return planned_jobs(REPO / "configs/mini.yaml", overrides)


def test_every_rule_gets_a_submit_description(submits, planned):
    assert {s["rule"] for s in submits} == set(planned) - {"all"}
    assert {"generate", "features", "dataset", "train", "predict", "export", "evaluate", "apply"} <= set(planned)
    assert len(submits) == sum(planned.values()) - 1  # every job of the mini DAG but `all`


def test_requests_follow_each_rules_resources(submits):
    threads = _rule_threads()
    for s in submits:
        sub, res, where = s["submit"], s["resources"], f"{s['rule']} {s['wildcards']}"
        expected = _expected_threads(threads[s["rule"]], s["wildcards"])
        assert sub["request_cpus"] == str(expected) == str(s["threads"]), where
        assert sub["request_memory"] == str(res["mem_mb"]), where  # MB, HTCondor's default unit
        assert sub["getenv"] == "True", where
        flavour = sub["MY.JobFlavour"].strip('"')
        fitting = [f for f, limit in FLAVOURS.items() if limit >= res["runtime"]]
        assert flavour == min(fitting, key=FLAVOURS.get), f"{where}: {flavour} for {res['runtime']} min"
    train_threads = {int(s["threads"]) for s in submits if s["rule"] == "train"}
    assert train_threads == {1, 2, 3}, "tabular (auto 1), point-cloud (auto 2) and explicit (3) models"


def test_gpus_only_for_training_that_uses_them(submits):
    gpu_requests = {(s["rule"], s["wildcards"].get("task"), s["wildcards"].get("model")): s["submit"].get("request_gpus")
                    for s in submits}
    for (rule, task, model), gpus in gpu_requests.items():
        if rule not in TRAINING_RULES:
            assert gpus is None, f"{rule} asks for a GPU"
        elif (task, model) == ("dilepton", "dnn"):
            assert gpus is None, "a model with device: cpu must not ask for a GPU"
        elif (task, model) == ("jets", "pfn"):
            assert gpus == "2"
        else:
            assert gpus == "1", (task, model)
    train = [s for s in submits if s["rule"] in TRAINING_RULES]
    assert {s["rule"] for s in train} == TRAINING_RULES  # the mini config has all three kinds
    assert {s["submit"]["MY.JobFlavour"] for s in train} == {'"tomorrow"'}


def test_train_rule_launches_one_process_per_gpu(overrides, planned):
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1024", "--configfile", "configs/mini.yaml",
         str(overrides)],
        cwd=REPO, capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    commands = [line for line in res.stdout.splitlines() if " train --config " in line]
    assert len(commands) == planned["train"] + planned.get("train_fold", 0)
    nproc = {re.search(r"--model (\w+)", c).group(1) + "@" + re.search(r"--task (\w+)", c).group(1):
             re.search(r"--nproc (\d+)", c).group(1) for c in commands}
    assert nproc["pfn@jets"] == "2"
    assert nproc["dnn@dilepton"] == "0"  # device: cpu -> no GPU -> one process
    assert nproc["particle_transformer@jets"] == "1"
