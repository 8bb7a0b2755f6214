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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dl4hep.config import AnalysisConfig, TaskConfig
from dl4hep.data.nonfinite import nonfinite_rows
from dl4hep.data.normalisation import points_stats, tabular_stats
from dl4hep.data.splitting import SPLITS, assign_splits
from dl4hep.data.weights import equal_sample_mix, sample_normalisation, training_weights
from dl4hep.errors import ConfigError, DataError, EmptyInputError, InputFileError, did_you_mean
from dl4hep.io.atomic import atomic_directory
from dl4hep.provenance import write_provenance

__all__ = ["METADATA_KEY", "NAME_KEYS", "FeatureFile", "build_dataset", "read_feature_file"]

log = logging.getLogger(__name__)

#: Parquet key-value metadata key holding the JSON feature description.
METADATA_KEY = b"dl4hep"
#: Metadata entries that must agree between all files of a task.
NAME_KEYS = ("tabular", "points", "max_points", "observers", "weight_variations")
#: Parquet file key-value metadata of a feature file: generator-weight sum of every entry read.
GEN_SUM_KEY = b"dl4hep_gen_weights"
_REQUIRED_COLUMNS = ("run", "event", "weight")


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
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise InputFileError(
            f"feature file {path} has no '{METADATA_KEY.decode()}' parquet metadata; "
            "it was not written by `dl4hep features`"
        )
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
    except ValueError as err:
        raise InputFileError(f"feature file {path}: the '{METADATA_KEY.decode()}' metadata is not valid JSON: {err}") from err
    gen_sums = (file_meta.metadata or {}).get(GEN_SUM_KEY)
    if gen_sums is not None:  # every entry read, before any selection: the normalisation without a Runs tree
        meta["sum_gen_weight_read"] = json.loads(gen_sums).get("sum_gen_weight")
    missing = [c for c in _REQUIRED_COLUMNS if c not in schema.names]
    if meta.get("tabular"):
        missing += [] if "tabular" in schema.names else ["tabular"]
    if meta.get("points"):
        missing += [c for c in ("points", "points_mask") if c not in schema.names]
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
    out: dict[str, np.ndarray | None] = {"tabular": None, "points": None, "points_mask": None, "points_p4": None}
    fields = set(arr.fields)
    try:
        if names["tabular"]:
            out["tabular"] = np.stack(
                [np.asarray(ak.to_numpy(arr["tabular", n]), dtype=np.float32) for n in names["tabular"]], axis=1
            )
        if names["points"]:
            out["points"] = np.asarray(ak.to_numpy(arr["points"]), dtype=np.float32)
            out["points_mask"] = np.asarray(ak.to_numpy(arr["points_mask"]), dtype=bool)
            if "points_p4" in fields:
                out["points_p4"] = np.asarray(ak.to_numpy(arr["points_p4"]), dtype=np.float32)
    except (ValueError, ak.errors.FieldNotFoundError) as err:
        raise DataError(
            f"feature arrays do not follow the contract (tabular record of scalars; points (P, F) regular "
            f"with a (P,) mask): {err}"
        ) from err
    if out["points"] is not None and out["points"].shape[-1] != len(names["points"]):
        raise DataError(f"points have {out['points'].shape[-1]} features but the metadata names {names['points']}")
    return out


#: Rows per parquet row group of a split: the unit that prediction and streamed training read
#: at once, so their memory is bounded by it (16k jets x 128 particles x 17 features: ~150 MB).
ROW_GROUP_ROWS = 16_384


