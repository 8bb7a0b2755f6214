"""Discovery significance of a score cut.

Formulas (``s``, ``b``: expected signal and background yields after the cut):

- ``s / sqrt(b)`` and ``s / sqrt(s + b)``: the large-``b`` approximations.
- Asimov (Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554, eq. 97):
  ``Z_A = sqrt(2 ((s + b) ln(1 + s/b) − s))``; tends to ``s/sqrt(b)`` for ``s ≪ b``.
- With an absolute background uncertainty ``σ_b`` (Cowan, "Discovery sensitivity
  for a counting experiment with background uncertainty", 2012):
  ``Z = sqrt(2 ((s+b) ln((s+b)(b+σ²)/(b²+(s+b)σ²)) − (b²/σ²) ln(1 + σ² s/(b(b+σ²)))))``;
  tends to ``Z_A`` as ``σ_b → 0``. Here ``σ_b = δ · b`` with the configured
  relative uncertainty ``δ`` (``evaluation.background_uncertainty``).

Yields are sums of physics weights (σ·L/N per row) of the test split divided by
the test fraction, so they correspond to the config's full luminosity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_BACKGROUND_ENTRIES",
    "SignificanceScan",
    "asimov_z",
    "asimov_z_uncertainty",
    "s_over_sqrt_b",
    "s_over_sqrt_s_plus_b",
    "scan_cuts",
]

#: A cut is eligible for the "best significance" only if at least this many
#: (unweighted) background MC rows pass it; with fewer, b is a statistical
#: fluctuation and Z_A diverges as b → 0.
MIN_BACKGROUND_ENTRIES = 10


def _arr(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def s_over_sqrt_b(s: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``s / sqrt(b)`` (NaN where ``b <= 0``)."""
    s, b = _arr(s), _arr(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, s / np.sqrt(np.where(b > 0, b, 1.0)), np.nan)


