"""Event weights from the config: the nominal weight expression and named weight variations.

The nominal weight of an event is an expression over ``Events`` branches in the safe language of
:mod:`dl4hep.features.selection` (``genWeight * puWeight * L1PreFiringWeight_Nom``), set per task
(``weights.nominal``) or per sample (``samples.<s>.weight``); without one it is the input schema's
generator weight. Each variation of ``weights.variations`` gives one or more *members*, each a full
per-event weight in the same units as the nominal one:

* ``up``/``down`` (one or both): ``nominal * value``, or, with ``replaces: puWeight``, the nominal
  expression with ``puWeight`` bound to the value (pileup-style branches hold the whole varied
  factor, not a ratio). Members ``<name>_up``, ``<name>_down``.
* ``elements: LHEScaleWeight[0..8]`` (or ``PSWeight[0, 2]``): ``nominal * LHEScaleWeight[i]``
  (NanoAOD stores these as ratios ``w_var / w_nominal``). Members ``<name>_<i>``.

The generator weight (the schema's ``weight`` branch) is kept beside them: the dataset stage
normalises by its sum (CMS's ``genEventSumw``), negative weights included. Branches are read
through pseudo-collections named by the config key that uses them, so a branch a file lacks fails
the feature job before anything is written with the branch, the file and that key; an array
element beyond an event's length fails the same way.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from dl4hep.errors import ConfigError, DataError, did_you_mean
from dl4hep.features.base import to_numpy
from dl4hep.features.selection import Evaluator, is_function_name, parse_expression
from dl4hep.io.schema import CollectionSpec, InputSchema

__all__ = ["Member", "WeightPlan", "check_task_weights", "plan_weights"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ELEMENTS = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*([0-9\s,.]+)\]\s*$")


@dataclass(frozen=True)
class Member:
    """One varied weight: ``<group>_up``, ``<group>_down`` or ``<group>_<i>``."""

    name: str
    group: str
    where: str  # config key, named in errors
    tree: ast.Expression | None = None  # up/down expression
    replaces: str | None = None
    array: str | None = None  # array branch of an element member
    index: int | None = None


@dataclass
class WeightPlan:
    """What one sample's feature job reads and computes for its weights."""

    nominal: ast.Expression | None
    nominal_where: str
    members: list[Member] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def _scalar_keys(self) -> dict[str, set[str]]:
        """``{config key: branches}`` of the one-value-per-event branches the expressions name."""
        out: dict[str, set[str]] = {}
        if self.nominal is not None:
            out[self.nominal_where] = _names(self.nominal)
        for m in self.members:
            if m.tree is not None:
                out.setdefault(m.where, set()).update(
                    _names(m.tree) - ({m.replaces} if m.replaces else set())
                )
        return {k: v for k, v in out.items() if v}

    def _array_keys(self) -> dict[str, str]:
        return {m.where: m.array for m in self.members if m.array is not None}

    def needs(self) -> dict[str, dict[str, bool]]:
        """Reader needs: one pseudo-collection per config key (see :meth:`extend_schema`)."""
        out = {k: dict.fromkeys(sorted(v), True) for k, v in self._scalar_keys().items()}
        out.update({k: {b: True} for k, b in self._array_keys().items()})
        return out

    def extend_schema(self, schema: InputSchema) -> None:
        """Map every branch under a collection named by its config key (every flavour of a detecting schema)."""
        for flavour in list(schema.candidates.values()) or [schema]:
            for key, branches in self._scalar_keys().items():
                flavour.collections[key] = CollectionSpec(
                    counter=None, fields={b: b for b in branches}
                )
            for key, branch in self._array_keys().items():
                flavour.collections[key] = CollectionSpec(
                    counter=f"n{branch}", fields={branch: branch}
                )

    def evaluate(
        self, chunk: ak.Array, location: str
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(nominal, generator weight, {member: weight})``, float64 per event of ``chunk``.

        Raises:
            DataError: a non-finite nominal expression value is *not* an error (the dataset's
                ``nan_policy`` handles it); an array index beyond an event's length is, naming
                the branch, ``location`` and the config key.
        """
        gen = to_numpy(chunk["weight"], np.float64)
        if self.nominal is None:
            nominal = gen.copy()
        else:
            nominal = _ChunkWeights(chunk, self.nominal_where).value(self.nominal)
        out: dict[str, np.ndarray] = {}
        for m in self.members:
            if m.array is not None:
                out[m.name] = nominal * _element(chunk, m, location)
            elif m.replaces is not None:
                assert m.tree is not None and self.nominal is not None
                value = _ChunkWeights(chunk, m.where).value(m.tree)
                out[m.name] = _ChunkWeights(chunk, self.nominal_where, {m.replaces: value}).value(
                    self.nominal
                )
            else:
                assert m.tree is not None
                out[m.name] = nominal * _ChunkWeights(chunk, m.where).value(m.tree)
        return nominal, gen, out


class _ChunkWeights(Evaluator):
    """Evaluates a weight expression over the branches of one config key's pseudo-collection."""

    def __init__(
        self, chunk: ak.Array, key: str, bound: dict[str, np.ndarray] | None = None
    ) -> None:
        self.chunk, self.key, self.bound = chunk, key, bound or {}

    def value(self, tree: ast.Expression) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = np.asarray(self.evaluate(tree), dtype=np.float64)
        return np.broadcast_to(out, (len(self.chunk),)).copy()

    def name(self, name: str, ctx: Any) -> np.ndarray:
        if name in self.bound:
            return self.bound[name]
        return to_numpy(self.chunk[self.key][name], np.float64)


def _element(chunk: ak.Array, m: Member, location: str) -> np.ndarray:
    values = chunk[m.where][m.array]
    counts = ak.to_numpy(ak.num(values, axis=1))
    assert m.index is not None
    short = counts <= m.index
    if short.any():
        raise DataError(
            f"{m.where}: index {m.index} of branch '{m.array}' is out of range in {location}: "
            f"{int(short.sum())} event(s) hold only {int(counts[short].min())} element(s) (indices 0..{int(counts[short].min()) - 1})"
        )
    flat = to_numpy(ak.flatten(values, axis=1), np.float64)
    starts = np.cumsum(counts) - counts
    return flat[starts + m.index]


def _names(tree: ast.Expression) -> set[str]:
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not is_function_name(tree, n)
    }


