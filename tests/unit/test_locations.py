"""Input locations: URLs kept as strings, globs, @list files, file groups in the plan and the feature stage.

The remote side (root:// against a real xrootd server) is in tests/integration/test_xrootd.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import pyarrow.parquet as pq
import pytest
import yaml

from dl4hep.config import analysis_from_dict
from dl4hep.errors import InputFileError
from dl4hep.features.api import build_features
from dl4hep.io.locations import expand_entries, expand_entry, remote_error, restore_url
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema
from dl4hep.plan import Plan
from tests.paths import REPO
from tests.unit._compare import assert_same_bits

MINI = REPO / "data"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (Path("root://eosuser.cern.ch//eos/user/a/f.root"), "root://eosuser.cern.ch//eos/user/a/f.root"),
        ("root://eosuser.cern.ch//eos/user/a/f.root", "root://eosuser.cern.ch//eos/user/a/f.root"),
        (Path("root://localhost:1094//tmp/x/*.root"), "root://localhost:1094//tmp/x/*.root"),
        (Path("https://host.example/data/f.root"), "https://host.example/data/f.root"),
        ("file:///tmp/f.root", "/tmp/f.root"),
        (Path("/tmp/plain.root"), "/tmp/plain.root"),
    ],
)
def test_urls_survive_pathlib(given, expected):
    assert restore_url(given) == expected


def test_globs_lists_and_order(tmp_path):
    for name in ("b.root", "a.root", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    lst = tmp_path / "files.txt"
    lst.write_text("# a dataset query's output\n\nb.root\n  a.root  \n# trailing comment\n")
    assert expand_entry(str(tmp_path / "*.root"), where="") == [str(tmp_path / "a.root"), str(tmp_path / "b.root")]
    # list entries are relative to the list's folder and keep the list's order
    assert expand_entry(f"@{lst}", where="") == [str(tmp_path / "b.root"), str(tmp_path / "a.root")]
    assert expand_entry(Path("root://h:1//eos/f.root"), where="") == ["root://h:1//eos/f.root"]  # not contacted


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("glob_nothing", r"w: '.*/nothing\*\.root' matches no file \(working directory"),
        ("missing_file", r"w: file .*/absent\.root does not exist\. Did you mean 'present\.root'"),
        ("missing_folder", r"w: file .*/nofolder/x\.root does not exist \(folder .*nofolder does not exist"),
        ("directory", r"is a directory, not a file; use a glob"),
        ("missing_list", r"w: list file .*/nolist\.txt does not exist"),
        ("empty_list", r"list .*/empty\.txt holds no file \(only blank or # comment lines\)"),
        ("nested_list", r"list files cannot include other lists"),
        ("list_with_missing", r"w: .*/bad\.txt: file .*/gone\.root does not exist"),
        ("duplicate", r"'.*/present\.root' is listed twice"),
        ("binary_list", r"list file .*/binary\.txt is not text"),
    ],
)
def test_entries_that_match_nothing_fail_naming_the_entry(tmp_path, make, message):
    (tmp_path / "present.root").write_bytes(b"x")
    (tmp_path / "empty.txt").write_text("# nothing yet\n\n")
    (tmp_path / "inner.txt").write_text("present.root\n")
    (tmp_path / "outer.txt").write_text("@inner.txt\n")
    (tmp_path / "bad.txt").write_text("present.root\ngone.root\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00root")
    entries = {
        "glob_nothing": [tmp_path / "nothing*.root"],
        "missing_file": [tmp_path / "absent.root"],
        "missing_folder": [tmp_path / "nofolder" / "x.root"],
        "directory": [tmp_path],
        "missing_list": [f"@{tmp_path / 'nolist.txt'}"],
        "empty_list": [f"@{tmp_path / 'empty.txt'}"],
        "nested_list": [f"@{tmp_path / 'outer.txt'}"],
        "list_with_missing": [f"@{tmp_path / 'bad.txt'}"],
        "duplicate": [tmp_path / "present.root", f"@{tmp_path / 'inner.txt'}"],
        "binary_list": [f"@{tmp_path / 'binary.txt'}"],
    }[make]
    with pytest.raises(InputFileError, match=message) as info:
        expand_entries([str(e) for e in entries], where="w: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("said", "what", "hint"),
    [
        ("[FATAL] Connection error", "cannot reach the server", "retry later"),
        ("[FATAL] Invalid address", "cannot reach the server", "retry later"),
        ("[ERROR] Operation expired", "timed out", "retry later"),
        ("[ERROR] Server responded with an error: [3010] Unable to open /x; permission denied",
         "permission denied", "voms-proxy-init"),
        ("[ERROR] Server responded with an error: [3011] Unable to open /x; no such file or directory",
         "no such file on the server", "check the URL"),
        ("something\nunexpected", "remote read failed", "retry"),
    ],
)
def test_remote_errors_are_one_line_with_a_retry_hint(said, what, hint):
    msg = str(remote_error("root://h//eos/f.root", OSError(said)))
    assert msg.startswith(f"cannot read root://h//eos/f.root: {what}")
    assert hint in msg and "retry" in msg and "\n" not in msg


# --------------------------------------------------------------------------- plan: file groups


def _raw_config(files, files_per_job=1, output="results/x"):
    return {"output": output, "tasks": {"dilepton": {"samples": {
        "hww": {"generator": None, "files": files, "files_per_job": files_per_job, "cross_section": 1.0},
        "ttbar": {"generator": None, "files": [str(MINI / "mini_ttbar.root")], "cross_section": 1.0}}}}}


def test_plan_groups_files_into_jobs_and_lists_them(at_repo, tmp_path):
    for i in range(7):
        (tmp_path / f"f{i}.root").write_bytes(b"x")
    urls = [f"root://eos.example//store/f{i}.root" for i in range(3)]
    lst = tmp_path / "dataset.txt"
    lst.write_text("\n".join([*urls, str(tmp_path / "f*.root")]) + "\n")
    plan = Plan(analysis_from_dict(_raw_config([f"@{lst}"], files_per_job=4)), list_dir=str(tmp_path / "lists"))
    assert len(plan.user_files("dilepton", "hww")) == 10
    assert plan.parts("dilepton", "hww") == ["group0", "group1", "group2"]
    assert [len(g) for g in plan.file_groups("dilepton", "hww")] == [4, 4, 2]
    arg = plan.ntuple("dilepton", "hww", "group0")
    assert arg.startswith("@") and Path(arg[1:]).read_text().splitlines() == [*urls, str(tmp_path / "f0.root")]
    assert plan.ntuple("dilepton", "hww", "group0") == arg  # content-addressed: same list, same file
    # Snakemake tracks only the local files; remote URLs travel in the list
    assert plan.ntuple_files("dilepton", "hww", "group0") == [str(tmp_path / "f0.root")]
    assert plan.parts("dilepton", "ttbar") == ["file0"]
    assert plan.ntuple("dilepton", "ttbar", "file0").endswith("mini_ttbar.root")
    assert len(plan.task_features("dilepton")) == 4
    assert plan.check() == {"hww": 10, "ttbar": 1}


@pytest.mark.reliability
def test_files_per_job_needs_files(at_repo):
    raw = {"tasks": {"dilepton": {"samples": {"hww": {"files_per_job": 3}}}}}
    with pytest.raises(Exception, match="files_per_job applies to samples that read files"):
        analysis_from_dict(raw)


# --------------------------------------------------------------------------- the feature stage on a group


def _features_config(tmp_path):
    task = yaml.safe_load((REPO / "configs/tasks/dilepton.yaml").read_text())
    task["samples"] = {
        "hww": {"label": "hww", "generator": None, "files": [str(MINI / "mini_hww.root")]},
        "ttbar": {"label": "ttbar", "generator": None, "files": [str(MINI / "mini_ttbar.root")]},
    }
    task["selection"] = None
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return analysis_from_dict({"config_dir": str(REPO / "configs"), "output": str(tmp_path / "out"),
                               "tasks": {"dilepton": {"definition": str(tmp_path / "task.yaml")}}})


def test_one_feature_job_reads_a_group_and_names_every_input(tmp_path):
    cfg = _features_config(tmp_path)
    files = [MINI / "mini_hww.root", MINI / "mini_ttbar.root"]
    singles = []
    for i, f in enumerate(files):
        build_features(config=cfg, task="dilepton", sample="hww", input_path=f, out=tmp_path / f"single{i}.parquet")
        singles.append(ak.from_parquet(tmp_path / f"single{i}.parquet"))
    lst = tmp_path / "group.txt"
    lst.write_text("".join(f"{f}\n" for f in files))
    out = tmp_path / "group.parquet"
    summary = build_features(config=cfg, task="dilepton", sample="hww", input_path=f"@{lst}", out=out)
    assert_same_bits(ak.from_parquet(out), ak.concatenate(singles))
    meta = json.loads(pq.read_schema(out).metadata[b"dl4hep"])
    assert meta["inputs"] == [str(f) for f in files]
    assert meta["input_schemas"] == ["generated", "generated"]
    assert meta["n_events"] == sum(json.loads(pq.read_schema(tmp_path / f"single{i}.parquet").metadata[b"dl4hep"])
                                   ["n_events"] for i in range(2))
    provenance = (tmp_path / "group.parquet.provenance.json").read_text()
    assert all(str(f) in provenance for f in files)
    assert summary["entries"] == sum(ChunkReader(f, load_input_schema("generated", config_dir=REPO / "configs",
                                                                          where="t"), {}).num_entries for f in files)
