r"""ECAL shower shapes of clusters, computed from their crystal hits (columnar).

Rows: every cluster of the chunk, event-major. Hits are linked to clusters by
``hits.cluster_idx`` (``CaloHit_clusterIdx``, index into the event's clusters;
negative: unclustered). Hits are grouped per cluster with one stable argsort on a
global cluster number; every quantity is then a segment sum over flat numpy arrays
(``np.bincount`` with weights), with no Python loop over clusters and no per-operation
awkward overhead (6-20x faster than the equivalent awkward expressions).

Crystal offsets to the seed (the most energetic crystal of the cluster), in
crystal units: :math:`\Delta i\eta = c(i\eta) - c(i\eta_{seed})` with
:math:`c(i\eta) = i\eta - [i\eta > 0]` (the CMS barrel has no ``ieta = 0``; set
``ieta_has_zero: true`` for contiguous indices) and
:math:`\Delta i\phi = ((i\phi - i\phi_{seed} + 180) \bmod 360) - 180` (360 crystals in φ).

Tabular features (energies in GeV):

* ``E_max``, ``E_2nd``: largest and second-largest crystal energy.
* ``E_2x2``: max over the four 2×2 windows containing the seed.
* ``E_3x3``, ``E_5x5``: sums with :math:`|\Delta i\eta|, |\Delta i\phi| \le 1` (≤ 2).
* ``R9`` = E_3x3 / E_cluster (``clusters.energy``).
* ``E1x5_over_E5x5``: strip :math:`\Delta i\eta = 0`, :math:`|\Delta i\phi| \le 2`, over E_5x5.
* ``E2x5max_over_E5x5``: max of the strips :math:`\Delta i\eta \in \{0, \pm 1\}` × 5 in φ, over E_5x5.
* ``sigma_ietaieta``, ``sigma_iphiiphi``, ``sigma_ietaiphi``: with log weights
  :math:`w_i = \max(0, 4.7 + \ln(E_i / E_{5\times5}))` over the 5×5 crystals,
  :math:`\bar x = \sum w_i x_i / \sum w_i`,
  :math:`\sigma_{i\eta i\eta} = a \sqrt{\sum w_i (\Delta i\eta_i - \bar{\Delta i\eta})^2 / \sum w_i}`
  (same for φ), :math:`\sigma_{i\eta i\phi} = a^2 \sum w_i (\Delta i\eta_i - \bar{\Delta i\eta})(\Delta i\phi_i - \bar{\Delta i\phi}) / \sum w_i`
  with the crystal size :math:`a = 0.0174` so the scale matches NanoAOD ``Photon_sieie``
  (CMS, "Performance of photon reconstruction ...", JINST 10 (2015) P08010).
* ``eta_width``, ``phi_width``: energy-weighted RMS of :math:`a\,\Delta i\eta`, :math:`a\,\Delta i\phi` over all hits.
* ``n_crystals``: hits with :math:`E_i >` ``hit_threshold`` (GeV).
* ``time_mean`` = :math:`\sum E_i t_i / \sum E_i`, ``time_spread`` = energy-weighted RMS of :math:`t_i` (ns).

Points ``(clusters, max_hits, 5)``, hits sorted by energy (descending):
``d_ieta, d_iphi, log_energy, time, energy_fraction`` (E_i / E_cluster); ``points_p4``
are massless crystals at :math:`\eta = a\,c(i\eta)`, :math:`\phi = 2\pi\,(i\phi - 0.5)/360`
wrapped to :math:`(-\pi, \pi]`, energy :math:`E_i`.

Observers: ``energy``, ``eta``, ``phi``, ``pt`` = energy / cosh(eta), ``n_hits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, to_numpy

NAME = "shower_shapes"
BLOCKS = {"tabular", "points"}

CRYSTAL = 0.0174  #: crystal size in eta (and ~phi, 2π/360) for the CMS barrel
N_IPHI = 360

TABULAR = [
    "E_max", "E_2nd", "E_2x2", "E_3x3", "E_5x5", "R9", "E1x5_over_E5x5", "E2x5max_over_E5x5",
    "sigma_ietaieta", "sigma_iphiiphi", "sigma_ietaiphi", "eta_width", "phi_width",
    "n_crystals", "time_mean", "time_spread",
]
POINTS = ["d_ieta", "d_iphi", "log_energy", "time", "energy_fraction"]
OBSERVERS = ["energy", "eta", "phi", "pt", "n_hits"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_hits: int = Field(64, ge=1, description="Hits kept per cluster (highest energy first), zero-padded.")
    hit_threshold: float = Field(0.1, ge=0, description="Crystal energy threshold (GeV) for n_crystals.")
    ieta_has_zero: bool = Field(False, description="ieta is contiguous through 0 (CMS barrel skips 0).")
    log_weight_w0: float = Field(4.7, gt=0, description="w0 of the log weights in the sigma_i*i* moments.")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    return {
        "clusters": {"energy": True, "eta": True, "phi": True, "truth_match": False},
        "hits": {"ieta": True, "iphi": True, "energy": True, "time": True, "cluster_idx": True},
    }


def names(options: Options) -> dict[str, Any]:
    return {"tabular": TABULAR, "points": POINTS, "observers": OBSERVERS, "max_points": options.max_hits}


def _continuous_ieta(ieta: np.ndarray, has_zero: bool) -> np.ndarray:
    return ieta if has_zero else ieta - (ieta > 0)


@dataclass
class GroupedHits:
    """Hits of all clusters of a chunk as flat arrays, cluster-major (hit order kept within a cluster).

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
        return np.cumsum(self.counts) - self.counts


