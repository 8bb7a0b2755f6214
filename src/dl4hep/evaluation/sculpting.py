"""Mass sculpting: how a tagger cut reshapes the background distribution of an observer.

A jet tagger that has learned the jet mass turns the falling QCD mass spectrum into a peak
at the signal mass once a cut is applied, which fakes a resonance in a bump hunt. The
standard check (e.g. CMS-DP-2020-002, ATLAS-PHYS-PUB-2018-014) compares the background
observer distribution after cuts of fixed background efficiency with the one before. The
figure of merit is the Jensen–Shannon divergence between the two normalised histograms
(0: identical shapes; ln 2 at most, natural log), usually quoted as 1/JSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import jensenshannon

#: Background efficiencies of the cuts shown: loose, medium, tight.
EFF_BKG = (0.5, 0.1, 0.02)


@dataclass(frozen=True)
class Sculpting:
    """Background observer histograms before and after cuts (weighted, normalised to unit area)."""

    edges: np.ndarray
    inclusive: np.ndarray
    passed: dict[float, np.ndarray]  # ε_B -> normalised histogram
    cuts: dict[float, float]
    jsd: dict[float, float]


def cut_at_background_efficiency(disc: np.ndarray, weight: np.ndarray, eff_bkg: float) -> float:
    """Lowest cut ``d >= cut`` whose weighted background efficiency reaches ``eff_bkg``."""
    order = np.argsort(-disc, kind="stable")
    frac = np.maximum.accumulate(np.cumsum(weight[order]) / weight.sum())  # negative weights: keep it sorted
    i = min(int(np.searchsorted(frac, eff_bkg, side="left")), len(order) - 1)
    return float(disc[order][i])


def _normalised(x: np.ndarray, w: np.ndarray, edges: np.ndarray) -> np.ndarray:
    h, _ = np.histogram(np.clip(x, edges[0], np.nextafter(edges[-1], edges[0])), bins=edges, weights=w)
    total = h.sum()
    return h / total if total > 0 else h


def sculpting(disc: np.ndarray, observer: np.ndarray, weight: np.ndarray, edges: np.ndarray,
              eff_bkg: tuple[float, ...] = EFF_BKG) -> Sculpting | None:
    """Histograms and JSD of the background ``observer`` after each cut (all arrays: background rows).

    None when there is no background weight. Values outside ``edges`` go to the edge bins.
    """
    ok = np.isfinite(observer) & np.isfinite(disc)
    disc, observer, weight = disc[ok], observer[ok], weight[ok]
    if not len(disc) or weight.sum() <= 0:
        return None
    edges = np.asarray(edges, dtype=np.float64)
    inclusive = _normalised(observer, weight, edges)
    passed, cuts, jsd = {}, {}, {}
    for e in eff_bkg:
        cut = cut_at_background_efficiency(disc, weight, e)
        sel = disc >= cut
        passed[e] = _normalised(observer[sel], weight[sel], edges)
        cuts[e] = cut
        jsd[e] = float(jensenshannon(inclusive, passed[e]) ** 2) if passed[e].sum() > 0 else float("nan")
    return Sculpting(edges, inclusive, passed, cuts, jsd)
