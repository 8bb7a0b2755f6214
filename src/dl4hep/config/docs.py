"""Render the config reference of docs/config.md from the typed models.

Every key's type, default and description come from :mod:`dl4hep.config.models`, so
the reference cannot miss a key or drift from the code (a test compares).
Regenerate with ``python -m dl4hep.config.docs``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dl4hep.config.models import (
    AnalysisConfig,
    DatasetConfig,
    EvaluationConfig,
    ModelConfig,
    ReadingConfig,
    RegressionConfig,
    SampleConfig,
    SearchConfig,
    SearchParam,
    TaskConfig,
    TrainingConfig,
    WeightsConfig,
    WeightVariation,
)
from dl4hep.features.sets.columns import ColumnSpec
from dl4hep.features.sets.columns import Options as ColumnsOptions

__all__ = ["render_reference", "update_docs"]

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m dl4hep.config.docs -->"
END = "<!-- END GENERATED REFERENCE -->"

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Top level (`configs/config.yaml`)", AnalysisConfig),
    ("`tasks.<task>` (`configs/tasks/<task>.yaml`)", TaskConfig),
    ("`tasks.<task>.samples.<sample>`", SampleConfig),
    ("`tasks.<task>.reading`", ReadingConfig),
    ("`tasks.<task>.dataset`", DatasetConfig),
    ("`tasks.<task>.regression` (kind: regression, docs/evaluation.md)", RegressionConfig),
    ("`tasks.<task>.models.<model>` (`configs/models/<base>.yaml`)", ModelConfig),
    ("`tasks.<task>.models.<model>.training`", TrainingConfig),
    ("`tasks.<task>.models.<model>.search` (docs/search.md)", SearchConfig),
    ("`tasks.<task>.models.<model>.search.space.<key>`", SearchParam),
    ("`tasks.<task>.evaluation`", EvaluationConfig),
    ("`tasks.<task>.weights` (event weights and systematics, docs/evaluation.md)", WeightsConfig),
    ("`tasks.<task>.weights.variations.<name>`", WeightVariation),
    ("`tasks.<task>.feature_options.columns` (declared columns, docs/physics.md)", ColumnsOptions),
    ("`tasks.<task>.feature_options.columns.columns.<name>`", ColumnSpec),
]


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    for name in ("dl4hep.config.models.", "dl4hep.config."):
        text = text.replace(name, "")
    if isinstance(annotation, type):
        text = annotation.__name__
    return text.replace("|", "or").replace("NoneType", "None")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        return f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "required"
    return f"`{field.default!r}`"


def render_reference() -> str:
    lines: list[str] = []
    for title, model in SECTIONS:
        lines += [f"### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
            typ = _type_name(field.annotation).replace("|", "\\|")
            lines.append(f"| `{name}` | {typ} | {_default(field)} | {desc} |")
        lines.append("")
    lines += [
        "The main config may also set `tasks.<task>.definition`: the task YAML to start from",
        "(default `configs/tasks/<task>.yaml`), so a new task needs no new Python.",
        "",
    ]
    return "\n".join(lines)


def update_docs(path: Path) -> bool:
    """Rewrite the generated block of ``path``; return True if it changed."""
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n\n{render_reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
        return True
    return False


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/config.md")
    print("updated" if update_docs(target) else "up to date", target)
