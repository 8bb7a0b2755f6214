"""Dataset assembly (`dl4hep dataset`): labels, weights, split, normalisation, failure modes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from dl4hep.config import AnalysisConfig, analysis_from_dict, resolve_analysis
from dl4hep.data.dataset import build_dataset
from dl4hep.data.normalisation import points_stats
from dl4hep.data.splitting import assign_splits, event_uniform
from dl4hep.errors import ConfigError, DataError, EmptyInputError, InputFileError
from tests.paths import REAL_DATA

REPO = Path(__file__).resolve().parents[2]

TABULAR = ["mll", "met"]
POINTS = ["deta", "dphi", "logpt"]
OBSERVERS = ["pt", "eta"]
MAX_POINTS = 4


def write_features(
    path: Path,
    *,
    n: int,
    seed: int = 0,
    run: int = 1,
    first_event: int = 0,
    objects_per_event: int = 1,
    gen_weight: float | np.ndarray = 1.0,
    shift: float = 0.0,
    meta: dict[str, Any] | None = None,
    tabular: list[str] | None = None,
) -> Path:
    """Write ``n`` objects (``objects_per_event`` per event) with seeded random features."""
    rng = np.random.default_rng(seed)
    tabular = TABULAR if tabular is None else tabular
    event = first_event + np.arange(n, dtype=np.int64) // objects_per_event
    npart = rng.integers(1, MAX_POINTS + 1, size=n)
    mask = np.arange(MAX_POINTS)[None, :] < npart[:, None]
    points = (rng.normal(size=(n, MAX_POINTS, len(POINTS))) + shift).astype(np.float32) * mask[:, :, None]
    p4 = rng.normal(size=(n, MAX_POINTS, 4)).astype(np.float32) * mask[:, :, None]
    weights = np.broadcast_to(np.asarray(gen_weight, dtype=np.float64), (n,)).copy()
    arr = ak.zip(
        {
            "run": np.full(n, run, np.int64),
            "luminosityBlock": np.ones(n, np.int64),
            "event": event,
            "weight": weights,
            "truth_match": np.ones(n, bool),
            "tabular": ak.zip({t: (rng.normal(size=n) + shift).astype(np.float32) for t in tabular}),
            "points": points,
            "points_mask": mask,
            "points_p4": p4,
            "observers": ak.zip(
                {
                    "pt": rng.uniform(20, 200, n).astype(np.float32),
                    "eta": rng.uniform(-2.5, 2.5, n).astype(np.float32),
                }
            ),
        },
        depth_limit=1,
    )
    info = {
        "tabular": tabular, "points": POINTS, "max_points": MAX_POINTS, "observers": OBSERVERS,
        "feature_sets": ["test"], "cross_section_pb": None, "sum_weights": None, "n_events": None,
    }
    info.update(meta or {})
    table = ak.to_arrow_table(arr, extensionarray=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"dl4hep": json.dumps(info).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def make_config(
    tmp_path: Path,
    *,
    classes: tuple[str, ...] = ("sig", "bkg"),
    samples: dict[str, dict[str, Any]] | None = None,
    dataset: dict[str, Any] | None = None,
    luminosity: float = 300.0,
    seed: int = 1,
    features: tuple[str, ...] = ("dilepton_kinematics",),
) -> AnalysisConfig:
    samples = samples or {"sig": {"label": "sig"}, "bkg": {"label": "bkg"}}
    samples = {k: {"files": ["unused.root"], **v} for k, v in samples.items()}
    task = {
        "input": "generated", "features": list(features), "classes": list(classes),
        "background": classes[-1], "samples": samples, "models": {"dnn": {}},
    }
    if dataset:
        task["dataset"] = dataset
    tfile = tmp_path / "task.yaml"
    tfile.write_text(yaml.safe_dump(task))
    raw = {
        "config_dir": str(REPO / "configs"), "luminosity": luminosity, "seed": seed,
        "tasks": {"t": {"definition": str(tfile)}},
    }
    try:
        return analysis_from_dict(raw)
    except ImportError:  # registries of other stages not importable yet
        return AnalysisConfig.model_validate(resolve_analysis(raw))


def read_split(out_dir: Path, split: str) -> ak.Array:
    return ak.from_parquet(out_dir / f"{split}.parquet")


def read_meta(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "meta.json").read_text())


# ============================================================================ tests



def _two_samples(tmp_path: Path, n: int = 200, **kw: Any) -> dict[str, list[Path]]:
    return {
        "sig": [write_features(tmp_path / "f/sig.parquet", n=n, seed=1, run=1, shift=1.0, **kw)],
        "bkg": [write_features(tmp_path / "f/bkg.parquet", n=n, seed=2, run=2, **kw)],
    }


def test_labels_weights_and_layout(tmp_path):
    cfg = make_config(
        tmp_path, luminosity=2.0,
        samples={"sig": {"label": "sig", "cross_section": 3.0}, "bkg": {"label": "bkg"}},
    )
    gw = np.where(np.arange(100) % 2 == 0, 2.0, -1.0)
    inputs = {
        # sigma from the config (3 pb) wins over the file's 99 pb; sum_w = 400 + 100 over two files.
        "sig": [
            write_features(tmp_path / "sig0.parquet", n=100, seed=1, run=1, gen_weight=gw,
                           meta={"cross_section_pb": 99.0, "sum_weights": 400.0, "n_events": 500}),
            write_features(tmp_path / "sig1.parquet", n=0, seed=3, run=3,
                           meta={"cross_section_pb": 99.0, "sum_weights": 100.0, "n_events": 100}),
        ],
        # sigma from the ntuple: chunks combined weighted by n_events: (10*100 + 40*300) / 400 = 32.5 pb
        "bkg": [
            write_features(tmp_path / "bkg0.parquet", n=50, seed=2, run=2,
                           meta={"cross_section_pb": 10.0, "sum_weights": 100.0, "n_events": 100}),
            write_features(tmp_path / "bkg1.parquet", n=50, seed=4, run=4, first_event=1000,
                           meta={"cross_section_pb": 40.0, "sum_weights": 300.0, "n_events": 300}),
        ],
    }
    out = tmp_path / "ds"
    summary = build_dataset(config=cfg, task="t", inputs=inputs, out_dir=out)
    data = ak.concatenate([read_split(out, s) for s in ("train", "val", "test")])
    assert len(data) == 200
    sig = data[data.sample == "sig"]
    bkg = data[data.sample == "bkg"]
    assert set(sig.label.to_list()) == {0} and set(bkg.label.to_list()) == {1}
    # 3 pb * 2 fb^-1 * 1000 / 500 = 12 per unit genWeight
    np.testing.assert_allclose(sig.weight.to_numpy(), sig.gen_weight.to_numpy() * 12.0)
    assert set(np.round(sig.weight.to_numpy(), 9)) == {24.0, -12.0}
    # 32.5 pb * 2000 / 400 = 162.5
    np.testing.assert_allclose(bkg.weight.to_numpy(), 162.5)
    for field in ("run", "event", "tabular", "points", "points_mask", "points_p4", "observers", "train_weight"):
        assert field in data.fields
    assert str(data.points.type.content) == "4 * 3 * float32"
    meta = read_meta(out)
    assert meta["classes"] == ["sig", "bkg"] and meta["background"] == "bkg"
    assert meta["tabular"] == TABULAR and meta["points"] == POINTS and meta["max_points"] == MAX_POINTS
    assert meta["samples"]["sig"]["cross_section_source"] == "config"
    assert meta["samples"]["bkg"]["cross_section_pb"] == pytest.approx(32.5)
    assert meta["samples"]["sig"]["sum_weights"] == 500.0
    assert sum(sum(v.values()) for v in summary["rows"].values()) == 200
    assert (out / "provenance.json").exists()
    md = json.loads(pq.read_schema(out / "train.parquet").metadata[b"dl4hep"])
    assert md["split"] == "train" and md["tabular"] == TABULAR


def test_missing_cross_section_normalises_to_row_count(tmp_path, caplog):
    cfg = make_config(tmp_path)
    inputs = _two_samples(tmp_path, n=100, gen_weight=np.linspace(0.5, 1.5, 100))
    with caplog.at_level(logging.WARNING):
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")
    assert "significance values will be arbitrary" in caplog.text
    data = ak.concatenate([read_split(tmp_path / "ds", s) for s in ("train", "val", "test")])
    for s in ("sig", "bkg"):
        assert float(ak.sum(data.weight[data.sample == s])) == pytest.approx(100.0)


def test_train_weight_balances_classes(tmp_path):
    cfg = make_config(tmp_path, samples={"sig": {"label": "sig", "cross_section": 1.0},
                                         "bkg": {"label": "bkg", "cross_section": 500.0}})
    inputs = {
        "sig": [write_features(tmp_path / "s.parquet", n=300, seed=1, run=1, meta={"sum_weights": 300.0})],
        "bkg": [write_features(tmp_path / "b.parquet", n=900, seed=2, run=2, meta={"sum_weights": 900.0})],
    }
    build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")
    train = read_split(tmp_path / "ds", "train")
    tw = train.train_weight.to_numpy()
    assert tw.mean() == pytest.approx(1.0)
    lab = train.label.to_numpy()
    assert tw[lab == 0].sum() == pytest.approx(tw[lab == 1].sum())
    # physics weight untouched by balancing
    assert np.allclose(train.weight.to_numpy()[lab == 1], 500.0 * 300 * 1000 / 900)


def test_balance_classes_and_pt_eta(tmp_path):
    for balance in ("classes", "pt_eta"):
        # jet_substructure has the (pt, eta) observers that balance: pt_eta needs (checked at config time)
        cfg = make_config(tmp_path, dataset={"balance": balance}, features=("jet_substructure",))
        inputs = _two_samples(tmp_path, n=2000, gen_weight=np.linspace(0.1, 2.0, 2000))
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / balance)
        train = read_split(tmp_path / balance, "train")
        tw, lab = train.train_weight.to_numpy(), train.label.to_numpy()
        assert tw.mean() == pytest.approx(1.0)
        assert tw[lab == 0].sum() == pytest.approx(tw[lab == 1].sum())
        if balance == "classes":  # unit weight per row inside a class
            assert np.ptp(tw[lab == 0]) == pytest.approx(0.0, abs=1e-12)
        else:  # flat in pt: weighted pt histogram of a class roughly flat
            h, _ = np.histogram(train.observers.pt.to_numpy()[lab == 0], bins=5, range=(25, 195),
                                weights=tw[lab == 0])
            assert h.max() / h.min() < 1.5


def test_split_deterministic_event_grouped_and_file_order_free(tmp_path):
    cfg = make_config(tmp_path)
    a = write_features(tmp_path / "a.parquet", n=300, seed=1, run=1, objects_per_event=3)
    b = write_features(tmp_path / "b.parquet", n=300, seed=2, run=1, first_event=100, objects_per_event=3)
    c = write_features(tmp_path / "c.parquet", n=300, seed=3, run=2)
    build_dataset(config=cfg, task="t", inputs={"sig": [a, b], "bkg": [c]}, out_dir=tmp_path / "d1")
    build_dataset(config=cfg, task="t", inputs={"bkg": [c], "sig": [b, a]}, out_dir=tmp_path / "d2")
    seen: dict[tuple[int, int], str] = {}
    for split in ("train", "val", "test"):
        d1, d2 = read_split(tmp_path / "d1", split), read_split(tmp_path / "d2", split)
        assert ak.to_list(d1) == ak.to_list(d2)
        for key in zip(d1.run.to_list(), d1.event.to_list(), strict=True):
            assert seen.setdefault(key, split) == split  # every object of an event in one split
    # the split is a pure function of (run, event)
    run, event = np.array([1, 1, 7]), np.array([5, 5, 5])
    s = assign_splits(run, event, {"train": 0.6, "val": 0.2, "test": 0.2})
    assert s[0] == s[1]
    np.testing.assert_array_equal(event_uniform(run, event), event_uniform(run, event))


def test_split_fractions_on_10k_events():
    run = np.repeat(np.arange(1, 5), 2500)
    event = np.arange(10_000)
    split = assign_splits(run, event, {"train": 0.7, "val": 0.1, "test": 0.2})
    frac = np.bincount(split, minlength=3) / len(split)
    np.testing.assert_allclose(frac, [0.7, 0.1, 0.2], atol=0.015)
    u = event_uniform(run, event)
    assert u.min() >= 0 and u.max() < 1


def test_normalisation_uses_training_split_only(tmp_path):
    cfg = make_config(tmp_path)
    build_dataset(config=cfg, task="t", inputs=_two_samples(tmp_path, n=400), out_dir=tmp_path / "d1")
    meta1 = read_meta(tmp_path / "d1")
    train = read_split(tmp_path / "d1", "train")
    tab = np.stack([train.tabular[n].to_numpy() for n in TABULAR], axis=1)
    np.testing.assert_allclose(meta1["norm"]["tabular"]["mean"], tab.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(meta1["norm"]["tabular"]["std"], tab.std(axis=0), rtol=1e-5)
    pts = train.points.to_numpy()[train.points_mask.to_numpy()]
    np.testing.assert_allclose(meta1["norm"]["points"]["mean"], pts.mean(axis=0), rtol=1e-5)

    # Perturb only val/test rows (same events, huge values): statistics unchanged.
    is_train = assign_splits(np.r_[np.full(400, 1), np.full(400, 2)],
                             np.r_[np.arange(400), np.arange(400)], cfg.task("t").dataset.split) == 0
    inputs = {}
    for i, s in enumerate(("sig", "bkg")):
        src = ak.from_parquet(tmp_path / f"f/{s}.parquet")
        keep_train = is_train[i * 400:(i + 1) * 400]
        bumped = {t: ak.where(keep_train, src.tabular[t], src.tabular[t] + np.float32(1e4)) for t in TABULAR}
        pts = np.where(keep_train[:, None, None], src.points.to_numpy(), src.points.to_numpy() + 1e4)
        src = ak.with_field(src, ak.zip(bumped), "tabular")
        src = ak.with_field(src, pts.astype(np.float32), "points")
        table = ak.to_arrow_table(src, extensionarray=True)
        md = pq.read_schema(tmp_path / f"f/{s}.parquet").metadata
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"dl4hep": md[b"dl4hep"]})
        pq.write_table(table, tmp_path / f"p_{s}.parquet")
        inputs[s] = [tmp_path / f"p_{s}.parquet"]
    build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "d2")
    meta2 = read_meta(tmp_path / "d2")
    assert meta2["norm"] == meta1["norm"]
    assert ak.max(read_split(tmp_path / "d2", "val").tabular.mll) > 1e3  # the perturbation is there


def test_points_stats_ignore_padding_and_floor_std():
    points = np.zeros((2, 3, 2), np.float32)
    points[0, 0] = [1.0, 5.0]
    points[1, 0] = [3.0, 5.0]
    mask = np.array([[True, False, False], [True, False, False]])
    st = points_stats(points, mask)
    assert st["mean"] == [2.0, 5.0]
    assert st["std"] == [1.0, 1.0]  # second feature constant -> floored to 1


def _with_nans(tmp_path: Path) -> dict[str, list[Path]]:
    inputs = _two_samples(tmp_path, n=100)
    src = ak.from_parquet(inputs["sig"][0])
    mll = src.tabular.mll.to_numpy().copy()
    mll[[3, 7]] = np.nan
    met = src.tabular.met.to_numpy().copy()
    met[[7, 9]] = np.inf
    pts = src.points.to_numpy().copy()
    pts[20, 0, 1] = np.nan      # real particle (npart >= 1): counts
    mask = src.points_mask.to_numpy()
    pad_row = int(np.flatnonzero(~mask[:, -1])[0])
    pts[pad_row, -1, 0] = np.nan  # padding: ignored
    src = ak.with_field(src, ak.zip({"mll": mll, "met": met}), "tabular")
    src = ak.with_field(src, pts, "points")
    table = ak.to_arrow_table(src, extensionarray=True)
    md = pq.read_schema(inputs["sig"][0]).metadata
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"dl4hep": md[b"dl4hep"]})
    pq.write_table(table, inputs["sig"][0])
    return inputs


@pytest.mark.reliability
def test_nan_drop_counts(tmp_path):
    cfg = make_config(tmp_path, dataset={"nan_policy": "drop"})
    summary = build_dataset(config=cfg, task="t", inputs=_with_nans(tmp_path), out_dir=tmp_path / "ds")
    assert summary["nan_dropped"] == {"mll": 2, "met": 2, "points.dphi": 1}
    assert summary["nan_dropped_rows"] == 4  # row 7 holds two bad features
    meta = read_meta(tmp_path / "ds")
    assert meta["nan_dropped"] == summary["nan_dropped"]
    assert sum(sum(v.values()) for v in meta["counts"].values()) == 196


@pytest.mark.reliability
def test_nan_fail_names_features_counts_and_file(tmp_path):
    cfg = make_config(tmp_path, dataset={"nan_policy": "fail"})
    with pytest.raises(DataError, match=r"4 row\(s\).*'mll': 2.*'points.dphi': 1.*sig\.parquet"):
        build_dataset(config=cfg, task="t", inputs=_with_nans(tmp_path), out_dir=tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


@pytest.mark.reliability
def test_malformed_parquet(tmp_path):
    bad = REAL_DATA / "nano_dy_malformed.parquet"
    assert bad.exists()
    cfg = make_config(tmp_path)
    inputs = _two_samples(tmp_path)
    inputs["sig"].append(bad)
    with pytest.raises(InputFileError, match=r"nano_dy_malformed\.parquet.*not a readable parquet"):
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


@pytest.mark.reliability
def test_not_parquet_and_missing_file(tmp_path):
    cfg = make_config(tmp_path)
    inputs = _two_samples(tmp_path)
    junk = tmp_path / "junk.parquet"
    junk.write_text("hello")
    with pytest.raises(InputFileError, match="junk.parquet"):
        build_dataset(config=cfg, task="t", inputs={**inputs, "bkg": [junk]}, out_dir=tmp_path / "ds")
    with pytest.raises(InputFileError, match="nope.parquet.*does not exist"):
        build_dataset(config=cfg, task="t", inputs={**inputs, "bkg": [tmp_path / "nope.parquet"]},
                      out_dir=tmp_path / "ds")


@pytest.mark.reliability
def test_feature_names_differ(tmp_path):
    cfg = make_config(tmp_path)
    inputs = {
        "sig": [write_features(tmp_path / "s.parquet", n=20, run=1)],
        "bkg": [write_features(tmp_path / "b.parquet", n=20, run=2, tabular=["mll", "ht"])],
    }
    with pytest.raises(DataError, match=r"/[sb]\.parquet and .*/[sb]\.parquet describe different features \(tabular: "):
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")


@pytest.mark.reliability
def test_all_inputs_empty(tmp_path):
    cfg = make_config(tmp_path)
    with pytest.raises(EmptyInputError, match="every feature file is empty"):
        build_dataset(config=cfg, task="t", inputs=_two_samples(tmp_path, n=0), out_dir=tmp_path / "ds")


@pytest.mark.reliability
def test_empty_file_skipped_with_warning(tmp_path, caplog):
    cfg = make_config(tmp_path)
    inputs = _two_samples(tmp_path, n=50)
    inputs["sig"].append(write_features(tmp_path / "empty.parquet", n=0, run=9))
    with caplog.at_level(logging.WARNING):
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")
    assert "empty.parquet" in caplog.text and "empty" in caplog.text


@pytest.mark.reliability
def test_single_class(tmp_path):
    cfg = make_config(tmp_path)
    inputs = _two_samples(tmp_path, n=50)
    with pytest.raises(DataError, match="only class 'sig' has rows"):
        build_dataset(config=cfg, task="t", inputs={"sig": inputs["sig"]}, out_dir=tmp_path / "ds")


@pytest.mark.reliability
def test_missing_class(tmp_path):
    cfg = make_config(
        tmp_path, classes=("a", "b", "c"),
        samples={"sa": {"label": "a"}, "sb": {"label": "b"}, "sc": {"label": "c"}},
    )
    inputs = {
        "sa": [write_features(tmp_path / "a.parquet", n=30, run=1)],
        "sb": [write_features(tmp_path / "b.parquet", n=30, run=2)],
        "sc": [write_features(tmp_path / "c.parquet", n=0, run=3)],
    }
    with pytest.raises(EmptyInputError, match=r"class 'c' \(samples \['sc'\]\) has zero rows"):
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "ds")


@pytest.mark.reliability
def test_failed_run_keeps_previous_output(tmp_path):
    cfg = make_config(tmp_path)
    out = tmp_path / "ds"
    build_dataset(config=cfg, task="t", inputs=_two_samples(tmp_path), out_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError):
        build_dataset(config=make_config(tmp_path, dataset={"nan_policy": "fail"}), task="t",
                      inputs=_with_nans(tmp_path), out_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")] == []


@pytest.mark.reliability
def test_reproducible_output(tmp_path):
    cfg = make_config(tmp_path, dataset={"max_per_class": 150})
    inputs = _two_samples(tmp_path, n=300)
    s1 = build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "d1")
    s2 = build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / "d2")
    assert s1["max_per_class_dropped"] == {"sig": 150, "bkg": 150}
    assert s1["rows"] == s2["rows"]
    assert (tmp_path / "d1/meta.json").read_bytes() == (tmp_path / "d2/meta.json").read_bytes()
    for split in ("train", "val", "test"):
        assert (tmp_path / f"d1/{split}.parquet").read_bytes() == (tmp_path / f"d2/{split}.parquet").read_bytes()
    # the cap keeps each sample's expected yield
    data = ak.concatenate([read_split(tmp_path / "d1", s) for s in ("train", "val", "test")])
    assert float(ak.sum(data.weight[data.sample == "sig"])) == pytest.approx(300.0)


@pytest.mark.reliability
def test_unknown_sample_is_a_config_error(tmp_path):
    cfg = make_config(tmp_path)
    with pytest.raises(ConfigError, match="'sgi'.*Did you mean 'sig'"):
        build_dataset(config=cfg, task="t", inputs={"sgi": [tmp_path / "x.parquet"]}, out_dir=tmp_path / "ds")


def test_sample_mix_equal_gives_every_sample_of_a_class_the_same_total(tmp_path):
    """Audit D4: photons (2.1e6 pb) and electrons (5.5e3 pb) in one class. With physics weights an
    electron row weighs 1/386 of a photon row; ``sample_mix: equal`` gives both samples half the class."""
    samples = {"photon": {"label": "sig", "cross_section": 2.1e6}, "electron": {"label": "sig", "cross_section": 5.5e3},
               "bkg": {"label": "bkg", "cross_section": 10.0}}
    gw = np.where(np.arange(300) % 3 == 0, -1.0, 2.0)  # a negative-weight share survives the rescaling
    inputs = {
        "photon": [write_features(tmp_path / "p.parquet", n=300, seed=1, run=1, gen_weight=gw, meta={"sum_weights": 300.0})],
        "electron": [write_features(tmp_path / "e.parquet", n=300, seed=2, run=2, meta={"sum_weights": 300.0})],
        "bkg": [write_features(tmp_path / "b.parquet", n=300, seed=3, run=3, meta={"sum_weights": 300.0})],
    }
    totals = {}
    for mix in ("physics", "equal"):
        cfg = make_config(tmp_path, samples=samples, dataset={"sample_mix": mix})
        build_dataset(config=cfg, task="t", inputs=inputs, out_dir=tmp_path / mix)
        data = ak.concatenate([read_split(tmp_path / mix, s) for s in ("train", "val", "test")])
        totals[mix] = {s: float(ak.sum(data.weight[data.sample == s])) for s in samples}
        if mix == "equal":
            ph = data.weight[data.sample == "photon"].to_numpy()
            assert set(np.round(ph / ph.max(), 9)) == {1.0, -0.5}  # row-to-row shape kept
    lumi_pb = 300.0 * 1000
    assert totals["physics"]["photon"] / totals["physics"]["electron"] == pytest.approx(2.1e6 / 5.5e3)
    class_total = totals["physics"]["photon"] + totals["physics"]["electron"]
    assert totals["equal"]["photon"] == pytest.approx(class_total / 2)
    assert totals["equal"]["electron"] == pytest.approx(class_total / 2)
    assert totals["equal"]["bkg"] == pytest.approx(totals["physics"]["bkg"]) == pytest.approx(10.0 * lumi_pb)
    assert read_meta(tmp_path / "equal")["sample_mix"] == "equal"


def test_egamma_task_mixes_photons_and_electrons_equally(at_repo):
    from dl4hep.config import load_analysis

    cfg = load_analysis("configs/mini.yaml")
    assert cfg.task("egamma").dataset.sample_mix == "equal"


def test_stage_face_exports_the_entry_lazily():
    import subprocess
    import sys

    import dl4hep.data
    from dl4hep.data import dataset

    assert dl4hep.data.build_dataset is dataset.build_dataset and "build_dataset" in dl4hep.data.__all__
    assert "meta.json" in dl4hep.data.__doc__  # the face names the stage's outputs
    code = "import sys, dl4hep.data; assert 'awkward' not in sys.modules and 'pyarrow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
