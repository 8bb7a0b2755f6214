r"""The per-cluster pass of :mod:`dl4hep.features.sets.shower_shapes`, compiled with numba.

Two calls per chunk, each one pass over the hits without temporaries: :func:`group_order`
groups the clustered hits per cluster (a counting sort in file order, then a stable insertion
sort by decreasing energy within each cluster, NaN last: the order of the packed-key argsort
it replaces), and :func:`cluster_pass` computes every tabular variable of a cluster from three
5×5 crystal grids held in a small workspace and writes its hits straight into the padded
points and four-vectors. The definitions are those of the shower-shape module docstring; the
arithmetic follows the numpy code it replaces operation by operation (grid sums in hit order,
window sums row-major, segment sums as ``np.add.reduceat``: first element plus numpy's pairwise
sum of the rest). Only ``log`` is glibc's here (1 ulp from numpy's on ~0.1 % of float64
arguments) and the order of the σ_iηiφ sum was ``np.einsum``'s own; every output was still
identical bit for bit on the benchmark and mini egamma files (docs/benchmarks.md).

Import this module only where it is used: a process's first call of a cached numba kernel
costs ~0.7 s CPU (compiling, once per cache, ~8 s).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from dl4hep.features.sets.shower_shapes import TABULAR

__all__ = ["TAB", "Hits", "Trig", "cluster_pass", "group_order"]

#: rows of the tabular output of :func:`cluster_pass`
TAB = tuple(TABULAR)
#: crystal sizes of shower_shapes, repeated here: numba's cache is keyed on this file only, so a
#: constant imported from another module would stay frozen in a cached kernel (tested equal)
CRYSTAL = 0.0174
CRYSTAL_PHI = 2 * np.pi / 360
SIGMA_CRYSTAL = 0.01745
F32_MAX = float(np.finfo(np.float32).max)
#: workspace rows: 5×5 grids of energy, of max(E, 0) and of log weights; hit scratch rows
GE, GP, GW = 0, 1, 2
SE, SEDETA, SEDPHI, SET, SE2ETA, SE2PHI, SE2T = range(7)


@njit(cache=True, inline="always")
def _before(v, u):
    """Whether energy ``v`` sorts before ``u``: larger first, NaN last (-0.0 == 0.0)."""
    return v > u or (u != u and v == v)


@njit(cache=True, inline="always")
def _insertion_sort(idx, key, lo, hi):
    """Sort ``idx[lo:hi]`` and ``key[lo:hi]`` together by decreasing key, stably (NaN last).

    A cluster holds ~14 hits: an insertion sort on the contiguous keys beats a general sort
    (a branch-free rank count, O(k²) comparisons, was slower).
    """
    for i in range(lo + 1, hi):
        h, v = idx[i], key[i]
        j = i
        while j > lo and _before(v, key[j - 1]):
            idx[j], key[j] = idx[j - 1], key[j - 1]
            j -= 1
        idx[j], key[j] = h, v


@njit(cache=True, error_model="numpy")
def group_order(cidx, hit_counts, cluster_counts, energy):
    """(order, counts): indices of the clustered flat hits, cluster-major and by decreasing
    energy within a cluster (ties in file order), and the hit count of every cluster.

    A hit of event ``ev`` belongs to cluster ``cidx`` of that event when 0 <= cidx < clusters.
    """
    n = 0
    for ev in range(len(cluster_counts)):
        n += cluster_counts[ev]
    counts = np.zeros(n, np.int64)
    gid = np.empty(len(cidx), np.int64)
    h, first = 0, 0
    for ev in range(len(hit_counts)):
        for _ in range(hit_counts[ev]):
            c = cidx[h]
            gid[h] = first + c if 0 <= c < cluster_counts[ev] else -1
            if gid[h] >= 0:
                counts[gid[h]] += 1
            h += 1
        first += cluster_counts[ev]
    fill = np.empty(n, np.int64)
    total = 0
    for c in range(n):
        fill[c] = total
        total += counts[c]
    order, key = np.empty(total, np.int64), np.empty(total, energy.dtype)
    for h in range(len(cidx)):
        if gid[h] >= 0:
            order[fill[gid[h]]], key[fill[gid[h]]] = h, energy[h]
            fill[gid[h]] += 1
    for c in range(n):  # fill[c] is now the end of cluster c
        _insertion_sort(order, key, fill[c] - counts[c], fill[c])
    return order, counts


@njit(cache=True, inline="always")
def _pairwise_block(a, lo, n):
    """numpy's pairwise float64 sum of ``a[lo:lo + n]`` for n <= 128: sequential below 8 values,
    else eight interleaved accumulators combined as a tree, then the remainder."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = (
        a[lo],
        a[lo + 1],
        a[lo + 2],
        a[lo + 3],
        a[lo + 4],
        a[lo + 5],
        a[lo + 6],
        a[lo + 7],
    )
    i = lo + 8
    while i < lo + n - n % 8:
        r0, r1, r2, r3 = r0 + a[i], r1 + a[i + 1], r2 + a[i + 2], r3 + a[i + 3]
        r4, r5, r6, r7 = r4 + a[i + 4], r5 + a[i + 5], r6 + a[i + 6], r7 + a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_split(a, lo, n):
    """numpy's pairwise sum above 128 values: halves (the first a multiple of 8) summed separately
    and added, recursively; here with explicit stacks (numba's cache mishandles recursion)."""
    todo = np.empty((192, 3), np.int64)  # (lo, n, halves done); depth <= 64
    vals = np.empty(64)
    todo[0, 0], todo[0, 1], todo[0, 2] = lo, n, 0
    top, nv = 1, 0
    while top > 0:
        top -= 1
        lo, n, done = todo[top, 0], todo[top, 1], todo[top, 2]
        if n <= 128:
            vals[nv] = _pairwise_block(a, lo, n)
            nv += 1
        elif done:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
        else:
            n2 = n // 2 - (n // 2) % 8
            for t, (tl, tn, td) in enumerate(((lo, n, 1), (lo + n2, n - n2, 0), (lo, n2, 0))):
                todo[top + t, 0], todo[top + t, 1], todo[top + t, 2] = tl, tn, td
            top += 3
    return vals[0]


