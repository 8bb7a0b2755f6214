"""Provenance records written beside every output: config, version, git commit."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dl4hep import __version__
from dl4hep.io.atomic import atomic_output

__all__ = ["git_commit", "provenance_path", "provenance_record", "write_provenance"]


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Commit of the source tree dl4hep runs from ('unknown' outside git; '-dirty' if modified)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def provenance_path(output: str | Path) -> Path:
    """``<file>.provenance.json`` beside a file, ``<dir>/provenance.json`` inside a directory."""
    output = Path(output)
    if output.is_dir():
        return output / "provenance.json"
    return output.with_name(output.name + ".provenance.json")


def provenance_record(*, stage: str, config: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    if isinstance(config, BaseModel):
        config = config.model_dump(mode="json")
    return {
        "stage": stage,
        "dl4hep_version": __version__,
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "user": os.environ.get("USER", ""),
        "config": config,
        **(extra or {}),
    }


def write_provenance(output: str | Path, *, stage: str, config: Any, extra: dict[str, Any] | None = None) -> Path:
    """Write the provenance record for ``output`` (a file or directory) and return its path."""
    target = provenance_path(output)
    record = provenance_record(stage=stage, config=config, extra=extra)
    with atomic_output(target) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return target
