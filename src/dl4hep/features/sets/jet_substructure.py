r"""Jet-level substructure of large-R jets (tabular; rows as in ``jet_point_cloud``).

Features: ``mass``, ``pt``, ``eta`` (stored FatJet), ``n_constituents`` (linked PF
candidates), N-subjettiness (Thaler & Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268)

.. math:: \tau_N = \frac{\sum_i p_{T,i} \min_k \Delta R_{i,k}}{\sum_i p_{T,i}\, R_0},
          \quad \Delta R_{i,k}^2 = (y_i - y_k)^2 + \Delta\phi_{i,k}^2,
          \quad \beta = 1,\ R_0 = 0.8,

with the N axes the exclusive-kT subjets of the constituents (FastJet's ``kt_algorithm``,
R = 10, E scheme, ``exclusive_jets(N)``; computed by the compiled clustering of
:mod:`dl4hep.features.exclusive_kt`, which gives FastJet's axes bit for bit on the mini and
real files, at ~2.7x the speed of FastJet through its Python bindings), and the ratios
``tau21`` = τ2/τ1, ``tau32`` = τ3/τ2. Jets with
fewer than N constituents get three ghost particles (pT = 1e-8 GeV on the jet
axis) so exclusive clustering is defined; they do not change τ_N beyond 1e-8.
The distances to the axes are one compiled pass over the constituents
(:mod:`dl4hep.features.min_delta_r`), the sums per jet numpy segment sums.
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
from dl4hep.features.jets import (
    CAND_FIELDS,
    JET_FIELDS,
    OBSERVERS,
    jet_observers,
    link_constituents,
    truth_of,
)
from dl4hep.features.protocol import Example
from dl4hep.features.segments import segment_sum, slots, starts

NAME = "jet_substructure"
BLOCKS = {"tabular"}
TABULAR = ["mass", "pt", "eta", "n_constituents", "tau1", "tau2", "tau3", "tau21", "tau32"]
EXAMPLE = Example(input="generated", file="data/mini_qcd.root")


class Options(BaseModel):
    """The N-subjettiness normalisation radius (``feature_options.jet_substructure``)."""

    model_config = ConfigDict(extra="forbid")

    R0: float = Field(0.8, gt=0, description="Characteristic jet radius in the tau_N normalisation.")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    """FatJets, the required PF-candidate fields (four-momenta, charge, pdgId) and the links."""
    return {"fatjets": dict(JET_FIELDS), "pfcands": {k: v for k, v in CAND_FIELDS.items() if v},
            "fatjet_pfcands": {"jet_idx": True, "cand_idx": True}}


def names(options: Options) -> dict[str, Any]:
    """The fixed columns :data:`TABULAR` and the jet observers."""
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


def _axes_y_phi(axes: np.ndarray, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Rapidity and φ = atan2(p_y, p_x) of the stacked ``(jets, rows, 4)`` axes, ``(jets, rows)`` each.

    Evaluated per N on the same strided slices as before the compiled τ sums, so every value is
    the one numpy gave there (its vectorised and strided loops may round differently).
    """
    y, phi = np.empty(axes.shape[:2]), np.empty(axes.shape[:2])
    for n in range(1, n_max + 1):
        rows = slice(n * (n - 1) // 2, n * (n + 1) // 2)
        apx, apy, apz, ae = (axes[:, rows, k] for k in range(4))
        y[:, rows], phi[:, rows] = rapidity(apx, apy, apz, ae), np.arctan2(apy, apx)
    return y, phi


def nsubjettiness(cons: ak.Array, jets: ak.Array, n_max: int = 3, R0: float = 0.8) -> dict[int, np.ndarray]:
    """τ_1..τ_n_max for ``(jets, var)`` constituents with pt/eta/phi/mass; returns ``{N: (jets,)}``.

    ΔR in (rapidity, φ) for constituents and axes (Thaler & Van Tilburg, arXiv:1011.2268).
    """
    from dl4hep.features.exclusive_kt import exclusive_axes  # numba: imported when first needed
    from dl4hep.features.min_delta_r import weighted_min_dr

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
    pt_dr = weighted_min_dr(pt, y, phi, counts, *_axes_y_phi(axes, n_max), n_max)  # p_T,i min_k ΔR_ik
    pt_sum = segment_sum(pt, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {n: segment_sum(pt_dr[n - 1], counts) / (pt_sum * R0) for n in range(1, n_max + 1)}


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per FatJet (rows as ``jet_point_cloud``): stored kinematics and tau_1..3 and ratios."""
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
