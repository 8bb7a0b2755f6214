"""The ``features`` stage: one ntuple in, one parquet of feature rows out (``dl4hep features``).

Entry: :func:`build_features` (``from dl4hep.features import build_features``; imported on first use).
Input: one ntuple location of a task's sample (``results/ntuples/<task>/<sample>/<part>.root``,
NanoAOD files, URLs or an ``@list``), read through the task's input schema
(``configs/inputs/<name>.yaml``). Output: ``results/features/<task>/<sample>/<part>.parquet`` with
its JSON description under :data:`dl4hep.contracts.FEATURE_META_KEY` and a provenance record.

Modules:

- :mod:`~dl4hep.features.api`: :func:`build_features` and :class:`~dl4hep.features.api.FeaturePlan`
  (the task's sets, their columns, compute and merge per chunk; reused by ``apply`` and coffea).
- :mod:`~dl4hep.features.protocol`: what a feature set defines (:class:`~dl4hep.features.protocol.FeatureSet`).
- :mod:`~dl4hep.features.registry`: the feature sets by name (discovered in ``sets/``), option checks.
- :mod:`~dl4hep.features.sets`: one module per feature set (``shower_shapes``, ``jet_point_cloud``, ...).
- Shared helpers: :mod:`~dl4hep.features.base` (``FeatureOutput``), :mod:`~dl4hep.features.jets`
  (FatJet constituents, jet observers), :mod:`~dl4hep.features.segments` (per-row segment ops),
  :mod:`~dl4hep.features.exclusive_kt` (compiled kT clustering), :mod:`~dl4hep.features.selection`
  (the selection language), :mod:`~dl4hep.features.event_weights` (weights and variations).

Adding a feature set: one module in ``sets/`` following the protocol, one task YAML naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dl4hep.features.api import build_features

__all__ = ["build_features"]


def __getattr__(name: str) -> Any:
    """Import the entry function on first use (it pulls in uproot, awkward and pyarrow)."""
    if name == "build_features":
        from dl4hep.features.api import build_features

        return build_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
