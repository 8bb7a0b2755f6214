"""Input schemas, validated reading and inspect, including bad inputs."""

from pathlib import Path

import numpy as np
import pytest
import uproot

from dl4hep.errors import BranchNotFoundError, ConfigError, InputFileError
from dl4hep.io.inspect import describe_file
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema
from tests.paths import REAL_DATA

ROOT = Path(__file__).resolve().parents[2]
REAL = REAL_DATA
CONFIGS = ROOT / "configs"
NEEDS = {"fatjets": {"pt": True, "eta": True, "phi": True, "mass": True, "msoftdrop": True}}


def schema(name="pfnano"):
    return load_input_schema(name, config_dir=CONFIGS, where="tasks.t.input")


def test_all_shipped_schemas_load():
    for name in ("generated", "nanoaod", "nanoaod_v9", "nanoaod_v12", "nanoaod_v15", "pfnano", "flat"):
        assert schema(name).tree
    assert list(schema("nanoaod").candidates) == ["nanoaod_v15", "nanoaod_v12", "nanoaod_v9"]


@pytest.mark.reliability
def test_detecting_schema_maps_nothing_itself(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "mixed.yaml").write_text("detect: [nanoaod_v12]\ncollections: {met: {fields: {pt: MET_pt}}}\n")
    with pytest.raises(ConfigError, match="a detecting schema .* takes collections and constants from its candidates"):
        load_input_schema("mixed", config_dir=tmp_path, where="tasks.t.input")
    (tmp_path / "inputs" / "nosig.yaml").write_text("detect: [generated]\n")
    for name in ("generated",):
        (tmp_path / "inputs" / f"{name}.yaml").write_text((CONFIGS / "inputs" / f"{name}.yaml").read_text())
    with pytest.raises(ConfigError, match="candidate 'generated' .* non-empty signature"):
        load_input_schema("nosig", config_dir=tmp_path, where="tasks.t.input")


def test_unknown_schema_name_suggests():
    with pytest.raises(ConfigError, match=r"tasks.t.input: unknown input schema 'nanoad'.*Did you mean.*'nanoaod'"):
        load_input_schema("nanoad", config_dir=CONFIGS, where="tasks.t.input")


def test_reader_gives_logical_momentum4d_records():
    chunks = list(ChunkReader(REAL / "pfnano.root", schema(), NEEDS, step_size=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert float(chunks[0]["fatjets"].px[0][0]) == pytest.approx(
        float(chunks[0]["fatjets"].pt[0][0]) * __import__("math").cos(float(chunks[0]["fatjets"].phi[0][0])), rel=1e-5)


@pytest.mark.reliability
def test_missing_branch_did_you_mean():
    s = schema()
    s.collections["fatjets"].fields["msoftdrop"] = "FatJet_msoftdorp"
    with pytest.raises(BranchNotFoundError, match=r"branch 'FatJet_msoftdorp' not found in tree 'Events' of .*pfnano.root"
                       r"\. Did you mean .*'FatJet_msoftdrop'.*Requested by .*pfnano.yaml \(fatjets.msoftdrop\)"):
        ChunkReader(REAL / "pfnano.root", s, NEEDS)


@pytest.mark.reliability
def test_missing_tree_lists_trees():
    s = schema()
    s.tree = "Event"
    with pytest.raises(BranchNotFoundError, match=r"tree 'Event' not found.*trees are .*'Events'"):
        ChunkReader(REAL / "pfnano.root", s, NEEDS)


@pytest.mark.reliability
def test_wrong_jaggedness():
    s = schema()
    s.collections["fatjets"].fields["pt"] = "MET_pt"
    with pytest.raises(InputFileError, match=r"branch 'MET_pt'.*one value per entry.*counter"):
        ChunkReader(REAL / "pfnano.root", s, NEEDS)


@pytest.mark.reliability
@pytest.mark.parametrize("make", ["corrupt", "truncated", "text", "missing", "empty_glob"])
def test_bad_files_raise_input_file_error(tmp_path, make):
    if make == "corrupt":
        path = REAL / "bad_delphes.root"
    elif make == "truncated":
        path = tmp_path / "trunc.root"
        data = (REAL / "nano_dy.root").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif make == "text":
        path = tmp_path / "notes.root"
        path.write_text("this is not ROOT\n" * 10)
    elif make == "missing":
        path = tmp_path / "nope.root"
    else:
        path = tmp_path / "*.root"
    with pytest.raises(InputFileError, match=str(path.name).replace("*", r"\*").replace(".", r"\.")):
        ChunkReader(path, schema("nanoaod"), {"photons": {"pt": True}})


def test_inspect_root_and_parquet(tmp_path):
    text = describe_file(REAL / "nano_dy.root", tree="Events", pattern="Photon_s*")
    assert "Photon_sieie" in text and "40 entries" in text and "Photon_pt" not in text
    with pytest.raises(BranchNotFoundError, match="tree 'Event' not found.*Did you mean 'Events'"):
        describe_file(REAL / "nano_dy.root", tree="Event")


@pytest.mark.reliability
def test_inspect_malformed_parquet():
    with pytest.raises(InputFileError, match=r"nano_dy_malformed.parquet as parquet"):
        describe_file(REAL / "nano_dy_malformed.parquet")


@pytest.mark.reliability
def test_root_file_without_ntuples_says_so(tmp_path):
    path = tmp_path / "histos.root"
    with uproot.recreate(path) as f:
        f["h"] = np.histogram(np.arange(10.0), bins=5)
    with pytest.raises(InputFileError, match=r"histos\.root contains no TTree or RNTuple \(corrupt file, or not an ntuple\)"):
        ChunkReader(path, schema("nanoaod_v12"), {"met": {"pt": True}})
    assert "(no TTree or RNTuple in this file)" in describe_file(path)


@pytest.mark.reliability
def test_single_file_commands_reject_several_files(tmp_path):
    with pytest.raises(InputFileError, match=r"names 2 files .* this command reads one file"):
        describe_file(str(REAL / "nano_*.root"))
