r"""Feature columns declared in YAML (one row per event): inputs, observers, selection variables.

Each column is an expression in the safe language of :mod:`dl4hep.features.selection`
with object access (``objects=True``), evaluated on whole awkward/numpy arrays of a chunk:

* ``met.pt`` -- a field of a collection with one value per event (no counter);
* ``jets[0].pt`` -- the field of the i-th object of a collection in stored order (NanoAOD and
  the generator store objects by decreasing pT, so ``jets[0]`` is the leading jet). Where
  the event has no i-th object the column takes the declared ``fill`` (default NaN, which
  the dataset stage's ``nan_policy`` counts and drops);
* ``n(jets)``, ``n(jets, pt > 30 and abs(eta) < 2.4)`` -- objects per event, optionally
  those passing a cut written in the collection's fields (per-event values such as
  ``met.pt`` or other declared columns may appear in the cut; they apply to every object of the event);
* names of other declared columns (in any order; a cycle is an error);
* ``+ - * / **``, comparisons (0/1), ``and/or/not``, ``abs log sqrt min max``.

Fields are those of the task's input schema (``configs/inputs/<schema>.yaml``) plus the raw
branches declared under ``fields:`` (``jets: {pnet_b: Jet_btagPNetB}``; the pseudo-collection
``branches`` holds branches with one value per event: ``branches: {npv: PV_npvs}`` -> ``branches.npv``).
Every name is checked against the schema before any job (:func:`check`); a raw branch a file
lacks fails the feature job before anything is written, naming the branch and the nearest ones.

Each column declares ``use``: ``tabular`` (a model input), ``observer`` (selection,
reweighting, plots; not an input) or ``both``. Values are computed in float64 and stored as float32.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Literal

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dl4hep.errors import ConfigError, did_you_mean
from dl4hep.features.base import FeatureOutput, to_numpy
from dl4hep.features.protocol import Example
from dl4hep.features.selection import Evaluator, is_function_name, parse_expression
from dl4hep.io.schema import CollectionSpec, InputSchema

NAME = "columns"
BLOCKS = {"tabular"}
EVENT_LEVEL = True  # one row per event
EXAMPLE = Example(input="nanoaod", file="tests/data/nano_dy.root", options={"columns": {
    "n_jets": {"expr": "n(jets, pt > 30)", "use": "both"}, "jet1_pt": {"expr": "jets[0].pt", "use": "tabular", "fill": 0},
    "met": {"expr": "met.pt", "use": "observer"}}})

#: Pseudo-collection of the raw one-value-per-event branches declared under ``fields.branches``.
EVENT = "branches"  # not "event": the reader's chunk already has an event-number field
#: Logical field read for ``n(coll)`` without a cut: any mapped branch of the collection (see extend_schema).
_ANY = "_any_field"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ColumnSpec(BaseModel):
    """One declared column."""

    model_config = ConfigDict(extra="forbid")

    expr: str = Field(description="Expression, e.g. 'jets[0].pt', 'n(jets, pt > 30)', 'log(met.pt)'.")
    use: Literal["tabular", "observer", "both"] = Field(
        description="tabular: a model input; observer: selection, reweighting and plots only; both.")
    fill: float | None = Field(
        None, description="Value where an object the expression indexes (jets[1]) is absent; null: NaN.")


class Options(BaseModel):
    """``feature_options.columns``: raw branches to add to the schema and the declared columns."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Raw branches by collection: {jets: {pnet_b: Jet_btagPNetB}, branches: {npv: PV_npvs}}; "
        "the pseudo-collection 'branches' holds one-value-per-event branches (branches.npv).",
    )
    columns: dict[str, ColumnSpec] = Field(min_length=1, description="Declared columns by name, in order.")


@dataclass(frozen=True)
class Column:
    """A parsed column: its name, spec and checked expression tree."""

    name: str
    spec: ColumnSpec
    tree: ast.Expression
    others: tuple[str, ...]  # the other declared columns, which it may use


def names(options: Options) -> dict[str, Any]:
    """The declared columns, in order: ``use`` tabular/both are features, observer/both observers."""
    cols = options.columns
    return {"tabular": [k for k, c in cols.items() if c.use in ("tabular", "both")], "points": [],
            "observers": [k for k, c in cols.items() if c.use in ("observer", "both")], "max_points": 0}


