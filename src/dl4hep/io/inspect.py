"""``dl4hep inspect``: what is in a ROOT or parquet file (trees, branches, types, entries)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from dl4hep.errors import BranchNotFoundError, InputFileError, did_you_mean

__all__ = ["describe_file"]


def describe_file(path: str | Path, *, tree: str | None = None, pattern: str | None = None) -> str:
    """Describe a ROOT file (each TTree: entries, then ``branch  type  interpretation``) or parquet file.

    Args:
        path: ROOT or parquet file.
        tree: only this tree (ROOT).
        pattern: glob on branch/column names, e.g. ``"FatJet_*"``.

    Raises:
        InputFileError: missing, corrupt or unreadable file.
        BranchNotFoundError: ``tree`` not in the file (lists the trees).
    """
    from dl4hep.io.reader import _open_root, expand_input

    path = expand_input(path)
    if path.suffix == ".parquet":
        return _describe_parquet(path, pattern)
    f = _open_root(path)
    try:
        classes = {k.split(";")[0]: c for k, c in f.classnames(recursive=True).items()}
    except Exception as err:
        raise InputFileError(f"cannot list the contents of {path} (corrupt ROOT file?): {err}") from err
    trees = sorted(k for k, c in classes.items() if c.startswith("TTree"))
    if tree is not None and tree not in trees:
        raise BranchNotFoundError(f"tree '{tree}' not found in {path}; trees are {trees}." + did_you_mean(tree, trees))
    lines = [f"{path}"]
    others = sorted(f"{k} ({c})" for k, c in classes.items() if not c.startswith("TTree"))
    if others and tree is None:
        lines.append("  other objects: " + ", ".join(others))
    for name in [tree] if tree else trees:
        try:
            t = f[name]
            lines.append(f"tree '{name}': {t.num_entries} entries")
            for b in t.keys():  # noqa: SIM118 (iterating a TTree yields branches, not names)
                if pattern and not fnmatch.fnmatch(b, pattern):
                    continue
                lines.append(f"  {b:<40} {t[b].typename:<20} {t[b].interpretation}")
        except Exception as err:
            raise InputFileError(f"cannot read tree '{name}' of {path} (corrupt file?): {err}") from err
    if not trees:
        lines.append("  (no TTree in this file)")
    return "\n".join(lines)


def _describe_parquet(path: Path, pattern: str | None) -> str:
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
