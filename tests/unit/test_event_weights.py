"""Event weights and weight variations from the config, on the real NanoAOD files of tests/data.

Every value is compared with an independent computation from the branches read by uproot.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
import yaml

from dl4hep.data.dataset import build_dataset
from dl4hep.errors import BranchNotFoundError, ConfigError, DataError
from dl4hep.features.api import build_features
from dl4hep.validate import checked_from_dict
from tests.paths import REAL_DATA

ROOT = Path(__file__).resolve().parents[2]
DY, TT = REAL_DATA / "nano_dy.root", REAL_DATA / "nano_tt_v12.root"

DY_WEIGHTS = {
    "nominal": "genWeight * btagWeight_DeepCSVB",
    "variations": {
        "scale": {"elements": "LHEScaleWeight[0..8]", "envelope": [0, 1, 3, 4, 5, 7, 8]},
        "ps": {"elements": "PSWeight[0, 2]"},
        "btag": {"up": "btagWeight_CSVV2", "replaces": "btagWeight_DeepCSVB"},
        "lumi": {"up": "1.02", "down": "0.98"},
    },
}


def make_config(
    tmp_path: Path,
    weights: dict,
    *,
    files: Path = DY,
    selection: str | None = None,
    sample_weight: str | None = None,
    features: tuple[str, ...] = ("dilepton_kinematics",),
):
    task = {
        "input": "nanoaod",
        "features": list(features),
        "classes": ["a", "b"],
        "weights": weights,
        "samples": {
            "sa": {"label": "a", "files": [str(files)], "cross_section": 2.0},
            "sb": {"label": "b", "files": [str(files)], "cross_section": 3.0},
        },
        "models": {"dnn": {}},
    }
    if selection:
        task["selection"] = selection
    if sample_weight:
        task["samples"]["sb"]["weight"] = sample_weight
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return checked_from_dict(
        {
            "config_dir": str(ROOT / "configs"),
            "luminosity": 10.0,
            "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}},
        }
    )


def branches(path: Path, names: list[str]) -> ak.Array:
    return uproot.open(path)["Events"].arrays(names)


def rows_of(raw: ak.Array, arr: ak.Array) -> np.ndarray:
    """Entry of each feature row in the file, by its (unique) event number."""
    events = ak.to_numpy(raw.event).astype(np.int64)
    assert len(np.unique(events)) == len(events)
    order = np.argsort(events)
    row = order[np.searchsorted(events[order], ak.to_numpy(arr.event))]
    assert np.array_equal(events[row], ak.to_numpy(arr.event))
    return row


def test_weight_expression_and_variations_match_uproot(tmp_path):
    cfg = make_config(tmp_path, DY_WEIGHTS, selection="n_leptons >= 1")
    out = tmp_path / "f.parquet"
    summary = build_features(config=cfg, task="t", sample="sa", input_path=str(DY), out=out)
    arr = ak.from_parquet(out)
    raw = branches(
        DY,
        [
            "event",
            "genWeight",
            "btagWeight_DeepCSVB",
            "btagWeight_CSVV2",
            "LHEScaleWeight",
            "PSWeight",
        ],
    )
    row = rows_of(raw, arr)
    assert 0 < len(arr) < len(raw)
    gen = ak.to_numpy(raw.genWeight).astype(np.float64)
    nominal = gen * ak.to_numpy(raw.btagWeight_DeepCSVB)
    np.testing.assert_allclose(ak.to_numpy(arr.gen_weight), gen[row], rtol=1e-12)
    np.testing.assert_allclose(ak.to_numpy(arr.weight), nominal[row], rtol=1e-6)
    assert (
        ak.to_numpy(arr.gen_weight) < 0
    ).any()  # the file holds negative weights; they stay negative
    var = arr.weight_variations
    assert var.fields == ["btag_up", "lumi_up", "lumi_down", "ps_0", "ps_2"] + [
        f"scale_{i}" for i in range(9)
    ]
    lhe, ps = ak.to_numpy(raw.LHEScaleWeight), ak.to_numpy(raw.PSWeight)
    for i in range(9):
        np.testing.assert_allclose(
            ak.to_numpy(var[f"scale_{i}"]), (nominal * lhe[:, i])[row], rtol=1e-6
        )
    for i in (0, 2):
        np.testing.assert_allclose(
            ak.to_numpy(var[f"ps_{i}"]), (nominal * ps[:, i])[row], rtol=1e-6
        )
    np.testing.assert_allclose(
        ak.to_numpy(var.btag_up), (gen * ak.to_numpy(raw.btagWeight_CSVV2))[row], rtol=1e-6
    )
    np.testing.assert_allclose(ak.to_numpy(var.lumi_down), 0.98 * nominal[row], rtol=1e-6)
    # the generator-weight sum covers every entry read, before the selection, signs included
    sums = json.loads(pq.read_metadata(out).metadata[b"dl4hep_gen_weights"])
    assert sums["entries"] == 40 and sums["sum_gen_weight"] == pytest.approx(gen.sum(), rel=1e-12)
    assert summary["rows_out"] == len(arr)
    meta = json.loads(pq.read_schema(out).metadata[b"dl4hep"])
    assert meta["weight_groups"]["scale"]["envelope"] == [
        f"scale_{i}" for i in (0, 1, 3, 4, 5, 7, 8)
    ]
    assert meta["weight_groups"]["lumi"] == {
        "kind": "updown",
        "members": ["lumi_up", "lumi_down"],
        "envelope": ["lumi_up", "lumi_down"],
    }


def test_nanoaod_v12_ps_weights_and_sample_override(tmp_path):
    weights = {"nominal": "genWeight", "variations": {"isr": {"elements": "PSWeight[0..3]"}}}
    cfg = make_config(
        tmp_path, weights, files=TT, sample_weight="genWeight * LHEWeight_originalXWGTUP / 100"
    )
    raw = branches(TT, ["genWeight", "PSWeight", "LHEWeight_originalXWGTUP"])
    gen = ak.to_numpy(raw.genWeight).astype(np.float64)
    build_features(
        config=cfg, task="t", sample="sb", input_path=str(TT), out=tmp_path / "sb.parquet"
    )
    arr = ak.from_parquet(tmp_path / "sb.parquet")
    nominal = gen * ak.to_numpy(raw.LHEWeight_originalXWGTUP) / 100  # the sample's own expression
    np.testing.assert_allclose(ak.to_numpy(arr.weight), nominal, rtol=1e-6)
    for i in range(4):
        np.testing.assert_allclose(
            ak.to_numpy(arr.weight_variations[f"isr_{i}"]),
            nominal * ak.to_numpy(raw.PSWeight)[:, i],
            rtol=1e-6,
        )


def test_dataset_normalises_by_the_generator_weight_sum_and_scales_variations(tmp_path):
    cfg = make_config(tmp_path, DY_WEIGHTS)
    inputs = {}
    for s in ("sa", "sb"):
        inputs[s] = [tmp_path / f"{s}.parquet"]
        build_features(config=cfg, task="t", sample=s, input_path=str(DY), out=inputs[s][0])
    build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    raw = branches(DY, ["event", "genWeight", "btagWeight_DeepCSVB", "LHEScaleWeight"])
    gen = ak.to_numpy(raw.genWeight).astype(np.float64)
    nominal = gen * ak.to_numpy(raw.btagWeight_DeepCSVB)
    # this old file's Runs tree names its sums genEventSumw_, so the sum comes from the entries read
    assert meta["samples"]["sa"]["sum_weights_source"] == "entries"
    assert meta["samples"]["sa"]["sum_weights"] == pytest.approx(gen.sum(), rel=1e-12)
    assert meta["weight_variations"][0] == "btag_up" and "scale" in meta["weight_groups"]
    parts = ak.concatenate(
        [ak.from_parquet(tmp_path / "ds" / f"{s}.parquet") for s in ("train", "val", "test")]
    )
    for sample, xs in (("sa", 2.0), ("sb", 3.0)):
        p = parts[parts["sample"] == sample]
        row = rows_of(raw, p)
        scale = xs * 10.0 * 1000.0 / gen.sum()
        np.testing.assert_allclose(ak.to_numpy(p.weight), nominal[row] * scale, rtol=1e-6)
        lhe = ak.to_numpy(raw.LHEScaleWeight)[row]
        np.testing.assert_allclose(
            ak.to_numpy(p.weight_variations.scale_8), nominal[row] * lhe[:, 8] * scale, rtol=1e-6
        )
        assert (ak.to_numpy(p.weight) < 0).any()
    assert (
        "weight_variations"
        not in ak.from_parquet(tmp_path / "ds" / "train.parquet", columns=["train_weight"]).fields
    )


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        (
            {"nominal": "genWeight * puWeight"},
            ["'puWeight'", "nano_dy.root", "tasks.t.weights.nominal"],
        ),
        (
            {"variations": {"pu": {"up": "puWeightUp"}}},
            ["'puWeightUp'", "nano_dy.root", "tasks.t.weights.variations.pu.up"],
        ),
        (
            {"variations": {"ps": {"elements": "PSWeights[0..3]"}}},
            ["'PSWeights'", "nano_dy.root", "tasks.t.weights.variations.ps.elements", "PSWeight"],
        ),
    ],
)
def test_missing_weight_branch_is_one_line_before_any_output(tmp_path, weights, needle):
    cfg = make_config(tmp_path, weights)
    out = tmp_path / "f.parquet"
    with pytest.raises(BranchNotFoundError) as err:
        build_features(config=cfg, task="t", sample="sa", input_path=str(DY), out=out)
    msg = str(err.value)
    assert "\n" not in msg and all(n in msg for n in needle), msg
    assert not out.exists() and not list(tmp_path.glob("f.parquet*"))


def test_variation_index_out_of_range_is_one_line_before_any_output(tmp_path):
    cfg = make_config(tmp_path, {"variations": {"ps": {"elements": "PSWeight[0..4]"}}})
    out = tmp_path / "f.parquet"
    with pytest.raises(DataError) as err:
        build_features(config=cfg, task="t", sample="sa", input_path=str(DY), out=out)
    msg = str(err.value)
    assert "\n" not in msg and "index 4 of branch 'PSWeight'" in msg and "nano_dy.root" in msg
    assert "tasks.t.weights.variations.ps.elements" in msg and "0..3" in msg
    assert not out.exists() and not list(tmp_path.glob("f.parquet*"))


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        (
            {
                "nominal": "genWeight * puWeight",
                "variations": {"pu": {"up": "puWeightUp", "replaces": "puWeigth"}},
            },
            "tasks.t.weights.variations.pu.replaces: 'puWeigth' is not a name of the nominal weight expression",
        ),
        ({"variations": {"pu": {"up": "puWeightUp", "replaces": "puWeight"}}}, "none is set"),
        (
            {"variations": {"s": {"elements": "LHEScaleWeight[3..1]"}}},
            "tasks.t.weights.variations.s.elements",
        ),
        (
            {"variations": {"s": {"elements": "LHEScaleWeight[0..8]", "envelope": [9]}}},
            "indices [9] are not among",
        ),
        (
            {"variations": {"s": {"elements": "LHEScaleWeight[0..2]", "up": "x"}}},
            "not both or neither",
        ),
        ({"nominal": "genWeight * import(x)"}, "tasks.t.weights.nominal"),
        ({"variations": {"a": {"up": "1.1"}, "a_up": {"elements": "PSWeight[0]"}}}, None),
        ({"nominal": "genWeight", "varitions": {}}, "Did you mean 'variations'"),
    ],
)
def test_weight_config_errors_name_the_key(tmp_path, weights, needle):
    if needle is None:  # 'a' gives a_up; 'a_up' gives a_up_0: distinct names, accepted
        make_config(tmp_path, weights)
        return
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, weights)
    assert needle in str(err.value), str(err.value)
