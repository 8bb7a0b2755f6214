r"""Exclusive-kT clustering of one jet's constituents down to N subjets, compiled with numba.

The τ_N axes of :mod:`dl4hep.features.sets.jet_substructure`. kT algorithm (Catani, Dokshitzer,
Seymour, Webber, NPB 406 (1993) 187; Ellis & Soper, PRD 48 (1993) 3160) with FastJet's
``kt_algorithm`` distances and E-scheme recombination (Cacciari, Salam, Soyez, EPJC 72 (2012) 1896):

.. math:: d_{ij} = \min(k_{T,i}^2, k_{T,j}^2)\, \Delta R_{ij}^2 / R^2, \quad d_{iB} = k_{T,i}^2,
          \quad \Delta R_{ij}^2 = (y_i - y_j)^2 + \Delta\phi_{ij}^2,

R = 10 (as the module always used: a jet's constituents are far closer than R, so the pairs merge
before any beam distance wins). At each step the smallest distance is merged (a pair: four-momenta
added; the beam: the pseudojet leaves), and the exclusive jets for N are the pseudojets alive when
N remain, as FastJet's ``exclusive_jets(N)``. Rapidity and φ as FastJet's ``PseudoJet``
(φ ∈ [0, 2π), y = ±(10⁵ + |p_z|) for a particle along the beam). Each pseudojet keeps its nearest
neighbour, its ΔR², the neighbour's k_T² and d_iJ · R², so one step costs O(n) and a jet O(n²)
(FastJet's ``N2Plain`` strategy).

What makes a step cheap (docs/benchmarks.md): after a merge, *one* branch-free pass over the live
pseudojets computes their ΔR² to the new one, updates the neighbours, d_iJ and the flags of those
that must search again, and carries the running minima that name the next merge and the new
pseudojet's neighbour; a first-minimum search is one vector pass with two integer minima (the bit
patterns of the non-negative floats, and the patterns with their low bits replaced by the index,
whose minimum names the first smallest value unless a near-equal value shares its truncated
pattern, then a second pass decides). The pseudojets are the columns of one flat float64
workspace whose row stride is the compile-time constant :data:`CAP` in :func:`cluster_fixed`,
so LLVM can prove the rows apart and vectorise the passes (with a run-time stride they stay
scalar: :func:`cluster_any`, for chunks with a jet of more than ``CAP`` pseudojets), and the
passes run over whole 8-wide vectors, the columns past the last pseudojet padded with inert
values (ΔR² = d_iJ = ∞), so no scalar remainder loop runs. ≈ 7 µs per boosted jet of ~52
constituents (≈ 14 µs before, ≈ 39 µs for FastJet through its Python bindings;
docs/benchmarks.md). Exact ties between distances may be broken differently than FastJet; they
do not occur for continuous momenta. Tested against
FastJet on every jet of the mini and real files (``tests/unit/test_exclusive_kt.py``): the axes
agree bit for bit.

Import this module only where it is used: importing numba takes ~0.5 s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "CAP",
    "cluster",
    "cluster_any",
    "cluster_fixed",
    "exclusive_axes",
    "lanes",
    "n_axis_rows",
    "rapidity",
    "set_kinematics",
    "workspace",
    "wrap_phi",
]

R2 = 100.0  #: R² of the kT distance (R = 10)
MAX_RAP = 1e5  #: |y| of a particle along the beam (FastJet's MaxRap)
TWO_PI = 2.0 * math.pi
#: rows of the workspace ``w`` (row r of pseudojet k at ``w[r * s + k]``, s the row stride)
PX, PY, PZ, E, RAP, PHI, KT2, NND, NNKT2, DIJ, DIST, FLAG = range(12)
N_ROWS = 12
#: row stride of the compiled fast path: jets of up to CAP pseudojets (a large-R jet has ~50)
CAP = 256
BIG = np.iinfo(np.int64).max


@njit(cache=True)
def n_axis_rows(n_max: int) -> int:
    """Rows of the axes of N = 1..n_max stacked (N = 1 first): n_max (n_max + 1) / 2."""
    return n_max * (n_max + 1) // 2


@njit(cache=True)
def workspace(s):
    """Scratch of :func:`cluster` for jets of up to ``s`` pseudojets: ``w`` (float64, rows PX … FLAG
    of stride ``s``), its int64 view ``bits`` and ``nn`` (int64), and the index mask ``low``
    (2^k − 1 ≥ s − 1) of the packed minima."""
    w = np.empty(N_ROWS * s)
    low = 1
    while low < s:
        low = 2 * low + 1
    return w, w.view(np.int64), np.empty(s, np.int64), low


@njit(cache=True)
def _bits(x):
    """The int64 bit pattern of a float64; for non-negative floats it sorts as the float does."""
    return np.float64(x).view(np.int64)


@njit(cache=True, inline="always")
def _pad(w, nn, s, k):
    """Make slot k an inert padding column: ΔR² = ∞ to everything, d_iJ = ∞, no neighbour."""
    w[RAP * s + k], w[PHI * s + k], w[KT2 * s + k], w[DIJ * s + k], nn[k] = (
        np.inf,
        0.0,
        0.0,
        np.inf,
        -1,
    )


@njit(cache=True)
def lanes(m):
    """m rounded up to a multiple of 8 (a 512-bit vector of float64): the passes run over whole
    vectors, the padding columns up to it are inert, so no scalar remainder loop runs."""
    return (m + 7) & ~7


@njit(cache=True, inline="always")
def _pick(bits, base, lo, packed, low, m):
    """Index of the first of ``bits[base : base + m]`` equal to ``lo``, their minimum, given
    ``packed``, the minimum of the patterns with the index in their low bits: its index unless
    another value shares the truncated pattern (then one scan decides)."""
    j = packed & low
    if bits[base + j] == lo:
        return j
    for j in range(m):
        if bits[base + j] == lo:
            return j
    return 0


@njit(cache=True, inline="always")
def _first_min(bits, base, low, m):
    """Index of the first smallest of the non-negative floats ``bits[base : base + m]`` (as int64)."""
    lo, packed = BIG, BIG
    for j in range(lanes(m)):
        v = bits[base + j]
        lo, packed = min(lo, v), min(packed, (v & ~low) | j)
    return _pick(bits, base, lo, packed, low, m)


@njit(cache=True)
def wrap_phi(p):
    """φ from (−2π, 4π) into [0, 2π), as FastJet's PseudoJet."""
    p = p + TWO_PI if p < 0.0 else p
    return p - TWO_PI if p >= TWO_PI else p


