"""Search spaces of ``models.<m>.search`` (docs/search.md): key resolution and trial configs.

Torch- and Optuna-free. A space key is ``training.<key>``, ``hyperparameters.<key>`` or a
bare name (a training key when :class:`~dl4hep.config.TrainingConfig` has it, else a
hyperparameter). :func:`dl4hep.validate.check_search` validates every end of every range
and every choice like a hand-written config before any job, so a trial can never fail on
a bad value, and the best-trial YAML is valid by construction.
"""

from __future__ import annotations

from typing import Any

from dl4hep.config.models import ModelConfig, SearchParam, TrainingConfig
from dl4hep.config.yaml import deep_merge

__all__ = [
    "FIXED_TRAINING_KEYS",
    "fixed_settings",
    "overrides_of",
    "resolve_key",
    "trial_model",
    "values_to_check",
]

#: Training keys that change what the objective (validation loss) measures or where it runs.
FIXED_TRAINING_KEYS = frozenset({"class_weights", "use_event_weights", "device", "gpus", "epochs"})


def resolve_key(key: str) -> tuple[str, str]:
    """``(section, name)`` of a space key, section ``training`` or ``hyperparameters``."""
    if "." in key:
        section, _, name = key.partition(".")
        if section not in ("training", "hyperparameters") or not name:
            raise ValueError(f"'{key}': a dotted key starts with 'training.' or 'hyperparameters.'")
        return section, name
    return ("training" if key in TrainingConfig.model_fields else "hyperparameters"), key


def values_to_check(param: SearchParam) -> list[Any]:
    """The values a range or choice list can produce at its ends (all choices)."""
    if param.choices is not None:
        return list(param.choices)
    return [param.low, param.high]


def overrides_of(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"training": {...}, "hyperparameters": {...}}`` from ``{space key: value}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, name = resolve_key(key)
        out.setdefault(section, {})[name] = value
    return out


def fixed_settings(mcfg: ModelConfig) -> dict[str, Any]:
    """The model's settings the search does not vary (no search block, no kfold, no searched key).

    Keys the study identity and the workflow's re-run trigger: applying ``best.yaml`` changes only
    searched keys, so it neither starts a new study nor re-runs the search.
    """
    out = mcfg.model_dump(mode="json", exclude={"search", "kfold"})
    for key in mcfg.search.space if mcfg.search else ():
        section, name = resolve_key(key)
        out[section].pop(name, None)
    return out


def trial_model(
    mcfg: ModelConfig, values: dict[str, Any], epochs: int | None = None
) -> ModelConfig:
    """The model config of one trial: ``mcfg`` with the searched values (no search, no K-fold)."""
    base = mcfg.model_dump(mode="json", exclude={"search", "kfold"})
    merged = deep_merge(base, overrides_of(values))
    if epochs is not None:
        merged["training"]["epochs"] = epochs
    return ModelConfig.model_validate(merged)
