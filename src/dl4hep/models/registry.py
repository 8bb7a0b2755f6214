"""Building and sizing registered models (the torch side of :mod:`dl4hep.models.specs`).

Every model takes its dataset block(s) as positional tensors named in its
``input_names`` (``tabular``; or ``points``, ``points_mask``, ``points_p4``)
and returns raw logits ``(batch, num_classes)``; binary tasks use two classes.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

import torch
from torch import Tensor, nn

from dl4hep.contracts import POINTS, POINTS_MASK, POINTS_P4
from dl4hep.models.common import ExportPath
from dl4hep.models.specs import NETS, model_spec, parse_hyperparameters

__all__ = [
    "build_model",
    "count_flops",
    "count_parameters",
    "example_inputs",
    "model_inputs",
    "network_class",
    "trims_padding",
    "use_export_path",
]


def network_class(type: str, *, where: str = "model") -> type[nn.Module]:
    """The ``nn.Module`` class of model ``type`` (imports its plugin file, and with it torch)."""
    spec = model_spec(type, where=where)
    if isinstance(spec.network, str):
        module = importlib.import_module(f"{NETS}.{type}")
        return cast("type[nn.Module]", getattr(module, spec.network))
    return cast("type[nn.Module]", spec.network)


def build_model(
    type: str,
    hyperparameters: dict[str, Any],
    *,
    num_classes: int,
    input_dim: int,
    point_names: list[str] | None = None,
    where: str = "model",
) -> nn.Module:
    """Instantiate a registered model from validated hyperparameters.

    Args:
        type: Registry name (a plugin of :mod:`dl4hep.models.nets`, e.g. ``dnn``, ``particle_transformer``).
        hyperparameters: Mapping validated by the type's pydantic schema.
        num_classes: Output logits per sample.
        input_dim: Tabular features, or point features per particle.
        point_names: Names of the point features (for ``coords`` lookups).
    """
    network = network_class(type, where=where)
    params = parse_hyperparameters(type, hyperparameters, where=where)
    return network(params, num_classes=num_classes, input_dim=input_dim, point_names=point_names)


def model_inputs(model: nn.Module) -> tuple[str, ...]:
    """Names of the positional input tensors of ``model`` (unwrapping DDP / torch.compile)."""
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    return tuple(inner.input_names)


def trims_padding(model: nn.Module) -> bool:
    """Whether ``model``'s outputs are independent of the padded width (``trim_padding``), so
    batches may be cut to their longest point cloud (:mod:`dl4hep.data.buckets`)."""
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    return bool(getattr(inner, "trim_padding", False))


def use_export_path(model: nn.Module) -> nn.Module:
    """Switch every :class:`~dl4hep.models.common.ExportPath` submodule of ``model`` to its traceable twin.

    Called by ``dl4hep export`` (ONNX) and the TorchScript export before tracing; models whose
    spec says ``export="as_trained"`` have no such submodule and are left as they are.
    """
    for m in model.modules():
        if isinstance(m, ExportPath):
            m.use_export_path()
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_inputs(
    names: tuple[str, ...],
    *,
    batch: int,
    input_dim: int,
    max_points: int,
    generator: torch.Generator | None = None,
    full: bool = False,
) -> dict[str, Tensor]:
    """Synthetic, physically sensible inputs (for sizing, FLOP counts and benchmarks).

    Points get a random number of real particles (at least one; all with ``full``); ``points_p4``
    holds massless four-momenta ``(px, py, pz, E)`` in GeV around one jet axis.
    """
    g = generator or torch.Generator().manual_seed(0)
    out: dict[str, Tensor] = {}
    if "tabular" in names:
        out["tabular"] = torch.randn(batch, input_dim, generator=g)
        return out
    n_real = torch.randint(1, max_points + 1, (batch, 1), generator=g)
    if full:
        n_real = torch.full((batch, 1), max_points)
    mask = torch.arange(max_points).unsqueeze(0) < n_real
    out[POINTS] = torch.randn(batch, max_points, input_dim, generator=g) * mask.unsqueeze(-1)
    out[POINTS_MASK] = mask
    pt = torch.rand(batch, max_points, generator=g) * 100 + 1
    eta = torch.randn(batch, max_points, generator=g) * 0.3
    phi = torch.randn(batch, max_points, generator=g) * 0.3
    p4 = torch.stack(
        [pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta), pt * torch.cosh(eta)], -1
    )
    out[POINTS_P4] = p4 * mask.unsqueeze(-1)
    return {k: v for k, v in out.items() if k in names}


def count_flops(model: nn.Module, inputs: dict[str, Tensor]) -> int:
    """Forward FLOPs of one call (``torch.utils.flop_counter``: matmuls, convs, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*[inputs[n] for n in model_inputs(model)])
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
