"""``dl4hep features``: one ntuple in, one parquet of feature rows out.

Steps: resolve the sample's input schema, validate the file against everything
the task's feature sets need (before anything is written), read it in chunks of
``reading.step_size`` entries, compute each feature set per chunk, merge their
columns (the sets must produce the same rows), apply the sample's
``require_truth_match`` and the task ``selection``, and append the chunk to the
output parquet (pyarrow ``ParquetWriter``: memory is bounded by the chunk size).
The output is written through :func:`dl4hep.io.atomic.atomic_output`, carries the
``dl4hep`` key-value metadata of docs/architecture.md ("Features") and a
provenance record beside it.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from dl4hep.errors import ConfigError, DataError, did_you_mean
from dl4hep.features.base import FeatureOutput
from dl4hep.features.event_weights import WeightPlan, plan_weights
from dl4hep.features.registry import get_feature_set, parse_options
from dl4hep.features.selection import compile_selection
from dl4hep.io.atomic import atomic_output
from dl4hep.io.reader import ChunkReader, merge_needs
from dl4hep.io.runs import read_run_info
from dl4hep.io.schema import load_input_schema
from dl4hep.provenance import write_provenance

__all__ = ["GEN_SUM_KEY", "FeaturePlan", "build_features", "plan_features"]

#: Parquet file key-value metadata written at the end: the generator-weight sum of all entries read.
GEN_SUM_KEY = "dl4hep_gen_weights"

log = logging.getLogger(__name__)


class FeaturePlan:
    """The resolved feature sets of a task and the column names they produce."""

    def __init__(self, task_cfg: Any, task: str) -> None:
        where = f"tasks.{task}.features"
        self.sets = []
        for name in task_cfg.features:
            module = get_feature_set(name, where=where)
            opts = parse_options(name, task_cfg.feature_options.get(name, {}), where=f"tasks.{task}.feature_options.{name}")
            self.sets.append((name, module, opts))
        self.tabular: list[str] = []
        self.points: list[str] = []
        self.observers: list[str] = []
        self.max_points = 0
        self.points_set: str | None = None
        for name, module, opts in self.sets:
            n = module.names(opts)
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
        for _, module, opts in self.sets:
            if hasattr(module, "extend_schema"):
                module.extend_schema(opts, schema)

    def compute(self, chunk: ak.Array, schema: Any) -> FeatureOutput:
        """Every set's rows for one chunk, merged (``dl4hep apply`` and the coffea wrapper reuse it)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fastjet's exclusive-jets advisory
            return _merge(self, [(name, m.compute(chunk, o, schema)) for name, m, o in self.sets])

    def metadata(self) -> dict[str, Any]:
        return {"tabular": self.tabular, "points": self.points, "max_points": self.max_points,
                "observers": self.observers, "feature_sets": [s[0] for s in self.sets]}

    def empty_output(self) -> FeatureOutput:
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
        cols["points"] = ak.from_numpy(np.ascontiguousarray(rows.points[keep], np.float32))
        cols["points_mask"] = ak.from_numpy(np.ascontiguousarray(rows.points_mask[keep], bool))
        cols["points_p4"] = ak.from_numpy(np.ascontiguousarray(rows.points_p4[keep], np.float32))
    cols["observers"] = ak.zip({k: np.asarray(rows.observers[k], np.float32)[keep] for k in plan.observers})
    arr = ak.zip(cols, depth_limit=1)
    return ak.to_arrow_table(arr, extensionarray=False, count_nulls=False)


def _non_nullable(schema: pa.Schema) -> pa.Schema:
    def fix(f: pa.Field) -> pa.Field:
        t = f.type
        if pa.types.is_struct(t):
            t = pa.struct([fix(c) for c in t])
        elif pa.types.is_fixed_size_list(t):
            t = pa.list_(fix(t.value_field), t.list_size)
        return pa.field(f.name, t, nullable=False)

    return pa.schema([fix(f) for f in schema])


def plan_features(config: Any, task: str) -> FeaturePlan:
    return FeaturePlan(config.task(task), task)


