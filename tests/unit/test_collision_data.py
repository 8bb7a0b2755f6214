"""Recorded collisions carry no generator weight: a NanoAOD data file (no genWeight, no Gen*/LHE
branches) reads with weight 1, while a simulated file that lacks only its weight branch keeps the
missing-branch error (a silent weight 1 would be wrong for NLO samples with negative weights)."""

import awkward as ak
import numpy as np
import pytest
import uproot

from dl4hep.errors import BranchNotFoundError
from dl4hep.io.reader import ChunkReader, is_collision_data
from dl4hep.io.schema import load_input_schema
from tests.paths import REAL_DATA, REPO

NEEDS = {"muons": {"pt": True, "eta": True, "phi": True}}
SIMULATION_ONLY = ("gen", "Gen", "LHE", "PSWeight", "Pileup_nTrueInt")


COPIED = ("run", "luminosityBlock", "event", "Muon_", "GenPart_", "genWeight")


def _copy_events(tmp_path, name, keep):
    """A slice of nano_dy.root's Events (ids, muons, GenPart, genWeight) with only the branches ``keep`` accepts."""
    with uproot.open(REAL_DATA / "nano_dy.root") as f:
        events = f["Events"]
        names = [n for n in events.keys(recursive=True) if n.startswith(COPIED) and keep(n) and not n.startswith("nMuon")]
        arrays = events.arrays([n for n in names if events[n].interpretation is not None])
    muons = ak.zip({n[len("Muon_"):]: arrays[n] for n in arrays.fields if n.startswith("Muon_")})
    out = tmp_path / name
    with uproot.recreate(out) as f:
        f["Events"] = {n: arrays[n] for n in arrays.fields if not n.startswith("Muon_")} | {"Muon": muons}
    return out, len(arrays)


def _schema():
    return load_input_schema("nanoaod_v12", config_dir=REPO / "configs", where="tasks.t.input")


def test_data_file_reads_with_unit_weight(tmp_path):
    path, n = _copy_events(tmp_path, "data.root", lambda b: not b.startswith(SIMULATION_ONLY))
    with uproot.open(path) as f:
        assert is_collision_data(set(f["Events"].keys(recursive=True)))
    chunks = list(ChunkReader(str(path), _schema(), NEEDS, step_size=1000))
    weights = np.concatenate([np.asarray(c["weight"]) for c in chunks])
    assert len(weights) == n and np.all(weights == 1.0)
    muons = chunks[0]["muons"]
    with uproot.open(REAL_DATA / "nano_dy.root") as f:
        expected = f["Events"]["Muon_pt"].array()
    assert np.allclose(np.asarray(muons.pt[0]), np.asarray(expected[0]))


def test_simulation_without_weight_branch_still_fails(tmp_path):
    path, _ = _copy_events(tmp_path, "mc.root", lambda b: b != "genWeight")
    with uproot.open(path) as f:
        assert not is_collision_data(set(f["Events"].keys(recursive=True)))
    with pytest.raises(BranchNotFoundError, match=r"genWeight.*mc\.root"):
        ChunkReader(str(path), _schema(), NEEDS, step_size=1000)


def test_optional_field_missing_from_the_file_reads_as_absent(tmp_path, caplog):
    """A schema field the feature sets mark optional (``generated``: Cluster_genEnergy, written since the
    energy regression) may be absent from older files: the field is left out with a warning naming the
    file and branch, and the feature that uses it is NaN."""
    from dl4hep.features.sets.shower_shapes import _true_energy

    old = tmp_path / "old_photon.root"
    with uproot.open(REPO / "data/mini_photon.root") as f:
        events = f["Events"]
        arrays = events.arrays([n for n in events.keys(recursive=True)
                                if n != "Cluster_genEnergy" and events[n].interpretation is not None])
    with uproot.recreate(old) as f:
        f["Events"] = {n: arrays[n] for n in arrays.fields if not n.startswith(("Cluster_", "nCluster"))} | {
            "Cluster": ak.zip({n[len("Cluster_"):]: arrays[n] for n in arrays.fields if n.startswith("Cluster_")})}
    schema = load_input_schema("generated", config_dir=REPO / "configs", where="tasks.t.input")
    needs = {"clusters": {"energy": True, "gen_energy": False}}
    with caplog.at_level("WARNING", logger="dl4hep.io.reader"):
        chunk = next(iter(ChunkReader(str(old), schema, needs, step_size=100)))
    assert "Cluster_genEnergy" in caplog.text and "old_photon.root" in caplog.text
    clusters = ak.flatten(chunk["clusters"])
    assert len(clusters) > 0 and np.all(np.isnan(_true_energy(clusters)))
    with pytest.raises(BranchNotFoundError, match="Cluster_genEnergy"):
        ChunkReader(str(old), schema, {"clusters": {"gen_energy": True}}, step_size=100)
