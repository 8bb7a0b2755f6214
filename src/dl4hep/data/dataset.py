"""Dataset assembly (``dl4hep dataset``): feature files to train/val/test parquet plus meta.json.

Steps (each one is its own module): read and check every feature file, attach
labels and physics weights (:mod:`.weights`), drop or reject rows with NaN/inf
(:mod:`.nonfinite`), optionally cap the rows per class, split by a hash of
``(run, event)`` (:mod:`.splitting`), derive training weights, compute
normalisation on the training split (:mod:`.normalisation`) and write the
directory atomically. Everything is validated before anything is written; a
failed run leaves the previous dataset directory, if any, untouched.

The whole task is held in memory (a 128x17 float32 point cloud is ~9 kB per
object, so 10^5 jets need ~1 GB); see docs/dataset.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.contracts import (
    FEATURE_META_KEY,
    LABEL,
    POINT_TENSORS,
    POINTS,
    POINTS_MASK,
    POINTS_P4,
    SPLITS,
    WEIGHT,
)
from dl4hep.data.nonfinite import nonfinite_rows
from dl4hep.data.normalisation import points_stats, tabular_stats
from dl4hep.data.splitting import assign_splits
from dl4hep.data.weights import (
    SampleNormalisation,
    equal_sample_mix,
    sample_normalisation,
    training_weights,
)
from dl4hep.errors import ConfigError, DataError, EmptyInputError, InputFileError, did_you_mean
from dl4hep.io.atomic import atomic_directory
from dl4hep.provenance import write_provenance

__all__ = ["METADATA_KEY", "NAME_KEYS", "FeatureFile", "Rows", "build_dataset", "read_feature_file"]

log = logging.getLogger(__name__)

#: Parquet key-value metadata key holding the JSON feature description (old name of
#: :data:`dl4hep.contracts.FEATURE_META_KEY`, kept for the modules that import it from here).
METADATA_KEY = FEATURE_META_KEY
#: Metadata entries that must agree between all files of a task.
NAME_KEYS = ("tabular", "points", "max_points", "observers", "weight_variations")
#: Parquet file key-value metadata of a feature file: generator-weight sum of every entry read.
GEN_SUM_KEY = b"dl4hep_gen_weights"
_REQUIRED_COLUMNS = ("run", "event", WEIGHT)


@dataclass
class FeatureFile:
    """One feature parquet: its sample, metadata, row count and (if not empty) content."""

    path: Path
    sample: str
    meta: dict[str, Any]
    rows: int
    array: ak.Array | None = None

    def names(self) -> dict[str, Any]:
        return {k: self.meta.get(k) or ([] if k != "max_points" else 0) for k in NAME_KEYS}


def read_feature_file(path: str | Path, sample: str, *, load: bool = True) -> FeatureFile:
    """Open a feature parquet, check its metadata and required columns, and read it."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"feature file {path} (sample '{sample}') does not exist; run `dl4hep features` first")
    try:
        schema = pq.read_schema(path)
        file_meta = pq.read_metadata(path)
        rows = file_meta.num_rows
    except (pa.ArrowException, OSError) as err:
        raise InputFileError(
            f"feature file {path} (sample '{sample}') is not a readable parquet file: {err}. "
            "Delete it and re-run `dl4hep features` for its ntuple."
        ) from err
    raw = (schema.metadata or {}).get(FEATURE_META_KEY)
    if raw is None:
        raise InputFileError(
            f"feature file {path} has no '{FEATURE_META_KEY.decode()}' parquet metadata; "
            "it was not written by `dl4hep features`"
        )
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
    except ValueError as err:
        raise InputFileError(f"feature file {path}: the '{FEATURE_META_KEY.decode()}' metadata is not valid JSON: {err}") from err
    gen_sums = (file_meta.metadata or {}).get(GEN_SUM_KEY)
    if gen_sums is not None:  # every entry read, before any selection: the normalisation without a Runs tree
        meta["sum_gen_weight_read"] = json.loads(gen_sums).get("sum_gen_weight")
    missing = [c for c in _REQUIRED_COLUMNS if c not in schema.names]
    if meta.get("tabular"):
        missing += [] if "tabular" in schema.names else ["tabular"]
    if meta.get("points"):
        missing += [c for c in (POINTS, POINTS_MASK) if c not in schema.names]
    if meta.get("observers"):
        missing += [] if "observers" in schema.names else ["observers"]
    if missing:
        raise InputFileError(
            f"feature file {path} lacks column(s) {missing} required by its metadata and docs/architecture.md "
            f"(columns present: {schema.names})"
        )
    array = None
    if load and rows > 0:
        try:
            array = ak.from_parquet(path)
        except Exception as err:  # awkward/pyarrow raise many types for corrupt pages
            raise InputFileError(f"feature file {path} (sample '{sample}') could not be read: {err}") from err
    return FeatureFile(path=path, sample=sample, meta=meta, rows=rows, array=array)