def s_over_sqrt_s_plus_b(s: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``s / sqrt(s + b)`` (NaN where ``s + b <= 0``)."""
    s, b = _arr(s), _arr(b)
    n = s + b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, s / np.sqrt(np.where(n > 0, n, 1.0)), np.nan)


def asimov_z(s: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Asimov discovery significance ``sqrt(2((s+b) ln(1+s/b) − s))`` (NaN where ``b <= 0``).

    Uses ``log1p`` so the ``s ≪ b`` limit (``→ s/sqrt(b)``) is numerically exact.
    Negative ``s`` (possible with negative weights) gives 0.
    """
    s, b = _arr(s), _arr(b)
    ok = b > 0
    bb = np.where(ok, b, 1.0)
    ss = np.clip(s, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 2.0 * ((ss + bb) * np.log1p(ss / bb) - ss)
    return np.where(ok, np.sqrt(np.clip(q, 0.0, None)), np.nan)


def asimov_z_uncertainty(s: np.ndarray | float, b: np.ndarray | float, sigma_b: np.ndarray | float) -> np.ndarray:
    """Discovery significance with absolute background uncertainty ``sigma_b`` (Cowan 2012).

    ``Z = sqrt(2((s+b) ln((s+b)(b+σ²)/(b²+(s+b)σ²)) − b²/σ² ln(1 + σ²s/(b(b+σ²)))))``.
    Falls back to :func:`asimov_z` where ``sigma_b == 0``. NaN where ``b <= 0``.
    """
    s, b, sig = np.broadcast_arrays(_arr(s), _arr(b), _arr(sigma_b))
    ok = b > 0
    bb = np.where(ok, b, 1.0)
    ss = np.clip(s, 0.0, None)
    s2 = np.where(sig > 0, sig * sig, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # ln((s+b)(b+σ²)/(b²+(s+b)σ²)) = ln(1 + s·b / (b² + (s+b)σ²)), written with log1p.
        t1 = (ss + bb) * np.log1p(ss * bb / (bb * bb + (ss + bb) * s2))
        t2 = (bb * bb / s2) * np.log1p(s2 * ss / (bb * (bb + s2)))
        q = 2.0 * (t1 - t2)
    z = np.sqrt(np.clip(q, 0.0, None))
    z = np.where(sig > 0, z, asimov_z(ss, bb))
    return np.where(ok, z, np.nan)


@dataclass(frozen=True)
class SignificanceScan:
    """Significance as a function of a lower cut on the discriminant.

    Attributes:
        cuts: cut values (``d >= cut`` passes), shape ``(K,)``.
        s, b: expected signal and background yields passing, shape ``(K,)``.
        n_bkg: unweighted background rows passing, shape ``(K,)``.
        z_s_sqrt_b, z_s_sqrt_sb, z_asimov: the three formulas, shape ``(K,)``.
        z_uncertainty: Cowan 2012 with ``σ_b = δ·b``, or None if ``δ == 0``.
        best: index of the best cut by the primary Z (``z_uncertainty`` if
            present, else ``z_asimov``) among cuts with at least
            :data:`MIN_BACKGROUND_ENTRIES` background rows; None if none qualifies.
    """

    cuts: np.ndarray
    s: np.ndarray
    b: np.ndarray
    n_bkg: np.ndarray
    z_s_sqrt_b: np.ndarray
    z_s_sqrt_sb: np.ndarray
    z_asimov: np.ndarray
    z_uncertainty: np.ndarray | None
    best: int | None

    @property
    def z_primary(self) -> np.ndarray:
        return self.z_uncertainty if self.z_uncertainty is not None else self.z_asimov

    def summary(self) -> dict[str, float | None]:
        """Best cut and the yields and significances there (JSON-ready)."""
        if self.best is None:
            return {"cut": None, "s": None, "b": None, "z": None, "z_asimov": None,
                    "s_over_sqrt_b": None, "s_over_sqrt_s_plus_b": None}
        i = self.best
        return {
            "cut": float(self.cuts[i]),
            "s": float(self.s[i]),
            "b": float(self.b[i]),
            "z": float(self.z_primary[i]),
            "z_asimov": float(self.z_asimov[i]),
            "s_over_sqrt_b": float(self.z_s_sqrt_b[i]),
            "s_over_sqrt_s_plus_b": float(self.z_s_sqrt_sb[i]),
        }


def scan_cuts(
    discriminant: np.ndarray,
    is_signal: np.ndarray,
    yields: np.ndarray,
    *,
    rel_bkg_uncertainty: float = 0.0,
    n_cuts: int = 200,
) -> SignificanceScan:
    """Scan lower cuts on ``discriminant`` and compute every significance.

    Args:
        discriminant: shape ``(N,)``, larger is more signal-like.
        is_signal: bool, shape ``(N,)``; rows that are neither signal nor the
            background of interest must already be removed.
        yields: expected events per row at the full luminosity, shape ``(N,)``.
        rel_bkg_uncertainty: relative background uncertainty δ (``σ_b = δ·b``).
        n_cuts: number of cut values: half uniform in the discriminant range,
            half at quantiles of the signal distribution (dense where signal is).
    """
    d = np.asarray(discriminant, dtype=np.float64)
    y = np.asarray(is_signal, dtype=bool)
    w = np.asarray(yields, dtype=np.float64)
    lo, hi = (float(d.min()), float(d.max())) if d.size else (0.0, 1.0)
    grid = np.linspace(lo, hi, n_cuts // 2, endpoint=False)
    if y.any():
        grid = np.concatenate([grid, np.quantile(d[y], np.linspace(0.0, 1.0, n_cuts // 2, endpoint=False))])
    cuts = np.unique(grid)

    def passing(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
        order = np.argsort(d[mask])
        ds = d[mask][order]
        csum = np.concatenate([[0.0], np.cumsum(weights[order])])
        idx = np.searchsorted(ds, cuts, side="left")  # rows at idx.. have d >= cut
        return csum[-1] - csum[idx]

    s = passing(y, w[y])
    b = passing(~y, w[~y])
    n_bkg = passing(~y, np.ones(int((~y).sum())))
    z_a = asimov_z(s, b)
    z_u = asimov_z_uncertainty(s, b, rel_bkg_uncertainty * b) if rel_bkg_uncertainty > 0 else None
    primary = z_u if z_u is not None else z_a
    eligible = (n_bkg >= MIN_BACKGROUND_ENTRIES) & np.isfinite(primary)
    best = int(np.flatnonzero(eligible)[np.argmax(primary[eligible])]) if eligible.any() else None
    return SignificanceScan(
        cuts=cuts, s=s, b=b, n_bkg=n_bkg,
        z_s_sqrt_b=s_over_sqrt_b(s, b), z_s_sqrt_sb=s_over_sqrt_s_plus_b(s, b),
        z_asimov=z_a, z_uncertainty=z_u, best=best,
    )
