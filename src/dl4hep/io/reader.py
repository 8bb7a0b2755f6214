"""Chunked, validated reading of ntuples into awkward records keyed by logical names.

Feature sets declare what they need as ``{collection: {field: required}}``
(:data:`Needs`); :class:`ChunkReader` maps that through an :class:`InputSchema`
to branch names, checks every input file before anything is computed or written,
and yields one awkward array per chunk (``iterate`` with the task's
``reading.step_size``; a chunk never spans two files), with fields

* ``run``, ``luminosityBlock``, ``event`` (int64, 0 where the schema has none),
  ``weight`` (float64, 1 where the schema has none);
* one field per collection: a jagged record ``chunk["jets"].pt`` for
  collections with a counter, a plain record (``chunk["met"].pt``) otherwise.
  Collections with ``pt, eta, phi`` and ``mass`` (or ``energy``) are
  ``vector`` ``Momentum4D`` records, so ``chunk["jets"].px`` and
  ``(a + b).mass`` work.

Inputs are locations (:mod:`dl4hep.io.locations`): local files, globs, ``root://`` or
``https://`` URLs, ``@list`` files, or a sequence of them, read one after the other. ``Events``
may be a TTree or an RNTuple (:mod:`dl4hep.io.ntuples`); a detecting schema (``input: nanoaod``)
is resolved per file. NaN and inf in the floating-point branches read are counted per file and
branch (:attr:`ChunkReader.nonfinite`) and logged as a warning naming both.

Only the branches the feature sets need are read; memory is bounded by
``step_size``. Why not coffea NanoEvents for the main path: see
docs/physics.md ("Reading"): the schema-driven reader covers generated,
NanoAOD, PFNano and flat trees with one code path and does not need
``FatJet_nConstituents`` for the PFNano links.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import vector

from dl4hep.errors import (
    BranchNotFoundError,
    ConfigError,
    Dl4hepError,
    InputFileError,
    did_you_mean,
)
from dl4hep.io import ntuples
from dl4hep.io.locations import expand_entries, expand_entry, is_remote, open_root, remote_error
from dl4hep.io.schema import InputSchema

__all__ = ["ChunkReader", "Needs", "expand_input", "expand_inputs", "logical_record", "merge_needs"]

log = logging.getLogger(__name__)

vector.register_awkward()

#: ``{collection: {field: required}}``; optional fields are read when the schema maps them.
Needs = Mapping[str, Mapping[str, bool]]

#: What a reader accepts as input: one entry (path, glob, URL, ``@list``) or several.
Inputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

_P4_BASE = ("pt", "eta", "phi")


def merge_needs(*needs: Needs) -> dict[str, dict[str, bool]]:
    """Union of several feature sets' needs (a field is required if any set requires it)."""
    out: dict[str, dict[str, bool]] = {}
    for n in needs:
        for coll, fields in n.items():
            slot = out.setdefault(coll, {})
            for f, req in fields.items():
                slot[f] = slot.get(f, False) or bool(req)
    return out


def expand_inputs(inputs: Inputs) -> list[str]:
    """Locations named by one entry or a sequence of entries (see :mod:`dl4hep.io.locations`)."""
    entries = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    return expand_entries(entries, where="input ")


def expand_input(path: str | os.PathLike[str]) -> str:
    """Resolve one input file (a path, URL, or a glob/list naming exactly one file)."""
    found = expand_entry(path, where="input ")
    if len(found) > 1:
        raise InputFileError(
            f"input '{path}' names {len(found)} files ({found[:3]}...); this command reads one file"
        )
    return found[0]


@dataclass
class _Column:
    collection: str | None  # None: event-level (run, event, weight)
    field: str
    branch: str  # the schema's branch name (named in messages and the NaN report)
    column: str  # where it is in the file: the branch, or Coll.field in an RNTuple collection


@dataclass
class _Source:
    """One validated input: the schema of its flavour, the open ntuple and the columns to read."""

    location: str
    schema: InputSchema
    file: Any
    tree: Any
    columns: list[_Column]


