"""K-fold datasets (``dl4hep kfold-split``): one train/val/test directory per fold.

Fold of an object = ``event mod K``, the usual event-number folding of LHC analyses
(e.g. the ATLAS/CMS H→ττ and ttH(bb) MVAs), so every object of one event shares its
fold and the assignment never depends on file order. Fold ``k``'s model is trained on
the other folds and predicts fold ``k``: its ``test.parquet`` holds fold ``k``
(all three hash splits of the dataset); its ``val.parquet`` the rows of the other folds
that the dataset's hash split puts in ``val`` (validation stays inside the training
folds); its ``train.parquet`` the remaining rows. Training weights and normalisation
are refitted on each fold's training rows, exactly as ``dl4hep dataset`` does for its
split. Each fold directory is a complete dataset: ``dl4hep train`` reads it unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow.parquet as pq

from dl4hep.config import AnalysisConfig
from dl4hep.data.dataset import METADATA_KEY, ROW_GROUP_ROWS
from dl4hep.data.normalisation import points_stats, tabular_stats
from dl4hep.data.splitting import SPLITS
from dl4hep.data.weights import training_weights
from dl4hep.errors import DataError, InputFileError
from dl4hep.io.atomic import atomic_directory
from dl4hep.provenance import write_provenance

__all__ = ["assign_folds", "build_fold_datasets", "fold_dir"]

log = logging.getLogger(__name__)


def assign_folds(event: np.ndarray, k: int) -> np.ndarray:
    """Fold index ``event mod k`` per object, shape ``(n,)`` int64 in ``[0, k)`` (also for negative numbers)."""
    if k < 2:
        raise ValueError(f"K-fold needs k >= 2, got {k}")
    return np.mod(np.asarray(event, dtype=np.int64), k)


def fold_dir(root: str | Path, fold: int) -> Path:
    """Dataset directory of one fold below the K-fold root."""
    return Path(root) / f"fold{fold}"


def _read_all(dataset_dir: Path) -> tuple[ak.Array, np.ndarray, dict[str, Any]]:
    """Every row of the dataset's three splits, the split index of each row, and the parquet metadata."""
    parts, split_idx, file_meta = [], [], {}
    for i, split in enumerate(SPLITS):
        path = dataset_dir / f"{split}.parquet"
        if not path.exists():
            raise InputFileError(f"dataset split {path} does not exist; run `dl4hep dataset` first")
        arr = ak.from_parquet(path)
        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
        file_meta = json.loads(raw) if raw else file_meta
        parts.append(arr)
        split_idx.append(np.full(len(arr), i, np.int64))
    return ak.concatenate(parts), np.concatenate(split_idx), file_meta


def _fold_rows(folds: np.ndarray, split_idx: np.ndarray, fold: int) -> dict[str, np.ndarray]:
    """Row indices of a fold's train/val/test (validation: the hash split's val rows of the other folds)."""
    out = folds != fold
    is_val = split_idx == SPLITS.index("val")
    return {"train": np.flatnonzero(out & ~is_val), "val": np.flatnonzero(out & is_val),
            "test": np.flatnonzero(folds == fold)}


def _norm(arr: ak.Array, rows: np.ndarray, meta: dict[str, Any]) -> dict[str, Any]:
    """Normalisation of the fold's training rows (same statistics as ``dl4hep dataset``)."""
    out: dict[str, Any] = {}
    part = arr[rows]
    if meta.get("tabular"):
        x = np.stack([np.asarray(ak.to_numpy(part["tabular", n]), np.float32) for n in meta["tabular"]], axis=1)
        out["tabular"] = tabular_stats(x)
    if meta.get("points"):
        out["points"] = points_stats(np.asarray(ak.to_numpy(part["points"]), np.float32),
                                     np.asarray(ak.to_numpy(part["points_mask"]), bool))
    return out


def build_fold_datasets(*, config: AnalysisConfig, task: str, k: int, dataset_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Write ``out_dir/fold<i>/{train,val,test}.parquet`` and ``meta.json`` for ``i < k``.

    Raises:
        DataError: a fold's training rows lack a class (too few events for ``k`` folds).
    """
    tcfg = config.task(task)
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    meta = json.loads((dataset_dir / "meta.json").read_text())
    arr, split_idx, file_meta = _read_all(dataset_dir)
    folds = assign_folds(ak.to_numpy(arr["event"]), k)
    labels = np.asarray(ak.to_numpy(arr["label"]), np.int64)
    weight = np.asarray(ak.to_numpy(arr["weight"]), np.float64)
    ds = tcfg.dataset
    obs = None
    if ds.balance == "pt_eta":
        obs = np.stack([np.asarray(ak.to_numpy(arr["observers", o]), np.float64) for o in ds.reweight_observers], 1)
    classes = list(tcfg.classes)
    counts: dict[str, Any] = {}
    with atomic_directory(out_dir) as tmp:
        for fold in range(k):
            rows = _fold_rows(folds, split_idx, fold)
            is_train = np.zeros(len(labels), bool)
            is_train[rows["train"]] = True
            missing = [c for i, c in enumerate(classes) if not np.any(labels[rows["train"]] == i)]
            if missing:
                raise DataError(f"task '{task}', kfold {k}: fold {fold}'s training rows have no {missing}; "
                                f"add events or lower kfold (dataset {dataset_dir})")
            train_weight = training_weights(labels=labels, weights=weight, is_train=is_train, classes=classes,
                                            balance=ds.balance, observers=obs)
            fmeta = {**meta, "norm": _norm(arr, rows["train"], meta), "kfold": {"k": k, "fold": fold,
                     "rule": "fold = event mod k; val = dataset val rows of the other folds"}}
            fmeta["counts"] = {s: {c: int(np.sum(labels[r] == i)) for i, c in enumerate(classes)}
                               for s, r in rows.items()}
            counts[f"fold{fold}"] = fmeta["counts"]
            d = fold_dir(tmp, fold)
            d.mkdir()
            for split, r in rows.items():
                part = ak.with_field(arr[r], train_weight[r], "train_weight")
                table = ak.to_arrow_table(part, extensionarray=True)
                blob = json.dumps({**file_meta, "split": split, "fold": fold}).encode()
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: blob})
                pq.write_table(table, d / f"{split}.parquet", row_group_size=ROW_GROUP_ROWS)
            (d / "meta.json").write_text(json.dumps(fmeta, indent=2) + "\n")
        write_provenance(tmp, stage="kfold-split", config={"task": task, "kfold": k},
                         extra={"dataset_dir": str(dataset_dir)})
    log.info("task '%s': %d fold datasets written to %s", task, k, out_dir)
    return {"out_dir": str(out_dir), "k": k, "rows": counts}
