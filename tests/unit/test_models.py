"""Model registry checks, architecture properties (size, permutation and padding invariance), overfitting."""

from __future__ import annotations

import pytest
import torch

from dl4hep.errors import ConfigError
from dl4hep.models.specs import MODELS, check_model, model_spec, model_types, read_head

pytestmark = pytest.mark.usefixtures("one_thread")

TYPES = model_types()
POINT_MODELS = [t for t in TYPES if "points" in model_spec(t).inputs]
CLASSIFIERS = [t for t in TYPES if model_spec(t).objective == "classifier"]


def _build(kind: str, input_dim: int = 5, num_classes: int = 3):
    from dl4hep.models.registry import build_model

    torch.manual_seed(0)
    return build_model(kind, model_spec(kind).tiny, num_classes=num_classes, input_dim=input_dim)


def _inputs(kind: str, batch: int = 6, points: int = 10, dim: int = 5):
    from dl4hep.models.registry import example_inputs

    names = (
        ("tabular",)
        if "points" not in model_spec(kind).inputs
        else ("points", "points_mask", "points_p4")
    )
    return example_inputs(
        names,
        batch=batch,
        input_dim=dim,
        max_points=points,
        generator=torch.Generator().manual_seed(1),
    )


def _call(net, x):
    return net(*[x[n] for n in net.input_names])


# ------------------------------------------------------------------ check_model (torch-free)


def test_check_model_accepts_every_shipped_config(repo):
    import yaml

    for path in sorted((repo / "configs" / "models").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        check_model(
            cfg["type"], cfg["inputs"], cfg.get("hyperparameters", {}), where=f"models.{path.stem}"
        )


def test_check_model_unknown_type_suggests_nearest():
    with pytest.raises(
        ConfigError,
        match=r"unknown model type 'particle_transfomer'.*Did you mean.*'particle_transformer'",
    ):
        check_model("particle_transfomer", "points", {}, where="tasks.jets.models.part")


def test_check_model_wrong_inputs():
    with pytest.raises(
        ConfigError,
        match=r"tasks.jets.models.part.inputs: model type 'particle_transformer' reads \['points'\], not 'tabular'",
    ):
        check_model("particle_transformer", "tabular", {}, where="tasks.jets.models.part")


def test_check_model_unknown_hyperparameter_names_key():
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'tasks.t.models.dnn.hyperparameters.hiden'.*Did you mean 'hidden'",
    ):
        check_model("dnn", "tabular", {"hiden": [4]}, where="tasks.t.models.dnn")


def test_check_model_bad_value_names_key():
    with pytest.raises(ConfigError, match=r"tasks.t.models.p.hyperparameters.num_heads"):
        check_model("particle_transformer", "points", {"num_heads": 0}, where="tasks.t.models.p")
    with pytest.raises(ConfigError, match=r"divisible by num_heads"):
        check_model(
            "particle_transformer", "points", {"embed_dims": [30], "num_heads": 4}, where="m"
        )


def test_specs_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, dl4hep.models.specs; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_checking_every_type_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from dl4hep.models.specs import MODELS, check_model, model_spec\n"
        "for t in MODELS.names(): s = model_spec(t); check_model(t, s.inputs[0], s.tiny, where=t)\n"
        "print(len(MODELS.names()), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(len(TYPES)), "False"]


def test_every_model_type_has_a_config_and_a_spec(repo):
    shipped = {p.stem for p in (repo / "configs" / "models").glob("*.yaml")}
    assert set(TYPES) == shipped
    for kind in TYPES:
        spec = model_spec(kind)
        assert spec.description and spec.inputs and spec.tiny, kind
        assert spec.params.model_validate(spec.tiny).model_dump() != spec.params().model_dump(), (
            kind
        )


