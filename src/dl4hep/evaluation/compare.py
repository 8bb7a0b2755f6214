"""The task comparison of a classification task, from the per-model evaluations (no metric recomputed).

Reads ``models/<model>/{metrics.json, curves.npz, plots/index.json}`` under the task's evaluation
directory, and writes there the ROC overlays and the input-feature plot (``plots/``), the comparison
table (``comparison.{csv,md}``) with the paired-bootstrap differences to the best model
(:mod:`dl4hep.evaluation.paired`), ``metrics/<model>.json`` and ``metrics/confusion_<model>.csv``
(copies of the per-model files, one place for every model's numbers) and ``plots/index.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.errors import InputFileError
from dl4hep.evaluation.curves import Curve, read_curves
from dl4hep.evaluation.inputs import check_models, read_tabular, write_text
from dl4hep.evaluation.kfold import kfold_markdown
from dl4hep.evaluation.model import ModelOutputs, draw_rocs
from dl4hep.evaluation.paired import PairedDelta, paired_bootstrap
from dl4hep.evaluation.plots import PlotWriter, plot_features
from dl4hep.evaluation.table import comparison, markdown
from dl4hep.io.atomic import atomic_output
from dl4hep.provenance import write_provenance

__all__ = ["ModelResult", "compare_models", "finish", "plot_writer", "reference_model"]

log = logging.getLogger(__name__)

Skip = dict[str, str]


@dataclass
class ModelResult:
    """What the comparison reads of one model's evaluation."""

    metrics: dict[str, Any]
    curves: dict[str, Curve]
    events: dict[str, np.ndarray]
    skipped: list[Skip]


def plot_writer(config: AnalysisConfig, tcfg: TaskConfig, plot_dir: Path) -> PlotWriter:
    """The task's plot writer; the experiment's name is earned by its own simulation or data, not dl4hep's generator."""
    earned = tcfg.input != "generated" and all(s.generator is None for s in tcfg.samples.values())
    return PlotWriter(
        plot_dir,
        experiment=config.experiment,
        label_text=config.label_text,
        com_energy=config.com_energy,
        luminosity=config.luminosity,
        earned=earned,
    )


def reference_model(tcfg: TaskConfig, models: list[str]) -> str:
    """``evaluation.reference_model`` when evaluated, else the first model."""
    reference = tcfg.evaluation.reference_model or models[0]
    if reference not in models:
        log.warning(
            "evaluation.reference_model '%s' is not among the evaluated models %s; using '%s'",
            reference,
            models,
            models[0],
        )
        reference = models[0]
    return reference


def read_model_result(out: ModelOutputs, model: str) -> ModelResult:
    """One model's per-model evaluation; a missing file names the command that writes it."""
    for path in (out.metrics, out.curves, out.plots / "index.json"):
        if not path.exists():
            raise InputFileError(
                f"{path} does not exist; run `dl4hep evaluate-model` for model '{model}' first"
            )
    curves, events = read_curves(out.curves)
    skipped = json.loads((out.plots / "index.json").read_text())["skipped"]
    return ModelResult(json.loads(out.metrics.read_text()), curves, events, skipped)


def _features_plot(
    writer: PlotWriter, config: AnalysisConfig, tcfg: TaskConfig, dataset_dir: Path
) -> list[Skip]:
    """Input feature distributions per class (training split), or why there are none."""
    features = read_tabular(dataset_dir / "train.parquet", tcfg.evaluation.max_rows, config.seed)
    if features is None:
        return [
            {
                "plot": "features",
                "reason": f"no tabular features in {dataset_dir / 'train.parquet'}",
            }
        ]
    values, names, labels, weights = features
    plot_features(writer, "features", values, names, labels, weights, tcfg.classes)
    return []


def _pairable(a: ModelResult, b: ModelResult, key: str) -> bool:
    """Same test events (keys and weights) and the same rows in curve ``key``."""
    if key not in a.curves or key not in b.curves or set(a.events) != set(b.events):
        return False
    ca, cb = a.curves[key], b.curves[key]
    same_events = all(np.array_equal(a.events[k], b.events[k]) for k in a.events)
    return same_events and np.array_equal(ca.rows, cb.rows) and np.array_equal(ca.weight, cb.weight)


