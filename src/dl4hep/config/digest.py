"""Stable short hash of a config fragment: Snakemake params use it to trigger re-runs (dl4hep.plan)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

__all__ = ["config_digest"]


def config_digest(obj: Any) -> str:
    """Stable short hash of a config fragment (Snakemake params use it to trigger re-runs)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
