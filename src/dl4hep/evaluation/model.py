"""One model of a classification task: its metrics (:func:`model_metrics`, no files written) and its plots.

:func:`model_metrics` reads the model's predictions, history and (for importance) dataset, and returns a
:class:`ModelMetrics`: the metrics JSON content plus what the plots need. :func:`draw_model_plots` draws
them, :func:`write_model_metrics` writes the JSON and the confusion CSV.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.contracts import LABEL, WEIGHT, observer_column, score_column
from dl4hep.errors import DataError, did_you_mean
from dl4hep.evaluation import importance as _importance
from dl4hep.evaluation.curves import (
    INCLUSIVE,
    Curve,
    efficiency_vs_observer,
    event_keys,
    score_panels,
    signal_curves,
    write_curves,
)
from dl4hep.evaluation.flat_phase_space import flat_phase_space
from dl4hep.evaluation.inputs import load_predictions, read_history
from dl4hep.evaluation.kfold import fold_headlines
from dl4hep.evaluation.metrics import bootstrap_intervals, confusion_matrix, rejection_at, roc
from dl4hep.evaluation.plots import (
    PlotWriter,
    ScoreGroup,
    plot_confusion,
    plot_efficiency_vs_observer,
    plot_importance,
    plot_roc,
    plot_scores,
    plot_sculpting,
    plot_significance,
    plot_training,
)
from dl4hep.evaluation.sculpting import Sculpting, sculpting
from dl4hep.evaluation.significance import SignificanceScan, scan_cuts
from dl4hep.evaluation.systematics import model_systematics
from dl4hep.evaluation.table import jsonable
from dl4hep.io.atomic import atomic_output

__all__ = [
    "ModelInputs",
    "ModelMetrics",
    "ModelOutputs",
    "draw_model_plots",
    "draw_rocs",
    "model_metrics",
    "write_model_metrics",
    "write_model_outputs",
]

log = logging.getLogger(__name__)

Skip = dict[str, str]


@dataclass(frozen=True)
class ModelInputs:
    """Where one model's evaluation reads from."""

    config: AnalysisConfig
    task: str
    name: str
    model_dir: Path
    dataset_dir: Path
    predictions_dir: Path
    dataset_meta: dict[str, Any]

    @property
    def tcfg(self) -> TaskConfig:
        return self.config.task(self.task)

    @property
    def where(self) -> str:
        return f"task '{self.task}', model '{self.name}'"


@dataclass
class ModelMetrics:
    """Metrics of one model (``metrics`` is the JSON content) and the arrays its plots are drawn from."""

    name: str
    metrics: dict[str, Any]
    curves: dict[str, Curve]
    scans: dict[str, SignificanceScan]
    panels: dict[str, list[ScoreGroup]]
    histories: dict[str, dict[str, np.ndarray]]  # plot stem -> history columns
    sculpting: Sculpting | None = None
    efficiency: tuple[np.ndarray, dict[str, dict[str, np.ndarray]]] | None = None  # (edges, series)
    importance: _importance.Importance | None = None
    skipped: list[Skip] = field(default_factory=list)
    events: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # test-event keys, for paired comparisons


