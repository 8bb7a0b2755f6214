r"""ECAL shower shapes of clusters, computed from their crystal hits (columnar).

Rows: every cluster of the chunk, event-major. Hits are linked to clusters by
``hits.cluster_idx`` (``CaloHit_clusterIdx``, index into the event's clusters;
negative: unclustered). Hits are grouped per cluster, by decreasing energy, with one
stable argsort of a packed (cluster, energy) key (:mod:`dl4hep.features.segments`);
the window energies and the log-weighted moments come from a 5×5 crystal grid per
cluster (one ``np.bincount``), the other sums are segment sums over the flat hits
(``np.add.reduceat``), with no Python loop over clusters.

Crystal offsets to the seed (the most energetic crystal of the cluster), in
crystal units: :math:`\Delta i\eta = c(i\eta) - c(i\eta_{seed})` and
:math:`\Delta i\phi = ((i\phi - i\phi_{seed} + 180) \bmod 360) - 180` (360 crystals in φ;
CMSSW ``EcalClusterTools::getNrCrysDiffInEta/InPhi``). With ``ieta_has_zero: true``
(the default: the generator's grid, crystal ``k`` covers η ∈ [k, k+1)·0.0174, so ``ieta = 0``
exists) :math:`c(i\eta) = i\eta`; with ``false`` (CMS ``EBDetId``, iη = ±1..±85, no 0)
:math:`c(i\eta) = i\eta - [i\eta > 0]`. In both cases crystal :math:`c` covers
η ∈ [c, c+1)·0.0174.

Tabular features (energies in GeV):

* ``E_max``, ``E_2nd``: largest and second-largest crystal energy.
* ``E_2x2``: max over the four 2×2 windows containing the seed.
* ``E_3x3``, ``E_5x5``: sums with :math:`|\Delta i\eta|, |\Delta i\phi| \le 1` (≤ 2).
* ``R9`` = E_3x3 / E_cluster (``clusters.energy``).
* ``E1x5_over_E5x5``: strip :math:`\Delta i\eta = 0`, :math:`|\Delta i\phi| \le 2`, over E_5x5.
* ``E2x5max_over_E5x5``: max of the strips :math:`\Delta i\eta \in \{0, \pm 1\}` × 5 in φ, over E_5x5.
* ``sigma_ietaieta``, ``sigma_iphiiphi``, ``sigma_ietaiphi``: CMSSW
  ``EcalClusterTools::localCovariances`` (the full5x5 NanoAOD ``Photon_sieie``, ``Photon_sieip``;
  CMS, JINST 10 (2015) P08010). Over the 5×5 crystals around the seed, the mean position is
  energy-weighted (``mean5x5PositionInLocalCrysCoord``, crystals with :math:`E_i < 0` skipped),
  :math:`\bar x = \sum E_i x_i / \sum E_i`, and the moments are log-weighted,
  :math:`w_i = \max(0, w_0 + \ln(E_i / E_{5\times5}))`, :math:`w_0 = 4.7`:
  :math:`\sigma_{i\eta i\eta} = a \sqrt{\sum w_i (\Delta i\eta_i - \bar{\Delta i\eta})^2 / \sum w_i}`
  (same for φ), :math:`\sigma_{i\eta i\phi} = a^2 \sum w_i (\Delta i\eta_i - \bar{\Delta i\eta})(\Delta i\phi_i - \bar{\Delta i\phi}) / \sum w_i`,
  with the CMSSW barrel crystal size :math:`a = 0.01745`.
* ``eta_width``, ``phi_width``: energy-weighted RMS of :math:`0.0174\,\Delta i\eta` and
  :math:`(2\pi/360)\,\Delta i\phi` over all hits (the crystal sizes; CMS supercluster
  ``etaWidth``/``phiWidth``).
* ``n_crystals``: crystals of the 5×5 with a positive log weight, :math:`E_i > e^{-w_0} E_{5\times5}`
  (≈ 0.9 % of E_5x5): the crystals that shape σ_iηiη. Not the hit count: ``n_hits`` (an
  observer) counts every stored hit, which the zero suppression already thresholds.
* ``time_mean`` = :math:`\sum E_i t_i / \sum E_i`, ``time_spread`` = energy-weighted RMS of :math:`t_i` (ns).

Points ``(clusters, max_hits, 5)``, hits sorted by energy (descending):
``d_ieta, d_iphi, log_energy, time, energy_fraction`` (E_i / E_cluster); ``points_p4``
are massless crystals at the crystal centres, :math:`\eta = 0.0174\,(c(i\eta) + 0.5)`,
:math:`\phi = (2\pi/360)(i\phi + 0.5)` wrapped to :math:`(-\pi, \pi)` (the generator's 0-based
iφ: crystal k covers φ ∈ [k, k+1)·2π/360; CMS's 1-based iφ would only rotate every cluster in φ),
energy :math:`E_i`.

Observers: ``energy``, ``eta``, ``phi``, ``pt`` = energy / cosh(eta), ``n_hits``, and
``true_energy``: the generator energy of the matched photon/electron (``clusters.gen_energy``,
``Cluster_genEnergy``; NaN where the cluster has none or the input schema maps no such field),
the target of the ECAL energy regression (``configs/tasks/egamma_energy.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, delta_phi, to_numpy
from dl4hep.features.protocol import Example
from dl4hep.features.segments import (
    argsort_desc_within,
    by_integer,
    scatter_columns,
    scatter_padded,
    segment_sum,
    slots,
    starts,
)

NAME = "shower_shapes"
BLOCKS = {"tabular", "points"}

CRYSTAL = 0.0174  #: crystal size in eta of the generator's barrel grid (dl4hep.generate.detector.DETA)
N_IPHI = 360
CRYSTAL_PHI = 2 * np.pi / N_IPHI  #: crystal size in phi
#: crystal size that scales the sigma_i*i* moments (CMSSW EcalClusterTools::localCovariances, barrel)
SIGMA_CRYSTAL = 0.01745

TABULAR = [
    "E_max", "E_2nd", "E_2x2", "E_3x3", "E_5x5", "R9", "E1x5_over_E5x5", "E2x5max_over_E5x5",
    "sigma_ietaieta", "sigma_iphiiphi", "sigma_ietaiphi", "eta_width", "phi_width",
    "n_crystals", "time_mean", "time_spread",
]
POINTS = ["d_ieta", "d_iphi", "log_energy", "time", "energy_fraction"]
OBSERVERS = ["energy", "eta", "phi", "pt", "n_hits", "true_energy"]
EXAMPLE = Example(input="generated", file="data/mini_photon.root", options={"max_hits": 64, "ieta_has_zero": True})


class Options(BaseModel):
    """Hit-cloud size, crystal-index convention and the log-weight cut-off (``feature_options.shower_shapes``)."""

    model_config = ConfigDict(extra="forbid")

    max_hits: int = Field(64, ge=1, description="Hits kept per cluster (highest energy first), zero-padded.")
    ieta_has_zero: bool = Field(
        True, description="ieta is contiguous through 0 (generated grid); false for CMS EBDetId (no ieta = 0)."
    )
    log_weight_w0: float = Field(4.7, gt=0, description="w0 of the log weights in the sigma_i*i* moments.")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    """ECAL clusters (truth flag and true energy optional) and their hits with the cluster index."""
    return {
        "clusters": {"energy": True, "eta": True, "phi": True, "truth_match": False, "gen_energy": False},
        "hits": {"ieta": True, "iphi": True, "energy": True, "time": True, "cluster_idx": True},
    }


def names(options: Options) -> dict[str, Any]:
    """The shower-shape :data:`TABULAR`, the per-hit :data:`POINTS`, observers and ``max_hits`` slots."""
    return {"tabular": TABULAR, "points": POINTS, "observers": OBSERVERS, "max_points": options.max_hits}


def _continuous_ieta(ieta: np.ndarray, has_zero: bool) -> np.ndarray:
    return ieta if has_zero else ieta - (ieta > 0)


def _crystal_eta(ceta: np.ndarray) -> np.ndarray:
    """Centre η = 0.0174 (c + 0.5) of continuous row c, which covers [c, c + 1)·0.0174."""
    return CRYSTAL * (ceta + 0.5)


def _crystal_phi(iphi: np.ndarray) -> np.ndarray:
    """Centre φ = 2π (iphi + 0.5) / 360 of 0-based column iphi, wrapped into (−π, π) (never ±π)."""
    return delta_phi(CRYSTAL_PHI * (iphi + 0.5))


@dataclass
class GroupedHits:
    """Hits of all clusters of a chunk as flat arrays, cluster-major and by decreasing energy
    within a cluster (ties in file order), so a cluster's seed is its first hit.

    ``counts[c]`` hits belong to cluster ``c``; ``segment`` is each hit's cluster and
    ``event_index`` each cluster's entry in the chunk.
    """

    ieta: np.ndarray
    iphi: np.ndarray
    energy: np.ndarray
    time: np.ndarray
    counts: np.ndarray
    event_index: np.ndarray

    @cached_property
    def segment(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @cached_property
    def start(self) -> np.ndarray:
        return starts(self.counts)


def group_hits(chunk: ak.Array) -> GroupedHits:
    """Group the chunk's clustered hits per cluster, by decreasing energy within a cluster."""
    clusters, hits = chunk["clusters"], chunk["hits"]
    n_cl = ak.to_numpy(ak.num(clusters, axis=1)).astype(np.int64)
    event_index = np.repeat(np.arange(len(n_cl)), n_cl)
    n_hits = ak.to_numpy(ak.num(hits, axis=1)).astype(np.int64)
    hit_event = np.repeat(np.arange(len(n_hits)), n_hits)
    flat = ak.flatten(hits)
    cidx = ak.to_numpy(flat["cluster_idx"]).astype(np.int64)
    keep = np.flatnonzero((cidx >= 0) & (cidx < n_cl[hit_event]))
    gid = (starts(n_cl)[hit_event] + cidx)[keep]
    energy = ak.to_numpy(flat["energy"])[keep]
    order = keep[argsort_desc_within(gid, energy)]
    f = {k: ak.to_numpy(flat[k])[order] for k in ("ieta", "iphi", "energy", "time")}
    return GroupedHits(
        ieta=f["ieta"].astype(np.int64), iphi=f["iphi"].astype(np.int64), energy=f["energy"].astype(np.float64),
        time=f["time"].astype(np.float64), counts=np.bincount(gid, minlength=int(n_cl.sum())),
        event_index=event_index,
    )


