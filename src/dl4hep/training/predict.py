"""``dl4hep predict``: per-class softmax scores of a trained model for every dataset split.

Streams each split by parquet row group and in batches, so memory stays bounded;
writes ``out_dir/<split>.parquet`` with the flat columns of the "Predictions"
contract (``run``, ``event``, ``label``, ``weight``, ``score_<class>``,
``obs_<observer>``, ``weight_<variation>``) through a temporary file renamed on success.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from dl4hep.config import AnalysisConfig
from dl4hep.contracts import LABEL, SPLITS, WEIGHT, observer_column, score_column
from dl4hep.data.tensors import TensorBatches, iter_row_groups, read_meta, split_path
from dl4hep.errors import ConfigError, InputFileError
from dl4hep.io.atomic import atomic_output
from dl4hep.models.registry import trims_padding
from dl4hep.provenance import write_provenance
from dl4hep.training.checkpoint import input_names, load_trained
from dl4hep.training.devices import pick_device
from dl4hep.training.host_memory import keep_freed_memory
from dl4hep.training.objectives import Objective, output_columns

__all__ = ["predict_model", "predict_split", "score_tensors"]

log = logging.getLogger(__name__)


def _schema(classes: list[str], observers: list[str], variations: list[str] | tuple[str, ...] = (),
            objective: dict[str, Any] | None = None) -> pa.Schema:
    fields = [pa.field("run", pa.int64()), pa.field("event", pa.int64()), pa.field(LABEL, pa.int64()),
              pa.field(WEIGHT, pa.float64())]
    fields += _output_fields(classes, objective)
    fields += [pa.field(observer_column(o), pa.float32()) for o in observers]
    fields += [pa.field(f"weight_{v}", pa.float64()) for v in variations]
    return pa.schema(fields)


def _output_fields(classes: list[str], objective: dict[str, Any] | None) -> list[pa.Field]:
    """``score_<class>``, or the columns :func:`output_columns` writes for regression and anomaly models."""
    if objective is None or objective.get("kind", "classification") == "classification":
        return [pa.field(score_column(c), pa.float32()) for c in classes]
    probe = output_columns(torch.zeros(1, objective["n_outputs"]), objective, classes)
    target = ["target"] if objective["kind"] == "regression" else []
    return [pa.field(n, pa.float32()) for n in [*target, *probe]]


@torch.no_grad()
def raw_outputs(
    net: torch.nn.Module, tensors: dict[str, torch.Tensor], *, device: torch.device, batch_size: int = 2048
) -> torch.Tensor:
    """Model outputs ``(N, n_outputs)`` on the CPU (logits, regression outputs or anomaly scores), in batches."""
    names = input_names(net)
    batches = TensorBatches({k: tensors[k] for k in names}, batch_size=batch_size, device=device,
                            trim=trims_padding(net), by_length=True)
    outs = torch.cat([net(*[b[k] for k in names]).float().cpu() for b in batches])
    return outs[torch.argsort(batches.order)]  # point clouds ran shortest first (less padding)


@torch.no_grad()
def score_tensors(
    net: torch.nn.Module, tensors: dict[str, torch.Tensor], *, device: torch.device, batch_size: int = 2048
) -> np.ndarray:
    """Softmax probabilities ``(N, C)`` float32 of normalised model inputs (``arrays_to_tensors`` output), in batches."""
    return torch.softmax(raw_outputs(net, tensors, device=device, batch_size=batch_size), dim=1).numpy()


@torch.no_grad()
def predict_split(
    net: torch.nn.Module, spec: Any, *, path: Path, out: Path, classes: list[str], observers: list[str],
    device: torch.device, batch_size: int = 2048, variations: list[str] | tuple[str, ...] = (),
    objective: dict[str, Any] | None = None,
) -> int:
    """Score one split file into ``out``; return the number of rows written.

    ``variations`` (the dataset's weight variations) are copied as ``weight_<name>`` columns, for the
    systematic bands of the evaluation; the model never sees them. ``objective`` (the checkpoint's
    ``model.objective``) selects the columns of regression and anomaly models
    (:func:`dl4hep.training.objectives.output_columns`); None: class scores.
    """
    schema = _schema(classes, observers, variations, objective)
    extra = ("run", "event", LABEL, WEIGHT, *(["observers"] if observers else []),
             *(["weight_variations"] if variations else []))
    rows = 0
    with atomic_output(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for tensors in iter_row_groups(path, spec, extra=extra):
            n = len(tensors[LABEL])
            if n == 0:
                continue
            cols: dict[str, Any] = {
                "run": tensors["run"].numpy().astype(np.int64), "event": tensors["event"].numpy().astype(np.int64),
                LABEL: tensors[LABEL].numpy().astype(np.int64),
                WEIGHT: tensors[WEIGHT].numpy().astype(np.float64),
            }
            cols.update(_output_columns(net, tensors, device, batch_size, classes, objective))
            cols.update({observer_column(o): tensors[f"observers.{o}"].numpy().astype(np.float32) for o in observers})
            cols.update({f"weight_{v}": tensors[f"weight_variations.{v}"].numpy().astype(np.float64)
                         for v in variations})
            writer.write_table(pa.table(cols, schema=schema))
            rows += n
    return rows


def _output_columns(net: torch.nn.Module, tensors: dict[str, torch.Tensor], device: torch.device, batch_size: int,
                    classes: list[str], objective: dict[str, Any] | None) -> dict[str, np.ndarray]:
    if objective is None or objective.get("kind", "classification") == "classification":
        p = score_tensors(net, tensors, device=device, batch_size=batch_size)
        return {score_column(c): p[:, i].astype(np.float32) for i, c in enumerate(classes)}
    cols = output_columns(raw_outputs(net, tensors, device=device, batch_size=batch_size), objective, classes)
    if objective["kind"] == "regression":
        target = Objective.from_state(objective).raw_target(tensors).numpy().astype(np.float32)
        cols = {"target": target, **cols}
    return cols


def predict_model(
    *, config: AnalysisConfig, task: str, model: str, dataset_dir: Path, model_dir: Path, out_dir: Path,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Write ``out_dir/{train,val,test}.parquet`` with the scores of ``model_dir/best.pt``.

    ``batch_size`` defaults to twice the training batch size: what fitted in memory with
    gradients fits without them, while a fixed large batch would not (ParT's pairwise
    tensors grow as batch × P² × channels: 2048 jets of 128 particles need ~5 GB).

    Returns:
        ``{"rows": {split: n}, "classes": [...], "checkpoint_epoch": e}``.
    """
    dataset_dir, model_dir, out_dir = Path(dataset_dir), Path(model_dir), Path(out_dir)
    task_cfg = config.task(task)
    mcfg = config.model(task, model)
    net, spec, ckpt = load_trained(model_dir)
    classes = list(ckpt["model"]["classes"])
    if classes != list(task_cfg.classes):
        raise ConfigError(
            f"model {model_dir} was trained for classes {classes} but task '{task}' has {task_cfg.classes}; retrain it"
        )
    meta = read_meta(dataset_dir)
    if spec.names != [spec.all_names[c] for c in spec.columns] or list(meta.get(spec.block) or []) != spec.all_names:
        raise InputFileError(
            f"dataset {dataset_dir} has {spec.block} features {meta.get(spec.block)} but model {model_dir} "
            f"was trained on {spec.all_names}; rebuild the dataset or retrain"
        )
    observers = list(meta.get("observers") or [])
    device = pick_device(mcfg.training.device)
    keep_freed_memory()
    net.to(device)
    batch_size = batch_size or 2 * mcfg.training.batch_size
    rows = {}
    for split in SPLITS:
        rows[split] = predict_split(
            net, spec, path=split_path(dataset_dir, split), out=out_dir / f"{split}.parquet", classes=classes,
            observers=observers, device=device, batch_size=batch_size,
            variations=list(meta.get("weight_variations") or []), objective=ckpt["model"].get("objective"),
        )
        if rows[split] == 0:
            log.warning("%s split of %s is empty; wrote an empty predictions file", split, dataset_dir)
    write_provenance(
        out_dir, stage="predict", config=mcfg,
        extra={"task": task, "model": model, "checkpoint": str(model_dir / "best.pt"), "epoch": ckpt["epoch"]},
    )
    return {"rows": rows, "classes": classes, "checkpoint_epoch": ckpt["epoch"]}