@njit(cache=True, inline="always")
def _segment_sum(a, k):
    """``np.add.reduceat`` of ``a[:k]``, k > 0: the first value plus numpy's pairwise sum of the rest."""
    if k - 1 <= 128:
        return a[0] + _pairwise_block(a, 1, k - 1)
    return a[0] + _pairwise_split(a, 1, k - 1)


@njit(cache=True, inline="always")
def _box(g, i0, i1, j0, j1):
    """Sum of grid cells [i0, i1) × [j0, j1), row-major (numpy's ``sum(axis=(0, 1))`` order)."""
    s = 0.0
    for i in range(i0, i1):
        for j in range(j0, j1):
            s += g[i * 5 + j]
    return s


@njit(cache=True, inline="always")
def _max_nan(a, b):
    """``np.maximum``: NaN wins."""
    if a != a or b != b:
        return a + b
    return a if a >= b else b


@njit(cache=True, inline="always")
def _finite32(x):
    """float32 of ``x`` with NaN and -inf -> 0, +inf -> the float32 maximum (``np.nan_to_num``)."""
    y = np.float32(x)
    if y != y or y == -np.inf:
        return np.float32(0.0)
    return np.float32(F32_MAX) if y == np.inf else y


@njit(cache=True, inline="always")
def _ceta(ieta, has_zero):
    """Continuous crystal row: ieta, or ieta - 1 above 0 for CMS indices without ieta = 0."""
    c = np.int64(ieta)
    return c if has_zero or c <= 0 else c - 1


class Hits(NamedTuple):
    """The flat hit columns of a chunk (as stored: int32/int64 indices, float32/float64 values)."""

    ieta: np.ndarray
    iphi: np.ndarray
    energy: np.ndarray
    time: np.ndarray


class Trig(NamedTuple):
    """(cosh, sinh) rows of the crystal-centre η and (cos, sin) rows of φ, by crystal index minus
    ``eta_lo`` / ``phi_lo``, or by flat hit index when ``per_hit`` (index ranges too wide for tables)."""

    eta: np.ndarray
    phi: np.ndarray
    eta_lo: int
    phi_lo: int
    per_hit: bool


@njit(cache=True, inline="always")
def _trig_index(h, hits, has_zero, trig):
    """Column of hit ``h`` in ``trig.eta`` and ``trig.phi``."""
    if trig.per_hit:
        return h, h
    return _ceta(hits.ieta[h], has_zero) - trig.eta_lo, np.int64(hits.iphi[h]) - trig.phi_lo


