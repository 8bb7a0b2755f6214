"""Chunked, validated reading of ntuples into awkward records keyed by logical names.

Feature sets declare what they need as ``{collection: {field: required}}``
(:data:`Needs`); :class:`ChunkReader` maps that through an :class:`InputSchema`
to branch names, checks the file before anything is computed or written, and
yields one awkward array per chunk (``uproot`` ``TTree.iterate`` with the
task's ``reading.step_size``), with fields

* ``run``, ``luminosityBlock``, ``event`` (int64, 0 where the schema has none),
  ``weight`` (float64, 1 where the schema has none);
* one field per collection: a jagged record ``chunk["jets"].pt`` for
  collections with a counter, a plain record (``chunk["met"].pt``) otherwise.
  Collections with ``pt, eta, phi`` and ``mass`` (or ``energy``) are
  ``vector`` ``Momentum4D`` records, so ``chunk["jets"].px`` and
  ``(a + b).mass`` work.

Only the branches the feature sets need are read; memory is bounded by
``step_size``. Why not coffea NanoEvents for the main path: see
docs/physics.md ("Reading"): the schema-driven reader covers generated,
NanoAOD, PFNano and flat trees with one code path and does not need
``FatJet_nConstituents`` for the PFNano links.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import vector

from dl4hep.errors import (
    BranchNotFoundError,
    ConfigError,
    Dl4hepError,
    InputFileError,
    did_you_mean,
)
from dl4hep.io.schema import InputSchema

__all__ = ["ChunkReader", "Needs", "expand_input", "merge_needs"]

vector.register_awkward()

#: ``{collection: {field: required}}``; optional fields are read when the schema maps them.
Needs = Mapping[str, Mapping[str, bool]]

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


def expand_input(path: str | Path) -> Path:
    """Resolve one input file (a path or a glob matching exactly one file)."""
    text = str(path)
    if any(c in text for c in "*?["):
        matches = sorted(glob.glob(text))
        if not matches:
            raise InputFileError(f"input glob '{text}' matches no file; check the path or the samples' files: entry")
        if len(matches) > 1:
            raise InputFileError(
                f"input glob '{text}' matches {len(matches)} files ({matches[:3]}...); "
                "dl4hep features writes one output per input file: give one file"
            )
        return Path(matches[0])
    p = Path(text)
    if not p.exists():
        parent = p.parent if p.parent.exists() else None
        hint = ""
        if parent is not None:
            hint = did_you_mean(p.name, [q.name for q in parent.iterdir()])
        raise InputFileError(f"input file {p} does not exist.{hint}")
    if not p.is_file():
        raise InputFileError(f"input {p} is not a file")
    return p


@dataclass
class _Column:
    collection: str | None  # None: event-level (run, event, weight)
    field: str
    branch: str


@dataclass
class ChunkReader:
    """Open and validate one ROOT file; iterate over chunks of logical records.

    Args:
        path: the ntuple (a single file; see :func:`expand_input`).
        schema: the input schema mapping logical names to branches.
        needs: what the feature sets read, ``{collection: {field: required}}``.
        step_size: entries per chunk.
        entry_stop: read at most this many entries.

    Raises:
        InputFileError: missing, corrupt, truncated or non-ROOT file.
        BranchNotFoundError: missing tree or branch (nearest names, and which schema key asked).
        ConfigError: the schema lacks a collection/field a feature set requires.
        InputFileError: a field of a counter collection that is not jagged (or the reverse).
    """

    path: Path
    schema: InputSchema
    needs: Needs
    step_size: int = 50_000
    entry_stop: int | None = None
    columns: list[_Column] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.path = expand_input(self.path)
        self._file = _open_root(self.path)
        self._tree = self._get_tree()
        self._plan()
        self._check_baskets()

    # ------------------------------------------------------------------ checks
    def _get_tree(self) -> uproot.TTree:
        name = self.schema.tree
        try:
            trees = {
                k.split(";")[0] for k, c in self._file.classnames(recursive=True).items() if c.startswith("TTree")
            }
        except Exception as err:  # corrupt directory
            raise InputFileError(f"cannot list the contents of {self.path} (corrupt ROOT file?): {err}") from err
        if not trees:
            raise InputFileError(
                f"{self.path} contains no TTree (corrupt file, or not an ntuple); "
                f"`dl4hep inspect {self.path}` lists its contents"
            )
        if name not in trees:
            raise BranchNotFoundError(
                f"tree '{name}' not found in {self.path}; trees are {sorted(trees)}."
                + did_you_mean(name, trees)
                + f" The tree is set by 'tree:' in {self.schema.source}; `dl4hep inspect {self.path}` lists trees."
            )
        try:
            tree = self._file[name]
        except Exception as err:
            raise InputFileError(f"cannot read tree '{name}' of {self.path} (corrupt file?): {err}") from err
        return tree

    def _branch_missing(self, branch: str, key: str) -> BranchNotFoundError:
        return BranchNotFoundError(
            f"branch '{branch}' not found in tree '{self.schema.tree}' of {self.path}."
            + did_you_mean(branch, self._tree.keys())
            + f" Requested by {self.schema.source} ({key}); `dl4hep inspect {self.path}` lists branches."
        )

    def _plan(self) -> None:
        s = self.schema
        keys = set(self._tree.keys())
        event_level = {
            "run": (s.event_id.run, "event_id.run"),
            "luminosityBlock": (s.event_id.luminosityBlock, "event_id.luminosityBlock"),
            "event": (s.event_id.event, "event_id.event"),
            "weight": (s.weight, "weight"),
        }
        for logical, (branch, key) in event_level.items():
            if branch is None:
                continue
            if branch not in keys:
                raise self._branch_missing(branch, key)
            self._check_shape(branch, key, jagged=False)
            self.columns.append(_Column(None, logical, branch))
        for coll, fields in self.needs.items():
            spec = s.collection(coll, where="the task's feature sets")
            for fname, required in fields.items():
                branch = spec.fields.get(fname)
                key = f"{coll}.{fname}"
                if branch is None:
                    if required:
                        raise ConfigError(
                            f"input schema {s.source} maps no branch for '{key}', which the task's feature sets "
                            f"need; fields of '{coll}' are {sorted(spec.fields)}."
                            + did_you_mean(fname, spec.fields)
                            + f" Add '{fname}: <branch>' under collections.{coll}.fields."
                        )
                    continue
                if branch not in keys:
                    raise self._branch_missing(branch, key)
                self._check_shape(branch, key, jagged=spec.counter is not None)
                self.columns.append(_Column(coll, fname, branch))

    def _check_shape(self, branch: str, key: str, *, jagged: bool) -> None:
        interp = self._tree[branch].interpretation
        is_jagged = isinstance(interp, (uproot.interpretation.jagged.AsJagged, uproot.interpretation.objects.AsObjects))
        if jagged and not is_jagged:
            raise InputFileError(
                f"branch '{branch}' in tree '{self.schema.tree}' of {self.path} holds one value per entry "
                f"({self._tree[branch].typename}), but {self.schema.source} ({key}) belongs to a collection with a "
                "counter, which needs a variable-length branch. Remove 'counter:' for one-value-per-entry "
                "collections or point the field at the jagged branch."
            )
        if not jagged and is_jagged:
            raise InputFileError(
                f"branch '{branch}' in tree '{self.schema.tree}' of {self.path} is variable-length "
                f"({self._tree[branch].typename}), but {self.schema.source} ({key}) expects one value per entry. "
                "Add 'counter:' to the collection in the schema."
            )

    def _check_baskets(self) -> None:
        """Detect truncated files before reading: every basket must lie inside the file."""
        try:
            size = self._file.file.source.num_bytes
        except Exception:  # pragma: no cover - remote sources without a size
            return
        if size is None:
            return
        for col in self.columns:
            br = self._tree[col.branch]
            seeks = br.member("fBasketSeek")[: br.num_baskets]
            for i, seek in enumerate(seeks):
                end = int(seek) + int(br.basket_compressed_bytes(i))
                if end > size:
                    raise InputFileError(
                        f"{self.path} is truncated: basket {i} of branch '{col.branch}' in tree "
                        f"'{self.schema.tree}' ends at byte {end} but the file has {size} bytes. "
                        "Re-copy or regenerate the file."
                    )

    # ------------------------------------------------------------------ reading
    @property
    def num_entries(self) -> int:
        n = int(self._tree.num_entries)
        return min(n, self.entry_stop) if self.entry_stop is not None else n

    @property
    def branches(self) -> list[str]:
        return sorted({c.branch for c in self.columns})

    @property
    def num_chunks(self) -> int:
        return max(1, -(-self.num_entries // self.step_size)) if self.num_entries else 0

    def __iter__(self) -> Iterator[ak.Array]:
        if self.num_entries == 0:
            return
        try:
            for raw in self._tree.iterate(
                self.branches, step_size=self.step_size, entry_stop=self.entry_stop, library="ak", how=dict
            ):
                yield self._logical(raw)
        except Dl4hepError:
            raise
        except Exception as err:
            raise InputFileError(
                f"cannot read branches {self.branches} of tree '{self.schema.tree}' in {self.path} "
                f"(corrupt or truncated file?): {type(err).__name__}: {err}"
            ) from err

    def read_all(self) -> ak.Array:
        """Whole file as one logical record (small files and tests only)."""
        parts = list(self)
        if not parts:
            return ak.Array([])
        return parts[0] if len(parts) == 1 else ak.concatenate(parts)

    def _logical(self, raw: dict[str, ak.Array]) -> ak.Array:
        n = len(next(iter(raw.values()))) if raw else 0
        top: dict[str, ak.Array] = {}
        for logical in ("run", "luminosityBlock", "event"):
            col = next((c for c in self.columns if c.collection is None and c.field == logical), None)
            top[logical] = (
                ak.values_astype(raw[col.branch], np.int64) if col else ak.Array(np.zeros(n, dtype=np.int64))
            )
        wcol = next((c for c in self.columns if c.collection is None and c.field == "weight"), None)
        top["weight"] = ak.values_astype(raw[wcol.branch], np.float64) if wcol else ak.Array(np.ones(n))
        by_coll: dict[str, dict[str, ak.Array]] = {}
        for c in self.columns:
            if c.collection is not None:
                by_coll.setdefault(c.collection, {})[c.field] = raw[c.branch]
        for coll, fields in by_coll.items():
            has_p4 = all(f in fields for f in _P4_BASE) and ("mass" in fields or "energy" in fields)
            name = "Momentum4D" if has_p4 else None
            jagged = self.schema.collections[coll].counter is not None
            rec = ak.zip(fields, with_name=name) if jagged else ak.zip(fields, with_name=name, depth_limit=1)
            top[coll] = rec
        return ak.zip(top, depth_limit=1)


def _open_root(path: Path) -> uproot.ReadOnlyDirectory:
    try:
        return uproot.open(path)
    except FileNotFoundError as err:
        raise InputFileError(f"input file {path} does not exist") from err
    except Exception as err:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        what = "not a ROOT file (no 'root' magic bytes)" if magic != b"root" else "corrupt or truncated ROOT file"
        raise InputFileError(
            f"cannot open {path}: {what}; uproot said {type(err).__name__}: {str(err).splitlines()[0]}"
        ) from err