def _read_predictions(inp: ModelInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's ``(test, train)`` predictions; an empty test split is an error."""
    classes = inp.tcfg.classes
    test_path = inp.predictions_dir / inp.name / "test.parquet"
    test = load_predictions(test_path, classes)
    if len(test) == 0:
        raise DataError(
            f"predictions file {test_path} has no rows (empty test split); "
            "enlarge the samples or the dataset.split.test fraction"
        )
    return test, load_predictions(inp.predictions_dir / inp.name / "train.parquet", classes)


def _histories(inp: ModelInputs) -> dict[str, dict[str, np.ndarray]]:
    """Training history per plot stem: one, or one per fold of a K-fold model."""
    folds = inp.tcfg.folds(inp.name)
    dirs = (
        [("", inp.model_dir)]
        if folds == 1
        else [(f"_fold{i}", inp.model_dir / f"fold{i}") for i in range(folds)]
    )
    return {f"training_{inp.name}{suffix}": read_history(d) for suffix, d in dirs}


def _headline(
    inp: ModelInputs, test: pd.DataFrame, test_frac: float
) -> tuple[dict[str, Any], np.ndarray]:
    """Identity, accuracies and one-vs-rest AUCs of the model; also the predicted class per test row."""
    tcfg, classes = inp.tcfg, inp.tcfg.classes
    labels = test[LABEL].to_numpy()
    scores = test[[score_column(c) for c in classes]].to_numpy(np.float64)
    predicted = scores.argmax(axis=1)
    present = [i for i in range(len(classes)) if (labels == i).any()]
    for i in set(range(len(classes))) - set(present):
        log.warning("%s: class '%s' has no test rows; skipping its curves", inp.where, classes[i])
    per_class_acc = [float((predicted[labels == i] == i).mean()) for i in present]
    w = test[WEIGHT].to_numpy(np.float64)
    return {
        "task": inp.task,
        "model": inp.name,
        "classes": classes,
        "background": tcfg.background_class,
        "signal_classes": tcfg.signal_classes,
        "n_test": len(test),
        "test_fraction": test_frac,
        "luminosity_fb": inp.config.luminosity,
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean(per_class_acc)),
        "auc_one_vs_rest": {
            classes[i]: roc(labels == i, scores[:, i], w).auc
            for i in present
            if not (labels == i).all()
        },
    }, predicted


def _signal_metrics(
    curves: dict[str, Curve],
    tcfg: TaskConfig,
    seed: int,
    test_frac: float,
) -> tuple[dict[str, Any], dict[str, SignificanceScan]]:
    """AUC (bootstrap interval), rejections and best significance of every signal-vs-background curve."""
    ecfg = tcfg.evaluation
    entries: dict[str, Any] = {}
    scans: dict[str, SignificanceScan] = {}
    for cname, c in curves.items():
        effs = ecfg.signal_efficiencies
        boot = bootstrap_intervals(c.is_signal, c.discriminant, c.weight, effs, ecfg.bootstrap, seed)
        rej = {f"{e:g}": rejection_at(c.roc, e) for e in effs}
        for k, e in enumerate(effs):  # the same replicas as the AUC's interval
            interval = None if boot is None else boot[1 + k]
            rej[f"{e:g}"]["rejection_bootstrap_interval"] = None if interval is None else list(interval)
        entry: dict[str, Any] = {
            "auc": c.roc.auc,
            "auc_interval": None if boot is None or boot[0] is None else list(boot[0]),
            "n_sig_eff": c.roc.n_sig_eff,
            "n_bkg_eff": c.roc.n_bkg_eff,
            "rejection": rej,
        }
        if cname != INCLUSIVE and ecfg.significance:
            sc = scan_cuts(
                c.discriminant,
                c.is_signal,
                c.weight / test_frac,
                rel_bkg_uncertainty=ecfg.background_uncertainty,
            )
            scans[cname] = sc
            entry["significance"] = {
                **sc.summary(),
                "formula": "cowan2012" if ecfg.background_uncertainty > 0 else "asimov",
                "background_uncertainty": ecfg.background_uncertainty,
            }
        entries[cname] = entry
    return entries, scans


def _systematics(
    inp: ModelInputs,
    test: pd.DataFrame,
    curves: dict[str, Curve],
    scans: dict[str, SignificanceScan],
    test_frac: float,
) -> dict[str, Any]:
    """Yields and Z under the weight variations at the nominal best cut (else the working point); sets ROC bands."""
    ecfg = inp.tcfg.evaluation
    cuts = {
        k: (float(rejection_at(c.roc, ecfg.working_point)["cut"]), "working_point")
        for k, c in curves.items()
    }
    cuts.update(
        {
            k: (float(sc.cuts[sc.best]), "best_significance")
            for k, sc in scans.items()
            if sc.best is not None
        }
    )
    syst, bands = model_systematics(
        test,
        curves,
        cuts,
        inp.dataset_meta,
        test_fraction=test_frac,
        rel_unc=ecfg.background_uncertainty,
    )
    for cname, band in bands.items():
        curves[cname].band = band
    return syst


