"""Dataset parquet -> torch tensors, and batch iterators for training and inference.

A split is read once (``ak.from_parquet`` -> numpy -> torch, whole arrays),
normalised with the training-split statistics of ``meta.json`` and kept as
tensors; batches are index permutations into them, so the training step never
loops over events in Python. A split larger than a memory budget is streamed
instead, one parquet row group at a time (row-group order and rows within a
group shuffled per epoch).

On CUDA, batches are gathered into pinned host buffers and copied with
``non_blocking=True``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import torch
from torch import Tensor

from dl4hep.data.buckets import POINT_KEYS, bucketed_batches, point_lengths, trim_length
from dl4hep.errors import ConfigError, DataError, InputFileError, did_you_mean

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "InputSpec",
    "StreamingBatches",
    "TensorBatches",
    "input_spec",
    "iter_row_groups",
    "load_columns",
    "load_split",
    "make_batches",
    "read_meta",
    "split_path",
]

#: Splits whose uncompressed parquet size exceeds this are streamed by row group.
DEFAULT_MEMORY_BUDGET = 8 * 1024**3

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class InputSpec:
    """Which block and features a model reads, with their normalisation.

    ``columns`` index the block's stored features (``meta.json`` order);
    ``mean``/``std`` are already restricted to them.
    """

    block: Literal["tabular", "points"]
    names: list[str]
    columns: list[int]
    mean: list[float]
    std: list[float]
    max_points: int | None = None
    all_names: list[str] = field(default_factory=list)
    has_p4: bool = True

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return ("tabular",) if self.block == "tabular" else ("points", "points_mask", "points_p4")

    @property
    def input_dim(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(**d)


def split_path(dataset_dir: str | Path, split: str) -> Path:
    return Path(dataset_dir) / f"{split}.parquet"


def read_meta(dataset_dir: str | Path) -> dict[str, Any]:
    """``meta.json`` of a dataset directory, with a clear error if absent."""
    path = Path(dataset_dir) / "meta.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path} does not exist; run `dl4hep dataset` for this task first") from None
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path} is not valid JSON: {err}") from err


def input_spec(meta: dict[str, Any], *, inputs: str, features: list[str] | None = None, where: str = "model") -> InputSpec:
    """Resolve the model's input block and feature subset against a dataset's ``meta.json``."""
    names = list(meta.get(inputs) or [])
    if not names:
        raise ConfigError(
            f"{where}.inputs is '{inputs}' but the dataset has no '{inputs}' features "
            f"(meta.json lists tabular={meta.get('tabular')}, points={meta.get('points')})"
        )
    norm = (meta.get("norm") or {}).get(inputs) or {}
    mean = np.asarray(norm.get("mean", [0.0] * len(names)), dtype=np.float64)
    std = np.asarray(norm.get("std", [1.0] * len(names)), dtype=np.float64)
    if len(mean) != len(names) or len(std) != len(names):
        raise DataError(f"meta.json norm.{inputs} has {len(mean)} means / {len(std)} stds for {len(names)} features")
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    if features is not None:
        if inputs != "tabular":
            raise ConfigError(f"{where}.features selects tabular features, but the model reads '{inputs}'; remove it")
        missing = [f for f in features if f not in names]
        if missing:
            raise ConfigError(
                f"{where}.features: {missing} not in the dataset's tabular features {names}."
                + did_you_mean(missing[0], names)
            )
        cols = [names.index(f) for f in features]
    else:
        cols = list(range(len(names)))
    return InputSpec(
        block=inputs,  # type: ignore[arg-type]
        names=[names[c] for c in cols],
        columns=cols,
        mean=[float(mean[c]) for c in cols],
        std=[float(std[c]) for c in cols],
        max_points=meta.get("max_points") if inputs == "points" else None,
        all_names=names,
        has_p4=bool(meta.get("has_points_p4", True)) if inputs == "points" else False,
    )


def _columns(spec: InputSpec, extra: Sequence[str]) -> list[str]:
    block = [spec.block] if spec.block == "tabular" else ["points", "points_mask"] + (["points_p4"] if spec.has_p4 else [])
    return block + [c for c in extra if c not in block]


def _numpy(arr: ak.Array) -> np.ndarray:
    try:
        return ak.to_numpy(arr)
    except ValueError:  # variable-length lists that are in fact regular
        return ak.to_numpy(ak.to_regular(arr, axis=None))


def _torch(a: np.ndarray) -> Tensor:
    a = np.asarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def arrays_to_tensors(arr: ak.Array, spec: InputSpec, extra: Sequence[str] = ()) -> dict[str, Tensor]:
    """Normalised model inputs plus ``extra`` flat columns (``label``, ``train_weight``, ...) as tensors.

    ``tabular`` -> ``(N, F)`` float32; ``points`` -> ``(N, P, F)`` float32 (zeros where
    the mask is False), ``points_mask`` -> ``(N, P)`` bool, ``points_p4`` -> ``(N, P, 4)`` float32.
    Record columns in ``extra`` (``observers``) become ``<record>.<field>`` entries.
    """
    out: dict[str, Tensor] = {}
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    if spec.block == "tabular":
        rec = arr["tabular"]
        x = np.stack([_numpy(rec[spec.all_names[c]]).astype(np.float32) for c in spec.columns], axis=1) if len(arr) else np.zeros((0, len(spec.columns)), np.float32)
        out["tabular"] = torch.from_numpy(((x - mean) / std).astype(np.float32))
    else:
        pts = _numpy(arr["points"]).astype(np.float32)
        mask = _numpy(arr["points_mask"]).astype(bool)
        p4 = _numpy(arr["points_p4"]).astype(np.float32) if spec.has_p4 else np.zeros((*mask.shape, 4), np.float32)
        if len(arr) == 0:
            p = spec.max_points or 1
            pts, mask, p4 = (np.zeros((0, p, len(spec.all_names)), np.float32), np.zeros((0, p), bool), np.zeros((0, p, 4), np.float32))
        pts = (pts[..., spec.columns] - mean) / std
        pts = np.where(mask[..., None], pts, 0.0).astype(np.float32)
        out["points"] = torch.from_numpy(np.ascontiguousarray(pts))
        out["points_mask"] = torch.from_numpy(np.ascontiguousarray(mask))
        out["points_p4"] = torch.from_numpy(np.ascontiguousarray(np.where(mask[..., None], p4, 0.0).astype(np.float32)))
    for name in extra:
        col = arr[name]
        if col.fields:
            for f in col.fields:
                out[f"{name}.{f}"] = _torch(_numpy(col[f]))
        else:
            out[name] = _torch(_numpy(col))
    return out


def _read(path: Path, columns: list[str], row_groups: list[int] | None = None) -> ak.Array:
    if not path.exists():
        raise InputFileError(f"dataset split {path} does not exist; run `dl4hep dataset` first")
    try:
        return ak.from_parquet(path, columns=columns, row_groups=row_groups)
    except Exception as err:  # pyarrow/awkward raise many types for bad files
        raise InputFileError(f"cannot read columns {columns} of {path}: {err}") from err


def load_split(
    dataset_dir: str | Path, split: str, spec: InputSpec, *, extra: Sequence[str] = ("label", "train_weight"),
    max_rows: int | None = None,
) -> dict[str, Tensor]:
    """Read one split whole into tensors (see :func:`arrays_to_tensors`)."""
    arr = _read(split_path(dataset_dir, split), _columns(spec, extra))
    if max_rows is not None:
        arr = arr[:max_rows]
    return arrays_to_tensors(arr, spec, extra)


def load_columns(
    dataset_dir: str | Path, split: str, columns: Sequence[str], *, max_rows: int | None = None
) -> dict[str, Tensor]:
    """Flat columns only (``label``, ``train_weight``, ...) of one split as tensors.

    A record column (``observers``) becomes one ``<record>.<field>`` entry per field.
    """
    arr = _read(split_path(dataset_dir, split), list(columns))
    if max_rows is not None:
        arr = arr[:max_rows]
    out: dict[str, Tensor] = {}
    for c in columns:
        col = arr[c]
        out.update({f"{c}.{f}": _torch(_numpy(col[f])) for f in col.fields} if col.fields else {c: _torch(_numpy(col))})
    return out


def split_nbytes(path: Path) -> int:
    """Uncompressed size of a parquet file from its footer (no data read)."""
    md = pq.ParquetFile(path).metadata
    return sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))


def iter_row_groups(
    path: Path, spec: InputSpec, *, extra: Sequence[str] = (), order: Sequence[int] | None = None
) -> Iterator[dict[str, Tensor]]:
    """Tensors of one parquet row group at a time (bounded memory)."""
    n = pq.ParquetFile(path).metadata.num_row_groups
    for i in order if order is not None else range(n):
        yield arrays_to_tensors(_read(path, _columns(spec, extra), [int(i)]), spec, extra)


class _Mover:
    """Gathers rows (point tensors cut to ``slots``) into a batch; on CUDA through pinned host buffers.

    On CUDA two flat pinned buffers per tensor alternate, and the copy to the device is non-blocking.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.buffers: list[dict[str, Tensor]] = [{}, {}]
        self.events: list[Any] = [None, None]
        self.turn = 0

    def __call__(self, tensors: dict[str, Tensor], idx: Tensor, slots: int | None = None) -> dict[str, Tensor]:
        views = {k: v[:, :slots] if slots is not None and k in POINT_KEYS else v for k, v in tensors.items()}
        if not self.cuda:
            return {k: v.index_select(0, idx) for k, v in views.items()}
        slot = self.turn
        self.turn ^= 1
        if self.events[slot] is not None:
            self.events[slot].synchronize()  # previous copy out of this buffer has finished
        out = {}
        for k, v in views.items():
            shape = (len(idx), *v.shape[1:])
            numel = math.prod(shape)
            buf = self.buffers[slot].get(k)
            if buf is None or buf.numel() < numel or buf.dtype != v.dtype:
                buf = torch.empty(max(numel, 1), dtype=v.dtype).pin_memory()
                self.buffers[slot][k] = buf
            view = buf[:numel].view(shape)
            torch.index_select(v, 0, idx, out=view)
            out[k] = view.to(self.device, non_blocking=True)
        ev = torch.cuda.Event()
        ev.record()
        self.events[slot] = ev
        return out


