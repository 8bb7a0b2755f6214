"""A small, safe expression language for row selections.

``"pt > 500 and pt < 1000 and abs(eta) < 2"`` is parsed with :mod:`ast` and
evaluated on numpy columns by walking the tree; only these constructs are allowed:
names (observer or tabular feature names), numeric constants, comparisons
(chains too: ``500 < pt < 1000``), ``and``/``or``/``not``, ``+ - * /``, unary
minus and the functions ``abs``, ``log``, ``sqrt``. Nothing is ``eval``-ed.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import numpy as np

from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["Selection", "compile_selection"]

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide}
_CMPOPS = {
    ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Lt: np.less,
    ast.LtE: np.less_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
_FUNCS = {"abs": np.abs, "log": np.log, "sqrt": np.sqrt}


class Selection:
    """A parsed selection; call it with a mapping of column name -> numpy array."""

    def __init__(self, text: str, tree: ast.Expression, names: set[str]) -> None:
        self.text = text
        self._tree = tree
        self.names = names

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(columns.values()))) if columns else 0
        with np.errstate(all="ignore"):
            out = self._eval(self._tree.body, columns)
        out = np.asarray(out)
        if out.dtype != bool:
            raise ConfigError(f"selection '{self.text}' must be a condition (a comparison), not a number")
        return np.broadcast_to(out, (n,)).copy()

    def _eval(self, node: ast.AST, cols: Mapping[str, np.ndarray]):  # noqa: C901
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, cols) for v in node.values]
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, cols)
            return np.logical_not(v) if isinstance(node.op, ast.Not) else np.negative(v)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](self._eval(node.left, cols), self._eval(node.right, cols))
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, cols)
            out = None
            for op, comp in zip(node.ops, node.comparators, strict=False):
                right = self._eval(comp, cols)
                res = _CMPOPS[type(op)](left, right)
                out = res if out is None else np.logical_and(out, res)
                left = right
            return out
        if isinstance(node, ast.Call):
            return _FUNCS[node.func.id](self._eval(node.args[0], cols))
        if isinstance(node, ast.Name):
            return np.asarray(cols[node.id])
        if isinstance(node, ast.Constant):
            return node.value
        raise ConfigError(f"unsupported construct in selection '{self.text}'")  # pragma: no cover


def compile_selection(text: str, available: list[str] | set[str], *, where: str = "selection") -> Selection:
    """Parse and check ``text``; unknown names or constructs raise :class:`ConfigError` naming ``where``."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"{where}: cannot parse selection '{text}': {err.msg}") from None
    names: set[str] = set()
    allowed_nodes = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
        ast.BinOp, ast.Compare, ast.Call, ast.Name, ast.Load, ast.Constant,
        *_BINOPS, *_CMPOPS,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed_nodes):
            raise ConfigError(
                f"{where}: '{type(node).__name__}' is not allowed in selection '{text}'; use names, numbers, "
                "comparisons, and/or/not, + - * /, abs(), log(), sqrt()"
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            continue
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise ConfigError(f"{where}: only numeric constants are allowed in selection '{text}', got {node.value!r}")
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname not in _FUNCS or len(node.args) != 1 or node.keywords:
                raise ConfigError(
                    f"{where}: function call in selection '{text}' must be one of "
                    f"{sorted(_FUNCS)} with one argument" + did_you_mean(str(fname), _FUNCS)
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not _is_func_name(tree, node):
            if node.id not in available:
                raise ConfigError(
                    f"{where}: unknown name '{node.id}' in selection '{text}'; available: {sorted(available)}."
                    + did_you_mean(node.id, available)
                )
            names.add(node.id)
    return Selection(text, tree, names)


def _is_func_name(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))