def _open_source(location: str, schema: InputSchema, needs: Needs) -> _Source:
    """Open, detect the flavour, and check one input against what the feature sets need."""
    file = open_root(location)
    found = ntuples.list_ntuples(file, location)
    tree = _get_tree(file, found, schema, location)
    names = set(ntuples.keys(tree))
    concrete = schema.resolve(names, location)
    if concrete.tree != schema.tree:
        tree = _get_tree(file, found, concrete, location)
        names = set(ntuples.keys(tree))
    columns = _plan_columns(tree, names, concrete, needs, location)
    if not ntuples.is_rntuple(tree):
        _check_baskets(file, tree, columns, location, concrete.tree)
    return _Source(location, concrete, file, tree, columns)


def _get_tree(file: Any, found: dict[str, str], schema: InputSchema, location: str) -> Any:
    name = schema.tree
    if not found:
        raise InputFileError(
            f"{location} contains no TTree or RNTuple (corrupt file, or not an ntuple); "
            f"`dl4hep inspect {location}` lists its contents"
        )
    if name not in found:
        raise BranchNotFoundError(
            f"tree '{name}' not found in {location}; trees are {sorted(found)}."
            + did_you_mean(name, found)
            + f" The tree is set by 'tree:' in {schema.source}; `dl4hep inspect {location}` lists trees."
        )
    try:
        return file[name]
    except Exception as err:
        raise InputFileError(f"cannot read {found[name]} '{name}' of {location} (corrupt file?): {err}") from err


def _branch_missing(tree: Any, schema: InputSchema, location: str, branch: str, key: str) -> BranchNotFoundError:
    return BranchNotFoundError(
        f"branch '{branch}' not found in tree '{schema.tree}' of {location}."
        + did_you_mean(branch, ntuples.keys(tree))
        + (f" Requested by the config key {key.rsplit('.', 1)[0]}" if key.startswith("tasks.")  # weight expressions
           else f" Requested by {schema.source} ({key})")
        + f"; `dl4hep inspect {location}` lists branches."
    )


def _plan_columns(tree: Any, names: set[str], s: InputSchema, needs: Needs, location: str) -> list[_Column]:
    """Map the event identity, the weight and every needed field to a column of ``tree``."""
    wanted: list[tuple[str | None, str, str, str, bool, bool]] = [  # (collection, field, branch, key, jagged, required)
        (None, logical, branch, key, False, True)
        for logical, branch, key in (
            ("run", s.event_id.run, "event_id.run"),
            ("luminosityBlock", s.event_id.luminosityBlock, "event_id.luminosityBlock"),
            ("event", s.event_id.event, "event_id.event"),
            ("weight", s.weight, "weight"),
        )
        if branch is not None
    ]
    for coll, fields in needs.items():
        spec = s.collection(coll, where="the task's feature sets")
        for fname, required in fields.items():
            branch = spec.fields.get(fname)
            if branch is None:
                if required:
                    raise ConfigError(
                        f"input schema {s.source} maps no branch for '{coll}.{fname}', which the task's feature "
                        f"sets need; fields of '{coll}' are {sorted(spec.fields)}."
                        + did_you_mean(fname, spec.fields)
                        + f" Add '{fname}: <branch>' under collections.{coll}.fields."
                    )
                continue
            wanted.append((coll, fname, branch, f"{coll}.{fname}", spec.counter is not None, required))
    columns = []
    for coll, fname, branch, key, jagged, required in wanted:
        column = ntuples.field_name(tree, branch, names)
        if column is None and not required:
            log.warning("%s has no branch '%s' for the optional field %s; the features that use it are NaN",
                        location, branch, key)
            continue
        if column is None and key == "weight" and is_collision_data(names):
            log.info("%s has no generator weight '%s' and no generator branches: collision data, weight 1",
                     location, branch)
            continue
        if column is None:
            raise _branch_missing(tree, s, location, branch, key)
        _check_shape(tree, s, location, column, key, jagged=jagged)
        columns.append(_Column(coll, fname, branch, column))
    return columns


#: branch-name prefixes only simulation carries (NanoAOD: genWeight, GenPart_*, Generator_*, LHE*, PSWeight)
_GENERATOR_PREFIXES = ("gen", "Gen", "LHE", "PSWeight", "Pileup_nTrueInt")


def is_collision_data(names: set[str]) -> bool:
    """True when a file carries no generator information at all (recorded collisions): such a file
    has no generator weight, and every event counts once (weight 1). A simulated file that merely lacks
    its weight branch still has GenPart/Generator branches and keeps the missing-branch error."""
    return not any(n.startswith(_GENERATOR_PREFIXES) for n in names)


