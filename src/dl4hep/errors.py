"""One root for every error dl4hep raises on purpose.

Each class also subclasses the fitting built-in, so ``except KeyError`` still
works for callers that do not know dl4hep. Messages carry the bad value, where
it happened (file, tree, branch or config key), what is allowed or the nearest
matches, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BranchNotFoundError",
    "ConfigError",
    "DataError",
    "Dl4hepError",
    "EmptyInputError",
    "InputFileError",
    "MissingDependencyError",
    "did_you_mean",
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
