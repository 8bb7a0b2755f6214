"""Model registry checks, architecture properties (size, permutation and padding invariance), overfitting."""

from __future__ import annotations

import pytest
import torch

from dl4hep.errors import ConfigError
from dl4hep.models.specs import check_model
from tests.unit._synthetic import one_thread

pytestmark = pytest.mark.usefixtures("one_thread")
__all__ = ["one_thread"]

SMALL = {
    "dnn": {"hidden": [32, 32], "dropout": 0.0},
    "pfn": {"phi_sizes": [32, 32], "f_sizes": [32], "dropout": 0.0},
    "particlenet": {"k": 4, "conv_channels": [[16, 16], [32, 32]], "fc_channels": [32], "dropout": 0.0},
    "particle_transformer": {
        "embed_dims": [32, 32], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 2, "num_cls_layers": 1,
        "dropout": 0.0,
    },
    "hit_gnn": {"k": 4, "hidden": 16, "num_layers": 2, "dropout": 0.0, "dynamic": True},
}
POINT_MODELS = ["pfn", "particlenet", "particle_transformer", "hit_gnn"]


def _build(kind: str, input_dim: int = 5, num_classes: int = 3):
    from dl4hep.models.registry import build_model

    torch.manual_seed(0)
    return build_model(kind, SMALL[kind], num_classes=num_classes, input_dim=input_dim)


def _inputs(kind: str, batch: int = 6, points: int = 10, dim: int = 5):
    from dl4hep.models.registry import example_inputs

    names = ("tabular",) if kind == "dnn" else ("points", "points_mask", "points_p4")
    return example_inputs(names, batch=batch, input_dim=dim, max_points=points, generator=torch.Generator().manual_seed(1))


def _call(net, x):
    return net(*[x[n] for n in net.input_names])


# ------------------------------------------------------------------ check_model (torch-free)


def test_check_model_accepts_every_shipped_config(repo):
    import yaml

    for path in sorted((repo / "configs" / "models").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        check_model(cfg["type"], cfg["inputs"], cfg.get("hyperparameters", {}), where=f"models.{path.stem}")


def test_check_model_unknown_type_suggests_nearest():
    with pytest.raises(ConfigError, match=r"unknown model type 'particle_transfomer'.*Did you mean.*'particle_transformer'"):
        check_model("particle_transfomer", "points", {}, where="tasks.jets.models.part")


def test_check_model_wrong_inputs():
    with pytest.raises(ConfigError, match=r"tasks.jets.models.part.inputs: model type 'particle_transformer' reads \['points'\], not 'tabular'"):
        check_model("particle_transformer", "tabular", {}, where="tasks.jets.models.part")


def test_check_model_unknown_hyperparameter_names_key():
    with pytest.raises(ConfigError, match=r"unknown key 'tasks.t.models.dnn.hyperparameters.hiden'.*Did you mean 'hidden'"):
        check_model("dnn", "tabular", {"hiden": [4]}, where="tasks.t.models.dnn")


def test_check_model_bad_value_names_key():
    with pytest.raises(ConfigError, match=r"tasks.t.models.p.hyperparameters.num_heads"):
        check_model("particle_transformer", "points", {"num_heads": 0}, where="tasks.t.models.p")
    with pytest.raises(ConfigError, match=r"divisible by num_heads"):
        check_model("particle_transformer", "points", {"embed_dims": [30], "num_heads": 4}, where="m")


def test_specs_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, dl4hep.models.specs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


# ------------------------------------------------------------------ architecture properties


def test_particle_transformer_default_size_matches_paper():
    from dl4hep.models.registry import build_model, count_parameters

    net = build_model("particle_transformer", {}, num_classes=10, input_dim=17)
    n = count_parameters(net)
    print(f"ParT default parameters: {n:,}")
    assert 1.5e6 < n < 2.7e6


@pytest.mark.parametrize("kind", list(SMALL))
def test_output_shape_is_logits(kind):
    net = _build(kind).eval()
    out = _call(net, _inputs(kind))
    assert out.shape == (6, 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("kind", POINT_MODELS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_padding_content_does_not_matter(kind, mode):
    net = _build(kind).train(mode == "train")
    x = _inputs(kind)
    pad = ~x["points_mask"]
    y = {k: v.clone() for k, v in x.items()}
    g = torch.Generator().manual_seed(5)
    y["points"][pad] = torch.randn(int(pad.sum()), 5, generator=g) * 10
    y["points_p4"][pad] = torch.randn(int(pad.sum()), 4, generator=g) * 100
    torch.testing.assert_close(_call(net, y), _call(net, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", POINT_MODELS)
def test_permuting_particles_does_not_matter(kind):
    net = _build(kind).eval()
    x = _inputs(kind)
    perm = torch.randperm(x["points"].shape[1], generator=torch.Generator().manual_seed(3))
    y = {k: v[:, perm] for k, v in x.items()}
    torch.testing.assert_close(_call(net, y), _call(net, x), atol=1e-5, rtol=1e-5)


def test_pair_features_are_finite_and_zero_for_padding():
    from dl4hep.models.particle_transformer import pair_features

    x = _inputs("particle_transformer")
    f = pair_features(x["points_p4"], x["points_mask"])
    assert f.shape == (6, 10, 10, 4)
    assert torch.isfinite(f).all()
    pair = x["points_mask"][:, :, None] & x["points_mask"][:, None, :]
    assert (f[~pair] == 0).all()
    # ln Delta is symmetric and ln m^2 of two massless collinear-ish particles is finite
    torch.testing.assert_close(f[..., 0], f[..., 0].transpose(1, 2))


def test_particlenet_coords_by_name():
    from dl4hep.models.registry import build_model

    net = build_model("particlenet", {**SMALL["particlenet"], "coords": ["b", "c"]}, num_classes=2, input_dim=3,
                      point_names=["a", "b", "c"])
    assert net.coord_idx.tolist() == [1, 2]
    with pytest.raises(ConfigError, match=r"coords: \['deta'\] are not point features"):
        build_model("particlenet", {"coords": ["deta", "c"]}, num_classes=2, input_dim=3, point_names=["a", "b", "c"])


@pytest.mark.parametrize("kind", list(SMALL))
def test_overfits_a_tiny_batch(kind):
    net = _build(kind).train()
    x = _inputs(kind, batch=16)
    labels = torch.arange(16) % 3
    opt = torch.optim.Adam(net.parameters(), lr=2e-3 if kind == "particle_transformer" else 1e-2)
    losses = []
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(_call(net, x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] < 0.1 * losses[0]:
            break
    assert losses[-1] < 0.2 * losses[0], losses[::10]