@njit(cache=True)
def rapidity(t2, z, en):
    """y = ½ ln((E + p_z)/(E − p_z)) from k_T², p_z, E as FastJet's ``PseudoJet``: via
    ln(m_T² / (E + |p_z|)²) (no cancellation), ±(10⁵ + |p_z|) along the beam."""
    az = abs(z)
    if t2 == 0.0 and en == az:  # along the beam
        r = MAX_RAP + az
        return -r if z < 0.0 else r
    m2 = max(0.0, (en + z) * (en - z) - t2)
    ep = en + az
    r = 0.5 * math.log((t2 + m2) / (ep * ep))
    return -r if z > 0.0 else r


@njit(cache=True, inline="always")
def set_kinematics(w, s, k):
    """kT², φ ∈ [0, 2π) and rapidity of pseudojet k (the definitions of FastJet's PseudoJet)."""
    x, y, z, en = w[PX * s + k], w[PY * s + k], w[PZ * s + k], w[E * s + k]
    t2 = x * x + y * y
    p = wrap_phi(math.atan2(y, x)) if t2 != 0.0 else 0.0
    w[KT2 * s + k], w[PHI * s + k], w[RAP * s + k] = t2, p, rapidity(t2, z, en)


@njit(cache=True, inline="always")
def _set_nn(w, nn, s, i, j):
    """Neighbour j of i at ΔR² ``w[DIST, j]`` (the beam, i itself at ΔR² = R², when not closer than
    R or j = i), its k_T² and d_iJ · R²."""
    d = w[DIST * s + j]
    if d >= R2 or j == i:
        j, d = i, R2
    kj = w[KT2 * s + j]
    nn[i], w[NND * s + i], w[NNKT2 * s + i] = j, d, kj
    w[DIJ * s + i] = d * min(w[KT2 * s + i], kj)