def _check_shape(tree: Any, s: InputSchema, location: str, column: str, key: str, *, jagged: bool) -> None:
    is_jagged = ntuples.is_jagged(tree, column)
    where = f"branch '{column}' in tree '{s.tree}' of {location}"
    if jagged and not is_jagged:
        raise InputFileError(
            f"{where} holds one value per entry ({ntuples.typename(tree, column)}), but {s.source} ({key}) belongs "
            "to a collection with a counter, which needs a variable-length branch. Remove 'counter:' for "
            "one-value-per-entry collections or point the field at the jagged branch."
        )
    if not jagged and is_jagged:
        raise InputFileError(
            f"{where} is variable-length ({ntuples.typename(tree, column)}), but {s.source} ({key}) expects one "
            "value per entry. Add 'counter:' to the collection in the schema."
        )


def _check_baskets(file: Any, tree: Any, columns: list[_Column], location: str, tree_name: str) -> None:
    """Detect truncated TTree files before reading: every basket must lie inside the file."""
    try:
        size = file.file.source.num_bytes
    except Exception:  # pragma: no cover - remote sources without a size
        return
    if size is None:
        return
    for col in columns:
        br = tree[col.column]
        seeks = br.member("fBasketSeek")[: br.num_baskets]
        for i, seek in enumerate(seeks):
            end = int(seek) + int(br.basket_compressed_bytes(i))
            if end > size:
                raise InputFileError(
                    f"{location} is truncated: basket {i} of branch '{col.column}' in tree '{tree_name}' ends at "
                    f"byte {end} but the file has {size} bytes. Re-copy or regenerate the file."
                )


