r"""ECAL shower shapes of clusters, computed from their crystal hits (columnar).

Rows: every cluster of the chunk, event-major. Hits are linked to clusters by
``hits.cluster_idx`` (``CaloHit_clusterIdx``, index into the event's clusters;
negative: unclustered). Hits are grouped per cluster with a stable argsort on a
global cluster number and :func:`ak.unflatten`; no Python loop over clusters.

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

from typing import Any

import awkward as ak
import numpy as np
import vector
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, pad_points, to_numpy

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


def group_hits(chunk: ak.Array) -> tuple[ak.Array, np.ndarray]:
    """Hits grouped per cluster: ``(clusters, var)`` record array, and each cluster's event index."""
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
    fields = {f: ak.to_numpy(flat[f])[order] for f in ("ieta", "iphi", "energy", "time")}
    grouped = ak.unflatten(ak.zip(fields), counts)
    return grouped, event_index


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    grouped, event_index = group_hits(chunk)
    clusters = ak.flatten(chunk["clusters"])
    e_cluster = to_numpy(clusters.energy, np.float64)
    e = ak.values_astype(grouped.energy, np.float64)
    t = ak.values_astype(grouped.time, np.float64)
    ieta = ak.values_astype(grouped.ieta, np.int64)
    iphi = ak.values_astype(grouped.iphi, np.int64)

    # seed = most energetic crystal
    seed = ak.argmax(e, axis=1, keepdims=True)
    ceta = _continuous_ieta(ieta, options.ieta_has_zero)
    deta = ceta - ak.fill_none(ak.firsts(ceta[seed], axis=1), 0)
    dphi = ((iphi - ak.fill_none(ak.firsts(iphi[seed], axis=1), 0) + N_IPHI // 2) % N_IPHI) - N_IPHI // 2
    adeta, adphi = abs(deta), abs(dphi)

    def wsum(mask: ak.Array) -> np.ndarray:
        return to_numpy(ak.sum(e * mask, axis=1), np.float64)

    e_sorted = ak.sort(e, axis=1, ascending=False)
    e_max = to_numpy(ak.firsts(e_sorted), np.float64)
    e_2nd = to_numpy(ak.fill_none(ak.pad_none(e_sorted, 2, axis=1)[:, 1], 0.0), np.float64)
    quads = [
        wsum(((deta == 0) | (deta == a)) & ((dphi == 0) | (dphi == b))) for a in (-1, 1) for b in (-1, 1)
    ]
    e_2x2 = np.max(np.stack(quads), axis=0)
    in3 = (adeta <= 1) & (adphi <= 1)
    in5 = (adeta <= 2) & (adphi <= 2)
    e_3x3, e_5x5 = wsum(in3), wsum(in5)
    e_1x5 = wsum((deta == 0) & (adphi <= 2))
    e_2x5 = np.maximum(wsum(((deta == 0) | (deta == 1)) & (adphi <= 2)), wsum(((deta == 0) | (deta == -1)) & (adphi <= 2)))

    with np.errstate(divide="ignore", invalid="ignore"):
        # log-weighted second moments over the 5x5
        ratio = e / ak.Array(e_5x5)[:, np.newaxis]
        w = ak.where(in5 & (e > 0), np.maximum(0.0, options.log_weight_w0 + np.log(ak.where(e > 0, ratio, 1.0))), 0.0)
        sw = ak.sum(w, axis=1)
        meta = ak.sum(w * deta, axis=1) / sw
        mphi = ak.sum(w * dphi, axis=1) / sw
        ddeta = deta - meta
        ddphi = dphi - mphi
        sieie = CRYSTAL * np.sqrt(to_numpy(ak.sum(w * ddeta**2, axis=1) / sw, np.float64))
        sipip = CRYSTAL * np.sqrt(to_numpy(ak.sum(w * ddphi**2, axis=1) / sw, np.float64))
        sieip = CRYSTAL**2 * to_numpy(ak.sum(w * ddeta * ddphi, axis=1) / sw, np.float64)
        # energy-weighted widths over all hits, and timing
        se = ak.sum(e, axis=1)
        eeta = ak.sum(e * deta, axis=1) / se
        ephi = ak.sum(e * dphi, axis=1) / se
        eta_w = CRYSTAL * np.sqrt(to_numpy(ak.sum(e * (deta - eeta) ** 2, axis=1) / se, np.float64))
        phi_w = CRYSTAL * np.sqrt(to_numpy(ak.sum(e * (dphi - ephi) ** 2, axis=1) / se, np.float64))
        tmean = ak.sum(e * t, axis=1) / se
        tspread = np.sqrt(to_numpy(ak.sum(e * (t - tmean) ** 2, axis=1) / se, np.float64))
        n_cry = to_numpy(ak.sum(e > options.hit_threshold, axis=1), np.float64)
        tab = {
            "E_max": e_max, "E_2nd": e_2nd, "E_2x2": e_2x2, "E_3x3": e_3x3, "E_5x5": e_5x5,
            "R9": e_3x3 / e_cluster, "E1x5_over_E5x5": e_1x5 / e_5x5, "E2x5max_over_E5x5": e_2x5 / e_5x5,
            "sigma_ietaieta": sieie, "sigma_iphiiphi": sipip, "sigma_ietaiphi": sieip,
            "eta_width": eta_w, "phi_width": phi_w, "n_crystals": n_cry,
            "time_mean": to_numpy(tmean, np.float64), "time_spread": tspread,
        }
        # point cloud: hits by decreasing energy
        order = ak.argsort(e, axis=1, ascending=False)
        P = options.max_hits
        feats = [
            deta[order], dphi[order], np.log(ak.where(e[order] > 0, e[order], np.nan)), t[order],
            e[order] / ak.Array(e_cluster)[:, np.newaxis],
        ]
        points = np.stack([pad_points(f, P) for f in feats], axis=-1)
    mask = pad_points(ak.ones_like(e[order], dtype=bool), P, dtype=bool)
    points[~mask] = 0.0
    points = np.nan_to_num(points, nan=0.0, neginf=0.0) * mask[..., None]  # non-positive hit energy -> 0
    # crystal four-vectors (massless)
    ceta_o, iphi_o = ceta[order], iphi[order]
    phi_c = np.mod(2 * np.pi * (iphi_o - 0.5) / N_IPHI + np.pi, 2 * np.pi) - np.pi
    p4 = vector.zip({"pt": e[order] / np.cosh(CRYSTAL * ceta_o), "eta": CRYSTAL * ceta_o, "phi": phi_c, "energy": e[order]})
    points_p4 = np.stack([pad_points(p4.px, P), pad_points(p4.py, P), pad_points(p4.pz, P), pad_points(p4.E, P)], axis=-1)

    eta = to_numpy(clusters.eta, np.float64)
    obs = {
        "energy": e_cluster, "eta": eta, "phi": to_numpy(clusters.phi, np.float64),
        "pt": e_cluster / np.cosh(eta), "n_hits": to_numpy(ak.num(e, axis=1), np.float64),
    }
    truth = None
    if "truth_match" in ak.fields(clusters):
        truth = to_numpy(clusters.truth_match, bool)
    return FeatureOutput(
        event_index=event_index,
        tabular={k: np.asarray(v, dtype=np.float32) for k, v in tab.items()},
        observers={k: np.asarray(v, dtype=np.float32) for k, v in obs.items()},
        points=points.astype(np.float32), points_mask=mask, points_p4=points_p4.astype(np.float32),
        truth_match=truth,
    )
