"""Generator bookkeeping from the ``Runs`` tree: cross section, sum of weights, event count.

The dataset stage turns these into physics weights w = genWeight × σ × L / Σw, so
they must describe the *whole* input file, before any selection.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from dl4hep.io.schema import InputSchema

__all__ = ["read_run_info"]

log = logging.getLogger(__name__)


def read_run_info(path: str | Path, schema: InputSchema) -> dict[str, Any]:
    """Return ``{"cross_section_pb", "sum_weights", "n_events"}`` (None where the file lacks it).

    Several ``Runs`` entries (merged files) are summed; the cross section is averaged
    weighted by the event count of each entry.
    """
    info: dict[str, Any] = {"cross_section_pb": None, "sum_weights": None, "n_events": None}
    spec = schema.runs
    if spec is None:
        return info
    with uproot.open(path) as f:
        if spec.tree not in f:
            log.warning("%s has no '%s' tree: cross section and sum of weights unknown", path, spec.tree)
            return info
        tree = f[spec.tree]
        branches = {k: getattr(spec, k) for k in ("cross_section", "sum_weights", "n_events")}
        names = set(tree.keys())
        present = {k: b for k, b in branches.items() if b and b in names}
        for key, branch in branches.items():
            if branch and key not in present:
                log.warning("branch '%s' (runs.%s) not in tree '%s' of %s", branch, key, spec.tree, path)
        arrays = tree.arrays(list(present.values()), library="np") if present else {}
    if "sum_weights" in present:
        info["sum_weights"] = float(np.sum(arrays[present["sum_weights"]]))
    if "n_events" in present:
        info["n_events"] = int(np.sum(arrays[present["n_events"]]))
    if "cross_section" in present:
        xs = np.asarray(arrays[present["cross_section"]], np.float64)
        n = np.asarray(arrays[present["n_events"]], np.float64) if "n_events" in present else np.ones_like(xs)
        info["cross_section_pb"] = float(np.average(xs, weights=n)) if n.sum() > 0 else float(xs.mean())
    return info
