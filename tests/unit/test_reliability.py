"""Bad inputs through the command line: a clear message naming the file, tree, branch or key,
exit status 2, and no output (partial or complete) left behind. Run with ``pytest -m reliability``."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from dl4hep.cli import EXIT_USER_ERROR, main
from tests.unit._root_fixtures import generated_events, write_generated

pytestmark = pytest.mark.reliability


def _config(tmp_path: Path, **task_overrides) -> Path:
    """A dilepton-only config (mini statistics) with overrides of the dilepton task."""
    raw = yaml.safe_load(Path("configs/mini.yaml").read_text())
    raw["output"] = str(tmp_path / "results")
    dilepton = raw["tasks"]["dilepton"]
    dilepton.update(task_overrides)
    raw["tasks"] = {"dilepton": dilepton}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _features(capsys, cfg: Path, src: Path, out: Path) -> tuple[int, str]:
    return _run(capsys, "features", "--config", cfg, "--task", "dilepton", "--sample", "hww",
                "--input", src, "--out", out)


def _no_output(directory: Path) -> bool:
    return not directory.exists() or not any(directory.rglob("*"))


@pytest.fixture
def cfg(at_repo, tmp_path):
    return _config(tmp_path)


# ------------------------------------------------------------------ ROOT inputs


def test_corrupt_root_file(cfg, tmp_path, capsys, real_data):
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, real_data / "bad_delphes.root", out)
    assert code == EXIT_USER_ERROR
    assert "bad_delphes.root" in err
    assert _no_output(out.parent)


def test_truncated_root_file(at_repo, tmp_path, capsys, real_data):
    full = real_data / "nano_tt_v12.root"
    cut = tmp_path / "truncated.root"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    cfg = _config(tmp_path, input="nanoaod")
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, cut, out)
    assert code == EXIT_USER_ERROR
    assert "truncated.root" in err
    assert _no_output(out.parent)


def test_file_that_is_not_root(cfg, tmp_path, capsys):
    fake = tmp_path / "notes.root"
    fake.write_text("this is a text file, not ROOT\n" * 20)
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, fake, out)
    assert code == EXIT_USER_ERROR
    assert "notes.root" in err
    assert _no_output(out.parent)


def test_missing_file(cfg, tmp_path, capsys):
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, tmp_path / "nowhere.root", out)
    assert code == EXIT_USER_ERROR
    assert "nowhere.root" in err
    assert _no_output(out.parent)


def _schema_with(tmp_path: Path, **changes) -> Path:
    schema = yaml.safe_load(Path("configs/inputs/generated.yaml").read_text())
    for dotted, value in changes.items():
        node = schema
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    return path


def test_missing_branch_suggests_the_closest(at_repo, tmp_path, capsys):
    schema = _schema_with(tmp_path, **{"collections.jets.fields.btag": "Jet_btga"})
    cfg = _config(tmp_path, input=str(schema))
    src = write_generated(tmp_path / "gen.root")
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, src, out)
    assert code == EXIT_USER_ERROR
    assert "'Jet_btga' not found in tree 'Events'" in err and "gen.root" in err
    assert "Did you mean" in err and "'Jet_btag'" in err.split("Did you mean")[1]
    assert "jets.btag" in err
    assert _no_output(out.parent)


def test_missing_tree_lists_the_trees(at_repo, tmp_path, capsys):
    cfg = _config(tmp_path, input=str(_schema_with(tmp_path, tree="Evnts")))
    src = write_generated(tmp_path / "gen.root")
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, src, out)
    assert code == EXIT_USER_ERROR
    assert "Evnts" in err and "Events" in err and "gen.root" in err
    assert _no_output(out.parent)


def test_branch_of_the_wrong_jaggedness(at_repo, tmp_path, capsys):
    # MET_pt mapped as a field of the jagged jet collection: a scalar where a list is expected
    cfg = _config(tmp_path, input=str(_schema_with(tmp_path, **{"collections.jets.fields.pt": "MET_pt"})))
    src = write_generated(tmp_path / "gen.root")
    out = tmp_path / "out" / "f.parquet"
    code, err = _features(capsys, cfg, src, out)
    assert code == EXIT_USER_ERROR
    assert "MET_pt" in err
    assert _no_output(out.parent)


# ------------------------------------------------------------------ empty inputs and selections


def _features_then_dataset(capsys, cfg: Path, tmp_path: Path, files: dict[str, Path]) -> tuple[int, str, Path]:
    inputs = []
    for sample, src in files.items():
        out = tmp_path / "features" / f"{sample}.parquet"
        code, err = _run(capsys, "features", "--config", cfg, "--task", "dilepton", "--sample", sample,
                         "--input", src, "--out", out)
        assert code == 0, err
        inputs += ["--input", sample, out]
    ds = tmp_path / "dataset"
    code, err = _run(capsys, "dataset", "--config", cfg, "--task", "dilepton", *inputs, "--out-dir", ds)
    return code, err, ds


def test_zero_entry_file_is_skipped_then_a_missing_class_fails(cfg, tmp_path, capsys):
    empty = write_generated(tmp_path / "empty.root", repeat=0)
    good = write_generated(tmp_path / "good.root", n_events=300)
    code, err, ds = _features_then_dataset(capsys, cfg, tmp_path, {"hww": empty, "ttbar": good})
    assert code == EXIT_USER_ERROR
    assert "hww" in err
    assert not ds.exists()


def test_selection_keeping_zero_events_fails_at_the_dataset(at_repo, tmp_path, capsys):
    cfg = _config(tmp_path, selection="n_leptons >= 2 and mll > 1e9")
    src = write_generated(tmp_path / "gen.root", n_events=100)
    code, err, ds = _features_then_dataset(capsys, cfg, tmp_path, {"hww": src, "ttbar": src})
    assert code == EXIT_USER_ERROR
    assert "no rows" in err or "empty" in err
    assert not ds.exists()


def test_nan_features_fail_or_are_counted(at_repo, tmp_path, capsys, caplog):
    ev = generated_events(300, seed=3)
    pt = ak.to_numpy(ak.flatten(ev["Electron"].pt)).copy()
    pt[::7] = np.nan
    ev["Electron"] = ak.with_field(ev["Electron"], ak.unflatten(pt, ak.num(ev["Electron"])), "pt")
    src = tmp_path / "nan.root"
    with uproot.recreate(src) as f:
        f.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in ev.items()})
        f["Events"].extend(ev)
    good = write_generated(tmp_path / "good.root", n_events=300, seed=4)

    strict = _config(tmp_path, dataset={"nan_policy": "fail"})
    code, err, ds = _features_then_dataset(capsys, strict, tmp_path, {"hww": src, "ttbar": good})
    assert code == EXIT_USER_ERROR
    assert "NaN" in err or "non-finite" in err
    assert "l1_" in err or "mll" in err
    assert not ds.exists()

    shutil.rmtree(tmp_path / "features")
    lenient = _config(tmp_path, dataset={"nan_policy": "drop"})
    with caplog.at_level("INFO"):
        code, err, ds = _features_then_dataset(capsys, lenient, tmp_path, {"hww": src, "ttbar": good})
    assert code == 0, err
    meta = __import__("json").loads((ds / "meta.json").read_text())
    dropped = meta["nan_dropped"]
    assert dropped and max(dropped.values()) > 0


def test_single_class_dataset_fails(cfg, tmp_path, capsys):
    src = write_generated(tmp_path / "gen.root", n_events=200)
    out = tmp_path / "features" / "hww.parquet"
    code, err = _features(capsys, cfg, src, out)
    assert code == 0, err
    ds = tmp_path / "dataset"
    code, err = _run(capsys, "dataset", "--config", cfg, "--task", "dilepton", "--input", "hww", out, "--out-dir", ds)
    assert code == EXIT_USER_ERROR
    assert "ttbar" in err
    assert not ds.exists()


def test_malformed_parquet_fails_the_dataset(cfg, tmp_path, capsys, real_data):
    ds = tmp_path / "dataset"
    bad = real_data / "nano_dy_malformed.parquet"
    code, err = _run(capsys, "dataset", "--config", cfg, "--task", "dilepton",
                     "--input", "hww", bad, "--input", "ttbar", bad, "--out-dir", ds)
    assert code == EXIT_USER_ERROR
    assert "nano_dy_malformed.parquet" in err
    assert not ds.exists()


def test_failed_rerun_keeps_previous_output(cfg, tmp_path, capsys, real_data):
    out = tmp_path / "out" / "f.parquet"
    out.parent.mkdir()
    out.write_bytes(b"previous result")
    code, _ = _features(capsys, cfg, real_data / "bad_delphes.root", out)
    assert code == EXIT_USER_ERROR
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.parquet"]


# ------------------------------------------------------------------ config mistakes


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"selecton": "n_leptons >= 2"}, r"unknown key 'tasks.dilepton.selecton'.*Did you mean 'selection'"),
        ({"samples": {"hww": {"chunks": "two"}}}, r"tasks.dilepton.samples.hww.chunks"),
        ({"features": ["dilepton_kinematic"]}, r"dilepton_kinematic.*Did you mean 'dilepton_kinematics'"),
        ({"input": "nanoad"}, r"nanoad.*Did you mean.*'nanoaod'"),
        ({"models": {"dnn": {"type": "dnnn"}}}, r"dnnn.*Did you mean 'dnn'"),
        ({"models": {"pfn": {}}}, r"models.pfn.inputs is 'points'.*provide only \['tabular'\]"),
        ({"models": {"dnn": {"hyperparameters": {"hiden": [8]}}}}, r"hiden.*Did you mean 'hidden'"),
        ({"selection": "n_leptons >= 2 and __import__('os')"}, r"selection"),
        ({"selection": "n_lepton >= 2"}, r"n_lepton.*Did you mean 'n_leptons'"),
    ],
)
def test_config_mistakes_are_rejected_naming_the_key(at_repo, tmp_path, capsys, override, expected):
    cfg = _config(tmp_path, **override)
    code, err = _run(capsys, "check-config", "--config", cfg)
    if "selection" in override and code == 0:
        # selections are checked against the feature names when features are built
        src = write_generated(tmp_path / "gen.root")
        code, err = _features(capsys, cfg, src, tmp_path / "out" / "f.parquet")
    assert code == EXIT_USER_ERROR, err
    import re

    assert re.search(expected, err, re.S), err
    assert not (tmp_path / "results").exists()
    assert _no_output(tmp_path / "out")
