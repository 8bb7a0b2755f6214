r"""ECAL shower shapes of clusters, computed from their crystal hits (columnar).

Rows: every cluster of the chunk, event-major. Hits are linked to clusters by
``hits.cluster_idx`` (``CaloHit_clusterIdx``, index into the event's clusters;
negative: unclustered). Hits are grouped per cluster, by decreasing energy (ties in file
order), and every variable and the padded hit cloud come from one compiled pass over the
grouped hits (:mod:`dl4hep.features.shower_kernel`, numba): the window energies and the
log-weighted moments from 5×5 crystal grids per cluster, the other sums over all the
cluster's hits, with no Python loop and no per-hit temporaries. Its arithmetic repeats the
former numpy expressions operation by operation, so the outputs are the same bit for bit.

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

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, delta_phi, to_numpy
from dl4hep.features.protocol import Example

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


def _column(x: ak.Array) -> np.ndarray:
    """A flat hit field as numpy, 32/64-bit kept as stored (one compiled variant each), else widened."""
    a = ak.to_numpy(x)
    if a.dtype in (np.int32, np.int64, np.float32, np.float64):
        return a
    return a.astype(np.float64 if a.dtype.kind == "f" else np.int64)


def _trig(ieta: np.ndarray, iphi: np.ndarray, has_zero: bool) -> Any:
    """(cosh, sinh) of the crystal-centre η and (cos, sin) of the φ of the chunk's crystal indices.

    Tables over the index ranges (numpy, once per index value), or per hit where a range is
    wider than the hit count, like :func:`dl4hep.features.segments.by_integer`.
    """
    from dl4hep.features.shower_kernel import Trig

    lo_e, hi_e = (int(ieta.min()), int(ieta.max())) if len(ieta) else (0, -1)
    lo_p, hi_p = (int(iphi.min()), int(iphi.max())) if len(iphi) else (0, -1)
    per_hit = max(hi_e - lo_e, hi_p - lo_p) + 1 > len(ieta)
    if per_hit:
        ceta, ip, lo_c = _continuous_ieta(ieta.astype(np.int64), has_zero), iphi.astype(np.int64), 0
    else:
        c = _continuous_ieta(np.array([lo_e, hi_e], np.int64), has_zero)
        ceta, ip, lo_c = np.arange(c[0], c[1] + 1), np.arange(lo_p, hi_p + 1), int(c[0])
    eta, phi = _crystal_eta(ceta), _crystal_phi(ip)
    return Trig(np.stack([np.cosh(eta), np.sinh(eta)]), np.stack([np.cos(phi), np.sin(phi)]), lo_c,
                0 if per_hit else lo_p, per_hit)


def _true_energy(clusters: ak.Array) -> np.ndarray:
    """Generator energy of each cluster's matched particle; NaN without one (stored as <= 0) or without the field."""
    if "gen_energy" not in ak.fields(clusters):
        return np.full(len(clusters), np.nan)
    e = to_numpy(clusters["gen_energy"], np.float64)
    return np.where(e > 0, e, np.nan)


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per cluster: 5x5 shower shapes and its hits scattered into ``max_hits`` padded slots."""
    from dl4hep.features import shower_kernel as sk  # numba: imported when first needed

    hits, clusters = chunk["hits"], ak.flatten(chunk["clusters"])
    n_cl = ak.to_numpy(ak.num(chunk["clusters"], axis=1)).astype(np.int64)
    flat = ak.flatten(hits)
    h = {k: _column(flat[k]) for k in ("ieta", "iphi", "energy", "time", "cluster_idx")}
    n_hits = ak.to_numpy(ak.num(hits, axis=1)).astype(np.int64)
    order, counts = sk.group_order(h["cluster_idx"], n_hits, n_cl, h["energy"])
    e_cluster = to_numpy(clusters["energy"], np.float64)
    trig = _trig(h["ieta"], h["iphi"], options.ieta_has_zero)
    n, length = len(counts), options.max_hits
    tab, points, mask = np.empty((len(sk.TAB), n)), np.zeros((n, length, 5), np.float32), np.zeros((n, length), bool)
    points_p4 = np.zeros((n, length, 4), np.float32)
    hit_cols = sk.Hits(h["ieta"], h["iphi"], h["energy"], h["time"])
    w0, has_zero = float(options.log_weight_w0), options.ieta_has_zero
    sk.cluster_pass(order, counts, hit_cols, e_cluster, has_zero, w0, trig, tab, points, mask, points_p4)
    eta = to_numpy(clusters["eta"], np.float64)
    obs = {
        "energy": e_cluster, "eta": eta, "phi": to_numpy(clusters["phi"], np.float64),
        "pt": e_cluster / np.cosh(eta), "n_hits": counts.astype(np.float64),
        "true_energy": _true_energy(clusters),
    }
    truth = None
    if "truth_match" in ak.fields(clusters):
        truth = to_numpy(clusters["truth_match"], bool)
    return FeatureOutput(
        event_index=np.repeat(np.arange(len(n_cl)), n_cl),
        tabular={k: tab[i].astype(np.float32) for i, k in enumerate(sk.TAB)},
        observers={k: np.asarray(v, dtype=np.float32) for k, v in obs.items()},
        points=points, points_mask=mask, points_p4=points_p4, truth_match=truth,
    )
