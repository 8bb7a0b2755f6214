"""A small, safe expression language for row selections and declared feature columns.

``"pt > 500 and pt < 1000 and abs(eta) < 2"`` is parsed with :mod:`ast` and
evaluated on whole numpy columns by walking the tree; only these constructs are allowed:
names (observer or tabular feature names), numeric constants, comparisons
(chains too: ``500 < pt < 1000``), ``and``/``or``/``not``, ``+ - * / **``, unary
minus and the functions ``abs``, ``log``, ``sqrt`` (one argument) and ``min``, ``max``
(two or more arguments, element-wise). Nothing is ``eval``-ed.

The ``columns`` feature set (:mod:`dl4hep.features.sets.columns`) parses with ``objects=True``,
which also admits object access: ``met.pt`` (a field of a one-value-per-event collection),
``jets[0].pt`` (the field of the i-th object, i a non-negative integer) and ``n(jets)`` /
``n(jets, pt > 30)`` (objects per event, optionally passing a cut written in the
collection's fields). :class:`Evaluator` walks the generic part; subclasses resolve names
and object access.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

import numpy as np

from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["FUNCTIONS", "Evaluator", "Selection", "compile_selection", "parse_expression"]

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
           ast.Pow: np.power}
_CMPOPS = {
    ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Lt: np.less,
    ast.LtE: np.less_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
#: function name -> (numpy function, fewest arguments, most arguments or None for any)
FUNCTIONS: dict[str, tuple[Any, int, int | None]] = {
    "abs": (np.abs, 1, 1), "log": (np.log, 1, 1), "sqrt": (np.sqrt, 1, 1),
    "min": (np.minimum, 2, None), "max": (np.maximum, 2, None),
}
_COUNT = "n"  # n(collection[, cut]): only with objects=True
_BASE_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Compare, ast.Call, ast.Name, ast.Load, ast.Constant, *_BINOPS, *_CMPOPS,
)
_OBJECT_NODES = (ast.Attribute, ast.Subscript)
_HELP = "use names, numbers, comparisons, and/or/not, + - * / **, abs(), log(), sqrt(), min(), max()"
_OBJECT_HELP = "; objects as coll.field (one value per event), coll[i].field or n(coll[, cut])"


def _fail(where: str, what: str, text: str, problem: str, hint: str = "") -> ConfigError:
    return ConfigError(f"{where}: {problem} in {what} '{text}'" + (f".{hint}" if hint else ""))


def parse_expression(text: str, *, where: str, what: str = "selection", objects: bool = False) -> ast.Expression:
    """Parse ``text`` and check it against the whitelist; return the checked tree.

    Args:
        text: the expression.
        where: config key path named in errors.
        what: what the expression is ("selection", "column 'x'"), named in errors.
        objects: also admit ``coll.field``, ``coll[i].field`` and ``n(coll[, cut])``.

    Raises:
        ConfigError: a syntax error, a construct outside the whitelist, a non-numeric constant,
            an unknown function or one called with the wrong number of arguments.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: the {what} is empty; write an expression such as 'pt > 30'")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise _fail(where, what, text, f"cannot parse ({err.msg})") from None
    allowed = _BASE_NODES + (_OBJECT_NODES if objects else ())
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            hint = _HELP + (_OBJECT_HELP if objects else "")
            raise _fail(where, what, text, f"'{type(node).__name__}' is not allowed ({hint})")
        _check_node(node, tree, text, where=where, what=what, objects=objects)
    return tree


def _check_node(node: ast.AST, tree: ast.Expression, text: str, *, where: str, what: str, objects: bool) -> None:
    """Constants, calls and object access of one node (the node type is already whitelisted)."""
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
        raise _fail(where, what, text, f"only numeric constants are allowed, got {node.value!r}")
    if isinstance(node, ast.Call):
        _check_call(node, text, where=where, what=what, objects=objects)
    if isinstance(node, ast.Subscript) and not _is_attribute_base(tree, node):
        raise _fail(where, what, text, "an indexed object needs a field (write jets[0].pt, not jets[0])")
    if isinstance(node, ast.Subscript):
        index = node.slice
        if not (isinstance(index, ast.Constant) and type(index.value) is int and index.value >= 0) \
                or not isinstance(node.value, ast.Name):
            raise _fail(where, what, text, "an object index must be a collection name and a non-negative integer "
                        "(jets[0], jets[1], ...)")
    if isinstance(node, ast.Attribute) and not isinstance(node.value, ast.Name | ast.Subscript):
        raise _fail(where, what, text, "a field belongs to a collection or an indexed object (met.pt, jets[0].pt)")


def _check_call(node: ast.Call, text: str, *, where: str, what: str, objects: bool) -> None:
    known = [*FUNCTIONS, _COUNT] if objects else list(FUNCTIONS)
    if not isinstance(node.func, ast.Name):
        raise _fail(where, what, text, f"calling '{ast.unparse(node.func)}' is not allowed; functions must be one "
                    f"of {sorted(known)}")
    fname = node.func.id
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise _fail(where, what, text, f"{fname}() takes positional arguments only")
    if fname == _COUNT and objects:
        _check_count(node, text, where=where, what=what)
        return
    if fname not in FUNCTIONS:
        raise _fail(where, what, text, f"unknown function '{fname}'; functions must be one of {sorted(known)}",
                    did_you_mean(fname, known))
    _, lo, hi = FUNCTIONS[fname]
    if len(node.args) < lo or (hi is not None and len(node.args) > hi):
        wanted = str(lo) if lo == hi else f"{lo} or more"
        raise _fail(where, what, text, f"{fname}() takes {wanted} argument(s), got {len(node.args)}")


