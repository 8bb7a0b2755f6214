"""Evaluation inputs: predictions, training histories, dataset meta and tabular features, checked on read.

Every reader raises a one-line error naming the file and the missing column before anything is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import TaskConfig
from dl4hep.contracts import LABEL, WEIGHT, score_column
from dl4hep.errors import ConfigError, DataError, InputFileError, did_you_mean
from dl4hep.io.atomic import atomic_output

__all__ = [
    "check_models",
    "load_predictions",
    "read_dataset_meta",
    "read_history",
    "read_tabular",
    "write_text",
]

log = logging.getLogger(__name__)

#: ``(values (N, T), names, labels, weights)`` of a dataset split's tabular block.
Tabular = tuple[np.ndarray, list[str], np.ndarray, np.ndarray]



def read_stage_output(path: Path, what: str, stage: str, read: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``read(path)``, or an :class:`InputFileError` naming ``what`` and ``path``: missing (run
    ``dl4hep <stage>`` first) or unreadable."""
    if not path.exists():
        raise InputFileError(f"{what} {path} does not exist; run `dl4hep {stage}` for this model first")
    try:
        return read(path)
    except Exception as err:
        raise InputFileError(f"cannot read {what} {path}: {err}") from err

def load_predictions(path: Path, classes: list[str]) -> pd.DataFrame:
    """Read one predictions parquet and check the contract columns.

    Raises:
        InputFileError: the file is missing or unreadable.
        DataError: a required column is missing or a label is out of range.
    """
    df = read_stage_output(path, "predictions file", "predict", pd.read_parquet)
    for col in [LABEL, WEIGHT] + [score_column(c) for c in classes]:
        if col not in df.columns:
            raise DataError(
                f"predictions file {path} has no column '{col}' (task classes: {classes})."
                + did_you_mean(col, df.columns)
                + f" Columns present: {list(df.columns)}. Re-run `dl4hep predict` with this task's config."
            )
    labels = df[LABEL].to_numpy()
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(
            f"predictions file {path}: column '{LABEL}' has values in [{labels.min()}, {labels.max()}], "
            f"expected class indices 0..{len(classes) - 1} for classes {classes}"
        )
    return df


def read_tabular(path: Path, max_rows: int, seed: int) -> Tabular | None:
    """``(values (N, T), names, labels, weights)`` from a dataset split, or None without tabular features.

    More than ``max_rows`` rows are subsampled without replacement (sorted indices, seeded).
    """
    import awkward as ak

    if not path.exists():
        log.warning(
            "dataset split %s does not exist; skipping plots that need input features", path
        )
        return None
    try:
        arr = ak.from_parquet(path, columns=["tabular", LABEL, WEIGHT])
    except Exception as err:  # no tabular block in this dataset
        log.info("no tabular features in %s (%s)", path, err)
        return None
    if "tabular" not in ak.fields(arr) or not ak.fields(arr.tabular):
        return None
    names = list(ak.fields(arr.tabular))
    labels = ak.to_numpy(arr[LABEL]).astype(np.int64)
    weights = ak.to_numpy(arr[WEIGHT]).astype(np.float64)
    values = np.stack([ak.to_numpy(arr.tabular[n]).astype(np.float32) for n in names], axis=1)
    if len(labels) > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(len(labels), max_rows, replace=False))
        values, labels, weights = values[idx], labels[idx], weights[idx]
    return values, names, labels, weights


def read_history(model_dir: Path) -> dict[str, np.ndarray]:
    """Columns of ``<model_dir>/history.csv`` (one row per epoch)."""
    path = model_dir / "history.csv"
    df = read_stage_output(path, "training history", "train", pd.read_csv)
    if "epoch" not in df.columns:
        raise DataError(
            f"training history {path} has no column 'epoch'; columns: {list(df.columns)}"
        )
    return {c: df[c].to_numpy() for c in df.columns}


def read_dataset_meta(dataset_dir: Path, tcfg: TaskConfig, task: str) -> dict[str, Any]:
    """The dataset's ``meta.json`` ({} when absent), checked to list the task's classes."""
    meta_path = dataset_dir / "meta.json"
    if not meta_path.exists():
        log.warning("dataset meta %s does not exist", meta_path)
        return {}
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    if meta.get("classes") and list(meta["classes"]) != list(tcfg.classes):
        raise DataError(
            f"{meta_path} lists classes {meta['classes']} but task '{task}' has "
            f"{tcfg.classes}; rebuild the dataset with `dl4hep dataset`"
        )
    return meta


def check_models(task: str, tcfg: TaskConfig, models: Any) -> None:
    """Raise ConfigError unless ``models`` is a non-empty collection of the task's model names."""
    if not models:
        raise ConfigError(
            f"evaluate: no models given for task '{task}'; models are {list(tcfg.models)}"
        )
    for name in models:
        if name not in tcfg.models:
            raise ConfigError(
                f"model '{name}' is not a model of task '{task}'; models are {list(tcfg.models)}."
                + did_you_mean(name, tcfg.models)
            )


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