def paired_differences(
    results: dict[str, ModelResult], tcfg: TaskConfig, seed: int
) -> tuple[str | None, dict[str, dict[str, PairedDelta]]]:
    """``(best model, {model: paired differences to it})`` on the primary curve, for models on the same events."""
    ranked = {m: r.metrics["auc"] for m, r in results.items() if r.metrics.get("auc") is not None}
    if len(results) < 2 or not ranked or tcfg.evaluation.bootstrap <= 0:
        return None, {}
    best = max(ranked, key=lambda m: ranked[m])
    key = results[best].metrics["primary"]
    paired = [m for m, r in results.items() if _pairable(results[best], r, key)]
    ref = results[best].curves[key]
    deltas = paired_bootstrap(
        ref.is_signal,
        {m: results[m].curves[key].discriminant for m in paired},
        ref.weight,
        reference=best,
        signal_efficiencies=tcfg.evaluation.signal_efficiencies,
        n_boot=tcfg.evaluation.bootstrap,
        seed=seed,
    )
    for m in set(results) - set(paired):
        log.warning(
            "model '%s' was not tested on the same events as '%s'; no paired difference", m, best
        )
    return best, deltas


def _copy_metrics(eval_dir: Path, outs: dict[str, ModelOutputs]) -> None:
    """``metrics/<model>.json`` and ``metrics/confusion_<model>.csv``: the per-model files, byte for byte."""
    for m, out in outs.items():
        for src, name in ((out.metrics, f"{m}.json"), (out.confusion, f"confusion_{m}.csv")):
            with atomic_output(eval_dir / "metrics" / name) as tmp:
                shutil.copyfile(src, tmp)


def finish(
    out_dir: Path, writer: PlotWriter, skipped: list[Skip], tcfg: TaskConfig, extra: dict[str, Any]
) -> list[str]:
    """Write ``plots/index.json`` and the provenance; return the plot files written."""
    plots = sorted(writer.written)
    index = {
        "task": extra["task"],
        **({"model": extra["model"]} if "model" in extra else {}),
        "plots": plots,
        "skipped": skipped,
    }
    write_text(out_dir / "plots" / "index.json", json.dumps(index, indent=2) + "\n")
    write_provenance(out_dir, stage="evaluate", config=tcfg.model_dump(mode="json"), extra=extra)
    return plots


def compare_models(
    *, config: AnalysisConfig, task: str, models: list[str], eval_dir: Path, dataset_dir: Path
) -> dict[str, Any]:
    """The comparison of the models of a classification task from their per-model evaluations.

    Returns:
        ``{"task", "models", "auc": {model: AUC}, "best", "plots", "skipped"}``.
    """
    tcfg, eval_dir = config.task(task), Path(eval_dir)
    check_models(task, tcfg, models)
    outs = {m: ModelOutputs(eval_dir / "models" / m) for m in models}
    results = {m: read_model_result(out, m) for m, out in outs.items()}
    writer = plot_writer(config, tcfg, eval_dir / "plots")
    skipped = [s for r in results.values() for s in r.skipped]
    skipped += draw_rocs(
        writer, tcfg, {m: r.curves for m, r in results.items()}, reference_model(tcfg, models)
    )
    skipped += _features_plot(writer, config, tcfg, Path(dataset_dir))
    _copy_metrics(eval_dir, outs)
    best, deltas = paired_differences(results, tcfg, config.seed)
    all_metrics = {m: r.metrics for m, r in results.items()}
    table = comparison(all_metrics, tcfg, best=best, deltas=deltas)
    with atomic_output(eval_dir / "comparison.csv") as tmp:
        table.to_csv(tmp, index=False)
    write_text(
        eval_dir / "comparison.md",
        markdown(table, tcfg, task, config, best=best) + kfold_markdown(all_metrics),
    )
    plots = finish(
        eval_dir,
        writer,
        skipped,
        tcfg,
        {"task": task, "models": models, "dataset_dir": str(dataset_dir)},
    )
    return {
        "task": task,
        "models": models,
        "auc": {m: v["auc"] for m, v in all_metrics.items()},
        "best": best,
        "plots": plots,
        "skipped": skipped,
    }
