"""Generator bookkeeping from the ``Runs`` tree: cross section, sum of weights, event count.

The dataset stage turns these into physics weights w = genWeight × σ × L / Σw, so
they must describe the *whole* input, before any selection: for a feature job that reads
several files they are summed over all of them. ``Runs`` may be a TTree or an RNTuple.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

from dl4hep.io import ntuples
from dl4hep.io.locations import open_root, restore_url
from dl4hep.io.schema import InputSchema

__all__ = ["read_run_info"]

log = logging.getLogger(__name__)

_KEYS = ("cross_section", "sum_weights", "n_events")


def read_run_info(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], schema: InputSchema
) -> dict[str, Any]:
    """Return ``{"cross_section_pb", "sum_weights", "n_events", "inputs", "input_schemas"}``.

    ``path`` is one location or the list of locations a feature job reads (``ChunkReader.path``).
    Totals are None where any file lacks them. Several ``Runs`` entries and several files are
    summed; the cross section is averaged weighted by the event count of each entry.
    ``inputs`` names every file read and ``input_schemas`` the flavour each was read with, so the
    feature file records where its rows came from.
    """
    locations = [restore_url(path)] if isinstance(path, (str, os.PathLike)) else [restore_url(p) for p in path]
    per_file = [_file_runs(loc, schema.for_input(loc)) for loc in locations]
    info: dict[str, Any] = {"cross_section_pb": None, "sum_weights": None, "n_events": None}
    if per_file and all(f.get("sum_weights") is not None for f in per_file):
        info["sum_weights"] = float(sum(np.sum(f["sum_weights"]) for f in per_file))
    if per_file and all(f.get("n_events") is not None for f in per_file):
        info["n_events"] = int(sum(np.sum(f["n_events"]) for f in per_file))
    if per_file and all(f.get("cross_section") is not None for f in per_file):
        xs = np.concatenate([np.asarray(f["cross_section"], np.float64) for f in per_file])
        n = (np.concatenate([np.asarray(f["n_events"], np.float64) for f in per_file])
             if info["n_events"] is not None else np.ones_like(xs))
        info["cross_section_pb"] = float(np.average(xs, weights=n)) if n.sum() > 0 else float(xs.mean())
    info["inputs"] = locations
    info["input_schemas"] = [schema.for_input(loc).name for loc in locations]
    return info


def _file_runs(location: str, schema: InputSchema) -> dict[str, np.ndarray]:
    """``{key: per-entry values}`` of one file's Runs tree for the keys its schema maps and it has."""
    spec = schema.runs
    if spec is None:
        return {}
    with open_root(location) as f:
        found = ntuples.list_ntuples(f, location)
        if spec.tree not in found:
            log.warning("%s has no '%s' tree: cross section and sum of weights unknown", location, spec.tree)
            return {}
        tree = f[spec.tree]
        names = set(ntuples.keys(tree))
        present: dict[str, str] = {}
        for key in _KEYS:
            branch = getattr(spec, key)
            column = ntuples.field_name(tree, branch, names) if branch else None
            if column:
                present[key] = column
            elif branch:
                log.warning("branch '%s' (runs.%s) not in tree '%s' of %s", branch, key, spec.tree, location)
        if not present:
            return {}
        arrays = tree.arrays(sorted(set(present.values())), library="ak", how=dict)
        return {key: ak.to_numpy(ntuples.pick(arrays, col)) for key, col in present.items()}