def blocks(options: Options) -> set[str]:
    """``{"tabular"}`` when a column is a model input, else nothing (observer-only columns)."""
    return {"tabular"} if names(options)["tabular"] else set()


# ----------------------------------------------------------------------------- parsing and checks


def compile_columns(options: Options, *, where: str) -> list[Column]:
    """Parse every column and order them so that each comes after the columns it uses.

    Schema-free (collections and fields are checked by :func:`check`). A bare name is another
    declared column; inside ``n(coll, cut)`` it is a declared column if one has that name, else
    a field of ``coll``. Declaration order does not matter; a cycle is an error.
    """
    declared = list(options.columns)
    trees, deps = {}, {}
    for name, spec in options.columns.items():
        cwhere = f"{where}.columns.{name}"
        if not _IDENT.match(name):
            raise ConfigError(f"{cwhere}: column name '{name}' must be an identifier (letters, digits, _), "
                              "so that selections and other columns can use it")
        trees[name] = parse_expression(spec.expr, where=f"{cwhere}.expr", what=f"column '{name}'", objects=True)
        deps[name] = _column_names(trees[name], name, spec.expr, declared=declared, where=f"{cwhere}.expr")
    for coll, fields in options.fields.items():
        for alias in fields:
            if not _IDENT.match(alias):
                raise ConfigError(f"{where}.fields.{coll}.{alias}: field name '{alias}' must be an identifier")
    others = {n: tuple(d for d in declared if d != n) for n in declared}
    return [Column(n, options.columns[n], trees[n], others[n]) for n in _dependency_order(deps, where)]


def _column_names(tree: ast.Expression, name: str, text: str, *, declared: list[str], where: str) -> set[str]:
    """The declared columns ``tree`` uses; an undeclared bare name outside n() cuts is an error."""
    cut_names = {id(n) for call in _counts(tree) if len(call.args) == 2 for n in ast.walk(call.args[1])}
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or is_function_name(tree, node) or _is_object_base(tree, node):
            continue
        if node.id == name:
            raise ConfigError(f"{where}: column '{name}' uses itself")
        if node.id in declared:
            used.add(node.id)
        elif id(node) not in cut_names:
            others = [d for d in declared if d != name]
            raise ConfigError(
                f"{where}: unknown name '{node.id}' in column '{name}' ('{text}'); a bare name is another declared "
                f"column ({others}); write collection fields as met.pt, jets[0].pt or n(jets, ...)."
                + did_you_mean(node.id, others)
            )
    return used


def _dependency_order(deps: dict[str, set[str]], where: str) -> list[str]:
    """Columns ordered so each follows those it uses (declaration order among independent ones)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = path[path.index(n):] + [n]
            raise ConfigError(f"{where}.columns.{n}.expr: columns use each other in a cycle: {' -> '.join(cycle)}")
        state[n] = 1
        for d in sorted(deps[n]):
            visit(d, [*path, n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order


def _counts(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "n"]


def _is_object_base(tree: ast.AST, node: ast.Name) -> bool:
    """``jets`` in ``jets.pt``, ``jets[0]`` or ``n(jets, ...)``: a collection, not a column."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and n.value is node:
            return True
        if isinstance(n, ast.Subscript) and n.value is node:
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "n" and n.args[0] is node:
            return True
    return False


def check(options: Options, schema: InputSchema, *, where: str) -> None:
    """Check every collection and field the columns name against ``schema`` (each flavour of a detecting one).

    Raises:
        ConfigError: naming the column's key path, the unknown collection or field and the nearest names.
    """
    columns = compile_columns(options, where=where)
    flavours = list(schema.candidates.values()) or [schema]
    for flavour in flavours:
        for coll, fields in options.fields.items():
            if coll != EVENT and coll not in flavour.collections:
                raise ConfigError(f"{where}.fields.{coll}: input schema {flavour.source} has no collection '{coll}'; "
                                  f"collections are {sorted(flavour.collections)} (and '{EVENT}' for per-event "
                                  "branches)." + did_you_mean(coll, [*flavour.collections, EVENT]))
            clash = sorted(set(fields) & _schema_fields(flavour, coll))
            if clash:
                raise ConfigError(f"{where}.fields.{coll}: {clash} already mapped by {flavour.source}; "
                                  "use the schema's field or another name")
        colls = _collections(flavour, options)
        for col in columns:
            _check_objects(col, colls, source=flavour.source, where=f"{where}.columns.{col.name}.expr")