def _seed_offsets(g: GroupedHits, options: Options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous ieta and (Delta ieta, Delta iphi) of every hit to its cluster's seed crystal."""
    seg, has = g.segment, g.counts > 0
    ceta = _continuous_ieta(g.ieta, options.ieta_has_zero)
    seed = g.start[has]  # first occurrence of the maximum energy
    seed_ceta = np.zeros(len(g.counts), np.int64)
    seed_iphi = np.zeros(len(g.counts), np.int64)
    seed_ceta[has], seed_iphi[has] = ceta[seed], g.iphi[seed]
    deta = ceta - seed_ceta[seg]
    dphi = ((g.iphi - seed_iphi[seg] + N_IPHI // 2) % N_IPHI) - N_IPHI // 2
    return ceta, deta, dphi


def _grid_5x5(weights: np.ndarray, cell: np.ndarray, n: int) -> np.ndarray:
    """``(5, 5, n)`` sums of ``weights`` per crystal and cluster, ``[2 + Δiη, 2 + Δiφ, c]``.

    Cluster-last, so window sums reduce over the leading axes (contiguous rows of n).
    """
    return np.bincount(cell, weights=weights, minlength=25 * n).reshape(5, 5, n)


def _windows(E: np.ndarray) -> dict[str, np.ndarray]:
    """Window energies of a ``(5, 5, n)`` energy grid centred on the seed."""
    def box(deta: slice, dphi: slice) -> np.ndarray:
        return E[deta, dphi].sum(axis=(0, 1))

    lo, hi, all5 = slice(1, 3), slice(2, 4), slice(0, 5)  # Δ ∈ {-1, 0}, {0, 1}, [-2, 2]
    return {
        "E_2x2": np.max([box(a, b) for a in (lo, hi) for b in (lo, hi)], axis=0),
        "E_3x3": box(slice(1, 4), slice(1, 4)), "E_5x5": box(all5, all5),
        "E_1x5": box(slice(2, 3), all5), "E_2x5": np.maximum(box(hi, all5), box(lo, all5)),
    }


def _grid_moments(W: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second moments of Δiη, Δiφ over ``(5, 5, n)`` grids of log weights ``W`` and energies ``E``.

    CMSSW ``localCovariances``: Σ w (x − x̄)(y − ȳ) / Σ w about the energy-weighted mean
    x̄ = Σ E x / Σ E (``mean5x5PositionInLocalCrysCoord``). Crystals of a cell share (Δiη, Δiφ),
    so the sums over crystals are sums over cells.
    """
    off = np.arange(-2.0, 3.0)[:, None]
    sw, se = W.sum(axis=(0, 1)), E.sum(axis=(0, 1))
    w_eta, w_phi = W.sum(axis=1), W.sum(axis=0)  # (5, n) marginals
    d_eta = off - (off * E.sum(axis=1)).sum(axis=0) / se
    d_phi = off - (off * E.sum(axis=0)).sum(axis=0) / se
    var_eta = (w_eta * d_eta**2).sum(axis=0) / sw
    var_phi = (w_phi * d_phi**2).sum(axis=0) / sw
    cov = np.einsum("ijc,ic,jc->c", W, d_eta, d_phi) / sw
    return var_eta, var_phi, cov


def _tabular(g: GroupedHits, e_cluster: np.ndarray, deta: np.ndarray, dphi: np.ndarray,
             options: Options) -> dict[str, np.ndarray]:
    """The shower-shape variables of the module docstring, one value per cluster."""
    n, seg, e, t = len(g.counts), g.segment, g.energy, g.time

    def ssum(x: np.ndarray) -> np.ndarray:
        return segment_sum(x, g.counts)

    first, second = g.counts > 0, g.counts > 1
    e_max, e_2nd = np.full(n, np.nan), np.zeros(n)
    e_max[first] = e[g.start[first]]
    e_2nd[second] = e[g.start[second] + 1]
    in5 = np.flatnonzero((np.abs(deta) <= 2) & (np.abs(dphi) <= 2))
    cell = ((deta[in5] + 2) * 5 + dphi[in5] + 2) * n + seg[in5]
    e5 = e[in5]
    grid = _grid_5x5(e5, cell, n)
    win = _windows(grid)
    e_5x5 = win["E_5x5"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(e5 > 0, e5 / e_5x5[seg[in5]], 1.0)
        w = np.where(e5 > 0, np.maximum(0.0, options.log_weight_w0 + np.log(ratio)), 0.0)
        # the energy grid of the mean position skips E < 0; with none it is the grid already built
        # (same weights, same order: equal bit for bit) and a third bincount is saved
        e_pos = grid if e5.min(initial=0.0) >= 0.0 else _grid_5x5(np.maximum(e5, 0.0), cell, n)
        var_eta, var_phi, cov = _grid_moments(_grid_5x5(w, cell, n), e_pos)
        se = ssum(e)
        edeta, edphi = deta - (ssum(e * deta) / se)[seg], dphi - (ssum(e * dphi) / se)[seg]
        tmean = ssum(e * t) / se
        return {
            "E_max": e_max, "E_2nd": e_2nd, "E_2x2": win["E_2x2"], "E_3x3": win["E_3x3"], "E_5x5": e_5x5,
            "R9": win["E_3x3"] / e_cluster, "E1x5_over_E5x5": win["E_1x5"] / e_5x5,
            "E2x5max_over_E5x5": win["E_2x5"] / e_5x5,
            "sigma_ietaieta": SIGMA_CRYSTAL * np.sqrt(var_eta), "sigma_iphiiphi": SIGMA_CRYSTAL * np.sqrt(var_phi),
            "sigma_ietaiphi": SIGMA_CRYSTAL**2 * cov,
            "eta_width": CRYSTAL * np.sqrt(ssum(e * edeta**2) / se),
            "phi_width": CRYSTAL_PHI * np.sqrt(ssum(e * edphi**2) / se),
            "n_crystals": np.bincount(seg[in5], weights=(w > 0).astype(np.float64), minlength=n),
            "time_mean": tmean, "time_spread": np.sqrt(ssum(e * (t - tmean[seg]) ** 2) / se),
        }


def _points(g: GroupedHits, e_cluster: np.ndarray, ceta: np.ndarray, deta: np.ndarray, dphi: np.ndarray,
            length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hit cloud by decreasing energy: points, mask and massless crystal four-vectors."""
    n, slot = len(g.counts), slots(g.counts)  # hits are by decreasing energy: slot = rank
    keep = slot < length
    h = slice(None) if keep.all() else np.flatnonzero(keep)
    rows, slot, e = g.segment[h], slot[h], g.energy[h]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e, fraction = np.log(np.where(e > 0, e, np.nan)), e / e_cluster[rows]
    # float32 first, then NaN (non-positive energy, missing time) -> 0 and ±inf -> ±float32 max
    finite = [np.nan_to_num(x.astype(np.float32), nan=0.0, neginf=0.0) for x in (log_e, g.time[h], fraction)]
    points = scatter_columns([deta[h], dphi[h], *finite], rows, slot, n, length)
    pt = e / by_integer(lambda k: np.cosh(_crystal_eta(k)), ceta[h])
    p4 = [
        pt * by_integer(lambda k: np.cos(_crystal_phi(k)), g.iphi[h]),
        pt * by_integer(lambda k: np.sin(_crystal_phi(k)), g.iphi[h]),
        pt * by_integer(lambda k: np.sinh(_crystal_eta(k)), ceta[h]), e,
    ]
    mask = scatter_padded(np.ones(len(rows), bool), rows, slot, n, length, bool)
    return points, mask, scatter_columns(p4, rows, slot, n, length)


def _true_energy(clusters: ak.Array) -> np.ndarray:
    """Generator energy of each cluster's matched particle; NaN without one (stored as <= 0) or without the field."""
    if "gen_energy" not in ak.fields(clusters):
        return np.full(len(clusters), np.nan)
    e = to_numpy(clusters["gen_energy"], np.float64)
    return np.where(e > 0, e, np.nan)


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per cluster: 5x5 shower shapes and its hits scattered into ``max_hits`` padded slots."""
    g = group_hits(chunk)
    clusters = ak.flatten(chunk["clusters"])
    e_cluster = to_numpy(clusters["energy"], np.float64)
    ceta, deta, dphi = _seed_offsets(g, options)
    tab = _tabular(g, e_cluster, deta, dphi, options)
    points, mask, points_p4 = _points(g, e_cluster, ceta, deta, dphi, options.max_hits)
    eta = to_numpy(clusters["eta"], np.float64)
    obs = {
        "energy": e_cluster, "eta": eta, "phi": to_numpy(clusters["phi"], np.float64),
        "pt": e_cluster / np.cosh(eta), "n_hits": g.counts.astype(np.float64),
        "true_energy": _true_energy(clusters),
    }
    truth = None
    if "truth_match" in ak.fields(clusters):
        truth = to_numpy(clusters["truth_match"], bool)
    return FeatureOutput(
        event_index=g.event_index,
        tabular={k: np.asarray(v, dtype=np.float32) for k, v in tab.items()},
        observers={k: np.asarray(v, dtype=np.float32) for k, v in obs.items()},
        points=points, points_mask=mask, points_p4=points_p4, truth_match=truth,
    )
