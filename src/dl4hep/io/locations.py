"""Where ntuples live: local paths, globs, ``root://`` and ``https://`` URLs, and ``@list`` files.

A *location* is a string. ``pathlib.Path`` must never hold one that may be a URL: it collapses
``root://host//eos/f.root`` to ``root:/host/eos/f.root``, which then reads as a missing local
file. :func:`restore_url` undoes that collapse for callers that still pass a ``Path``.

An *entry* (a ``files:`` item or a ``--input`` value) expands to locations: a local path, a glob
(local, or remote through fsspec: ``fsspec-xrootd`` for ``root://``, from the ``xrootd`` extra), a
URL, or ``@list.txt``, a file holding one entry per line (``#`` comment lines and blank lines are
skipped, relative paths are relative to the list's folder), which is what a dataset query such
as ``dasgoclient`` writes once a redirector is prefixed.

Remote failures become one-line :class:`InputFileError` messages that name the URL, say what
went wrong (unreachable, timeout, permission, no such file) and how to retry.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dl4hep.errors import InputFileError, MissingDependencyError, did_you_mean

__all__ = [
    "configure_xrootd",
    "expand_entries",
    "expand_entry",
    "has_glob",
    "is_remote",
    "open_root",
    "remote_error",
    "restore_url",
]

#: Schemes read through uproot/fsspec; ``root``-like ones address paths after a double slash.
_XROOTD = ("root", "roots", "xroot", "xroots")
_REMOTE = (*_XROOTD, "http", "https")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_COLLAPSED = re.compile(rf"^({'|'.join(_REMOTE)}):/(?!/)(.*)$")

#: XRootD client settings applied unless the matching ``XRD_*`` variable is set: the library
#: defaults (120 s per connection attempt, 5 attempts) let one dead server stall a job for 10 min.
XROOTD_DEFAULTS = {"ConnectionWindow": 20, "ConnectionRetry": 2, "RequestTimeout": 300}
_configured = False


def is_remote(location: str) -> bool:
    """True for ``scheme://`` locations other than ``file://``."""
    m = _URL.match(location)
    return bool(m) and m.group(1).lower() != "file"


def has_glob(location: str) -> bool:
    return any(c in location for c in "*?[")


def restore_url(location: str | os.PathLike[str]) -> str:
    """Return ``location`` as a string, undoing pathlib's ``//`` collapse of remote URLs.

    ``Path("root://h//eos/f.root")`` prints ``root:/h/eos/f.root``; no local path starts with
    ``root:/`` in practice, so that form is turned back into ``root://h//eos/f.root``
    (``https:/h/p`` into ``https://h/p``). ``file://`` prefixes are dropped.
    """
    text = os.fspath(location).strip()
    m = _COLLAPSED.match(text)
    if m:
        scheme, rest = m.group(1), m.group(2)
        host, _, path = rest.partition("/")
        sep = "//" if scheme in _XROOTD else "/"
        text = f"{scheme}://{host}{sep}{path}"
    if text.startswith("file://"):
        text = text[len("file://"):]
    return text


# --------------------------------------------------------------------------- expansion


def expand_entries(entries: Iterable[str | os.PathLike[str]], *, where: str) -> list[str]:
    """Expand several entries in order; a location reached twice is an error (double counting).

    Args:
        entries: paths, globs, URLs or ``@list`` files.
        where: message prefix naming the origin, e.g. ``"tasks.t.samples.s.files: "``.
    """
    out: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        for loc in expand_entry(entry, where=where):
            if loc in seen:
                raise InputFileError(
                    f"{where}'{loc}' is listed twice (check overlapping globs and lists); "
                    "each file must be read once"
                )
            seen.add(loc)
            out.append(loc)
    if not out:
        raise InputFileError(f"{where}no input file given")
    return out


def expand_entry(entry: str | os.PathLike[str], *, where: str, _in_list: bool = False) -> list[str]:
    """Expand one entry into locations (sorted for globs); raise if it matches nothing.

    Local paths must exist; remote URLs without a wildcard are not contacted here (planning
    3,000 of them must stay fast): the job that reads one reports a missing file.
    """
    text = restore_url(entry)
    if text.startswith("@"):
        if _in_list:
            raise InputFileError(f"{where}list files cannot include other lists ('{text}')")
        return _read_list(text[1:], where=where)
    if is_remote(text):
        return _remote_glob(text, where=where) if has_glob(text) else [text]
    if has_glob(text):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise InputFileError(
                f"{where}'{text}' matches no file (working directory {Path.cwd()}); check the path or mount"
            )
        return matches
    if not os.path.exists(text):
        raise InputFileError(f"{where}file {text} does not exist{_nearby(text)}")
    if os.path.isdir(text):
        raise InputFileError(f"{where}{text} is a directory, not a file; use a glob such as '{text}/*.root'")
    return [text]


