"""``files_per_job`` in the workflow: a Snakemake dry run plans one feature job per group of files,
hands each group over as an ``@list`` file, and keeps remote URLs out of Snakemake's ``input:``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.paths import REAL_DATA

pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # Snakemake subprocesses: seconds each


def test_dry_run_groups_files_and_passes_lists(repo, tmp_path):
    files = []
    for i in range(23):
        (tmp_path / f"f{i:02d}.root").touch()  # a dry run never opens them
        files.append(str(tmp_path / f"f{i:02d}.root"))
    urls = [f"root://eos.example.org//eos/cms/store/f{i}.root" for i in range(2)]
    lst = tmp_path / "dataset.txt"
    lst.write_text("# a dataset query's output\n" + "\n".join(files + urls) + "\n")
    cfg = tmp_path / "groups.yaml"
    cfg.write_text(yaml.safe_dump({
        "output": str(tmp_path / "out"),
        "tasks": {"dilepton": {"input": "nanoaod", "models": {"dnn": {}}, "samples": {
            "hww": {"generator": None, "files": [f"@{lst}"], "files_per_job": 10, "cross_section": 1.0},
            "ttbar": {"generator": None, "files": [str(REAL_DATA / "nano_tt_v12.root")], "cross_section": 88.3}}}},
    }))
    env = dict(os.environ, CONDOR_CONFIG=os.environ.get("CONDOR_CONFIG", "/dev/null"))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--configfile", str(cfg)], cwd=repo,
                         capture_output=True, text=True, timeout=300, env=env)
    text = res.stdout + res.stderr
    assert res.returncode == 0, text[-3000:]
    assert re.search(r"^features\s+4$", text, re.M), text[-3000:]  # 25 files / 10 = 3 groups + 1 ttbar file
    lists = re.findall(r"--input @(\S+\.txt)", text)
    assert len(set(lists)) == 3
    read = [Path(repo / p).read_text().splitlines() for p in sorted(set(lists), key=lambda p: text.index(p))]
    for p in set(lists):
        (repo / p).unlink()  # they name this test's temporary files
    assert sorted(sum(read, [])) == sorted(files + urls)
    assert "group2.parquet" in text and "--input " + str(REAL_DATA / "nano_tt_v12.root") in text
    assert not (tmp_path / "out").exists()
