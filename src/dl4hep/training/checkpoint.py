"""Checkpoints that hold everything needed to rebuild, resume, predict and export a model."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from dl4hep.data.tensors import InputSpec
from dl4hep.errors import InputFileError
from dl4hep.io.atomic import atomic_output
from dl4hep.models.registry import build_model

__all__ = [
    "CHECKPOINT_FORMAT", "capture_rng", "input_names", "load_checkpoint", "load_trained", "restore_rng", "save_checkpoint",
]

CHECKPOINT_FORMAT = 1


def input_names(net: nn.Module) -> tuple[str, ...]:
    """The model's forward inputs in order (every registry model sets ``input_names``)."""
    return tuple(cast("Sequence[str]", net.input_names))


def capture_rng(data_generator: torch.Generator) -> dict[str, Any]:
    """RNG states of python, numpy, torch (CPU and CUDA) and the data-order generator."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - global state, checkpointed for exact resume
        "torch": torch.get_rng_state(),
        "data": data_generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], data_generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    data_generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file renamed on success."""
    with atomic_output(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a dl4hep checkpoint on the CPU (it holds numpy RNG states, so not weights-only)."""
    if not path.exists():
        raise InputFileError(f"checkpoint {path} does not exist; train the model first (`dl4hep train`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # corrupt or foreign file
        raise InputFileError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputFileError(f"{path} is not a dl4hep checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> tuple[nn.Module, InputSpec]:
    """Rebuild the network described by a checkpoint and load its weights (eval mode)."""
    info = ckpt["model"]
    spec = InputSpec.from_dict(info["input"])
    net = build_model(
        info["type"], info["hyperparameters"], num_classes=info.get("num_outputs", len(info["classes"])),
        input_dim=spec.input_dim,
        point_names=spec.names,
    )
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    return net, spec


def load_trained(model_dir: Path, which: str = "best.pt") -> tuple[nn.Module, InputSpec, dict[str, Any]]:
    """``(model, input spec, checkpoint)`` from ``model_dir/best.pt`` (the lowest validation loss)."""
    ckpt = load_checkpoint(Path(model_dir) / which)
    net, spec = model_from_checkpoint(ckpt)
    return net, spec, ckpt
