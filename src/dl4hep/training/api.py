"""``dl4hep train``: fit one model of a task on its dataset.

Device chosen automatically (a CUDA GPU no other local training holds, else CPU;
MPS on request; :mod:`dl4hep.training.devices`), bf16 autocast on CUDA, optional
``torch.compile``, DDP under ``torchrun`` (``WORLD_SIZE>1``: NCCL on CUDA, gloo on CPU;
the loss of every rank is normalised by the weight of the global batch, so N processes
with ``batch_size`` B follow one process with N·B; SyncBatchNorm on CUDA; rank 0 writes
every file). Per-step LR schedule with warm-up,
gradient clipping, class- and event-weighted cross entropy, early stopping on
the validation loss, ``last.pt`` every epoch and ``best.pt`` on improvement,
exact resume (model, optimiser, scheduler, epoch, early-stopping state and the
python/numpy/torch/data-order RNG states), ``history.csv`` and TensorBoard.

The steps: :func:`train_model` resolves the config and builds the model; ``_fit`` loads the
data (``_load_data``), builds the optimiser and schedule (:mod:`~dl4hep.training.schedules`),
restores the :class:`~dl4hep.training.state.TrainState` on ``--resume``, then alternates
:func:`~dl4hep.training.epoch.train_one_epoch` and :func:`~dl4hep.training.epoch.validate`
while :class:`~dl4hep.training.recorder.EpochRecorder` writes the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dl4hep.config import AnalysisConfig, ModelConfig, TrainingConfig
from dl4hep.contracts import LABEL, POINTS_P4, SPLITS
from dl4hep.data.tensors import (
    DEFAULT_MEMORY_BUDGET,
    InputSpec,
    TensorBatches,
    input_spec,
    load_columns,
    make_batches,
    read_meta,
)
from dl4hep.errors import ConfigError, DataError
from dl4hep.io.atomic import atomic_output
from dl4hep.models.registry import (
    build_model,
    count_flops,
    count_parameters,
    example_inputs,
    trims_padding,
)
from dl4hep.models.specs import model_spec, parse_hyperparameters
from dl4hep.provenance import write_provenance
from dl4hep.training.checkpoint import input_names, load_checkpoint, restore_rng
from dl4hep.training.devices import Dist, pick_device
from dl4hep.training.epoch import EpochStats, FitParts, train_one_epoch, validate
from dl4hep.training.host_memory import keep_freed_memory
from dl4hep.training.objectives import Objective, class_weights, make_objective, restrict_rows
from dl4hep.training.recorder import HISTORY_COLUMNS, Checkpointer, EpochRecorder
from dl4hep.training.schedules import make_optimizer, make_scheduler
from dl4hep.training.state import TrainState, stale_reason

__all__ = ["HISTORY_COLUMNS", "TrainOptions", "TrainRun", "derive_seed", "model_summary", "train_model"]

log = logging.getLogger(__name__)

#: Rows of the validation split stored in checkpoints for the ONNX check.
EXAMPLE_ROWS = 64
TRAIN, VAL = SPLITS[0], SPLITS[1]


@dataclass
class TrainRun:
    """One training as :func:`train_model` resolved it: the model, its data and where outputs go."""

    net: nn.Module
    info: dict[str, Any]  # the checkpoint's ``model`` entry (type, hyperparameters, input, classes, objective)
    spec: InputSpec
    meta: dict[str, Any]
    model_cfg: ModelConfig
    seed: int
    dataset_dir: Path
    out_dir: Path
    device: torch.device
    dist: Dist
    summary: dict[str, Any]

    @property
    def train_cfg(self) -> TrainingConfig:
        return self.model_cfg.training


@dataclass
class TrainOptions:
    """How :func:`train_model` was asked to run (see its arguments)."""

    resume: bool = False
    stop_after: int | None = None
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    progress: bool = True
    on_epoch: Callable[[dict[str, Any]], None] | None = None


@dataclass
class TrainData:
    """The batches of both splits, the objective fitted on the training split, and the class weights."""

    objective: Objective
    class_weights: Tensor
    train: Any
    val: Any
    generator: torch.Generator  # data order of the training batches (checkpointed)
    example: dict[str, Tensor]


# ------------------------------------------------------------------ small helpers


def derive_seed(seed: int, model: str) -> int:
    """Training seed from the global seed and the model name (stable across runs and hosts)."""
    return int(hashlib.sha256(f"{seed}:{model}".encode()).hexdigest()[:8], 16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global state third-party code draws from
    torch.manual_seed(seed)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


# ------------------------------------------------------------------ model set-up


def _resolve(config: AnalysisConfig, task: str, model: str, dataset_dir: Path) -> tuple[ModelConfig, dict, InputSpec, dict]:
    task_cfg = config.task(task)
    model_cfg = config.model(task, model)
    where = f"tasks.{task}.models.{model}"
    meta = read_meta(dataset_dir)
    if list(meta.get("classes", [])) != list(task_cfg.classes):
        raise DataError(
            f"dataset {dataset_dir} has classes {meta.get('classes')} but task '{task}' has {task_cfg.classes}; "
            "rebuild the dataset (`dl4hep dataset`) for this config"
        )
    spec = input_spec(meta, inputs=model_cfg.inputs, features=model_cfg.features, where=where)
    params = parse_hyperparameters(model_cfg.type, model_cfg.hyperparameters, where=where)
    _check_p4(model_cfg.type, params, spec, where)
    objective = make_objective(task_cfg, model_cfg, anomaly=model_spec(model_cfg.type).objective == "anomaly")
    info = {
        "name": model, "task": task, "type": model_cfg.type, "hyperparameters": params.model_dump(mode="json"),
        "input": spec.to_dict(), "classes": list(task_cfg.classes), "background": task_cfg.background_class,
        "num_outputs": objective.n_outputs, "objective": objective.state,
    }
    return model_cfg, info, spec, meta


def _check_p4(type: str, params: Any, spec: InputSpec, where: str) -> None:
    """A model whose spec says it reads four-momenta (with these hyperparameters) needs ``points_p4``."""
    mspec = model_spec(type)
    if spec.has_p4 or not mspec.needs_p4(params):
        return
    needs = mspec.requires_p4
    if isinstance(needs, str):
        raise ConfigError(
            f"{where}.hyperparameters.{needs} is true but the dataset has no {POINTS_P4}; "
            f"set {needs}: false or use a feature set that writes four-momenta"
        )
    raise ConfigError(f"{where}.type '{type}' reads {POINTS_P4} but the dataset has none; "
                      "use a feature set that writes four-momenta")


def model_summary(net: nn.Module, spec: InputSpec) -> dict[str, Any]:
    """Parameters and forward FLOPs per sample (batch of 1, all ``max_points`` particles real)."""
    x = example_inputs(
        input_names(net), batch=1, input_dim=spec.input_dim, max_points=spec.max_points or 1, full=True
    )
    return {
        "parameters": count_parameters(net),
        "flops_per_sample": count_flops(net, x),
        "flops_counted_on": {"batch": 1, "max_points": spec.max_points},
        "inputs": list(input_names(net)),
    }


def _build(info: dict[str, Any], spec: InputSpec, seed: int, where: str) -> tuple[nn.Module, dict[str, Any]]:
    """The seeded network of ``info`` and its summary (parameters, FLOPs)."""
    seed_everything(seed)
    net = build_model(
        info["type"], info["hyperparameters"], num_classes=info["num_outputs"], input_dim=spec.input_dim,
        point_names=spec.names, where=where,
    )
    summary = {"task": info["task"], "model": info["name"], "type": info["type"], **model_summary(net, spec)}
    return net, summary


def _summary_only(summary: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    print(
        f"{summary['task']}/{summary['model']} ({summary['type']}): {summary['parameters']:,} parameters, "
        f"{summary['flops_per_sample'] / 1e6:.2f} MFLOP per sample (forward)"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "summary.json", summary)
    return summary


def _sync_batchnorm(net: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """Under DDP on CUDA: batch statistics over the global batch, as one process would see them."""
    if dist.enabled and device.type == "cuda" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)  # CUDA only in torch
    return net


# ------------------------------------------------------------------ entry point


def train_model(
    *, config: AnalysisConfig, task: str, model: str, dataset_dir: Path, out_dir: Path, resume: bool = False,
    summary_only: bool = False, stop_after: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True, on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` of ``task`` on ``dataset_dir``; write checkpoints and logs into ``out_dir``.

    Args:
        config: Resolved analysis config (model type, hyperparameters, training settings, seed).
        task: Task name.
        model: Model name within the task.
        dataset_dir: ``datasets/<task>`` with ``{train,val,test}.parquet`` and ``meta.json``.
        out_dir: Model directory (``best.pt``, ``last.pt``, ``history.csv``, ``tensorboard/``, ``summary.json``).
        resume: Continue from ``out_dir/last.pt`` if it exists (bit-exact on CPU).
        summary_only: Print parameters and FLOPs per sample, write ``summary.json``, do not train.
        stop_after: Stop after this epoch as if interrupted (tests, time-sliced batch jobs); resume continues.
        memory_budget: Splits larger than this many bytes are streamed by parquet row group.
        progress: Report progress within each epoch on stderr: a tqdm bar on a terminal, else a
            one-line log record every ``DL4HEP_PROGRESS_INTERVAL`` seconds (:mod:`dl4hep.progress`).
        on_epoch: Called on rank 0 with each epoch's history row after its checkpoint is written;
            an exception it raises ends training (the hyperparameter search prunes trials this way).

    Returns:
        Summary dict: epochs run, best epoch and validation loss, parameters, device.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    model_cfg, info, spec, meta = _resolve(config, task, model, dataset_dir)
    seed = derive_seed(config.seed, model)
    net, summary = _build(info, spec, seed, where=f"tasks.{task}.models.{model}")
    if summary_only:
        return _summary_only(summary, out_dir)
    log.info("%s/%s: %s with %d parameters", task, model, info["type"], summary["parameters"])
    dist = Dist()
    device = pick_device(model_cfg.training.device, dist.local_rank, distributed=dist.enabled)
    net = _sync_batchnorm(net, dist, device)
    dist.start(device)
    keep_freed_memory()  # no page faults from re-allocated step tensors (host_memory.py)
    run = TrainRun(net=net, info=info, spec=spec, meta=meta, model_cfg=model_cfg, seed=seed, dataset_dir=dataset_dir,
                   out_dir=out_dir, device=device, dist=dist, summary=summary)
    opts = TrainOptions(resume=resume, stop_after=stop_after, memory_budget=memory_budget, progress=progress,
                        on_epoch=on_epoch)
    try:
        return _fit(run, opts)
    finally:
        dist.stop()


# ------------------------------------------------------------------ the run


def _fit(run: TrainRun, opts: TrainOptions) -> dict[str, Any]:
    """Train from scratch or ``last.pt`` to the end (or ``opts.stop_after``); the summary dict."""
    data = _load_data(run, opts)
    run.net.to(run.device)
    optimizer = make_optimizer(run.net, run.train_cfg)
    scheduler = make_scheduler(optimizer, run.train_cfg, max(1, len(data.train)))
    ckpt = Checkpointer(info=run.info, model_cfg=run.model_cfg, meta=run.meta, seed=run.seed, example=data.example,
                        net=run.net, optimizer=optimizer, scheduler=scheduler, data_gen=data.generator)
    state = _start_state(run, opts.resume, ckpt)
    fit = FitParts(
        net=run.net, forward=_forward(run), optimizer=optimizer, scheduler=scheduler, objective=data.objective,
        class_weights=data.class_weights, names=input_names(run.net), train_cfg=run.train_cfg, device=run.device,
        dist=run.dist,
    )
    recorder = EpochRecorder(run.out_dir, ckpt, tensorboard=not state.finished) if run.dist.main else None
    try:
        epochs_run = _run_epochs(fit, data, state, recorder, opts)
    finally:
        if recorder is not None:
            recorder.close()
    if recorder is not None:
        recorder.restore_outputs(state)
    run.dist.barrier()
    return _result(run, state, epochs_run)


def _load_data(run: TrainRun, opts: TrainOptions) -> TrainData:
    """Batches of the train and val splits, with the objective and class weights from the train split."""
    objective, cls_w = _objective_and_weights(run)
    data_gen = torch.Generator().manual_seed(run.seed)
    train_cfg, trim, extra = run.train_cfg, trims_padding(run.net), objective.extra
    train = make_batches(
        run.dataset_dir, TRAIN, run.spec, extra=extra, batch_size=train_cfg.batch_size, shuffle=True, generator=data_gen,
        device=run.device, rank=run.dist.rank, world_size=run.dist.world, skip_singleton=True,
        memory_budget=opts.memory_budget, max_rows=train_cfg.max_train_samples, trim=trim,
        bucket_window=train_cfg.bucket_window,
    )
    val = make_batches(
        run.dataset_dir, VAL, run.spec, extra=extra, batch_size=max(train_cfg.batch_size, 1024), shuffle=False,
        generator=None, device=run.device, memory_budget=opts.memory_budget, trim=trim, by_length=True,
    )
    train = restrict_rows(train, objective, f"the {TRAIN} split of {run.dataset_dir}")
    val = restrict_rows(val, objective, f"the {VAL} split of {run.dataset_dir}")
    if val.n == 0:
        raise DataError(f"the {VAL} split of {run.dataset_dir} is empty; early stopping and best.pt need validation rows")
    return TrainData(objective, cls_w, train, val, data_gen, _example(val, input_names(run.net)))


def _objective_and_weights(run: TrainRun) -> tuple[Objective, Tensor]:
    """The objective fitted on the train split (a regression target's mean and std) and the class weights."""
    train_cfg, where = run.train_cfg, f"the {TRAIN} split of {run.dataset_dir}"
    objective = Objective.from_state(run.info["objective"])
    columns = load_columns(run.dataset_dir, TRAIN, objective.extra, max_rows=train_cfg.max_train_samples)
    labels = columns[LABEL].long()
    if len(labels) == 0:
        raise DataError(f"{where} is empty; there is nothing to train on")
    objective.setup(columns, run.info["classes"], where)
    run.info["objective"] = objective.state  # the target's mean and std travel to prediction
    event_w = (columns["train_weight"].double() if train_cfg.use_event_weights
               else torch.ones(len(labels), dtype=torch.float64))
    cls_w = class_weights(labels, event_w, len(run.info["classes"]), train_cfg.class_weights)
    return objective, cls_w.to(run.device)


def _example(batches: Any, names: tuple[str, ...]) -> dict[str, Tensor]:
    """First rows of the validation split (model inputs only, on the CPU) for export checks."""
    if isinstance(batches, TensorBatches):
        return {n: batches.tensors[n][:EXAMPLE_ROWS].clone() for n in names}
    first = next(iter(batches))
    return {n: first[n][:EXAMPLE_ROWS].cpu().clone() for n in names}


def _start_state(run: TrainRun, resume: bool, ckpt: Checkpointer) -> TrainState:
    """A fresh state, or with ``resume`` the one in ``last.pt`` (weights, optimiser, schedule and RNGs restored)."""
    last = run.out_dir / "last.pt"
    if not resume:
        return TrainState()
    if not last.exists():
        log.info("--resume given but %s does not exist; starting from scratch", last)
        return TrainState()
    saved = load_checkpoint(last)
    stale = stale_reason(saved, model_cfg=run.model_cfg, meta=run.meta, seed=run.seed)
    if stale:
        # The workflow always passes --resume: a changed config or dataset must train afresh.
        log.warning("not resuming from %s: %s; training from scratch", last, stale)
        return TrainState()
    run.net.load_state_dict(saved["state_dict"])
    ckpt.optimizer.load_state_dict(saved["optimizer"])
    ckpt.scheduler.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"], ckpt.data_gen)
    state = TrainState.from_checkpoint(saved)
    log.info("resuming %s from epoch %d", run.out_dir, state.epoch)
    return state


def _forward(run: TrainRun) -> Any:
    """The module the optimisation steps call: ``net`` compiled and/or DDP-wrapped."""
    forward: Any = run.net
    if run.train_cfg.compile:
        forward = torch.compile(run.net)
    if run.dist.enabled:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        forward = nn.parallel.DistributedDataParallel(forward, device_ids=device_ids)
    return forward


def _run_epochs(
    fit: FitParts, data: TrainData, state: TrainState, recorder: EpochRecorder | None, opts: TrainOptions
) -> int:
    """Epochs after ``state.epoch`` until the last, early stopping or ``opts.stop_after``; how many ran.

    ``recorder`` is None on ranks other than 0, which only train.
    """
    epochs_run = 0
    for epoch in range(state.epoch + 1, fit.train_cfg.epochs + 1):
        if state.finished:
            break
        stats = train_one_epoch(fit, data.train, epoch=epoch, show_progress=opts.progress and fit.dist.main)
        state.epoch = epoch
        stop = recorder is not None and _end_epoch(fit, data.val, state, recorder, stats, opts.on_epoch)
        epochs_run += 1
        if fit.dist.broadcast(1.0 if stop else 0.0, fit.device) > 0:
            break
        if opts.stop_after is not None and epoch >= opts.stop_after:
            break
    return epochs_run


def _end_epoch(
    fit: FitParts, val_batches: Any, state: TrainState, recorder: EpochRecorder, stats: EpochStats,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> bool:
    """Rank 0 after an epoch: validate, update ``state``, write the files, log; whether to stop early."""
    val = validate(fit, val_batches)
    row = {
        "epoch": state.epoch, "train_loss": stats.loss, "val_loss": val["loss"], "train_acc": stats.acc,
        "val_acc": val["acc"], "val_auc": val["auc"], "lr": fit.optimizer.param_groups[0]["lr"],
        "samples_per_s": stats.seen / stats.train_time, "epoch_time_s": time.perf_counter() - stats.started,
    }
    improved, stop = state.record(row, fit.net, fit.train_cfg)
    recorder.epoch_done(state, improved)
    log.info(
        "epoch %d: train_loss %.4f val_loss %.4f val_acc %.3f val_auc %.3f (%.0f samples/s)%s",
        state.epoch, stats.loss, row["val_loss"], row["val_acc"], row["val_auc"], row["samples_per_s"],
        " *" if improved else "",
    )
    if stop:
        log.info("early stopping after %d epochs without a better validation loss", state.bad_epochs)
    if on_epoch is not None:
        on_epoch(row)
    return stop


def _result(run: TrainRun, state: TrainState, epochs_run: int) -> dict[str, Any]:
    """The summary dict ``train_model`` returns (and rank 0 writes as ``summary.json``, with provenance)."""
    best = min(state.history, key=lambda r: r["val_loss"]) if state.history else None
    result = {
        **run.summary, "device": str(run.device), "world_size": run.dist.world, "epochs_run": epochs_run,
        "last_epoch": state.epoch, "best_epoch": best["epoch"] if best else None,
        "best_val_loss": best["val_loss"] if best else None, "best_val_auc": best["val_auc"] if best else None,
    }
    if run.dist.main:
        _write_json(run.out_dir / "summary.json", result)
        write_provenance(run.out_dir, stage="train", config=run.model_cfg,
                         extra={"task": run.info["task"], "model": run.info["name"], "seed": run.seed})
    return result
