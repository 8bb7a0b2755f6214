r"""Jet-level substructure of large-R jets (tabular; rows as in ``jet_point_cloud``).

Features: ``mass``, ``pt``, ``eta`` (stored FatJet), ``n_constituents`` (linked PF
candidates), N-subjettiness (Thaler & Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268)

.. math:: \tau_N = \frac{\sum_i p_{T,i} \min_k \Delta R_{i,k}}{\sum_i p_{T,i}\, R_0},
          \quad \Delta R_{i,k}^2 = (y_i - y_k)^2 + \Delta\phi_{i,k}^2,
          \quad \beta = 1,\ R_0 = 0.8,

with the N axes the exclusive-kT subjets of the constituents (FastJet's ``kt_algorithm``,
R = 10, E scheme, ``exclusive_jets(N)``; computed by the compiled clustering of
:mod:`dl4hep.features.exclusive_kt`, which gives FastJet's axes bit for bit on the mini and
real files), and the ratios ``tau21`` = τ2/τ1, ``tau32`` = τ3/τ2. Jets with fewer than N
constituents get three ghost particles (pT = 1e-8 GeV, 1-3 mrad off the jet axis) so exclusive
clustering is defined; they do not change τ_N beyond 1e-8. Four-vectors, clustering, axes and
sums are one compiled pass over the flat constituents (:mod:`dl4hep.features.tau_n`), fed by
:func:`dl4hep.features.jets.link_columns` without awkward records.
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

from dl4hep.features.base import FeatureOutput, to_numpy
from dl4hep.features.jets import (
    CAND_FIELDS,
    JET_FIELDS,
    OBSERVERS,
    jet_observers,
    link_columns,
    truth_of,
)
from dl4hep.features.protocol import Example

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


def tau_flat(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray, counts: np.ndarray,
             jet_eta: np.ndarray, jet_phi: np.ndarray, n_max: int = 3, R0: float = 0.8) -> dict[int, np.ndarray]:
    """τ_1..τ_n_max of jets with ``counts`` flat jet-major constituents; returns ``{N: (jets,)}``.

    One compiled pass (:func:`dl4hep.features.tau_n.tau_n`: ghosts, exclusive-kT axes, sums).
    """
    from dl4hep.features.tau_n import tau_n  # numba: imported when first needed

    if len(counts) == 0:
        return {n: np.zeros(0) for n in range(1, n_max + 1)}
    tau = tau_n(*(np.ascontiguousarray(x) for x in (pt, eta, phi, mass)), np.asarray(counts, np.int64),
                np.ascontiguousarray(jet_eta), np.ascontiguousarray(jet_phi), n_max, float(R0))
    return {n: tau[n - 1] for n in range(1, n_max + 1)}


def nsubjettiness(cons: ak.Array, jets: ak.Array, n_max: int = 3, R0: float = 0.8) -> dict[int, np.ndarray]:
    """τ_1..τ_n_max for ``(jets, var)`` constituents with pt/eta/phi/mass; returns ``{N: (jets,)}``.

    ΔR in (rapidity, φ) for constituents and axes (Thaler & Van Tilburg, arXiv:1011.2268).
    """
    flat = ak.flatten(cons)
    cols = (ak.to_numpy(flat[k]).astype(np.float64) for k in ("pt", "eta", "phi", "mass"))
    return tau_flat(*cols, ak.to_numpy(ak.num(cons, axis=1)), to_numpy(jets["eta"], np.float64),
                    to_numpy(jets["phi"], np.float64), n_max, R0)


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per FatJet (rows as ``jet_point_cloud``): stored kinematics and tau_1..3 and ratios."""
    jets, c, n_cons, event_index = link_columns(chunk, ("pt", "eta", "phi", "mass"))
    tau = tau_flat(c["pt"], c["eta"], c["phi"], c["mass"], n_cons, to_numpy(jets["eta"]), to_numpy(jets["phi"]),
                   3, options.R0)
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
