"""`dl4hep apply` and the coffea wrapper on real NanoAOD, with the example analysis (configs/examples/).

One module fixture runs features -> dataset -> train -> predict of the example task through the
library; the tests then apply the trained model to the source files and compare with `predict`,
with the ONNX export, with an independent reading of the files (friend tree) and with coffea.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from dl4hep.apply.api import apply_model
from dl4hep.apply.friend import FILL, TREE
from dl4hep.cli import main
from dl4hep.config import load_analysis
from dl4hep.errors import BranchNotFoundError, ConfigError
from tests.paths import REAL_DATA, REPO

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

TASK = "dy_vs_tt"
SOURCES = {"ttbar": REAL_DATA / "nano_tt_v12.root", "dy": REAL_DATA / "nano_dy.root"}


def example_config(tmp: Path) -> Path:
    """configs/examples/nanoaod_analysis.yaml with absolute paths and its output in ``tmp``."""
    raw = yaml.safe_load((REPO / "configs/examples/nanoaod_analysis.yaml").read_text())
    raw["output"] = str(tmp / "results")
    raw["config_dir"] = str(REPO / "configs")
    raw["tasks"][TASK]["definition"] = str(REPO / raw["tasks"][TASK]["definition"])
    path = tmp / "example.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example task trained through the library: (config file, config, model dir, predictions dir)."""
    import torch

    from dl4hep.data.dataset import build_dataset
    from dl4hep.evaluation.api import evaluate_task
    from dl4hep.features.api import build_features
    from dl4hep.training.api import train_model
    from dl4hep.training.predict import predict_model

    tmp = tmp_path_factory.mktemp("apply")
    cwd = os.getcwd()
    os.chdir(REPO)  # the example's files: are relative to the checkout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfgfile = example_config(tmp)
        cfg = load_analysis(cfgfile)
        out = Path(cfg.output)
        feats = {}
        for sample, src in [*SOURCES.items(), ("data", SOURCES["dy"])]:
            feats[sample] = out / f"features/{sample}.parquet"
            build_features(
                config=cfg, task=TASK, sample=sample, input_path=str(src), out=feats[sample]
            )
        ds = out / "datasets" / TASK
        build_dataset(config=cfg, task=TASK, inputs={s: [p] for s, p in feats.items()}, out_dir=ds)
        model_dir = out / "models" / TASK / "dnn"
        train_model(
            config=cfg, task=TASK, model="dnn", dataset_dir=ds, out_dir=model_dir, progress=False
        )
        pred = out / "predictions" / TASK / "dnn"
        predict_model(
            config=cfg, task=TASK, model="dnn", dataset_dir=ds, model_dir=model_dir, out_dir=pred
        )
        evaluate_task(
            config=cfg,
            task=TASK,
            dataset_dir=ds,
            models={"dnn": model_dir},
            predictions_dir=pred.parent,
            out_dir=out / "evaluation" / TASK,
        )
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return cfgfile, cfg, model_dir, pred, ds


def test_example_analysis_reaches_the_significance(trained):
    """The README example: declared features -> DNN -> significance of the ttbar score cut."""
    import json

    out = Path(trained[1].output) / "evaluation" / TASK
    metrics = json.loads((out / "metrics" / "dnn.json").read_text())
    assert metrics["signal_vs_background"]["ttbar"]["significance"]["formula"] == "asimov"
    assert 0.5 < metrics["signal_vs_background"]["ttbar"]["auc"] <= 1
    assert (out / "models" / "dnn" / "plots" / "significance_dnn.png").is_file()


def _apply(trained, src, out, **kw):
    _, cfg, model_dir, *_ = trained
    return apply_model(
        config=cfg, task=TASK, model=kw.pop("model", model_dir), inputs=[str(src)], out=out, **kw
    )


def test_dataset_leaves_out_label_null_samples(trained):
    import json

    meta = json.loads((trained[4] / "meta.json").read_text())
    text = json.dumps(meta)
    assert "data" not in meta.get("samples", {}) and '"data"' not in text
    rows = sum(
        len(pd.read_parquet(trained[4] / f"{s}.parquet", columns=["sample"]))
        for s in ("train", "val", "test")
    )
    samples = set().union(
        *(
            set(pd.read_parquet(trained[4] / f"{s}.parquet", columns=["sample"])["sample"])
            for s in ("train", "val", "test")
        )
    )
    assert samples == {"ttbar", "dy"} and rows > 0


def test_apply_reproduces_predict_on_the_test_split(trained, tmp_path):
    _, cfg, model_dir, pred, _ = trained
    test = pd.read_parquet(pred / "test.parquet")
    classes = cfg.task(TASK).classes
    for label, (sample, src) in enumerate(SOURCES.items()):
        assert classes[label] == sample
        applied = pd.read_parquet(_apply(trained, src, tmp_path / f"{sample}.parquet")["out"])
        mine = test[test["label"] == label]
        assert len(mine) > 0
        joined = mine.merge(
            applied, on=["run", "event"], suffixes=("_predict", "_apply"), validate="one_to_one"
        )
        assert len(joined) == len(mine), "every test row of the sample is scored by apply"
        for c in classes:
            np.testing.assert_allclose(
                joined[f"score_{c}_apply"], joined[f"score_{c}_predict"], rtol=0, atol=1e-6
            )
        np.testing.assert_allclose(
            joined["obs_met_apply"], joined["obs_met_predict"], rtol=0, atol=0
        )


