"""JSON schema of the main config, derived from the typed models.

The workflow validates ``config`` with Snakemake's ``validate()`` against
``workflow/schemas/config.schema.json``. That file is generated from the
pydantic models here, so the schema and the Python types cannot drift apart
(a test regenerates it and compares). The main config holds *overrides* of the
task and model YAML files, so nothing below the top level is required.

Regenerate with ``python -m dl4hep.config.schema > workflow/schemas/config.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from dl4hep.config.models import AnalysisConfig

__all__ = ["override_schema"]


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _drop_required(value)
    elif isinstance(node, list):
        for value in node:
            _drop_required(value)


def override_schema() -> dict[str, Any]:
    """Schema of a main config: AnalysisConfig with every nested field optional."""
    schema = AnalysisConfig.model_json_schema()
    _drop_required(schema)
    schema["required"] = ["tasks"]
    task = schema["$defs"]["TaskConfig"]
    task["properties"]["definition"] = {
        "type": "string",
        "description": "Task definition YAML to start from (default: <config_dir>/tasks/<task>.yaml).",
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "dl4hep main analysis config. Task entries override configs/tasks/<task>.yaml; "
        "model entries override configs/models/<base>.yaml. See docs/config.md."
    )
    return schema


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(override_schema(), indent=2, sort_keys=True))