# ----------------------------------------------------------------------------- helpers


def _ordered_inputs(tcfg: TaskConfig, task: str, inputs: Mapping[str, Sequence[Path]]) -> list[tuple[str, Path]]:
    unknown = [s for s in inputs if s not in tcfg.samples]
    if unknown:
        raise ConfigError(
            f"input sample(s) {unknown} are not samples of task '{task}'; its samples are {list(tcfg.samples)}."
            + did_you_mean(unknown[0], tcfg.samples)
        )
    unlabelled = [s for s in inputs if tcfg.samples[s].label is None]
    if unlabelled:  # label: null (e.g. collision data): scored by `dl4hep apply`, never trained on
        log.warning("task '%s': sample(s) %s have label: null; left out of the dataset", task, unlabelled)
    # Config order, then file order; the result does not depend on either (rows are sorted later).
    return [(s, Path(p)) for s in tcfg.labelled_samples if s in inputs for p in inputs[s]]


def _check_names(files: Sequence[FeatureFile]) -> dict[str, Any]:
    ref = files[0]
    for f in files[1:]:
        if f.names() != ref.names():
            diffs = [
                f"{k}: {ref.names()[k]} vs {f.names()[k]}" for k in NAME_KEYS if ref.names()[k] != f.names()[k]
            ]
            raise DataError(
                f"feature files {ref.path} and {f.path} describe different features ({'; '.join(diffs)}); "
                "all files of a task must come from the same feature configuration. Re-run `dl4hep features`."
            )
    return ref.names()


def _check_classes(tcfg: TaskConfig, rows_by_sample: Mapping[str, int], given: set[str], when: str) -> None:
    classes = tcfg.classes
    per_class = {c: 0 for c in classes}
    for s, n in rows_by_sample.items():
        per_class[tcfg.samples[s].label] += n
    present = [c for c in classes if per_class[c] > 0]
    if not present:
        raise EmptyInputError(f"every feature file is empty {when}; samples {sorted(given)} hold no rows")
    if len(present) == 1:
        raise DataError(
            f"only class '{present[0]}' has rows {when} (classes: {classes}); a classifier needs at least two. "
            f"Rows per sample: {dict(rows_by_sample)}"
        )
    empty = [c for c in classes if per_class[c] == 0]
    if empty:
        parts = []
        for c in empty:
            samples = [s for s, sc in tcfg.samples.items() if sc.label == c]
            not_given = [s for s in samples if s not in given]
            parts.append(
                f"class '{c}' (samples {samples}" + (f"; no files given for {not_given}" if not_given else "") + ")"
            )
        raise EmptyInputError(
            f"{'; '.join(parts)} has zero rows {when}; every class of the task needs events. "
            "Check the samples' files, their selection and require_truth_match."
        )