def test_read_head_runs_only_up_to_spec(tmp_path, monkeypatch):
    (tmp_path / "toy_head_plugin.py").write_text(
        "from dl4hep.models import plugin\n\n"
        "class Params(plugin.Params):\n    width: int = 3\n\n"
        "SPEC = plugin.ModelSpec(params=Params, inputs=('tabular',), description='toy', network='Net')\n\n"
        "import a_module_that_does_not_exist\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = read_head("toy_head_plugin")
    assert spec.params().width == 3 and spec.network == "Net"
    assert "toy_head_plugin" not in __import__("sys").modules
    (tmp_path / "toy_no_spec.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match=r"toy_no_spec.py defines no 'SPEC = ModelSpec"):
        read_head("toy_no_spec")


def test_a_registered_plugin_is_built_and_checked():
    from pydantic import Field

    from dl4hep.models import plugin
    from dl4hep.models.registry import build_model

    class ToyParams(plugin.Params):
        width: int = Field(4, ge=1)

    class Toy(torch.nn.Module):
        input_names = ("tabular",)

        def __init__(self, params, *, num_classes, input_dim, point_names=None):
            super().__init__()
            self.lin = torch.nn.Linear(input_dim, num_classes * params.width)

        def forward(self, tabular):
            return self.lin(tabular)

    MODELS.register(
        "toy",
        plugin.ModelSpec(params=ToyParams, inputs=("tabular",), description="toy", network=Toy),
    )
    try:
        assert "toy" in model_types()
        net = build_model("toy", {"width": 2}, num_classes=3, input_dim=5)
        assert net(torch.zeros(4, 5)).shape == (4, 6)
        with pytest.raises(
            ConfigError, match=r"unknown key 'm.hyperparameters.widht'.*Did you mean 'width'"
        ):
            check_model("toy", "tabular", {"widht": 2}, where="m")
        with pytest.raises(
            ConfigError,
            match=r"m.hyperparameters.width: Input should be greater than or equal to 1",
        ):
            check_model("toy", "tabular", {"width": 0}, where="m")
    finally:
        MODELS.unregister("toy")
    assert "toy" not in model_types()


# ------------------------------------------------------------------ architecture properties


def test_particle_transformer_default_size_matches_paper():
    from dl4hep.models.registry import build_model, count_parameters

    net = build_model("particle_transformer", {}, num_classes=10, input_dim=17)
    n = count_parameters(net)
    print(f"ParT default parameters: {n:,}")
    assert 1.5e6 < n < 2.7e6


@pytest.mark.parametrize("kind", TYPES)
def test_output_shape_is_logits_or_one_score(kind):
    net = _build(kind).eval()
    out = _call(net, _inputs(kind))
    assert out.shape == ((6, 3) if model_spec(kind).objective == "classifier" else (6, 1))
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


@pytest.mark.parametrize("kind", [t for t in POINT_MODELS if model_spec(t).permutation_invariant])
def test_permuting_particles_does_not_matter(kind):
    net = _build(kind).eval()
    x = _inputs(kind)
    perm = torch.randperm(x["points"].shape[1], generator=torch.Generator().manual_seed(3))
    y = {k: v[:, perm] for k, v in x.items()}
    torch.testing.assert_close(_call(net, y), _call(net, x), atol=1e-5, rtol=1e-5)


def test_pair_features_are_finite_and_zero_for_padding():
    from dl4hep.models.nets.particle_transformer import pair_features

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

    net = build_model(
        "particlenet",
        {**model_spec("particlenet").tiny, "coords": ["b", "c"]},
        num_classes=2,
        input_dim=3,
        point_names=["a", "b", "c"],
    )
    assert net.coord_idx.tolist() == [1, 2]
    with pytest.raises(ConfigError, match=r"coords: \['deta'\] are not point features"):
        build_model(
            "particlenet",
            {"coords": ["deta", "c"]},
            num_classes=2,
            input_dim=3,
            point_names=["a", "b", "c"],
        )


@pytest.mark.parametrize("kind", CLASSIFIERS)
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


@pytest.mark.parametrize("kind", TYPES)
def test_export_path_gives_the_training_outputs(kind):
    from dl4hep.models.common import ExportPath
    from dl4hep.models.registry import use_export_path

    net = _build(kind).eval()
    x = _inputs(kind)
    has_twin = any(isinstance(m, ExportPath) for m in net.modules())
    assert has_twin == (model_spec(kind).export == "twin")
    with torch.no_grad():
        reference = _call(net, x)
        exported = _call(use_export_path(net), x)
    torch.testing.assert_close(exported, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", TYPES)
def test_requires_p4_matches_the_network_inputs(kind):
    spec = model_spec(kind)
    net = _build(kind)
    assert spec.needs_p4(spec.params.model_validate(spec.tiny)) == ("points_p4" in net.input_names)


def test_particle_transformer_needs_p4_only_with_pair_features():
    spec = model_spec("particle_transformer")
    assert spec.needs_p4(spec.params()) and not spec.needs_p4(spec.params(use_pair_features=False))