def _parse(text: str, where: str) -> ast.Expression:
    return parse_expression(text, where=where, what="weight expression")


def _elements(text: str, where: str) -> tuple[str, list[int]]:
    """``'LHEScaleWeight[0..8]'`` -> ``('LHEScaleWeight', [0, ..., 8])``; ``'PSWeight[0, 2]'`` -> ``[0, 2]``."""
    match = _ELEMENTS.match(text)
    body = match.group(2).replace(" ", "") if match else ""
    if match and re.fullmatch(r"[0-9]+\.\.[0-9]+", body):
        lo, hi = (int(x) for x in body.split(".."))
        indices = list(range(lo, hi + 1))
    elif match and re.fullmatch(r"[0-9]+(,[0-9]+)*", body):
        indices = [int(x) for x in body.split(",")]
    else:
        indices = []
    if not indices or len(set(indices)) != len(indices):
        raise ConfigError(
            f"{where}: '{text}' is not an array branch with element indices; write "
            "'LHEScaleWeight[0..8]' (a range, first <= last) or 'PSWeight[0, 2]' (distinct indices)"
        )
    return match.group(1), indices  # type: ignore[union-attr]


def plan_weights(task_cfg: Any, sample: str, *, where: str) -> WeightPlan:
    """The weight plan of ``sample``: its nominal expression (sample's own, else the task's) and every member.

    ``where`` is the task's key path (``tasks.<task>``). Raises :class:`ConfigError` naming the key.
    """
    wcfg = task_cfg.weights
    scfg = task_cfg.samples[sample]
    collision_data = (
        getattr(scfg, "label", "") is None
    )  # label: null: no generator weights, no variations
    text, nwhere = (
        (scfg.weight, f"{where}.samples.{sample}.weight")
        if scfg.weight is not None or collision_data
        else (wcfg.nominal, f"{where}.weights.nominal")
    )
    nominal = _parse(text, nwhere) if text is not None else None
    plan = WeightPlan(nominal, nwhere)
    for gname, var in ({} if collision_data else wcfg.variations).items():
        gwhere = f"{where}.weights.variations.{gname}"
        if not _IDENT.match(gname):
            raise ConfigError(
                f"{gwhere}: variation name '{gname}' must be an identifier (letters, digits, _)"
            )
        members = _group_members(gname, var, gwhere, nominal, nwhere)
        plan.members += members
        kind = "elements" if var.elements is not None else "updown"
        envelope = [m.name for m in members if var.envelope is None or m.index in var.envelope]
        plan.groups[gname] = {
            "kind": kind,
            "members": [m.name for m in members],
            "envelope": envelope,
        }
    seen: set[str] = set()
    for m in plan.members:
        if m.name in seen:
            raise ConfigError(
                f"{m.where}: variation '{m.name}' is defined twice; rename one of the variations"
            )
        seen.add(m.name)
    return plan


def _group_members(
    gname: str, var: Any, gwhere: str, nominal: ast.Expression | None, nwhere: str
) -> list[Member]:
    if var.elements is not None:
        ewhere = f"{gwhere}.elements"
        branch, indices = _elements(var.elements, ewhere)
        extra = sorted(set(var.envelope or []) - set(indices))
        if extra:
            raise ConfigError(
                f"{gwhere}.envelope: indices {extra} are not among the elements {indices} of "
                f"'{var.elements}'"
            )
        return [Member(f"{gname}_{i}", gname, ewhere, array=branch, index=i) for i in indices]
    if var.replaces is not None:
        if nominal is None:
            raise ConfigError(
                f"{gwhere}.replaces: '{var.replaces}' replaces a name of the nominal weight "
                "expression, but none is set; set weights.nominal (or the sample's weight)"
            )
        used = _names(nominal)
        if var.replaces not in used:
            raise ConfigError(
                f"{gwhere}.replaces: '{var.replaces}' is not a name of the nominal weight expression "
                f"({nwhere}: names {sorted(used)})." + did_you_mean(var.replaces, used)
            )
    out = []
    for side in ("up", "down"):
        text = getattr(var, side)
        if text is not None:
            swhere = f"{gwhere}.{side}"
            out.append(
                Member(
                    f"{gname}_{side}",
                    gname,
                    swhere,
                    tree=_parse(text, swhere),
                    replaces=var.replaces,
                )
            )
    return out


def check_task_weights(task_cfg: Any, *, where: str) -> None:
    """Parse and cross-check every weight expression and variation of a task, for every sample."""
    for sample in task_cfg.samples:
        plan_weights(task_cfg, sample, where=where)
