"""Record the submit description the HTCondor executor plugin builds for every job, without a pool.

    python tests/workflow/_htcondor_submits.py OUT.json SNAKEMAKE-ARGUMENTS...

Runs ``snakemake --dry-run SNAKEMAKE-ARGUMENTS`` (e.g. ``--profile workflow/profiles/lxplus-htcondor``)
in this process. Every job the dry run walks through is also handed to the plugin's own
``Executor.run_job``, with ``htcondor2.Schedd`` replaced by a recorder: the plugin builds and
parses its ``htcondor2.Submit`` exactly as for lxplus, and nothing is submitted. Only the
command line of the job (``format_job_exec``, which needs a running executor) is a stand-in.
OUT.json: one entry per job with the rule, wildcards, threads, Snakemake resources and the submit
description (``htcondor2.Submit`` keys, e.g. ``MY.JobFlavour`` for ``+JobFlavour``).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import types
from pathlib import Path

import htcondor2
import snakemake_executor_plugin_htcondor as plugin
from snakemake.executors import dryrun

RECORDS: list[dict] = []
_last_submit: list[dict] = []


class _RecordingSchedd:
    def submit(self, description):
        _last_submit.append({k: description[k] for k in description})
        return types.SimpleNamespace(cluster=lambda: len(_last_submit))


def _plugin_executor(workflow, jobdir: Path):
    ex = plugin.Executor.__new__(plugin.Executor)  # no wait thread, no schedd connection
    ex.workflow = workflow
    ex.dag = None
    ex.logger = logging.getLogger("htcondor-submits")
    ex.jobDir = str(jobdir)
    ex.shared_fs_prefixes = []
    ex._unified_log_file = str(jobdir / "snakemake-rules.log")
    ex.format_job_exec = lambda job: f"{sys.executable} -m snakemake --target-jobs {job.name}"
    ex.envvars = lambda: {}
    ex.report_job_submission = lambda info: None
    return ex


def main() -> int:
    out = Path(sys.argv[1])
    args = sys.argv[2:]
    plugin.htcondor.Schedd = _RecordingSchedd
    htcondor2.Submit.issue_credentials = lambda self: None
    scratch = tempfile.TemporaryDirectory(prefix="htcondor-submits-")
    jobdir = Path(scratch.name)
    original = dryrun.Executor.run_job

    def run_job(self, job):
        if not job.is_group() and job.rule.shellcmd:
            if not hasattr(self, "_htcondor"):
                self._htcondor = _plugin_executor(self.workflow, jobdir)
            self._htcondor.run_job(job)
            RECORDS.append({
                "rule": job.rule.name,
                "wildcards": dict(job.wildcards_dict),
                "threads": job.threads,
                "resources": {k: job.resources[k] for k in job.resources.keys() if not k.startswith("_")},  # noqa: SIM118 - iterating a ResourceList gives values
                "submit": _last_submit.pop(),
            })
        original(self, job)

    dryrun.Executor.run_job = run_job
    from snakemake.cli import main as snakemake_main

    sys.argv = ["snakemake", "--dry-run", "--quiet", "all", *args]
    try:
        snakemake_main()
        rc = 0
    except SystemExit as exit_:
        rc = int(exit_.code or 0)
    out.write_text(json.dumps(RECORDS, indent=1, default=str))
    scratch.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
