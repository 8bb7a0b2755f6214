"""RNTuple and TTree alike: one mini ntuple written as a TTree and as RNTuples (flat NanoAOD names,
and CMSSW-style collections ``Jet.pt``) gives bit-identical features for every feature set.

uproot >= 5.6 reads RNTuple; the installed uproot (5.7) also writes it (``mkrntuple``), so the
RNTuple files are written here with the same events as the TTree.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from dl4hep.config import analysis_from_dict
from dl4hep.features.api import build_features
from dl4hep.io.inspect import describe_file
from dl4hep.io.reader import ChunkReader
from dl4hep.io.runs import read_run_info
from dl4hep.io.schema import load_input_schema
from tests.paths import REPO
from tests.unit._compare import assert_same_bits
from tests.unit._root_fixtures import generated_events

N_EVENTS = 80
RUNS = {"run": np.array([1, 1], np.uint32), "genEventCount": np.array([50, 30], np.int64),
        "genEventSumw": np.array([50.0, 30.0]), "genCrossSection": np.array([2.0, 4.0])}


def _flat(ev: dict) -> dict:
    """NanoAOD layout: counter nX and one jagged column X_field per collection field."""
    out = {}
    for key, value in ev.items():
        if isinstance(value, ak.Array) and value.fields:
            out[f"n{key}"] = ak.values_astype(ak.num(value), np.int32)
            out.update({f"{key}_{f}": value[f] for f in value.fields})
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def ntuples(tmp_path_factory) -> dict[str, Path]:
    """The same events as a TTree, a flat RNTuple and a collection RNTuple (Runs likewise)."""
    d = tmp_path_factory.mktemp("rntuple")
    ev = generated_events(N_EVENTS, seed=5)
    paths = {k: d / f"{k}.root" for k in ("ttree", "rntuple", "rntuple_collections")}
    with uproot.recreate(paths["ttree"]) as f:
        f.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in ev.items()})
        f["Events"].extend(ev)
        f["Runs"] = RUNS
    with uproot.recreate(paths["rntuple"]) as f:
        f.mkrntuple("Events", _flat(ev))
        f.mkrntuple("Runs", RUNS)
    with uproot.recreate(paths["rntuple_collections"]) as f:
        f.mkrntuple("Events", ev)
        f.mkrntuple("Runs", RUNS)
    return paths


def test_files_hold_what_the_test_claims(ntuples):
    assert uproot.open(ntuples["ttree"]).classnames()["Events;1"] == "TTree"
    for key in ("rntuple", "rntuple_collections"):
        assert uproot.open(ntuples[key]).classnames()["Events;1"].endswith("RNTuple")
    assert "Jet.pt" in uproot.open(ntuples["rntuple_collections"])["Events"].keys()  # noqa: SIM118


@pytest.mark.parametrize(
    ("task", "sample"), [("dilepton", "hww"), ("jets", "top"), ("egamma", "photon")]
)
def test_features_are_bit_identical(ntuples, tmp_path, task, sample):
    cfg = analysis_from_dict({"config_dir": str(REPO / "configs"), "output": str(tmp_path),
                              "tasks": {task: {"reading": {"step_size": 30}}}})
    outs = {}
    for key, path in ntuples.items():
        outs[key] = tmp_path / f"{key}.parquet"
        summary = build_features(config=cfg, task=task, sample=sample, input_path=path, out=outs[key])
        assert summary["entries"] == N_EVENTS and summary["chunks"] == 3
    ref = ak.from_parquet(outs["ttree"])
    assert len(ref) > 0
    meta_ref = json.loads(pq.read_schema(outs["ttree"]).metadata[b"dl4hep"])
    for key in ("rntuple", "rntuple_collections"):
        assert_same_bits(ak.from_parquet(outs[key]), ref)
        meta = json.loads(pq.read_schema(outs[key]).metadata[b"dl4hep"])
        assert {k: v for k, v in meta.items() if k != "inputs"} == {k: v for k, v in meta_ref.items() if k != "inputs"}
    assert meta_ref["n_events"] == 80 and meta_ref["cross_section_pb"] == pytest.approx((2 * 50 + 4 * 30) / 80)


def test_reader_records_are_bit_identical(ntuples):
    schema = load_input_schema("generated", config_dir=REPO / "configs", where="t")
    needs = {"jets": {"pt": True, "eta": True, "phi": True, "mass": True, "btag": True},
             "met": {"pt": True, "phi": True}, "fatjets": {"pt": True, "is_matched": False}}
    records = {k: ChunkReader(p, schema, needs, step_size=25).read_all() for k, p in ntuples.items()}
    for key in ("rntuple", "rntuple_collections"):
        assert_same_bits(records[key], records["ttree"])
    runs = {k: read_run_info(p, schema) for k, p in ntuples.items()}
    assert runs["rntuple"]["sum_weights"] == runs["ttree"]["sum_weights"] == 80.0


def test_inspect_lists_rntuple_fields(ntuples):
    text = describe_file(ntuples["rntuple"], pattern="Electron_p*")
    assert "rntuple 'Events': 80 entries" in text and "rntuple 'Runs': 2 entries" in text
    assert "Electron_pt" in text and "std::vector<float>" in text and "RNTuple field (jagged)" in text
    assert "Electron_eta" not in text
    text = describe_file(ntuples["rntuple_collections"], tree="Events", pattern="Jet*")
    assert "Jet.pt" in text and "Jet.btag" in text and "collection" in text
    assert "no TTree" not in describe_file(ntuples["rntuple"])


@pytest.mark.reliability
def test_rntuple_missing_field_and_wrong_jaggedness_are_named(ntuples):
    schema = load_input_schema("generated", config_dir=REPO / "configs", where="t")
    schema.collections["jets"].fields["btag"] = "Jet_btga"
    with pytest.raises(KeyError, match=r"branch 'Jet_btga' not found in tree 'Events' of .*rntuple\.root\. Did you mean"):
        ChunkReader(ntuples["rntuple"], schema, {"jets": {"btag": True}})
    schema.collections["jets"].fields["btag"] = "MET_pt"
    with pytest.raises(OSError, match=r"branch 'MET_pt' .* holds one value per entry"):
        ChunkReader(ntuples["rntuple_collections"], schema, {"jets": {"btag": True}})
