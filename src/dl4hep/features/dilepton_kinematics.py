r"""Event kinematics for two-lepton final states (one row per event, tabular).

Leptons: electrons and muons merged, kept if ``iso < constants.lepton_iso_max``
(relative isolation, from the input schema), sorted by decreasing pT. Jets:
sorted by pT; b-jets have ``btag > constants.btag_threshold``. All four-vector
arithmetic uses ``vector`` (Momentum4D records from the reader).

Tabular features (GeV, rad):

* ``l1_px, l1_py, l1_pz, l1_E, l2_…``; ``j1_…, j2_…``: the two leading leptons/jets.
* ``l1_mass, l2_mass, j1_mass, j2_mass``.
* ``n_jets``, ``n_bjets``, ``HT`` = Σ pT(jets), ``MET``.
* ``mll`` = :math:`|p_{\ell_1} + p_{\ell_2}|`, ``ptll``, ``dphi_ll`` (:math:`|\Delta\phi| \in [0, \pi]`),
  ``dR_ll`` = :math:`\sqrt{\Delta\eta^2 + \Delta\phi^2}`.
* ``angle_ll``, ``angle_jj``: 3D opening angles :math:`\arccos(\vec p_1\cdot\vec p_2 / |\vec p_1||\vec p_2|)`.
* ``mT``: transverse mass of the dilepton + MET system as in H→WW analyses
  (CMS, Phys. Lett. B 791 (2019) 96):
  :math:`m_T^{\ell\ell,\,\mathrm{MET}} = \sqrt{2\,p_T^{\ell\ell}\,E_T^{miss}\,(1 - \cos\Delta\phi(\ell\ell, \vec p_T^{miss}))}`.

Missing leptons give NaN (an event with < 2 leptons has NaN lepton features; the
task selection ``n_leptons >= 2`` removes it; NaN policy belongs to the dataset stage).
Missing jets give ``missing_jet_value`` (default 0) in ``j1_*``, ``j2_*`` and ``angle_jj``:
0- and 1-jet events are the signal-rich H→WW categories and ``n_jets`` tells the
model which entries are real.
Observers: ``n_leptons, n_jets, mll, pt`` (= pT_ll), ``met``, ``ht``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.features.base import FeatureOutput, to_numpy

NAME = "dilepton_kinematics"
BLOCKS = {"tabular"}

_P4 = ["px", "py", "pz", "E"]
TABULAR = (
    [f"{o}_{c}" for o in ("l1", "l2", "j1", "j2") for c in _P4]
    + ["l1_mass", "l2_mass", "j1_mass", "j2_mass", "n_jets", "n_bjets", "HT", "MET",
       "mll", "ptll", "dphi_ll", "dR_ll", "angle_ll", "angle_jj", "mT"]
)
OBSERVERS = ["n_leptons", "n_jets", "mll", "pt", "met", "ht"]
_LEP = {"pt": True, "eta": True, "phi": True, "mass": True, "iso": True}


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    missing_jet_value: float = Field(
        0.0,
        description="Value of j1_*/j2_*/angle_jj when the event has fewer jets (0-jet events are "
        "the most sensitive H->WW category, so they must not be dropped as NaN).",
    )


def needs(options: Options) -> dict[str, dict[str, bool]]:
    return {
        "electrons": dict(_LEP), "muons": dict(_LEP),
        "jets": {"pt": True, "eta": True, "phi": True, "mass": True, "btag": True},
        "met": {"pt": True, "phi": True},
    }


def names(options: Options) -> dict[str, Any]:
    return {"tabular": TABULAR, "points": [], "observers": OBSERVERS, "max_points": 0}


def _p4(coll: ak.Array) -> ak.Array:
    return ak.zip({"pt": coll.pt, "eta": coll.eta, "phi": coll.phi, "mass": coll.mass}, with_name="Momentum4D")


def _nth(objs: ak.Array, i: int) -> ak.Array:
    """i-th object per event, None where there are fewer."""
    return ak.pad_none(objs, i + 1, axis=1)[:, i]


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    iso_max = schema.constant("lepton_iso_max", 0.15) if schema is not None else 0.15
    btag_thr = schema.constant("btag_threshold", 0.5) if schema is not None else 0.5
    ele, mu, jets = chunk["electrons"], chunk["muons"], chunk["jets"]
    leps = ak.concatenate([_p4(ele[ele.iso < iso_max]), _p4(mu[mu.iso < iso_max])], axis=1)
    leps = leps[ak.argsort(leps.pt, axis=1, ascending=False)]
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    jp4 = _p4(jets)
    l1, l2, j1, j2 = _nth(leps, 0), _nth(leps, 1), _nth(jp4, 0), _nth(jp4, 1)
    ll = l1 + l2
    met = ak.zip({"pt": chunk["met"].pt, "phi": chunk["met"].phi}, with_name="Momentum2D")
    tab: dict[str, Any] = {}
    for name, obj in (("l1", l1), ("l2", l2), ("j1", j1), ("j2", j2)):
        tab[f"{name}_px"], tab[f"{name}_py"], tab[f"{name}_pz"], tab[f"{name}_E"] = obj.px, obj.py, obj.pz, obj.E
        tab[f"{name}_mass"] = obj.mass
    ptll = ll.pt
    dphi_met = ll.to_Vector2D().deltaphi(met) if len(ll) else ll.pt
    tab.update({
        "n_jets": ak.num(jets, axis=1),
        "n_bjets": ak.sum(jets.btag > btag_thr, axis=1),
        "HT": ak.sum(jets.pt, axis=1),
        "MET": chunk["met"].pt,
        "mll": ll.mass, "ptll": ptll,
        "dphi_ll": abs(l1.deltaphi(l2)), "dR_ll": l1.deltaR(l2),
        "angle_ll": l1.to_Vector3D().deltaangle(l2.to_Vector3D()),
        "angle_jj": j1.to_Vector3D().deltaangle(j2.to_Vector3D()),
        "mT": np.sqrt(np.maximum(0.0, 2 * ptll * chunk["met"].pt * (1 - np.cos(dphi_met)))),
    })
    tab = {k: to_numpy(v) for k, v in tab.items()}
    n_jet = to_numpy(ak.num(jp4, axis=1))
    for rank, prefix in ((1, "j1_"), (2, "j2_")):
        missing = n_jet < rank
        for key in [k for k in tab if k.startswith(prefix)]:
            tab[key][missing] = options.missing_jet_value
    tab["angle_jj"][n_jet < 2] = options.missing_jet_value
    n_lep = to_numpy(ak.num(leps, axis=1))
    obs = {"n_leptons": n_lep, "n_jets": tab["n_jets"], "mll": tab["mll"], "pt": tab["ptll"],
           "met": tab["MET"], "ht": tab["HT"]}
    return FeatureOutput(event_index=np.arange(len(chunk)), tabular=tab, observers=obs)
