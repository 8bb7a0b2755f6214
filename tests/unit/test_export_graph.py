"""Graph models (ParticleNet, hit_gnn): dense padded forward == torch-geometric forward, and ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.unit._synthetic import make_config, make_dataset

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]

GRAPH = {
    "particlenet": {"k": 4, "conv_channels": [[16, 16], [24, 24]], "fc_channels": [16], "dropout": 0.0},
    "hit_gnn": {"k": 4, "hidden": 16, "num_layers": 3, "dropout": 0.0, "dynamic": True},
    "hit_gnn_static": {"k": 5, "hidden": 16, "num_layers": 2, "dropout": 0.0, "dynamic": False},
}


def _net(name: str, input_dim: int = 5):
    from dl4hep.models.registry import build_model

    torch.manual_seed(0)
    net = build_model(name.removesuffix("_static"), GRAPH[name], num_classes=3, input_dim=input_dim)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():  # non-trivial running statistics, as after training
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


def _batch(batch: int, points: int, seed: int, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded batch with variable real lengths: some jets empty, one particle, fewer than k, full."""
    g = torch.Generator().manual_seed(seed)
    n_real = torch.randint(0, points + 1, (batch,), generator=g)
    n_real[: min(batch, 4)] = torch.tensor([0, 1, 2, points])[: min(batch, 4)]
    mask = torch.arange(points).unsqueeze(0) < n_real.unsqueeze(1)
    x = torch.randn(batch, points, dim, generator=g) * mask.unsqueeze(-1)
    return x, mask


def _both(net, x, mask) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        net.dense = False
        pyg = net(x, mask)
        net.dense = True
        dense = net(x, mask)
        net.dense = False
    return pyg, dense


@pytest.mark.parametrize("name", list(GRAPH))
@pytest.mark.parametrize(("batch", "points", "seed"), [(32, 12, 0), (17, 6, 1), (5, 3, 2), (8, 1, 3)])
def test_dense_forward_equals_pyg(name, batch, points, seed):
    net = _net(name)
    x, mask = _batch(batch, points, seed)
    pyg, dense = _both(net, x, mask)
    assert pyg.shape == dense.shape == (batch, 3)
    torch.testing.assert_close(dense, pyg, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["particlenet", "hit_gnn"])
def test_dense_forward_ignores_padding_values(name):
    net = _net(name)
    x, mask = _batch(16, 10, 4)
    with torch.no_grad():
        net.dense = True
        clean = net(x, mask)
        dirty = net(torch.where(mask.unsqueeze(-1), x, torch.full_like(x, 1e3)), mask)
    torch.testing.assert_close(dirty, clean, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["particlenet", "hit_gnn"])
def test_dense_forward_is_inference_only(name):
    net = _net(name).train()
    net.dense = True
    x, mask = _batch(4, 5, 0)
    with pytest.raises(RuntimeError, match="inference-only"):
        net(x, mask)


# ------------------------------------------------------------------ ONNX


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from dl4hep.training.api import train_model

    root = tmp_path_factory.mktemp("export_graph")
    ds = make_dataset(root / "ds", n=96, max_points=8, n_classes=3)
    dirs = {}
    for name in ("particlenet", "hit_gnn"):
        hp = {k: v for k, v in GRAPH[name].items() if k != "dropout"}
        cfg = make_config(name, hyperparameters=hp, n_classes=3, training={"epochs": 1})
        train_model(config=cfg, task="t", model=name, dataset_dir=ds, out_dir=root / name, progress=False)
        dirs[name] = root / name
    return dirs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["particlenet", "hit_gnn"])
def test_graph_export_matches_pytorch(trained, name, tmp_path):
    import onnx
    import onnxruntime as ort

    from dl4hep.training.checkpoint import load_trained
    from dl4hep.training.export import NOT_EXPORTABLE, export_onnx

    assert name not in NOT_EXPORTABLE
    out = tmp_path / "model.onnx"
    result = export_onnx(model_dir=trained[name], out=out, tolerance=1e-4)
    assert result["max_abs_diff"] < 1e-4
    assert result["inputs"] == ["points", "points_mask"]
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["model_type"] == name and meta["max_points"] == 8

    # onnxruntime vs the torch-geometric forward at two batch sizes never seen at export time
    net, _, _ = load_trained(trained[name])
    assert not net.dense
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch, seed in ((3, 10), (37, 11)):
        x, mask = _batch(batch, 8, seed)
        with torch.no_grad():
            logits = net(x, mask)
        got_logits, got_probs = session.run(["logits", "probabilities"], {"points": x.numpy(), "points_mask": mask.numpy()})
        assert got_logits.shape == (batch, 3)
        assert np.max(np.abs(got_logits - logits.numpy())) < 1e-4
        assert np.max(np.abs(got_probs - torch.softmax(logits, 1).numpy())) < 1e-4


def test_knn_on_a_crystal_grid_picks_the_same_neighbours_in_onnxruntime(tmp_path):
    """Integer (ieta, iphi) offsets tie constantly; torch and onnxruntime must agree anyway."""
    import onnxruntime as ort

    from dl4hep.models.common import knn_indices

    class Knn(torch.nn.Module):
        def forward(self, coords, mask):
            return knn_indices(coords, mask, 6)[0]

    g = torch.Generator().manual_seed(0)
    coords = torch.randint(-3, 4, (5, 20, 2), generator=g).float() / 1.7  # normalised grid offsets
    mask = torch.rand(5, 20, generator=g) < 0.8
    path = tmp_path / "knn.onnx"
    torch.onnx.export(Knn(), (coords, mask), str(path), input_names=["coords", "mask"],
                      dynamic_axes={"coords": {0: "batch"}, "mask": {0: "batch"}}, dynamo=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_idx,) = session.run(None, {"coords": coords.numpy(), "mask": mask.numpy()})
    torch_idx, valid = knn_indices(coords, mask, 6)
    v = valid.numpy()
    assert v.sum() > 100
    np.testing.assert_array_equal(onnx_idx[v], torch_idx.numpy()[v])
