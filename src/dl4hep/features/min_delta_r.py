r"""Per-constituent distance to the nearest τ_N axis, compiled with numba (one pass for N = 1..n_max).

For constituent i of a jet and the N axes k of that jet (rows N(N−1)/2 … N(N+1)/2 − 1 of the
stacked axes of :mod:`dl4hep.features.exclusive_kt`):

.. math:: w_{i,N} = p_{T,i} \min_k \Delta R_{i,k}, \quad
          \Delta R_{i,k}^2 = (y_i - y_k)^2 + \Delta\phi_{i,k}^2,

the numerator terms of N-subjettiness (Thaler & Van Tilburg, arXiv:1011.2268). Δφ of two
angles less than 2π apart is brought back by ∓2π only where |Δφ| > π, and the minimum
propagates NaN as ``np.minimum`` does: the same IEEE operations in the same order as the numpy
expression it replaced (six passes with ``np.repeat`` of the axes to the constituents).
:func:`min_dr2` is the per-particle core that the τ kernel of :mod:`dl4hep.features.tau_n` calls.

Import this module only where it is used: importing numba takes ~0.5 s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["min_dr2"]

TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always")
def min_dr2(y, phi, axis_y, axis_phi, first, last):
    """min over axes ``first … last − 1`` of ΔR² to (y, phi); NaN wins, as in ``np.minimum``."""
    best = np.inf
    for k in range(first, last):
        dy = y - axis_y[k]
        dphi = phi - axis_phi[k]
        if abs(dphi) > math.pi:
            dphi -= math.copysign(TWO_PI, dphi)
        d = dy * dy + dphi * dphi
        if d != d or d < best:
            best = d
    return best
