"""``input: nanoaod`` reads NanoAOD v9, v12 and v15 by detecting each file's flavour.

Real files: ``nano_dy.root`` (Run 2, read as v9) and ``nano_tt_v12.root`` (v12). No v15 file is
shipped and the machine has no network, so v15 is *reproduced*: every branch of the Electron, Muon,
Jet and FatJet collections and every scalar branch of the v12 test file, same types and values,
written as NanoAOD (counters ``nX``) with the v15 renames applied (``MET_*`` -> ``PFMET_*``,
``RawMET_*`` -> ``RawPFMET_*``); its features must then equal the v12 file's bit for bit. The v12
photon rename is reproduced the same way from the Run-2 photons of ``nano_dy.root``
(``Photon_pfRelIso03_all`` -> ``Photon_pfRelIso03_all_quadratic``, ``_chg`` likewise, and the
Run-3 rho names ``Rho_fixedGridRhoFastjet*``), since the v12 test file holds no photons.
Sources of the renames: docs/ntuple-schema.md.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import pytest
import uproot
import yaml

from dl4hep.cli import EXIT_USER_ERROR, main
from dl4hep.config import analysis_from_dict
from dl4hep.errors import BranchNotFoundError, InputFileError
from dl4hep.features.api import build_features
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema
from tests.paths import REAL_DATA, REPO
from tests.unit._compare import assert_same_bits

CONFIGS = REPO / "configs"
V15_RENAMES = {"MET_": "PFMET_", "RawMET_": "RawPFMET_"}
V12_PHOTON_RENAMES = {"Photon_pfRelIso03_all": "Photon_pfRelIso03_all_quadratic",
                      "Photon_pfRelIso03_chg": "Photon_pfRelIso03_chg_quadratic",
                      "fixedGridRhoFastjet": "Rho_fixedGridRhoFastjet"}


def _rename(name: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        if name == old or name.startswith(old):
            return new + name[len(old):]
    return name


def _rewrite(src: Path, dst: Path, renames: dict[str, str], collections: set[str] | None = None,
             scalar_prefixes: tuple[str, ...] = ("",)) -> Path:
    """Copy the Events branches of ``src`` into ``dst`` (NanoAOD layout, counters nX) with renamed branches.

    ``collections`` limits the jagged collections copied (None: all), ``scalar_prefixes`` the scalars
    (default: all).
    Per-branch counters that uproot-skimmed files carry (``nJet_pt``) are dropped, as in CMSSW files;
    lone jagged branches (``LHEPdfWeight``) keep their own counter.
    """
    tree = uproot.open(src)["Events"]
    types = {k: tree[k].typename for k in tree.keys()}  # noqa: SIM118 (a TTree iterates over branches)
    scalars = [k for k, t in types.items() if not t.endswith("[]") and not (k.startswith("n") and k[1:2].isupper())
               and k.startswith(scalar_prefixes)]
    jagged: dict[str, list[str]] = {}
    for k, t in types.items():
        coll = k.split("_", 1)[0]
        if t.endswith("[]") and "_" in k and (collections is None or coll in collections):
            jagged.setdefault(coll, []).append(k)
        elif t.endswith("[]") and collections is None:
            scalars.append(k)  # a lone jagged branch such as LHEPdfWeight (its own counter)
    arrays = tree.arrays(scalars + [b for bs in jagged.values() for b in bs], library="ak", how=dict)
    out = {_rename(k, renames): arrays[k] for k in scalars}
    for coll, branches in jagged.items():
        fields = {_rename(b, renames).split("_", 1)[1]: arrays[b] for b in branches}
        out[coll] = ak.zip(fields)
    with uproot.recreate(dst) as f:
        f.mktree("Events", {k: v.type for k, v in out.items()})
        f["Events"].extend(out)
    return dst


@pytest.fixture(scope="module")
def v15(tmp_path_factory) -> Path:
    return _rewrite(REAL_DATA / "nano_tt_v12.root", tmp_path_factory.mktemp("v15") / "nano_tt_v15.root", V15_RENAMES,
                    collections={"Electron", "Muon", "Jet", "FatJet"})


@pytest.fixture(scope="module")
def v12_photons(tmp_path_factory) -> Path:
    return _rewrite(REAL_DATA / "nano_dy.root", tmp_path_factory.mktemp("v12ph") / "nano_dy_v12.root",
                    V12_PHOTON_RENAMES, collections={"Photon", "Electron", "Muon", "Jet"},
                    scalar_prefixes=("run", "luminosityBlock", "event", "genWeight", "MET_", "PuppiMET_",
                                     "RawMET_", "fixedGridRho"))


def _schema(name: str = "nanoaod"):
    return load_input_schema(name, config_dir=CONFIGS, where="tasks.t.input")


def _config(tmp_path: Path, input_: str, features: list[str]):
    task = {"input": input_, "features": features, "classes": ["a", "b"], "reading": {"step_size": 64},
            "samples": {"sa": {"label": "a", "files": [str(REAL_DATA / "nano_dy.root")], "cross_section": 1.0},
                        "sb": {"label": "b", "files": [str(REAL_DATA / "nano_dy.root")], "cross_section": 1.0}},
            "models": {"dnn": {}}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return analysis_from_dict({"config_dir": str(CONFIGS), "output": str(tmp_path / "out"),
                               "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}}})


def _features(tmp_path: Path, input_: str, features: list[str], src: Path, name: str) -> ak.Array:
    out = tmp_path / f"{name}.parquet"
    build_features(config=_config(tmp_path, input_, features), task="t", sample="sa", input_path=src, out=out)
    return ak.from_parquet(out)


def test_reproduced_files_carry_the_version_names(v15, v12_photons):
    keys15 = set(uproot.open(v15)["Events"].keys())
    assert {"PFMET_pt", "PFMET_phi", "PFMET_sumEt", "RawPFMET_pt", "nJet", "Jet_btagDeepFlavB"} <= keys15
    assert not {"MET_pt", "RawMET_pt"} & keys15
    keys12 = set(uproot.open(v12_photons)["Events"].keys())
    assert {"Photon_pfRelIso03_all_quadratic", "Rho_fixedGridRhoFastjetAll", "nPhoton"} <= keys12
    assert "Photon_pfRelIso03_all" not in keys12


def test_each_file_gets_its_flavour_and_its_constants(v15, v12_photons):
    schema = _schema()
    files = [REAL_DATA / "nano_dy.root", REAL_DATA / "nano_tt_v12.root", v15, v12_photons]
    reader = ChunkReader(files, schema, {"met": {"pt": True}}, step_size=1000)
    assert list(reader.input_schemas.values()) == ["nanoaod_v9", "nanoaod_v12", "nanoaod_v15", "nanoaod_v12"]
    thresholds = []
    for _chunk in reader:
        thresholds.append(schema.constant("btag_threshold"))
    assert thresholds == [0.2783, 0.3086, 0.3086, 0.3086]


def test_v15_features_equal_v12(tmp_path, v15):
    ref = _features(tmp_path, "nanoaod", ["dilepton_kinematics"], REAL_DATA / "nano_tt_v12.root", "v12")
    assert len(ref) > 0
    assert_same_bits(_features(tmp_path, "nanoaod", ["dilepton_kinematics"], v15, "v15_detected"), ref)
    assert_same_bits(_features(tmp_path, "nanoaod_v15", ["dilepton_kinematics"], v15, "v15_explicit"), ref)


def test_v12_photon_features_equal_run2(tmp_path, v12_photons):
    ref = _features(tmp_path, "nanoaod", ["nanoaod_photon"], REAL_DATA / "nano_dy.root", "run2")
    assert len(ref) > 0
    assert_same_bits(_features(tmp_path, "nanoaod", ["nanoaod_photon"], v12_photons, "v12"), ref)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("schema", "file", "missing", "nearest"),
    [("nanoaod_v12", "v15", "MET_pt", "PFMET_pt"), ("nanoaod_v15", "v12", "PFMET_pt", "MET_pt"),
     ("nanoaod_v9", "v12_photons", "Photon_pfRelIso03_all", "Photon_pfRelIso03_all_quadratic")],
)
def test_explicit_version_on_the_wrong_file_names_the_rename(request, schema, file, missing, nearest):
    path = REAL_DATA / "nano_tt_v12.root" if file == "v12" else request.getfixturevalue(file)
    needs = {"met": {"pt": True}} if "MET" in missing else {"photons": {"iso": True}}
    with pytest.raises(BranchNotFoundError, match=rf"branch '{missing}' not found .*Did you mean .*'{nearest}'"):
        ChunkReader(path, _schema(schema), needs)


@pytest.mark.reliability
def test_a_file_of_no_known_flavour_fails_naming_file_and_candidates(tmp_path, capsys):
    src = REPO / "data" / "mini_hww.root"  # generated: MET_pt but neither rho branch
    with pytest.raises(InputFileError, match=r"cannot tell which flavour of nanoaod .*mini_hww\.root is: no candidate"
                       r".*nanoaod_v15 needs \['PFMET_pt'\].*nanoaod_v9"):
        ChunkReader(src, _schema(), {"met": {"pt": True}})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"config_dir": str(CONFIGS), "tasks": {"dilepton": {"input": "nanoaod"}}}))
    code = main(["features", "--config", str(cfg), "--task", "dilepton", "--sample", "hww", "--input", str(src),
                 "--out", str(tmp_path / "o" / "f.parquet")])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "mini_hww.root" in err and "nanoaod_v12" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


@pytest.mark.reliability
def test_overlapping_signatures_are_reported(tmp_path):
    (tmp_path / "inputs").mkdir()
    for name in ("a", "b"):
        v12 = yaml.safe_load((CONFIGS / "inputs" / "nanoaod_v12.yaml").read_text())
        v12["signature"] = ["MET_pt"]
        (tmp_path / "inputs" / f"{name}.yaml").write_text(yaml.safe_dump(v12))
    (tmp_path / "inputs" / "both.yaml").write_text("detect: [a, b]\n")
    schema = load_input_schema("both", config_dir=tmp_path, where="t")
    with pytest.raises(InputFileError, match=r"several candidate schemas match \(\['a', 'b'\]\)"):
        ChunkReader(REAL_DATA / "nano_tt_v12.root", schema, {"met": {"pt": True}})