def _nearby(path: str) -> str:
    """Sentence ending a 'does not exist' message: a missing folder, or the nearest names."""
    parent = Path(path).parent
    if not parent.is_dir():
        return f" (folder {parent} does not exist either)"
    return "." + did_you_mean(Path(path).name, [q.name for q in parent.iterdir()])


def _read_list(path: str, *, where: str) -> list[str]:
    """Entries of an ``@list`` file, each expanded; relative local paths are relative to the list."""
    path = restore_url(path)
    lines = _list_lines(path, where=where)
    base = "" if is_remote(path) else os.path.dirname(path)
    entries = [ln for ln in (raw.strip() for raw in lines) if ln and not ln.startswith("#")]
    if not entries:
        raise InputFileError(f"{where}list {path} holds no file (only blank or # comment lines)")
    inner = f"{where}{path}: "
    out: list[str] = []
    for e in entries:
        if not is_remote(e) and not os.path.isabs(e) and not e.startswith("@"):
            e = os.path.join(base, e)
        out += expand_entry(e, where=inner, _in_list=True)
    return out


def _list_lines(path: str, *, where: str) -> list[str]:
    try:
        if is_remote(path):
            fsspec = _fsspec(path)
            with fsspec.open(path, "rt") as fh:
                return fh.read().splitlines()
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        raise InputFileError(f"{where}list file {path} does not exist{_nearby(path)}") from None
    except UnicodeDecodeError as err:
        raise InputFileError(f"{where}list file {path} is not text ({err.reason}); give one path per line") from None
    except OSError as err:
        if is_remote(path):
            raise remote_error(path, err) from None
        raise InputFileError(f"{where}cannot read list file {path}: {err.strerror or err}") from None


# --------------------------------------------------------------------------- remote access


def _fsspec(url: str) -> Any:
    configure_xrootd()
    try:
        import fsspec

        if _URL.match(url).group(1).lower() in _XROOTD:
            import fsspec_xrootd  # noqa: F401  (registers root://)
    except ImportError as err:
        raise MissingDependencyError(
            f"reading {url} needs the XRootD client and fsspec-xrootd: pip install 'dl4hep[xrootd]' ({err})"
        ) from None
    return fsspec


def _remote_glob(url: str, *, where: str) -> list[str]:
    """Expand a remote glob with fsspec; matches come back as full URLs.

    fsspec's glob turns server errors into "no match" (or an opaque error), so when nothing
    matches, the folder above the pattern is asked directly: an unreachable server, a missing
    folder or a permission error then give their own message.
    """
    fsspec = _fsspec(url)
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise MissingDependencyError(f"listing {url} needs {err.name or err}: pip install 'dl4hep[xrootd]'") from None
    fs.invalidate_cache()  # fsspec caches listings per server: a long-lived process would see stale folders
    try:
        matches = sorted(fs.glob(path))
    except NotImplementedError:
        raise InputFileError(f"{where}'{url}': this storage cannot list folders; list the files explicitly") from None
    except (OSError, ValueError):
        matches = []
    if matches:
        return [_as_url(url, m) for m in matches]
    folder = path[: min(path.find(c) for c in "*?[" if c in path)].rsplit("/", 1)[0] or "/"
    fs.invalidate_cache()  # a failed glob leaves entries that make info() fail opaquely
    try:
        info = fs.info(folder)
    except (OSError, ValueError) as err:
        raise remote_error(url, err, where=where) from None
    if info.get("type") != "directory":
        raise InputFileError(f"{where}'{url}': {folder} on the server is not a folder")
    raise InputFileError(f"{where}'{url}' matches no file on the server (folder {folder} exists); check the pattern")


def _as_url(pattern: str, match: str) -> str:
    """Full URL of a glob match (fsspec-xrootd returns bare paths, sometimes with a leading //)."""
    if "://" in match:
        return match
    scheme, rest = pattern.split("://", 1)
    host = rest.split("/", 1)[0]
    sep = "//" if scheme.lower() in _XROOTD else "/"
    return f"{scheme}://{host}{sep}{match.lstrip('/')}"


