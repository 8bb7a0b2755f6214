"""Typed, validated analysis configuration: the ground floor every stage reads.

A leaf package: it imports pydantic, PyYAML and :mod:`dl4hep.errors`, nothing of the
stages or registries (a test guards this), so any module may import it without a cycle.
Checking names only a registry knows (feature sets, model types, input schemas,
generator processes) is one floor up, in :mod:`dl4hep.validate`.

Modules:

- :mod:`~dl4hep.config.models`: the pydantic models, one per level, ``extra="forbid"``.
- :mod:`~dl4hep.config.load`: main config -> task and model YAML layers -> :class:`AnalysisConfig`
  (:func:`load_analysis`, :func:`analysis_from_dict`), errors naming the key path.
- :mod:`~dl4hep.config.yaml`: :func:`load_yaml`, :func:`deep_merge` (raw mappings).
- :mod:`~dl4hep.config.digest`: :func:`config_digest`, the re-run trigger of :mod:`dl4hep.plan`.
- :mod:`~dl4hep.config.search_space`: hyperparameter-search keys and trial configs.
- :mod:`~dl4hep.config.schema` / :mod:`~dl4hep.config.docs`: generate
  ``workflow/schemas/config.schema.json`` and the reference in ``docs/config.md``
  (``python -m dl4hep.config.schema``, ``python -m dl4hep.config.docs``; not imported here).

Input: ``configs/config.yaml`` (or any main config) with ``configs/tasks/``, ``configs/models/``.
Output: an :class:`AnalysisConfig`; nothing is written.
"""

from __future__ import annotations

from dl4hep.config.digest import config_digest
from dl4hep.config.load import analysis_from_dict, load_analysis, resolve_analysis
from dl4hep.config.models import (
    DEFAULT_CONFIG_DIR,
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
from dl4hep.config.yaml import deep_merge, load_yaml

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "AnalysisConfig",
    "DatasetConfig",
    "EvaluationConfig",
    "ModelConfig",
    "ReadingConfig",
    "RegressionConfig",
    "SampleConfig",
    "SearchConfig",
    "SearchParam",
    "TaskConfig",
    "TrainingConfig",
    "WeightVariation",
    "WeightsConfig",
    "analysis_from_dict",
    "config_digest",
    "deep_merge",
    "load_analysis",
    "load_yaml",
    "resolve_analysis",
]
