r"""Particle point clouds of large-R jets (one row per FatJet, event-major).

Constituents from the ``FatJetPFCands`` links (:mod:`dl4hep.features.jets`),
sorted by decreasing pT, truncated/zero-padded to ``max_particles`` (``points_mask``
marks real particles). Jet axis: the stored FatJet ``(pt, eta, phi, mass)``.

Per-particle features (ParticleNet/ParT convention; Qu & Gouskos, PRD 101 (2020) 056019;
Qu, Li, Qian, arXiv:2202.03772):

``deta`` = η − η_J, ``dphi`` = φ − φ_J wrapped to (−π, π], ``log_pt``, ``log_e``,
``log_pt_rel`` = ln(pT/pT_J), ``log_e_rel`` = ln(E/E_J), ``dR`` = √(Δη² + Δφ²),
``charge``, ``is_charged_hadron`` (|pdgId| = 211), ``is_neutral_hadron`` (130),
``is_photon`` (22), ``is_electron`` (11), ``is_muon`` (13), ``tanh_d0`` = tanh(d0 / cm),
``d0_err``, ``tanh_dz`` = tanh(dz / cm), ``dz_err`` (0 where the schema has no impact parameters).
``points_p4`` = (px, py, pz, E) of each particle in GeV.

Observers: ``pt, eta, phi, mass, msoftdrop`` (NaN if not stored), ``n_constituents``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, pad_points, to_numpy
from dl4hep.features.jets import CAND_FIELDS, JET_FIELDS, link_constituents

NAME = "jet_point_cloud"
BLOCKS = {"points"}
POINTS = [
    "deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "dR", "charge",
    "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon",
    "tanh_d0", "d0_err", "tanh_dz", "dz_err",
]
OBSERVERS = ["pt", "eta", "phi", "mass", "msoftdrop", "n_constituents"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_particles: int = Field(128, ge=1, description="Constituents kept per jet (highest pT first).")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    return {"fatjets": dict(JET_FIELDS), "pfcands": dict(CAND_FIELDS),
            "fatjet_pfcands": {"jet_idx": True, "cand_idx": True}}


def names(options: Options) -> dict[str, Any]:
    return {"tabular": [], "points": POINTS, "observers": OBSERVERS, "max_points": options.max_particles}


def jet_observers(jets: ak.Array, n_cons: ak.Array) -> dict[str, np.ndarray]:
    fields = ak.fields(jets)
    return {
        "pt": to_numpy(jets.pt), "eta": to_numpy(jets.eta), "phi": to_numpy(jets.phi), "mass": to_numpy(jets.mass),
        "msoftdrop": to_numpy(jets.msoftdrop) if "msoftdrop" in fields else np.full(len(jets), np.nan, np.float32),
        "n_constituents": to_numpy(n_cons),
    }


def truth_of(jets: ak.Array) -> np.ndarray | None:
    return to_numpy(jets.truth_match, bool) if "truth_match" in ak.fields(jets) else None


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    jets, cons, event_index = link_constituents(chunk)
    P = options.max_particles
    n_cons = ak.num(cons, axis=1)
    cons = cons[:, :P]
    cf = ak.fields(cons)
    pdg = abs(cons.pdgId)

    def opt(name: str) -> ak.Array:
        return ak.values_astype(cons[name], np.float64) if name in cf else ak.zeros_like(cons.pt, dtype=np.float64)

    jet_e = jets.E
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = [
            cons.eta - jets.eta, cons.deltaphi(jets), np.log(cons.pt), np.log(cons.E),
            np.log(cons.pt / jets.pt), np.log(cons.E / jet_e), cons.deltaR(jets), cons.charge,
            pdg == 211, pdg == 130, pdg == 22, pdg == 11, pdg == 13,
            np.tanh(opt("d0")), opt("d0Err"), np.tanh(opt("dz")), opt("dzErr"),
        ]
        points = np.stack([pad_points(ak.values_astype(f, np.float64), P) for f in feats], axis=-1)
    mask = pad_points(ak.ones_like(cons.pt, dtype=bool), P, dtype=bool)
    p4 = np.stack([pad_points(cons.px, P), pad_points(cons.py, P), pad_points(cons.pz, P), pad_points(cons.E, P)], -1)
    return FeatureOutput(
        event_index=event_index,
        observers=jet_observers(jets, n_cons),
        points=points.astype(np.float32), points_mask=mask, points_p4=p4.astype(np.float32),
        truth_match=truth_of(jets),
    )