@njit(cache=True, inline="always")
def _first_pass(order, lo, k, hits, has_zero, grid, s, d):
    """Δiη, Δiφ of every hit to the seed (the first hit) into ``d``, the 5×5 grids of E and
    max(E, 0), and the per-hit products of the energy-weighted sums into ``s``."""
    grid[:] = 0.0
    if k == 0:
        return
    ieta, iphi, energy, time = hits.ieta, hits.iphi, hits.energy, hits.time
    seed_c, seed_p = _ceta(ieta[order[lo]], has_zero), np.int64(iphi[order[lo]])
    for i in range(k):
        h = order[lo + i]
        de = _ceta(ieta[h], has_zero) - seed_c
        dp = (np.int64(iphi[h]) - seed_p + 180) % 360 - 180
        e = np.float64(energy[h])
        d[0, i], d[1, i] = de, dp
        s[SE, i], s[SEDETA, i], s[SEDPHI, i], s[SET, i] = e, e * de, e * dp, e * np.float64(time[h])
        if abs(de) <= 2 and abs(dp) <= 2:
            cell = (de + 2) * 5 + dp + 2
            grid[GE, cell] += e
            grid[GP, cell] += _max_nan(e, 0.0)


@njit(cache=True, inline="always")
def _windows(tab, c, g, e_cl):
    """Window energies of the energy grid ``g`` (rows E_2x2 … E2x5max_over_E5x5); returns E_5x5."""
    e3, e5 = _box(g, 1, 4, 1, 4), _box(g, 0, 5, 0, 5)
    lo_lo, lo_hi, hi_lo, hi_hi = (
        _box(g, 1, 3, 1, 3),
        _box(g, 1, 3, 2, 4),
        _box(g, 2, 4, 1, 3),
        _box(g, 2, 4, 2, 4),
    )
    tab[2, c] = _max_nan(_max_nan(lo_lo, lo_hi), _max_nan(hi_lo, hi_hi))
    tab[3, c], tab[4, c], tab[5, c] = e3, e5, e3 / e_cl
    tab[6, c] = _box(g, 2, 3, 0, 5) / e5
    tab[7, c] = _max_nan(_box(g, 2, 4, 0, 5), _box(g, 1, 3, 0, 5)) / e5
    return e5


@njit(cache=True, inline="always")
def _weights(order, lo, k, energy, w0, e5, grid, d):
    """Log weights max(0, w0 + ln(E / E_5x5)) of the 5×5 hits (0 for E <= 0) into the W grid;
    returns the number of positive weights."""
    n_pos = 0.0
    for i in range(k):
        de, dp = d[0, i], d[1, i]
        if abs(de) <= 2 and abs(dp) <= 2:
            e = np.float64(energy[order[lo + i]])
            w = _max_nan(0.0, w0 + np.log(e / e5)) if e > 0 else 0.0
            grid[GW, (de + 2) * 5 + dp + 2] += w
            n_pos += 1.0 if w > 0 else 0.0
    return n_pos


@njit(cache=True, inline="always")
def _moments(tab, c, grid):
    """σ_iηiη, σ_iφiφ, σ_iηiφ (CMSSW localCovariances) from the W and max(E, 0) grids."""
    p, w = grid[GP], grid[GW]
    se, sw = _box(p, 0, 5, 0, 5), _box(w, 0, 5, 0, 5)
    m_eta, m_phi = 0.0, 0.0
    for i in range(5):
        m_eta += (i - 2.0) * _box(p, i, i + 1, 0, 5)
        m_phi += (i - 2.0) * _box(p, 0, 5, i, i + 1)
    m_eta, m_phi = m_eta / se, m_phi / se
    var_eta, var_phi, cov = 0.0, 0.0, 0.0
    for i in range(5):
        de, dp = (i - 2.0) - m_eta, (i - 2.0) - m_phi
        var_eta += _box(w, i, i + 1, 0, 5) * (de * de)
        var_phi += _box(w, 0, 5, i, i + 1) * (dp * dp)
        for j in range(5):
            cov += w[i * 5 + j] * de * ((j - 2.0) - m_phi)
    tab[8, c] = SIGMA_CRYSTAL * np.sqrt(var_eta / sw)
    tab[9, c] = SIGMA_CRYSTAL * np.sqrt(var_phi / sw)
    tab[10, c] = SIGMA_CRYSTAL**2 * (cov / sw)