def _confusion(
    inp: ModelInputs, test: pd.DataFrame, predicted: np.ndarray, test_frac: float
) -> dict[str, Any]:
    """Weighted-normalised, k-fold (if any), count and weighted confusion entries, in the JSON's key order."""
    n = len(inp.tcfg.classes)
    labels = test[LABEL].to_numpy()
    counts, _ = confusion_matrix(labels, predicted, n)
    weighted, norm = confusion_matrix(
        labels, predicted, n, weights=test[WEIGHT].to_numpy(np.float64)
    )
    out: dict[str, Any] = {
        "confusion_normalised": norm
    }  # weighted fractions, like every other weighted figure
    folds = inp.tcfg.folds(inp.name)
    if folds > 1:
        out["kfold"] = fold_headlines(test, inp.tcfg, folds)
    return {**out, "confusion_counts": counts, "confusion_weighted": weighted}


def _significance_skip(mm: ModelMetrics, tcfg: TaskConfig) -> list[Skip]:
    if mm.scans:
        return []
    reason = (
        "evaluation.significance is false"
        if not tcfg.evaluation.significance
        else "no signal class with test rows"
    )
    return [{"plot": f"significance_{mm.name}", "reason": reason}]


def _missing_observer(
    inp: ModelInputs, test: pd.DataFrame, obs: str, key: str, stem: str, source: str
) -> Skip:
    msg = f"{source} has no column '{observer_column(obs)}' (evaluation.{key})" + did_you_mean(
        observer_column(obs), test.columns
    )
    log.warning("%s: %s; skipping %s", inp.where, msg, stem)
    return {"plot": stem, "reason": msg}


def _sculpting(inp: ModelInputs, test: pd.DataFrame, mm: ModelMetrics) -> list[Skip]:
    """Background ``sculpting_observer`` after cuts of 50/10/2 % background efficiency, with 1/JSD."""
    obs, stem, primary = (
        inp.tcfg.evaluation.sculpting_observer,
        f"sculpting_{inp.name}",
        mm.metrics["primary"],
    )
    if obs is None or primary is None:
        return []
    if observer_column(obs) not in test.columns:
        return [_missing_observer(inp, test, obs, "sculpting_observer", stem, "predictions")]
    c = mm.curves[primary]
    bkg = ~c.is_signal
    values = test[observer_column(obs)].to_numpy(np.float64)[c.rows][bkg]
    edges = np.asarray(inp.tcfg.evaluation.sculpting_bins, dtype=np.float64)
    sc = sculpting(c.discriminant[bkg], values, c.weight[bkg], edges)
    if sc is None:
        return [{"plot": stem, "reason": "no background weight in the test split"}]
    mm.sculpting = sc
    mm.metrics["sculpting"] = {
        "observer": obs,
        "eff_bkg": list(sc.jsd),
        "cuts": list(sc.cuts.values()),
        "jsd": list(sc.jsd.values()),
    }
    return []


def _working_point(inp: ModelInputs, test: pd.DataFrame, mm: ModelMetrics) -> list[Skip]:
    """Efficiency and rejection vs ``pt_observer`` at the cut keeping ``working_point`` of the signal."""
    ecfg, stem = inp.tcfg.evaluation, f"efficiency_vs_pt_{inp.name}"
    obs = ecfg.pt_observer
    if obs is None:
        return []
    if observer_column(obs) not in test.columns:
        source = str(inp.predictions_dir / inp.name / "test.parquet")
        return [_missing_observer(inp, test, obs, "pt_observer", stem, source)]
    wp_curves = {k: v for k, v in mm.curves.items() if k != INCLUSIVE}
    if not wp_curves:
        return [{"plot": stem, "reason": "no signal class with test rows"}]
    cut_of = {
        k: float(rejection_at(c.roc, ecfg.working_point)["cut"]) for k, c in wp_curves.items()
    }
    edges = np.asarray(ecfg.pt_bins, dtype=np.float64)
    mm.efficiency = edges, efficiency_vs_observer(test, wp_curves, cut_of, obs, edges)
    mm.metrics["working_point"] = {"eff_sig": ecfg.working_point, "cuts": cut_of, "observer": obs}
    return []


