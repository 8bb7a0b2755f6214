"""Response and resolution of a regression: median, σ_eff and the central 68 % interval.

The figures calorimeter energy regressions quote (CMS, "Electron and photon reconstruction and
identification with the CMS experiment at the CERN LHC", JINST 16 (2021) P05014; CMS ECAL
"Energy calibration and resolution of the CMS electromagnetic calorimeter", JINST 8 (2013)
P09009): for the response r = E_corrected / E_true of each object,

* the median of r (the scale; 1 after a perfect correction),
* σ_eff: half the width of the smallest interval that contains 68.3 % of the objects (robust
  against the low-side tail that leakage and brem give an ECAL response),
* the central 68 % interval [q(15.87 %), q(84.13 %)] (equal-tailed, so asymmetric tails show),

all with event weights, inclusive and in bins of observers such as energy and η.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "COVERAGE",
    "ResponseSummary",
    "binned_summary",
    "sigma_eff",
    "summarise",
    "weighted_quantile",
]

#: Fraction of a Gaussian within ±1σ.
COVERAGE = 0.6827


def weighted_quantile(
    x: np.ndarray, q: np.ndarray | float, w: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles of ``x`` with non-negative weights: the smallest x whose cumulative weight fraction reaches q."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    idx = np.searchsorted(cw, np.asarray(q) * cw[-1], side="left")
    return x[order][np.clip(idx, 0, len(x) - 1)]


def sigma_eff(x: np.ndarray, w: np.ndarray | None = None, coverage: float = COVERAGE) -> float:
    """Half the width of the smallest interval [x_i, x_j] holding at least ``coverage`` of the weight.

    Every sorted value is tried as the lower edge; the upper edge is the first value at which
    the cumulative weight from it reaches the coverage (``np.searchsorted``, no loop).
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return float("nan")
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    need = coverage * cw[-1]
    before = np.concatenate([[0.0], cw[:-1]])  # weight below each lower edge
    j = np.searchsorted(cw, before + need * (1 - 1e-12), side="left")
    ok = j < len(xs)
    if not ok.any():
        return float("nan")
    return float(0.5 * np.min(xs[j[ok]] - xs[ok]))


@dataclass
class ResponseSummary:
    """Median, σ_eff, the central 68 % interval and the weight and rows they come from."""

    median: float
    sigma_eff: float
    q16: float
    q84: float
    n: int

    @property
    def resolution(self) -> float:
        """σ_eff / median: the relative resolution after removing the scale."""
        return self.sigma_eff / self.median if self.median else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "median": self.median,
            "sigma_eff": self.sigma_eff,
            "q16": self.q16,
            "q84": self.q84,
            "resolution": self.resolution,
            "n": self.n,
        }


def summarise(r: np.ndarray, w: np.ndarray | None = None) -> ResponseSummary:
    """Response summary of ``r`` (NaN figures when empty); negative weights count as zero."""
    r = np.asarray(r, dtype=np.float64)
    w = np.ones_like(r) if w is None else np.clip(np.asarray(w, dtype=np.float64), 0, None)
    ok = np.isfinite(r) & (w > 0)
    r, w = r[ok], w[ok]
    if len(r) == 0:
        return ResponseSummary(np.nan, np.nan, np.nan, np.nan, 0)
    lo, med, hi = weighted_quantile(r, np.array([(1 - COVERAGE) / 2, 0.5, (1 + COVERAGE) / 2]), w)
    return ResponseSummary(float(med), sigma_eff(r, w), float(lo), float(hi), len(r))


def binned_summary(
    r: np.ndarray, w: np.ndarray, x: np.ndarray, edges: np.ndarray
) -> list[ResponseSummary]:
    """:func:`summarise` of ``r`` in each bin ``[edges[k], edges[k+1])`` of ``x``."""
    b = np.digitize(x, edges) - 1
    return [summarise(r[b == k], w[b == k]) for k in range(len(edges) - 1)]