@njit(cache=True, inline="always")
def _widths(tab, c, order, lo, k, time, s, d):
    """η/φ widths and the time mean and spread: energy-weighted means, then the weighted
    squared deviations, each summed as ``np.add.reduceat`` does."""
    if k == 0:
        se = sum_eta = sum_phi = sum_t = 0.0
    else:
        se, sum_eta = _segment_sum(s[SE], k), _segment_sum(s[SEDETA], k)
        sum_phi, sum_t = _segment_sum(s[SEDPHI], k), _segment_sum(s[SET], k)
    m_eta, m_phi, t_mean = sum_eta / se, sum_phi / se, sum_t / se
    for i in range(k):
        e = s[SE, i]
        de, dp, dt = d[0, i] - m_eta, d[1, i] - m_phi, np.float64(time[order[lo + i]]) - t_mean
        s[SE2ETA, i], s[SE2PHI, i], s[SE2T, i] = e * (de * de), e * (dp * dp), e * (dt * dt)
    v_eta = v_phi = v_t = 0.0
    if k > 0:
        v_eta, v_phi, v_t = (
            _segment_sum(s[SE2ETA], k),
            _segment_sum(s[SE2PHI], k),
            _segment_sum(s[SE2T], k),
        )
    tab[11, c] = CRYSTAL * np.sqrt(v_eta / se)
    tab[12, c] = CRYSTAL_PHI * np.sqrt(v_phi / se)
    tab[14, c], tab[15, c] = t_mean, np.sqrt(v_t / se)


@njit(cache=True, inline="always")
def _scatter(points, mask, p4, c, order, lo, n_slots, hits, e_cl, d, has_zero, trig):
    """The first ``n_slots`` hits into slots 0, 1, …: (Δiη, Δiφ, ln E, t, E / E_cluster) with
    NaN -> 0 and ±inf -> float32 limits, and massless crystal-centre (px, py, pz, E)."""
    for i in range(n_slots):
        h = order[lo + i]
        e = np.float64(hits.energy[h])
        points[c, i, 0], points[c, i, 1] = d[0, i], d[1, i]
        points[c, i, 2] = _finite32(np.log(e)) if e > 0 else np.float32(0.0)
        points[c, i, 3], points[c, i, 4] = _finite32(hits.time[h]), _finite32(e / e_cl)
        mask[c, i] = True
        ke, kp = _trig_index(h, hits, has_zero, trig)
        pt = e / trig.eta[0, ke]
        p4[c, i, 0], p4[c, i, 1] = pt * trig.phi[0, kp], pt * trig.phi[1, kp]
        p4[c, i, 2], p4[c, i, 3] = pt * trig.eta[1, ke], e


@njit(cache=True, error_model="numpy")
def cluster_pass(order, counts, hits, e_cluster, has_zero, w0, trig, tab, points, mask, p4):
    """Fill tabular ``(len(TAB), clusters)`` float64, and the zeroed points ``(clusters, length, 5)``,
    mask and p4 ``(clusters, length, 4)`` from the grouped hits (``order``, ``counts`` of
    :func:`group_order`). The caller allocates them: numpy's large allocations are advised as
    huge pages, which makes the first touch of the ≈ 14 MB padded output of a pileup chunk cheap.

    ``hits`` is a :class:`Hits`; ``trig`` (a :class:`Trig`) holds the (cosh, sinh) of the crystal-centre η and the (cos, sin)
    of its φ, computed by numpy.
    """
    n, length = len(counts), points.shape[1]
    k_max = 1
    for c in range(n):
        k_max = max(k_max, counts[c])
    grid, s, d = np.empty((3, 25)), np.empty((7, k_max)), np.empty((2, k_max), np.int64)
    lo = 0
    for c in range(n):
        k = counts[c]
        _first_pass(order, lo, k, hits, has_zero, grid, s, d)
        tab[0, c] = s[SE, 0] if k > 0 else np.nan
        tab[1, c] = s[SE, 1] if k > 1 else 0.0
        e5 = _windows(tab, c, grid[GE], e_cluster[c])
        tab[13, c] = _weights(order, lo, k, hits.energy, w0, e5, grid, d)
        _moments(tab, c, grid)
        _widths(tab, c, order, lo, k, hits.time, s, d)
        _scatter(
            points, mask, p4, c, order, lo, min(k, length), hits, e_cluster[c], d, has_zero, trig
        )
        lo += k
