"""Yields, significance and ROC under the event-weight variations (``weights.variations``).

Every variation is a full per-row weight (``weight_<name>`` in the predictions, normalised like
the nominal weight), so a varied figure is the nominal formula with that weight:

* **yields** ``s``, ``b``: signed sums of the test split's weights passing the nominal best cut
  (``d >= cut``), divided by the test fraction, as in :mod:`.significance`; ``z`` uses the same
  formula as the nominal scan (Asimov, or Cowan 2012 with ``background_uncertainty``). The cut
  stays the nominal one: a systematic moves the yields of the analysis as chosen, it does not
  re-optimise it.
* **efficiencies** ``eff_sig``, ``eff_bkg`` at that cut, and the weighted AUC, with the varied weights.
* **envelope of a group**: the minimum and maximum of each figure over the group's members and
  the nominal value. For an up/down pair that is the pair itself; for array elements it is the
  members listed in ``envelope``. The 7-point scale envelope of the 9-element ``LHEScaleWeight``
  (NanoAOD order ``[muR, muF]`` = 0.5/0.5, 0.5/1, 0.5/2, 1/0.5, 1/1, 1/2, 2/0.5, 2/1, 2/2) drops
  indices 2 and 6, the anti-correlated (μR, μF) = (0.5, 2) and (2, 0.5), which are not physical
  variations of one scale.
* **total**: the quadrature sum over groups of each group's largest deviation from nominal
  (``max(hi - nom, nom - lo)``), for ``s`` and ``b``: groups are treated as independent.
* **ROC band**: at each signal efficiency, the smallest and largest ε_B of the nominal curve and
  of every envelope member's curve (:func:`roc_band`), drawn around each model's ROC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dl4hep.evaluation.metrics import Roc, eff_bkg_at, roc, weighted_auc
from dl4hep.evaluation.significance import asimov_z, asimov_z_uncertainty

__all__ = [
    "PREFIX",
    "RocBand",
    "envelope_members",
    "model_systematics",
    "roc_band",
    "systematics",
    "variation_weights",
]

#: Predictions column prefix of a weight variation.
PREFIX = "weight_"
_FIGURES = ("s", "b", "z", "eff_sig", "eff_bkg", "auc")


@dataclass(frozen=True)
class RocBand:
    """Smallest and largest ε_B over the weight variations at each signal efficiency of ``eff_sig``."""

    eff_sig: np.ndarray
    eff_bkg_lo: np.ndarray
    eff_bkg_hi: np.ndarray


def variation_weights(columns: Any, names: list[str]) -> dict[str, np.ndarray]:
    """``{variation: weights}`` of the predictions frame ``columns`` for every name it holds."""
    return {
        v: np.asarray(columns[PREFIX + v], dtype=np.float64) for v in names if PREFIX + v in columns
    }


def envelope_members(
    groups: Mapping[str, Mapping[str, Any]], available: Mapping[str, Any]
) -> dict[str, list[str]]:
    """``{group: members entering its envelope}``, keeping members present in ``available``."""
    return {
        g: [m for m in spec.get("envelope", spec.get("members", [])) if m in available]
        for g, spec in groups.items()
    }


def _figures(
    d: np.ndarray,
    is_signal: np.ndarray,
    w: np.ndarray,
    cut: float,
    test_fraction: float,
    rel_unc: float,
) -> dict[str, float]:
    passed = d >= cut
    s = float(np.sum(w[passed & is_signal])) / test_fraction
    b = float(np.sum(w[passed & ~is_signal])) / test_fraction
    z = asimov_z_uncertainty(s, b, rel_unc * b) if rel_unc > 0 else asimov_z(s, b)
    tot_s, tot_b = float(np.sum(w[is_signal])), float(np.sum(w[~is_signal]))
    return {
        "s": s,
        "b": b,
        "z": float(z),
        "eff_sig": s * test_fraction / tot_s if tot_s != 0 else float("nan"),
        "eff_bkg": b * test_fraction / tot_b if tot_b != 0 else float("nan"),
        "auc": weighted_auc(is_signal, d, w),
    }


def systematics(
    discriminant: np.ndarray,
    is_signal: np.ndarray,
    weight: np.ndarray,
    variations: Mapping[str, np.ndarray],
    groups: Mapping[str, Mapping[str, Any]],
    *,
    cut: float,
    test_fraction: float,
    rel_unc: float = 0.0,
) -> dict[str, Any]:
    """Nominal and varied figures at ``cut``, each group's envelope and the quadrature total (JSON-ready).

    Args:
        discriminant, is_signal, weight: the signal-vs-background rows of the test split.
        variations: ``{member: weights}`` on the same rows.
        groups: ``{group: {"members": [...], "envelope": [...]}}`` (the dataset's ``weight_groups``).
        cut: the nominal best cut; test_fraction: test share of all rows; rel_unc: as in the nominal scan.
    """
    d, y = np.asarray(discriminant, np.float64), np.asarray(is_signal, bool)
    nominal = _figures(d, y, np.asarray(weight, np.float64), cut, test_fraction, rel_unc)
    varied = {v: _figures(d, y, w, cut, test_fraction, rel_unc) for v, w in variations.items()}
    envelopes: dict[str, Any] = {}
    for g, members in envelope_members(groups, varied).items():
        if not members:
            continue
        envelopes[g] = {
            "members": members,
            **{
                side: {k: fn([nominal[k], *(varied[m][k] for m in members)]) for k in _FIGURES}
                for side, fn in (("lo", np.nanmin), ("hi", np.nanmax))
            },
        }
    total = {
        k: float(
            np.sqrt(
                sum(
                    max(e["hi"][k] - nominal[k], nominal[k] - e["lo"][k]) ** 2
                    for e in envelopes.values()
                )
            )
        )
        for k in ("s", "b")
    }
    return {
        "cut": float(cut),
        "nominal": nominal,
        "variations": varied,
        "envelopes": envelopes,
        "total": total,
    }


def roc_band(
    is_signal: np.ndarray,
    discriminant: np.ndarray,
    nominal: Roc,
    variations: Mapping[str, np.ndarray],
    members: list[str],
    grid: np.ndarray | None = None,
) -> RocBand | None:
    """The ε_B band over the envelope ``members`` (and the nominal curve) on a grid of signal efficiencies."""
    grid = np.linspace(0.01, 1.0, 400) if grid is None else np.asarray(grid, dtype=np.float64)
    curves = [eff_bkg_at(nominal, grid)]
    for m in members:
        if m in variations:
            curves.append(eff_bkg_at(roc(is_signal, discriminant, variations[m]), grid))
    if len(curves) == 1:
        return None
    stack = np.vstack(curves)
    return RocBand(grid, stack.min(axis=0), stack.max(axis=0))


def model_systematics(
    test: Any,
    curves: Mapping[str, Any],
    cuts: Mapping[str, tuple[float, str]],
    dataset_meta: Mapping[str, Any],
    *,
    test_fraction: float,
    rel_unc: float,
) -> tuple[dict[str, Any], dict[str, RocBand | None]]:
    """Systematics of every signal-vs-background curve of one model, and the ROC band of each.

    Args:
        test: the test predictions frame (``weight_<variation>`` columns).
        curves: ``{name: curve}`` with ``discriminant``, ``is_signal``, ``weight``, ``rows``, ``roc``.
        cuts: ``{name: (cut, what it is)}``: the nominal best-significance cut, else the working point's.
        dataset_meta: the dataset's ``meta.json`` (``weight_variations``, ``weight_groups``).

    Returns:
        ``({name: figures}, {name: band})``; both empty without variations.
    """
    names = list(dataset_meta.get("weight_variations") or [])
    groups = dataset_meta.get("weight_groups") or {}
    columns = variation_weights(test, names)
    if not columns:
        return {}, {}
    members = [m for ms in envelope_members(groups, columns).values() for m in ms]
    out: dict[str, Any] = {}
    bands: dict[str, RocBand | None] = {}
    for cname, c in curves.items():
        varied = {v: w[c.rows] for v, w in columns.items()}
        if cname in cuts:
            cut, what = cuts[cname]
            out[cname] = {
                **systematics(
                    c.discriminant,
                    c.is_signal,
                    c.weight,
                    varied,
                    groups,
                    cut=cut,
                    test_fraction=test_fraction,
                    rel_unc=rel_unc,
                ),
                "cut_from": what,
            }
        bands[cname] = roc_band(c.is_signal, c.discriminant, c.roc, varied, members)
    return out, bands