@njit(cache=True, inline="always")
def _dr2(w, s, rk, fk, j):
    """ΔR² of pseudojet j to (y, φ) = (rk, fk), Δφ folded into [0, π] (φ of both in [0, 2π))."""
    dphi = abs(fk - w[PHI * s + j])
    dphi = min(dphi, TWO_PI - dphi)
    dy = rk - w[RAP * s + j]
    return dy * dy + dphi * dphi


@njit(cache=True, inline="always")
def _nearest(w, bits, nn, s, low, i, m):
    """Nearest neighbour of i among the first m pseudojets: ΔR² and the running minima in one pass."""
    rk, fk = w[RAP * s + i], w[PHI * s + i]
    lo, packed = BIG, BIG
    for j in range(lanes(m)):
        d = _dr2(w, s, rk, fk, j)
        w[DIST * s + j] = d
        v = BIG if j == i else _bits(d)
        lo, packed = min(lo, v), min(packed, (v & ~low) | j)
    w[DIST * s + i] = np.inf
    _set_nn(w, nn, s, i, _pick(bits, DIST * s, lo, packed, low, m))


@njit(cache=True, inline="always")
def _all_nearest(w, bits, nn, s, low, m):
    """Nearest neighbours (and d_iJ) of the first m pseudojets, each pair once (row i: pairs j < i)."""
    for i in range(m):
        nn[i], w[NND * s + i] = i, R2
    for i in range(1, m):
        rk, fk = w[RAP * s + i], w[PHI * s + i]
        lo, packed = BIG, BIG
        for j in range(lanes(i)):  # i as the neighbour of j < i: selects, no branch
            d = _dr2(w, s, rk, fk, j) if j < i else np.inf
            w[DIST * s + j] = d
            nj, dj = nn[j], w[NND * s + j]
            closer = d < dj
            nn[j] = i if closer else nj
            w[NND * s + j] = d if closer else dj
            v = _bits(d)
            lo, packed = min(lo, v), min(packed, (v & ~low) | j)
        j = _pick(bits, DIST * s, lo, packed, low, i)
        if w[DIST * s + j] < R2:
            nn[i], w[NND * s + i] = j, w[DIST * s + j]
    for i in range(m):
        k = w[KT2 * s + nn[i]]
        w[NNKT2 * s + i] = k
        w[DIJ * s + i] = w[NND * s + i] * min(w[KT2 * s + i], k)


@njit(cache=True, inline="always")
def _update(w, bits, nn, s, low, m, a, a0, b):
    """Neighbours after the merge of a0 and b (the new pseudojet in slot a, the former last one,
    m, moved into slot b); returns the pseudojet of the next smallest d_iJ.

    One branch-free pass takes the new a as neighbour where it is the closest so far; a pseudojet
    whose neighbour was a0 or b and is now farther from a than from its old neighbour is flagged
    to search again (every other pseudojet is at least that far, so otherwise a is its nearest).
    The same pass carries the minima of ΔR² to a (a's neighbour) and of the unflagged d_iJ.
    """
    rk, fk, ka = w[RAP * s + a], w[PHI * s + a], w[KT2 * s + a]
    n_stale, lo, packed, dlo, dpacked = 0, BIG, BIG, BIG, BIG
    for i in range(lanes(m)):
        d = _dr2(w, s, rk, fk, i)
        w[DIST * s + i] = d
        old, cur = nn[i], w[NND * s + i]
        was = (old == a0) | (old == b)
        take = (d < cur) | (was & (d <= cur))
        nn[i] = a if take else (b if old == m else old)
        w[NND * s + i] = d if take else cur
        w[NNKT2 * s + i] = ka if take else w[NNKT2 * s + i]
        dij = d * min(w[KT2 * s + i], ka) if take else w[DIJ * s + i]
        w[DIJ * s + i] = dij
        stale = was & (not take) & (i != a)
        w[FLAG * s + i] = 1.0 if stale else 0.0
        n_stale += stale
        v = BIG if i == a else _bits(d)
        lo, packed = min(lo, v), min(packed, (v & ~low) | i)
        v = BIG if stale or i == a else _bits(dij)
        dlo, dpacked = min(dlo, v), min(dpacked, (v & ~low) | i)
    w[DIST * s + a] = np.inf
    _set_nn(w, nn, s, a, _pick(bits, DIST * s, lo, packed, low, m))
    v = bits[DIJ * s + a]
    dlo, dpacked = min(dlo, v), min(dpacked, (v & ~low) | a)
    i = 0
    while n_stale > 0:  # the flagged ones, then stop; their d_iJ join the minima
        if w[FLAG * s + i] != 0.0:
            _nearest(w, bits, nn, s, low, i, m)
            v = bits[DIJ * s + i]
            dlo, dpacked = min(dlo, v), min(dpacked, (v & ~low) | i)
            n_stale -= 1
        i += 1
    return _pick(bits, DIJ * s, dlo, dpacked, low, m)