def _numpy_blocks(arr: ak.Array, names: Mapping[str, Any]) -> dict[str, np.ndarray | None]:
    out: dict[str, np.ndarray | None] = {"tabular": None, **dict.fromkeys(POINT_TENSORS)}
    fields = set(arr.fields)
    try:
        if names["tabular"]:
            out["tabular"] = np.stack(
                [np.asarray(ak.to_numpy(arr["tabular", n]), dtype=np.float32) for n in names["tabular"]], axis=1
            )
        if names["points"]:
            out[POINTS] = np.asarray(ak.to_numpy(arr[POINTS]), dtype=np.float32)
            out[POINTS_MASK] = np.asarray(ak.to_numpy(arr[POINTS_MASK]), dtype=bool)
            if POINTS_P4 in fields:
                out[POINTS_P4] = np.asarray(ak.to_numpy(arr[POINTS_P4]), dtype=np.float32)
    except (ValueError, ak.errors.FieldNotFoundError) as err:
        raise DataError(
            f"feature arrays do not follow the contract (tabular record of scalars; points (P, F) regular "
            f"with a (P,) mask): {err}"
        ) from err
    if out[POINTS] is not None and out[POINTS].shape[-1] != len(names["points"]):
        raise DataError(f"points have {out['points'].shape[-1]} features but the metadata names {names['points']}")
    return out


#: Rows per parquet row group of a split: the unit that prediction and streamed training read
#: at once, so their memory is bounded by it (16k jets x 128 particles x 17 features: ~150 MB).
ROW_GROUP_ROWS = 16_384


def _write_split(array: ak.Array, path: Path, meta: dict[str, Any]) -> None:
    table = ak.to_arrow_table(array, extensionarray=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), FEATURE_META_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)


# ----------------------------------------------------------------------------- the steps


@dataclass
class _Inputs:
    """The task's feature files, checked: all of them, the non-empty ones, and what they describe."""

    files: list[FeatureFile]
    nonempty: list[FeatureFile]
    given: set[str]
    rows_by_sample: dict[str, int]
    names: dict[str, Any]


@dataclass
class Rows:
    """Every row of the task in canonical order, and what the steps attach to it.

    ``sample_idx`` indexes the task's labelled samples; ``weight`` (physics weight, σ·L/Σw scaled)
    and ``variations`` are rescaled in place by the steps; ``bad`` marks rows with NaN/inf,
    ``keep`` the rows that reach the dataset, ``split`` the split index per row.
    """

    arr: ak.Array
    sample_idx: np.ndarray
    file_idx: np.ndarray
    run: np.ndarray
    event: np.ndarray
    nominal: np.ndarray
    gen_weight: np.ndarray
    variations: dict[str, np.ndarray]
    blocks: dict[str, np.ndarray | None]
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bad: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    split: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _read_inputs(tcfg: TaskConfig, task: str, inputs: Mapping[str, Sequence[Path]]) -> _Inputs:
    """Read and check every file: every class has rows, all files describe the same features."""
    files = [read_feature_file(p, s) for s, p in _ordered_inputs(tcfg, task, inputs)]
    given = {f.sample for f in files}
    for f in files:
        if f.rows == 0:
            log.warning("feature file %s (sample '%s') is empty; skipped", f.path, f.sample)
    rows_by_sample = {s: sum(f.rows for f in files if f.sample == s) for s in tcfg.samples if s in given}
    _check_classes(tcfg, rows_by_sample, given, "in the inputs")
    nonempty = [f for f in files if f.rows > 0]
    names = _check_names(nonempty)
    _check_reweight_observers(tcfg.dataset, task, names)
    return _Inputs(files=files, nonempty=nonempty, given=given, rows_by_sample=rows_by_sample, names=names)


def _check_reweight_observers(ds: Any, task: str, names: Mapping[str, Any]) -> None:
    if ds.balance != "pt_eta":
        return
    if len(ds.reweight_observers) != 2:
        raise ConfigError(
            f"tasks.{task}.dataset.reweight_observers must name two observers for balance='pt_eta', "
            f"got {ds.reweight_observers}"
        )
    absent = [o for o in ds.reweight_observers if o not in names["observers"]]
    if absent:
        raise ConfigError(
            f"tasks.{task}.dataset.reweight_observers {absent} are not observers of the feature files "
            f"(observers: {names['observers']})." + did_you_mean(absent[0], names["observers"])
        )