def build_features(*, config: Any, task: str, sample: str, input_path: str | Path, out: Path) -> dict[str, Any]:
    """Build the task's features for one input of ``sample`` (a file, URL or ``@list`` group); write ``out``.

    ``input_path`` stays a string where it may be a URL (``Path`` collapses ``root://host//``).

    Returns:
        ``{"input", "inputs", "output", "entries", "chunks", "rows_in", "rows_out", "rows_truth",
        "feature_sets", "nonfinite"}``: every location read, entries read, objects produced, kept
        after ``require_truth_match``, kept after the selection, and NaN/inf counts per input and branch.

    Raises:
        ConfigError, InputFileError, BranchNotFoundError: before anything is written.
    """
    tcfg = config.task(task)
    if sample not in tcfg.samples:
        raise ConfigError(
            f"sample '{sample}' is not a sample of task '{task}'; samples are {list(tcfg.samples)}."
            + did_you_mean(sample, tcfg.samples)
        )
    scfg = tcfg.samples[sample]
    schema_name = scfg.input or tcfg.input
    where = f"tasks.{task}.samples.{sample}.input" if scfg.input else f"tasks.{task}.input"
    schema = load_input_schema(schema_name, config_dir=config.config_dir, where=where)
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
    out = Path(out)
    meta = {**plan.metadata(), **read_run_info(reader.path, schema), "weight_variations": wplan.names,
            "weight_groups": wplan.groups}
    empty = _to_table(plan, None, plan.empty_output(), np.zeros(0, bool), variations=wplan.names)
    arrow_schema = _non_nullable(empty.schema).with_metadata({b"dl4hep": json.dumps(meta).encode()})
    summary = {"input": str(reader.path) if isinstance(reader.path, str | Path) else f"{len(reader.inputs)} files",
               "inputs": list(reader.inputs), "output": str(out), "entries": reader.num_entries, "chunks": 0,
               "rows_in": 0, "rows_truth": 0, "rows_out": 0, "feature_sets": meta["feature_sets"],
               "sum_gen_weight": 0.0}
    with atomic_output(out) as tmp, pq.ParquetWriter(tmp, arrow_schema, compression="zstd") as writer:
        bar = tqdm(total=reader.num_chunks, desc=f"features {task}/{sample}", unit="chunk", file=sys.stderr,
                   disable=None, leave=False)
        for chunk in reader:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # fastjet's exclusive-jets advisory
                rows = _merge(plan, [(name, m.compute(chunk, o, schema)) for name, m, o in plan.sets])
            weights = wplan.evaluate(chunk, summary["input"])
            summary["sum_gen_weight"] += float(np.sum(weights[1]))
            keep = np.ones(len(rows), bool)
            summary["rows_in"] += len(rows)
            if scfg.require_truth_match and rows.truth_match is not None:
                keep &= rows.truth_match
            summary["rows_truth"] += int(keep.sum())
            if selection is not None and len(rows):
                keep &= selection({**rows.tabular, **rows.observers})
            summary["rows_out"] += int(keep.sum())
            if keep.any():
                table = _to_table(plan, chunk, rows, keep, weights, wplan.names)
                writer.write_table(table.cast(arrow_schema))
            summary["chunks"] += 1
            bar.update(1)
        bar.close()
        summary["nonfinite"] = reader.nonfinite
        # Sum of generator weights over every entry read (negative ones included): the dataset's
        # normalisation when the Runs tree has no genEventSumw.
        writer.add_key_value_metadata({GEN_SUM_KEY: json.dumps(
            {"sum_gen_weight": summary["sum_gen_weight"], "entries": summary["entries"]})})
        if summary["rows_out"] == 0:
            writer.write_table(empty.cast(arrow_schema))
            log.warning(
                "features %s/%s: %s gave 0 rows (%d entries, %d objects, %d after truth match, selection %r); "
                "wrote an empty %s with the full schema",
                task, sample, reader.path, summary["entries"], summary["rows_in"], summary["rows_truth"],
                tcfg.selection, out,
            )
    write_provenance(out, stage="features", config={"task": task, "sample": sample,
                                                     "task_config": tcfg.model_dump(mode="json")},
                     extra={"summary": summary, "input_schema": schema.source,
                            "input_schemas": reader.input_schemas})
    return summary