@njit(cache=True, inline="always")
def _move(w, nn, s, src, dst):
    """Copy pseudojet ``src`` into slot ``dst`` (pointers to src are redirected by the caller)."""
    for r in range(DIJ + 1):
        w[r * s + dst] = w[r * s + src]
    nn[dst] = nn[src]


@njit(cache=True, inline="always")
def _beam(w, bits, nn, s, low, m, a):
    """a joins the beam: the former last pseudojet, m, moves into slot a (slot m becomes padding), and
    a's former neighbours search again; returns the pseudojet of the next smallest d_iJ."""
    if a != m:
        _move(w, nn, s, m, a)
    _pad(w, nn, s, m)
    for i in range(m):
        k = nn[i]
        w[FLAG * s + i] = 1.0 if k == a else 0.0
        nn[i] = a if k == m else k
    for i in range(m):
        if w[FLAG * s + i] != 0.0:
            _nearest(w, bits, nn, s, low, i, m)
    return _first_min(bits, DIJ * s, low, m)


@njit(cache=True, inline="always")
def _write_axes(w, s, m, axes):
    row = m * (m - 1) // 2
    for k in range(m):
        for c in range(4):  # PX, PY, PZ, E are rows 0-3
            axes[row + k, c] = w[c * s + k]


@njit(cache=True, inline="always")
def cluster(w, bits, nn, s, low, m, n_max, axes):
    """Cluster the m pseudojets in the first m columns of the workspace (rows PX, PY, PZ, E and
    their RAP, PHI, KT2 from :func:`kinematics`; everything overwritten, and the columns up to the
    next multiple of 8, which the stride ``s`` must hold, become padding) and write the exclusive
    jets of N = 1..min(n_max, m) into ``axes`` (rows N(N−1)/2 … N(N+1)/2 − 1, columns px, py, pz,
    E); rows of N > m are left as they are.

    ``nn[i]``/``w[NND, i]``: nearest neighbour of i and its ΔR²; ``nn[i] = i`` with ΔR² = R² when
    none is closer than R, so d_iJ = ΔR²_iJ · min(k²_T,i, k²_T,J) is R² d_iB then.
    """
    for k in range(m, lanes(m)):
        _pad(w, nn, s, k)
    _all_nearest(w, bits, nn, s, low, m)
    a = _first_min(bits, DIJ * s, low, m)
    while True:
        if m <= n_max:
            _write_axes(w, s, m, axes)
        if m <= 1:
            return
        b = nn[a]
        m -= 1
        if b == a:  # a joins the beam
            a = _beam(w, bits, nn, s, low, m, a)
            continue
        for r in (PX, PY, PZ, E):  # E scheme: b is added to a
            w[r * s + a] += w[r * s + b]
        set_kinematics(w, s, a)
        a0 = a
        if b != m:  # fill the freed slot with the last pseudojet
            _move(w, nn, s, m, b)
            a = b if a == m else a
        _pad(w, nn, s, m)
        a = _update(w, bits, nn, s, low, m, a, a0, b)


