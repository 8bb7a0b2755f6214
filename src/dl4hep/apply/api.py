"""``dl4hep apply``: score any ntuple readable with the task's input schema with a trained model.

Builds the task's features with the same code as ``dl4hep features`` (:class:`FeaturePlan`,
including the raw branches of ``columns``), applies the task's ``selection``, normalises with
the training statistics stored in the model and writes one parquet row per selected object:

``run``, ``luminosityBlock``, ``event`` (int64), ``object`` (int64, object-level tasks only:
index in the task's collection), ``weight`` (float64, the generator weight, 1 for data),
``score_<class>`` (float32 softmax probabilities) and ``obs_<observer>`` (float32).

Optionally also a ROOT friend tree aligned with the input's entries (:mod:`.friend`). Every
input is opened and checked (trees, branches, shapes) before anything is written; both outputs
go through :func:`dl4hep.io.atomic.atomic_output`. Unlike ``features``, ``reading.entry_stop``
and ``require_truth_match`` do not apply: every entry is scored, so the friend covers the file.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from dl4hep.apply.friend import FILL, FriendWriter
from dl4hep.apply.rows import is_event_level, model_tensors, object_index, row_counts, usable_rows
from dl4hep.apply.scorer import Scorer, input_metadata, load_scorer
from dl4hep.config import AnalysisConfig
from dl4hep.contracts import WEIGHT, observer_column, score_column
from dl4hep.errors import ConfigError, did_you_mean
from dl4hep.features.api import FeaturePlan
from dl4hep.features.base import FeatureOutput
from dl4hep.features.selection import compile_selection
from dl4hep.io.atomic import atomic_output
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import InputSchema, load_input_schema
from dl4hep.provenance import write_provenance

__all__ = ["apply_model", "task_schema"]

log = logging.getLogger(__name__)

_KEYS = ("run", "luminosityBlock", "event")


def task_schema(config: AnalysisConfig, task: str, sample: str | None = None) -> InputSchema:
    """The input schema of ``sample`` (or of the task), extended by the feature plan's raw branches."""
    tcfg = config.task(task)
    name, where = tcfg.input, f"tasks.{task}.input"
    if sample is not None:
        if sample not in tcfg.samples:
            raise ConfigError(
                f"sample '{sample}' is not a sample of task '{task}'; samples are "
                f"{list(tcfg.samples)}." + did_you_mean(sample, tcfg.samples)
            )
        if tcfg.samples[sample].input:
            name, where = tcfg.samples[sample].input or name, f"tasks.{task}.samples.{sample}.input"
    schema = load_input_schema(name, config_dir=config.config_dir, where=where)
    FeaturePlan(tcfg, task).extend_schema(schema)
    return schema


def _ints(a: Any) -> np.ndarray:
    return np.asarray(ak.to_numpy(a), np.int64)


def _table_schema(classes: list[str], observers: list[str], event_level: bool) -> pa.Schema:
    fields = [pa.field(k, pa.int64()) for k in _KEYS]
    fields += [] if event_level else [pa.field("object", pa.int64())]
    fields += [pa.field(WEIGHT, pa.float64())]
    fields += [pa.field(score_column(c), pa.float32()) for c in classes]
    fields += [pa.field(observer_column(o), pa.float32()) for o in observers]
    return pa.schema(fields)


class _Chunk:
    """Scores of one chunk: every row's probabilities (FILL where not scored) and which rows were scored."""

    def __init__(
        self,
        plan: FeaturePlan,
        scorer: Scorer,
        spec: Any,
        selection: Any,
        rows: FeatureOutput,
        entries: int,
    ) -> None:
        self.rows, self.counts = rows, row_counts(rows, entries)
        tensors = model_tensors(rows, spec)
        self.selected = usable_rows(tensors)
        if selection is not None and len(rows):
            self.selected &= np.asarray(selection({**rows.tabular, **rows.observers}), bool)
        self.scores = np.full((len(rows), len(scorer.classes)), FILL, np.float32)
        idx = np.flatnonzero(self.selected)
        if len(idx):
            picked = {k: v[idx] for k, v in tensors.items() if k in scorer.inputs}
            self.scores[idx] = scorer.run(picked)

    def table(
        self,
        chunk: Any,
        schema: pa.Schema,
        plan: FeaturePlan,
        classes: list[str],
        event_level: bool,
    ) -> pa.Table:
        keep = self.selected
        ev = np.asarray(self.rows.event_index, np.int64)[keep]
        cols: dict[str, Any] = {k: _ints(chunk[k])[ev] for k in _KEYS}
        if not event_level:
            cols["object"] = object_index(self.rows, self.counts)[keep]
        cols[WEIGHT] = np.asarray(ak.to_numpy(chunk["weight"]), np.float64)[ev]
        cols.update({score_column(c): self.scores[keep, i] for i, c in enumerate(classes)})
        cols.update(
            {
                observer_column(o): np.asarray(self.rows.observers[o], np.float32)[keep]
                for o in plan.observers
            }
        )
        return pa.table(cols, schema=schema)


@dataclass
class _Job:
    """Everything ``apply`` checks and builds before writing: features, selection, scorer, reader."""

    task: str
    plan: FeaturePlan
    scorer: Scorer
    spec: Any
    selection: Any
    reader: ChunkReader
    event_level: bool
    table_schema: pa.Schema


