"""Keep freed tensor memory in the process (glibc ``mallopt``) so CPU steps do not page-fault.

glibc serves every allocation above ``M_MMAP_THRESHOLD`` (128 KiB, growing to at
most 32 MiB) with a fresh ``mmap`` and unmaps it on free. A point-cloud training step
allocates and frees tens of such tensors (pair features, attention weights, their
gradients), so every step touches new pages and the kernel zero-fills them: on the
2-core CI VM the ParT pair embedding spent 60 % of its time in page faults
(docs/benchmarks.md). Raising the mmap and trim thresholds to 1 GiB lets freed
blocks return to the heap and be reused. The resident memory then stays at the
step's peak instead of falling between steps, which a training job holds anyway.
PyTorch's own advice for CPU training is an allocator with the same behaviour
(jemalloc or tcmalloc); this needs no extra library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30
_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB once per process; False where not glibc Linux."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, _THRESHOLD)
        )
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    _done = ok
    if ok:
        log.debug("glibc mmap/trim thresholds set to %d bytes", _THRESHOLD)
    return ok
