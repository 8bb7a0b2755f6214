"""In-memory inference on numpy arrays (permutation importance, notebooks).

:func:`load_model` rebuilds ``model_dir/best.pt`` (:func:`~dl4hep.training.checkpoint.load_trained`);
:func:`predict_arrays` takes *unnormalised* features in the dataset's column
order, applies the model's feature subset and training normalisation with the
same code as ``dl4hep predict`` (:func:`dl4hep.data.tensors.arrays_to_tensors`)
and scores them in batches (:func:`dl4hep.training.predict.score_tensors`), so
its probabilities equal those ``dl4hep predict`` writes for the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from torch import nn

from dl4hep.contracts import POINTS, POINTS_MASK, POINTS_P4
from dl4hep.data.tensors import InputSpec, arrays_to_tensors
from dl4hep.training.checkpoint import input_names, load_trained
from dl4hep.training.predict import score_tensors

__all__ = ["load_model", "predict_arrays"]


def load_model(model_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode on the CPU, meta)`` of ``model_dir/best.pt``.

    ``meta`` keys: ``type``, ``name``, ``task``, ``classes``, ``background``,
    ``block`` (``tabular`` or ``points``), ``inputs`` (the model's input
    tensors), ``features`` (the features the model reads), ``tabular`` and
    ``points`` (all of the dataset's columns of that block, in the order
    :func:`predict_arrays` expects them), ``input`` (the
    :class:`~dl4hep.data.tensors.InputSpec` as a dict: subset and
    normalisation) and ``epoch``.
    """
    net, spec, ckpt = load_trained(Path(model_dir))
    info = ckpt["model"]
    dataset_meta = ckpt.get("meta") or {}
    meta = {
        "type": info["type"], "name": info.get("name"), "task": info.get("task"), "classes": list(info["classes"]),
        "background": info.get("background"), "block": spec.block, "inputs": list(input_names(net)),
        "features": list(spec.names),
        "tabular": list(spec.all_names) if spec.block == "tabular" else list(dataset_meta.get("tabular") or []),
        "points": list(spec.all_names) if spec.block == "points" else list(dataset_meta.get("points") or []),
        "input": spec.to_dict(), "epoch": ckpt["epoch"],
    }
    return net.eval(), meta


def _as_float(name: str, a: np.ndarray, ndim: int) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a


def _arrays(spec: InputSpec, tabular: Any, points: Any, mask: Any, p4: Any) -> ak.Array:
    """Dataset-shaped awkward record (``tabular`` record, or ``points``/``points_mask``/``points_p4``)."""
    width = len(spec.all_names)
    if spec.block == "tabular":
        if tabular is None:
            raise ValueError(f"this model reads tabular features {spec.all_names}; pass tabular=(N, {width})")
        x = _as_float("tabular", tabular, 2)
        if x.shape[1] != width:
            raise ValueError(f"tabular has shape {x.shape}, expected (N, {width}) with columns {spec.all_names}")
        return ak.Array({"tabular": ak.zip({n: x[:, i] for i, n in enumerate(spec.all_names)})})
    if points is None:
        raise ValueError(f"this model reads point features {spec.all_names}; pass points=(N, P, {width})")
    pts = _as_float("points", points, 3)
    if pts.shape[2] != width:
        raise ValueError(f"points has shape {pts.shape}, expected (N, P, {width}) with features {spec.all_names}")
    m = np.ones(pts.shape[:2], bool) if mask is None else np.ascontiguousarray(mask, dtype=bool)
    if m.shape != pts.shape[:2]:
        raise ValueError(f"mask has shape {m.shape}, expected {pts.shape[:2]}")
    cols = {POINTS: ak.from_numpy(pts), POINTS_MASK: ak.from_numpy(m)}
    if spec.has_p4:
        q = np.zeros((*pts.shape[:2], 4), np.float32) if p4 is None else _as_float("p4", p4, 3)
        if q.shape != (*pts.shape[:2], 4):
            raise ValueError(f"p4 has shape {q.shape}, expected {(*pts.shape[:2], 4)}")
        cols[POINTS_P4] = ak.from_numpy(q)
    return ak.Array(cols)


def predict_arrays(
    model: nn.Module, meta: dict[str, Any], tabular: np.ndarray | None = None, points: np.ndarray | None = None,
    mask: np.ndarray | None = None, p4: np.ndarray | None = None, *, batch_size: int = 4096,
) -> np.ndarray:
    """Class probabilities ``(N, C)`` float32 for unnormalised inputs.

    Args:
        model, meta: from :func:`load_model`.
        tabular: ``(N, T)`` for tabular models, columns in the order of ``meta["tabular"]``
            (all of the dataset's tabular features; the model's subset is taken here).
        points: ``(N, P, F)`` for point models, features in the order of ``meta["points"]``.
        mask: ``(N, P)`` bool, True for real particles (all real if None).
        p4: ``(N, P, 4)`` ``(px, py, pz, E)``; needed only by models reading ``points_p4``
            (zeros if None; padding is zeroed here).
        batch_size: rows per forward pass.
    """
    spec = InputSpec.from_dict(meta["input"])
    if spec.block == POINTS and p4 is None and POINTS_P4 in input_names(model):
        raise ValueError(f"this model reads {POINTS_P4}; pass p4=(N, P, 4)")
    tensors = arrays_to_tensors(_arrays(spec, tabular, points, mask, p4), spec)
    n = len(next(iter(tensors.values())))
    if n == 0:
        return np.zeros((0, len(meta["classes"])), np.float32)
    device = next(model.parameters()).device
    return score_tensors(model, tensors, device=device, batch_size=batch_size)