def test_onnx_model_gives_the_same_scores(trained, tmp_path):
    from dl4hep.training.export import export_onnx

    onnx = tmp_path / "model.onnx"
    export_onnx(model_dir=trained[2], out=onnx)
    a = pd.read_parquet(_apply(trained, SOURCES["ttbar"], tmp_path / "torch.parquet")["out"])
    b = pd.read_parquet(
        _apply(trained, SOURCES["ttbar"], tmp_path / "onnx.parquet", model=onnx)["out"]
    )
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
    np.testing.assert_allclose(a["score_ttbar"], b["score_ttbar"], rtol=0, atol=1e-5)


def test_friend_tree_is_aligned_with_the_input_entries(trained, tmp_path):
    src = SOURCES["dy"]
    summary = _apply(trained, src, tmp_path / "dy.parquet", friend=tmp_path / "dy_friend.root")
    events = uproot.open(src)["Events"].arrays(["run", "event", "Jet_pt", "Jet_eta"])
    friend = uproot.open(tmp_path / "dy_friend.root")[TREE].arrays()
    assert len(friend) == len(events) == summary["entries"] == 40
    for key in ("run", "event"):
        assert np.array_equal(ak.to_numpy(friend[key]), ak.to_numpy(events[key]).astype(np.int64))
    # the task's selection, n(jets, pt > 30 and abs(eta) < 2.4) >= 1, computed here without dl4hep
    n_jets = ak.sum((events["Jet_pt"] > 30) & (abs(events["Jet_eta"]) < 2.4), axis=1)
    expected = ak.to_numpy(n_jets >= 1)
    selected = ak.to_numpy(friend["dl4hep_selected"])
    assert 0 < expected.sum() < len(expected) and np.array_equal(selected, expected)
    for c in ("ttbar", "dy"):
        assert np.all(ak.to_numpy(friend[f"dl4hep_score_{c}"])[~selected] == FILL)
    table = pd.read_parquet(tmp_path / "dy.parquet")
    assert np.array_equal(table["event"].to_numpy(), ak.to_numpy(friend["event"])[selected])
    np.testing.assert_array_equal(
        table["score_dy"], ak.to_numpy(friend["dl4hep_score_dy"])[selected]
    )
    scored = (
        ak.to_numpy(friend["dl4hep_score_ttbar"])[selected]
        + ak.to_numpy(friend["dl4hep_score_dy"])[selected]
    )
    np.testing.assert_allclose(scored, 1.0, atol=1e-6)


def _without(src: Path, out: Path, drop: str) -> Path:
    """A copy of the example's branches of ``src`` without ``drop`` (a NanoAOD-like file written by uproot)."""
    t = uproot.open(src)["Events"]
    flat = [
        "run",
        "luminosityBlock",
        "event",
        "genWeight",
        "MET_pt",
        "MET_phi",
        "fixedGridRhoFastjetAll",
        "PV_npvs",
    ]
    cols = {b: t[b].array() for b in flat if b != drop}
    for coll, fields in {
        "Jet": ["pt", "eta", "phi", "mass", "btagDeepFlavB"],
        "Muon": ["pt", "eta", "phi"],
        "Electron": ["pt", "eta", "phi"],
    }.items():
        cols[coll] = ak.zip({f: t[f"{coll}_{f}"].array() for f in fields if f"{coll}_{f}" != drop})
    with uproot.recreate(out) as f:
        f["Events"] = cols
    return out


def test_a_file_lacking_a_branch_fails_before_any_output(trained, tmp_path, capsys):
    bad = _without(SOURCES["dy"], tmp_path / "no_npv.root", "PV_npvs")
    out, friend = tmp_path / "scores.parquet", tmp_path / "friend.root"
    with pytest.raises(BranchNotFoundError, match=r"'PV_npvs'.*no_npv\.root"):
        _apply(trained, bad, out, friend=friend)
    assert not out.exists() and not friend.exists()
    rc = main(
        [
            "apply",
            "-c",
            str(trained[0]),
            "--task",
            TASK,
            "--model",
            str(trained[2]),
            "--input",
            str(bad),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "PV_npvs" in err[0] and "no_npv.root" in err[0]
    assert not out.exists()


def test_friend_needs_one_input_and_classes_must_match(trained, tmp_path):
    with pytest.raises(ConfigError, match="exactly one input"):
        apply_model(
            config=trained[1],
            task=TASK,
            model=trained[2],
            inputs=[str(p) for p in SOURCES.values()],
            out=tmp_path / "x.parquet",
            friend=tmp_path / "x.root",
        )
    assert not (tmp_path / "x.parquet").exists()


def _events(src: Path, mode: str):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root(
            {str(src): "Events"}, schemaclass=NanoAODSchema, mode=mode
        ).events()


@pytest.mark.parametrize("mode", ["eager", "dask"])
def test_coffea_tagger_equals_apply(trained, tmp_path, mode):
    from dl4hep.coffea import TORCHSCRIPT, Tagger

    cfgfile, _, model_dir, *_ = trained
    tagger = Tagger(model_dir, config=cfgfile, task=TASK)
    assert (model_dir / TORCHSCRIPT).exists()
    for sample, src in SOURCES.items():
        events = _events(src, mode)
        scores = tagger(events)
        if mode == "dask":
            import dask_awkward as dak

            read = set().union(*dak.necessary_columns(scores).values())
            assert "PV_npvs" in read and "Jet_btagDeepFlavB" in read and "Photon_pt" not in read
            scores, event = scores.compute(), events.event.compute()
        else:
            event = events.event
        scores, event = ak.to_numpy(scores), ak.to_numpy(event)
        assert scores.shape == (len(event), 2)
        applied = pd.read_parquet(_apply(trained, src, tmp_path / f"{sample}.parquet")["out"])
        row = {e: i for i, e in enumerate(event)}
        idx = np.array([row[e] for e in applied["event"]])
        np.testing.assert_allclose(scores[idx, 0], applied["score_ttbar"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(scores[idx, 1], applied["score_dy"], rtol=0, atol=1e-5)
