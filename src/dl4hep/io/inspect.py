"""``dl4hep inspect``: what is in a ROOT or parquet file (trees, branches, types, entries).

ROOT files may be local or remote (``root://``, ``https://``); TTrees list their branches with
uproot's interpretation, RNTuples their fields (collection sub-fields as ``Jet.pt``).
"""

from __future__ import annotations

import fnmatch
import os

from dl4hep.errors import BranchNotFoundError, InputFileError, did_you_mean
from dl4hep.io import ntuples

__all__ = ["describe_file"]


def describe_file(path: str | os.PathLike[str], *, tree: str | None = None, pattern: str | None = None) -> str:
    """Describe a ROOT file (each TTree or RNTuple: entries, then ``name  type  storage``) or parquet file.

    Args:
        path: ROOT or parquet file: a path, a URL, or a glob/``@list`` naming one file.
        tree: only this tree or RNTuple (ROOT).
        pattern: glob on branch/field/column names, e.g. ``"FatJet_*"``.

    Raises:
        InputFileError: missing, unreachable, corrupt or unreadable file.
        BranchNotFoundError: ``tree`` not in the file (lists the trees).
    """
    from dl4hep.io.locations import is_remote, open_root
    from dl4hep.io.reader import expand_input

    location = expand_input(path)
    if location.endswith(".parquet") and not is_remote(location):
        return _describe_parquet(location, pattern)
    f = open_root(location)
    found = ntuples.list_ntuples(f, location)
    if tree is not None and tree not in found:
        raise BranchNotFoundError(
            f"tree '{tree}' not found in {location}; trees are {sorted(found)}." + did_you_mean(tree, found)
        )
    lines = [location]
    others = ntuples.other_objects(f)
    if others and tree is None:
        lines.append("  other objects: " + ", ".join(others))
    for name in [tree] if tree else sorted(found):
        lines += _describe_ntuple(f, name, found[name], location, pattern)
    if not found:
        lines.append("  (no TTree or RNTuple in this file)")
    return "\n".join(lines)


def _describe_ntuple(f, name: str, kind: str, location: str, pattern: str | None) -> list[str]:
    label = "tree" if kind == "TTree" else "rntuple"
    try:
        t = f[name]
        lines = [f"{label} '{name}': {t.num_entries} entries"]
        for b in ntuples.keys(t):
            if pattern and not fnmatch.fnmatch(b, pattern):
                continue
            lines.append(f"  {b:<40} {ntuples.typename(t, b):<20} {ntuples.describe_column(t, b)}")
    except Exception as err:
        raise InputFileError(f"cannot read {kind} '{name}' of {location} (corrupt file?): {err}") from err
    return lines


def _describe_parquet(path: str, pattern: str | None) -> str:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:
        raise InputFileError(f"cannot read {path} as parquet (malformed or truncated?): {err}") from err
    lines = [f"{path}: parquet, {pf.metadata.num_rows} rows, {pf.metadata.num_row_groups} row groups"]
    for field in pf.schema_arrow:
        if pattern and not fnmatch.fnmatch(field.name, pattern):
            continue
        lines.append(f"  {field.name:<24} {field.type}")
    meta = pf.schema_arrow.metadata or {}
    if b"dl4hep" in meta:
        lines.append(f"  dl4hep metadata: {meta[b'dl4hep'].decode()}")
    return "\n".join(lines)
