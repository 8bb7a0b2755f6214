# What every job gets: the dl4hep command line and the resources each executor reads.
import shlex
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod


class ShellArg:
    """A shell-command fragment handed to rules as a param (`{params.dl4hep}`).

    Snakemake re-runs a job when a recorded param changes, and records only values it can
    repr faithfully (builtins). An object like this is not recorded, so a new interpreter path
    or a new merged-config file name (it carries the hash of the whole config) never re-runs
    a job; the per-stage digests in params do that, stage by stage (dl4hep.plan).
    """

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def _dl4hep_command():
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        # the job's conda env (workflow/envs/dl4hep.yaml) has the dependencies; the package
        # itself is this workflow's source tree, which needs no install
        src = shlex.quote(str(WORKFLOW_ROOT / "src"))
        return f"env PYTHONPATH={src}${{PYTHONPATH:+:$PYTHONPATH}} python -m dl4hep"
    return DL4HEP


DL4HEP_ARG = ShellArg(_dl4hep_command())
CONFIG_ARG = ShellArg(shlex.quote(CONFIG))
CONDA_ENV = "../envs/dl4hep.yaml"

#: lxplus +JobFlavour and its wall-time limit in minutes (CERN batch docs), shortest first.
JOB_FLAVOURS = {
    "espresso": 20,
    "microcentury": 60,
    "longlunch": 120,
    "workday": 480,
    "tomorrow": 1440,
    "testmatch": 4320,
    "nextweek": 10080,
}


def job_flavour(runtime):
    """The shortest lxplus flavour whose limit covers `runtime` minutes."""
    for name, limit in JOB_FLAVOURS.items():
        if runtime <= limit:
            return name
    return "nextweek"


def job_resources(*, mem_mb, runtime, gpu=0):
    """A rule's resources: Snakemake's standard ones plus what HTCondor reads, derived from them.

    SLURM and the local executor read mem_mb, runtime and gpu (cpus = the rule's threads). The
    HTCondor plugin ignores those and reads request_memory (MB), request_gpus and classad_*
    (request_cpus = threads), so they are derived here: one number per rule, every executor
    asks for the same. `gpu` may be a function of the wildcards (0: no GPU request at all).
    """
    res = dict(
        mem_mb=mem_mb,
        runtime=runtime,
        request_memory=mem_mb,
        classad_JobFlavour=job_flavour(runtime),
    )
    if gpu:
        res["gpu"] = gpu
        if callable(gpu):
            res["request_gpus"] = lambda wildcards: gpu(wildcards) or None
        else:
            res["request_gpus"] = gpu
    return res
