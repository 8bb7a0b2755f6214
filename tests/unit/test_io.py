"""Input schemas, validated reading and inspect, including bad inputs."""

from pathlib import Path

import pytest

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
    for name in ("generated", "nanoaod", "pfnano", "flat"):
        assert schema(name).tree


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
