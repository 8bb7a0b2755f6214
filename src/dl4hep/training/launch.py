"""``dl4hep train --nproc N``: run the same command as N DDP processes under torchrun.

The workflow's train rule passes ``--nproc`` the number of GPUs the job was given (the rule's
``gpu`` resource), so one rule runs one process or a multi-GPU DDP job without a wrapper script.
This process claims the GPUs (:mod:`dl4hep.training.devices`), makes only those visible to the
children, divides its CPU threads between them and waits for ``torch.distributed.run``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["launch_command", "run_distributed", "under_torchrun"]

log = logging.getLogger(__name__)


def under_torchrun() -> bool:
    """True inside a process started by torchrun (it sets ``LOCAL_RANK`` and ``WORLD_SIZE``)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def launch_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m dl4hep ARGV``.

    ``--standalone`` rendezvous on a free localhost port, so concurrent jobs on a node do not
    collide; the children get the same arguments and see ``WORLD_SIZE`` = ``nproc``.
    """
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
        "-m", "dl4hep", *_without_nproc(argv),
    ]


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less ``--nproc N``: torchrun's parser would take it for its ``--nproc-per-node``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def run_distributed(nproc: int, argv: Sequence[str], *, device: str) -> int:
    """Launch ``argv`` (a ``dl4hep`` command line) as ``nproc`` processes; return their exit status."""
    import torch

    from dl4hep.training.devices import claim_gpus, gpu_ids, visible_devices_env

    env = dict(os.environ)
    claim = None
    if device != "cpu" and torch.cuda.is_available():
        ids = gpu_ids()
        if device.startswith("cuda:"):
            from dl4hep.errors import ConfigError

            raise ConfigError(f"training.device '{device}' pins one GPU; --nproc {nproc} needs device: auto or cuda")
        claim = claim_gpus(nproc, ids)
        env["CUDA_VISIBLE_DEVICES"] = visible_devices_env(claim.indices)
        where = f"GPUs {env['CUDA_VISIBLE_DEVICES']}"
    else:
        where = "the CPU (gloo)"
    # torchrun would set 1 thread per process; share this job's threads (Snakemake sets OMP_NUM_THREADS)
    threads = int(env.get("OMP_NUM_THREADS") or torch.get_num_threads())
    env["OMP_NUM_THREADS"] = str(max(1, threads // nproc))
    cmd = launch_command(nproc, argv)
    log.info("launching %d training processes on %s: %s", nproc, where, " ".join(cmd))
    try:
        return subprocess.run(cmd, env=env).returncode
    finally:
        if claim is not None:
            claim.release()
