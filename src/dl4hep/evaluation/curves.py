"""Per-model figures of merit on the predictions frames: signal-vs-background curves, KS groups, efficiency vs observer.

Pure functions of the predictions (no plots); :mod:`dl4hep.evaluation.model` assembles them.
:func:`write_curves` / :func:`read_curves` carry a model's curves (and the test events' identity, for
paired comparisons) from its per-model evaluation to the task comparison as one ``.npz`` file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import TaskConfig
from dl4hep.contracts import LABEL, WEIGHT, observer_column, score_column
from dl4hep.evaluation.metrics import (
    Roc,
    binary_discriminant,
    effective_entries,
    efficiency_interval,
    rejection_interval,
    roc,
    weighted_ks,
)
from dl4hep.evaluation.plots import ScoreGroup
from dl4hep.evaluation.systematics import RocBand
from dl4hep.io.atomic import atomic_output

__all__ = [
    "INCLUSIVE",
    "Curve",
    "efficiency_vs_observer",
    "event_keys",
    "read_curves",
    "score_panels",
    "signal_curves",
    "write_curves",
]

log = logging.getLogger(__name__)

#: Key of the "any signal vs background" curve of multi-class tasks (discriminant 1 − p_bkg).
INCLUSIVE = "signal"

#: Autoencoder predictions rank by this column (the class scores are a monotonic map of it).
ANOMALY = "anomaly_score"


@dataclass
class Curve:
    """One signal-vs-background comparison of a model on the test split."""

    name: str  # signal class, or INCLUSIVE
    roc: Roc
    discriminant: np.ndarray  # on the selected rows
    is_signal: np.ndarray
    weight: np.ndarray
    rows: np.ndarray  # indices into the test frame
    band: Any = None  # RocBand over the weight variations (dl4hep.evaluation.systematics), if any


def _discriminants(df: pd.DataFrame, tcfg: TaskConfig) -> list[tuple[str, list[int], np.ndarray]]:
    """``(curve name, signal class indices, discriminant)`` per signal class, plus the inclusive one."""
    classes = tcfg.classes
    sb = df[score_column(tcfg.background_class)].to_numpy(np.float64)
    anomaly = df[ANOMALY].to_numpy(np.float64) if ANOMALY in df.columns else None
    specs = []
    for s in tcfg.signal_classes:
        disc = (
            anomaly
            if anomaly is not None
            else binary_discriminant(df[score_column(s)].to_numpy(np.float64), sb)
        )
        specs.append((s, [classes.index(s)], disc))
    if len(tcfg.signal_classes) > 1:
        inclusive = 1.0 - sb if anomaly is None else anomaly
        specs.append((INCLUSIVE, [classes.index(s) for s in tcfg.signal_classes], inclusive))
    return specs


def signal_curves(df: pd.DataFrame, tcfg: TaskConfig, where: str) -> dict[str, Curve]:
    """Signal-vs-background curves: one per signal class, plus the inclusive one for multi-class."""
    ib = tcfg.classes.index(tcfg.background_class)
    labels = df[LABEL].to_numpy()
    w = df[WEIGHT].to_numpy(np.float64)
    out: dict[str, Curve] = {}
    if not (labels == ib).any():
        log.warning(
            "%s: background class '%s' has no test rows; skipping every ROC and significance",
            where,
            tcfg.background_class,
        )
        return out
    for name, sig_idx, disc in _discriminants(df, tcfg):
        is_sig_all = np.isin(labels, sig_idx)
        if not is_sig_all.any():
            log.warning("%s: signal class '%s' has no test rows; skipping its curves", where, name)
            continue
        rows = np.flatnonzero(is_sig_all | (labels == ib))
        y = is_sig_all[rows]
        out[name] = Curve(name, roc(y, disc[rows], w[rows]), disc[rows], y, w[rows], rows)
    return out


def _ks_groups(
    train: pd.DataFrame,
    test: pd.DataFrame,
    column: str,
    groups: list[tuple[str, list[int]]],
    rng: np.random.Generator,
    max_rows: int,
) -> list[ScoreGroup]:
    """Train and test ``column`` per group of classes (subsampled to ``max_rows``) with their KS p-value."""
    out = []
    for label, idx in groups:
        tr = train[train[LABEL].isin(idx)]
        te = test[test[LABEL].isin(idx)]
        if len(tr) > max_rows:
            tr = tr.iloc[np.sort(rng.choice(len(tr), max_rows, replace=False))]
        if len(te) > max_rows:
            te = te.iloc[np.sort(rng.choice(len(te), max_rows, replace=False))]
        a, b = tr[column].to_numpy(np.float64), te[column].to_numpy(np.float64)
        wa, wb = tr[WEIGHT].to_numpy(np.float64), te[WEIGHT].to_numpy(np.float64)
        _, p = weighted_ks(a, wa, b, wb)
        out.append(ScoreGroup(label, a, wa, b, wb, p))
    return out


def score_panels(
    train: pd.DataFrame,
    test: pd.DataFrame,
    tcfg: TaskConfig,
    rng: np.random.Generator,
    max_rows: int,
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
        panels[score_column(c)] = _ks_groups(train, test, score_column(c), groups, rng, max_rows)
    ks = {p: {g.label: g.ks_pvalue for g in gs} for p, gs in panels.items()}
    return panels, ks


def _bin_efficiency(
    res: dict[str, np.ndarray], k: int, is_sig: bool, w: np.ndarray, passed: np.ndarray
) -> None:
    """Fill bin ``k`` of the signal efficiency or the background rejection (with intervals) into ``res``."""
    tot = w.sum()
    if tot <= 0:
        return
    eff = float(w[passed].sum() / tot)
    n_eff = effective_entries(w)
    if is_sig:
        lo, hi = efficiency_interval(eff, n_eff)
        res["eff_sig"][k], res["eff_sig_lo"][k], res["eff_sig_hi"][k] = eff, lo, hi
    elif eff > 0:
        rlo, rhi = rejection_interval(eff, n_eff)
        res["rejection"][k] = 1.0 / eff
        res["rejection_lo"][k] = np.nan if rlo is None else rlo
        res["rejection_hi"][k] = np.inf if rhi is None else rhi


def efficiency_vs_observer(
    test: pd.DataFrame,
    curves: dict[str, Curve],
    cut_of: dict[str, float],
    observer: str,
    edges: np.ndarray,
) -> dict[str, dict[str, np.ndarray]]:
    """Signal efficiency and background rejection (68 % intervals) per ``observer`` bin at the cut ``cut_of``."""
    obs = test[observer_column(observer)].to_numpy(np.float64)
    series: dict[str, dict[str, np.ndarray]] = {}
    nb = len(edges) - 1
    keys = ("eff_sig", "eff_sig_lo", "eff_sig_hi", "rejection", "rejection_lo", "rejection_hi")
    for name, c in curves.items():
        passed = c.discriminant >= cut_of[name]
        b = np.digitize(obs[c.rows], edges) - 1
        inside = (b >= 0) & (b < nb)
        res = {k: np.full(nb, np.nan) for k in keys}
        for k in range(nb):  # a loop over bins, each vectorised over rows
            for is_sig in (True, False):
                sel = inside & (b == k) & (c.is_signal == is_sig)
                _bin_efficiency(res, k, is_sig, c.weight[sel], passed[sel])
        series[name] = res
    return series


#: Test-frame columns that identify the events of a curve's rows (compared before pairing two models).
EVENT_KEYS = (LABEL, "run", "event")
_SEP = "::"


def _curve_arrays(c: Curve) -> dict[str, np.ndarray]:
    r = c.roc
    arrays = {
        "eff_sig": r.eff_sig,
        "eff_bkg": r.eff_bkg,
        "thresholds": r.thresholds,
        "scalars": np.array([r.auc, r.n_sig_eff, r.n_bkg_eff]),
        "discriminant": c.discriminant,
        "is_signal": c.is_signal,
        "weight": c.weight,
        "rows": c.rows,
    }
    if c.band is not None:
        arrays.update(
            band_eff_sig=c.band.eff_sig,
            band_eff_bkg_lo=c.band.eff_bkg_lo,
            band_eff_bkg_hi=c.band.eff_bkg_hi,
        )
    return {f"{c.name}{_SEP}{k}": np.asarray(v) for k, v in arrays.items()}


def event_keys(test: pd.DataFrame) -> dict[str, np.ndarray]:
    """The :data:`EVENT_KEYS` columns of the test frame (two models pair only when these are equal)."""
    return {k: test[k].to_numpy() for k in EVENT_KEYS if k in test.columns}


def write_curves(path: Path, curves: dict[str, Curve], events: dict[str, np.ndarray]) -> None:
    """Save ``curves`` (ROC, per-row discriminant and weights, band) and the test events' keys as ``.npz``."""
    arrays = {f"events{_SEP}{k}": v for k, v in events.items()}
    for c in curves.values():
        arrays.update(_curve_arrays(c))
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_curves(path: Path) -> tuple[dict[str, Curve], dict[str, np.ndarray]]:
    """``(curves, event keys)`` saved by :func:`write_curves`, in the order they were written."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    events = {k.split(_SEP, 1)[1]: v for k, v in data.items() if k.startswith(f"events{_SEP}")}
    names = list(
        dict.fromkeys(k.split(_SEP, 1)[0] for k in data if not k.startswith(f"events{_SEP}"))
    )
    curves = {}
    for name in names:
        a = {k.split(_SEP, 1)[1]: v for k, v in data.items() if k.split(_SEP, 1)[0] == name}
        auc, n_sig, n_bkg = (float(x) for x in a["scalars"])
        band = (
            RocBand(a["band_eff_sig"], a["band_eff_bkg_lo"], a["band_eff_bkg_hi"])
            if "band_eff_sig" in a
            else None
        )
        curves[name] = Curve(
            name,
            Roc(a["eff_sig"], a["eff_bkg"], a["thresholds"], auc, n_sig, n_bkg),
            a["discriminant"],
            a["is_signal"],
            a["weight"],
            a["rows"],
            band,
        )
    return curves, events
