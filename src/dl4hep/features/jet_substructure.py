r"""Jet-level substructure of large-R jets (tabular; rows as in ``jet_point_cloud``).

Features: ``mass``, ``pt``, ``eta`` (stored FatJet), ``n_constituents`` (linked PF
candidates), N-subjettiness (Thaler & Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268)

.. math:: \tau_N = \frac{\sum_i p_{T,i} \min_k \Delta R_{i,k}}{\sum_i p_{T,i}\, R_0},
          \quad \Delta R_{i,k}^2 = (y_i - y_k)^2 + \Delta\phi_{i,k}^2,
          \quad \beta = 1,\ R_0 = 0.8,

with the N axes the exclusive-kT subjets of the constituents (FastJet's ``kt_algorithm``,
R = 10, E scheme, ``exclusive_jets(N)``; computed by the compiled clustering of
:mod:`dl4hep.features.exclusive_kt`, which gives FastJet's axes bit for bit on the mini and
real files, at ~1.8x the speed of FastJet through its Python bindings), and the ratios
``tau21`` = τ2/τ1, ``tau32`` = τ3/τ2. Jets with
fewer than N constituents get three ghost particles (pT = 1e-8 GeV on the jet
axis) so exclusive clustering is defined; they do not change τ_N beyond 1e-8.
The sums over constituents are flat numpy (segment sums per jet, one pass per axis).
Distances use the rapidity :math:`y = \tfrac12 \ln\frac{E + p_z}{E - p_z}` of axes and
constituents, not the pseudorapidity, as in the paper and fjcontrib ``Nsubjettiness``
(``NormalizedMeasure(β = 1, R0)``, ``PseudoJet::squared_distance``); for massive constituents
and the massive axes y ≠ η.

Observers: ``pt, eta, phi, mass, msoftdrop, n_constituents`` (as jet_point_cloud).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, cartesian, to_numpy
from dl4hep.features.jet_point_cloud import OBSERVERS, jet_observers, truth_of
from dl4hep.features.jets import CAND_FIELDS, JET_FIELDS, link_constituents
from dl4hep.features.segments import segment_sum, slots, starts

NAME = "jet_substructure"
BLOCKS = {"tabular"}
TABULAR = ["mass", "pt", "eta", "n_constituents", "tau1", "tau2", "tau3", "tau21", "tau32"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    R0: float = Field(0.8, gt=0, description="Characteristic jet radius in the tau_N normalisation.")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    return {"fatjets": dict(JET_FIELDS), "pfcands": {k: v for k, v in CAND_FIELDS.items() if v},
            "fatjet_pfcands": {"jet_idx": True, "cand_idx": True}}


def names(options: Options) -> dict[str, Any]:
    return {"tabular": TABULAR, "points": [], "observers": OBSERVERS, "max_points": 0}


def _with_ghosts(c: dict[str, np.ndarray], counts: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray,
                 n_ghost: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Flat jet-major px, py, pz, E and counts per jet: its constituents, then, if it has fewer than
    ``n_ghost``, ``n_ghost`` 1e-8 GeV ghosts 1-3 mrad off the jet axis."""
    ghosted = np.flatnonzero(counts < n_ghost)
    if len(ghosted) == 0:
        return c, counts
    k = np.arange(1, n_ghost + 1) * 1e-3
    m = len(ghosted) * n_ghost
    g = cartesian(np.full(m, 1e-8), (jet_eta[ghosted, None] + k).ravel(),
                  (jet_phi[ghosted, None] + k).ravel(), np.zeros(m))
    total = counts.copy()
    total[ghosted] += n_ghost
    first = starts(total)
    at_cons = np.repeat(first, counts) + slots(counts)
    at_ghost = ((first + counts)[ghosted, None] + np.arange(n_ghost)).ravel()
    merged = {}
    for key in ("px", "py", "pz", "E"):
        merged[key] = np.empty(total.sum())
        merged[key][at_cons], merged[key][at_ghost] = c[key], g[key]
    return merged, total