def _write_split(array: ak.Array, path: Path, meta: dict[str, Any]) -> None:
    table = ak.to_arrow_table(array, extensionarray=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)


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
    ds = tcfg.dataset
    classes = list(tcfg.classes)
    out_dir = Path(out_dir)

    # 1. read and check every file ---------------------------------------------------
    files = [read_feature_file(p, s) for s, p in _ordered_inputs(tcfg, task, inputs)]
    given = {f.sample for f in files}
    for f in files:
        if f.rows == 0:
            log.warning("feature file %s (sample '%s') is empty; skipped", f.path, f.sample)
    rows_by_sample = {s: sum(f.rows for f in files if f.sample == s) for s in tcfg.samples if s in given}
    _check_classes(tcfg, rows_by_sample, given, "in the inputs")
    nonempty = [f for f in files if f.rows > 0]
    names = _check_names(nonempty)
    if ds.balance == "pt_eta":
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

    sample_names = tcfg.labelled_samples  # label: null samples never reach a dataset
    try:
        arr = ak.concatenate([f.array for f in nonempty]) if len(nonempty) > 1 else nonempty[0].array
    except ValueError as err:
        raise DataError(f"feature files of task '{task}' have incompatible layouts: {err}") from err
    sample_idx = np.concatenate([np.full(f.rows, sample_names.index(f.sample), np.int64) for f in nonempty])
    file_idx = np.concatenate([np.full(f.rows, i, np.int64) for i, f in enumerate(nonempty)])

    # Canonical row order: (sample, run, lumi, event), stable, so nothing depends on file order.
    run = np.asarray(ak.to_numpy(arr["run"]), dtype=np.int64)
    event = np.asarray(ak.to_numpy(arr["event"]), dtype=np.int64)
    lumi = (
        np.asarray(ak.to_numpy(arr["luminosityBlock"]), dtype=np.int64)
        if "luminosityBlock" in arr.fields else np.zeros_like(run)
    )
    order = np.lexsort((event, lumi, run, sample_idx))
    arr, sample_idx, file_idx, run, event = arr[order], sample_idx[order], file_idx[order], run[order], event[order]
    nominal = np.asarray(ak.to_numpy(arr["weight"]), dtype=np.float64)  # the weight expression (docs/evaluation.md)
    gen_weight = np.asarray(ak.to_numpy(arr["gen_weight"]), dtype=np.float64) if "gen_weight" in arr.fields \
        else nominal
    variations = {v: np.asarray(ak.to_numpy(arr["weight_variations", v]), dtype=np.float64)
                  for v in names["weight_variations"]}
    blocks = _numpy_blocks(arr, names)

    # 2.-3. labels and physics weights (sum_w uses every file, empty ones too) ---------
    label_of_sample = np.array([classes.index(tcfg.samples[s].label) for s in sample_names], dtype=np.int64)
    labels = label_of_sample[sample_idx]
    weight = nominal.copy()
    norms = {}
    for si, s in enumerate(sample_names):
        if s not in given:
            continue
        sfiles = [f for f in files if f.sample == s]
        in_s = sample_idx == si
        row_sum = float(np.sum(gen_weight[in_s][np.isfinite(gen_weight[in_s])]))  # sum of genWeight, signed
        norm = sample_normalisation(
            s, config_cross_section=tcfg.samples[s].cross_section, file_meta=[f.meta for f in sfiles],
            files=[str(f.path) for f in sfiles], row_weight_sum=row_sum,
        )
        scale = norm.scale(config.luminosity)
        if scale is None:  # no cross section: the sample sums to its row count
            scale = in_s.sum() / row_sum if row_sum != 0 else 1.0
        weight[in_s] = nominal[in_s] * scale
        for values in variations.values():  # same sigma x L / sum_w as the nominal weight
            values[in_s] *= scale
        norms[s] = norm

    # 4. NaN / inf -----------------------------------------------------------------------
    bad, nan_counts = nonfinite_rows(
        weight=weight, tabular=blocks["tabular"], tabular_names=names["tabular"], points=blocks["points"],
        points_mask=blocks["points_mask"], point_names=names["points"], points_p4=blocks["points_p4"],
    )
    for v, values in variations.items():  # a NaN variation is as harmful to the bands as a NaN weight
        bad_v = ~np.isfinite(values)
        if bad_v.any():
            nan_counts[f"weight_variations.{v}"] = int(bad_v.sum())
            bad |= bad_v
    n_bad = int(bad.sum())
    if n_bad and ds.nan_policy == "fail":
        bad_files = sorted({str(nonempty[i].path) for i in np.unique(file_idx[bad])})
        raise DataError(
            f"task '{task}': {n_bad} row(s) hold NaN/inf values; rows per feature: {nan_counts}; "
            f"in file(s) {bad_files}. Fix the feature definition or set tasks.{task}.dataset.nan_policy: drop"
        )
    if n_bad:
        log.warning("task '%s': dropping %d row(s) with NaN/inf; rows per feature: %s", task, n_bad, nan_counts)
    keep = ~bad

    # 5. max_per_class (seeded; rows are in canonical order, so file order is irrelevant) ----
    capped: dict[str, int] = {}
    if ds.max_per_class is not None:
        rng = np.random.default_rng(config.seed)
        for c, cname in enumerate(classes):
            rows_c = np.flatnonzero(keep & (labels == c))
            if len(rows_c) > ds.max_per_class:
                chosen = rng.choice(rows_c, ds.max_per_class, replace=False)
                drop = np.setdiff1d(rows_c, chosen)
                keep[drop] = False
                capped[cname] = int(len(drop))
        # Keep each sample's expected yield: scale the survivors by rows before / rows after.
        for si in range(len(sample_names)):
            before = np.sum(~bad & (sample_idx == si))
            after = np.sum(keep & (sample_idx == si))
            if after:
                weight[sample_idx == si] *= before / after
                for values in variations.values():
                    values[sample_idx == si] *= before / after

    rows_kept = {s: int(np.sum(keep & (sample_idx == sample_names.index(s)))) for s in rows_by_sample}
    _check_classes(tcfg, rows_kept, given, "after dropping rows with NaN/inf")

    if ds.sample_mix == "equal":  # per-object ID: each sample of a class weighs the same (audit D4)
        kidx = np.flatnonzero(keep)
        mixed = equal_sample_mix(weight[kidx], labels[kidx], sample_idx[kidx], sample_names)
        for si in np.unique(sample_idx[kidx]):  # the variations follow each sample's factor
            rows_s = kidx[sample_idx[kidx] == si]
            factor = mixed[sample_idx[kidx] == si].sum() / weight[rows_s].sum()
            for values in variations.values():
                values[rows_s] *= factor
        weight[kidx] = mixed

    # 6. split -------------------------------------------------------------------------------
    split = assign_splits(run, event, ds.split)
    is_train = keep & (split == 0)
    train_counts = np.bincount(labels[is_train], minlength=len(classes))
    if np.any(train_counts == 0):
        missing = [classes[c] for c in np.flatnonzero(train_counts == 0)]
        raise DataError(
            f"class(es) {missing} have no rows in the training split ({int(keep.sum())} rows in total); "
            f"add events or raise tasks.{task}.dataset.split.train"
        )

    # 7. training weights ---------------------------------------------------------------------
    obs = None
    if ds.balance == "pt_eta":
        obs = np.stack(
            [np.asarray(ak.to_numpy(arr["observers", o]), dtype=np.float64) for o in ds.reweight_observers], axis=1
        )
    kidx = np.flatnonzero(keep)
    train_weight = np.zeros(len(labels))
    train_weight[kidx] = training_weights(
        labels=labels[kidx], weights=weight[kidx], is_train=is_train[kidx], classes=classes,
        balance=ds.balance, observers=None if obs is None else obs[kidx],
    )

    # 8. normalisation from the training split ---------------------------------------------------
    norm_stats: dict[str, Any] = {}
    if blocks["tabular"] is not None:
        norm_stats["tabular"] = tabular_stats(blocks["tabular"][is_train])
    if blocks["points"] is not None:
        norm_stats["points"] = points_stats(blocks["points"][is_train], blocks["points_mask"][is_train])

    # counts ----------------------------------------------------------------------------------------
    counts: dict[str, dict[str, int]] = {}
    sums: dict[str, dict[str, float]] = {}
    split_rows: dict[str, np.ndarray] = {}
    for k, sname in enumerate(SPLITS):
        rows = np.flatnonzero(keep & (split == k))
        split_rows[sname] = rows
        counts[sname] = {c: int(np.sum(labels[rows] == i)) for i, c in enumerate(classes)}
        sums[sname] = {c: float(np.sum(weight[rows][labels[rows] == i])) for i, c in enumerate(classes)}
        if len(rows) == 0:
            log.warning("task '%s': the %s split is empty", task, sname)

    meta = {
        "task": task,
        "classes": classes,
        "background": tcfg.background_class,
        "tabular": list(names["tabular"]),
        "points": list(names["points"]),
        "observers": list(names["observers"]),
        "max_points": int(names["max_points"] or 0),
        "has_points_p4": blocks["points_p4"] is not None,
        "feature_sets": nonempty[0].meta.get("feature_sets", []),
        "norm": norm_stats,
        "counts": counts,
        "sum_weights": sums,
        "split": {s: float(ds.split[s]) for s in SPLITS},
        "split_hash": "splitmix64(splitmix64(run) ^ event) mod 2^32 / 2^32",
        "luminosity_fb": float(config.luminosity),
        "samples": {
            s: {"label": tcfg.samples[s].label, "rows": rows_kept[s], **norms[s].as_dict()} for s in norms
        },
        "nan_policy": ds.nan_policy,
        "nan_dropped": nan_counts,
        "nan_dropped_rows": n_bad,
        "max_per_class": ds.max_per_class,
        "max_per_class_dropped": capped,
        "balance": ds.balance,
        "sample_mix": ds.sample_mix,
        "reweight_observers": list(ds.reweight_observers) if ds.balance == "pt_eta" else [],
        "weight_variations": list(variations),
        "weight_groups": nonempty[0].meta.get("weight_groups") or {},
    }

    # 9. write (atomically) ----------------------------------------------------------------------------
    sample_str = np.array(sample_names, dtype=str)
    with atomic_directory(out_dir) as tmp:
        for sname, rows in split_rows.items():
            part = arr[rows]
            part = ak.with_field(part, weight[rows], "weight")
            part = ak.with_field(part, gen_weight[rows], "gen_weight")
            if variations:
                part = ak.with_field(part, ak.zip({v: x[rows] for v, x in variations.items()}), "weight_variations")
            part = ak.with_field(part, labels[rows], "label")
            part = ak.with_field(part, ak.from_numpy(sample_str[sample_idx[rows]]), "sample")
            part = ak.with_field(part, train_weight[rows], "train_weight")
            _write_split(part, tmp / f"{sname}.parquet", {**nonempty[0].meta, **{"split": sname, "classes": classes}})
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        write_provenance(
            tmp, stage="dataset",
            config={"task": task, "luminosity": config.luminosity, "seed": config.seed,
                    "definition": tcfg.model_dump(mode="json")},
            extra={"inputs": {s: [str(p) for p in ps] for s, ps in inputs.items()}},
        )

    summary = {
        "out_dir": str(out_dir),
        "rows": counts,
        "nan_dropped": nan_counts,
        "nan_dropped_rows": n_bad,
        "max_per_class_dropped": capped,
    }
    log.info("task '%s': dataset written to %s: %s", task, out_dir, counts)
    return summary
