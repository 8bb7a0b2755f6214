"""Photon identification variables stored in real CMS NanoAOD (tabular, one row per photon).

NanoAOD stores no ECAL hits, so the shower shapes come precomputed by CMS
reconstruction: ``Photon_sieie`` (full5x5 σ_iηiη, CMSSW ``EcalClusterTools::localCovariances``:
log weights about the energy-weighted mean, × 0.01745; the definition ``shower_shapes`` follows),
``Photon_r9`` (full5x5 E_3x3 / E_SC,raw), ``Photon_hoe`` (H/E), ``Photon_pfRelIso03_all``
(relative PF isolation in ΔR < 0.3), plus pT and η.

Branch names (``configs/inputs/nanoaod_v9.yaml``, ``_v12``, ``_v15``; ``input: nanoaod`` picks one
per file): all eight and ``nPhoton`` are in the Run-2 test file ``tests/data/nano_dy.root``. Run-3
eras write the total isolation as ``Photon_pfRelIso03_all_quadratic`` (quadratic EA·ρ² corrections;
CMSSW ``PhysicsTools/NanoAOD/python/photons_cff.py``, one recent version read), which the v12 and
v15 schemas map to ``iso``; ``sieie``, ``r9``, ``hoe`` and ``genPartFlav`` keep their names. The v12
test file has no Photon collection, so the v12 photon branches are checked on a reproduction
(docs/ntuple-schema.md), not on a real Run-3 file.

Tabular: ``sieie, r9, hoe, iso, pt, eta``. Observers: ``pt, eta, phi``.
Truth match: ``gen_flav == 1`` (prompt photon) where the schema maps ``Photon_genPartFlav``,
else True.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict

from dl4hep.features.base import FeatureOutput, to_numpy
from dl4hep.features.protocol import Example

NAME = "nanoaod_photon"
BLOCKS = {"tabular"}
TABULAR = ["sieie", "r9", "hoe", "iso", "pt", "eta"]
OBSERVERS = ["pt", "eta", "phi"]
EXAMPLE = Example(input="nanoaod", file="tests/data/nano_dy.root")


class Options(BaseModel):
    """No options: the set reads the stored NanoAOD photon variables as they are."""

    model_config = ConfigDict(extra="forbid")


def needs(options: Options) -> dict[str, dict[str, bool]]:
    """The photon identification variables; ``gen_flav`` (truth) where stored."""
    return {"photons": {**{f: True for f in ("pt", "eta", "phi", "sieie", "r9", "hoe", "iso")}, "gen_flav": False}}


def names(options: Options) -> dict[str, Any]:
    """The fixed columns :data:`TABULAR` and :data:`OBSERVERS`."""
    return {"tabular": TABULAR, "points": [], "observers": OBSERVERS, "max_points": 0}


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per photon, event-major; truth is ``genPartFlav == 1`` (prompt photon) if stored."""
    ph = chunk["photons"]
    n = ak.to_numpy(ak.num(ph, axis=1))
    flat = ak.flatten(ph)
    truth = to_numpy(flat.gen_flav == 1, bool) if "gen_flav" in ak.fields(flat) else None
    return FeatureOutput(
        event_index=np.repeat(np.arange(len(n)), n),
        tabular={k: to_numpy(flat[k]) for k in TABULAR},
        observers={k: to_numpy(flat[k]) for k in OBSERVERS},
        truth_match=truth,
    )
