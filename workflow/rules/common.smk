# Config loading, validation and the shared plan. Logic lives in dl4hep.plan.
import os
import shlex
import sys

import yaml
from snakemake.utils import validate

from dl4hep.config import config_digest, deep_merge, load_yaml
from dl4hep.plan import SPLITS, Plan
from dl4hep.validate import checked_from_dict

# The checkout this file belongs to (also when used as a `module` from another directory):
# default configs are resolved here, not in the working directory.
WORKFLOW_ROOT = Path(os.fspath(workflow.current_basedir)).resolve().parents[1]

# `configfile:` would deep-merge configs/config.yaml under every --configfile,
# so a config could never drop a task: load the default only when none names tasks.
if "tasks" not in config:
    config.update(deep_merge(load_yaml(WORKFLOW_ROOT / "configs" / "config.yaml"), config))
config.setdefault("config_dir", str(WORKFLOW_ROOT / "configs"))

validate(config, "../schemas/config.schema.json", set_default=False)
ANALYSIS = checked_from_dict(dict(config), source="the Snakemake config")
PLAN = Plan(ANALYSIS)
OUT = ANALYSIS.output

# Every job reads the same merged config, stored under its content hash so a
# changed config never reuses a stale file (jobs see exactly what was validated).
_CONFIG_DIR = Path(".snakemake/dl4hep")
_CONFIG_DIR.mkdir(parents=True, exist_ok=True)
CONFIG = str(_CONFIG_DIR / f"config-{config_digest(dict(config))}.yaml")
if not Path(CONFIG).exists():
    Path(CONFIG).write_text(yaml.safe_dump(dict(config), sort_keys=False))

# The dl4hep CLI of the Python running Snakemake (works without an activated venv).
DL4HEP = f"{sys.executable} -m dl4hep"

TASKS = list(ANALYSIS.tasks)
SAMPLES = [s for t in ANALYSIS.tasks.values() for s in t.samples]
MODELS = sorted({m for t in ANALYSIS.tasks.values() for m in t.models})


wildcard_constraints:
    task="|".join(TASKS),
    sample="|".join(SAMPLES),
    model="|".join(MODELS),
    chunk=r"\d+",
    part=r"(chunk|file|group)\d+",
    split="|".join(SPLITS),


def task_priority(wildcards):
    """Tasks go through generation, features, dataset and training in the config's order (first task
    highest), so the first task's models reach their plots (predict and evaluate_model: priority 50)
    while later tasks still generate, instead of every task finishing generation first."""
    return len(TASKS) - TASKS.index(wildcards.task)


def model_threads(wildcards):
    """CPU threads of a model's training and prediction jobs (training.threads, auto: by input block)."""
    return ANALYSIS.model(wildcards.task, wildcards.model).cpu_threads()


def train_gpus(wildcards):
    """GPUs the training job asks for: training.gpus, 0 when the model is pinned to CPU."""
    training = ANALYSIS.model(wildcards.task, wildcards.model).training
    return 0 if training.device == "cpu" else training.gpus