def _check_count(node: ast.Call, text: str, *, where: str, what: str) -> None:
    if not 1 <= len(node.args) <= 2 or not isinstance(node.args[0], ast.Name):
        raise _fail(where, what, text, "n() takes a collection name and an optional cut: n(jets) or n(jets, pt > 30)")
    if len(node.args) == 2 and not (isinstance(node.args[1], ast.Compare | ast.BoolOp)
                                    or isinstance(node.args[1], ast.UnaryOp) and isinstance(node.args[1].op, ast.Not)):
        raise _fail(where, what, text, "the cut of n() must be a condition, e.g. n(jets, pt > 30)")
    for inner in ast.walk(node.args[-1]) if len(node.args) == 2 else ():
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == _COUNT:
            raise _fail(where, what, text, "n() cannot be nested inside the cut of another n()")


def _is_attribute_base(tree: ast.AST, node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.value is node for n in ast.walk(tree))


def is_function_name(tree: ast.AST, name: ast.Name) -> bool:
    """True if ``name`` is the callee of a call (``abs`` in ``abs(x)``), not a column."""
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


class Evaluator:
    """Walks a checked tree over whole numpy arrays (no per-row loop).

    Subclasses implement :meth:`name` and, for object expressions, :meth:`attribute`
    and :meth:`count`. ``ctx`` is passed through unchanged (the ``columns`` set uses it
    for the collection whose objects a cut runs over).
    """

    def evaluate(self, node: ast.AST, ctx: Any = None) -> Any:
        if isinstance(node, ast.Expression):
            return self.evaluate(node.body, ctx)
        if isinstance(node, ast.BoolOp):
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = self.evaluate(node.values[0], ctx)
            for v in node.values[1:]:
                out = fn(out, self.evaluate(v, ctx))
            return out
        if isinstance(node, ast.UnaryOp):
            v = self.evaluate(node.operand, ctx)
            if isinstance(node.op, ast.Not):
                return np.logical_not(v)
            return np.negative(v) if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](self.evaluate(node.left, ctx), self.evaluate(node.right, ctx))
        if isinstance(node, ast.Compare):
            return self._compare(node, ctx)
        if isinstance(node, ast.Call):
            return self._call(node, ctx)
        if isinstance(node, ast.Name):
            return self.name(node.id, ctx)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, ctx)
        if isinstance(node, ast.Constant):
            return node.value
        raise ConfigError(f"unsupported construct {type(node).__name__}")  # pragma: no cover - whitelisted

    def _compare(self, node: ast.Compare, ctx: Any) -> Any:
        left, out = self.evaluate(node.left, ctx), None
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.evaluate(comp, ctx)
            res = _CMPOPS[type(op)](left, right)
            out = res if out is None else np.logical_and(out, res)
            left = right
        return out

    def _call(self, node: ast.Call, ctx: Any) -> Any:
        fname = node.func.id  # type: ignore[attr-defined]
        if fname == _COUNT:
            return self.count(node, ctx)
        fn = FUNCTIONS[fname][0]
        out = self.evaluate(node.args[0], ctx)
        for arg in node.args[1:]:
            out = fn(out, self.evaluate(arg, ctx))
        return out if len(node.args) > 1 else fn(out)

    def name(self, name: str, ctx: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def attribute(self, node: ast.Attribute, ctx: Any) -> Any:  # pragma: no cover - selection has none
        raise NotImplementedError

    def count(self, node: ast.Call, ctx: Any) -> Any:  # pragma: no cover - selection has none
        raise NotImplementedError


class Selection(Evaluator):
    """A parsed selection; call it with a mapping of column name -> numpy array."""

    def __init__(self, text: str, tree: ast.Expression, names: set[str]) -> None:
        self.text = text
        self._tree = tree
        self.names = names
        self._cols: Mapping[str, np.ndarray] = {}

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(columns.values()))) if columns else 0
        self._cols = columns
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self.evaluate(self._tree))
        finally:
            self._cols = {}
        if out.dtype != bool:
            raise ConfigError(f"selection '{self.text}' must be a condition (a comparison), not a number")
        return np.broadcast_to(out, (n,)).copy()

    def name(self, name: str, ctx: Any) -> np.ndarray:
        return np.asarray(self._cols[name])


def compile_selection(text: str, available: list[str] | set[str], *, where: str = "selection") -> Selection:
    """Parse and check ``text``; unknown names or constructs raise :class:`ConfigError` naming ``where``."""
    tree = parse_expression(text, where=where, what="selection")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not is_function_name(tree, node):
            if node.id not in available:
                raise ConfigError(
                    f"{where}: unknown name '{node.id}' in selection '{text}'; available: {sorted(available)}."
                    + did_you_mean(node.id, available)
                )
            names.add(node.id)
    return Selection(text, tree, names)