def _canonical_rows(inp: _Inputs, task: str, sample_names: Sequence[str]) -> Rows:
    """Concatenate the files and sort by (sample, run, lumi, event), stable: nothing depends on file order."""
    nonempty = inp.nonempty
    try:
        arr = ak.concatenate([f.array for f in nonempty]) if len(nonempty) > 1 else nonempty[0].array
    except ValueError as err:
        raise DataError(f"feature files of task '{task}' have incompatible layouts: {err}") from err
    sample_idx = np.concatenate([np.full(f.rows, sample_names.index(f.sample), np.int64) for f in nonempty])
    file_idx = np.concatenate([np.full(f.rows, i, np.int64) for i, f in enumerate(nonempty)])
    run = np.asarray(ak.to_numpy(arr["run"]), dtype=np.int64)
    event = np.asarray(ak.to_numpy(arr["event"]), dtype=np.int64)
    lumi = (
        np.asarray(ak.to_numpy(arr["luminosityBlock"]), dtype=np.int64)
        if "luminosityBlock" in arr.fields else np.zeros_like(run)
    )
    order = np.lexsort((event, lumi, run, sample_idx))
    arr = arr[order]
    nominal = np.asarray(ak.to_numpy(arr[WEIGHT]), dtype=np.float64)  # the weight expression (docs/evaluation.md)
    gen_weight = np.asarray(ak.to_numpy(arr["gen_weight"]), dtype=np.float64) if "gen_weight" in arr.fields \
        else nominal
    variations = {v: np.asarray(ak.to_numpy(arr["weight_variations", v]), dtype=np.float64)
                  for v in inp.names["weight_variations"]}
    return Rows(arr=arr, sample_idx=sample_idx[order], file_idx=file_idx[order], run=run[order], event=event[order],
                nominal=nominal, gen_weight=gen_weight, variations=variations,
                blocks=_numpy_blocks(arr, inp.names))


def _attach_labels_and_weights(rows: Rows, config: AnalysisConfig, tcfg: TaskConfig,
                               inp: _Inputs) -> dict[str, SampleNormalisation]:
    """Class label per row and physics weight w·σ·L/Σw per sample (Σw uses every file, empty ones too)."""
    sample_names, classes = tcfg.labelled_samples, list(tcfg.classes)
    label_of_sample = np.array([classes.index(tcfg.samples[s].label) for s in sample_names], dtype=np.int64)
    rows.labels = label_of_sample[rows.sample_idx]
    rows.weight = rows.nominal.copy()
    norms = {}
    for si, s in enumerate(sample_names):
        if s not in inp.given:
            continue
        sfiles = [f for f in inp.files if f.sample == s]
        in_s = rows.sample_idx == si
        gw = rows.gen_weight[in_s]
        row_sum = float(np.sum(gw[np.isfinite(gw)]))  # sum of genWeight, signed
        norm = sample_normalisation(
            s, config_cross_section=tcfg.samples[s].cross_section, file_meta=[f.meta for f in sfiles],
            files=[str(f.path) for f in sfiles], row_weight_sum=row_sum,
        )
        scale = norm.scale(config.luminosity)
        if scale is None:  # no cross section: the sample sums to its row count
            scale = in_s.sum() / row_sum if row_sum != 0 else 1.0
        rows.weight[in_s] = rows.nominal[in_s] * scale
        for values in rows.variations.values():  # same sigma x L / sum_w as the nominal weight
            values[in_s] *= scale
        norms[s] = norm
    return norms


