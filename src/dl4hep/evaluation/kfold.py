"""Spread of the headline metrics across the folds of a K-fold model (docs/kfold.md).

The out-of-fold test predictions carry a ``fold`` column; each fold is a statistically
independent test set scored by a different model, so the spread of a metric across folds
measures the model-to-model (training) variation plus the test-set fluctuation at 1/K of
the events. Reported per metric: the per-fold values, their mean and their standard
deviation (ddof = 1; the uncertainty of the mean is std/√K).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import TaskConfig
from dl4hep.evaluation.metrics import binary_discriminant, rejection_at, roc
from dl4hep.evaluation.significance import scan_cuts

__all__ = ["HEADLINE", "fold_headlines", "kfold_columns", "kfold_markdown", "spread"]

#: Metrics reported per fold (rejections and significances are added per working point and class).
HEADLINE = ("auc", "accuracy", "balanced_accuracy")


def spread(per_fold: list[dict[str, float | None]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """``(mean, std)`` per metric over folds (ddof = 1); folds where a metric is undefined are left out."""
    keys = [k for k in per_fold[0] if k != "fold"] if per_fold else []
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for k in keys:
        v = np.array([f[k] for f in per_fold if f.get(k) is not None and math.isfinite(f[k])], dtype=np.float64)
        mean[k] = float(v.mean()) if len(v) else None
        std[k] = float(v.std(ddof=1)) if len(v) > 1 else None
    return mean, std


def _primary(df: pd.DataFrame, tcfg: TaskConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, is_signal, discriminant)`` of the primary curve (inclusive 1 − p_bkg for several signals)."""
    classes, labels = tcfg.classes, df["label"].to_numpy()
    ib = classes.index(tcfg.background_class)
    sb = df[f"score_{tcfg.background_class}"].to_numpy(np.float64)
    sig = [classes.index(s) for s in tcfg.signal_classes]
    if len(sig) > 1:
        disc = 1.0 - sb
    else:
        disc = binary_discriminant(df[f"score_{tcfg.signal_classes[0]}"].to_numpy(np.float64), sb)
    rows = np.flatnonzero(np.isin(labels, sig) | (labels == ib))
    return rows, np.isin(labels[rows], sig), disc[rows]


def _one_fold(df: pd.DataFrame, tcfg: TaskConfig, k: int) -> dict[str, float | None]:
    classes, ecfg = tcfg.classes, tcfg.evaluation
    labels = df["label"].to_numpy()
    w = df["weight"].to_numpy(np.float64)
    predicted = df[[f"score_{c}" for c in classes]].to_numpy(np.float64).argmax(1)
    present = [i for i in range(len(classes)) if (labels == i).any()]
    out: dict[str, float | None] = {
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean([(predicted[labels == i] == i).mean() for i in present])),
        "auc": None,
    }
    rows, is_sig, disc = _primary(df, tcfg)
    if is_sig.any() and (~is_sig).any():
        curve = roc(is_sig, disc, w[rows])
        out["auc"] = curve.auc
        for e in ecfg.signal_efficiencies:
            out[f"rejection_{e:g}"] = rejection_at(curve, e)["rejection"]
    if ecfg.significance:
        ib = classes.index(tcfg.background_class)
        sb = df[f"score_{tcfg.background_class}"].to_numpy(np.float64)
        for s in tcfg.signal_classes:
            i = classes.index(s)
            sel = np.flatnonzero((labels == i) | (labels == ib))
            y = labels[sel] == i
            if y.any() and (~y).any():
                d = binary_discriminant(df[f"score_{s}"].to_numpy(np.float64), sb)[sel]
                # a fold holds 1/K of the events: scale its yields to the full luminosity
                sc = scan_cuts(d, y, w[sel] * k, rel_bkg_uncertainty=ecfg.background_uncertainty)
                out[f"best_z_{s}"] = sc.summary()["z"]
    return out


def fold_headlines(test: pd.DataFrame, tcfg: TaskConfig, k: int) -> dict[str, Any]:
    """Per-fold headline metrics of out-of-fold ``test`` predictions (``fold`` column) with mean and std."""
    per_fold = [{"fold": int(f), "n_test": int(len(part)), **_one_fold(part, tcfg, k)}
                for f, part in test.groupby("fold", sort=True)]
    mean, std = spread(per_fold)
    return {"k": k, "per_fold": per_fold, "mean": mean, "std": std,
            "std_definition": "sample standard deviation across folds (ddof=1)"}


def kfold_columns(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Comparison-table columns ``<metric>_folds_mean`` / ``_folds_std`` (empty for a single model)."""
    kf = metrics.get("kfold")
    if not kf:
        return {}
    out: dict[str, float | None] = {"kfold": kf["k"]}
    for key, value in kf["mean"].items():
        if key == "n_test":
            continue
        out[f"{key}_folds_mean"], out[f"{key}_folds_std"] = value, kf["std"].get(key)
    return out


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def kfold_markdown(all_metrics: dict[str, dict[str, Any]]) -> str:
    """A markdown section with mean ± std across folds of every K-fold model ('' if there is none)."""
    models = {n: m["kfold"] for n, m in all_metrics.items() if m.get("kfold")}
    if not models:
        return ""
    keys = [k for k in next(iter(models.values()))["mean"] if k != "n_test"]
    lines = ["", "## K-fold models: mean ± standard deviation across folds", "",
             "Each fold's events are scored by the model that did not train on them; the table above uses "
             "all out-of-fold predictions at once.", "",
             "| model | K | " + " | ".join(keys) + " |", "|" + "|".join(["---"] * (len(keys) + 2)) + "|"]
    for name, kf in models.items():
        cells = [_pm(kf["mean"].get(k), kf["std"].get(k)) for k in keys]
        lines.append(f"| {name} | {kf['k']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
