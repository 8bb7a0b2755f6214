"""``dl4hep export``: ONNX export of a trained model, checked against PyTorch with onnxruntime.

The graph takes the model's inputs (already normalised, see the metadata)
with a dynamic batch dimension and returns ``logits`` and ``probabilities``
``(batch, classes)``. ``metadata_props`` hold the class names, input names,
feature names, normalisation (``(x - mean) / std``; padding stays 0) and the
model type and hyperparameters, as JSON strings.

Graph models (ParticleNet, hit_gnn) are traced through their dense padded
forward (``dense = True``: top-k kNN over the padded batch, same weights),
checked against the torch-geometric forward they were trained with.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dl4hep.errors import ConfigError, DataError, MissingDependencyError
from dl4hep.io.atomic import atomic_output
from dl4hep.models.registry import use_export_path
from dl4hep.provenance import write_provenance
from dl4hep.training.checkpoint import input_names, load_trained

__all__ = ["NOT_EXPORTABLE", "export_onnx"]

#: Model types that cannot be exported. ParticleNet and hit_gnn export through their padded
#: ``forward_dense`` path (the torch-geometric flat graph has a data-dependent size torch.export cannot trace).
NOT_EXPORTABLE: set[str] = set()

log = logging.getLogger(__name__)

OPSET = 18


class _WithProbabilities(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.net(*inputs)
        return logits, torch.softmax(logits, dim=1)


def _export(wrapper: nn.Module, args: tuple[Tensor, ...], names: tuple[str, ...], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    try:
        torch.onnx.export(
            wrapper, args, str(path), input_names=list(names), output_names=["logits", "probabilities"],
            dynamic_shapes={"inputs": tuple({0: batch} for _ in names)}, opset_version=OPSET, dynamo=True,
            external_data=False, verbose=False,
        )
    except ImportError as err:
        raise MissingDependencyError(f"ONNX export needs onnx and onnxscript: pip install onnx onnxscript ({err})") from err
    except Exception as err:  # torch.export / onnxscript raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"torch.onnx.export failed for {path.name}: {first}") from err


def _metadata(ckpt: dict[str, Any], spec: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """What the ONNX file's ``metadata_props`` say about the model and its inputs (JSON values)."""
    info = ckpt["model"]
    return {
        "classes": info["classes"], "background": info.get("background"), "inputs": list(names),
        "features": spec.names, "block": spec.block, "normalisation": {"mean": spec.mean, "std": spec.std},
        "max_points": spec.max_points, "model_type": info["type"], "hyperparameters": info["hyperparameters"],
        "task": info.get("task"), "model": info.get("name"), "epoch": ckpt["epoch"],
        "note": "inputs are normalised as (x - mean) / std; padded particles are 0 with mask False",
    }


def _max_diff(session: Any, names: tuple[str, ...], args: tuple[Tensor, ...], reference: dict[int, list[Any]]) -> float:
    """``max |onnx - torch|`` over logits and probabilities, at each batch size of ``reference``."""
    max_diff = 0.0
    for rows, want in reference.items():
        feed = {name: a[:rows].numpy() for name, a in zip(names, args, strict=True)}
        got = session.run(["logits", "probabilities"], feed)
        max_diff = max(max_diff, *(float(np.max(np.abs(g - w))) for g, w in zip(got, want, strict=True)))
    return max_diff


def export_onnx(*, model_dir: Path, out: Path, tolerance: float = 1e-4) -> dict[str, Any]:
    """Export ``model_dir/best.pt`` to ``out`` and compare onnxruntime with PyTorch.

    The check batch is the validation rows stored in the checkpoint (or
    synthetic inputs if absent), run at two batch sizes to exercise the dynamic
    axis. Raises :class:`DataError` if ``max |onnx - torch|`` over logits and
    probabilities exceeds ``tolerance``.
    """
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as err:
        raise MissingDependencyError(f"export needs onnx and onnxruntime: pip install onnx onnxruntime ({err})") from err
    model_dir, out = Path(model_dir), Path(out)
    net, spec, ckpt = load_trained(model_dir)
    if ckpt["model"]["type"] in NOT_EXPORTABLE:
        raise ConfigError(
            f"model type '{ckpt['model']['type']}' of {model_dir} cannot be exported to ONNX; use PyTorch "
            "inference (`dl4hep predict`) for this model"
        )
    names = input_names(net)
    example = ckpt.get("example") or {}
    if not example or any(n not in example for n in names):
        from dl4hep.models.registry import example_inputs

        example = example_inputs(names, batch=16, input_dim=spec.input_dim, max_points=spec.max_points or 1)
    wrapper = _WithProbabilities(net).eval()
    args = tuple(example[n] for n in names)
    n = len(args[0])
    sizes = sorted({n, max(1, n // 3)})
    with torch.no_grad():  # reference from the model as trained (SDPA attention, torch-geometric graphs)
        reference = {rows: [t.numpy() for t in wrapper(*[a[:rows] for a in args])] for rows in sizes}
    use_export_path(net)  # plain-op attention (ParT); padded kNN, not the PyG graph (ParticleNet, HitGNN)
    metadata = _metadata(ckpt, spec, names)
    with atomic_output(out) as tmp:
        _export(wrapper, args, names, tmp)
        proto = onnx.load(str(tmp))
        for k, v in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, json.dumps(v)
        onnx.save(proto, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        max_diff = _max_diff(session, names, args, reference)
        if not max_diff <= tolerance:
            raise DataError(
                f"ONNX export of {model_dir} differs from PyTorch by max |delta| = {max_diff:.3g} > tolerance "
                f"{tolerance:g}; the file was not written. Raise --tolerance or report the operator at fault"
            )
    write_provenance(out, stage="export", config=metadata, extra={"max_abs_diff": max_diff, "opset": OPSET})
    log.info("exported %s (max |onnx - torch| = %.2e)", out, max_diff)
    return {"out": str(out), "max_abs_diff": max_diff, "opset": OPSET, "inputs": list(names), "rows_checked": n}
