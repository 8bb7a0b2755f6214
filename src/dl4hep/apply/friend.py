"""A ROOT friend tree of scores, aligned entry by entry with the input's ``Events`` (uproot).

Entry *i* of the friend belongs to entry *i* of the input, so ROOT's ``AddFriend`` lines them up
without an index: ``events.AddFriend("dl4hep", "scores.root")`` then ``dl4hep_score_signal``
(or ``dl4hep.dl4hep_score_signal``) is usable in ``Draw``/RDataFrame. Branches:

* ``run``, ``luminosityBlock``, ``event``: copies of the input's, to check the alignment;
* ``dl4hep_score_<class>`` (float32) and ``dl4hep_selected`` (bool): one value per entry for
  event-level tasks; for object-level tasks one per object (counter ``ndl4hep``), aligned with
  the task's collection (every object, in stored order).

Entries or objects that fail the task's ``selection``, or whose features are not finite, get
``dl4hep_selected = False`` and the score :data:`FILL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from dl4hep.contracts import score_column

__all__ = ["FILL", "TREE", "FriendWriter"]

#: Score of entries/objects that were not scored (failed the selection or had non-finite features).
FILL = -1.0
#: Name of the friend tree.
TREE = "dl4hep"


class FriendWriter:
    """Writes one chunk of entries at a time (the first chunk creates the tree)."""

    def __init__(self, path: Path, classes: list[str], *, event_level: bool) -> None:
        import uproot

        self.file = uproot.recreate(path)
        self.classes, self.event_level = classes, event_level
        self.started = False

    def write(
        self,
        keys: dict[str, np.ndarray],
        counts: np.ndarray,
        scores: np.ndarray,
        selected: np.ndarray,
    ) -> None:
        """One chunk: ``keys`` per entry, ``counts`` rows per entry, ``scores`` (rows, C) and ``selected`` per row."""
        cols: dict[str, Any] = {k: np.asarray(v, np.int64) for k, v in keys.items()}
        per_row = {
            score_column(c): scores[:, i].astype(np.float32) for i, c in enumerate(self.classes)
        }
        per_row["selected"] = np.asarray(selected, bool)
        if self.event_level:
            entries = len(counts)
            has = counts > 0
            for name, v in per_row.items():
                full = np.full(entries, FILL if v.dtype != bool else False, dtype=v.dtype)
                full[has] = v
                cols[f"dl4hep_{name}"] = full
        else:
            cols["dl4hep"] = ak.zip({name: ak.unflatten(v, counts) for name, v in per_row.items()})
        if self.started:
            self.file[TREE].extend(cols)
        else:
            self.file[TREE] = cols
            self.started = True

    def close(self) -> None:
        self.file.close()