def _drop_nonfinite(rows: Rows, inp: _Inputs, task: str, nan_policy: str) -> dict[str, int]:
    """Mark rows holding NaN/inf (weights, features, variations): drop them, or fail naming the files."""
    names, blocks = inp.names, rows.blocks
    bad, nan_counts = nonfinite_rows(
        weight=rows.weight, tabular=blocks["tabular"], tabular_names=names["tabular"], points=blocks[POINTS],
        points_mask=blocks[POINTS_MASK], point_names=names["points"], points_p4=blocks[POINTS_P4],
    )
    for v, values in rows.variations.items():  # a NaN variation is as harmful to the bands as a NaN weight
        bad_v = ~np.isfinite(values)
        if bad_v.any():
            nan_counts[f"weight_variations.{v}"] = int(bad_v.sum())
            bad |= bad_v
    n_bad = int(bad.sum())
    if n_bad and nan_policy == "fail":
        bad_files = sorted({str(inp.nonempty[i].path) for i in np.unique(rows.file_idx[bad])})
        raise DataError(
            f"task '{task}': {n_bad} row(s) hold NaN/inf values; rows per feature: {nan_counts}; "
            f"in file(s) {bad_files}. Fix the feature definition or set tasks.{task}.dataset.nan_policy: drop"
        )
    if n_bad:
        log.warning("task '%s': dropping %d row(s) with NaN/inf; rows per feature: %s", task, n_bad, nan_counts)
    rows.bad, rows.keep = bad, ~bad
    return nan_counts


def _cap_per_class(rows: Rows, classes: Sequence[str], n_samples: int, max_per_class: int | None,
                   seed: int) -> dict[str, int]:
    """Keep at most ``max_per_class`` random rows per class (seeded; rows are in canonical order).

    Each sample keeps its expected yield: the survivors are scaled by rows before / rows after.
    """
    capped: dict[str, int] = {}
    if max_per_class is None:
        return capped
    keep = rows.keep
    rng = np.random.default_rng(seed)
    for c, cname in enumerate(classes):
        rows_c = np.flatnonzero(keep & (rows.labels == c))
        if len(rows_c) > max_per_class:
            chosen = rng.choice(rows_c, max_per_class, replace=False)
            drop = np.setdiff1d(rows_c, chosen)
            keep[drop] = False
            capped[cname] = int(len(drop))
    for si in range(n_samples):
        before = np.sum(~rows.bad & (rows.sample_idx == si))
        after = np.sum(keep & (rows.sample_idx == si))
        if after:
            rows.weight[rows.sample_idx == si] *= before / after
            for values in rows.variations.values():
                values[rows.sample_idx == si] *= before / after
    return capped


def _mix_samples_equally(rows: Rows, sample_names: Sequence[str]) -> None:
    """``sample_mix: equal`` (per-object ID): each sample of a class weighs the same (audit D4)."""
    kidx = np.flatnonzero(rows.keep)
    sidx = rows.sample_idx[kidx]
    mixed = equal_sample_mix(rows.weight[kidx], rows.labels[kidx], sidx, sample_names)
    for si in np.unique(sidx):  # the variations follow each sample's factor
        rows_s = kidx[sidx == si]
        factor = mixed[sidx == si].sum() / rows.weight[rows_s].sum()
        for values in rows.variations.values():
            values[rows_s] *= factor
    rows.weight[kidx] = mixed


def _split(rows: Rows, classes: list[str], fractions: Any, task: str) -> np.ndarray:
    """Split by a hash of (run, event); every class needs training rows. Returns the training mask."""
    rows.split = assign_splits(rows.run, rows.event, fractions)
    is_train = rows.keep & (rows.split == 0)
    train_counts = np.bincount(rows.labels[is_train], minlength=len(classes))
    if np.any(train_counts == 0):
        missing = [classes[c] for c in np.flatnonzero(train_counts == 0)]
        raise DataError(
            f"class(es) {missing} have no rows in the training split ({int(rows.keep.sum())} rows in total); "
            f"add events or raise tasks.{task}.dataset.split.train"
        )
    return is_train


