"""Evaluation of a ``kind: regression`` task: response and resolution against the raw baseline.

For every model the response is r = prediction / target on the test split: with
``regression.relative_to`` (the ECAL case, target E_true / E_raw) that is
E_corrected / E_true with E_corrected = prediction × E_raw; the raw baseline is
r = 1 / target = E_raw / E_true (no correction). Without ``relative_to`` the baseline is absent.
Writes the same outputs as a classification evaluation (``comparison.{md,csv}``,
``metrics/<model>.json``, ``plots/``); docs/evaluation.md defines each figure.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.contracts import WEIGHT, observer_column
from dl4hep.errors import DataError, did_you_mean
from dl4hep.evaluation.inputs import read_history, read_stage_output
from dl4hep.evaluation.plots import PlotWriter, plot_training
from dl4hep.evaluation.regression_plots import plot_response, plot_response_vs
from dl4hep.evaluation.resolution import ResponseSummary, binned_summary, summarise
from dl4hep.io.atomic import atomic_output

__all__ = ["RAW", "evaluate_regression", "load_regression_predictions"]

log = logging.getLogger(__name__)

#: Name of the uncorrected baseline in tables and plots.
RAW = "raw"


def load_regression_predictions(path: Path) -> pd.DataFrame:
    """Read one regression predictions parquet; needs ``target``, ``prediction`` and ``weight``."""
    df = read_stage_output(path, "predictions file", "predict", pd.read_parquet)
    for col in ("target", "prediction", "weight"):
        if col not in df.columns:
            raise DataError(
                f"predictions file {path} has no column '{col}' (a regression model writes target and "
                f"prediction)." + did_you_mean(col, df.columns) + " Re-run `dl4hep predict`."
            )
    if len(df) == 0:
        raise DataError(f"predictions file {path} has no rows (empty test split)")
    return df


def _responses(df: pd.DataFrame, relative: bool, model: str) -> dict[str, np.ndarray]:
    target = df["target"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {model: df["prediction"].to_numpy(np.float64) / target}
        if relative:
            out[RAW] = 1.0 / target
    return out


def _coverage(df: pd.DataFrame) -> float | None:
    """Fraction of |prediction − target| < prediction_sigma (0.683 for a calibrated Gaussian σ)."""
    if "prediction_sigma" not in df.columns:
        return None
    pull = (df["prediction"] - df["target"]).abs() / df["prediction_sigma"]
    return float((pull < 1).mean())


def _load_frames(predictions_dir: Path, models: dict[str, Path], bins: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    """Test predictions per model, checked to hold every ``regression.bins`` observer."""
    frames = {m: load_regression_predictions(predictions_dir / m / "test.parquet") for m in models}
    for obs in bins:
        for m, df in frames.items():
            if observer_column(obs) not in df.columns:
                raise DataError(
                    f"predictions of model '{m}' have no column '{observer_column(obs)}' (regression.bins)."
                    + did_you_mean(observer_column(obs), df.columns)
                )
    return frames


Responses = dict[str, tuple[np.ndarray, np.ndarray]]
Binned = dict[str, dict[str, list[ResponseSummary]]]


def _collect(frames: dict[str, pd.DataFrame], bins: dict[str, list[float]], relative: bool) -> tuple[Responses, Binned]:
    """Inclusive ``(response, weight)`` and binned summaries per model, plus the raw baseline (from the first model)."""
    inclusive: Responses = {}
    binned: Binned = {obs: {} for obs in bins}
    for m, df in frames.items():
        w = df[WEIGHT].to_numpy(np.float64)
        for name, r in _responses(df, relative, m).items():
            if name == RAW and RAW in inclusive:
                continue  # the baseline is the same for every model (same test rows)
            inclusive[name] = (r, w)
            for obs, edges in bins.items():
                x = df[observer_column(obs)].to_numpy(np.float64)
                binned[obs][name] = binned_summary(r, w, x, np.asarray(edges, dtype=np.float64))
    return inclusive, binned


def _binned_dict(bins: dict[str, list[float]], binned: Binned, name: str) -> dict[str, Any]:
    return {obs: {"edges": bins[obs], "bins": [b.as_dict() for b in binned[obs][name]]} for obs in bins}


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_clean(obj), indent=2) + "\n")


def _model_metrics(task: str, m: str, df: pd.DataFrame, label: str, summary: ResponseSummary,
                   bins: dict[str, list[float]], binned: Binned) -> dict[str, Any]:
    """The ``metrics/<model>.json`` content of one regression model."""
    return {"task": task, "model": m, "kind": "regression", "target": label, "n_test": len(df),
            "response": summary.as_dict(), "coverage_1sigma": _coverage(df), "binned": _binned_dict(bins, binned, m)}


def _draw(writer: PlotWriter, inclusive: Responses, summaries: dict[str, ResponseSummary], binned: Binned,
          bins: dict[str, list[float]], ylabel: str) -> None:
    plot_response(writer, "response", inclusive, summaries, xlabel=ylabel)
    for obs, edges in bins.items():
        plot_response_vs(writer, f"response_vs_{obs}", np.asarray(edges, dtype=np.float64), binned[obs],
                         observer=obs, ylabel=ylabel)


def evaluate_regression(
    *,
    config: AnalysisConfig,
    tcfg: TaskConfig,
    task: str,
    models: dict[str, Path],
    predictions_dir: Path,
    out_dir: Path,
    writer: PlotWriter,
) -> dict[str, Any]:
    """Response/resolution metrics, tables and plots of every model of a regression task."""
    reg = tcfg.regression
    assert reg is not None
    relative = reg.relative_to is not None
    frames = _load_frames(predictions_dir, models, reg.bins)
    histories = {m: read_history(models[m]) for m in frames}
    label = f"{reg.target} / {reg.relative_to}" if relative else reg.target
    ylabel = "E$_{corr}$ / E$_{true}$" if relative else "prediction / target"
    inclusive, binned = _collect(frames, reg.bins, relative)
    metrics_all = {m: _model_metrics(task, m, df, label, summarise(*inclusive[m]), reg.bins, binned)
                   for m, df in frames.items()}
    for m, metrics in metrics_all.items():
        _write_json(out_dir / "metrics" / f"{m}.json", metrics)
        plot_training(writer, f"training_{m}", histories[m], model=m)
    summaries = {name: summarise(r, w) for name, (r, w) in inclusive.items()}
    _draw(writer, inclusive, summaries, binned, reg.bins, ylabel)
    table = _table(summaries, metrics_all)
    with atomic_output(out_dir / "comparison.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(out_dir / "comparison.md") as tmp:
        tmp.write_text(_markdown(table, task, label, ylabel, reg.bins))
    if RAW in summaries:
        raw = {"model": RAW, "response": summaries[RAW].as_dict(), "binned": _binned_dict(reg.bins, binned, RAW)}
        _write_json(out_dir / "metrics" / f"{RAW}.json", raw)
    return {
        "sigma_eff": {m: s.sigma_eff for m, s in summaries.items()},
        "median": {m: s.median for m, s in summaries.items()},
    }


def _table(
    summaries: dict[str, ResponseSummary], metrics: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    rows = []
    for name, s in summaries.items():
        cov = metrics.get(name, {}).get("coverage_1sigma")
        rows.append(
            {"model": name, **{k: v for k, v in s.as_dict().items()}, "coverage_1sigma": cov}
        )
    return pd.DataFrame(rows)


def _markdown(
    df: pd.DataFrame, task: str, label: str, ylabel: str, bins: dict[str, list[float]]
) -> str:
    def f(v: Any) -> str:
        return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.4f}"

    lines = [
        f"# Regression: task `{task}`",
        "",
        f"Target {label}; response r = {ylabel.replace('$', '').replace('_{', '_').replace('}', '')} on the test "
        "split (raw: no correction). Median; σ_eff = half the smallest interval holding 68.3 % of the objects; "
        "68 % interval = [q(15.9 %), q(84.1 %)]; resolution = σ_eff / median; coverage: fraction of "
        "|prediction − target| < predicted σ (0.683 if calibrated). Binned figures vs "
        + (", ".join(bins) if bins else "no observer")
        + ": metrics/<model>.json.",
        "",
        "| model | median | σ_eff | σ_eff / median | 68 % interval | coverage 1σ | objects |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in df.iterrows():
        cov = r["coverage_1sigma"]
        lines.append(
            f"| {r['model']} | {f(r['median'])} | {f(r['sigma_eff'])} | {f(r['resolution'])} | "
            f"[{f(r['q16'])}, {f(r['q84'])}] | {f(None if pd.isna(cov) else float(cov))} | {int(r['n'])} |"
        )
    return "\n".join(lines) + "\n"


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
