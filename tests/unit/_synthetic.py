"""Seeded synthetic dataset directories following the "Datasets" contract (docs/architecture.md)."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np

TABULAR = ["mass", "pt", "tau21", "nconst"]
POINTS = ["deta", "dphi", "log_pt", "log_e", "charge"]
OBSERVERS = ["pt", "eta"]


def _split(rng: np.random.Generator, n: int, n_classes: int, max_points: int, sep: float) -> ak.Array:
    label = np.arange(n) % n_classes
    rng.shuffle(label)
    shift = (label[:, None] * sep).astype(np.float32)
    tab = rng.normal(size=(n, len(TABULAR))).astype(np.float32) + shift
    n_real = rng.integers(2, max_points + 1, size=n)
    mask = np.arange(max_points)[None, :] < n_real[:, None]
    pts = rng.normal(size=(n, max_points, len(POINTS))).astype(np.float32) + shift[:, :, None]
    pts[..., :2] *= 0.2 * (1 + label[:, None, None])  # wider jets for higher labels
    pts = np.where(mask[..., None], pts, 0).astype(np.float32)
    pt = np.exp(rng.normal(2, 1, size=(n, max_points))) + 1
    eta, phi = pts[..., 0], pts[..., 1]
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], -1).astype(np.float32)
    p4 = np.where(mask[..., None], p4, 0).astype(np.float32)
    w = rng.uniform(0.5, 1.5, size=n)
    return ak.Array({
        "run": np.ones(n, np.int64),
        "luminosityBlock": np.ones(n, np.int64),
        "event": np.arange(n, dtype=np.int64),
        "weight": w,
        "truth_match": np.ones(n, bool),
        "tabular": ak.zip({k: np.ascontiguousarray(tab[:, i]) for i, k in enumerate(TABULAR)}),
        "points": ak.to_regular(ak.from_numpy(pts), axis=None),
        "points_mask": ak.from_numpy(mask),
        "points_p4": ak.from_numpy(p4),
        "observers": ak.zip({"pt": np.ascontiguousarray(pt[:, 0], dtype=np.float32), "eta": rng.normal(size=n).astype(np.float32)}),
        "label": label.astype(np.int64),
        "sample": np.array([f"s{i}" for i in label]),
        "train_weight": w,
    })


def make_dataset(
    root: Path, *, n: int = 256, n_classes: int = 2, max_points: int = 8, sep: float = 1.5, seed: int = 0,
    sizes: dict[str, int] | None = None, row_group_size: int | None = None,
) -> Path:
    """Write ``root/{train,val,test}.parquet`` and ``meta.json``; return ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    sizes = sizes or {"train": n, "val": n // 2, "test": n // 2}
    classes = [f"c{i}" for i in range(n_classes)]
    arrays = {s: _split(rng, m, n_classes, max_points, sep) for s, m in sizes.items()}
    for s, arr in arrays.items():
        ak.to_parquet(arr, root / f"{s}.parquet", row_group_size=row_group_size)
    tr = arrays["train"]
    tab = np.stack([ak.to_numpy(tr.tabular[k]) for k in TABULAR], 1)
    pts = ak.to_numpy(tr.points)[ak.to_numpy(tr.points_mask)]
    meta = {
        "classes": classes, "background": classes[-1], "tabular": TABULAR, "points": POINTS,
        "observers": OBSERVERS, "max_points": max_points,
        "norm": {
            "tabular": {"mean": tab.mean(0).tolist(), "std": tab.std(0).tolist()},
            "points": {"mean": pts.mean(0).tolist(), "std": pts.std(0).tolist()},
        },
        "counts": {s: len(a) for s, a in arrays.items()},
    }
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def make_config(
    model_type: str, *, inputs: str | None = None, hyperparameters: dict | None = None,
    training: dict | None = None, n_classes: int = 2, name: str | None = None, seed: int = 1,
    features: list[str] | None = None,
):
    """An :class:`AnalysisConfig` with one task ``t`` and one model (validated, no registry checks)."""
    from dl4hep.config import AnalysisConfig

    classes = [f"c{i}" for i in range(n_classes)]
    inputs = inputs or ("tabular" if model_type == "dnn" else "points")
    train = {"epochs": 3, "batch_size": 32, "lr": 3e-3, "warmup_epochs": 0, "early_stopping_patience": None}
    train.update(training or {})
    model = {"type": model_type, "inputs": inputs, "hyperparameters": hyperparameters or {}, "training": train,
             "features": features}
    return AnalysisConfig.model_validate({
        "seed": seed,
        "tasks": {"t": {
            "features": ["x"], "classes": classes,
            "samples": {f"s{i}": {"label": c, "files": ["none.root"]} for i, c in enumerate(classes)},
            "models": {name or model_type: model},
        }},
    })
