"""Search spaces of ``models.<m>.search`` (docs/search.md): key resolution, checks, trial configs.

Torch- and Optuna-free, so the config check runs before any job. A space key is
``training.<key>``, ``hyperparameters.<key>`` or a bare name (a training key when
:class:`~dl4hep.config.TrainingConfig` has it, else a hyperparameter). Every end of
every range and every choice is validated like a hand-written config, so a trial can
never fail on a bad value, and the best-trial YAML is valid by construction.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dl4hep.config import ModelConfig, SearchParam, TrainingConfig, deep_merge
from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["FIXED_TRAINING_KEYS", "check_search", "fixed_settings", "overrides_of", "resolve_key", "trial_model",
           "values_to_check"]

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


def trial_model(mcfg: ModelConfig, values: dict[str, Any], epochs: int | None = None) -> ModelConfig:
    """The model config of one trial: ``mcfg`` with the searched values (no search, no K-fold)."""
    base = mcfg.model_dump(mode="json", exclude={"search", "kfold"})
    merged = deep_merge(base, overrides_of(values))
    if epochs is not None:
        merged["training"]["epochs"] = epochs
    return ModelConfig.model_validate(merged)


def check_search(mcfg: ModelConfig, *, where: str) -> None:
    """Raise :class:`ConfigError` naming ``where.search.space.<key>`` for a key or value the model rejects."""
    from dl4hep.models.specs import check_model

    if mcfg.search is None:
        return
    for key, param in mcfg.search.space.items():
        kwhere = f"{where}.search.space.{key}"
        try:
            section, name = resolve_key(key)
        except ValueError as err:
            raise ConfigError(f"{kwhere}: {err}") from None
        if section == "training":
            if name not in TrainingConfig.model_fields:
                raise ConfigError(f"{kwhere}: unknown training key '{name}'."
                                  + did_you_mean(name, TrainingConfig.model_fields))
            if name in FIXED_TRAINING_KEYS:
                raise ConfigError(f"{kwhere}: '{name}' cannot be searched (it changes what the validation loss "
                                  f"measures or where training runs); fixed keys: {sorted(FIXED_TRAINING_KEYS)}")
        for value in values_to_check(param):
            try:
                trial = trial_model(mcfg, {key: value})
            except ValidationError as err:
                msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
                raise ConfigError(f"{kwhere}: value {value!r} is not valid: {msg}") from None
            if section == "hyperparameters":
                check_model(trial.type, trial.inputs, trial.hyperparameters, where=kwhere)
