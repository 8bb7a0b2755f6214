r"""Particle point clouds of large-R jets (one row per FatJet, event-major).

Constituents from the ``FatJetPFCands`` links (:mod:`dl4hep.features.jets`),
sorted by decreasing pT, truncated/zero-padded to ``max_particles`` (``points_mask``
marks real particles). Jet axis: the stored FatJet ``(pt, eta, phi, mass)``.

Per-particle features (ParticleNet/ParT convention; Qu & Gouskos, PRD 101 (2020) 056019;
Qu, Li, Qian, arXiv:2202.03772):

``deta`` = η − η_J, ``dphi`` = φ − φ_J wrapped to [−π, π), ``log_pt``, ``log_e``,
``log_pt_rel`` = ln(pT/pT_J), ``log_e_rel`` = ln(E/E_J), ``dR`` = √(Δη² + Δφ²),
``charge``, ``is_charged_hadron`` (|pdgId| = 211), ``is_neutral_hadron`` (130),
``is_photon`` (22), ``is_electron`` (11), ``is_muon`` (13), ``tanh_d0`` = tanh(d0 / mm),
``d0_err`` (mm), ``tanh_dz`` = tanh(dz / mm), ``dz_err`` (mm): the impact parameters in mm, as
JetClass (Delphes) stores them and ParT reads them (``JetClass_full.yaml``: ``np.tanh(part_d0val)``);
the stored branches are in cm, so the argument is 10 × the branch. All four are 0 for a candidate
without a track, i.e. where ``d0Err <= 0``: generated neutrals (0) and PFNano's ``-1`` sentinel,
which PFNano writes for neutrals and for charged candidates without track details; and 0 where the
schema has no impact parameters. The sign convention of d0 differs between the generator
(d0 = x sin φ − y cos φ, as Delphes) and CMS (dxy = −d0); no feature depends on it.
``points_p4`` = (px, py, pz, E) of each particle in GeV.

Observers: ``pt, eta, phi, mass, msoftdrop`` (NaN if not stored), ``n_constituents``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, cartesian, delta_phi
from dl4hep.features.jets import (
    CAND_FIELDS,
    JET_FIELDS,
    OBSERVERS,
    jet_observers,
    link_constituents,
    truth_of,
)
from dl4hep.features.protocol import Example
from dl4hep.features.segments import scatter_padded, slots, stack_columns

NAME = "jet_point_cloud"
BLOCKS = {"points"}
POINTS = [
    "deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "dR", "charge",
    "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon",
    "tanh_d0", "d0_err", "tanh_dz", "dz_err",
]
MM_PER_CM = 10.0
EXAMPLE = Example(input="generated", file="data/mini_top.root", options={"max_particles": 32})


class Options(BaseModel):
    """Point-cloud size (``feature_options.jet_point_cloud``)."""

    model_config = ConfigDict(extra="forbid")

    max_particles: int = Field(128, ge=1, description="Constituents kept per jet (highest pT first).")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    """FatJets, PF candidates (impact parameters optional) and the links between them."""
    return {"fatjets": dict(JET_FIELDS), "pfcands": dict(CAND_FIELDS),
            "fatjet_pfcands": {"jet_idx": True, "cand_idx": True}}


def names(options: Options) -> dict[str, Any]:
    """The per-particle :data:`POINTS`, the jet observers and ``max_particles`` slots."""
    return {"tabular": [], "points": POINTS, "observers": OBSERVERS, "max_points": options.max_particles}


def impact_parameters(d0: np.ndarray, d0_err: np.ndarray, dz: np.ndarray, dz_err: np.ndarray) -> list[np.ndarray]:
    """``tanh(d0), d0_err, tanh(dz), dz_err`` with lengths in mm from branches in cm; all 0 without a
    track (``d0_err <= 0``: generated neutrals, PFNano's −1 sentinel)."""
    track = d0_err > 0
    d0, d0_err, dz, dz_err = (np.where(track, x * MM_PER_CM, 0.0) for x in (d0, d0_err, dz, dz_err))
    return [np.tanh(d0), d0_err, np.tanh(dz), dz_err]


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per FatJet: its constituents' features scattered into ``max_particles`` padded slots."""
    jets, cons, event_index = link_constituents(chunk)
    P, n = options.max_particles, len(jets)
    n_cons = ak.to_numpy(ak.num(cons, axis=1)).astype(np.int64)
    row, slot = np.repeat(np.arange(n), n_cons), slots(n_cons)
    keep = slot < P  # constituents are sorted by decreasing pT
    h = slice(None) if keep.all() else np.flatnonzero(keep)
    row, slot = row[h], slot[h]
    flat = ak.flatten(cons)
    fields = ak.fields(flat)

    def col(name: str) -> np.ndarray:
        if name not in fields:
            return np.zeros(len(row))
        return ak.to_numpy(flat[name])[h].astype(np.float64)

    pt, eta, phi = col("pt"), col("eta"), col("phi")
    cp4 = cartesian(pt, eta, phi, col("mass"))
    jet = {k: ak.to_numpy(jets[k]).astype(np.float64) for k in ("pt", "eta", "phi", "mass")}
    jet_e = cartesian(jet["pt"], jet["eta"], jet["phi"], jet["mass"])["E"]
    deta = eta - jet["eta"][row]
    dphi = delta_phi(phi, jet["phi"][row])
    pdg = np.abs(col("pdgId"))
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = stack_columns([
            deta, dphi, np.log(pt), np.log(cp4["E"]), np.log(pt / jet["pt"][row]), np.log(cp4["E"] / jet_e[row]),
            np.hypot(deta, dphi), col("charge"), pdg == 211, pdg == 130, pdg == 22, pdg == 11, pdg == 13,
            *impact_parameters(col("d0"), col("d0Err"), col("dz"), col("dzErr")),
        ])
    return FeatureOutput(
        event_index=event_index,
        observers=jet_observers(jets, n_cons),
        points=scatter_padded(feats, row, slot, n, P),
        points_mask=scatter_padded(np.ones(len(row), bool), row, slot, n, P, bool),
        points_p4=scatter_padded(stack_columns(list(cp4.values())), row, slot, n, P),
        truth_match=truth_of(jets),
    )
