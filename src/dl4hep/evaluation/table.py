"""The model comparison table of a classification task: one row per model, as CSV and markdown.

Reads only the per-model metrics dictionaries (``metrics/<model>.json`` content); no recomputation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.evaluation.kfold import kfold_columns
from dl4hep.evaluation.paired import PAIRED_COVERAGE, PairedDelta

__all__ = ["comparison", "jsonable", "markdown"]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values and non-finite floats as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


def _primary_columns(m: dict[str, Any], effs: list[str]) -> dict[str, Any]:
    """Flat-phase-space AUC, rejections (with intervals) and the AUC interval of the primary curve."""
    row: dict[str, Any] = {}
    flat = m.get("flat_phase_space") or {}
    if flat:
        row["auc_flat"] = flat["auc"].get(m["primary"] or "")
        row["gain_flat"] = flat["gain"].get(m["primary"] or "")
    prim = m["signal_vs_background"].get(m["primary"] or "", {})
    for e in effs:
        r = prim.get("rejection", {}).get(e, {})
        # the bootstrap interval where evaluation.bootstrap > 0, else Clopper–Pearson on ε_B
        lo, hi = r.get("rejection_bootstrap_interval") or r.get("rejection_interval") or (None, None)
        row[f"rejection_{e}"] = r.get("rejection")
        row[f"rejection_{e}_lo"], row[f"rejection_{e}_hi"] = lo, hi
    row["auc_lo"], row["auc_hi"] = prim.get("auc_interval") or (None, None)
    return row


def _signal_columns(m: dict[str, Any], tcfg: TaskConfig) -> dict[str, Any]:
    """Per signal class: AUC (multi-class), best Z and cut, and the Z range over the weight systematics."""
    row: dict[str, Any] = {}
    for s in tcfg.signal_classes:
        entry = m["signal_vs_background"].get(s, {})
        suffix = "" if len(tcfg.signal_classes) == 1 else f"_{s}"
        if suffix:
            row[f"auc{suffix}"] = entry.get("auc")
            row[f"auc{suffix}_lo"], row[f"auc{suffix}_hi"] = entry.get("auc_interval") or (
                None,
                None,
            )
        row[f"best_z{suffix}"] = entry.get("significance", {}).get("z")
        row[f"best_cut{suffix}"] = entry.get("significance", {}).get("cut")
        envelopes = ((m.get("systematics") or {}).get(s) or {}).get("envelopes") or {}
        if envelopes:  # range of Z over every weight-variation envelope (docs/evaluation.md)
            row[f"z_syst_lo{suffix}"] = min(e["lo"]["z"] for e in envelopes.values())
            row[f"z_syst_hi{suffix}"] = max(e["hi"]["z"] for e in envelopes.values())
    return row


def _delta_columns(deltas: dict[str, PairedDelta] | None, effs: list[str]) -> dict[str, Any]:
    """``delta_<metric>{,_lo,_hi,_significant}`` to the best model (None where the model was not paired)."""
    row: dict[str, Any] = {}
    for key in ["auc"] + [f"rejection_{e}" for e in effs]:
        d = (deltas or {}).get(key)
        row[f"delta_{key}"] = None if d is None or not np.isfinite(d.delta) else d.delta
        row[f"delta_{key}_lo"], row[f"delta_{key}_hi"] = (None, None) if d is None else (d.lo, d.hi)
        row[f"delta_{key}_significant"] = None if d is None else d.significant
    return row


def comparison(
    all_metrics: dict[str, dict[str, Any]],
    tcfg: TaskConfig,
    *,
    best: str | None = None,
    deltas: dict[str, dict[str, PairedDelta]] | None = None,
) -> pd.DataFrame:
    """One row per model: AUC, accuracy, k-fold spread, rejections, best Z (the ``comparison.csv`` columns).

    With ``best``, also the paired differences ``deltas`` to that model (:mod:`dl4hep.evaluation.paired`).
    """
    effs = [f"{e:g}" for e in tcfg.evaluation.signal_efficiencies]
    rows = []
    for name, m in all_metrics.items():
        row: dict[str, Any] = {
            "model": name,
            "auc": m["auc"],
            "accuracy": m["accuracy"],
            **kfold_columns(m),
        }
        row.update(_primary_columns(m, effs))
        row.update(_signal_columns(m, tcfg))
        if best is not None:
            row.update(_delta_columns((deltas or {}).get(name), effs))
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
    """``64 +25 −15`` (68 % interval); ``> 120`` when no background passes."""
    if _missing(v):
        return "–" if _missing(lo) else f"> {lo:.3g}"
    up = "∞" if _missing(hi) else f"{hi - v:.2g}"
    down = "?" if _missing(lo) else f"{v - lo:.2g}"
    return f"{v:.3g} +{up} −{down}"


def _header(df: pd.DataFrame, tcfg: TaskConfig, effs: list[str]) -> list[str]:
    head = ["model", "AUC", "accuracy"] + [f"1/ε_B @ ε_S={float(e):.0%}" for e in effs]
    head += [
        ("Z " + c[len("best_z_") :]) if c != "best_z" else "best Z"
        for c in df.columns
        if c.startswith("best_z")
    ]
    syst = [c for c in df.columns if c.startswith("z_syst_lo")]
    head += [f"Z range, weight syst.{c[len('z_syst_lo') :].replace('_', ' ')}" for c in syst]
    if "auc_flat" in df.columns:
        head += [
            f"AUC flat ({', '.join(tcfg.dataset.reweight_observers)})",
            "gain over best observer",
        ]
    return head


def _intro(tcfg: TaskConfig, task: str, config: AnalysisConfig) -> list[str]:
    sig = "any signal" if len(tcfg.signal_classes) > 1 else tcfg.signal_classes[0]
    z = (
        "Z: Cowan (2012) with relative background uncertainty "
        f"{tcfg.evaluation.background_uncertainty:g}."
        if tcfg.evaluation.background_uncertainty > 0
        else "Z: Asimov, √(2((s+b)ln(1+s/b) − s))."
    )
    return [
        f"# Model comparison: task `{task}`",
        "",
        f"Signal {sig} vs background {tcfg.background_class}; test split, "
        f"{config.luminosity:g} fb⁻¹ at √s = {config.com_energy:g} TeV. "
        "AUC: 68 % bootstrap interval in brackets. Rejection: 68 % bootstrap interval from the same "
        "replicas (with `evaluation.bootstrap: 0`, Clopper–Pearson on ε_B with N_eff = (Σw)²/Σw² "
        "effective entries). " + z,
        "",
    ]


def _row_cells(r: pd.Series, effs: list[str], columns: list[str]) -> list[str]:
    zcols = [c for c in columns if c.startswith("best_z")]
    syst = [c for c in columns if c.startswith("z_syst_lo")]
    cells = [str(r["model"]), _auc_cell(r), _fmt(r["accuracy"])]
    cells += [
        _rejection_cell(r[f"rejection_{e}"], r[f"rejection_{e}_lo"], r[f"rejection_{e}_hi"])
        for e in effs
    ]
    cells += [_fmt(None if pd.isna(r[c]) else float(r[c]), 3) for c in zcols]
    cells += [
        "–" if pd.isna(r[c]) else f"{r[c]:.3g}–{r[c.replace('_lo', '_hi')]:.3g}" for c in syst
    ]
    if "auc_flat" in columns:
        cells += [_fmt(None if pd.isna(r[c]) else float(r[c])) for c in ("auc_flat", "gain_flat")]
    return cells


def _footnotes(df: pd.DataFrame, tcfg: TaskConfig) -> list[str]:
    lines: list[str] = []
    if any(c.startswith("z_syst_lo") for c in df.columns):
        lines += [
            "",
            "Z range, weight syst.: smallest and largest Z at the nominal best cut over the envelopes of the "
            "weight variations (metrics/<model>.json: systematics; docs/evaluation.md).",
        ]
    if "auc_flat" in df.columns:
        lines += [
            "",
            "AUC flat: test split reweighted flat in ("
            + ", ".join(tcfg.dataset.reweight_observers)
            + ") per class, where the spectrum cannot separate the classes; gain: that AUC minus the best "
            "single observer's (metrics/<model>.json: flat_phase_space).",
        ]
    return lines


def _delta_cell(r: pd.Series, key: str, digits: int) -> str:
    """``−0.012 [−0.020, −0.004] *``: the paired difference, its interval, * when significant."""
    v, lo, hi = r[f"delta_{key}"], r[f"delta_{key}_lo"], r[f"delta_{key}_hi"]
    if pd.isna(v):
        return "not paired" if pd.isna(r[f"delta_{key}_significant"]) else "–"
    if pd.isna(lo) or pd.isna(hi):
        return f"{v:+.{digits}g}"
    star = " *" if (lo > 0 or hi < 0) else ""
    return f"{v:+.{digits}g} [{lo:+.{digits}g}, {hi:+.{digits}g}]{star}"


def _differences(df: pd.DataFrame, tcfg: TaskConfig, best: str | None) -> list[str]:
    """The table of paired differences to the best model (empty without one)."""
    if best is None or "delta_auc" not in df.columns:
        return []
    effs = [f"{e:g}" for e in tcfg.evaluation.signal_efficiencies]
    head = ["model", "ΔAUC"] + [f"Δ(1/ε_B) @ ε_S={float(e):.0%}" for e in effs]
    lines = [
        "",
        f"## Differences to the best model (`{best}`)",
        "",
        f"Paired bootstrap over the same test events ({tcfg.evaluation.bootstrap} replicas; "
        f"{PAIRED_COVERAGE:.0%} interval in brackets); * = significant (the interval excludes 0).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(head)) + "|",
    ]
    for _, r in df[df["model"] != best].iterrows():
        cells = [str(r["model"]), _delta_cell(r, "auc", 3)] + [
            _delta_cell(r, f"rejection_{e}", 3) for e in effs
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(
    df: pd.DataFrame,
    tcfg: TaskConfig,
    task: str,
    config: AnalysisConfig,
    *,
    best: str | None = None,
) -> str:
    """``comparison.md``: the table of :func:`comparison` with intervals, and the notes its columns need."""
    effs = [f"{e:g}" for e in tcfg.evaluation.signal_efficiencies]
    head = _header(df, tcfg, effs)
    lines = _intro(tcfg, task, config) + [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(head)) + "|",
    ]
    columns = list(df.columns)
    lines += ["| " + " | ".join(_row_cells(r, effs, columns)) + " |" for _, r in df.iterrows()]
    return "\n".join(lines + _footnotes(df, tcfg) + _differences(df, tcfg, best)) + "\n"