def _training_weights(rows: Rows, ds: Any, classes: list[str], is_train: np.ndarray) -> np.ndarray:
    """Training weight per row (zero for dropped rows), balanced as ``ds.balance`` asks."""
    obs = None
    if ds.balance == "pt_eta":
        obs = np.stack(
            [np.asarray(ak.to_numpy(rows.arr["observers", o]), dtype=np.float64) for o in ds.reweight_observers],
            axis=1,
        )
    kidx = np.flatnonzero(rows.keep)
    train_weight = np.zeros(len(rows.labels))
    train_weight[kidx] = training_weights(
        labels=rows.labels[kidx], weights=rows.weight[kidx], is_train=is_train[kidx], classes=classes,
        balance=ds.balance, observers=None if obs is None else obs[kidx],
    )
    return train_weight


def _normalisation(rows: Rows, is_train: np.ndarray) -> dict[str, Any]:
    """Input normalisation statistics from the training split only."""
    blocks, norm_stats = rows.blocks, {}
    if blocks["tabular"] is not None:
        norm_stats["tabular"] = tabular_stats(blocks["tabular"][is_train])
    if blocks[POINTS] is not None:
        norm_stats["points"] = points_stats(blocks[POINTS][is_train], blocks[POINTS_MASK][is_train])
    return norm_stats


@dataclass
class _SplitCounts:
    rows: dict[str, np.ndarray]
    counts: dict[str, dict[str, int]]
    sums: dict[str, dict[str, float]]


def _split_counts(rows: Rows, classes: Sequence[str], task: str) -> _SplitCounts:
    """Rows of each split, and their count and weight sum per class."""
    out = _SplitCounts({}, {}, {})
    for k, sname in enumerate(SPLITS):
        idx = np.flatnonzero(rows.keep & (rows.split == k))
        out.rows[sname] = idx
        out.counts[sname] = {c: int(np.sum(rows.labels[idx] == i)) for i, c in enumerate(classes)}
        out.sums[sname] = {c: float(np.sum(rows.weight[idx][rows.labels[idx] == i])) for i, c in enumerate(classes)}
        if len(idx) == 0:
            log.warning("task '%s': the %s split is empty", task, sname)
    return out


@dataclass
class _Report:
    """What the steps found, for meta.json and the summary."""

    norms: dict[str, SampleNormalisation]
    nan_counts: dict[str, int]
    n_bad: int
    capped: dict[str, int]
    rows_kept: dict[str, int]
    norm_stats: dict[str, Any]
    splits: _SplitCounts


def _meta(config: AnalysisConfig, task: str, inp: _Inputs, rows: Rows, rep: _Report) -> dict[str, Any]:
    """meta.json: features, classes, normalisation, counts and every dataset setting used."""
    tcfg, names, first = config.task(task), inp.names, inp.nonempty[0].meta
    ds = tcfg.dataset
    return {
        "task": task,
        "classes": list(tcfg.classes),
        "background": tcfg.background_class,
        "tabular": list(names["tabular"]),
        "points": list(names["points"]),
        "observers": list(names["observers"]),
        "max_points": int(names["max_points"] or 0),
        "has_points_p4": rows.blocks[POINTS_P4] is not None,
        "feature_sets": first.get("feature_sets", []),
        "norm": rep.norm_stats,
        "counts": rep.splits.counts,
        "sum_weights": rep.splits.sums,
        "split": {s: float(ds.split[s]) for s in SPLITS},
        "split_hash": "splitmix64(splitmix64(run) ^ event) mod 2^32 / 2^32",
        "luminosity_fb": float(config.luminosity),
        "samples": {
            s: {"label": tcfg.samples[s].label, "rows": rep.rows_kept[s], **rep.norms[s].as_dict()} for s in rep.norms
        },
        "nan_policy": ds.nan_policy,
        "nan_dropped": rep.nan_counts,
        "nan_dropped_rows": rep.n_bad,
        "max_per_class": ds.max_per_class,
        "max_per_class_dropped": rep.capped,
        "balance": ds.balance,
        "sample_mix": ds.sample_mix,
        "reweight_observers": list(ds.reweight_observers) if ds.balance == "pt_eta" else [],
        "weight_variations": list(rows.variations),
        "weight_groups": first.get("weight_groups") or {},
    }