def kinematics(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``kt2, phi, rap`` of many pseudojets at once (numpy), as :func:`set_kinematics` for one."""
    kt2 = px * px + py * py
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(kt2 == 0.0, 0.0, np.arctan2(py, px))
        phi[phi < 0.0] += TWO_PI
        phi[phi >= TWO_PI] -= TWO_PI
        apz = np.abs(pz)
        m2 = np.maximum(0.0, (e + pz) * (e - pz) - kt2)
        y = 0.5 * np.log((kt2 + m2) / (e + apz) ** 2)
        rap = np.where(pz > 0.0, -y, y)
    along = np.flatnonzero((kt2 == 0.0) & (e == apz))
    rap[along] = np.where(pz[along] < 0.0, -(MAX_RAP + apz[along]), MAX_RAP + apz[along])
    return kt2, phi, rap


@njit(cache=True)
def _load(w, s, px, py, pz, e, rap, phi, kt2, first, m):
    """Particles ``first … first + m − 1`` into the first m columns of the workspace."""
    for k in range(m):
        i = first + k
        w[PX * s + k], w[PY * s + k], w[PZ * s + k], w[E * s + k] = px[i], py[i], pz[i], e[i]
        w[RAP * s + k], w[PHI * s + k], w[KT2 * s + k] = rap[i], phi[i], kt2[i]


@njit(cache=True)
def cluster_fixed(w, bits, nn, low, m, n_max, axes):
    """:func:`cluster` with the row stride the constant :data:`CAP` (vectorised passes)."""
    cluster(w, bits, nn, CAP, low, m, n_max, axes)


@njit(cache=True)
def cluster_any(w, bits, nn, s, low, m, n_max, axes):
    """:func:`cluster` with a row stride ``s`` known at run time only (scalar passes, ~2x slower)."""
    cluster(w, bits, nn, s, low, m, n_max, axes)


@njit(cache=True)
def _axes_fixed(px, py, pz, e, rap, phi, kt2, offsets, n_max):
    """One :func:`cluster_fixed` per jet of the flat jet-major particles."""
    axes = np.full((len(offsets) - 1, n_axis_rows(n_max), 4), np.nan)
    w, bits, nn, low = workspace(CAP)
    for j in range(len(offsets) - 1):
        m = offsets[j + 1] - offsets[j]
        _load(w, CAP, px, py, pz, e, rap, phi, kt2, offsets[j], m)
        cluster_fixed(w, bits, nn, low, m, n_max, axes[j])
    return axes


@njit(cache=True)
def _axes_any(px, py, pz, e, rap, phi, kt2, offsets, n_max, s):
    """One :func:`cluster_any` per jet of the flat jet-major particles."""
    axes = np.full((len(offsets) - 1, n_axis_rows(n_max), 4), np.nan)
    w, bits, nn, low = workspace(s)
    for j in range(len(offsets) - 1):
        m = offsets[j + 1] - offsets[j]
        _load(w, s, px, py, pz, e, rap, phi, kt2, offsets[j], m)
        cluster_any(w, bits, nn, s, low, m, n_max, axes[j])
    return axes


def exclusive_axes(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, counts: np.ndarray, n_max: int
) -> np.ndarray:
    """``(jets, n_max (n_max + 1) / 2, 4)`` exclusive-kT jets (px, py, pz, E) of N = 1..n_max per jet,
    from flat jet-major particles with ``counts`` per jet (NaN rows where a jet has fewer than N).
    A chunk with a jet of more than :data:`CAP` particles takes the run-time-stride kernel."""
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = [np.ascontiguousarray(x, np.float64) for x in (px, py, pz, e)]
    kt2, phi, rap = kinematics(*cols)
    size = (int(np.max(counts)) + 7) // 8 * 8 if len(counts) else 0  # lanes() of the largest jet
    if size <= CAP:
        return _axes_fixed(*cols, rap, phi, kt2, offsets, n_max)
    return _axes_any(*cols, rap, phi, kt2, offsets, n_max, size)