def _shard(perm: Tensor, rank: int, world_size: int) -> Tensor:
    """DistributedSampler-like sharding: pad to a multiple of ``world_size`` then take every ``world_size``-th."""
    if world_size == 1:
        return perm
    pad = (-len(perm)) % world_size
    if pad:
        perm = torch.cat([perm, perm[:pad]])
    return perm[rank::world_size]


class TensorBatches:
    """Batches of pre-built tensors over a (shuffled, sharded) index permutation.

    With ``trim``, point tensors (``points``, ``points_mask``, ``points_p4``) are cut
    to the longest row of each batch, and shuffled batches group rows of similar
    length (:mod:`dl4hep.data.buckets`), so models do no work on padding.

    Args:
        tensors: Mapping of ``(N, ...)`` tensors on the CPU.
        batch_size: Rows per batch (per rank).
        shuffle: Draw a new permutation from ``generator`` every epoch.
        generator: ``torch.Generator`` for the data order (its state is checkpointed).
        device: Where batches are delivered.
        rank, world_size: DDP sharding of each permutation.
        skip_singleton: Drop a batch of one row (BatchNorm cannot train on it).
        trim: Cut point tensors to each batch's longest row (only for models whose outputs do
            not depend on the padded width: ``trim_padding = True`` on the model class).
        bucket_window: With ``trim`` and ``shuffle``: batches per length-sorting window (1: no bucketing).
        by_length: With ``trim``, unshuffled: visit rows shortest first (``order`` says which rows
            came when); for inference, where the caller restores the row order.
    """

    def __init__(
        self, tensors: dict[str, Tensor], *, batch_size: int, shuffle: bool = False,
        generator: torch.Generator | None = None, device: torch.device | str = "cpu", rank: int = 0,
        world_size: int = 1, skip_singleton: bool = False, trim: bool = False, bucket_window: int = 1,
        by_length: bool = False,
    ):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.rank, self.world_size = rank, world_size
        self.skip_singleton = skip_singleton
        self.bucket_window = bucket_window
        self.trim = trim and "points_mask" in tensors
        self.by_length = by_length and self.trim and not shuffle
        self._lengths: tuple[Tensor, Tensor] | None = None
        self.move = _Mover(torch.device(device))

    @property
    def lengths(self) -> Tensor | None:
        """Per-row point length (:func:`~dl4hep.data.buckets.point_lengths`), None without trimming.

        Recomputed when ``tensors`` is replaced (rows restricted after construction).
        """
        if not self.trim:
            return None
        mask = self.tensors["points_mask"]
        if self._lengths is None or self._lengths[0] is not mask:
            self._lengths = (mask, point_lengths(mask))
        return self._lengths[1]

    def _rows(self) -> int:
        return -(-self.n // self.world_size)

    def __len__(self) -> int:
        rows = self._rows()
        n = -(-rows // self.batch_size)
        if self.skip_singleton and rows % self.batch_size == 1 and n > 1:
            n -= 1
        return n

    @property
    def order(self) -> Tensor:
        """Row order of an unshuffled pass (all batches concatenated)."""
        if self.by_length:
            return torch.argsort(self.lengths, stable=True)
        return _shard(torch.arange(self.n), self.rank, self.world_size)

    def _batches(self, lengths: Tensor | None) -> list[Tensor]:
        if not self.shuffle:
            return list(self.order.split(self.batch_size))
        perm = _shard(torch.randperm(self.n, generator=self.generator), self.rank, self.world_size)
        if lengths is None:
            return list(perm.split(self.batch_size))
        return bucketed_batches(
            perm, lengths, batch_size=self.batch_size, window=self.bucket_window, generator=self.generator
        )

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        lengths = self.lengths
        batches = self._batches(lengths)
        if self.skip_singleton and len(batches) > 1:
            batches = [b for b in batches if len(b) > 1]
        for idx in batches:
            yield self.move(self.tensors, idx, trim_length(lengths, idx) if lengths is not None else None)


class StreamingBatches:
    """Like :class:`TensorBatches` but reads one parquet row group at a time (splits above the memory budget).

    The row-group order and the rows inside each group are shuffled per epoch
    with ``generator``; row groups are sharded over DDP ranks.
    """

    def __init__(
        self, path: Path, spec: InputSpec, *, extra: Sequence[str], batch_size: int, shuffle: bool = False,
        generator: torch.Generator | None = None, device: torch.device | str = "cpu", rank: int = 0,
        world_size: int = 1, skip_singleton: bool = False, trim: bool = False, bucket_window: int = 1,
        by_length: bool = False,
    ):
        self.path, self.spec, self.extra = path, spec, tuple(extra)
        self.trim, self.bucket_window, self.by_length = trim, bucket_window, by_length
        md = pq.ParquetFile(path).metadata
        self.group_rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        self.n = sum(self.group_rows)
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.rank, self.world_size, self.skip_singleton = rank, world_size, skip_singleton
        self.device = torch.device(device)

    def __len__(self) -> int:  # upper bound (per-group remainders make it approximate)
        mine = self.group_rows[self.rank :: self.world_size]
        return sum(-(-r // self.batch_size) for r in mine)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        groups = torch.arange(len(self.group_rows))
        if self.shuffle:
            groups = groups[torch.randperm(len(groups), generator=self.generator)]
        groups = groups[self.rank :: self.world_size]
        for tensors in iter_row_groups(self.path, self.spec, extra=self.extra, order=groups.tolist()):
            inner = TensorBatches(
                tensors, batch_size=self.batch_size, shuffle=self.shuffle, generator=self.generator,
                device=self.device, skip_singleton=self.skip_singleton, trim=self.trim,
                bucket_window=self.bucket_window, by_length=self.by_length,
            )
            yield from inner


def make_batches(
    dataset_dir: str | Path, split: str, spec: InputSpec, *, extra: Sequence[str], batch_size: int,
    shuffle: bool, generator: torch.Generator | None, device: torch.device | str, rank: int = 0,
    world_size: int = 1, skip_singleton: bool = False, memory_budget: int = DEFAULT_MEMORY_BUDGET,
    max_rows: int | None = None, trim: bool = False, bucket_window: int = 1, by_length: bool = False,
) -> TensorBatches | StreamingBatches:
    """In-memory batches if the split fits ``memory_budget`` bytes, else row-group streaming."""
    path = split_path(dataset_dir, split)
    if not path.exists():
        raise InputFileError(f"dataset split {path} does not exist; run `dl4hep dataset` first")
    common = dict(batch_size=batch_size, shuffle=shuffle, generator=generator, device=device, rank=rank,
                  world_size=world_size, skip_singleton=skip_singleton, trim=trim, bucket_window=bucket_window,
                  by_length=by_length)
    if max_rows is None and split_nbytes(path) > memory_budget:
        return StreamingBatches(path, spec, extra=extra, **common)
    return TensorBatches(load_split(dataset_dir, split, spec, extra=extra, max_rows=max_rows), **common)
