"""A trained model as a scorer: ``model_dir/best.pt`` (PyTorch) or its exported ``model.onnx``.

Both give the class names, the features the model reads with their training normalisation,
and a function from normalised input tensors to softmax probabilities. The PyTorch path is
:func:`dl4hep.training.predict.score_tensors`, the code ``dl4hep predict`` runs, so the scores
of a row equal ``predict``'s; the ONNX path reads the same facts from the file's
``metadata_props`` (written by :mod:`dl4hep.training.export`) and runs onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dl4hep.data.tensors import InputSpec
from dl4hep.errors import ConfigError, InputFileError, MissingDependencyError, did_you_mean
from dl4hep.training.checkpoint import input_names

__all__ = ["Scorer", "load_scorer"]


@dataclass
class Scorer:
    """What a model reads and how to run it.

    ``names`` are the features the model reads (in its order), ``mean``/``std`` their training
    normalisation; ``inputs`` the tensors it takes (``tabular`` or ``points``, ``points_mask``,
    ``points_p4``); ``run`` maps those normalised tensors to ``(N, C)`` probabilities.
    """

    source: str
    classes: list[str]
    block: str
    names: list[str]
    mean: list[float]
    std: list[float]
    max_points: int | None
    inputs: tuple[str, ...]
    run: Callable[[dict[str, torch.Tensor]], np.ndarray]

    def input_spec(self, available: list[str], max_points: int, *, task: str) -> InputSpec:
        """The model's :class:`InputSpec` over the task's features ``available`` (the feature plan's block).

        Raises:
            ConfigError: the task's features lack one the model reads, or pad point clouds differently.
        """
        missing = [n for n in self.names if n not in available]
        if missing:
            raise ConfigError(
                f"model {self.source} reads {self.block} feature(s) {missing} that task '{task}' does not build "
                f"(its {self.block} features: {available}).{did_you_mean(missing[0], available)} Apply the model "
                "with the feature config it was trained with."
            )
        if self.block == "points" and self.max_points != max_points:
            raise ConfigError(
                f"model {self.source} was trained on point clouds of {self.max_points} particles but task '{task}' "
                f"pads them to {max_points}; apply it with the feature options it was trained with"
            )
        return InputSpec(
            block=self.block,  # type: ignore[arg-type]
            names=list(self.names),
            columns=[available.index(n) for n in self.names],
            mean=list(self.mean),
            std=list(self.std),
            max_points=self.max_points,
            all_names=list(available),
            has_p4="points_p4" in self.inputs,
        )


def load_scorer(path: str | Path, *, batch_size: int = 4096) -> Scorer:
    """A model directory (``best.pt`` inside) or an ``.onnx`` file as a :class:`Scorer`."""
    path = Path(path)
    if path.suffix == ".onnx":
        return _onnx_scorer(path, batch_size)
    if path.is_dir() and not (path / "best.pt").exists() and any(path.glob("fold*/best.pt")):
        return _kfold_scorer(path, batch_size)
    if path.is_dir() or path.name == "best.pt":
        return _torch_scorer(path if path.is_dir() else path.parent, batch_size)
    raise InputFileError(
        f"model {path} is neither a model directory (with best.pt) nor an exported .onnx file"
    )


def _torch_scorer(model_dir: Path, batch_size: int) -> Scorer:
    from dl4hep.training.checkpoint import load_trained
    from dl4hep.training.predict import score_tensors

    net, spec, ckpt = load_trained(model_dir)
    device = torch.device("cpu")

    def run(tensors: dict[str, torch.Tensor]) -> np.ndarray:
        return score_tensors(net, tensors, device=device, batch_size=batch_size)

    return Scorer(
        source=str(model_dir),
        classes=list(ckpt["model"]["classes"]),
        block=spec.block,
        names=list(spec.names),
        mean=list(spec.mean),
        std=list(spec.std),
        max_points=spec.max_points,
        inputs=tuple(input_names(net)),
        run=run,
    )


def _renormalise(tensors: dict[str, torch.Tensor], spec: InputSpec) -> dict[str, torch.Tensor]:
    """Raw (identity-normalised) inputs in one fold model's normalisation; padded points stay zero."""
    mean = torch.tensor(spec.mean, dtype=torch.float32)
    std = torch.tensor(spec.std, dtype=torch.float32)
    out = dict(tensors)
    if spec.block == "tabular":
        out["tabular"] = (tensors["tabular"] - mean) / std
    else:
        mask = tensors["points_mask"][..., None]
        out["points"] = torch.where(mask, (tensors["points"] - mean) / std, torch.zeros(()))
    return out


def _kfold_scorer(model_dir: Path, batch_size: int) -> Scorer:
    """The K fold models of a K-fold model (``fold<i>/best.pt``) as one scorer averaging their probabilities.

    Each fold has its own training normalisation, so the scorer takes raw inputs (identity
    normalisation) and normalises them per fold before running it; each fold model saw (K-1)/K of
    the simulation, and their mean is the usual score of a K-fold classifier on new data.
    """
    from dl4hep.training.kfold import load_fold_models
    from dl4hep.training.predict import score_tensors

    folds = load_fold_models(model_dir)
    first_net, first, ckpt = folds[0]
    for _, spec, _ in folds[1:]:
        if list(spec.names) != list(first.names) or spec.block != first.block:
            raise InputFileError(f"the fold models under {model_dir} read different features; retrain them together")
    device = torch.device("cpu")

    def run(tensors: dict[str, torch.Tensor]) -> np.ndarray:
        probs = [score_tensors(net, _renormalise(tensors, spec), device=device, batch_size=batch_size)
                 for net, spec, _ in folds]
        return np.mean(np.stack(probs), axis=0).astype(np.float32)

    return Scorer(
        source=str(model_dir),
        classes=list(ckpt["model"]["classes"]),
        block=first.block,
        names=list(first.names),
        mean=[0.0] * len(first.names),
        std=[1.0] * len(first.names),
        max_points=first.max_points,
        inputs=tuple(input_names(first_net)),
        run=run,
    )


def _onnx_scorer(path: Path, batch_size: int) -> Scorer:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as err:  # pragma: no cover - core dependencies
        raise MissingDependencyError(
            f"applying an ONNX model needs onnx and onnxruntime ({err})"
        ) from err
    if not path.is_file():
        raise InputFileError(f"ONNX model {path} does not exist; run `dl4hep export` first")
    try:
        meta = {
            p.key: json.loads(p.value)
            for p in onnx.load(str(path), load_external_data=False).metadata_props
        }
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # protobuf / onnxruntime raise many types
        raise InputFileError(f"cannot read ONNX model {path}: {err}") from err
    needed = ("classes", "inputs", "features", "block", "normalisation")
    absent = [k for k in needed if k not in meta]
    if absent:
        raise InputFileError(
            f"ONNX model {path} lacks metadata {absent}; it was not written by `dl4hep export`"
        )
    inputs = tuple(meta["inputs"])

    def run(tensors: dict[str, torch.Tensor]) -> np.ndarray:
        n = len(tensors[inputs[0]])
        out = [
            session.run(
                ["probabilities"], {k: tensors[k][i : i + batch_size].numpy() for k in inputs}
            )[0]
            for i in range(0, n, batch_size)
        ]
        return (
            np.concatenate(out).astype(np.float32)
            if out
            else np.zeros((0, len(meta["classes"])), np.float32)
        )

    return Scorer(
        source=str(path),
        classes=list(meta["classes"]),
        block=meta["block"],
        names=list(meta["features"]),
        mean=list(meta["normalisation"]["mean"]),
        std=list(meta["normalisation"]["std"]),
        max_points=meta.get("max_points"),
        inputs=inputs,
        run=run,
    )


def input_metadata(scorer: Scorer) -> dict[str, Any]:
    """The scorer's description, for provenance records."""
    return {
        "model": scorer.source,
        "classes": scorer.classes,
        "block": scorer.block,
        "features": scorer.names,
    }
