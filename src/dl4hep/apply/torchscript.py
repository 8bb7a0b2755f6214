"""TorchScript export of a trained model for ``coffea.ml_tools.torch_wrapper`` (which loads only TorchScript).

The traced module takes the normalised inputs of :func:`dl4hep.data.tensors.arrays_to_tensors`
(in the model's ``input_names`` order) and returns softmax probabilities ``(batch, classes)``.
Graph models trace their padded dense forward, as for ONNX (:mod:`dl4hep.training.export`);
the export is checked against the model as trained before the file is renamed into place.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dl4hep.errors import DataError
from dl4hep.io.atomic import atomic_output
from dl4hep.models.registry import use_export_path
from dl4hep.training.checkpoint import input_names, load_trained

__all__ = ["export_torchscript"]


class _Probabilities(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.softmax(self.net(*inputs).float(), dim=1)


def export_torchscript(model_dir: Path, out: Path, *, tolerance: float = 1e-4) -> dict[str, Any]:
    """Trace ``model_dir/best.pt`` into ``out``; raise :class:`DataError` if it differs from the model by > tolerance."""
    net, spec, ckpt = load_trained(Path(model_dir))
    names = input_names(net)
    example = ckpt.get("example") or {}
    if not example or any(n not in example for n in names):
        from dl4hep.models.registry import example_inputs

        example = example_inputs(
            names, batch=16, input_dim=spec.input_dim, max_points=spec.max_points or 1
        )
    args = tuple(example[n] for n in names)
    wrapper = _Probabilities(net).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # torch.jit is deprecated, but it is what coffea's torch_wrapper loads
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = wrapper(*args)
        use_export_path(net)  # the export paths of ParT and the kNN models (see training/export.py)
        traced = torch.jit.trace(wrapper, args, check_trace=False)
        diff = float((traced(*args) - reference).abs().max()) if len(args[0]) else 0.0
    if not diff <= tolerance:
        raise DataError(
            f"TorchScript trace of {model_dir} differs from the model by {diff:.3g} > {tolerance:g}"
        )
    with atomic_output(Path(out)) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp))
    return {"out": str(out), "max_abs_diff": diff, "inputs": list(names)}
