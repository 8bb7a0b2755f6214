"""Evaluation stage: metrics, comparison table and diagnostic plots for all models of a task.

Reads the ``Predictions`` contract (``<predictions_dir>/<model>/{train,test}.parquet``),
each model directory's ``history.csv`` and the dataset's ``meta.json`` and
``{train,test}.parquet`` (tabular features), and writes into ``out_dir``::

    metrics/<model>.json            AUCs, accuracy, rejections, best significance
    metrics/confusion_<model>.csv   confusion counts (rows: true, columns: predicted)
    comparison.md, comparison.csv   one row per model
    plots/<stem>.{pdf,png}          see docs/evaluation.md for every stem
    plots/index.json                every plot file written, and every plot skipped (with why)
    provenance.json

Every file goes through :func:`dl4hep.io.atomic.atomic_output`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.errors import ConfigError, DataError, InputFileError, did_you_mean
from dl4hep.evaluation import importance as _importance
from dl4hep.evaluation.flat_phase_space import flat_phase_space
from dl4hep.evaluation.kfold import fold_headlines, kfold_columns, kfold_markdown
from dl4hep.evaluation.metrics import (
    Roc,
    auc_interval,
    binary_discriminant,
    confusion_matrix,
    effective_entries,
    efficiency_interval,
    rejection_at,
    rejection_interval,
    roc,
    weighted_ks,
)
from dl4hep.evaluation.plots import (
    PlotWriter,
    ScoreGroup,
    plot_confusion,
    plot_efficiency_vs_observer,
    plot_features,
    plot_importance,
    plot_roc,
    plot_scores,
    plot_sculpting,
    plot_significance,
    plot_training,
)
from dl4hep.evaluation.regression import evaluate_regression
from dl4hep.evaluation.sculpting import sculpting
from dl4hep.evaluation.significance import SignificanceScan, scan_cuts
from dl4hep.evaluation.systematics import model_systematics
from dl4hep.io.atomic import atomic_output
from dl4hep.provenance import write_provenance

__all__ = ["INCLUSIVE", "evaluate_task", "load_predictions"]

log = logging.getLogger(__name__)

#: Key of the "any signal vs background" curve of multi-class tasks (discriminant 1 − p_bkg).
INCLUSIVE = "signal"


# ------------------------------------------------------------------ inputs


def load_predictions(path: Path, classes: list[str]) -> pd.DataFrame:
    """Read one predictions parquet and check the contract columns.

    Raises:
        InputFileError: the file is missing or unreadable.
        DataError: a required column is missing or a label is out of range.
    """
    if not path.exists():
        raise InputFileError(f"predictions file {path} does not exist; run `dl4hep predict` for this model first")
    try:
        df = pd.read_parquet(path)
    except Exception as err:
        raise InputFileError(f"cannot read predictions file {path}: {err}") from err
    needed = ["label", "weight"] + [f"score_{c}" for c in classes]
    for col in needed:
        if col not in df.columns:
            raise DataError(
                f"predictions file {path} has no column '{col}' (task classes: {classes})."
                + did_you_mean(col, df.columns)
                + f" Columns present: {list(df.columns)}. Re-run `dl4hep predict` with this task's config."
            )
    labels = df["label"].to_numpy()
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(
            f"predictions file {path}: column 'label' has values in [{labels.min()}, {labels.max()}], "
            f"expected class indices 0..{len(classes) - 1} for classes {classes}"
        )
    return df


def _read_tabular(path: Path, max_rows: int, seed: int) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray] | None:
    """``(values (N, T), names, labels, weights)`` from a dataset split, or None without tabular features."""
    import awkward as ak

    if not path.exists():
        log.warning("dataset split %s does not exist; skipping plots that need input features", path)
        return None
    try:
        arr = ak.from_parquet(path, columns=["tabular", "label", "weight"])
    except Exception as err:  # no tabular block in this dataset
        log.info("no tabular features in %s (%s)", path, err)
        return None
    if "tabular" not in ak.fields(arr) or not ak.fields(arr.tabular):
        return None
    names = list(ak.fields(arr.tabular))
    labels = ak.to_numpy(arr.label).astype(np.int64)
    weights = ak.to_numpy(arr.weight).astype(np.float64)
    values = np.stack([ak.to_numpy(arr.tabular[n]).astype(np.float32) for n in names], axis=1)
    if len(labels) > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(len(labels), max_rows, replace=False))
        values, labels, weights = values[idx], labels[idx], weights[idx]
    return values, names, labels, weights


def _read_history(model_dir: Path) -> dict[str, np.ndarray]:
    path = model_dir / "history.csv"
    if not path.exists():
        raise InputFileError(f"training history {path} does not exist; run `dl4hep train` for this model first")
    try:
        df = pd.read_csv(path)
    except Exception as err:
        raise InputFileError(f"cannot read training history {path}: {err}") from err
    if "epoch" not in df.columns:
        raise DataError(f"training history {path} has no column 'epoch'; columns: {list(df.columns)}")
    return {c: df[c].to_numpy() for c in df.columns}


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


# ------------------------------------------------------------------ per model


@dataclass
class _Curve:
    """One signal-vs-background comparison of a model on the test split."""

    name: str  # signal class, or INCLUSIVE
    roc: Roc
    discriminant: np.ndarray  # on the selected rows
    is_signal: np.ndarray
    weight: np.ndarray
    rows: np.ndarray  # indices into the test frame
    band: Any = None  # RocBand over the weight variations (dl4hep.evaluation.systematics), if any


def _curves(df: pd.DataFrame, tcfg: TaskConfig, where: str) -> dict[str, _Curve]:
    """Signal-vs-background curves: one per signal class, plus the inclusive one for multi-class."""
    classes = tcfg.classes
    ib = classes.index(tcfg.background_class)
    labels = df["label"].to_numpy()
    w = df["weight"].to_numpy(np.float64)
    sb = df[f"score_{tcfg.background_class}"].to_numpy(np.float64)
    out: dict[str, _Curve] = {}
    if not (labels == ib).any():
        log.warning("%s: background class '%s' has no test rows; skipping every ROC and significance",
                    where, tcfg.background_class)
        return out
    specs = []
    # an autoencoder's ROC ranks by its reconstruction error (the class scores are a monotonic map of it)
    anomaly = df["anomaly_score"].to_numpy(np.float64) if "anomaly_score" in df.columns else None
    for s in tcfg.signal_classes:
        disc = anomaly if anomaly is not None else binary_discriminant(df[f"score_{s}"].to_numpy(np.float64), sb)
        specs.append((s, [classes.index(s)], disc))
    if len(tcfg.signal_classes) > 1:
        specs.append((INCLUSIVE, [classes.index(s) for s in tcfg.signal_classes], 1.0 - sb if anomaly is None else anomaly))
    for name, sig_idx, disc in specs:
        is_sig_all = np.isin(labels, sig_idx)
        if not is_sig_all.any():
            log.warning("%s: signal class '%s' has no test rows; skipping its curves", where, name)
            continue
        rows = np.flatnonzero(is_sig_all | (labels == ib))
        y = is_sig_all[rows]
        out[name] = _Curve(name, roc(y, disc[rows], w[rows]), disc[rows], y, w[rows], rows)
    return out


def _ks_groups(
    train: pd.DataFrame, test: pd.DataFrame, column: str, groups: list[tuple[str, list[int]]], rng: np.random.Generator,
    max_rows: int,
) -> list[ScoreGroup]:
    out = []
    for label, idx in groups:
        tr = train[train["label"].isin(idx)]
        te = test[test["label"].isin(idx)]
        if len(tr) > max_rows:
            tr = tr.iloc[np.sort(rng.choice(len(tr), max_rows, replace=False))]
        if len(te) > max_rows:
            te = te.iloc[np.sort(rng.choice(len(te), max_rows, replace=False))]
        a, b = tr[column].to_numpy(np.float64), te[column].to_numpy(np.float64)
        wa, wb = tr["weight"].to_numpy(np.float64), te["weight"].to_numpy(np.float64)
        _, p = weighted_ks(a, wa, b, wb)
        out.append(ScoreGroup(label, a, wa, b, wb, p))
    return out


def _score_panels(
    train: pd.DataFrame, test: pd.DataFrame, tcfg: TaskConfig, rng: np.random.Generator, max_rows: int,
) -> tuple[dict[str, list[ScoreGroup]], dict[str, dict[str, float | None]]]:
    """Score panels for the overtraining check and the KS p-values per panel and group."""
    classes, bkg = tcfg.classes, tcfg.background_class
    ib = classes.index(bkg)
    panels: dict[str, list[ScoreGroup]] = {}
    shown = tcfg.signal_classes if len(classes) == 2 else classes
    for c in shown:
        ic = classes.index(c)
        if len(classes) == 2:
            groups = [(c, [ic]), (bkg, [ib])]
        else:
            groups = [(c, [ic]), (f"not {c}", [i for i in range(len(classes)) if i != ic])]
        panels[f"score_{c}"] = _ks_groups(train, test, f"score_{c}", groups, rng, max_rows)
    ks = {p: {g.label: g.ks_pvalue for g in gs} for p, gs in panels.items()}
    return panels, ks


def _efficiency_vs_observer(
    test: pd.DataFrame, curves: dict[str, _Curve], cut_of: dict[str, float], observer: str, edges: np.ndarray,
) -> dict[str, dict[str, np.ndarray]]:
    obs = test[f"obs_{observer}"].to_numpy(np.float64)
    series: dict[str, dict[str, np.ndarray]] = {}
    nb = len(edges) - 1
    for name, c in curves.items():
        x = obs[c.rows]
        passed = c.discriminant >= cut_of[name]
        b = np.digitize(x, edges) - 1
        inside = (b >= 0) & (b < nb)
        keys = ("eff_sig", "eff_sig_lo", "eff_sig_hi", "rejection", "rejection_lo", "rejection_hi")
        res = {k: np.full(nb, np.nan) for k in keys}
        for k in range(nb):
            for is_sig in (True, False):
                sel = inside & (b == k) & (c.is_signal == is_sig)
                w = c.weight[sel]
                tot = w.sum()
                if tot <= 0:
                    continue
                eff = float(w[passed[sel]].sum() / tot)
                n_eff = effective_entries(w)
                if is_sig:
                    lo, hi = efficiency_interval(eff, n_eff)
                    res["eff_sig"][k], res["eff_sig_lo"][k], res["eff_sig_hi"][k] = eff, lo, hi
                elif eff > 0:
                    lo, hi = rejection_interval(eff, n_eff)
                    res["rejection"][k] = 1.0 / eff
                    res["rejection_lo"][k] = np.nan if lo is None else lo
                    res["rejection_hi"][k] = np.inf if hi is None else hi
        series[name] = res
    return series


def _sculpting_plot(name: str, test: pd.DataFrame, curves: dict[str, _Curve], primary: str | None,
                    background: str, ecfg: Any, writer: PlotWriter, metrics: dict[str, Any], skipped: list[dict[str, str]],
                    where: str) -> None:
    """Background ``sculpting_observer`` after cuts of 50/10/2 % background efficiency, with 1/JSD."""
    obs, stem = ecfg.sculpting_observer, f"sculpting_{name}"
    if obs is None or primary is None:
        return
    if f"obs_{obs}" not in test.columns:
        msg = f"predictions have no column 'obs_{obs}' (evaluation.sculpting_observer)" + did_you_mean(
            f"obs_{obs}", test.columns)
        log.warning("%s: %s; skipping %s", where, msg, stem)
        skipped.append({"plot": stem, "reason": msg})
        return
    c = curves[primary]
    bkg = ~c.is_signal
    values = test[f"obs_{obs}"].to_numpy(np.float64)[c.rows][bkg]
    sc = sculpting(c.discriminant[bkg], values, c.weight[bkg], np.asarray(ecfg.sculpting_bins, dtype=np.float64))
    if sc is None:
        skipped.append({"plot": stem, "reason": "no background weight in the test split"})
        return
    metrics["sculpting"] = {"observer": obs, "eff_bkg": list(sc.jsd), "cuts": list(sc.cuts.values()),
                            "jsd": list(sc.jsd.values())}
    plot_sculpting(writer, stem, sc, observer=obs, model=name, title=f"{primary} vs {background}")


def _evaluate_model(
    name: str, model_dir: Path, *, config: AnalysisConfig, tcfg: TaskConfig, task: str, dataset_dir: Path,
    dataset_meta: dict[str, Any], predictions_dir: Path, out_dir: Path, writer: PlotWriter,
    skipped: list[dict[str, str]],
) -> tuple[dict[str, Any], dict[str, _Curve]]:
    ecfg = tcfg.evaluation
    classes, bkg = tcfg.classes, tcfg.background_class
    where = f"task '{task}', model '{name}'"
    test_path = predictions_dir / name / "test.parquet"
    test = load_predictions(test_path, classes)
    if len(test) == 0:
        raise DataError(f"predictions file {test_path} has no rows (empty test split); "
                        "enlarge the samples or the dataset.split.test fraction")
    train = load_predictions(predictions_dir / name / "train.parquet", classes)
    rng = np.random.default_rng(config.seed)
    folds = tcfg.folds(name)
    # out-of-fold predictions of a K-fold model cover every event
    test_frac = 1.0 if folds > 1 else float(tcfg.dataset.split["test"])

    labels = test["label"].to_numpy()
    scores = test[[f"score_{c}" for c in classes]].to_numpy(np.float64)
    predicted = scores.argmax(axis=1)
    present = [i for i in range(len(classes)) if (labels == i).any()]
    for i in set(range(len(classes))) - set(present):
        log.warning("%s: class '%s' has no test rows; skipping its curves", where, classes[i])
    per_class_acc = [float((predicted[labels == i] == i).mean()) for i in present]

    metrics: dict[str, Any] = {
        "task": task, "model": name, "classes": classes, "background": bkg,
        "signal_classes": tcfg.signal_classes, "n_test": len(test), "test_fraction": test_frac,
        "luminosity_fb": config.luminosity,
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean(per_class_acc)),
    }
    w = test["weight"].to_numpy(np.float64)
    ovr = {}
    for i in present:
        y = labels == i
        if y.all():
            continue
        ovr[classes[i]] = roc(y, scores[:, i], w).auc
    metrics["auc_one_vs_rest"] = ovr

    curves = _curves(test, tcfg, where)
    primary = INCLUSIVE if INCLUSIVE in curves else (tcfg.signal_classes[0] if tcfg.signal_classes[0] in curves else None)
    metrics["primary"] = primary
    sig_metrics: dict[str, Any] = {}
    scans: dict[str, SignificanceScan] = {}
    for cname, c in curves.items():
        rej = {f"{e:g}": rejection_at(c.roc, e) for e in ecfg.signal_efficiencies}
        auc_ci = auc_interval(c.is_signal, c.discriminant, c.weight, ecfg.bootstrap, config.seed)
        entry: dict[str, Any] = {"auc": c.roc.auc, "auc_interval": None if auc_ci is None else list(auc_ci),
                                 "n_sig_eff": c.roc.n_sig_eff, "n_bkg_eff": c.roc.n_bkg_eff, "rejection": rej}
        if cname != INCLUSIVE and ecfg.significance:
            sc = scan_cuts(c.discriminant, c.is_signal, c.weight / test_frac,
                           rel_bkg_uncertainty=ecfg.background_uncertainty)
            scans[cname] = sc
            entry["significance"] = {
                **sc.summary(), "formula": "cowan2012" if ecfg.background_uncertainty > 0 else "asimov",
                "background_uncertainty": ecfg.background_uncertainty,
            }
        sig_metrics[cname] = entry
    metrics["signal_vs_background"] = sig_metrics
    metrics["auc"] = sig_metrics[primary]["auc"] if primary else None
    # weight variations: yields and Z at the nominal best cut (else the working point), ROC bands
    cuts = {k: (float(rejection_at(c.roc, ecfg.working_point)["cut"]), "working_point") for k, c in curves.items()}
    cuts.update({k: (float(sc.cuts[sc.best]), "best_significance") for k, sc in scans.items() if sc.best is not None})
    syst, bands = model_systematics(test, curves, cuts, dataset_meta, test_fraction=test_frac,
                                    rel_unc=ecfg.background_uncertainty)
    if syst:
        metrics["systematics"] = syst
    for cname, band in bands.items():
        curves[cname].band = band
    if tcfg.dataset.balance == "pt_eta":
        metrics["flat_phase_space"] = flat_phase_space(test, tcfg.dataset.reweight_observers, len(classes), curves)

    counts, _ = confusion_matrix(labels, predicted, len(classes))
    weighted, norm = confusion_matrix(labels, predicted, len(classes), weights=w)
    metrics["confusion_normalised"] = norm  # weighted fractions, like every other weighted figure
    if folds > 1:
        metrics["kfold"] = fold_headlines(test, tcfg, folds)
    metrics["confusion_counts"] = counts
    metrics["confusion_weighted"] = weighted

    # ---- plots
    plot_confusion(writer, f"confusion_{name}", norm, counts, classes, model=name)
    cm = pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=[f"pred_{c}" for c in classes])
    with atomic_output(out_dir / "metrics" / f"confusion_{name}.csv") as tmp:
        cm.to_csv(tmp)

    panels, ks = _score_panels(train, test, tcfg, rng, ecfg.max_rows)
    metrics["ks_pvalue"] = ks
    if len(train) == 0:
        log.warning("%s: training predictions are empty; the score plot shows test only", where)
    plot_scores(writer, f"scores_{name}", panels, model=name)

    if scans:
        plot_significance(writer, f"significance_{name}", scans, model=name, rel_unc=ecfg.background_uncertainty)
    elif not ecfg.significance:
        skipped.append({"plot": f"significance_{name}", "reason": "evaluation.significance is false"})
    else:
        skipped.append({"plot": f"significance_{name}", "reason": "no signal class with test rows"})

    for suffix, hdir in [("", model_dir)] if folds == 1 else [(f"_fold{i}", model_dir / f"fold{i}") for i in range(folds)]:
        plot_training(writer, f"training_{name}{suffix}", _read_history(hdir), model=name)
    _sculpting_plot(name, test, curves, primary, bkg, ecfg, writer, metrics, skipped, where)

    # efficiency vs observer at the fixed working point
    obs = ecfg.pt_observer
    stem = f"efficiency_vs_pt_{name}"
    if obs is None:
        pass
    elif f"obs_{obs}" not in test.columns:
        msg = f"{test_path} has no column 'obs_{obs}' (evaluation.pt_observer)" + did_you_mean(
            f"obs_{obs}", test.columns)
        log.warning("%s: %s; skipping %s", where, msg, stem)
        skipped.append({"plot": stem, "reason": msg})
    else:
        wp_curves = {k: v for k, v in curves.items() if k != INCLUSIVE}
        if wp_curves:
            cut_of = {k: float(rejection_at(c.roc, ecfg.working_point)["cut"]) for k, c in wp_curves.items()}
            edges = np.asarray(ecfg.pt_bins, dtype=np.float64)
            series = _efficiency_vs_observer(test, wp_curves, cut_of, obs, edges)
            metrics["working_point"] = {"eff_sig": ecfg.working_point, "cuts": cut_of, "observer": obs}
            plot_efficiency_vs_observer(writer, stem, edges, series, observer=obs,
                                        working_point=ecfg.working_point, model=name)
        else:
            skipped.append({"plot": stem, "reason": "no signal class with test rows"})

    # permutation importance (tabular models only)
    mcfg = tcfg.models.get(name)
    if folds > 1 and mcfg is not None and mcfg.inputs == "tabular" and ecfg.permutation_importance:
        skipped.append({"plot": f"importance_{name}", "reason": "not computed for K-fold models (no common test split)"})
    elif "anomaly_score" in test.columns and ecfg.permutation_importance:
        skipped.append({"plot": f"importance_{name}", "reason": "anomaly model: no class score to rank features by"})
    elif mcfg is not None and mcfg.inputs == "tabular" and ecfg.permutation_importance:
        reason = _run_importance(name, model_dir, mcfg.features, tcfg=tcfg, dataset_dir=dataset_dir,
                                 dataset_meta=dataset_meta, writer=writer, seed=config.seed,
                                 max_rows=ecfg.max_rows, metrics=metrics)
        if reason:
            log.warning("%s: permutation importance skipped: %s", where, reason)
            skipped.append({"plot": f"importance_{name}", "reason": reason})

    with atomic_output(out_dir / "metrics" / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(_jsonable(metrics), indent=2) + "\n")
    return metrics, curves


def _load_score_fn(model_dir: Path) -> tuple[Any, Any]:
    """Indirection so tests can inject a fake model (see tests/unit/test_evaluation_api.py)."""
    return _importance.load_score_fn(model_dir)


def _run_importance(
    name: str, model_dir: Path, features: list[str] | None, *, tcfg: TaskConfig, dataset_dir: Path,
    dataset_meta: dict[str, Any], writer: PlotWriter, seed: int, max_rows: int, metrics: dict[str, Any],
) -> str | None:
    """Permutation importance of one tabular model; returns why it was skipped, or None."""
    data = _read_tabular(dataset_dir / "test.parquet", max_rows, seed)
    if data is None:
        return f"no tabular features in {dataset_dir / 'test.parquet'}"
    values, names, labels, weights = data
    score_fn, meta = _load_score_fn(model_dir)
    if score_fn is None:
        return str(meta)
    # Columns in the order the model was trained with (its meta), else the dataset's.
    order = list((meta or {}).get("tabular") or dataset_meta.get("tabular") or names)
    missing = [n for n in order if n not in names]
    if missing:
        return f"features {missing} of the model are not in {dataset_dir / 'test.parquet'}"
    values = values[:, [names.index(n) for n in order]]
    ib = tcfg.classes.index(tcfg.background_class)
    permute = [n for n in order if features is None or n in features]
    try:
        imp = _importance.permutation_importance(
            _subset_score_fn(score_fn, values, order, permute), values[:, [order.index(n) for n in permute]],
            labels != ib, features=permute, bkg_index=ib, weights=weights, seed=seed,
        )
    except ValueError as err:
        return f"cannot compute importance: {err}"
    metrics["permutation_importance"] = {
        "baseline_auc": imp.baseline_auc,
        "auc_drop": dict(zip(imp.features, imp.drop_mean.tolist(), strict=True)),
        "auc_drop_std": dict(zip(imp.features, imp.drop_std.tolist(), strict=True)),
    }
    plot_importance(writer, f"importance_{name}", imp, model=name)
    return None


def _subset_score_fn(score_fn: Any, full: np.ndarray, order: list[str], permute: list[str]) -> Any:
    """Wrap ``score_fn`` so the importance loop sees only the permuted columns."""
    if permute == order:
        return score_fn
    cols = [order.index(n) for n in permute]

    def fn(sub: np.ndarray) -> np.ndarray:
        x = full.copy()
        x[:, cols] = sub
        return score_fn(x)

    return fn


# ------------------------------------------------------------------ task


def _comparison(all_metrics: dict[str, dict[str, Any]], tcfg: TaskConfig) -> pd.DataFrame:
    rows = []
    effs = [f"{e:g}" for e in tcfg.evaluation.signal_efficiencies]
    for name, m in all_metrics.items():
        row: dict[str, Any] = {"model": name, "auc": m["auc"], "accuracy": m["accuracy"], **kfold_columns(m)}
        flat = m.get("flat_phase_space") or {}
        if flat:
            row["auc_flat"] = flat["auc"].get(m["primary"] or "")
            row["gain_flat"] = flat["gain"].get(m["primary"] or "")
        prim = m["signal_vs_background"].get(m["primary"] or "", {})
        for e in effs:
            r = prim.get("rejection", {}).get(e, {})
            lo, hi = r.get("rejection_interval") or (None, None)
            row[f"rejection_{e}"] = r.get("rejection")
            row[f"rejection_{e}_lo"], row[f"rejection_{e}_hi"] = lo, hi
        row["auc_lo"], row["auc_hi"] = prim.get("auc_interval") or (None, None)
        for s in tcfg.signal_classes:
            entry = m["signal_vs_background"].get(s, {})
            suffix = "" if len(tcfg.signal_classes) == 1 else f"_{s}"
            if suffix:
                row[f"auc{suffix}"] = entry.get("auc")
            row[f"best_z{suffix}"] = entry.get("significance", {}).get("z")
            row[f"best_cut{suffix}"] = entry.get("significance", {}).get("cut")
            envelopes = ((m.get("systematics") or {}).get(s) or {}).get("envelopes") or {}
            if envelopes:  # range of Z over every weight-variation envelope (docs/evaluation.md)
                row[f"z_syst_lo{suffix}"] = min(e["lo"]["z"] for e in envelopes.values())
                row[f"z_syst_hi{suffix}"] = max(e["hi"]["z"] for e in envelopes.values())
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not np.isfinite(v))


def _auc_cell(r: pd.Series) -> str:
    """``0.941 (0.936–0.946)``: the AUC and its 68 % bootstrap interval."""
    if _missing(r["auc"]):
        return "–"
    lo, hi = r.get("auc_lo"), r.get("auc_hi")
    return _fmt(r["auc"]) if _missing(lo) or _missing(hi) else f"{r['auc']:.4f} ({lo:.4f}–{hi:.4f})"


def _rejection_cell(v: Any, lo: Any, hi: Any) -> str:
    """``64 +25 −15`` (Clopper–Pearson 68 %); ``> 120`` when no background passes."""
    if _missing(v):
        return "–" if _missing(lo) else f"> {lo:.3g}"
    up = "∞" if _missing(hi) else f"{hi - v:.2g}"
    down = "?" if _missing(lo) else f"{v - lo:.2g}"
    return f"{v:.3g} +{up} −{down}"


def _markdown(df: pd.DataFrame, tcfg: TaskConfig, task: str, config: AnalysisConfig) -> str:
    effs = [f"{e:g}" for e in tcfg.evaluation.signal_efficiencies]
    sig = "any signal" if len(tcfg.signal_classes) > 1 else tcfg.signal_classes[0]
    head = ["model", "AUC", "accuracy"] + [f"1/ε_B @ ε_S={float(e):.0%}" for e in effs]
    zcols = [c for c in df.columns if c.startswith("best_z")]
    head += [("Z " + c[len("best_z_"):]) if c != "best_z" else "best Z" for c in zcols]
    syst = [c for c in df.columns if c.startswith("z_syst_lo")]
    head += [f"Z range, weight syst.{c[len('z_syst_lo'):].replace('_', ' ')}" for c in syst]
    flat = "auc_flat" in df.columns
    if flat:
        obs = ", ".join(tcfg.dataset.reweight_observers)
        head += [f"AUC flat ({obs})", "gain over best observer"]
    lines = [
        f"# Model comparison: task `{task}`",
        "",
        f"Signal {sig} vs background {tcfg.background_class}; test split, "
        f"{config.luminosity:g} fb⁻¹ at √s = {config.com_energy:g} TeV. "
        "AUC: 68 % bootstrap interval in brackets. Rejection: 68 % Clopper–Pearson interval on ε_B "
        "with N_eff = (Σw)²/Σw² effective entries. "
        + ("Z: Cowan (2012) with relative background uncertainty "
           f"{tcfg.evaluation.background_uncertainty:g}." if tcfg.evaluation.background_uncertainty > 0
           else "Z: Asimov, √(2((s+b)ln(1+s/b) − s))."),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(head)) + "|",
    ]
    for _, r in df.iterrows():
        cells = [str(r["model"]), _auc_cell(r), _fmt(r["accuracy"])]
        cells += [_rejection_cell(r[f"rejection_{e}"], r[f"rejection_{e}_lo"], r[f"rejection_{e}_hi"]) for e in effs]
        cells += [_fmt(None if pd.isna(r[c]) else float(r[c]), 3) for c in zcols]
        cells += ["–" if pd.isna(r[c]) else f"{r[c]:.3g}–{r[c.replace('_lo', '_hi')]:.3g}" for c in syst]
        if flat:
            cells += [_fmt(None if pd.isna(r[c]) else float(r[c])) for c in ("auc_flat", "gain_flat")]
        lines.append("| " + " | ".join(cells) + " |")
    if syst:
        lines += ["", "Z range, weight syst.: smallest and largest Z at the nominal best cut over the envelopes of the "
                  "weight variations (metrics/<model>.json: systematics; docs/evaluation.md)."]
    if flat:
        lines += ["", "AUC flat: test split reweighted flat in (" + ", ".join(tcfg.dataset.reweight_observers)
                  + ") per class, where the spectrum cannot separate the classes; gain: that AUC minus the best "
                  "single observer's (metrics/<model>.json: flat_phase_space)."]
    return "\n".join(lines) + "\n"


def _evaluate_regression_task(config: AnalysisConfig, tcfg: TaskConfig, task: str, models: dict[str, Path],
                              predictions_dir: Path, out_dir: Path, writer: PlotWriter,
                              dataset_dir: Path) -> dict[str, Any]:
    """``kind: regression``: response and resolution (:mod:`dl4hep.evaluation.regression`), same outputs."""
    (out_dir / "metrics").mkdir(parents=True, exist_ok=True)
    summary = evaluate_regression(config=config, tcfg=tcfg, task=task, models={k: Path(v) for k, v in models.items()},
                                  predictions_dir=predictions_dir, out_dir=out_dir, writer=writer)
    plots = sorted(writer.written)
    _write_text(out_dir / "plots" / "index.json", json.dumps({"task": task, "plots": plots, "skipped": []}, indent=2) + "\n")
    write_provenance(out_dir, stage="evaluate", config=tcfg.model_dump(mode="json"),
                     extra={"task": task, "models": {k: str(v) for k, v in models.items()},
                            "dataset_dir": str(dataset_dir), "predictions_dir": str(predictions_dir)})
    return {"task": task, "models": list(models), "auc": {}, "plots": plots, "skipped": [], **summary}


def evaluate_task(
    *,
    config: AnalysisConfig,
    task: str,
    dataset_dir: Path,
    models: dict[str, Path],
    predictions_dir: Path,
    out_dir: Path,
) -> dict[str, Any]:
    """Evaluate every model of ``task`` on its test predictions; write metrics, tables and plots.

    Args:
        config: the resolved analysis config (experiment label, luminosity, √s).
        task: task name in ``config``.
        dataset_dir: ``datasets/<task>`` (``meta.json``, ``{train,test}.parquet``).
        models: model name -> trained model directory (``history.csv``, ``best.pt``).
        predictions_dir: ``predictions/<task>`` with one folder per model.
        out_dir: ``evaluation/<task>``.

    Returns:
        Summary: ``{"task", "models", "auc": {model: AUC}, "plots": [...], "skipped": [...]}``.

    Raises:
        ConfigError: a model is not a model of the task.
        InputFileError: a predictions file or history is missing/unreadable.
        DataError: a class column is missing, or the test split is empty.
    """
    tcfg = config.task(task)
    dataset_dir, predictions_dir, out_dir = Path(dataset_dir), Path(predictions_dir), Path(out_dir)
    if not models:
        raise ConfigError(f"evaluate: no models given for task '{task}'; models are {list(tcfg.models)}")
    for name in models:
        if name not in tcfg.models:
            raise ConfigError(f"model '{name}' is not a model of task '{task}'; models are {list(tcfg.models)}."
                              + did_you_mean(name, tcfg.models))
    ecfg = tcfg.evaluation
    reference = ecfg.reference_model or next(iter(models))
    if reference not in models:
        log.warning("evaluation.reference_model '%s' is not among the evaluated models %s; using '%s'",
                    reference, list(models), next(iter(models)))
        reference = next(iter(models))

    meta_path = dataset_dir / "meta.json"
    dataset_meta: dict[str, Any] = {}
    if meta_path.exists():
        dataset_meta = json.loads(meta_path.read_text())
        if dataset_meta.get("classes") and list(dataset_meta["classes"]) != list(tcfg.classes):
            raise DataError(f"{meta_path} lists classes {dataset_meta['classes']} but task '{task}' has "
                            f"{tcfg.classes}; rebuild the dataset with `dl4hep dataset`")
    else:
        log.warning("dataset meta %s does not exist", meta_path)

    out_dir.mkdir(parents=True, exist_ok=True)
    # The experiment's name is earned by its own simulation or data, not by dl4hep's generator.
    earned = tcfg.input != "generated" and all(s.generator is None for s in tcfg.samples.values())
    writer = PlotWriter(out_dir / "plots", experiment=config.experiment, label_text=config.label_text,
                        com_energy=config.com_energy, luminosity=config.luminosity, earned=earned)
    if tcfg.kind == "regression":
        return _evaluate_regression_task(config, tcfg, task, models, predictions_dir, out_dir, writer, dataset_dir)
    skipped: list[dict[str, str]] = []
    all_metrics: dict[str, dict[str, Any]] = {}
    all_curves: dict[str, dict[str, _Curve]] = {}
    for name, model_dir in models.items():
        log.info("evaluating %s / %s", task, name)
        all_metrics[name], all_curves[name] = _evaluate_model(
            name, Path(model_dir), config=config, tcfg=tcfg, task=task, dataset_dir=dataset_dir,
            dataset_meta=dataset_meta, predictions_dir=predictions_dir, out_dir=out_dir, writer=writer,
            skipped=skipped,
        )

    # ROC: the primary comparison in roc.*, and one per signal class for multi-class tasks.
    bkg = tcfg.background_class
    multi = len(tcfg.signal_classes) > 1
    roc_keys = [(INCLUSIVE if multi else tcfg.signal_classes[0], "roc")]
    if multi:
        roc_keys += [(s, f"roc_{s}") for s in tcfg.signal_classes]
    for key, stem in roc_keys:
        curves = {m: c[key].roc for m, c in all_curves.items() if key in c}
        bands = {m: c[key].band for m, c in all_curves.items() if key in c and c[key].band is not None}
        if not curves:
            skipped.append({"plot": stem, "reason": f"no test rows for '{key}' or '{bkg}'"})
            continue
        ref = reference if reference in curves else next(iter(curves))
        title = f"{'any signal' if key == INCLUSIVE else key} vs {bkg}"
        plot_roc(writer, stem, curves, reference=ref, title=title, bands=bands)

    features = _read_tabular(dataset_dir / "train.parquet", ecfg.max_rows, config.seed)
    if features is not None:
        values, names, labels, weights = features
        plot_features(writer, "features", values, names, labels, weights, tcfg.classes)
    else:
        skipped.append({"plot": "features", "reason": f"no tabular features in {dataset_dir / 'train.parquet'}"})

    table = _comparison(all_metrics, tcfg)
    with atomic_output(out_dir / "comparison.csv") as tmp:
        table.to_csv(tmp, index=False)
    _write_text(out_dir / "comparison.md", _markdown(table, tcfg, task, config) + kfold_markdown(all_metrics))

    plots = sorted(writer.written)
    index = {"task": task, "plots": plots, "skipped": skipped}
    _write_text(out_dir / "plots" / "index.json", json.dumps(index, indent=2) + "\n")
    write_provenance(out_dir, stage="evaluate", config=tcfg.model_dump(mode="json"),
                     extra={"task": task, "models": {k: str(v) for k, v in models.items()},
                            "dataset_dir": str(dataset_dir), "predictions_dir": str(predictions_dir)})
    return {"task": task, "models": list(models), "auc": {m: v["auc"] for m, v in all_metrics.items()},
            "plots": plots, "skipped": skipped}
