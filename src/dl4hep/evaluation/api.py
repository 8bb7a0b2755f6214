"""Evaluation stage entries: one model (:func:`evaluate_model`), the comparison (:func:`compare_models`), both.

Reads the ``Predictions`` contract (``<predictions_dir>/<model>/{train,test}.parquet``), each model
directory's ``history.csv`` and the dataset's ``meta.json`` and ``{train,test}.parquet`` (tabular
features), and writes into ``evaluation/<task>/``::

    models/<model>/metrics.json       AUCs (bootstrap intervals), accuracy, rejections, best significance
    models/<model>/confusion.csv      confusion counts (rows: true, columns: predicted)
    models/<model>/curves.npz         ROC curves and per-event discriminants, read by the comparison
    models/<model>/plots/             confusion, scores, significance, training, ... of that model
    comparison.md, comparison.csv     one row per model, with paired differences to the best model
    metrics/<model>.json              copies of models/<model>/metrics.json (and confusion_<model>.csv)
    plots/<stem>.{pdf,png}            ROC overlays and input features; docs/evaluation.md lists every stem
    plots/index.json                  every plot file written, and every plot skipped (with why)

A regression task is evaluated in one step (:mod:`~dl4hep.evaluation.regression`). Every file goes
through :func:`dl4hep.io.atomic.atomic_output`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dl4hep.config import AnalysisConfig
from dl4hep.errors import ConfigError
from dl4hep.evaluation.compare import compare_models, finish, plot_writer
from dl4hep.evaluation.curves import INCLUSIVE
from dl4hep.evaluation.inputs import check_models, load_predictions, read_dataset_meta
from dl4hep.evaluation.model import (
    ModelInputs,
    ModelOutputs,
    draw_model_plots,
    model_metrics,
    write_model_outputs,
)
from dl4hep.evaluation.regression import evaluate_regression

__all__ = ["INCLUSIVE", "compare_models", "evaluate_model", "evaluate_task", "load_predictions"]

log = logging.getLogger(__name__)


def evaluate_model(
    *,
    config: AnalysisConfig,
    task: str,
    model: str,
    model_dir: Path,
    dataset_dir: Path,
    predictions_dir: Path,
    out_dir: Path,
) -> dict[str, Any]:
    """Evaluate one model of a classification task; write ``out_dir`` = ``evaluation/<task>/models/<model>``.

    Writes ``metrics.json``, ``confusion.csv``, ``curves.npz`` (read by :func:`compare_models`),
    ``plots/<stem>_<model>.{pdf,png}``, ``plots/index.json`` and ``provenance.json``.
    Returns ``{"task", "model", "auc", "plots", "skipped"}``.

    Raises:
        ConfigError: ``model`` is not a model of the task, or the task is a regression.
        InputFileError, DataError: as :func:`evaluate_task`.
    """
    tcfg = config.task(task)
    check_models(task, tcfg, [model])
    if tcfg.kind == "regression":
        raise ConfigError(
            f"task '{task}' is a regression: `dl4hep evaluate` evaluates all its models at once"
        )
    dataset_dir, predictions_dir = Path(dataset_dir), Path(predictions_dir)
    meta = read_dataset_meta(dataset_dir, tcfg, task)
    inp = ModelInputs(config, task, model, Path(model_dir), dataset_dir, predictions_dir, meta)
    log.info("evaluating %s / %s", task, model)
    mm = model_metrics(inp)
    out = ModelOutputs(Path(out_dir))
    writer = plot_writer(config, tcfg, out.plots)
    draw_model_plots(writer, mm, tcfg)
    write_model_outputs(mm, tcfg.classes, out)
    extra = {"task": task, "model": model, "model_dir": str(model_dir), "dataset_dir": str(dataset_dir),
             "predictions_dir": str(predictions_dir)}  # fmt: skip
    plots = finish(out.root, writer, mm.skipped, tcfg, extra)
    return {
        "task": task,
        "model": model,
        "auc": mm.metrics["auc"],
        "plots": plots,
        "skipped": mm.skipped,
    }


def _evaluate_regression_task(
    config: AnalysisConfig, task: str, models: dict[str, Path], dataset_dir: Path, predictions_dir: Path,
    out_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """``kind: regression``: response and resolution of every model (:mod:`dl4hep.evaluation.regression`)."""
    tcfg = config.task(task)
    (out_dir / "metrics").mkdir(parents=True, exist_ok=True)
    writer = plot_writer(config, tcfg, out_dir / "plots")
    summary = evaluate_regression(config=config, tcfg=tcfg, task=task, models=models,
                                  predictions_dir=predictions_dir, out_dir=out_dir, writer=writer)  # fmt: skip
    extra = {"task": task, "models": {k: str(v) for k, v in models.items()}, "dataset_dir": str(dataset_dir),
             "predictions_dir": str(predictions_dir)}  # fmt: skip
    plots = finish(out_dir, writer, [], tcfg, extra)
    return {
        "task": task,
        "models": list(models),
        "auc": {},
        "plots": plots,
        "skipped": [],
        **summary,
    }


def evaluate_task(
    *,
    config: AnalysisConfig,
    task: str,
    dataset_dir: Path,
    models: dict[str, Path],
    predictions_dir: Path,
    out_dir: Path,
) -> dict[str, Any]:
    """Evaluate every model of ``task`` and compare them (:func:`evaluate_model` each, then :func:`compare_models`).

    A regression task is evaluated in one step (response and resolution of every model).

    Args:
        config: the resolved analysis config (experiment label, luminosity, √s).
        task: task name in ``config``.
        dataset_dir: ``datasets/<task>`` (``meta.json``, ``{train,test}.parquet``).
        models: model name -> trained model directory (``history.csv``, ``best.pt``).
        predictions_dir: ``predictions/<task>`` with one folder per model.
        out_dir: ``evaluation/<task>``.

    Returns:
        ``{"task", "models", "auc": {model: AUC}, "plots", "skipped"}``; ``plots`` holds the comparison's
        plots and each model's as ``models/<model>/plots/<file>``.

    Raises:
        ConfigError: a model is not a model of the task.
        InputFileError: a predictions file or history is missing/unreadable.
        DataError: a class column is missing, or the test split is empty.
    """
    tcfg = config.task(task)
    dataset_dir, predictions_dir, out_dir = Path(dataset_dir), Path(predictions_dir), Path(out_dir)
    check_models(task, tcfg, models)
    read_dataset_meta(dataset_dir, tcfg, task)  # wrong classes fail before any output
    out_dir.mkdir(parents=True, exist_ok=True)
    dirs = {m: Path(d) for m, d in models.items()}
    if tcfg.kind == "regression":
        return _evaluate_regression_task(config, task, dirs, dataset_dir, predictions_dir, out_dir)
    plots = []
    for m, d in dirs.items():
        one = evaluate_model(config=config, task=task, model=m, model_dir=d, dataset_dir=dataset_dir,
                             predictions_dir=predictions_dir, out_dir=out_dir / "models" / m)  # fmt: skip
        plots += [f"models/{m}/plots/{p}" for p in one["plots"]]
    summary = compare_models(
        config=config, task=task, models=list(dirs), eval_dir=out_dir, dataset_dir=dataset_dir
    )
    summary["plots"] += plots
    return summary
