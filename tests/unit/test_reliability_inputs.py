"""Generated families of bad inputs, bad outputs and odd values, through the command line.

Every bad location or config must give one line naming it, exit status 2, no traceback and no
output; NaN/inf in input branches must be counted per file and branch and reported by the
feature stage. The cases are generated (products of locations x stages, branches x values), not
picked one by one. Remote (root://) failures: tests/integration/test_xrootd.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from dl4hep.cli import EXIT_USER_ERROR, main
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema
from tests.paths import REPO
from tests.unit._root_fixtures import generated_events

pytestmark = pytest.mark.reliability

MINI = REPO / "data"


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def _assert_clean_failure(code: int, err: str, *needles: str) -> None:
    assert code == EXIT_USER_ERROR, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def _config(tmp_path: Path, **dilepton) -> Path:
    raw = {"config_dir": str(REPO / "configs"), "output": str(tmp_path / "results"),
           "tasks": {"dilepton": {"samples": {"hww": {"chunks": 1, "events": 10},
                                              "ttbar": {"chunks": 1, "events": 10}}, **dilepton}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --------------------------------------------------------------------------- output locations x stages

#: Locations no user (root included) can create: (name, path builder, what the error says).
BAD_OUTPUTS = {
    "parent_is_a_file": (lambda t: t / "a_file" / "sub" / "x", "Not a directory"),
    "under_dev_null": (lambda t: Path("/dev/null") / "x", "Not a directory"),
    "in_proc": (lambda t: Path("/proc") / "dl4hep_no" / "x", "No such file or directory"),
    "name_too_long": (lambda t: t / ("n" * 300) / "x", "too long"),
}
STAGES = ("features", "dataset", "check-config")


@pytest.fixture(scope="module")
def feature_files(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    d = tmp_path_factory.mktemp("feat")
    cfg = _config(d)
    files = {}
    for sample in ("hww", "ttbar"):
        files[sample] = d / f"{sample}.parquet"
        assert main(["features", "--config", str(cfg), "--task", "dilepton", "--sample", sample,
                     "--input", str(MINI / f"mini_{sample}.root"), "--out", str(files[sample])]) == 0
    return cfg, files


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("where", sorted(BAD_OUTPUTS))
def test_output_locations_that_cannot_be_created(tmp_path, capsys, feature_files, stage, where):
    (tmp_path / "a_file").write_text("I am a file\n")
    make, says = BAD_OUTPUTS[where]
    target = make(tmp_path)
    cfg, files = feature_files
    if stage == "features":
        code, err = _run(capsys, "features", "--config", cfg, "--task", "dilepton", "--sample", "hww",
                         "--input", MINI / "mini_hww.root", "--out", target.with_suffix(".parquet"))
    elif stage == "dataset":
        code, err = _run(capsys, "dataset", "--config", cfg, "--task", "dilepton", "--input", "hww", files["hww"],
                         "--input", "ttbar", files["ttbar"], "--out-dir", target)
    else:
        raw = yaml.safe_load(Path(cfg).read_text())
        raw["output"] = str(target)
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
        code, err = _run(capsys, "check-config", "--config", tmp_path / "c.yaml")
    _assert_clean_failure(code, err, "cannot create output", says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "c.yaml"][: 1 + (stage == "check-config")]


# --------------------------------------------------------------------------- empty, file-less and unmatched configs


def _files_case(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A config whose hww sample lists ``case``'s files, and what its error must name."""
    (tmp_path / "empty.txt").write_text("# no files yet\n")
    (tmp_path / "gaps.txt").write_text(f"{MINI / 'mini_hww.root'}\n{tmp_path / 'gone.root'}\n")
    files, needle = {
        "empty_list_of_files": ([], "no input file given"),
        "glob_matching_nothing": ([str(tmp_path / "nothing" / "*.root")], "matches no file"),
        "missing_file": ([str(tmp_path / "gone.root")], "does not exist"),
        "empty_at_list": ([f"@{tmp_path / 'empty.txt'}"], "holds no file"),
        "missing_at_list": ([f"@{tmp_path / 'nolist.txt'}"], "list file"),
        "at_list_with_a_missing_file": ([f"@{tmp_path / 'gaps.txt'}"], "gone.root does not exist"),
        "same_file_twice": ([str(MINI / "mini_hww.root"), str(MINI / "mini_h*.root")], "listed twice"),
    }[case]
    sample = {"hww": {"generator": None, "files": files, "files_per_job": 2}}
    return _config(tmp_path, input="generated", samples=sample), needle