def _importance_step(inp: ModelInputs, test: pd.DataFrame, mm: ModelMetrics) -> list[Skip]:
    """Permutation importance of a tabular model (skipped, with why, for K-fold and anomaly models)."""
    tcfg, stem = inp.tcfg, f"importance_{inp.name}"
    mcfg = tcfg.models.get(inp.name)
    tabular = mcfg is not None and mcfg.inputs == "tabular"
    if not tcfg.evaluation.permutation_importance:
        return []
    if tabular and tcfg.folds(inp.name) > 1:
        return [{"plot": stem, "reason": "not computed for K-fold models (no common test split)"}]
    if "anomaly_score" in test.columns:
        return [{"plot": stem, "reason": "anomaly model: no class score to rank features by"}]
    if mcfg is None or not tabular:
        return []
    imp = _importance.run_importance(
        inp.model_dir,
        mcfg.features,
        classes=tcfg.classes,
        background=tcfg.background_class,
        dataset_dir=inp.dataset_dir,
        dataset_meta=inp.dataset_meta,
        seed=inp.config.seed,
        max_rows=tcfg.evaluation.max_rows,
    )
    if isinstance(imp, str):
        log.warning("%s: permutation importance skipped: %s", inp.where, imp)
        return [{"plot": stem, "reason": imp}]
    mm.importance = imp
    mm.metrics["permutation_importance"] = _importance.importance_metrics(imp)
    return []


def model_metrics(inp: ModelInputs) -> ModelMetrics:
    """Every metric of one model on its test split (and train split for the KS check); writes nothing."""
    tcfg, seed = inp.tcfg, inp.config.seed
    test, train = _read_predictions(inp)
    histories = _histories(inp)
    # out-of-fold predictions of a K-fold model cover every event
    test_frac = 1.0 if tcfg.folds(inp.name) > 1 else float(tcfg.dataset.split["test"])
    metrics, predicted = _headline(inp, test, test_frac)
    curves = signal_curves(test, tcfg, inp.where)
    primary = (
        INCLUSIVE
        if INCLUSIVE in curves
        else (tcfg.signal_classes[0] if tcfg.signal_classes[0] in curves else None)
    )
    metrics["primary"] = primary
    metrics["signal_vs_background"], scans = _signal_metrics(curves, tcfg, seed, test_frac)
    metrics["auc"] = metrics["signal_vs_background"][primary]["auc"] if primary else None
    syst = _systematics(inp, test, curves, scans, test_frac)
    if syst:
        metrics["systematics"] = syst
    if tcfg.dataset.balance == "pt_eta":
        metrics["flat_phase_space"] = flat_phase_space(
            test, tcfg.dataset.reweight_observers, len(tcfg.classes), curves
        )
    metrics.update(_confusion(inp, test, predicted, test_frac))
    panels, metrics["ks_pvalue"] = score_panels(
        train, test, tcfg, np.random.default_rng(seed), tcfg.evaluation.max_rows
    )
    if len(train) == 0:
        log.warning("%s: training predictions are empty; the score plot shows test only", inp.where)
    mm = ModelMetrics(inp.name, metrics, curves, scans, panels, histories, events=event_keys(test))
    mm.skipped = _significance_skip(mm, tcfg)
    for step in (_sculpting, _working_point, _importance_step):
        mm.skipped += step(inp, test, mm)
    return mm


