"""build_features end to end: real CMS files, generated-layout fixtures, selection, empty output, memory."""

import json
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from dl4hep.errors import ConfigError
from dl4hep.features.api import build_features
from dl4hep.features.selection import compile_selection
from dl4hep.validate import checked_from_dict
from tests.paths import REAL_DATA

ROOT = Path(__file__).resolve().parents[2]
REAL = REAL_DATA
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _root_fixtures import write_generated  # noqa: E402


def make_config(tmp_path, *, input, features, files, selection=None, options=None, model="dnn", step=50_000,
                truth=False):
    task = {"input": input, "features": features, "classes": ["a", "b"], "reading": {"step_size": step},
            "samples": {"sa": {"label": "a", "files": [str(files)], "require_truth_match": truth},
                        "sb": {"label": "b", "files": [str(files)]}},
            "models": {model: {}}}
    if selection:
        task["selection"] = selection
    if options:
        task["feature_options"] = options
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return checked_from_dict({"config_dir": str(ROOT / "configs"),
                               "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}}})


def run(cfg, path, out):
    return build_features(config=cfg, task="t", sample="sa", input_path=path, out=out)


def test_pfnano_jets_end_to_end(tmp_path):
    cfg = make_config(tmp_path, input="pfnano", features=["jet_point_cloud", "jet_substructure"],
                      files=REAL / "pfnano.root", selection="pt > 250 and abs(eta) < 2", model="particlenet",
                      options={"jet_point_cloud": {"max_particles": 32}}, step=3)
    out = tmp_path / "f.parquet"
    summary = run(cfg, REAL / "pfnano.root", out)
    assert summary["chunks"] == 4 and summary["rows_in"] == 24 and 0 < summary["rows_out"] < 24
    arr = ak.from_parquet(out)
    assert len(arr) == summary["rows_out"]
    assert str(arr.type.content.fields) and ak.all(arr.observers.pt > 250)
    assert np.asarray(arr.points).shape == (len(arr), 32, 17) and arr.points_mask.type.content.size == 32
    meta = json.loads(pq.read_schema(out).metadata[b"dl4hep"])
    assert meta["max_points"] == 32 and meta["feature_sets"] == ["jet_point_cloud", "jet_substructure"]
    assert "tau21" in meta["tabular"] and len(meta["points"]) == 17
    assert (out.parent / "f.parquet.provenance.json").exists()
    # same rows in both sets: tabular pt equals observer pt
    np.testing.assert_array_equal(arr.tabular.pt, arr.observers.pt)


def test_nanoaod_dilepton_and_photon_end_to_end(tmp_path):
    cfg = make_config(tmp_path, input="nanoaod", features=["dilepton_kinematics"],
                      files=REAL / "nano_tt_v12.root", selection="n_leptons >= 2")
    s = run(cfg, REAL / "nano_tt_v12.root", tmp_path / "dl.parquet")
    assert s["rows_in"] == 200 and 0 < s["rows_out"] < 200
    arr = ak.from_parquet(tmp_path / "dl.parquet")
    assert not np.any(np.isnan(arr.tabular.mll)) and arr.weight.type.content.primitive == "float64"
    cfg = make_config(tmp_path, input="nanoaod", features=["nanoaod_photon"], files=REAL / "nano_dy.root")
    s = run(cfg, REAL / "nano_dy.root", tmp_path / "ph.parquet")
    arr = ak.from_parquet(tmp_path / "ph.parquet")
    assert len(arr) == s["rows_out"] > 0 and set(arr.tabular.fields) == {"sieie", "r9", "hoe", "iso", "pt", "eta"}


def test_generated_all_sets_truth_and_nan(tmp_path):
    path = write_generated(tmp_path / "gen.root", n_events=30)
    cfg = make_config(tmp_path, input="generated", features=["shower_shapes"], files=path, truth=True,
                      selection="energy > 5", model="hit_gnn")
    s = run(cfg, path, tmp_path / "eg.parquet")
    arr = ak.from_parquet(tmp_path / "eg.parquet")
    assert s["rows_truth"] < s["rows_in"] and ak.all(arr.truth_match) and ak.all(arr.observers.energy > 5)
    cfg = make_config(tmp_path, input="generated", features=["dilepton_kinematics"], files=path)
    s = run(cfg, path, tmp_path / "dl.parquet")
    arr = ak.from_parquet(tmp_path / "dl.parquet")
    assert s["rows_out"] == 30 and np.any(np.isnan(arr.tabular.mll))  # NaN passes through (dataset stage policy)


def test_empty_selection_writes_schema(tmp_path, caplog):
    cfg = make_config(tmp_path, input="pfnano", features=["jet_substructure"], files=REAL / "pfnano.root",
                      selection="pt > 1e9")
    s = run(cfg, REAL / "pfnano.root", tmp_path / "e.parquet")
    assert s["rows_out"] == 0 and "0 rows" in caplog.text
    arr = ak.from_parquet(tmp_path / "e.parquet")
    assert len(arr) == 0 and "tau21" in arr.tabular.fields


def test_bad_selection_name(tmp_path):
    # the config check (dl4hep.validate) rejects it already when the config is loaded
    with pytest.raises(ConfigError, match=r"tasks.t.selection: unknown name 'ptt'.*Did you mean 'pt'"):
        cfg = make_config(tmp_path, input="pfnano", features=["jet_substructure"], files=REAL / "pfnano.root",
                          selection="ptt > 1")
        run(cfg, REAL / "pfnano.root", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_selection_language_is_safe():
    sel = compile_selection("500 < pt < 1000 and not abs(eta) > 2 or -x / 2 > sqrt(4)", ["pt", "eta", "x"])
    got = sel({"pt": np.array([600.0, 100, 100]), "eta": np.array([0.0, 0, 0]), "x": np.array([0.0, -10, 0])})
    assert got.tolist() == [True, True, False]
    for bad in ("__import__('os').system('ls')", "pt.real > 1", "[pt][0] > 1", "pt if pt else eta"):
        with pytest.raises(ConfigError, match="not allowed|must be one of"):
            compile_selection(bad, ["pt", "eta"])


_MEM_SCRIPT = """
import sys, tracemalloc, yaml
from pathlib import Path
sys.path[:0] = [{tests!r}, {repo!r}]
from test_features_api import make_config
from dl4hep.features.api import build_features
tmp = Path({tmp!r}); path = Path(sys.argv[1])
cfg = make_config(tmp, input="generated", features=["jet_point_cloud"], files=path, step=200, model="pfn")
tracemalloc.start()
build_features(config=cfg, task="t", sample="sa", input_path=path, out=tmp / (path.stem + ".parquet"))
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.slow
@pytest.mark.reliability
def test_memory_bounded_by_chunk_size(tmp_path):
    small = write_generated(tmp_path / "x1.root", n_events=200, repeat=1)
    big = write_generated(tmp_path / "x10.root", n_events=200, repeat=10)
    peaks = []
    for p in (small, big):
        d = tmp_path / p.stem
        d.mkdir()
        script = _MEM_SCRIPT.format(tests=str(Path(__file__).parent), repo=str(ROOT), tmp=str(d))
        res = subprocess.run([sys.executable, "-c", script, str(p)], capture_output=True, text=True, check=True)
        peaks.append(int(res.stdout.strip().splitlines()[-1]))
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_declared_columns_beside_a_python_set_feed_selection_and_observers(tmp_path):
    cfg = make_config(tmp_path, input="nanoaod", features=["dilepton_kinematics", "columns"],
                      files=REAL / "nano_tt_v12.root", selection="n_leptons >= 2 and n_bjets_decl >= 1",
                      options={"columns": {"columns": {
                          "n_bjets_decl": {"expr": "n(jets, btag > 0.3086 and pt > 30)", "use": "observer"},
                          "j1_pt": {"expr": "jets[0].pt", "use": "both", "fill": 0}}}})
    out = tmp_path / "c.parquet"
    summary = run(cfg, REAL / "nano_tt_v12.root", out)
    arr = ak.from_parquet(out)
    assert 0 < summary["rows_out"] < summary["rows_in"] == 200
    assert ak.all(arr.observers.n_bjets_decl >= 1) and ak.all(arr.observers.n_leptons >= 2)
    assert ak.all(arr.tabular.j1_pt == arr.observers.j1_pt) and "mll" in arr.tabular.fields
    meta = json.loads(pq.read_schema(out).metadata[b"dl4hep"])
    assert meta["feature_sets"] == ["dilepton_kinematics", "columns"] and meta["tabular"][-1] == "j1_pt"
