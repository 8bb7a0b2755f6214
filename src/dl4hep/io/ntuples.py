"""TTree and RNTuple behind one small interface, so the reader and ``inspect`` treat both alike.

ROOT's RNTuple (successor of TTree, planned for HL-LHC formats) names the same columns in two
layouts: flat NanoAOD names (``Jet_pt`` as a vector field, what uproot writes for a dict of
arrays) and collections (a ``Jet`` field with sub-fields, read as ``Jet.pt``, what the CMSSW
RNTuple output module writes). :func:`field_name` maps a NanoAOD branch name onto either.
Counters (``nJet``) are never read, so their absence in the collection layout does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import awkward as ak

from dl4hep.errors import InputFileError

__all__ = ["describe_column", "field_name", "is_jagged", "is_rntuple", "iterate", "keys", "list_ntuples", "other_objects", "pick", "typename"]


def _kind(classname: str) -> str | None:
    if classname.startswith("TTree"):
        return "TTree"
    if classname.endswith("RNTuple"):  # ROOT::RNTuple (ROOT::Experimental::RNTuple before ROOT 6.34)
        return "RNTuple"
    return None


def list_ntuples(file: Any, location: str) -> dict[str, str]:
    """``{name: "TTree" | "RNTuple"}`` of every ntuple in an open file (cycle numbers dropped)."""
    try:
        classes = file.classnames(recursive=True)
    except Exception as err:  # corrupt directory
        raise InputFileError(f"cannot list the contents of {location} (corrupt ROOT file?): {err}") from err
    found: dict[str, str] = {}
    for key, cls in classes.items():
        kind = _kind(cls)
        if kind:
            found[key.split(";")[0]] = kind
    return found


def other_objects(file: Any) -> list[str]:
    """``"name (class)"`` of the objects that are neither TTree nor RNTuple."""
    return sorted(f"{k.split(';')[0]} ({c})" for k, c in file.classnames(recursive=True).items() if not _kind(c))


def is_rntuple(tree: Any) -> bool:
    return _kind(getattr(tree, "classname", "")) == "RNTuple"


def keys(tree: Any) -> list[str]:
    """Branch names (TTree) or field names including collection sub-fields ``Jet.pt`` (RNTuple)."""
    return list(tree.keys())


def field_name(tree: Any, branch: str, names: set[str] | None = None) -> str | None:
    """The column holding NanoAOD branch ``branch``: itself, or ``Coll.field`` in an RNTuple collection."""
    names = set(tree.keys()) if names is None else names
    if branch in names:
        return branch
    if is_rntuple(tree) and "_" in branch:
        coll, sub = branch.split("_", 1)
        dotted = f"{coll}.{sub}"
        if dotted in names:
            return dotted
    return None


def typename(tree: Any, name: str) -> str:
    t = tree[name].typename
    return t or "collection"


def is_jagged(tree: Any, name: str) -> bool:
    """True when the column holds a variable number of values per entry."""
    if is_rntuple(tree):
        form, _ = tree[name].to_akform()
        return "var *" in str(form.type)
    import uproot

    interp = tree[name].interpretation
    return isinstance(interp, (uproot.interpretation.jagged.AsJagged, uproot.interpretation.objects.AsObjects))


def describe_column(tree: Any, name: str) -> str:
    """How ``inspect`` shows a column's storage: uproot's interpretation, or the RNTuple field kind."""
    if is_rntuple(tree):
        return "RNTuple field (jagged)" if is_jagged(tree, name) else "RNTuple field"
    return str(tree[name].interpretation)


def iterate(tree: Any, names: Sequence[str], *, step_size: int, entry_stop: int | None) -> Iterator[dict[str, ak.Array]]:
    """Chunks of ``step_size`` entries as ``{column name: array}`` for TTree and RNTuple alike."""
    for raw in tree.iterate(list(names), step_size=step_size, entry_stop=entry_stop, library="ak", how=dict):
        yield {n: pick(raw, n) for n in names}


def pick(raw: dict[str, ak.Array], name: str) -> ak.Array:
    """Column ``name`` of an ``iterate``/``arrays`` result (``how=dict``), collection sub-fields included."""
    if name in raw:
        return raw[name]
    coll, sub = name.split(".", 1)  # RNTuple collection sub-field: {"Jet": [{pt: ...}]}
    return raw[coll][sub]