def group_hits(chunk: ak.Array) -> GroupedHits:
    """Group the chunk's clustered hits per cluster (stable: hit order kept within a cluster)."""
    clusters, hits = chunk["clusters"], chunk["hits"]
    n_cl = ak.to_numpy(ak.num(clusters, axis=1)).astype(np.int64)
    cl_offsets = np.concatenate([[0], np.cumsum(n_cl)])[:-1]
    event_index = np.repeat(np.arange(len(n_cl)), n_cl)
    n_hits = ak.to_numpy(ak.num(hits, axis=1)).astype(np.int64)
    hit_event = np.repeat(np.arange(len(n_hits)), n_hits)
    flat = ak.flatten(hits)
    cidx = ak.to_numpy(flat.cluster_idx).astype(np.int64)
    valid = (cidx >= 0) & (cidx < n_cl[hit_event])
    gid = np.where(valid, cl_offsets[hit_event] + cidx, -1)
    keep = np.nonzero(valid)[0]
    order = keep[np.argsort(gid[keep], kind="stable")]
    counts = np.bincount(gid[keep], minlength=int(n_cl.sum()))
    f = {k: ak.to_numpy(flat[k])[order] for k in ("ieta", "iphi", "energy", "time")}
    return GroupedHits(
        ieta=f["ieta"].astype(np.int64), iphi=f["iphi"].astype(np.int64), energy=f["energy"].astype(np.float64),
        time=f["time"].astype(np.float64), counts=counts, event_index=event_index,
    )