def draw_rocs(
    writer: PlotWriter,
    tcfg: TaskConfig,
    all_curves: dict[str, dict[str, Curve]],
    reference: str,
    suffix: str = "",
) -> list[Skip]:
    """ROC of every model in ``all_curves``: the primary comparison in ``roc<suffix>``, and
    ``roc_<class><suffix>`` per signal class if multi-class (one model: its own ROC, as soon as it is evaluated)."""
    bkg, multi = tcfg.background_class, len(tcfg.signal_classes) > 1
    roc_keys = [(INCLUSIVE if multi else tcfg.signal_classes[0], f"roc{suffix}")]
    if multi:
        roc_keys += [(s, f"roc_{s}{suffix}") for s in tcfg.signal_classes]
    skipped: list[Skip] = []
    for key, stem in roc_keys:
        curves = {m: c[key].roc for m, c in all_curves.items() if key in c}
        bands = {
            m: c[key].band for m, c in all_curves.items() if key in c and c[key].band is not None
        }
        if not curves:
            skipped.append({"plot": stem, "reason": f"no test rows for '{key}' or '{bkg}'"})
            continue
        ref = reference if reference in curves else next(iter(curves))
        title = f"{'any signal' if key == INCLUSIVE else key} vs {bkg}"
        plot_roc(writer, stem, curves, reference=ref, title=title, bands=bands)
    return skipped


def draw_model_plots(writer: PlotWriter, mm: ModelMetrics, tcfg: TaskConfig) -> None:
    """ROC, confusion, scores, significance, training, sculpting, efficiency and importance plots of one model."""
    name, m, ecfg = mm.name, mm.metrics, tcfg.evaluation
    mm.skipped += draw_rocs(writer, tcfg, {name: mm.curves}, name, suffix=f"_{name}")
    plot_confusion(
        writer,
        f"confusion_{name}",
        m["confusion_normalised"],
        m["confusion_counts"],
        tcfg.classes,
        model=name,
    )
    plot_scores(writer, f"scores_{name}", mm.panels, model=name)
    if mm.scans:
        plot_significance(
            writer,
            f"significance_{name}",
            mm.scans,
            model=name,
            rel_unc=ecfg.background_uncertainty,
        )
    for stem, history in mm.histories.items():
        plot_training(writer, stem, history, model=name)
    if mm.sculpting is not None:
        primary = m["primary"]
        plot_sculpting(
            writer,
            f"sculpting_{name}",
            mm.sculpting,
            observer=ecfg.sculpting_observer,
            model=name,
            title=f"{primary} vs {tcfg.background_class}",
        )
    if mm.efficiency is not None:
        edges, series = mm.efficiency
        plot_efficiency_vs_observer(
            writer,
            f"efficiency_vs_pt_{name}",
            edges,
            series,
            observer=ecfg.pt_observer,
            working_point=ecfg.working_point,
            model=name,
        )
    if mm.importance is not None:
        plot_importance(writer, f"importance_{name}", mm.importance, model=name)


@dataclass(frozen=True)
class ModelOutputs:
    """The files of one model's evaluation, ``evaluation/<task>/models/<model>/``."""

    root: Path

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def confusion(self) -> Path:
        return self.root / "confusion.csv"

    @property
    def curves(self) -> Path:
        return self.root / "curves.npz"

    @property
    def plots(self) -> Path:
        return self.root / "plots"


def write_model_outputs(mm: ModelMetrics, classes: list[str], out: ModelOutputs) -> None:
    """Metrics JSON, confusion CSV and curves (for the task comparison) of one model."""
    write_model_metrics(mm, classes, out.metrics, out.confusion)
    write_curves(out.curves, mm.curves, mm.events)


def write_model_metrics(
    mm: ModelMetrics, classes: list[str], json_path: Path, confusion_path: Path
) -> None:
    """The metrics JSON and the confusion counts CSV (rows: true, columns: predicted) of one model."""
    cm = pd.DataFrame(
        mm.metrics["confusion_counts"],
        index=pd.Index(classes, name="true"),
        columns=[f"pred_{c}" for c in classes],
    )
    with atomic_output(confusion_path) as tmp:
        cm.to_csv(tmp)
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(jsonable(mm.metrics), indent=2) + "\n")