@dataclass
class ChunkReader:
    """Open and validate input files; iterate over chunks of logical records, file after file.

    Args:
        path: one entry or a sequence of entries: local paths, globs, ``root://``/``https://``
            URLs, ``@list`` files (see :mod:`dl4hep.io.locations`). After construction it holds
            the expanded location (a string) or, for several files, the list of locations.
        schema: the input schema mapping logical names to branches (may be a detecting one).
        needs: what the feature sets read, ``{collection: {field: required}}``.
        step_size: entries per chunk.
        entry_stop: read at most this many entries of each file.

    Attributes:
        inputs: every location read, in order.
        nonfinite: ``{location: {branch: {"nan": n, "inf": m}}}`` for the floating-point branches
            read that held NaN or inf (filled while iterating).

    Raises:
        InputFileError: missing, unreachable, corrupt, truncated or non-ROOT file; a flavour that
            a detecting schema cannot tell; a field of the wrong jaggedness.
        BranchNotFoundError: missing tree or branch (nearest names, and which schema key asked).
        ConfigError: the schema lacks a collection/field a feature set requires.
    """

    path: Inputs
    schema: InputSchema
    needs: Needs
    step_size: int = 50_000
    entry_stop: int | None = None
    inputs: list[str] = field(init=False, default_factory=list)
    nonfinite: dict[str, dict[str, dict[str, int]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = expand_inputs(self.path)
        self._sources = [_open_source(loc, self.schema, self.needs) for loc in self.inputs]
        self.path = self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)
        self.schema.bind(self._sources[0].schema)

    # ------------------------------------------------------------------ description
    @property
    def columns(self) -> list[_Column]:
        """Columns of the first input (every input has the same logical columns)."""
        return self._sources[0].columns

    @property
    def input_schemas(self) -> dict[str, str]:
        """``{location: schema name}``: the flavour each input was read with."""
        return {src.location: src.schema.name for src in self._sources}

    def _entries(self, src: _Source) -> int:
        n = int(src.tree.num_entries)
        return min(n, self.entry_stop) if self.entry_stop is not None else n

    @property
    def num_entries(self) -> int:
        return sum(self._entries(src) for src in self._sources)

    @property
    def branches(self) -> list[str]:
        return sorted({c.branch for src in self._sources for c in src.columns})

    @property
    def num_chunks(self) -> int:
        return sum(-(-self._entries(src) // self.step_size) for src in self._sources)

    # ------------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[ak.Array]:
        for src in self._sources:
            self.schema.bind(src.schema)
            if self._entries(src) == 0:
                continue
            yield from self._read(src)
            self._report_nonfinite(src.location)

    def _read(self, src: _Source) -> Iterator[ak.Array]:
        names = sorted({c.column for c in src.columns})
        try:
            for raw in ntuples.iterate(src.tree, names, step_size=self.step_size, entry_stop=self.entry_stop):
                self._count_nonfinite(src, raw)
                yield self._logical(src, raw)
        except Dl4hepError:
            raise
        except OSError as err:
            if is_remote(src.location):
                raise remote_error(src.location, err) from err
            raise self._read_error(src, err) from err
        except Exception as err:
            raise self._read_error(src, err) from err

    def _read_error(self, src: _Source, err: Exception) -> InputFileError:
        return InputFileError(
            f"cannot read branches {sorted({c.branch for c in src.columns})} of tree '{src.schema.tree}' in "
            f"{src.location} (corrupt or truncated file?): {type(err).__name__}: {err}"
        )

    def read_all(self) -> ak.Array:
        """All inputs as one logical record (small files and tests only)."""
        parts = list(self)
        if not parts:
            return ak.Array([])
        return parts[0] if len(parts) == 1 else ak.concatenate(parts)

    # ------------------------------------------------------------------ NaN/inf bookkeeping
    def _count_nonfinite(self, src: _Source, raw: dict[str, ak.Array]) -> None:
        """Add the NaN and inf counts of each floating-point column of this chunk."""
        for col in {c.column: c for c in src.columns}.values():
            values = ak.to_numpy(ak.flatten(raw[col.column], axis=None))
            if values.dtype.kind != "f":
                continue
            n_bad = int(np.count_nonzero(~np.isfinite(values)))
            if n_bad:
                n_nan = int(np.count_nonzero(np.isnan(values)))
                slot = self.nonfinite.setdefault(src.location, {}).setdefault(col.branch, {"nan": 0, "inf": 0})
                slot["nan"] += n_nan
                slot["inf"] += n_bad - n_nan

    def _report_nonfinite(self, location: str) -> None:
        bad = self.nonfinite.get(location)
        if bad:
            per_branch = "; ".join(f"{b}: {v['nan']} NaN, {v['inf']} inf" for b, v in sorted(bad.items()))
            log.warning(
                "input %s: non-finite values in %d branch(es): %s. Features computed from them can be NaN/inf; "
                "the dataset stage counts and drops such rows (tasks.<task>.dataset.nan_policy)",
                location, len(bad), per_branch,
            )

    # ------------------------------------------------------------------ logical records
    def _logical(self, src: _Source, raw: dict[str, ak.Array]) -> ak.Array:
        return logical_record(src.schema, src.columns, raw)


def logical_record(schema: InputSchema, columns: Sequence[Any], raw: Mapping[str, ak.Array]) -> ak.Array:
    """The chunk record feature sets read, from ``raw`` arrays keyed by each column's ``.column``.

    ``columns`` have ``collection`` (None for run/luminosityBlock/event/weight), ``field`` and ``column``;
    also used by :mod:`dl4hep.coffea`, which takes the arrays from NanoEvents instead of a file.
    """
    n = len(next(iter(raw.values()))) if raw else 0
    top: dict[str, ak.Array] = {}
    src_columns = list(columns)
    event_cols = {c.field: c for c in src_columns if c.collection is None}
    for logical in ("run", "luminosityBlock", "event"):
        col = event_cols.get(logical)
        top[logical] = (
            ak.values_astype(raw[col.column], np.int64) if col else ak.Array(np.zeros(n, dtype=np.int64))
        )
    wcol = event_cols.get("weight")
    top["weight"] = ak.values_astype(raw[wcol.column], np.float64) if wcol else ak.Array(np.ones(n))
    by_coll: dict[str, dict[str, ak.Array]] = {}
    for c in src_columns:
        if c.collection is not None:
            by_coll.setdefault(c.collection, {})[c.field] = raw[c.column]
    for coll, fields in by_coll.items():
        has_p4 = all(f in fields for f in _P4_BASE) and ("mass" in fields or "energy" in fields)
        name = "Momentum4D" if has_p4 else None
        jagged = schema.collections[coll].counter is not None
        rec = ak.zip(fields, with_name=name) if jagged else ak.zip(fields, with_name=name, depth_limit=1)
        top[coll] = rec
    return ak.zip(top, depth_limit=1)