def _task_selection(tcfg: Any, plan: FeaturePlan, task: str) -> Any:
    if not tcfg.selection:
        return None
    available = sorted(set(plan.observers) | set(plan.tabular))
    return compile_selection(tcfg.selection, available, where=f"tasks.{task}.selection")


def _checked_scorer(model: str | Path, tcfg: Any, task: str, batch_size: int) -> Scorer:
    scorer = load_scorer(model, batch_size=batch_size)
    if scorer.classes != list(tcfg.classes):
        raise ConfigError(
            f"model {scorer.source} was trained for classes {scorer.classes} but task '{task}' has "
            f"{tcfg.classes}; apply it with the config it was trained with"
        )
    return scorer


def _prepare(config: AnalysisConfig, task: str, model: str | Path, inputs: Sequence[str],
             friend: Path | None, sample: str | None, batch_size: int) -> _Job:
    """Open and check everything (config, model, every input) before anything is written."""
    tcfg = config.task(task)
    plan = FeaturePlan(tcfg, task)
    schema = task_schema(config, task, sample)
    selection = _task_selection(tcfg, plan, task)
    scorer = _checked_scorer(model, tcfg, task, batch_size)
    names = plan.tabular if scorer.block == "tabular" else plan.points
    spec = scorer.input_spec(list(names), plan.max_points, task=task)
    reader = ChunkReader(list(inputs), schema, plan.needs, step_size=tcfg.reading.step_size)  # checks every input
    if friend is not None and len(reader.inputs) != 1:
        raise ConfigError(
            f"--friend needs exactly one input file (a friend tree follows one file's entries); "
            f"got {len(reader.inputs)}: {reader.inputs[:3]}"
        )
    event_level = is_event_level([s[0] for s in plan.sets])
    return _Job(task, plan, scorer, spec, selection, reader, event_level,
                _table_schema(scorer.classes, plan.observers, event_level))


def _write_empty_friend(friend_writer: FriendWriter, n_classes: int) -> None:
    """No entries at all: the friend is still an empty, typed tree."""
    friend_writer.write(
        {k: np.zeros(0, np.int64) for k in _KEYS},
        np.zeros(0, np.int64),
        np.zeros((0, n_classes), np.float32),
        np.zeros(0, bool),
    )


def _score_all(job: _Job, out: Path, friend: Path | None, summary: dict[str, Any]) -> None:
    """Score every chunk into ``out`` (and ``friend``), both written atomically; counts go to ``summary``."""
    classes = job.scorer.classes
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(Path(out)))
        writer = stack.enter_context(pq.ParquetWriter(tmp, job.table_schema, compression="zstd"))
        friend_writer = None
        if friend is not None:
            friend_tmp = stack.enter_context(atomic_output(Path(friend)))
            friend_writer = FriendWriter(friend_tmp, classes, event_level=job.event_level)
            stack.callback(friend_writer.close)
        bar = tqdm(total=job.reader.num_chunks, desc=f"apply {job.task}", unit="chunk", file=sys.stderr,
                   disable=None, leave=False)
        for chunk in job.reader:
            rows = job.plan.compute(chunk, job.reader.schema)
            part = _Chunk(job.plan, job.scorer, job.spec, job.selection, rows, len(chunk))
            writer.write_table(part.table(chunk, job.table_schema, job.plan, classes, job.event_level))
            if friend_writer is not None:
                friend_writer.write({k: _ints(chunk[k]) for k in _KEYS}, part.counts, part.scores, part.selected)
            summary["rows"] += len(part.rows)
            summary["scored"] += int(part.selected.sum())
            bar.update(1)
        bar.close()
        if friend_writer is not None and not friend_writer.started:
            _write_empty_friend(friend_writer, len(classes))


def apply_model(
    *,
    config: AnalysisConfig,
    task: str,
    model: str | Path,
    inputs: Sequence[str],
    out: Path,
    friend: Path | None = None,
    sample: str | None = None,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """Score ``inputs`` with ``model`` (a model directory or ``model.onnx``); write ``out`` (and ``friend``).

    Args:
        config, task: the analysis config and the task the model was trained for (features, selection).
        model: ``models/<task>/<model>`` (reads ``best.pt``) or an exported ``.onnx`` file.
        inputs: ntuple locations: paths, globs, URLs, ``@list`` files.
        out: output parquet.
        friend: optional ROOT file for the friend tree (needs exactly one input file).
        sample: read with this sample's input schema (default: the task's).

    Returns:
        ``{"inputs", "entries", "rows", "scored", "classes", "out", "friend"}``.

    Raises:
        ConfigError, InputFileError, BranchNotFoundError: before anything is written.
    """
    job = _prepare(config, task, model, inputs, friend, sample, batch_size)
    summary: dict[str, Any] = {
        "inputs": list(job.reader.inputs), "entries": job.reader.num_entries, "rows": 0, "scored": 0,
        "classes": job.scorer.classes, "out": str(out), "friend": str(friend) if friend else None,
    }
    _score_all(job, out, friend, summary)
    write_provenance(
        Path(out),
        stage="apply",
        config={"task": task, "task_config": config.task(task).model_dump(mode="json")},
        extra={"summary": summary, **input_metadata(job.scorer)},
    )
    log.info("apply %s: scored %d of %d rows from %d entries", task, summary["scored"], summary["rows"],
             summary["entries"])
    return summary
