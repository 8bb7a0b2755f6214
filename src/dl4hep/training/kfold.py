"""K-fold predictions: out-of-fold scores of every event, and the fold average for new data.

``dl4hep predict`` of a model with ``kfold: K`` (fold models in ``<model_dir>/fold<k>``,
trained on the datasets of :mod:`dl4hep.data.kfold`) scores the task's dataset with each
fold model and writes the usual ``{train,val,test}.parquet`` plus a ``fold`` column:

* ``test``: every event once, scored by the model that did not train on it (fold = event mod K);
* ``train`` / ``val``: each model on its own training / validation rows (each event K−1 times),
  for the overtraining comparison with ``test``.

Each fold model normalises with its own statistics (stored in its checkpoint).
For new files, :func:`average_fold_scores` averages the K models' probabilities.
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
from dl4hep.data.kfold import assign_folds
from dl4hep.data.tensors import SPLITS, iter_row_groups, read_meta, split_path
from dl4hep.errors import ConfigError, InputFileError
from dl4hep.io.atomic import atomic_output
from dl4hep.provenance import write_provenance
from dl4hep.training.checkpoint import load_trained
from dl4hep.training.devices import pick_device
from dl4hep.training.predict import predict_split, score_tensors

__all__ = ["average_fold_scores", "fold_model_dirs", "load_fold_models", "predict_kfold"]

log = logging.getLogger(__name__)


def fold_model_dirs(model_dir: str | Path, k: int) -> list[Path]:
    """``model_dir/fold0 … fold<k-1>``; each must hold a trained ``best.pt``."""
    dirs = [Path(model_dir) / f"fold{i}" for i in range(k)]
    missing = [str(d) for d in dirs if not (d / "best.pt").exists()]
    if missing:
        raise InputFileError(f"K-fold model {model_dir} lacks trained folds {missing}; run the fold trainings first")
    return dirs


def load_fold_models(model_dir: str | Path, k: int | None = None) -> list[tuple[torch.nn.Module, Any, dict]]:
    """``(net, input spec, checkpoint)`` of every fold; ``k`` None: every ``fold<i>`` found, in order."""
    model_dir = Path(model_dir)
    if k is None:
        k = sum(1 for _ in model_dir.glob("fold*/best.pt"))
        if k == 0:
            raise InputFileError(f"{model_dir} holds no fold<i>/best.pt; it is not a trained K-fold model")
    return [load_trained(d) for d in fold_model_dirs(model_dir, k)]


@torch.no_grad()
def average_fold_scores(
    model_dir: str | Path, path: str | Path, *, k: int | None = None, device: str | torch.device = "cpu",
    batch_size: int = 2048,
) -> np.ndarray:
    """Mean softmax probabilities ``(N, C)`` of the K fold models on a parquet file with the model's features.

    ``path`` follows the dataset/feature layout (``tabular`` or ``points`` blocks). Averaging the folds
    is the usual application of a K-fold classifier to data: each model saw (K−1)/K of the simulation.
    """
    models = load_fold_models(model_dir, k)
    dev = torch.device(device)
    total: np.ndarray | None = None
    for net, spec, _ in models:
        net.to(dev)
        parts = [score_tensors(net, t, device=dev, batch_size=batch_size) for t in iter_row_groups(Path(path), spec)]
        probs = np.concatenate(parts) if parts else np.zeros((0, len(models[0][2]["model"]["classes"])), np.float32)
        total = probs.astype(np.float64) if total is None else total + probs
    assert total is not None
    return (total / len(models)).astype(np.float32)


def _fold_rows(event: np.ndarray, split: str, k: int, fold: int) -> np.ndarray:
    """Rows of a dataset split that fold model ``fold`` contributes to the output ``split``."""
    folds = assign_folds(event, k)
    return folds == fold if split == "test" else folds != fold


def predict_kfold(
    *, config: AnalysisConfig, task: str, model: str, dataset_dir: Path, model_dir: Path, out_dir: Path,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Write ``out_dir/{train,val,test}.parquet`` of a K-fold model (see the module docstring)."""
    tcfg = config.task(task)
    k = tcfg.folds(model)
    mcfg = config.model(task, model)
    dataset_dir, model_dir, out_dir = Path(dataset_dir), Path(model_dir), Path(out_dir)
    models = load_fold_models(model_dir, k)
    for d, (_, _, ckpt) in zip(fold_model_dirs(model_dir, k), models, strict=True):
        if list(ckpt["model"]["classes"]) != list(tcfg.classes):
            raise ConfigError(f"fold model {d} was trained for classes {ckpt['model']['classes']} "
                              f"but task '{task}' has {tcfg.classes}; retrain it")
    observers = list(read_meta(dataset_dir).get("observers") or [])
    device = pick_device(mcfg.training.device)
    batch_size = batch_size or 2 * mcfg.training.batch_size
    tmp_dir = out_dir / ".folds"
    scored: dict[int, dict[str, Path]] = {}
    for fold, (net, spec, _) in enumerate(models):
        net.to(device)
        scored[fold] = {}
        for split in SPLITS:
            scored[fold][split] = tmp_dir / f"fold{fold}_{split}.parquet"
            predict_split(net, spec, path=split_path(dataset_dir, split), out=scored[fold][split],
                          classes=list(tcfg.classes), observers=observers, device=device, batch_size=batch_size)
    rows = {}
    for out_split in SPLITS:
        tables = []
        for fold in range(k):
            # test: fold k of every split; train/val: model k on its own training/validation rows
            sources = SPLITS if out_split == "test" else ("val",) if out_split == "val" else ("train", "test")
            for src in sources:
                t = pq.read_table(scored[fold][src])
                keep = _fold_rows(t.column("event").to_numpy(), out_split, k, fold)
                t = t.filter(pa.array(keep))
                tables.append(t.append_column("fold", pa.array(np.full(t.num_rows, fold, np.int64))))
        table = pa.concat_tables(tables)
        with atomic_output(out_dir / f"{out_split}.parquet") as tmp:
            pq.write_table(table, tmp)
        rows[out_split] = table.num_rows
    for paths in scored.values():
        for p in paths.values():
            p.unlink(missing_ok=True)
    tmp_dir.rmdir()
    write_provenance(out_dir, stage="predict", config=mcfg,
                     extra={"task": task, "model": model, "kfold": k, "checkpoints": [str(d / "best.pt") for d in
                                                                                      fold_model_dirs(model_dir, k)]})
    log.info("%s/%s: out-of-fold predictions of %d folds: %s", task, model, k, rows)
    return {"rows": rows, "classes": list(tcfg.classes), "kfold": k}