def _write(out_dir: Path, config: AnalysisConfig, task: str, inputs: Mapping[str, Sequence[Path]], inp: _Inputs,
           rows: Rows, train_weight: np.ndarray, split_rows: Mapping[str, np.ndarray], meta: dict[str, Any]) -> None:
    """The split parquets, meta.json and provenance, atomically (all or nothing)."""
    tcfg = config.task(task)
    classes = list(tcfg.classes)
    sample_str = np.array(tcfg.labelled_samples, dtype=str)
    with atomic_directory(out_dir) as tmp:
        for sname, idx in split_rows.items():
            part = rows.arr[idx]
            part = ak.with_field(part, rows.weight[idx], WEIGHT)
            part = ak.with_field(part, rows.gen_weight[idx], "gen_weight")
            if rows.variations:
                part = ak.with_field(part, ak.zip({v: x[idx] for v, x in rows.variations.items()}),
                                     "weight_variations")
            part = ak.with_field(part, rows.labels[idx], LABEL)
            part = ak.with_field(part, ak.from_numpy(sample_str[rows.sample_idx[idx]]), "sample")
            part = ak.with_field(part, train_weight[idx], "train_weight")
            _write_split(part, tmp / f"{sname}.parquet", {**inp.nonempty[0].meta, **{"split": sname, "classes": classes}})
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        write_provenance(
            tmp, stage="dataset",
            config={"task": task, "luminosity": config.luminosity, "seed": config.seed,
                    "definition": tcfg.model_dump(mode="json")},
            extra={"inputs": {s: [str(p) for p in ps] for s, ps in inputs.items()}},
        )


# ----------------------------------------------------------------------------- main entry


def build_dataset(
    *, config: AnalysisConfig, task: str, inputs: dict[str, list[Path]], out_dir: Path
) -> dict[str, Any]:
    """Merge a task's feature files into ``out_dir/{train,val,test}.parquet`` and ``meta.json``.

    Args:
        config: the resolved analysis config (luminosity in fb^-1, seed).
        task: task name.
        inputs: sample name -> feature parquet files of that sample.
        out_dir: dataset directory; replaced atomically.

    Returns:
        Summary: rows per split and class, rows dropped for NaN/inf per feature,
        rows removed by ``max_per_class``.
    """
    tcfg = config.task(task)
    ds, classes, samples = tcfg.dataset, list(tcfg.classes), tcfg.labelled_samples
    inp = _read_inputs(tcfg, task, inputs)
    rows = _canonical_rows(inp, task, samples)
    norms = _attach_labels_and_weights(rows, config, tcfg, inp)
    nan_counts = _drop_nonfinite(rows, inp, task, ds.nan_policy)
    capped = _cap_per_class(rows, classes, len(samples), ds.max_per_class, config.seed)
    rows_kept = {s: int(np.sum(rows.keep & (rows.sample_idx == samples.index(s)))) for s in inp.rows_by_sample}
    _check_classes(tcfg, rows_kept, inp.given, "after dropping rows with NaN/inf")
    if ds.sample_mix == "equal":
        _mix_samples_equally(rows, samples)
    is_train = _split(rows, classes, ds.split, task)
    train_weight = _training_weights(rows, ds, classes, is_train)
    rep = _Report(norms=norms, nan_counts=nan_counts, n_bad=int(rows.bad.sum()), capped=capped, rows_kept=rows_kept,
                  norm_stats=_normalisation(rows, is_train), splits=_split_counts(rows, classes, task))
    _write(Path(out_dir), config, task, inputs, inp, rows, train_weight, rep.splits.rows,
           _meta(config, task, inp, rows, rep))
    log.info("task '%s': dataset written to %s: %s", task, out_dir, rep.splits.counts)
    return {
        "out_dir": str(Path(out_dir)),
        "rows": rep.splits.counts,
        "nan_dropped": rep.nan_counts,
        "nan_dropped_rows": rep.n_bad,
        "max_per_class_dropped": rep.capped,
    }
