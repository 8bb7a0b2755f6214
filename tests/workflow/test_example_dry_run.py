"""The README's "my own NanoAOD analysis" config plans every stage, the `apply` rule for its `label: null` sample
included (the chain itself runs through the library in tests/unit/test_apply.py)."""

from __future__ import annotations

import pytest

from tests.workflow.test_dry_run import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # Snakemake subprocesses: seconds each


def test_example_config_plans_apply_jobs_for_label_null_data(repo, tmp_path):
    res = snakemake(
        repo,
        "-n",
        "--configfile",
        "configs/examples/nanoaod_analysis.yaml",
        "--config",
        f"output={tmp_path}/out",
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    text = res.stdout + res.stderr
    job_counts = {
        line.split()[0]: int(line.split()[1])
        for line in text.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    # two labelled samples -> features; the label: null sample's two files -> one apply job each
    assert (
        job_counts.get("features") == 2
        and job_counts.get("apply") == 2
        and job_counts.get("train") == 1
    )
    assert f"{tmp_path}/out/applied/dy_vs_tt/dnn/data/file1.parquet" in text
    assert not (tmp_path / "out").exists()