def configure_xrootd(**settings: int) -> None:
    """Apply XRootD client timeouts: ``settings`` win, then ``XRD_*`` variables, then our defaults.

    Without this a dead server holds a job for 120 s x 5 connection attempts. Called before any
    remote access; cheap when the XRootD client is not installed.
    """
    global _configured
    if _configured and not settings:
        return
    try:
        from XRootD import client
    except ImportError:
        return
    for name in {**XROOTD_DEFAULTS, **settings}:
        env = os.environ.get(f"XRD_{name.upper()}")
        value = settings.get(name, int(env) if env and env.isdigit() else XROOTD_DEFAULTS.get(name))
        if value is not None:
            client.EnvPutInt(name, int(value))
    _configured = True


#: (pattern in the client's message, what happened, whether a plain retry may help)
_REMOTE_FAILURES = (
    (r"permission denied|\[3010\]|not authori[sz]ed|auth(entication)? failed|\b403\b", "permission denied", False),
    (r"no such file|\[3011\]|not found|\b404\b", "no such file on the server", False),
    (r"expired|timed? ?out|timeout", "timed out", True),
    (r"connection (error|refused)|cannot connect|connect call failed|invalid address|unreachable|resolve|"
     r"name or service|network", "cannot reach the server", True),
)
#: the same by exception type, for clients (fsspec's HTTP) whose messages say little
_FAILURE_TYPES = (
    (PermissionError, "permission denied", False),
    (FileNotFoundError, "no such file on the server", False),
    (TimeoutError, "timed out", True),
    (ConnectionError, "cannot reach the server", True),
)


def remote_error(url: str, err: BaseException, *, where: str = "") -> InputFileError:
    """One-line :class:`InputFileError` for a failed remote access, with a retry hint.

    ``where`` prefixes the message (e.g. the config key whose entry gave the URL).
    """
    said = " ".join(str(err).split()) or type(err).__name__
    said = re.sub(r"<bound method (\S+) of <[^>]*>>", r"\1", said)  # XRootD names its Python objects
    what, transient = next(
        ((w, t) for pattern, w, t in _REMOTE_FAILURES if re.search(pattern, said, re.I)),
        next(((w, t) for cls, w, t in _FAILURE_TYPES if isinstance(err, cls)), ("remote read failed", True)),
    )
    if transient:
        hint = "the storage may be down or overloaded: retry later (Snakemake: --retries 2)"
        if _URL.match(url).group(1).lower() in _XROOTD:
            hint += "; XRD_CONNECTIONWINDOW, XRD_CONNECTIONRETRY and XRD_REQUESTTIMEOUT set the client's timeouts"
    elif what == "permission denied":
        hint = "check your grid proxy (voms-proxy-init) or the file's permissions, then retry"
    else:
        hint = "check the URL (or the @list / files: entry that gave it), then retry"
    return InputFileError(f"{where}cannot read {url}: {what} (the client said: {said[:300]}); {hint}")


# --------------------------------------------------------------------------- opening


def open_root(location: str) -> Any:
    """``uproot.open`` a local or remote ROOT file with one-line errors naming it."""
    import uproot

    location = restore_url(location)
    if is_remote(location):
        _fsspec(location)
        try:
            return uproot.open(location)
        except ImportError as err:
            raise MissingDependencyError(f"reading {location} needs {err.name or err}: pip install 'dl4hep[xrootd]'") from err
        except OSError as err:
            raise remote_error(location, err) from err
        except Exception as err:
            http = "" if _URL.match(location).group(1).lower() in _XROOTD else (
                " (over http(s) the server must also answer byte-range requests)")
            raise InputFileError(
                f"cannot open {location}: not a ROOT file, or a corrupt one{http}; uproot said {_first_line(err)}"
            ) from err
    try:
        return uproot.open(location)
    except FileNotFoundError as err:
        raise InputFileError(f"input file {location} does not exist") from err
    except Exception as err:
        with open(location, "rb") as fh:
            magic = fh.read(4)
        what = "not a ROOT file (no 'root' magic bytes)" if magic != b"root" else "corrupt or truncated ROOT file"
        raise InputFileError(f"cannot open {location}: {what}; uproot said {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"