def _seed_offsets(g: GroupedHits, options: Options, by_energy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous ieta and (Delta ieta, Delta iphi) of every hit to its cluster's seed crystal."""
    seg, start, has = g.segment, g.start, g.counts > 0
    ceta = _continuous_ieta(g.ieta, options.ieta_has_zero)
    seed = by_energy[start[has]]  # first occurrence of the maximum energy
    seed_ceta = np.zeros(len(g.counts), np.int64)
    seed_iphi = np.zeros(len(g.counts), np.int64)
    seed_ceta[has], seed_iphi[has] = ceta[seed], g.iphi[seed]
    deta = ceta - seed_ceta[seg]
    dphi = ((g.iphi - seed_iphi[seg] + N_IPHI // 2) % N_IPHI) - N_IPHI // 2
    return ceta, deta, dphi


def _tabular(g: GroupedHits, e_cluster: np.ndarray, deta: np.ndarray, dphi: np.ndarray,
             by_energy: np.ndarray, options: Options) -> dict[str, np.ndarray]:
    """The shower-shape variables of the module docstring, one value per cluster."""
    n, seg, e, t = len(g.counts), g.segment, g.energy, g.time

    def ssum(x: np.ndarray) -> np.ndarray:
        return np.bincount(seg, weights=x, minlength=n)

    def esum(mask: np.ndarray) -> np.ndarray:
        return ssum(np.where(mask, e, 0.0))

    first, second = g.counts > 0, g.counts > 1
    e_max, e_2nd = np.full(n, np.nan), np.zeros(n)
    e_max[first] = e[by_energy[g.start[first]]]
    e_2nd[second] = e[by_energy[g.start[second] + 1]]
    adeta, adphi = np.abs(deta), np.abs(dphi)
    e_2x2 = np.max([esum(((deta == 0) | (deta == a)) & ((dphi == 0) | (dphi == b))) for a in (-1, 1) for b in (-1, 1)], axis=0)
    in5 = (adeta <= 2) & (adphi <= 2)
    e_3x3, e_5x5 = esum((adeta <= 1) & (adphi <= 1)), esum(in5)
    strip = adphi <= 2
    e_1x5 = esum((deta == 0) & strip)
    e_2x5 = np.maximum(esum(((deta == 0) | (deta == 1)) & strip), esum(((deta == 0) | (deta == -1)) & strip))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(e > 0, e / e_5x5[seg], 1.0)
        w = np.where(in5 & (e > 0), np.maximum(0.0, options.log_weight_w0 + np.log(ratio)), 0.0)
        sw = ssum(w)
        ddeta, ddphi = deta - (ssum(w * deta) / sw)[seg], dphi - (ssum(w * dphi) / sw)[seg]
        se = ssum(e)
        edeta, edphi = deta - (ssum(e * deta) / se)[seg], dphi - (ssum(e * dphi) / se)[seg]
        tmean = ssum(e * t) / se
        return {
            "E_max": e_max, "E_2nd": e_2nd, "E_2x2": e_2x2, "E_3x3": e_3x3, "E_5x5": e_5x5,
            "R9": e_3x3 / e_cluster, "E1x5_over_E5x5": e_1x5 / e_5x5, "E2x5max_over_E5x5": e_2x5 / e_5x5,
            "sigma_ietaieta": CRYSTAL * np.sqrt(ssum(w * ddeta**2) / sw),
            "sigma_iphiiphi": CRYSTAL * np.sqrt(ssum(w * ddphi**2) / sw),
            "sigma_ietaiphi": CRYSTAL**2 * ssum(w * ddeta * ddphi) / sw,
            "eta_width": CRYSTAL * np.sqrt(ssum(e * edeta**2) / se),
            "phi_width": CRYSTAL * np.sqrt(ssum(e * edphi**2) / se),
            "n_crystals": np.bincount(seg[e > options.hit_threshold], minlength=n).astype(np.float64),
            "time_mean": tmean, "time_spread": np.sqrt(ssum(e * (t - tmean[seg]) ** 2) / se),
        }


def _scatter_padded(values: np.ndarray, rows: np.ndarray, slots: np.ndarray, n: int, length: int) -> np.ndarray:
    """``(n, length, ...)`` float32 zeros with ``values`` placed at (rows, slots)."""
    out = np.zeros((n, length, *values.shape[1:]), np.float32)
    out[rows, slots] = values
    return out


def _points(g: GroupedHits, e_cluster: np.ndarray, ceta: np.ndarray, deta: np.ndarray, dphi: np.ndarray,
            by_energy: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hit cloud by decreasing energy: points, mask and massless crystal four-vectors."""
    n, seg = len(g.counts), g.segment
    slot = np.arange(len(seg)) - np.repeat(g.start, g.counts)  # rank by energy within the cluster
    keep = slot < length
    rows, slots, h = seg[keep], slot[keep], by_energy[keep]
    e = g.energy[h]
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = np.stack([deta[h], dphi[h], np.log(np.where(e > 0, e, np.nan)), g.time[h], e / e_cluster[rows]], axis=-1)
    feats = np.nan_to_num(feats.astype(np.float32), nan=0.0, neginf=0.0)  # non-positive hit energy -> 0
    points = _scatter_padded(feats, rows, slots, n, length)
    mask = np.zeros((n, length), bool)
    mask[rows, slots] = True
    eta = CRYSTAL * ceta[h]
    phi = np.mod(2 * np.pi * (g.iphi[h] - 0.5) / N_IPHI + np.pi, 2 * np.pi) - np.pi
    pt = e / np.cosh(eta)
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e], axis=-1)
    return points, mask, _scatter_padded(p4.astype(np.float32), rows, slots, n, length)


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    g = group_hits(chunk)
    clusters = ak.flatten(chunk["clusters"])
    e_cluster = to_numpy(clusters.energy, np.float64)
    by_energy = np.lexsort((-g.energy, g.segment))  # cluster-major, decreasing energy, stable
    ceta, deta, dphi = _seed_offsets(g, options, by_energy)
    tab = _tabular(g, e_cluster, deta, dphi, by_energy, options)
    points, mask, points_p4 = _points(g, e_cluster, ceta, deta, dphi, by_energy, options.max_hits)
    eta = to_numpy(clusters.eta, np.float64)
    obs = {
        "energy": e_cluster, "eta": eta, "phi": to_numpy(clusters.phi, np.float64),
        "pt": e_cluster / np.cosh(eta), "n_hits": g.counts.astype(np.float64),
    }
    truth = None
    if "truth_match" in ak.fields(clusters):
        truth = to_numpy(clusters.truth_match, bool)
    return FeatureOutput(
        event_index=g.event_index,
        tabular={k: np.asarray(v, dtype=np.float32) for k, v in tab.items()},
        observers={k: np.asarray(v, dtype=np.float32) for k, v in obs.items()},
        points=points, points_mask=mask, points_p4=points_p4, truth_match=truth,
    )
