r"""Jet-level substructure of large-R jets (tabular; rows as in ``jet_point_cloud``).

Features: ``mass``, ``pt``, ``eta`` (stored FatJet), ``n_constituents`` (linked PF
candidates), N-subjettiness (Thaler & Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268)

.. math:: \tau_N = \frac{\sum_i p_{T,i} \min_k \Delta R_{i,k}}{\sum_i p_{T,i}\, R_0},
          \quad \beta = 1,\ R_0 = 0.8,

with the N axes the exclusive-kT subjets of the constituents (FastJet,
``kt_algorithm``, ``exclusive_jets(N)``; ΔR in (η, φ)), and the ratios
``tau21`` = τ2/τ1, ``tau32`` = τ3/τ2. All jets of a chunk are clustered in one
vectorised ``fastjet.ClusterSequence`` call (one "event" per jet). Jets with
fewer than N constituents get three ghost particles (pT = 1e-8 GeV on the jet
axis) so exclusive clustering is defined; they do not change τ_N beyond 1e-8.

Observers: ``pt, eta, phi, mass, msoftdrop, n_constituents`` (as jet_point_cloud).
"""

from __future__ import annotations

import warnings
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, to_numpy
from dl4hep.features.jet_point_cloud import OBSERVERS, jet_observers, truth_of
from dl4hep.features.jets import CAND_FIELDS, JET_FIELDS, link_constituents

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


def nsubjettiness(cons: ak.Array, jets: ak.Array, n_max: int = 3, R0: float = 0.8) -> dict[int, np.ndarray]:
    """τ_1..τ_n_max for ``(jets, var)`` Momentum4D constituents; returns ``{N: (jets,)}``."""
    import fastjet

    njet = len(cons)
    if njet == 0:
        return {n: np.zeros(0) for n in range(1, n_max + 1)}
    # ghosts: n_max tiny particles near the jet axis, so every jet has >= n_max particles
    k = np.arange(n_max)
    g_eta = np.asarray(to_numpy(jets.eta, np.float64))[:, None] + 1e-3 * (k + 1)
    g_phi = np.asarray(to_numpy(jets.phi, np.float64))[:, None] + 1e-3 * (k + 1)
    gh = ak.zip({"pt": np.full((njet, n_max), 1e-8), "eta": g_eta, "phi": g_phi, "mass": np.zeros((njet, n_max))},
                with_name="Momentum4D")
    gh = ak.from_regular(gh, axis=1)
    c4 = ak.zip({"pt": cons.pt, "eta": cons.eta, "phi": cons.phi, "mass": cons.mass}, with_name="Momentum4D")
    c4 = ak.values_astype(c4, np.float64)
    def cart(v: ak.Array) -> ak.Array:
        return ak.zip({"px": v.px, "py": v.py, "pz": v.pz, "E": v.E})

    pxyz = ak.concatenate([cart(c4), cart(gh)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fastjet's generic exclusive-jets advisory
        seq = fastjet.ClusterSequence(pxyz, fastjet.JetDefinition(fastjet.kt_algorithm, 10.0))
        axes_n = {n: seq.exclusive_jets(n_jets=n) for n in range(1, n_max + 1)}
    pt_sum = ak.sum(c4.pt, axis=1)
    out = {}
    for n in range(1, n_max + 1):
        ax = axes_n[n]
        axes = ak.zip({"px": ax.px, "py": ax.py, "pz": ax.pz, "E": ax.E}, with_name="Momentum4D")
        pairs = ak.cartesian({"c": c4, "a": axes}, axis=1, nested=True)
        dr = ak.min(pairs.c.deltaR(pairs.a), axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[n] = to_numpy(ak.sum(c4.pt * dr, axis=1), np.float64) / (to_numpy(pt_sum, np.float64) * R0)
    return out


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    jets, cons, event_index = link_constituents(chunk)
    tau = nsubjettiness(cons, jets, 3, options.R0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tab = {
            "mass": to_numpy(jets.mass), "pt": to_numpy(jets.pt), "eta": to_numpy(jets.eta),
            "n_constituents": to_numpy(ak.num(cons, axis=1)),
            "tau1": tau[1], "tau2": tau[2], "tau3": tau[3], "tau21": tau[2] / tau[1], "tau32": tau[3] / tau[2],
        }
    return FeatureOutput(
        event_index=event_index,
        tabular={k: np.asarray(v, np.float32) for k, v in tab.items()},
        observers=jet_observers(jets, ak.num(cons, axis=1)),
        truth_match=truth_of(jets),
    )
