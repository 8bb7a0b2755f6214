"""Compare two output trees of the same workflow (e.g. a local and a SLURM run of configs/mini.yaml).

``compare_runs(a, b)`` walks both ``output:`` directories and sorts every file into:

- ``identical``: the same bytes;
- ``same_content``: the same data in another encoding of the file (ROOT files carry creation times
  and UUIDs; JSON/CSV/text compared after replacing each run's own output path by ``<OUT>``);
- ``close``: model outputs equal within ``rtol`` (checkpoint weights, training history without its
  timing columns, scores, metrics): two runs on the same CPU agree to float rounding;
- ``present``: files that hold times or host names by design, compared by presence only
  (provenance records, logs, benchmarks, TensorBoard event files, plots, ONNX graphs);
- ``missing`` / ``extra``: files only in ``a`` / only in ``b``;
- ``different``: ``(path, reason)`` for everything that should agree and does not.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMING_COLUMNS = {"samples_per_s", "epoch_time_s"}
VOLATILE_KEYS = {"time", "host", "hostname", "created", "timestamp", "time_total_s", "events_per_s", "seconds",
                 "elapsed_s", "time_pythia_s", "time_detector_s", "time_write_s", "samples_per_s", "epoch_time_s"}
PRESENCE_ONLY = (".png", ".pdf", ".onnx", ".tsv", ".log", ".journal")  # Optuna's journal holds trial times
NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+(?:[eE][-+]?\d+)")


def _files(root: Path) -> set[str]:
    out = set()
    for p in root.rglob("*"):
        if p.is_file():
            rel = p.relative_to(root)
            # event files are named after host, time and pid: count them per directory instead
            out.add(str(rel.parent / "<tfevents>") if "tfevents" in rel.name else str(rel))
    return out


def _close(x: Any, y: Any, rtol: float, atol: float) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return x == y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return math.isclose(x, y, rel_tol=rtol, abs_tol=atol)
    if isinstance(x, dict) and isinstance(y, dict):
        keys = set(x) - VOLATILE_KEYS
        return keys == set(y) - VOLATILE_KEYS and all(_close(x[k], y[k], rtol, atol) for k in keys)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_close(u, v, rtol, atol) for u, v in zip(x, y, strict=True))
    return x == y


def _text_close(ta: str, tb: str, rtol: float, atol: float) -> bool:
    if NUMBER.sub("#", ta) != NUMBER.sub("#", tb):
        return False
    na, nb = [float(v) for v in NUMBER.findall(ta)], [float(v) for v in NUMBER.findall(tb)]
    return _close(na, nb, rtol, atol)


def _root_equal(pa: Path, pb: Path) -> bool:
    import awkward as ak
    import uproot

    with uproot.open(pa) as fa, uproot.open(pb) as fb:
        ka = sorted(k for k, c in fa.classnames().items() if c == "TTree")
        kb = sorted(k for k, c in fb.classnames().items() if c == "TTree")
        if ka != kb:
            return False
        for key in ka:
            a, b = fa[key].arrays(), fb[key].arrays()
            if a.fields != b.fields or not all(ak.all(a[f] == b[f], axis=None) for f in a.fields):
                return False
    return True


def _leaves_close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Two awkward arrays with the same structure and values, NaN equal to NaN (float leaves within tolerance)."""
    import awkward as ak
    import numpy as np

    if a.fields != b.fields or len(a) != len(b):
        return False
    if a.fields:
        return all(_leaves_close(a[f], b[f], rtol, atol) for f in a.fields)
    if a.ndim > 1 and not ak.all(ak.num(a, axis=1) == ak.num(b, axis=1)):
        return False
    xa, xb = ak.to_numpy(ak.flatten(a, axis=None)), ak.to_numpy(ak.flatten(b, axis=None))
    if xa.shape != xb.shape:
        return False
    if xa.dtype.kind == "f":
        return bool(np.allclose(xa, xb, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(xa, xb))


def _parquet(pa: Path, pb: Path, roots: tuple[Path, Path], rtol: float, atol: float) -> str:
    import awkward as ak
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(pa), pq.read_table(pb)

    def meta(t, root):  # key-value metadata, with the run's own output path replaced
        return {k: v.decode(errors="replace").replace(str(root), "<OUT>") for k, v in (t.schema.metadata or {}).items()}

    if meta(ta, roots[0]) != meta(tb, roots[1]):
        return "different"
    if ta.equals(tb):  # NaN never equals NaN here: records with NaN observers go to the leaf comparison
        return "same_content"
    if ta.schema.names != tb.schema.names or ta.num_rows != tb.num_rows:
        return "different"
    return "close" if _leaves_close(ak.from_parquet(pa), ak.from_parquet(pb), rtol, atol) else "different"


def _checkpoint(pa: Path, pb: Path, rtol: float, atol: float) -> str:
    import torch

    ca = torch.load(pa, map_location="cpu", weights_only=False)
    cb = torch.load(pb, map_location="cpu", weights_only=False)
    sa, sb = ca["state_dict"], cb["state_dict"]
    if sa.keys() != sb.keys() or ca.get("epoch") != cb.get("epoch"):
        return "different"
    if all(torch.equal(sa[k], sb[k]) for k in sa):
        return "same_content"
    ok = all(torch.allclose(sa[k].double(), sb[k].double(), rtol=rtol, atol=atol) for k in sa)
    return "close" if ok else "different"


def _history(ta: str, tb: str, rtol: float, atol: float) -> str:
    ra, rb = list(csv.DictReader(io.StringIO(ta))), list(csv.DictReader(io.StringIO(tb)))
    if len(ra) != len(rb):
        return "different"
    strip = [{k: float(v) for k, v in r.items() if k not in TIMING_COLUMNS} for r in ra], \
        [{k: float(v) for k, v in r.items() if k not in TIMING_COLUMNS} for r in rb]
    if strip[0] == strip[1]:
        return "same_content"
    return "close" if _close(strip[0], strip[1], rtol, atol) else "different"


def compare_runs(a: Path, b: Path, *, rtol: float = 1e-4, atol: float = 1e-6,
                 select: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Sort the files of two output trees (module docstring); ``select`` restricts both to the
    relative paths it accepts (e.g. a run of some of the tasks against a run of all)."""
    a, b = Path(a), Path(b)
    fa, fb = _files(a), _files(b)
    if select is not None:
        fa, fb = {f for f in fa if select(f)}, {f for f in fb if select(f)}
    result: dict[str, Any] = {
        "missing": sorted(fa - fb), "extra": sorted(fb - fa), "identical": [], "same_content": [], "close": [],
        "present": [], "different": [],
    }
    for rel in sorted(fa & fb):
        pa, pb = a / rel, b / rel
        name = pa.name
        # parallel Optuna workers sample in the order their trials finish: the search is not reproducible
        # run to run by design (docs/search.md), so its outputs are compared by presence
        if "<tfevents>" in rel or name.endswith("provenance.json") \
                or rel.split("/")[0] in ("logs", "benchmarks", "search") \
                or name.endswith(PRESENCE_ONLY):
            kind = "present"
        elif pa.read_bytes() == pb.read_bytes():
            kind = "identical"
        elif name.endswith(".root"):
            kind = "same_content" if _root_equal(pa, pb) else "different"
        elif name.endswith(".parquet"):
            kind = _parquet(pa, pb, (a, b), rtol, atol)
        elif name.endswith(".pt"):
            kind = _checkpoint(pa, pb, rtol, atol)
        else:
            ta = pa.read_text(errors="replace").replace(str(a), "<OUT>")
            tb = pb.read_text(errors="replace").replace(str(b), "<OUT>")
            if ta == tb:
                kind = "same_content"
            elif name == "history.csv":
                kind = _history(ta, tb, rtol, atol)
            elif name.endswith(".json"):
                kind = "close" if _close(json.loads(ta), json.loads(tb), rtol, atol) else "different"
            else:
                kind = "close" if _text_close(ta, tb, rtol, atol) else "different"
        if kind == "different":
            result["different"].append((rel, "content differs beyond the tolerance"))
        else:
            result[kind].append(rel)
    return result


def summary(result: dict[str, Any]) -> dict[str, int]:
    return {k: len(v) for k, v in result.items()}