FILE_CASES = ["empty_list_of_files", "glob_matching_nothing", "missing_file", "empty_at_list", "missing_at_list",
              "at_list_with_a_missing_file", "same_file_twice"]


@pytest.mark.parametrize("case", FILE_CASES)
def test_config_files_that_match_nothing_fail_check_config(at_repo, tmp_path, capsys, case):
    cfg, needle = _files_case(tmp_path, case)
    code, err = _run(capsys, "check-config", "--config", cfg)
    _assert_clean_failure(code, err, "tasks.dilepton.samples.hww.files", needle)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("content", ["", "# nothing\n", "tasks: {}\n", "tasks:\n", "output: x\n"])
def test_empty_configs_fail_in_one_line(tmp_path, capsys, content):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text(content)
    for argv in (["check-config", "--config", cfg],
                 ["features", "--config", cfg, "--task", "dilepton", "--sample", "hww", "--input",
                  MINI / "mini_hww.root", "--out", tmp_path / "o" / "f.parquet"]):
        code, err = _run(capsys, *argv)
        _assert_clean_failure(code, err, "tasks")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("entry", ["missing_file", "glob_nothing", "empty_list", "directory"])
def test_feature_inputs_that_match_nothing(tmp_path, capsys, entry):
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    src = {"missing_file": tmp_path / "gone.root", "glob_nothing": tmp_path / "none_*.root",
           "empty_list": f"@{tmp_path / 'empty.txt'}", "directory": tmp_path}[entry]
    code, err = _run(capsys, "features", "--config", _config(tmp_path), "--task", "dilepton", "--sample", "hww",
                     "--input", src, "--out", tmp_path / "o" / "f.parquet")
    _assert_clean_failure(code, err, str(src).lstrip("@"))
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- NaN/inf in input branches

BRANCH_VALUES = [(branch, value) for branch in ("Electron_pt", "Muon_eta", "MET_pt", "Jet_btag")
                 for value in (np.nan, np.inf, -np.inf)]


def _with_bad_values(path: Path, branch: str, value: float, every: int = 5) -> tuple[Path, int]:
    """Write generated events with ``value`` in every ``every``-th entry of ``branch``; return (file, count)."""
    ev = generated_events(120, seed=11)
    coll, _, field = branch.partition("_")
    if coll in ev and isinstance(ev[coll], ak.Array) and ev[coll].fields:
        flat = ak.to_numpy(ak.flatten(ev[coll][field])).copy()
        flat[::every] = value
        ev[coll] = ak.with_field(ev[coll], ak.unflatten(flat, ak.num(ev[coll])), field)
        n = len(flat[::every])
    else:
        ev[branch] = np.asarray(ev[branch]).copy()
        ev[branch][::every] = value
        n = len(ev[branch][::every])
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in ev.items()})
        f["Events"].extend(ev)
    return path, n


@pytest.mark.parametrize(("branch", "value"), BRANCH_VALUES)
def test_nonfinite_input_values_are_counted_per_file_and_branch(tmp_path, capsys, caplog, branch, value):
    src, n = _with_bad_values(tmp_path / "odd.root", branch, value)
    schema = load_input_schema("generated", config_dir=REPO / "configs", where="t")
    needs = {"electrons": {"pt": True}, "muons": {"eta": True}, "met": {"pt": True}, "jets": {"btag": True}}
    reader = ChunkReader(src, schema, needs, step_size=50)
    for _ in reader:
        pass
    kind = "nan" if np.isnan(value) else "inf"
    assert reader.nonfinite == {str(src): {branch: {"nan": n * (kind == "nan"), "inf": n * (kind == "inf")}}}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dl4hep"):
        code, err = _run(capsys, "features", "--config", _config(tmp_path), "--task", "dilepton", "--sample", "hww",
                         "--input", src, "--out", tmp_path / "f.parquet")
    assert code == 0, err
    warned = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(warned) == 1 and str(src) in warned[0]
    assert f"{branch}: {n * (kind == 'nan')} NaN, {n * (kind == 'inf')} inf" in warned[0]
    prov = json.loads((tmp_path / "f.parquet.provenance.json").read_text())
    assert prov["summary"]["nonfinite"] == {str(src): {branch: {"nan": n * (kind == "nan"), "inf": n * (kind == "inf")}}}
    assert prov["summary"]["inputs"] == [str(src)]
