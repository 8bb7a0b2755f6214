"""Declared feature columns (``columns`` feature set): real NanoAOD values, hand-worked cases, every bad expression."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from dl4hep.errors import ConfigError
from dl4hep.features.api import build_features
from dl4hep.features.sets.columns import Options, evaluate_columns
from dl4hep.validate import checked_from_dict
from tests.paths import REAL_DATA, REPO

NANO = REAL_DATA / "nano_tt_v12.root"

REAL_COLUMNS = {
    "met_pt": {"expr": "met.pt", "use": "both"},
    "npv": {"expr": "branches.npv", "use": "observer"},
    "j1_pt": {"expr": "jets[0].pt", "use": "tabular", "fill": 0},
    "j2_eta": {"expr": "jets[1].eta", "use": "tabular", "fill": -9},
    "j5_pnet": {"expr": "jets[4].pnet_b", "use": "tabular", "fill": -1},
    "nj30": {"expr": "n(jets, pt > 30 and abs(eta) < 2.4)", "use": "both"},
    "nb": {"expr": "n(jets, btag > 0.3086 and pt > 20)", "use": "tabular"},
    "nmu": {"expr": "n(muons)", "use": "observer"},
    "mu1_pt": {"expr": "muons[0].pt", "use": "observer"},
    "nhard": {"expr": "n(jets, pt > 0.5 * met.pt)", "use": "tabular"},
    "ratio": {"expr": "log(j1_pt / sqrt(met_pt + 1))", "use": "tabular"},
    "lo": {"expr": "min(met_pt, j1_pt, 100)", "use": "tabular"},
    "hi": {"expr": "max(met_pt, j1_pt) ** 2 / 1000", "use": "tabular"},
    "dphi": {"expr": "abs(jets[0].phi - met.phi)", "use": "tabular", "fill": -1},
}
FIELDS = {"jets": {"pnet_b": "Jet_btagPNetB"}, "branches": {"npv": "PV_npvs"}}


def make_config(tmp_path, columns, *, fields=None, features=("columns",), input="nanoaod", extra=None):
    task = {"input": input, "features": list(features), "classes": ["a", "b"],
            "feature_options": {"columns": {"fields": fields or {}, "columns": columns}},
            "samples": {"sa": {"label": "a", "files": [str(NANO)]}, "sb": {"label": "b", "files": [str(NANO)]}},
            "models": {"dnn": {}}}
    task.update(extra or {})
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    return checked_from_dict({"config_dir": str(REPO / "configs"), "tasks": {"t": {"definition": str(tmp_path / "task.yaml")}}})


def _expected(ev: dict) -> dict[str, float]:
    """Per-event Python reference, written without the expression code."""
    jets = list(zip(ev["Jet_pt"], ev["Jet_eta"], ev["Jet_phi"], ev["Jet_btagDeepFlavB"], ev["Jet_btagPNetB"],
                    strict=True))
    met = float(ev["MET_pt"])
    j1 = float(jets[0][0]) if jets else 0.0
    out = {
        "met_pt": met, "npv": float(ev["PV_npvs"]), "j1_pt": j1,
        "j2_eta": float(jets[1][1]) if len(jets) > 1 else -9.0,
        "j5_pnet": float(jets[4][4]) if len(jets) > 4 else -1.0,
        "nj30": sum(1 for pt, eta, *_ in jets if pt > 30 and abs(eta) < 2.4),
        "nb": sum(1 for pt, _, _, b, _ in jets if b > 0.3086 and pt > 20),
        "nmu": len(ev["Muon_pt"]), "mu1_pt": float(ev["Muon_pt"][0]) if len(ev["Muon_pt"]) else math.nan,
        "nhard": sum(1 for pt, *_ in jets if pt > 0.5 * met),
        "lo": min(met, j1, 100.0), "hi": max(met, j1) ** 2 / 1000,
        "dphi": abs(float(jets[0][2]) - float(ev["MET_phi"])) if jets else -1.0,
    }
    out["ratio"] = math.log(j1 / math.sqrt(met + 1)) if j1 > 0 else -math.inf
    return out


def test_columns_match_a_per_event_reference_on_real_nanoaod(tmp_path):
    cfg = make_config(tmp_path, REAL_COLUMNS, fields=FIELDS, features=("dilepton_kinematics", "columns"),
                      extra={"selection": "nj30 >= 5 and met_pt > 20", "models": {"dnn": {"features": ["mll", "j1_pt"]}}})
    out = tmp_path / "f.parquet"
    summary = build_features(config=cfg, task="t", sample="sa", input_path=str(NANO), out=out)
    arr = ak.from_parquet(out)
    assert summary["entries"] == 200 and 0 < len(arr) < 200  # the selection on a declared column cut events
    assert {"mll", "j1_pt", "nj30", "met_pt"} <= set(arr.tabular.fields)  # side by side with a Python set
    assert {"npv", "nmu", "mu1_pt", "nj30", "met_pt", "n_leptons"} <= set(arr.observers.fields)
    branches = ["event", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_btagDeepFlavB", "Jet_btagPNetB", "MET_pt",
                "MET_phi", "PV_npvs", "Muon_pt"]
    events = uproot.open(NANO)["Events"].arrays(branches, library="np")
    reference = {int(events["event"][i]): _expected({b: events[b][i] for b in branches})
                 for i in range(len(events["event"]))}
    assert sum(r["nj30"] >= 5 and r["met_pt"] > 20 for r in reference.values()) == len(arr)
    for name, spec in REAL_COLUMNS.items():
        block = "observers" if spec["use"] == "observer" else "tabular"
        got = ak.to_numpy(arr[block][name])
        want = np.array([reference[int(e)][name] for e in ak.to_numpy(arr.event)], np.float32)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, equal_nan=True, err_msg=name)
    assert np.isnan(ak.to_numpy(arr.observers.mu1_pt)).any()  # events without a muon: NaN (no fill declared)


def _chunk():
    """Three hand-made events: jets (pt, eta) in stored order and a MET record."""
    jets = ak.Array([[{"pt": 50.0, "eta": 0.5}, {"pt": 20.0, "eta": -3.0}], [], [{"pt": 35.0, "eta": 2.0}]])
    met = ak.Array([{"pt": 10.0}, {"pt": 40.0}, {"pt": 100.0}])
    return ak.zip({"jets": jets, "met": met}, depth_limit=1)


def _eval(columns: dict[str, str], fills: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    opts = Options.model_validate({"columns": {k: {"expr": v, "use": "tabular", "fill": (fills or {}).get(k)}
                                               for k, v in columns.items()}})
    return evaluate_columns(_chunk(), opts)


def test_hand_worked_fill_values_and_counts():
    got = _eval({"j1": "jets[0].pt", "j2": "jets[1].pt", "j2_nan": "jets[1].eta", "n": "n(jets)",
                 "n30": "n(jets, pt > 30)", "ncen": "n(jets, pt > 30 and abs(eta) < 1)",
                 "nmet": "n(jets, pt > met.pt)", "nj1": "n(jets, pt >= j1 - 15)", "none": "n(jets, not pt > 0)"},
                fills={"j1": -1.0, "j2": 0.0})
    np.testing.assert_array_equal(got["j1"], [50, -1, 35])
    np.testing.assert_array_equal(got["j2"], [20, 0, 0])
    np.testing.assert_array_equal(got["j2_nan"], [-3, np.nan, np.nan])
    np.testing.assert_array_equal(got["n"], [2, 0, 1])
    np.testing.assert_array_equal(got["n30"], [1, 0, 1])
    np.testing.assert_array_equal(got["ncen"], [1, 0, 0])
    np.testing.assert_array_equal(got["nmet"], [2, 0, 0])  # per-event MET applies to each jet of its event
    np.testing.assert_array_equal(got["nj1"], [1, 0, 1])   # j1 = -1 (filled) in the jet-less event
    np.testing.assert_array_equal(got["none"], [0, 0, 0])


def test_hand_worked_functions_and_operators():
    got = _eval({"a": "abs(jets[0].eta - 1)", "l": "log(met.pt)", "s": "sqrt(met.pt)", "lo": "min(met.pt, 30, 50)",
                 "hi": "max(met.pt, 30)", "p": "met.pt ** 2 / 4 - 1", "neg": "-met.pt + 2 * 3",
                 "cmp": "met.pt > 20", "logic": "met.pt > 20 and not met.pt > 50 or met.pt < 15",
                 "chain": "10 < met.pt <= 40", "const": "7", "ref": "2 * lo + hi"})
    np.testing.assert_allclose(got["a"], [0.5, np.nan, 1.0])
    np.testing.assert_allclose(got["l"], np.log([10, 40, 100]))
    np.testing.assert_allclose(got["s"], np.sqrt([10, 40, 100]))
    np.testing.assert_array_equal(got["lo"], [10, 30, 30])
    np.testing.assert_array_equal(got["hi"], [30, 40, 100])
    np.testing.assert_array_equal(got["p"], [24, 399, 2499])
    np.testing.assert_array_equal(got["neg"], [-4, -34, -94])
    np.testing.assert_array_equal(got["cmp"], [0, 1, 1])
    np.testing.assert_array_equal(got["logic"], [1, 1, 0])
    np.testing.assert_array_equal(got["chain"], [0, 1, 0])
    np.testing.assert_array_equal(got["const"], [7, 7, 7])
    np.testing.assert_array_equal(got["ref"], [50, 100, 160])


BAD = [  # (expression, fields, words the one-line error must hold)
    ("jets[0].pt +", None, ["cannot parse"]),
    ("", None, ["is empty"]),
    ("lambda: 1", None, ["'Lambda' is not allowed"]),
    ("[x for x in met]", None, ["'ListComp' is not allowed"]),
    ("met.pt.real.imag", None, ["a field belongs to a collection"]),
    ("met.pt if met.pt else 0", None, ["'IfExp' is not allowed"]),
    ("met.pt % 2", None, ["'Mod' is not allowed"]),
    ("'x'", None, ["only numeric constants"]),
    ("True", None, ["only numeric constants"]),
    ("sqr(met.pt)", None, ["unknown function 'sqr'", "Did you mean 'sqrt'"]),
    ("min(met.pt)", None, ["min() takes 2 or more argument(s), got 1"]),
    ("abs(met.pt, 1)", None, ["abs() takes 1 argument(s), got 2"]),
    ("log(x=met.pt)", None, ["positional arguments only"]),
    ("jets[0.5].pt", None, ["non-negative integer"]),
    ("jets[-1].pt", None, ["non-negative integer"]),
    ("jets[met].pt", None, ["non-negative integer"]),
    ("jets[0]", None, ["needs a field"]),
    ("n(jets[0].pt)", None, ["n() takes a collection name"]),
    ("n(jets, pt)", None, ["must be a condition"]),
    ("n(jets, pt > n(jets))", None, ["cannot be nested"]),
    ("met_pt", None, ["unknown name 'met_pt'", "Did you mean 'met_p'"]),
    ("bad + 1", None, ["column 'bad' uses itself"]),
    ("jet[0].pt", None, ["unknown collection 'jet'", "Did you mean", "'jets'"]),
    ("jets[0].ptt", None, ["unknown field 'ptt' of 'jets'", "Did you mean 'pt'", "fields.jets"]),
    ("jets.pt", None, ["one value per object", "jets[0].pt"]),
    ("met[0].pt", None, ["one value per event", "met.pt"]),
    ("n(met)", None, ["counts objects"]),
    ("n(jets, ptt > 30)", None, ["unknown name 'ptt' in the cut", "Did you mean 'pt'"]),
    ("branches.npv", {"branch": {"npv": "PV_npvs"}}, ["fields.branch", "no collection 'branch'", "Did you mean", "'branches'"]),
    ("jets[0].pt", {"jets": {"pt": "Jet_pt"}}, ["fields.jets", "already mapped"]),
]


@pytest.mark.parametrize(("expr", "fields", "words"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_every_bad_expression_is_a_one_line_error_naming_the_key(tmp_path, expr, fields, words):
    columns = {"met_p": {"expr": "met.pt", "use": "observer"}, "bad": {"expr": expr, "use": "tabular"},
               "later": {"expr": "met.pt", "use": "tabular"}}
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, columns, fields=fields)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("tasks.t.feature_options.columns."), msg
    assert fields is not None or msg.startswith("tasks.t.feature_options.columns.columns.bad.expr: "), msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize(("columns", "words"), [
    ({"1x": {"expr": "met.pt", "use": "tabular"}}, ["columns.1x", "must be an identifier"]),
    ({"x": {"expr": "met.pt", "use": "input"}}, ["columns.x.use", "tabular"]),
    ({"x": {"expr": "met.pt"}}, ["columns.x.use", "Field required"]),
    ({"x": {"expr": "met.pt", "use": "tabular", "fil": 0}}, ["unknown option 'columns.x.fil'"]),
])
def test_bad_declarations(tmp_path, columns, words):
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, columns)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_observer_only_columns_provide_no_tabular_block(tmp_path):
    with pytest.raises(ConfigError, match=r"tasks.t.models.dnn.inputs is 'tabular'.*provide only \[\]"):
        make_config(tmp_path, {"m": {"expr": "met.pt", "use": "observer"}})


def test_declared_observer_may_not_shadow_another_sets_observer(tmp_path):
    with pytest.raises(ConfigError, match=r"feature_options.columns.columns.mll: observer 'mll' is also an observer "
                                          r"of 'dilepton_kinematics'"):
        make_config(tmp_path, {"mll": {"expr": "met.pt", "use": "observer"}},
                    features=("dilepton_kinematics", "columns"))


def test_columns_may_use_each_other_in_any_order_but_not_in_a_cycle(tmp_path):
    got = _eval({"b": "a * 2", "a": "met.pt + 1", "n_ok": "n(jets, pt > b)"})
    np.testing.assert_array_equal(got["b"], [22, 82, 202])
    np.testing.assert_array_equal(got["n_ok"], [1, 0, 0])  # a declared column shadows a field name in a cut
    with pytest.raises(ConfigError, match=r"columns.x.expr: columns use each other in a cycle: x -> y -> x"):
        make_config(tmp_path, {"x": {"expr": "y + 1", "use": "tabular"}, "y": {"expr": "x * 2", "use": "tabular"}})
