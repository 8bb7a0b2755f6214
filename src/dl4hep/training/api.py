"""``dl4hep train``: fit one model of a task on its dataset (design §7).

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
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dl4hep.config import AnalysisConfig, ModelConfig, TrainingConfig
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
from dl4hep.models.specs import MODEL_SPECS, parse_hyperparameters
from dl4hep.progress import progress as progress_bar
from dl4hep.provenance import write_provenance
from dl4hep.training.checkpoint import (
    capture_rng,
    input_names,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from dl4hep.training.devices import pick_device
from dl4hep.training.host_memory import keep_freed_memory
from dl4hep.training.objectives import (
    Objective,
    make_objective,
    nan_if,
    restrict_rows,
    weighted_cross_entropy,
)
from dl4hep.training.schedules import lr_multiplier

__all__ = ["HISTORY_COLUMNS", "derive_seed", "model_summary", "pick_device", "train_model", "weighted_cross_entropy"]

log = logging.getLogger(__name__)

HISTORY_COLUMNS = [
    "epoch", "train_loss", "val_loss", "train_acc", "val_acc", "val_auc", "lr", "samples_per_s", "epoch_time_s",
]
#: Rows of the validation split stored in checkpoints for the ONNX check.
EXAMPLE_ROWS = 64


# ------------------------------------------------------------------ small helpers


def derive_seed(seed: int, model: str) -> int:
    """Training seed from the global seed and the model name (stable across runs and hosts)."""
    return int(hashlib.sha256(f"{seed}:{model}".encode()).hexdigest()[:8], 16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global state third-party code draws from
    torch.manual_seed(seed)


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX), where bf16 matmuls beat fp32."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _autocast(cfg: TrainingConfig, device: torch.device, net: nn.Module | None = None) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision: bf16``; for ``auto`` on CUDA, and on a CPU with native bf16 for
    models measured to gain from it there (``cpu_bf16 = True``: the point-cloud models, docs/benchmarks.md)."""
    cpu_auto = device.type == "cpu" and bool(getattr(net, "cpu_bf16", False)) and _cpu_has_bf16()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and (device.type == "cuda" or cpu_auto))
    if bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _Dist:
    """torchrun environment: rank, world size, local rank; a no-op when ``WORLD_SIZE`` is 1 or unset."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0")) if self.world > 1 else 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0")) if self.world > 1 else 0
        self.started = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> None:
        if self.enabled and not torch.distributed.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.started = True

    def all_sum(self, value: Tensor) -> Tensor:
        """Sum of ``value`` over all ranks (``value`` itself without DDP)."""
        if not self.enabled:
            return value
        out = value.detach().clone()
        torch.distributed.all_reduce(out)
        return out

    def broadcast(self, value: float, device: torch.device) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        torch.distributed.broadcast(t, src=0)
        return float(t.item())

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def stop(self) -> None:
        if self.started:
            torch.distributed.destroy_process_group()


def _class_weights(labels: Tensor, weights: Tensor, n_classes: int, mode: str) -> Tensor:
    """``balanced``: each class gets the same total weight (sum over the training split); else ones."""
    if mode == "none":
        return torch.ones(n_classes, dtype=torch.float64)
    sums = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, labels, weights.abs().double())
    present = sums > 0
    out = torch.ones(n_classes, dtype=torch.float64)
    out[present] = sums[present].sum() / (present.sum() * sums[present])
    return out


def _roc_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(labels, probs[:, 1]))
        return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(probs.shape[1]))))
    except ValueError:  # a class missing from the validation split
        return float("nan")


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r[k] for k in HISTORY_COLUMNS})
    with atomic_output(path) as tmp:
        tmp.write_text(buf.getvalue())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed; skipping TensorBoard logs (pip install tensorboard)", stacklevel=2)
        return None
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))


def _optimizer(net: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and normalisation parameters (1-d tensors).
    decay = [p for p in net.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "radam":
        return torch.optim.RAdam(groups, lr=cfg.lr, decoupled_weight_decay=True)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)


# ------------------------------------------------------------------ model set-up


def _resolve(config: AnalysisConfig, task: str, model: str, dataset_dir: Path) -> tuple[ModelConfig, dict, InputSpec, dict]:
    tcfg = config.task(task)
    mcfg = config.model(task, model)
    where = f"tasks.{task}.models.{model}"
    meta = read_meta(dataset_dir)
    if list(meta.get("classes", [])) != list(tcfg.classes):
        raise DataError(
            f"dataset {dataset_dir} has classes {meta.get('classes')} but task '{task}' has {tcfg.classes}; "
            "rebuild the dataset (`dl4hep dataset`) for this config"
        )
    spec = input_spec(meta, inputs=mcfg.inputs, features=mcfg.features, where=where)
    params = parse_hyperparameters(mcfg.type, mcfg.hyperparameters, where=where)
    if mcfg.type == "particle_transformer" and getattr(params, "use_pair_features", False) and not spec.has_p4:
        raise ConfigError(
            f"{where}.hyperparameters.use_pair_features is true but the dataset has no points_p4; "
            "set use_pair_features: false or use a feature set that writes four-momenta"
        )
    objective = make_objective(tcfg, mcfg, anomaly=MODEL_SPECS[mcfg.type].objective == "anomaly")
    info = {
        "name": model, "task": task, "type": mcfg.type, "hyperparameters": params.model_dump(mode="json"),
        "input": spec.to_dict(), "classes": list(tcfg.classes), "background": tcfg.background_class,
        "num_outputs": objective.n_outputs, "objective": objective.state,
    }
    return mcfg, info, spec, meta


def _stale_checkpoint(ckpt: dict[str, Any], *, mcfg: Any, meta: dict[str, Any], seed: int) -> str | None:
    """Why ``ckpt`` cannot be continued under the current settings (None if it can)."""
    if ckpt.get("model_config") != mcfg.model_dump(mode="json"):
        return "it was made with other model or training settings"
    if ckpt.get("meta") != meta:
        return "it was trained on another dataset (meta.json differs)"
    if ckpt.get("seed") != seed:
        return "it was made with another seed"
    return None


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
    mcfg, info, spec, meta = _resolve(config, task, model, dataset_dir)
    tcfg = mcfg.training
    seed = derive_seed(config.seed, model)
    seed_everything(seed)
    net = build_model(
        info["type"], info["hyperparameters"], num_classes=info["num_outputs"], input_dim=spec.input_dim,
        point_names=spec.names, where=f"tasks.{task}.models.{model}",
    )
    summary = {"task": task, "model": model, "type": info["type"], **model_summary(net, spec)}
    if summary_only:
        print(
            f"{task}/{model} ({info['type']}): {summary['parameters']:,} parameters, "
            f"{summary['flops_per_sample'] / 1e6:.2f} MFLOP per sample (forward)"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(out_dir / "summary.json", summary)
        return summary
    log.info("%s/%s: %s with %d parameters", task, model, info["type"], summary["parameters"])

    dist = _Dist()
    device = pick_device(tcfg.device, dist.local_rank, distributed=dist.enabled)
    if dist.enabled and device.type == "cuda" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        # batch statistics over the global batch, as one process would see them (CUDA only in torch)
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    dist.start(device)
    keep_freed_memory()  # no page faults from re-allocated step tensors (host_memory.py)
    try:
        return _fit(
            net=net, info=info, spec=spec, meta=meta, mcfg=mcfg, tcfg=tcfg, seed=seed, dataset_dir=dataset_dir,
            out_dir=out_dir, resume=resume, stop_after=stop_after, memory_budget=memory_budget, device=device,
            dist=dist, summary=summary, progress=progress, on_epoch=on_epoch,
        )
    finally:
        dist.stop()


def _fit(
    *, net: nn.Module, info: dict, spec: InputSpec, meta: dict, mcfg: ModelConfig, tcfg: TrainingConfig, seed: int,
    dataset_dir: Path, out_dir: Path, resume: bool, stop_after: int | None, memory_budget: int,
    device: torch.device, dist: _Dist, summary: dict, progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    n_classes = len(info["classes"])
    names = input_names(net)
    objective = Objective.from_state(info["objective"])
    extra = objective.extra

    # data -------------------------------------------------------------------------------------
    label_w = load_columns(dataset_dir, "train", extra, max_rows=tcfg.max_train_samples)
    train_labels = label_w["label"].long()
    if len(train_labels) == 0:
        raise DataError(f"the train split of {dataset_dir} is empty; there is nothing to train on")
    objective.setup(label_w, info["classes"], f"the train split of {dataset_dir}")
    info["objective"] = objective.state  # the target's mean and std travel to prediction
    ev_w = label_w["train_weight"].double() if tcfg.use_event_weights else torch.ones(len(train_labels), dtype=torch.float64)
    cls_w = _class_weights(train_labels, ev_w, n_classes, tcfg.class_weights).to(device)
    data_gen = torch.Generator().manual_seed(seed)
    train_batches = make_batches(
        dataset_dir, "train", spec, extra=extra, batch_size=tcfg.batch_size, shuffle=True, generator=data_gen,
        device=device, rank=dist.rank, world_size=dist.world, skip_singleton=True, memory_budget=memory_budget,
        max_rows=tcfg.max_train_samples, trim=trims_padding(net), bucket_window=tcfg.bucket_window,
    )
    val_batches = make_batches(
        dataset_dir, "val", spec, extra=extra, batch_size=max(tcfg.batch_size, 1024), shuffle=False, generator=None,
        device=device, memory_budget=memory_budget, trim=trims_padding(net), by_length=True,
    )
    train_batches = restrict_rows(train_batches, objective, f"the train split of {dataset_dir}")
    val_batches = restrict_rows(val_batches, objective, f"the val split of {dataset_dir}")
    if val_batches.n == 0:
        raise DataError(f"the val split of {dataset_dir} is empty; early stopping and best.pt need validation rows")
    steps_per_epoch = max(1, len(train_batches))
    example = _example(val_batches, names)

    # model, optimiser, schedule ------------------------------------------------------------------
    net.to(device)
    optimizer = _optimizer(net, tcfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(tcfg, steps_per_epoch))
    start_epoch, best_loss, bad_epochs, history, finished = 0, math.inf, 0, [], False
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    best_state: dict[str, Any] | None = None
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path)
        stale = _stale_checkpoint(ckpt, mcfg=mcfg, meta=meta, seed=seed)
        if stale:
            # The workflow always passes --resume: a changed config or dataset must train afresh.
            log.warning("not resuming from %s: %s; training from scratch", last_path, stale)
        else:
            net.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            start_epoch, best_loss, bad_epochs = ckpt["epoch"], ckpt["best_val_loss"], ckpt["bad_epochs"]
            history, finished = list(ckpt["history"]), bool(ckpt.get("finished", False))
            best_state = ckpt.get("best_state_dict")
            restore_rng(ckpt["rng"], data_gen)
            log.info("resuming %s from epoch %d", out_dir, start_epoch)
    elif resume:
        log.info("--resume given but %s does not exist; starting from scratch", last_path)

    model_fwd: Any = net  # the module, compiled and/or DDP-wrapped
    if tcfg.compile:
        model_fwd = torch.compile(net)
    if dist.enabled:
        model_fwd = nn.parallel.DistributedDataParallel(
            model_fwd, device_ids=[device.index] if device.type == "cuda" else None
        )

    writer = _tensorboard(out_dir) if dist.main and not finished else None
    if dist.main:
        out_dir.mkdir(parents=True, exist_ok=True)

    def payload(epoch: int, done: bool) -> dict[str, Any]:
        return {
            "model": info, "model_config": mcfg.model_dump(mode="json"), "meta": meta,
            "state_dict": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": epoch, "best_val_loss": best_loss, "bad_epochs": bad_epochs, "history": history,
            "rng": capture_rng(data_gen), "example": example, "finished": done, "seed": seed,
            # Snakemake deletes best.pt of an interrupted job: last.pt can restore it on resume.
            "best_state_dict": best_state,
        }

    epochs_run = 0
    epoch = start_epoch
    for epoch in range(start_epoch + 1, tcfg.epochs + 1):
        if finished:
            break
        t0 = time.perf_counter()
        net.train()
        sum_loss = torch.zeros((), dtype=torch.float64, device=device)
        sum_w = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        bar = progress_bar(
            train_batches, total=len(train_batches), desc=f"epoch {epoch}/{tcfg.epochs}", file=sys.stderr,
            disable=not (progress and dist.main), leave=False, mininterval=1.0, unit="batch",
        )
        for step, batch in enumerate(bar):
            labels = batch["label"].long()
            w = (batch["train_weight"].float() if tcfg.use_event_weights else torch.ones_like(labels, dtype=torch.float32))
            w = w * cls_w[labels].float()
            with _autocast(tcfg, device, net):
                logits = model_fwd(*[batch[n] for n in names])
            num, den = objective.loss(logits, batch, w)
            # DDP averages the ranks' gradients: dividing each rank's sum by the global batch
            # weight / world size makes that average the gradient of the global-batch loss
            loss = num * dist.world / dist.all_sum(den).clamp_min(1e-12)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(net.parameters(), tcfg.grad_clip)
            optimizer.step()
            scheduler.step()
            sum_loss += num.detach().double()
            sum_w += den.detach().double()
            correct += objective.correct(logits.detach(), batch)
            seen += len(labels)
            if step % 50 == 0 and bar.disable is False:
                bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        bar.close()
        train_time = time.perf_counter() - t0
        if dist.enabled:  # training metrics over all ranks
            totals = torch.stack([sum_loss, sum_w, correct.double(), torch.tensor(float(seen), device=device, dtype=torch.float64)])
            torch.distributed.all_reduce(totals)
            sum_loss, sum_w, correct, seen = totals[0], totals[1], totals[2].long(), int(totals[3].item())
        train_loss = float((sum_loss / sum_w.clamp_min(1e-12)).item())
        train_acc = nan_if(objective.kind, correct.item() / max(1, seen))

        stop_flag = 0.0
        if dist.main:
            val = evaluate(net, val_batches, names=names, cls_w=cls_w, tcfg=tcfg, device=device, objective=objective)
            row = {
                "epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"], "train_acc": train_acc,
                "val_acc": val["acc"], "val_auc": val["auc"], "lr": optimizer.param_groups[0]["lr"],
                "samples_per_s": seen / train_time, "epoch_time_s": time.perf_counter() - t0,
            }
            history.append(row)
            improved = row["val_loss"] < best_loss
            if improved:
                best_loss, bad_epochs = row["val_loss"], 0
            else:
                bad_epochs += 1
            patience = tcfg.early_stopping_patience
            stop = patience is not None and bad_epochs >= patience
            done = stop or epoch == tcfg.epochs
            if improved:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            ckpt_payload = payload(epoch, done)
            save_checkpoint(last_path, ckpt_payload)
            if improved:
                save_checkpoint(best_path, ckpt_payload)
            _write_history(out_dir / "history.csv", history)
            if writer is not None:
                for k in HISTORY_COLUMNS[1:]:
                    writer.add_scalar(k, row[k], epoch)
                writer.flush()
            log.info(
                "epoch %d: train_loss %.4f val_loss %.4f val_acc %.3f val_auc %.3f (%.0f samples/s)%s",
                epoch, train_loss, row["val_loss"], row["val_acc"], row["val_auc"], row["samples_per_s"],
                " *" if improved else "",
            )
            if stop:
                log.info("early stopping after %d epochs without a better validation loss", bad_epochs)
            stop_flag = 1.0 if stop else 0.0
            if on_epoch is not None:
                try:
                    on_epoch(row)
                except BaseException:
                    if writer is not None:
                        writer.close()
                    raise
        epochs_run += 1
        if dist.broadcast(stop_flag, device) > 0:
            break
        if stop_after is not None and epoch >= stop_after:
            break
    if writer is not None:
        writer.close()
    if dist.main and history:
        # a resumed, already finished run still owes the workflow its outputs
        _write_history(out_dir / "history.csv", history)
        if not best_path.exists() and best_state is not None:
            save_checkpoint(best_path, {**payload(epoch, finished), "state_dict": best_state})
    dist.barrier()

    best = min(history, key=lambda r: r["val_loss"]) if history else None
    result = {
        **summary, "device": str(device), "world_size": dist.world, "epochs_run": epochs_run,
        "last_epoch": epoch if epochs_run else start_epoch, "best_epoch": best["epoch"] if best else None,
        "best_val_loss": best["val_loss"] if best else None, "best_val_auc": best["val_auc"] if best else None,
    }
    if dist.main:
        _write_json(out_dir / "summary.json", result)
        write_provenance(out_dir, stage="train", config=mcfg, extra={"task": info["task"], "model": info["name"], "seed": seed})
    return result


@torch.no_grad()
def evaluate(
    net: nn.Module, batches: Any, *, names: tuple[str, ...], cls_w: Tensor, tcfg: TrainingConfig,
    device: torch.device, objective: Objective | None = None,
) -> dict[str, float]:
    """Weighted loss, accuracy and ROC AUC (one-vs-rest macro for several classes) on a split.

    Accuracy and AUC are NaN for objectives other than classification.
    """
    objective = objective or Objective("classification", "cross_entropy", len(cls_w))
    net.eval()
    num = torch.zeros((), dtype=torch.float64, device=device)
    den = torch.zeros((), dtype=torch.float64, device=device)
    probs, labels_all = [], []
    for batch in batches:
        labels = batch["label"].long()
        w = batch["train_weight"].float() if tcfg.use_event_weights else torch.ones_like(labels, dtype=torch.float32)
        w = w * cls_w[labels].float()
        with _autocast(tcfg, device, net):
            logits = net(*[batch[n] for n in names])
        a, b = objective.loss(logits, batch, w)
        num += a.double()
        den += b.double()
        probs.append(torch.softmax(logits.float(), 1).cpu())
        labels_all.append(labels.cpu())
    p = torch.cat(probs).numpy()
    y = torch.cat(labels_all).numpy()
    return {
        "loss": float((num / den.clamp_min(1e-12)).item()),
        "acc": nan_if(objective.kind, float((p.argmax(1) == y).mean()) if len(y) else float("nan")),
        "auc": _roc_auc(y, p) if objective.kind == "classification" else float("nan"),
    }


def _example(batches: Any, names: tuple[str, ...]) -> dict[str, Tensor]:
    """First rows of the validation split (model inputs only, on the CPU) for export checks."""
    if isinstance(batches, TensorBatches):
        return {n: batches.tensors[n][:EXAMPLE_ROWS].clone() for n in names}
    first = next(iter(batches))
    return {n: first[n][:EXAMPLE_ROWS].cpu().clone() for n in names}
