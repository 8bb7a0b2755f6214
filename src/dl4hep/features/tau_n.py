r"""N-subjettiness τ_1..τ_n of many jets in one compiled pass over their flat constituents.

Thaler & Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268, with fjcontrib ``Nsubjettiness``'s
``NormalizedMeasure(β = 1, R0)`` and exclusive-kT axes:

.. math:: \tau_N = \frac{\sum_i p_{T,i} \min_k \Delta R_{i,k}}{\sum_i p_{T,i}\, R_0},
          \quad \Delta R_{i,k}^2 = (y_i - y_k)^2 + \Delta\phi_{i,k}^2,

y and φ of constituents and axes as FastJet's ``PseudoJet`` (``rap()``, ``phi()``). Per jet: the
constituents' four-momenta (p_x = p_T cos φ, p_y = p_T sin φ, p_z = p_T sinh η,
E = √(p² + m²)) and their y, φ ∈ [0, 2π), k_T² go straight into the workspace of
:func:`dl4hep.features.exclusive_kt.cluster`, with ``n`` ghosts (p_T = 1e-8 GeV, 1-n mrad off the
jet axis in η and φ) when the jet has fewer than ``n`` constituents, so that the exclusive
clustering is defined; the ghosts are not in the sums. Then the axes of N = 1..n, and the sums
over the constituents (:func:`dl4hep.features.min_delta_r.min_dr2`), while the jet is in cache.

This replaces a dozen numpy passes over the chunk's constituents (four-vectors, rapidities,
ghost insertion, the FastJet kinematics of the clustering input, the distances, segment sums).
The values differ from those only by rounding: glibc's ``cos``, ``sin`` and ``log`` instead of
numpy's vectorised ones, sinh η from ``expm1``, the stored φ instead of ``atan2`` of the p_x, p_y
made from it, and one rapidity formula (``log``) for constituents and axes. On the benchmark,
mini and PFNano files τ_N of jets with more than three constituents moved by at most 1e-12
relative; only ghost-level values of smaller jets changed (docs/benchmarks.md).

Import this module only where it is used: importing numba takes ~0.5 s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dl4hep.features import exclusive_kt, min_delta_r
from dl4hep.features.exclusive_kt import (
    CAP,
    KT2,
    PHI,
    PX,
    PY,
    PZ,
    RAP,
    E,
    cluster_any,
    cluster_fixed,
    rapidity,
    set_kinematics,
    workspace,
    wrap_phi,
)
from dl4hep.features.min_delta_r import min_dr2
from dl4hep.features.numba_cache import invalidate_if_changed

__all__ = ["GHOST_PT", "tau_n"]

# the cached kernels below contain exclusive_kt's and min_delta_r's compiled helpers
invalidate_if_changed(__file__, exclusive_kt.__file__, min_delta_r.__file__)

GHOST_PT = 1e-8  #: p_T of the ghosts of jets with fewer constituents than axes (GeV)


@njit(cache=True, inline="always")
def _put(w, s, k, pt, eta, phi, mass):
    """Pseudojet k of the workspace from (p_T, η, φ, m), with its y, k_T² and φ (the given one in
    [0, 2π): atan2(p_y, p_x) of the p_x, p_y made from it differs only by rounding, and costs a
    third of this function). sinh η = (u + u / (u + 1)) / 2 with u = e^η − 1 (``expm1``: accurate
    near η = 0, and cheaper than glibc's ``sinh``)."""
    u = math.expm1(eta)
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * (0.5 * (u + u / (u + 1.0)))
    t2 = px * px + py * py
    en = math.sqrt(t2 + pz * pz + mass * mass)
    w[PX * s + k], w[PY * s + k], w[PZ * s + k], w[E * s + k] = px, py, pz, en
    w[KT2 * s + k], w[RAP * s + k] = t2, rapidity(t2, pz, en)
    w[PHI * s + k] = wrap_phi(phi) if t2 != 0.0 else 0.0


@njit(cache=True)
def _load(w, s, pt, eta, phi, mass, first, c, n_ghost, jet_eta, jet_phi, cy, cphi):
    """The jet's c constituents from ``first`` on (their y, φ also into ``cy``, ``cphi``), then
    ``n_ghost`` ghosts; returns the number of pseudojets."""
    for k in range(c):
        i = first + k
        _put(
            w, s, k, np.float64(pt[i]), np.float64(eta[i]), np.float64(phi[i]), np.float64(mass[i])
        )
        cy[k], cphi[k] = w[RAP * s + k], w[PHI * s + k]
    for g in range(n_ghost):
        off = (g + 1) * 1e-3
        _put(w, s, c + g, GHOST_PT, jet_eta + off, jet_phi + off, 0.0)
    return c + n_ghost


@njit(cache=True)
def _axes_y_phi(axes, ay, aphi):
    """y and φ ∈ [0, 2π) of the stacked axes (rows of ``axes``: px, py, pz, E), via the clustering's
    own definitions on a one-column scratch."""
    scratch = np.empty(7)
    for r in range(len(axes)):
        for c in range(4):
            scratch[c] = axes[r, c]
        set_kinematics(scratch, 1, 0)
        ay[r], aphi[r] = scratch[RAP], scratch[PHI]


@njit(cache=True, error_model="numpy")
def _sums(pt, first, c, cy, cphi, ay, aphi, n_max, r0, out, j):
    """τ_N of jet j for N = 1..n_max into ``out[N − 1, j]`` (NaN for a jet without constituents)."""
    total = 0.0
    for k in range(c):
        total += np.float64(pt[first + k])
    for n in range(1, n_max + 1):
        num = 0.0
        for k in range(c):
            d2 = min_dr2(cy[k], cphi[k], ay, aphi, n * (n - 1) // 2, n * (n + 1) // 2)
            num += np.float64(pt[first + k]) * math.sqrt(d2)
        out[n - 1, j] = num / (total * r0)


@njit(cache=True)
def _scratch(s, n_max, n_jet):
    """Workspace (stride s), constituent y and φ, axes and their y and φ, and the output."""
    n_rows = n_max * (n_max + 1) // 2
    w, bits, nn, low = workspace(s)
    return (
        w,
        bits,
        nn,
        low,
        np.empty(s),
        np.empty(s),
        np.empty((n_rows, 4)),
        np.empty(n_rows),
        np.empty(n_rows),
        np.empty((n_max, n_jet)),
    )


@njit(cache=True, error_model="numpy")
def _tau_fixed(pt, eta, phi, mass, counts, jet_eta, jet_phi, n_max, r0):
    """:func:`tau_n` with :func:`dl4hep.features.exclusive_kt.cluster_fixed` (vectorised)."""
    w, bits, nn, low, cy, cphi, axes, ay, aphi, out = _scratch(CAP, n_max, len(counts))
    first = 0
    for j in range(len(counts)):
        c = counts[j]
        m = _load(
            w,
            CAP,
            pt,
            eta,
            phi,
            mass,
            first,
            c,
            n_max if c < n_max else 0,
            jet_eta[j],
            jet_phi[j],
            cy,
            cphi,
        )
        cluster_fixed(w, bits, nn, low, m, n_max, axes)
        _axes_y_phi(axes, ay, aphi)
        _sums(pt, first, c, cy, cphi, ay, aphi, n_max, r0, out, j)
        first += c
    return out


@njit(cache=True, error_model="numpy")
def _tau_any(pt, eta, phi, mass, counts, jet_eta, jet_phi, n_max, r0, s):
    """:func:`tau_n` with :func:`dl4hep.features.exclusive_kt.cluster_any` (row stride ``s``)."""
    w, bits, nn, low, cy, cphi, axes, ay, aphi, out = _scratch(s, n_max, len(counts))
    first = 0
    for j in range(len(counts)):
        c = counts[j]
        m = _load(
            w,
            s,
            pt,
            eta,
            phi,
            mass,
            first,
            c,
            n_max if c < n_max else 0,
            jet_eta[j],
            jet_phi[j],
            cy,
            cphi,
        )
        cluster_any(w, bits, nn, s, low, m, n_max, axes)
        _axes_y_phi(axes, ay, aphi)
        _sums(pt, first, c, cy, cphi, ay, aphi, n_max, r0, out, j)
        first += c
    return out


def tau_n(
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    mass: np.ndarray,
    counts: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    n_max: int,
    r0: float,
) -> np.ndarray:
    """``(n_max, jets)`` τ_N (N = 1..n_max) of jets with ``counts`` flat jet-major constituents
    (p_T, η, φ, m); ``jet_eta``, ``jet_phi`` place the ghosts. A jet without constituents gets NaN.

    Chunks whose jets all fit :data:`CAP` pseudojets (ghosts and padding included) take the
    compiled constant-stride kernel; a chunk with a larger jet the run-time-stride one. Each is
    compiled (or loaded from numba's cache) only when first needed.
    """
    args = (pt, eta, phi, mass, counts, jet_eta, jet_phi, n_max, r0)
    size = (int(counts.max()) + n_max + 7) // 8 * 8 if len(counts) else 0  # lanes() of the largest
    return _tau_fixed(*args) if size <= CAP else _tau_any(*args, size)
