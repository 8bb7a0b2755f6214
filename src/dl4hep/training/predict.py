"""``dl4hep predict``: per-class softmax scores of a trained model for every dataset split.

Streams each split by parquet row group and in batches, so memory stays bounded;
writes ``out_dir/<split>.parquet`` with the flat columns of the "Predictions"
contract (``run``, ``event``, ``label``, ``weight``, ``score_<class>``,
``obs_<observer>``) through a temporary file renamed on success.
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
from dl4hep.data.tensors import SPLITS, TensorBatches, iter_row_groups, read_meta, split_path
from dl4hep.errors import ConfigError, InputFileError
from dl4hep.io.atomic import atomic_output
from dl4hep.provenance import write_provenance
from dl4hep.training.api import pick_device
from dl4hep.training.checkpoint import input_names, load_trained

__all__ = ["predict_model", "predict_split", "score_tensors"]

log = logging.getLogger(__name__)


def _schema(classes: list[str], observers: list[str]) -> pa.Schema:
    fields = [pa.field("run", pa.int64()), pa.field("event", pa.int64()), pa.field("label", pa.int64()),
              pa.field("weight", pa.float64())]
    fields += [pa.field(f"score_{c}", pa.float32()) for c in classes]
    fields += [pa.field(f"obs_{o}", pa.float32()) for o in observers]
    return pa.schema(fields)


@torch.no_grad()
def score_tensors(
    net: torch.nn.Module, tensors: dict[str, torch.Tensor], *, device: torch.device, batch_size: int = 2048
) -> np.ndarray:
    """Softmax probabilities ``(N, C)`` float32 of normalised model inputs (``arrays_to_tensors`` output), in batches."""
    names = input_names(net)
    probs = []
    for batch in TensorBatches({k: tensors[k] for k in names}, batch_size=batch_size, device=device):
        probs.append(torch.softmax(net(*[batch[k] for k in names]).float(), dim=1).cpu())
    return torch.cat(probs).numpy()


@torch.no_grad()
def predict_split(
    net: torch.nn.Module, spec: Any, *, path: Path, out: Path, classes: list[str], observers: list[str],
    device: torch.device, batch_size: int = 2048,
) -> int:
    """Score one split file into ``out``; return the number of rows written."""
    schema = _schema(classes, observers)
    extra = ("run", "event", "label", "weight", *(["observers"] if observers else []))
    rows = 0
    with atomic_output(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for tensors in iter_row_groups(path, spec, extra=extra):
            n = len(tensors["label"])
            if n == 0:
                continue
            p = score_tensors(net, tensors, device=device, batch_size=batch_size)
            cols: dict[str, Any] = {
                "run": tensors["run"].numpy().astype(np.int64), "event": tensors["event"].numpy().astype(np.int64),
                "label": tensors["label"].numpy().astype(np.int64),
                "weight": tensors["weight"].numpy().astype(np.float64),
            }
            cols.update({f"score_{c}": p[:, i].astype(np.float32) for i, c in enumerate(classes)})
            cols.update({f"obs_{o}": tensors[f"observers.{o}"].numpy().astype(np.float32) for o in observers})
            writer.write_table(pa.table(cols, schema=schema))
            rows += n
    return rows


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
    tcfg = config.task(task)
    mcfg = config.model(task, model)
    net, spec, ckpt = load_trained(model_dir)
    classes = list(ckpt["model"]["classes"])
    if classes != list(tcfg.classes):
        raise ConfigError(
            f"model {model_dir} was trained for classes {classes} but task '{task}' has {tcfg.classes}; retrain it"
        )
    meta = read_meta(dataset_dir)
    if spec.names != [spec.all_names[c] for c in spec.columns] or list(meta.get(spec.block) or []) != spec.all_names:
        raise InputFileError(
            f"dataset {dataset_dir} has {spec.block} features {meta.get(spec.block)} but model {model_dir} "
            f"was trained on {spec.all_names}; rebuild the dataset or retrain"
        )
    observers = list(meta.get("observers") or [])
    device = pick_device(mcfg.training.device)
    net.to(device)
    batch_size = batch_size or 2 * mcfg.training.batch_size
    rows = {}
    for split in SPLITS:
        rows[split] = predict_split(
            net, spec, path=split_path(dataset_dir, split), out=out_dir / f"{split}.parquet", classes=classes,
            observers=observers, device=device, batch_size=batch_size,
        )
        if rows[split] == 0:
            log.warning("%s split of %s is empty; wrote an empty predictions file", split, dataset_dir)
    write_provenance(
        out_dir, stage="predict", config=mcfg,
        extra={"task": task, "model": model, "checkpoint": str(model_dir / "best.pt"), "epoch": ckpt["epoch"]},
    )
    return {"rows": rows, "classes": classes, "checkpoint_epoch": ckpt["epoch"]}
