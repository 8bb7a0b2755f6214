"""``dl4hep features``: one ntuple in, one parquet of feature rows out.

Steps: resolve the sample's input schema, validate the file against everything
the task's feature sets need (before anything is written), read it in chunks of
``reading.step_size`` entries, compute each feature set per chunk, merge their
columns (the sets must produce the same rows), apply the sample's
``require_truth_match`` and the task ``selection``, and append the chunk to the
output parquet (pyarrow ``ParquetWriter``: memory is bounded by the chunk size).
The output is written through :func:`dl4hep.io.atomic.atomic_output`, carries the
:data:`dl4hep.contracts.FEATURE_META_KEY` metadata of docs/architecture.md ("Features") and a
provenance record beside it.

:func:`build_features` is a chain of named steps: :func:`_prepare` (every check, before the output
is opened), :func:`_write_chunks` (compute, keep, append), :func:`_finish` (generator-weight sum,
empty-file fallback).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from dl4hep.contracts import FEATURE_META_KEY, POINTS, POINTS_MASK, POINTS_P4
from dl4hep.errors import ConfigError, DataError, did_you_mean
from dl4hep.features.base import FeatureOutput
from dl4hep.features.event_weights import WeightPlan, plan_weights
from dl4hep.features.protocol import FeatureSet
from dl4hep.features.registry import get_feature_set, parse_options
from dl4hep.features.selection import compile_selection
from dl4hep.io.atomic import atomic_output
from dl4hep.io.reader import ChunkReader, merge_needs
from dl4hep.io.runs import read_run_info
from dl4hep.io.schema import InputSchema, load_input_schema
from dl4hep.provenance import write_provenance

__all__ = ["GEN_SUM_KEY", "FeaturePlan", "build_features"]

#: Parquet file key-value metadata written at the end: the generator-weight sum of all entries read.
GEN_SUM_KEY = "dl4hep_gen_weights"

log = logging.getLogger(__name__)


class FeaturePlan:
    """The resolved feature sets of a task and the column names they produce."""

    def __init__(self, task_cfg: Any, task: str) -> None:
        where = f"tasks.{task}.features"
        self.sets: list[tuple[str, FeatureSet, Any]] = []
        for name in task_cfg.features:
            fset = get_feature_set(name, where=where)
            opts = parse_options(name, task_cfg.feature_options.get(name, {}), where=f"tasks.{task}.feature_options.{name}")
            self.sets.append((name, fset, opts))
        self.tabular: list[str] = []
        self.points: list[str] = []
        self.observers: list[str] = []
        self.max_points = 0
        self.points_set: str | None = None
        for name, fset, opts in self.sets:
            n = fset.names(opts)
            clash = set(n["tabular"]) & set(self.tabular)
            if clash:
                raise ConfigError(f"{where}: feature sets give the same tabular feature(s) {sorted(clash)} twice")
            self.tabular += list(n["tabular"])
            self.observers += [o for o in n["observers"] if o not in self.observers]
            if n["points"]:
                if self.points_set is not None:
                    raise ConfigError(
                        f"{where}: both '{self.points_set}' and '{name}' provide point clouds; use one per task"
                    )
                self.points_set, self.points, self.max_points = name, list(n["points"]), int(n["max_points"])
        self.needs = merge_needs(*(m.needs(o) for _, m, o in self.sets))

    def extend_schema(self, schema: Any) -> None:
        """Let sets that declare raw branches (``columns``' ``fields``) add them to ``schema`` before reading."""
        for _, fset, opts in self.sets:
            hook = getattr(fset, "extend_schema", None)
            if hook is not None:
                hook(opts, schema)

    def compute(self, chunk: ak.Array, schema: Any) -> FeatureOutput:
        """Every set's rows for one chunk, merged (``dl4hep apply`` and the coffea wrapper reuse it)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fastjet's exclusive-jets advisory
            return _merge(self, [(name, m.compute(chunk, o, schema)) for name, m, o in self.sets])

    def metadata(self) -> dict[str, Any]:
        """The feature file's description (column names, point size, sets) for its metadata."""
        return {"tabular": self.tabular, "points": self.points, "max_points": self.max_points,
                "observers": self.observers, "feature_sets": [s[0] for s in self.sets]}

    def empty_output(self) -> FeatureOutput:
        """Zero rows with every column, to give the output its full schema."""
        P, F = self.max_points, len(self.points)
        return FeatureOutput(
            event_index=np.zeros(0, np.int64),
            tabular={k: np.zeros(0, np.float32) for k in self.tabular},
            observers={k: np.zeros(0, np.float32) for k in self.observers},
            points=np.zeros((0, P, F), np.float32) if F else None,
            points_mask=np.zeros((0, P), bool) if F else None,
            points_p4=np.zeros((0, P, 4), np.float32) if F else None,
        )


def _merge(plan: FeaturePlan, outs: list[tuple[str, FeatureOutput]]) -> FeatureOutput:
    """One output from the sets' outputs: they must have the same rows; the first set's observers win."""
    first_name, merged = outs[0]
    merged = FeatureOutput(event_index=merged.event_index, truth_match=merged.truth_match)
    for name, o in outs:
        if len(o) != len(merged) or not np.array_equal(o.event_index, merged.event_index):
            raise DataError(
                f"feature sets '{first_name}' and '{name}' produce different rows ({len(merged)} vs {len(o)}); "
                "sets combined in one task must describe the same objects"
            )
        merged.tabular.update(o.tabular)
        for k, v in o.observers.items():
            merged.observers.setdefault(k, v)
        if o.points is not None:
            merged.points, merged.points_mask, merged.points_p4 = o.points, o.points_mask, o.points_p4
        if merged.truth_match is None:
            merged.truth_match = o.truth_match
    return merged


def _to_table(plan: FeaturePlan, chunk: ak.Array | None, rows: FeatureOutput, keep: np.ndarray,
              weights: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None,
              variations: list[str] | tuple[str, ...] = ()) -> pa.Table:
    """One chunk's rows; ``weights`` is ``(nominal, generator, {variation: weight})`` per event (None: empty)."""
    idx = rows.event_index[keep]
    cols: dict[str, Any] = {}
    for k in ("run", "luminosityBlock", "event"):
        cols[k] = np.asarray(ak.to_numpy(chunk[k]), np.int64)[idx] if chunk is not None else np.zeros(0, np.int64)
    nominal, gen, varied = weights if weights is not None else (np.zeros(0), np.zeros(0), {})
    cols["weight"] = nominal[idx] if weights is not None else nominal
    cols["gen_weight"] = gen[idx] if weights is not None else gen
    if variations:
        cols["weight_variations"] = ak.zip(
            {v: varied[v][idx] if weights is not None else np.zeros(0) for v in variations})
    truth = rows.truth_match if rows.truth_match is not None else np.ones(len(rows), bool)
    cols["truth_match"] = np.asarray(truth, bool)[keep]
    if plan.tabular:
        cols["tabular"] = ak.zip({k: np.asarray(rows.tabular[k], np.float32)[keep] for k in plan.tabular})
    if plan.points:
        cols[POINTS] = ak.from_numpy(np.ascontiguousarray(rows.points[keep], np.float32))
        cols[POINTS_MASK] = ak.from_numpy(np.ascontiguousarray(rows.points_mask[keep], bool))
        cols[POINTS_P4] = ak.from_numpy(np.ascontiguousarray(rows.points_p4[keep], np.float32))
    cols["observers"] = ak.zip({k: np.asarray(rows.observers[k], np.float32)[keep] for k in plan.observers})
    arr = ak.zip(cols, depth_limit=1)
    return ak.to_arrow_table(arr, extensionarray=False, count_nulls=False)


def _non_nullable(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field (nested ones too) non-nullable: feature files hold no missing values."""
    def fix(f: pa.Field) -> pa.Field:
        t = f.type
        if pa.types.is_struct(t):
            t = pa.struct([fix(c) for c in t])
        elif pa.types.is_fixed_size_list(t):
            t = pa.list_(fix(t.value_field), t.list_size)
        return pa.field(f.name, t, nullable=False)

    return pa.schema([fix(f) for f in schema])


@dataclass
class _Job:
    """A features job with everything resolved and checked before the output is opened."""

    task: str
    sample: str
    tcfg: Any
    require_truth_match: bool
    schema: InputSchema
    plan: FeaturePlan
    wplan: WeightPlan
    selection: Callable[[dict[str, np.ndarray]], np.ndarray] | None
    reader: ChunkReader
    empty: pa.Table
    arrow_schema: pa.Schema


def build_features(*, config: Any, task: str, sample: str, input_path: str | Path, out: Path) -> dict[str, Any]:
    """Build the task's features for one input of ``sample`` (a file, URL or ``@list`` group); write ``out``.

    ``input_path`` stays a string where it may be a URL (``Path`` collapses ``root://host//``).

    Returns:
        ``{"input", "inputs", "output", "entries", "chunks", "rows_in", "rows_truth", "rows_out",
        "feature_sets", "sum_gen_weight", "nonfinite"}``: every location read, entries read, objects
        produced, kept after ``require_truth_match``, kept after the selection, and NaN/inf counts
        per input and branch.

    Raises:
        ConfigError, InputFileError, BranchNotFoundError: before anything is written.
    """
    job = _prepare(config, task, sample, input_path)
    out = Path(out)
    summary = _new_summary(job, out)
    with atomic_output(out) as tmp, pq.ParquetWriter(tmp, job.arrow_schema, compression="zstd") as writer:
        _write_chunks(job, writer, summary)
        summary["nonfinite"] = job.reader.nonfinite
        _finish(job, writer, summary, out)
    write_provenance(out, stage="features", config={"task": task, "sample": sample,
                                                     "task_config": job.tcfg.model_dump(mode="json")},
                     extra={"summary": summary, "input_schema": job.schema.source,
                            "input_schemas": job.reader.input_schemas})
    return summary


def _prepare(config: Any, task: str, sample: str, input_path: str | Path) -> _Job:
    """Resolve schema, feature sets, weights and selection, and open (check) the input: every error here."""
    tcfg = config.task(task)
    if sample not in tcfg.samples:
        raise ConfigError(
            f"sample '{sample}' is not a sample of task '{task}'; samples are {list(tcfg.samples)}."
            + did_you_mean(sample, tcfg.samples)
        )
    scfg = tcfg.samples[sample]
    where = f"tasks.{task}.samples.{sample}.input" if scfg.input else f"tasks.{task}.input"
    schema = load_input_schema(scfg.input or tcfg.input, config_dir=config.config_dir, where=where)
    plan = FeaturePlan(tcfg, task)
    plan.extend_schema(schema)
    wplan: WeightPlan = plan_weights(tcfg, sample, where=f"tasks.{task}")
    wplan.extend_schema(schema)
    selection = None
    if tcfg.selection:
        available = sorted(set(plan.observers) | set(plan.tabular))
        selection = compile_selection(tcfg.selection, available, where=f"tasks.{task}.selection")
    reader = ChunkReader(input_path if isinstance(input_path, str) else str(input_path), schema,
                         merge_needs(plan.needs, wplan.needs()), step_size=tcfg.reading.step_size,
                         entry_stop=tcfg.reading.entry_stop)
    meta = {**plan.metadata(), **read_run_info(reader.path, schema), "weight_variations": wplan.names,
            "weight_groups": wplan.groups}
    empty = _to_table(plan, None, plan.empty_output(), np.zeros(0, bool), variations=wplan.names)
    arrow_schema = _non_nullable(empty.schema).with_metadata({FEATURE_META_KEY: json.dumps(meta).encode()})
    return _Job(task, sample, tcfg, scfg.require_truth_match, schema, plan, wplan, selection, reader, empty,
                arrow_schema)


def _new_summary(job: _Job, out: Path) -> dict[str, Any]:
    """The job summary with zero counts (the keys' order is the provenance record's)."""
    reader = job.reader
    return {"input": str(reader.path) if isinstance(reader.path, str | Path) else f"{len(reader.inputs)} files",
            "inputs": list(reader.inputs), "output": str(out), "entries": reader.num_entries, "chunks": 0,
            "rows_in": 0, "rows_truth": 0, "rows_out": 0, "feature_sets": job.plan.metadata()["feature_sets"],
            "sum_gen_weight": 0.0}


def _write_chunks(job: _Job, writer: pq.ParquetWriter, summary: dict[str, Any]) -> None:
    """Compute every chunk's rows, keep the selected ones and append them to ``writer``."""
    bar = tqdm(total=job.reader.num_chunks, desc=f"features {job.task}/{job.sample}", unit="chunk",
               file=sys.stderr, disable=None, leave=False)
    for chunk in job.reader:
        rows = job.plan.compute(chunk, job.schema)
        weights = job.wplan.evaluate(chunk, summary["input"])
        summary["sum_gen_weight"] += float(np.sum(weights[1]))
        keep = _keep(job, rows, summary)
        if keep.any():
            table = _to_table(job.plan, chunk, rows, keep, weights, job.wplan.names)
            writer.write_table(table.cast(job.arrow_schema))
        summary["chunks"] += 1
        bar.update(1)
    bar.close()


def _keep(job: _Job, rows: FeatureOutput, summary: dict[str, Any]) -> np.ndarray:
    """Rows passing the sample's ``require_truth_match`` and the task selection; counts them in ``summary``."""
    keep = np.ones(len(rows), bool)
    summary["rows_in"] += len(rows)
    if job.require_truth_match and rows.truth_match is not None:
        keep &= rows.truth_match
    summary["rows_truth"] += int(keep.sum())
    if job.selection is not None and len(rows):
        keep &= job.selection({**rows.tabular, **rows.observers})
    summary["rows_out"] += int(keep.sum())
    return keep


def _finish(job: _Job, writer: pq.ParquetWriter, summary: dict[str, Any], out: Path) -> None:
    """Record the generator-weight sum; write the empty table (full schema) if no row was kept."""
    # Sum of generator weights over every entry read (negative ones included): the dataset's
    # normalisation when the Runs tree has no genEventSumw.
    writer.add_key_value_metadata({GEN_SUM_KEY: json.dumps(
        {"sum_gen_weight": summary["sum_gen_weight"], "entries": summary["entries"]})})
    if summary["rows_out"] == 0:
        writer.write_table(job.empty.cast(job.arrow_schema))
        log.warning(
            "features %s/%s: %s gave 0 rows (%d entries, %d objects, %d after truth match, selection %r); "
            "wrote an empty %s with the full schema",
            job.task, job.sample, job.reader.path, summary["entries"], summary["rows_in"], summary["rows_truth"],
            job.tcfg.selection, out,
        )
