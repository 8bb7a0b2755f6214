"""One root for every error dl4hep raises on purpose.

Each class also subclasses the fitting built-in, so ``except KeyError`` still
works for callers that do not know dl4hep. Messages carry the bad value, where
it happened (file, tree, branch or config key), what is allowed or the nearest
matches, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "BranchNotFoundError",
    "ConfigError",
    "DataError",
    "Dl4hepError",
    "EmptyInputError",
    "InputFileError",
    "MissingDependencyError",
    "did_you_mean",
    "format_validation_error",
    "keys_of",
]


class Dl4hepError(Exception):
    """Root of all dl4hep errors; the CLI turns these into a message and exit code 2."""


class ConfigError(Dl4hepError, ValueError):
    """A configuration file or key is wrong (unknown key, wrong type, unknown name)."""


class InputFileError(Dl4hepError, OSError):
    """An input file is missing, unreadable, corrupt or not of the expected format."""


class BranchNotFoundError(Dl4hepError, KeyError):
    """A branch (or tree) requested by an input schema is not in the file."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class EmptyInputError(Dl4hepError, ValueError):
    """An input or a selection holds zero entries where some are needed."""


class DataError(Dl4hepError, ValueError):
    """Values are unusable: NaN/inf under the 'fail' policy, a single class, ..."""


class MissingDependencyError(Dl4hepError, ImportError):
    """An optional dependency is needed; the message gives the install command."""


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` (or ``" Did you mean one of 'x', 'y'?"``) or ``""``."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=0.6)
    if not matches:
        return ""
    if len(matches) == 1:
        return f" Did you mean '{matches[0]}'?"
    return " Did you mean one of " + ", ".join(f"'{m}'" for m in matches) + "?"


AllowedKeys = Iterable[str] | Callable[[tuple[Any, ...]], Iterable[str]]


def format_validation_error(err: ValidationError, header: str, *, prefix: str = "",
                            allowed: AllowedKeys | None = None, kind: str = "key") -> str:
    """One message for a pydantic ``ValidationError``: ``header``, then one line per error.

    Each line names the full key path (``prefix`` + the error's location). An unknown key gets
    the nearest allowed names and the list of allowed ones; ``allowed`` is either that list or a
    function of the parent location (nested models allow different keys at each level). Every
    config, schema, option and hyperparameter error of dl4hep goes through here, so they read alike.
    """
    lines = [header]
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in (prefix, *loc) if str(p) != "")
        if e["type"] == "extra_forbidden":
            names = sorted(allowed(loc[:-1]) if callable(allowed) else (allowed or ()))
            hint = did_you_mean(str(loc[-1]), names)
            lines.append(f"  unknown {kind} '{path}'.{hint} Allowed here: {names}")
        else:
            lines.append(f"  {path or '<top>'}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def keys_of(model: type) -> Callable[[tuple[Any, ...]], list[str]]:
    """``allowed`` for :func:`format_validation_error`: the field names of the pydantic model at a location.

    Walks ``model``'s fields along the location; a key that is not a field (a user's name in a
    ``dict[str, Model]``: a column, collection or task) is skipped.
    """
    def allowed(parent: tuple[Any, ...]) -> list[str]:
        current: Any = model
        for part in parent:
            fields = getattr(current, "model_fields", None)
            if fields is not None and str(part) in fields:
                current = _model_in(fields[str(part)].annotation)
        return list(getattr(current, "model_fields", None) or [])
    return allowed


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``annotation`` (``dict[str, M]``, ``M | None``), else the annotation."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if isinstance(found, type) and hasattr(found, "model_fields"):
            return found
    return annotation
