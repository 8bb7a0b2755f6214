"""Seeded toy datasets (the "Datasets" contract) for regression and anomaly-detection tests."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np

#: Known response of the regression toy: E_raw / E_true = 0.8 + 0.15 tanh(x0) (then 1 % noise).
NOISE = 0.01


def _write(
    root: Path,
    splits: dict[str, dict[str, np.ndarray]],
    tab_names: list[str],
    obs_names: list[str],
    classes: list[str],
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, d in splits.items():
        n = len(d["label"])
        arr = ak.Array(
            {
                "run": np.ones(n, np.int64),
                "luminosityBlock": np.ones(n, np.int64),
                "event": np.arange(n, dtype=np.int64),
                "weight": np.ones(n),
                "truth_match": np.ones(n, bool),
                "tabular": ak.zip(
                    {k: d["tab"][:, i].astype(np.float32) for i, k in enumerate(tab_names)}
                ),
                "observers": ak.zip(
                    {k: d["obs"][:, i].astype(np.float32) for i, k in enumerate(obs_names)}
                ),
                "label": d["label"].astype(np.int64),
                "sample": np.array([classes[i] for i in d["label"]]),
                "train_weight": np.ones(n),
            }
        )
        ak.to_parquet(arr, root / f"{split}.parquet")
    tab = splits["train"]["tab"]
    meta = {
        "classes": classes,
        "background": classes[-1],
        "tabular": tab_names,
        "points": [],
        "observers": obs_names,
        "max_points": 0,
        "norm": {"tabular": {"mean": tab.mean(0).tolist(), "std": tab.std(0).tolist()}},
        "counts": {s: len(d["label"]) for s, d in splits.items()},
    }
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def energy_toy(root: Path, *, n: int = 1200, seed: int = 0) -> Path:
    """Clusters whose raw energy responds as 0.8 + 0.15 tanh(x0) to a shower-shape-like feature x0."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        x = rng.normal(size=(m, 3))
        e_true = rng.uniform(5, 50, m)
        e_raw = e_true * (0.8 + 0.15 * np.tanh(x[:, 0])) * (1 + NOISE * rng.normal(size=m))
        tab = np.column_stack([x, np.log(e_raw)])
        obs = np.column_stack([e_raw, e_true, rng.uniform(-1.4, 1.4, m)])
        splits[split] = {"tab": tab, "obs": obs, "label": rng.integers(0, 2, m)}
    return _write(
        root,
        splits,
        ["x0", "x1", "x2", "log_e"],
        ["energy", "true_energy", "eta"],
        ["photon", "electron"],
    )


def manifold_toy(
    root: Path, *, n: int = 1500, seed: int = 0, signal_seed: int = 1, dim: int = 6
) -> Path:
    """Background on a 2-d plane in ``dim`` dimensions; signal ('anomaly') off it, same per-feature spread.

    ``signal_seed`` draws only the signal rows, so two toys with different signal seeds share every
    background row.
    """
    rng, srng = np.random.default_rng(seed), np.random.default_rng(signal_seed)
    basis = rng.normal(size=(2, dim))
    splits = {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        label = np.arange(m) % 2  # 0: anomaly (signal), 1: background
        tab = rng.normal(size=(m, 2)) @ basis + 0.05 * rng.normal(size=(m, dim))
        sig = label == 0
        tab[sig] = srng.normal(size=(int(sig.sum()), dim)) * tab[~sig].std(0)
        splits[split] = {"tab": tab, "obs": np.abs(tab[:, :1]) * 50, "label": label}
    return _write(root, splits, [f"f{i}" for i in range(dim)], ["mass"], ["anomaly", "qcd"])


def task_config(
    *,
    kind: str,
    model_type: str,
    loss: str = "auto",
    classes: list[str],
    epochs: int = 30,
    hyperparameters: dict | None = None,
    regression: dict | None = None,
):
    """An :class:`AnalysisConfig` with task ``t`` and model ``m`` (validated, without registry checks)."""
    from dl4hep.config import AnalysisConfig

    train = {
        "epochs": epochs,
        "batch_size": 64,
        "lr": 5e-3,
        "warmup_epochs": 0,
        "early_stopping_patience": None,
        "loss": loss,
        "class_weights": "none",
    }
    task = {
        "features": ["x"],
        "classes": classes,
        "kind": kind,
        "samples": {f"s{i}": {"label": c, "files": ["none.root"]} for i, c in enumerate(classes)},
        "models": {
            "m": {
                "type": model_type,
                "inputs": "tabular",
                "hyperparameters": hyperparameters or {},
                "training": train,
            }
        },
    }
    if regression is not None:
        task["regression"] = regression
    return AnalysisConfig.model_validate({"seed": 3, "tasks": {"t": task}})
