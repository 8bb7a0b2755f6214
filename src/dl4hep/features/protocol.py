'''What a feature set defines: the :class:`FeatureSet` protocol, stated once.

A feature set is a module of :mod:`dl4hep.features.sets` (its file name is its name; the registry
discovers it, nothing else to edit) or any object registered with
``dl4hep.features.registry.FEATURE_SETS.register(name, obj)`` that has these attributes. A skeleton::

    """My set: one row per muon (cite the paper of every formula here)."""
    from typing import Any

    import awkward as ak
    from pydantic import BaseModel, ConfigDict

    from dl4hep.features.base import FeatureOutput, to_numpy
    from dl4hep.features.protocol import Example, FeatureNames

    NAME = "muon_id"                 # = the file name, muon_id.py
    BLOCKS = {"tabular"}             # dataset blocks it can fill: "tabular" and/or "points"
    EXAMPLE = Example(input="generated", file="data/mini_ttbar.root")   # what the tests run it on

    class Options(BaseModel):        # the task's feature_options.muon_id; unknown keys are errors
        model_config = ConfigDict(extra="forbid")

    def needs(options: Options) -> dict[str, dict[str, bool]]:
        """Logical fields read: {collection: {field: required}}."""
        return {"muons": {"pt": True, "eta": True, "iso": False}}

    def names(options: Options) -> FeatureNames:
        """Columns produced, in order."""
        return {"tabular": ["pt", "eta"], "points": [], "observers": ["pt"], "max_points": 0}

    def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
        """One chunk's rows (one per muon, event-major)."""
        mu = chunk["muons"]
        ev = ...                     # entry of the chunk of each row, columnar (np.repeat over ak.num)
        pt = to_numpy(ak.flatten(mu["pt"]))
        return FeatureOutput(event_index=ev, tabular={"pt": pt, ...}, observers={"pt": pt})

Optional: ``EVENT_LEVEL = True`` for a set giving one row per event (default: one row per object;
``dl4hep apply`` then needs no object index). Optional hooks, looked up with ``getattr``: ``blocks(options)`` (the blocks these options give,
when they depend on them), ``check(options, schema, *, where)`` (names in the options checked
against the task's input schema before any job runs) and ``extend_schema(options, schema)`` (raw
branches the options add to the schema before the file is read). The ``columns`` set uses all three.

Then name the set in a task YAML (``features: [muon_id]``, ``configs/tasks/``). The tests in
``tests/unit/test_feature_registry.py`` run every registered set on its :data:`EXAMPLE`.
'''

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

import awkward as ak
from pydantic import BaseModel

from dl4hep.features.base import FeatureOutput

__all__ = ["Example", "FeatureNames", "FeatureSet", "REQUIRED"]

#: Attributes every feature set defines (the optional hooks are ``blocks``, ``check``, ``extend_schema``;
#: ``EXAMPLE`` is required of the sets shipped in :mod:`dl4hep.features.sets`, whose tests run it).
REQUIRED = ("NAME", "BLOCKS", "Options", "needs", "names", "compute")


class FeatureNames(TypedDict):
    """What :meth:`FeatureSet.names` returns: the columns a set produces with given options."""

    tabular: list[str]  #: per-row features, in order (the ``tabular`` block)
    points: list[str]  #: per-point features, in order (the ``points`` block; empty if none)
    observers: list[str]  #: kept for plots and selections, never trained on
    max_points: int  #: padded points per row (0 without points)


@dataclass(frozen=True)
class Example:
    """A small input a set is meant for; the registry-driven tests compute the set on it.

    Attributes:
        input: shipped input schema name (``configs/inputs/<input>.yaml``).
        file: ntuple path relative to the repository root (``data/mini_*.root``, ``tests/data/*``).
        options: the set's options for this input (as in a task's ``feature_options``).
    """

    input: str
    file: str
    options: dict[str, Any] = field(default_factory=dict)


class FeatureSet(Protocol):
    """A feature set: named, with validated options, declaring what it reads and what it writes.

    Rows are objects (events, clusters, jets); every set combined in one task must produce the
    same rows. ``compute`` is columnar over the whole chunk and must not write anything.
    """

    NAME: str
    BLOCKS: set[str]
    Options: type[BaseModel]

    def needs(self, options: Any) -> dict[str, dict[str, bool]]:
        """Logical ``{collection: {field: required}}`` read (see :data:`dl4hep.io.reader.Needs`)."""
        ...

    def names(self, options: Any) -> FeatureNames:
        """The tabular, point and observer columns produced, and the padded point count."""
        ...

    def compute(self, chunk: ak.Array, options: Any, schema: Any) -> FeatureOutput:
        """The rows of one chunk read through ``schema`` (an :class:`~dl4hep.io.schema.InputSchema`)."""
        ...