def rapidity(px: np.ndarray, py: np.ndarray, pz: np.ndarray, E: np.ndarray) -> np.ndarray:
    """y = ½ ln((E + p_z)/(E − p_z)) = asinh(p_z / m_T), m_T² = p_T² + max(E² − p², 0) (FastJet ``rap()``)."""
    kt2 = px * px + py * py
    return np.arcsinh(pz / np.sqrt(kt2 + np.maximum(E * E - kt2 - pz * pz, 0.0)))


def _min_dr2(y: np.ndarray, phi: np.ndarray, a_y: np.ndarray, a_phi: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """min over a jet's axes ``(jets, N)`` of ΔR² = Δy² + Δφ² of each of its constituents (flat, jet-major).

    Δφ of two angles in [−π, π] is brought back to [−π, π] by ∓2π only where |Δφ| > π (rare):
    the same Δφ² as ``np.mod(Δφ + π, 2π) − π`` to rounding (~1e-16), at a quarter of the cost.
    """
    best = np.full(len(y), np.inf)
    for k in range(a_y.shape[1]):  # over the N <= 3 axes, each pass columnar over all jets
        dy = y - np.repeat(a_y[:, k], counts)
        dphi = phi - np.repeat(a_phi[:, k], counts)
        far = np.flatnonzero(np.abs(dphi) > np.pi)
        dphi[far] -= np.copysign(2 * np.pi, dphi[far])
        dy *= dy
        dphi *= dphi
        dy += dphi
        np.minimum(best, dy, out=best)
    return best


def nsubjettiness(cons: ak.Array, jets: ak.Array, n_max: int = 3, R0: float = 0.8) -> dict[int, np.ndarray]:
    """τ_1..τ_n_max for ``(jets, var)`` constituents with pt/eta/phi/mass; returns ``{N: (jets,)}``.

    ΔR in (rapidity, φ) for constituents and axes (Thaler & Van Tilburg, arXiv:1011.2268).
    """
    from dl4hep.features.exclusive_kt import exclusive_axes  # numba: imported when first needed

    njet = len(cons)
    if njet == 0:
        return {n: np.zeros(0) for n in range(1, n_max + 1)}
    counts = ak.to_numpy(ak.num(cons, axis=1)).astype(np.int64)
    flat = ak.flatten(cons)
    pt, eta, phi, mass = (ak.to_numpy(flat[k]).astype(np.float64) for k in ("pt", "eta", "phi", "mass"))
    p4 = cartesian(pt, eta, phi, mass)
    y = np.arcsinh(p4["pz"] / np.hypot(pt, mass))  # constituent rapidity, m_T from the stored mass
    p, n_particles = _with_ghosts(p4, counts, to_numpy(jets["eta"], np.float64), to_numpy(jets["phi"], np.float64),
                                  n_max)
    axes = exclusive_axes(p["px"], p["py"], p["pz"], p["E"], n_particles, n_max)
    pt_sum = segment_sum(pt, counts)
    out = {}
    for n in range(1, n_max + 1):
        apx, apy, apz, ae = (axes[:, n * (n - 1) // 2: n * (n + 1) // 2, k] for k in range(4))
        dr = np.sqrt(_min_dr2(y, phi, rapidity(apx, apy, apz, ae), np.arctan2(apy, apx), counts))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[n] = segment_sum(pt * dr, counts) / (pt_sum * R0)
    return out


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    jets, cons, event_index = link_constituents(chunk)
    tau = nsubjettiness(cons, jets, 3, options.R0)
    n_cons = ak.to_numpy(ak.num(cons, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        tab = {
            "mass": to_numpy(jets["mass"]), "pt": to_numpy(jets["pt"]), "eta": to_numpy(jets["eta"]),
            "n_constituents": n_cons,
            "tau1": tau[1], "tau2": tau[2], "tau3": tau[3], "tau21": tau[2] / tau[1], "tau32": tau[3] / tau[2],
        }
    return FeatureOutput(
        event_index=event_index,
        tabular={k: np.asarray(v, np.float32) for k, v in tab.items()},
        observers=jet_observers(jets, n_cons),
        truth_match=truth_of(jets),
    )