def _schema_fields(schema: InputSchema, coll: str) -> set[str]:
    spec = schema.collections.get(coll)
    return {f for f, b in spec.fields.items() if b is not None} if spec else set()


def _collections(schema: InputSchema, options: Options) -> dict[str, tuple[bool, set[str]]]:
    """``{collection: (has a counter, fields)}`` of the schema plus the declared raw fields."""
    out = {c: (spec.counter is not None, _schema_fields(schema, c)) for c, spec in schema.collections.items()}
    for coll, fields in options.fields.items():
        if coll == EVENT and coll not in out:
            out[coll] = (False, set())
        if coll in out:
            out[coll] = (out[coll][0], out[coll][1] | set(fields))
    return out


def _check_objects(col: Column, colls: dict[str, tuple[bool, set[str]]], *, source: str, where: str) -> None:
    text = col.spec.expr

    def fail(problem: str, hint: str = "") -> ConfigError:
        return ConfigError(f"{where}: {problem} in column '{col.name}' ('{text}'; input schema {source}).{hint}")

    def collection(name: str) -> tuple[bool, set[str]]:
        if name not in colls:
            raise fail(f"unknown collection '{name}'; collections are {sorted(colls)}", did_you_mean(name, colls))
        return colls[name]

    def field(coll: str, fname: str, fields: set[str]) -> None:
        if fname not in fields:
            raise fail(f"unknown field '{fname}' of '{coll}'; fields are {sorted(fields)}",
                       did_you_mean(fname, fields) + f" Declare a raw branch under fields.{coll}.")

    for node in ast.walk(col.tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            jagged, fields = collection(node.value.id)
            if jagged:
                raise fail(f"'{node.value.id}.{node.attr}' has one value per object; write {node.value.id}[0].{node.attr} "
                           f"or n({node.value.id}, ...)")
            field(node.value.id, node.attr, fields)
        elif isinstance(node, ast.Attribute):  # coll[i].field
            coll = node.value.value.id  # type: ignore[attr-defined]
            jagged, fields = collection(coll)
            if not jagged:
                raise fail(f"'{coll}' has one value per event, so it cannot be indexed; write {coll}.{node.attr}")
            field(coll, node.attr, fields)
    for call in _counts(col.tree):
        coll = call.args[0].id  # type: ignore[attr-defined]
        jagged, fields = collection(coll)
        if not jagged:
            raise fail(f"n({coll}) counts objects, but '{coll}' has one value per event")
        cut = call.args[1] if len(call.args) == 2 else None
        for node in ast.walk(cut) if cut is not None else ():
            if isinstance(node, ast.Name) and not is_function_name(cut, node) and not _is_object_base(cut, node) \
                    and node.id not in fields and node.id not in col.others:
                raise fail(f"unknown name '{node.id}' in the cut of n({coll}, ...); fields of '{coll}' are "
                           f"{sorted(fields)}, declared columns are {list(col.others)}",
                           did_you_mean(node.id, [*fields, *col.others]))


# ----------------------------------------------------------------------------- reading and computing


def needs(options: Options) -> dict[str, dict[str, bool]]:
    """Every ``coll.field`` the columns read (cut names that are not earlier columns are fields)."""
    out: dict[str, dict[str, bool]] = {}
    for col in compile_columns(options, where=f"feature_options.{NAME}"):
        for node in ast.walk(col.tree):
            if isinstance(node, ast.Attribute):
                base = node.value if isinstance(node.value, ast.Name) else node.value.value  # type: ignore[attr-defined]
                out.setdefault(base.id, {})[node.attr] = True
        for call in _counts(col.tree):
            coll = call.args[0].id  # type: ignore[attr-defined]
            out.setdefault(coll, {})[_ANY] = True
            cut = call.args[1] if len(call.args) == 2 else None
            for node in ast.walk(cut) if cut is not None else ():
                if isinstance(node, ast.Name) and not is_function_name(cut, node) \
                        and not _is_object_base(cut, node) and node.id not in col.others:
                    out[coll][node.id] = True
    return out


def extend_schema(options: Options, schema: InputSchema) -> None:
    """Add the declared raw branches (``fields``) to ``schema`` (every flavour of a detecting one).

    Also maps ``_any_field`` of each collection to one of its branches (``pt`` if mapped), which
    ``n(coll)`` reads for the object counts. Idempotent; the schema object is the feature job's own.
    """
    for flavour in list(schema.candidates.values()) or [schema]:
        for coll, fields in options.fields.items():
            if coll == EVENT and coll not in flavour.collections:
                flavour.collections[coll] = CollectionSpec(counter=None, fields={})
            flavour.collections[coll].fields.update(fields)
        for spec in flavour.collections.values():
            mapped = [b for f, b in spec.fields.items() if b is not None and f != _ANY]
            if mapped and spec.counter is not None:
                spec.fields[_ANY] = spec.fields.get("pt") or mapped[0]


class _ChunkEvaluator(Evaluator):
    """Evaluates column trees on one chunk; caches flat field arrays and object counts per collection."""

    def __init__(self, chunk: ak.Array) -> None:
        self.chunk, self.n = chunk, len(chunk)
        self.columns: dict[str, np.ndarray] = {}
        self.absent = np.zeros(self.n, bool)
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def _cached(self, key: tuple[str, str], make: Any) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def counts(self, coll: str) -> np.ndarray:
        return self._cached((coll, "#n"), lambda: ak.to_numpy(ak.num(self.chunk[coll], axis=1)).astype(np.int64))

    def starts(self, coll: str) -> np.ndarray:
        return self._cached((coll, "#start"), lambda: np.cumsum(self.counts(coll)) - self.counts(coll))

    def object_event(self, coll: str) -> np.ndarray:
        return self._cached((coll, "#event"), lambda: np.repeat(np.arange(self.n), self.counts(coll)))

    def flat(self, coll: str, field: str) -> np.ndarray:
        return self._cached((coll, field), lambda: to_numpy(ak.flatten(self.chunk[coll][field], axis=1), np.float64))

    def _in_ctx(self, per_event: np.ndarray, ctx: str | None) -> np.ndarray:
        """Per-event values, repeated for every object of ``ctx`` inside an ``n(ctx, cut)``."""
        return per_event if ctx is None else per_event[self.object_event(ctx)]

    def name(self, name: str, ctx: str | None) -> np.ndarray:
        if ctx is not None and name not in self.columns:
            return self.flat(ctx, name)
        return self._in_ctx(self.columns[name], ctx)

    def attribute(self, node: ast.Attribute, ctx: str | None) -> np.ndarray:
        if isinstance(node.value, ast.Name):
            coll = node.value.id
            values = self._cached((coll, node.attr), lambda: to_numpy(self.chunk[coll][node.attr], np.float64))
            return self._in_ctx(values, ctx)
        coll, i = node.value.value.id, node.value.slice.value  # type: ignore[attr-defined]
        has = self.counts(coll) > i
        self.absent |= ~has
        values = np.full(self.n, np.nan)
        values[has] = self.flat(coll, node.attr)[self.starts(coll)[has] + i]
        return self._in_ctx(values, ctx)

    def count(self, node: ast.Call, ctx: str | None) -> np.ndarray:
        coll = node.args[0].id  # type: ignore[attr-defined]
        if len(node.args) == 1:
            return self.counts(coll).astype(np.float64)
        n_obj = len(self.object_event(coll))
        keep = np.broadcast_to(np.asarray(self.evaluate(node.args[1], coll), bool), (n_obj,))
        return np.bincount(self.object_event(coll)[keep], minlength=self.n).astype(np.float64)


def evaluate_columns(chunk: ak.Array, options: Options) -> dict[str, np.ndarray]:
    """Every declared column of ``chunk`` as float64 ``(events,)``; absent objects give ``fill`` (or NaN)."""
    ev = _ChunkEvaluator(chunk)
    for col in compile_columns(options, where=f"feature_options.{NAME}"):
        ev.absent = np.zeros(ev.n, bool)
        with np.errstate(all="ignore"):
            values = np.asarray(ev.evaluate(col.tree), dtype=np.float64)
        values = np.broadcast_to(values, (ev.n,)).copy()
        values[ev.absent] = np.nan if col.spec.fill is None else col.spec.fill
        ev.columns[col.name] = values
    return ev.columns


def compute(chunk: ak.Array, options: Options, schema: Any) -> FeatureOutput:
    """One row per event: every declared column evaluated on the chunk (float32)."""
    values = evaluate_columns(chunk, options)
    n = names(options)
    return FeatureOutput(
        event_index=np.arange(len(chunk)),
        tabular={k: values[k].astype(np.float32) for k in n["tabular"]},
        observers={k: values[k].astype(np.float32) for k in n["observers"]},
    )
