"""Write outputs under a temporary name and rename on success.

An interrupted job then never leaves a file that looks complete, and
Snakemake's incomplete-output bookkeeping stays truthful. ``os.replace`` is
atomic on POSIX within one filesystem, so the temporary lives beside the target.

An output location that cannot be created (a parent that is a file, a read-only or pseudo file
system, a name too long) raises :class:`OutputLocationError` before anything is written:
one line naming the path, exit status 2 from the CLI. :func:`check_output_location` makes the
same check without writing, for ``dl4hep check-config``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dl4hep.errors import Dl4hepError

__all__ = ["OutputLocationError", "atomic_directory", "atomic_output", "check_output_location"]


class OutputLocationError(Dl4hepError, OSError):
    """An output file or directory cannot be created where it was asked for."""


def _location_error(path: Path, err: OSError) -> OutputLocationError:
    reason = err.strerror or type(err).__name__
    culprit = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
    return OutputLocationError(
        f"cannot create output {path}: {reason}{culprit}; choose a writable location "
        "(the config's output:, or --out / --out-dir)"
    )


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _location_error(path, _culprit(path.parent) or err) from None


def check_output_location(path: str | Path) -> None:
    """Raise :class:`OutputLocationError` if ``path`` (a directory to be) could not be created.

    Probes the nearest existing ancestor with a temporary directory that is removed at once,
    so nothing is left behind (permission bits alone say nothing for root or on /proc).
    """
    culprit = _culprit(Path(path))
    if culprit is not None:
        raise _location_error(Path(path).absolute(), culprit)


def _culprit(directory: Path) -> OSError | None:
    """Why ``directory`` cannot be created, naming the offending ancestor; None if it can."""
    directory = directory.absolute()
    if any(len(part.encode()) > 255 for part in directory.parts):
        return OSError(36, "File name too long")
    ancestor = directory
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return NotADirectoryError(20, "Not a directory (a parent is a file)", str(ancestor))
    try:
        shutil.rmtree(tempfile.mkdtemp(prefix=".dl4hep-probe.", dir=ancestor))
    except OSError as err:
        return OSError(err.errno, err.strerror, str(ancestor))
    return None


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    The suffix is kept (``x.tmp123.parquet``) so libraries that infer the format
    from the name still work. On any exception the temporary is removed and the
    previous content of ``path``, if any, is left untouched.
    """
    path = Path(path)
    _make_parent(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as err:
        raise _location_error(path, err) from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs are ordinary files
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Directory version of :func:`atomic_output`: build in a temporary directory, then swap in."""
    path = Path(path)
    _make_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise _location_error(path, err) from None
    os.chmod(tmp, 0o777 & ~_current_umask())
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
