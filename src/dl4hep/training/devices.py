"""Where a training or prediction process runs: device choice, GPU claims, DDP shim and autocast.

* :func:`pick_device` chooses the device (and claims a GPU, below); :mod:`dl4hep.training.predict`
  uses it without importing the trainer.
* :class:`Dist` is the ``torchrun`` environment (rank, world size, collectives; a no-op for one process).
* :func:`autocast` is the bf16 mixed-precision context of ``training.precision``.

Schedulers (SLURM ``--gpus``, HTCondor ``request_gpus``) hand each job its own GPUs through
``CUDA_VISIBLE_DEVICES``. A workstation has no such broker: Snakemake's local executor only
counts a ``gpu`` resource, so two trainings started side by side both saw ``cuda:0``. Here a
training claims GPUs with an exclusive ``flock`` on one lock file per GPU (named by the GPU's
UUID, so the claim holds whatever ``CUDA_VISIBLE_DEVICES`` renumbering a process sees); the
kernel drops the lock when the process ends, however it ends. The lock directory is
``$DL4HEP_GPU_LOCK_DIR`` or ``<tmp>/dl4hep-gpu-locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dl4hep.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from dl4hep.config import TrainingConfig

__all__ = ["Dist", "GpuClaim", "autocast", "claim_gpus", "gpu_ids", "lock_dir", "pick_device", "visible_devices_env"]

log = logging.getLogger(__name__)

#: Claims held by this process (the locks live as long as these file descriptors).
_HELD: list[GpuClaim] = []


def lock_dir() -> Path:
    return Path(os.environ.get("DL4HEP_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / "dl4hep-gpu-locks")


class GpuClaim:
    """Exclusive claims on some GPUs; ``indices`` are positions in the visible-device list."""

    def __init__(self, indices: list[int], fds: list[int], shared: bool):
        self.indices, self._fds, self.shared = indices, fds, shared

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor releases its flock
        self._fds = []
        if self in _HELD:
            _HELD.remove(self)


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)  # flock needs no write access
    except OSError as err:
        log.warning("cannot open GPU lock file %s (%s); GPUs are not coordinated between trainings", path, err)
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim_gpus(n: int, ids: Sequence[str], *, directory: Path | None = None, hold: bool = True) -> GpuClaim:
    """Claim ``n`` of the GPUs named ``ids`` (visible order) that no other dl4hep process holds.

    Returns the lowest free indices. When fewer than ``n`` are free (GPUs busy with trainings
    outside this host's scheduler, or more trainings than GPUs), the first ``n`` are shared and
    a warning says so: a shared GPU is slower, a blocked job would never finish.
    """
    if n > len(ids):
        raise ConfigError(f"{n} GPUs requested but only {len(ids)} visible ({', '.join(ids) or 'none'})")
    directory = directory or lock_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o1777)  # every user's trainings share the directory (sticky, like /tmp)
    except OSError:
        pass
    chosen: list[int] = []
    fds: list[int] = []
    for i, gid in enumerate(ids):
        if len(chosen) == n:
            break
        fd = _try_lock(directory / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gid)}.lock")
        if fd is None:
            continue
        chosen.append(i)
        if fd >= 0:
            fds.append(fd)
    shared = len(chosen) < n
    if shared:
        for fd in fds:
            os.close(fd)
        fds, chosen = [], list(range(n))
        log.warning(
            "all %d visible GPUs are held by other dl4hep trainings on this host; sharing %s "
            "(limit concurrent trainings with the profile's `resources: gpu: N`)", len(ids), chosen,
        )
    claim = GpuClaim(chosen, fds, shared)
    if hold:
        _HELD.append(claim)
    return claim


def gpu_ids() -> list[str]:
    """A stable name per visible CUDA device: its UUID when torch reports one, else its index."""
    import torch

    out = []
    for i in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        out.append(f"GPU-{uuid}" if uuid is not None else f"index{i}")
    return out


def visible_devices_env(indices: Sequence[int]) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a child process that should see only ``indices`` of ours."""
    current = os.environ.get("CUDA_VISIBLE_DEVICES")
    if current:
        entries = [e.strip() for e in current.split(",") if e.strip()]
        return ",".join(entries[i] for i in indices)
    return ",".join(str(i) for i in indices)


def pick_device(preference: str, local_rank: int = 0, *, distributed: bool = False) -> torch.device:
    """The device of this training process.

    ``auto``: CUDA if present, else CPU; ``cuda``/``mps`` fail clearly when absent; ``cuda:N``
    is that GPU. Single-process ``auto``/``cuda`` training claims a GPU no other dl4hep training
    on this host holds (see the module docstring). Under DDP rank ``r`` uses ``cuda:LOCAL_RANK``:
    the launcher (``dl4hep train --nproc N``) has already claimed the GPUs and made only those
    visible.
    """
    import torch

    if preference == "cpu":
        return torch.device("cpu")
    if preference == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("training.device is 'mps' but MPS is not available; use device: auto or cpu")
        return torch.device("mps")
    cuda = torch.cuda.is_available()
    if preference.startswith("cuda") and not cuda:
        raise ConfigError(
            f"training.device is '{preference}' but no CUDA device is visible; use device: auto or cpu"
        )
    if not cuda:
        return torch.device("cpu")
    if ":" in preference:
        index = int(preference.split(":", 1)[1])
        if distributed:
            raise ConfigError(
                f"training.device '{preference}' pins one GPU, but this is a {os.environ.get('WORLD_SIZE')}-process "
                "(DDP) training; use device: auto or cuda with several processes"
            )
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"training.device is '{preference}' but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return torch.device("cuda", index)
    if distributed:
        return torch.device("cuda", local_rank)
    claim = claim_gpus(1, gpu_ids())
    return torch.device("cuda", claim.indices[0])


class Dist:
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
        """Rank 0, the process that validates and writes every file."""
        return self.rank == 0

    def start(self, device: torch.device) -> None:
        import torch

        if self.enabled and not torch.distributed.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.started = True

    def all_sum(self, value: Tensor) -> Tensor:
        """Sum of ``value`` over all ranks (``value`` itself without DDP)."""
        import torch

        if not self.enabled:
            return value
        out = value.detach().clone()
        torch.distributed.all_reduce(out)
        return out

    def broadcast(self, value: float, device: torch.device) -> float:
        """Rank 0's ``value`` on every rank (the early-stopping decision)."""
        import torch

        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        torch.distributed.broadcast(t, src=0)
        return float(t.item())

    def barrier(self) -> None:
        import torch

        if self.enabled:
            torch.distributed.barrier()

    def stop(self) -> None:
        import torch

        if self.started:
            torch.distributed.destroy_process_group()


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX), where bf16 matmuls beat fp32."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(cfg: TrainingConfig, device: torch.device, net: nn.Module | None = None) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision: bf16``; for ``auto`` on CUDA, and on a CPU with native bf16 for
    models measured to gain from it there (``cpu_bf16 = True``: the point-cloud models, docs/benchmarks.md)."""
    import torch

    cpu_auto = device.type == "cpu" and bool(getattr(net, "cpu_bf16", False)) and _cpu_has_bf16()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and (device.type == "cuda" or cpu_auto))
    if bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
