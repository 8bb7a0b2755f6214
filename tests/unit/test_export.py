"""ONNX export: dynamic batch, metadata, onnxruntime agrees with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dl4hep.errors import DataError
from tests.unit._synthetic import make_config, make_dataset

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]

TINY = {
    "dnn": {"hidden": [16, 16]},
    "pfn": {"phi_sizes": [16, 16], "f_sizes": [16]},
    "particle_transformer": {"embed_dims": [16, 16], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dl4hep.training.api import train_model

    root = tmp_path_factory.mktemp("export")
    ds = make_dataset(root / "ds", n=96, max_points=8, n_classes=3)
    dirs = {}
    for kind, hp in TINY.items():
        cfg = make_config(kind, hyperparameters=hp, n_classes=3, training={"epochs": 1})
        train_model(config=cfg, task="t", model=kind, dataset_dir=ds, out_dir=root / kind, progress=False)
        dirs[kind] = root / kind
    return dirs


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(TINY))
def test_export_matches_pytorch(trained, kind, tmp_path):
    import onnx
    import onnxruntime as ort

    from dl4hep.training.export import export_onnx

    out = tmp_path / "model.onnx"
    result = export_onnx(model_dir=trained[kind], out=out, tolerance=1e-4)
    assert result["max_abs_diff"] < 1e-4
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["classes"] == ["c0", "c1", "c2"]
    assert len(meta["normalisation"]["mean"]) == len(meta["features"])
    # dynamic batch: a batch size never seen at export time
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in session.get_inputs():
        shape = [7, *inp.shape[1:]]
        if inp.type == "tensor(bool)":
            feeds[inp.name] = np.ones(shape, dtype=bool)
        else:
            feeds[inp.name] = np.abs(np.random.default_rng(0).normal(size=shape)).astype(np.float32) + 1
    logits, probs = session.run(None, feeds)
    assert logits.shape == (7, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert out.with_name("model.onnx.provenance.json").is_file()


@pytest.mark.slow
def test_export_over_tolerance_raises_and_writes_nothing(trained, tmp_path):
    from dl4hep.training.export import export_onnx

    out = tmp_path / "model.onnx"
    with pytest.raises(DataError, match=r"differs from PyTorch by max \|delta\|.*> tolerance"):
        export_onnx(model_dir=trained["dnn"], out=out, tolerance=-1.0)
    assert not out.exists()


@pytest.mark.reliability
def test_export_failing_its_check_leaves_no_file(tmp_path):
    from dl4hep.errors import DataError
    from dl4hep.training.api import train_model
    from dl4hep.training.export import export_onnx

    ds = make_dataset(tmp_path / "ds", n=32, max_points=6, n_classes=2)
    cfg = make_config("hit_gnn", hyperparameters={"k": 2, "hidden": 8, "num_layers": 1}, training={"epochs": 1})
    train_model(config=cfg, task="t", model="hit_gnn", dataset_dir=ds, out_dir=tmp_path / "m", progress=False)
    # a negative tolerance can never be met: the check must fail and publish nothing
    with pytest.raises(DataError, match=r"differs from PyTorch by max \|delta\|.*the file was not written"):
        export_onnx(model_dir=tmp_path / "m", out=tmp_path / "model.onnx", tolerance=-1.0)
    assert not (tmp_path / "model.onnx").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".model")] == []
