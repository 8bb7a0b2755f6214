"""Progress that suits where it goes: a tqdm bar on a terminal, a one-line log record elsewhere.

A tqdm bar written to a file (a Snakemake ``log:``, a batch job's stdout) is a stream of
carriage-return redraws: megabytes of ``███`` that hide the messages that matter. When stderr
is not a terminal, :func:`progress` returns :class:`LogProgress`, which keeps tqdm's counting
and rate estimate but writes a single INFO record on the ``dl4hep.progress`` logger every
``DL4HEP_PROGRESS_INTERVAL`` seconds (default 30) and one when it finishes, e.g.
``epoch 3/10: 1200/4800 batches (25%), 41.3 batches/s, 0:29 elapsed, 1:27 left``.
:func:`route_tqdm_to_log` makes every tqdm bar of the process behave so (the CLI calls it).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import tqdm as _tqdm_pkg
from tqdm.std import tqdm as _tqdm

__all__ = ["LogProgress", "interval", "progress", "route_tqdm_to_log"]

log = logging.getLogger("dl4hep.progress")


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get("DL4HEP_PROGRESS_INTERVAL", "30")))
    except ValueError:
        return 30.0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LogProgress(_tqdm):
    """tqdm that reports through logging: one line per interval instead of a redrawn bar."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # disable=None means "off when not a terminal" in tqdm; here that is when it logs
        if kwargs.get("disable") is None:
            kwargs["disable"] = False
        kwargs["file"] = _NullFile()
        kwargs["mininterval"] = interval()
        kwargs.pop("leave", None)
        self._logged_at = time.monotonic()
        self._last_n = -1
        super().__init__(*args, **kwargs)

    def _record(self) -> str:
        d = self.format_dict
        desc = d.get("prefix") or "progress"
        unit = d.get("unit") or "it"
        n, total = d["n"], d.get("total")
        elapsed = self.format_interval(d["elapsed"])
        rate = d.get("rate") or (n / d["elapsed"] if d["elapsed"] else None)
        parts = [f"{desc}: {n}/{total} {unit}" if total else f"{desc}: {n} {unit}"]
        if total:
            parts[0] += f" ({100.0 * n / total:.0f}%)"
        if rate:
            parts.append(f"{rate:.3g} {unit}/s")
        parts.append(f"{elapsed} elapsed")
        if total and rate and n < total:
            parts.append(f"{self.format_interval((total - n) / rate)} left")
        if d.get("postfix"):
            parts.append(str(d["postfix"]))
        return ", ".join(parts)

    def display(self, msg: str | None = None, pos: int | None = None) -> None:  # noqa: ARG002 - tqdm API
        now = time.monotonic()
        if self.n == self._last_n or self.n == 0:
            return
        if now - self._logged_at < interval() and not (self.total and self.n >= self.total):
            return
        self._logged_at, self._last_n = now, self.n
        log.info("%s", self._record())

    def close(self) -> None:
        if getattr(self, "disable", True):  # tqdm sets it in __init__; untyped there
            return
        if self.n and self.n != self._last_n:
            self._last_n = self.n
            log.info("%s", self._record())
        self.disable = True  # tqdm's own close would redraw into the (null) file
        self._decr_instances(self)


class _NullFile:
    def write(self, _s: str) -> None:
        pass

    def flush(self) -> None:
        pass


def progress(iterable: Any = None, **kwargs: Any) -> _tqdm:
    """A tqdm bar when stderr is a terminal, else :class:`LogProgress` (same arguments)."""
    if _is_terminal(kwargs.get("file") or sys.stderr):
        return _tqdm(iterable, **kwargs)
    return LogProgress(iterable, **kwargs)


def route_tqdm_to_log() -> bool:
    """When stderr is not a terminal, make ``from tqdm import tqdm`` give :class:`LogProgress`.

    For stages that create their bars with tqdm directly; call before importing them. Returns
    whether it did.
    """
    if _is_terminal(sys.stderr):
        return False
    _tqdm_pkg.tqdm = LogProgress
    return True
