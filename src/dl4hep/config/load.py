"""Resolve a main config into one typed :class:`AnalysisConfig` (parse only, no registries).

The main config names the tasks to run; each task is read from
``<config_dir>/tasks/<name>.yaml`` (or its ``definition:``) and the main config's
entry is deep-merged on top; each model likewise from ``<config_dir>/models/<base>.yaml``.
A config such as ``mini.yaml`` so changes statistics and hyperparameters without
repeating the physics. Validation errors name the full key path and the nearest
allowed keys (:func:`dl4hep.errors.format_validation_error`). Names that only a
registry knows are checked one floor up, by :func:`dl4hep.validate.load_checked`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dl4hep.config.models import DEFAULT_CONFIG_DIR, AnalysisConfig
from dl4hep.config.yaml import deep_merge, load_yaml
from dl4hep.errors import ConfigError, did_you_mean, format_validation_error

__all__ = ["analysis_from_dict", "load_analysis", "merge_files", "resolve_analysis"]


def _config_dir_hint(config_dir: Path) -> str:
    if config_dir.is_absolute() or (config_dir / "tasks").is_dir():
        return ""
    return (
        f" config_dir '{config_dir}' is relative to the working directory {Path.cwd()}: run from the "
        "dl4hep checkout (where configs/ lives) or set config_dir to an absolute path."
    )


def _resolve_models(
    raw_models: dict[str, Any] | None, config_dir: Path, where: str
) -> dict[str, Any]:
    resolved = {}
    for name, override in (raw_models or {}).items():
        override = override or {}
        if not isinstance(override, dict):
            raise ConfigError(f"{where}.models.{name} must be a mapping, got {override!r}")
        base_name = override.get("base") or name
        base_file = config_dir / "models" / f"{base_name}.yaml"
        if not base_file.exists():
            known = sorted(p.stem for p in (config_dir / "models").glob("*.yaml"))
            raise ConfigError(
                f"{where}.models.{name}: no model config {base_file}; available: {known}."
                + did_you_mean(base_name, known)
                + " Set 'base:' to one of them."
            )
        merged = deep_merge(load_yaml(base_file), override)
        merged["base"] = base_name
        resolved[name] = merged
    return resolved


def resolve_analysis(raw: dict[str, Any]) -> dict[str, Any]:
    """Expand task and model references of a raw main config into one plain dict."""
    raw = copy.deepcopy(raw)
    config_dir = Path(raw.get("config_dir", DEFAULT_CONFIG_DIR))
    tasks = raw.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise ConfigError("the config needs a non-empty 'tasks' mapping (task name -> overrides)")
    for tname, override in tasks.items():
        override = override or {}
        if not isinstance(override, dict):
            raise ConfigError(f"tasks.{tname} must be a mapping, got {override!r}")
        definition = override.pop("definition", None)
        task_file = Path(definition) if definition else config_dir / "tasks" / f"{tname}.yaml"
        if not task_file.exists():
            known = sorted(p.stem for p in (config_dir / "tasks").glob("*.yaml"))
            raise ConfigError(
                f"tasks.{tname}: no task definition {task_file}; available: {known}."
                + did_you_mean(tname, known)
                + _config_dir_hint(config_dir)
            )
        base = load_yaml(task_file)
        # A model list in the main config selects models; their overrides merge onto the task's.
        if "models" in override:
            chosen = override.pop("models") or {}
            if isinstance(chosen, list):
                chosen = {m: {} for m in chosen}
            base_models = base.get("models") or {}
            base["models"] = {
                m: deep_merge(base_models.get(m) or {}, chosen[m] or {}) for m in chosen
            }
        merged = deep_merge(base, override)
        merged["models"] = _resolve_models(merged.get("models"), config_dir, f"tasks.{tname}")
        tasks[tname] = merged
    return raw


def merge_files(*paths: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge the YAML files (later files win), then ``overrides``, into one raw mapping."""
    if not paths:
        raise ConfigError("no config file given")
    raw: dict[str, Any] = {}
    for p in paths:
        raw = deep_merge(raw, load_yaml(p))
    if overrides:
        raw = deep_merge(raw, overrides)
    return raw


def load_analysis(*paths: str | Path, overrides: dict[str, Any] | None = None) -> AnalysisConfig:
    """Load, merge (later files win), resolve and validate an analysis config (no registry checks)."""
    raw = merge_files(*paths, overrides=overrides)
    return analysis_from_dict(raw, source=", ".join(str(p) for p in paths))


def analysis_from_dict(raw: dict[str, Any], source: str = "<config>") -> AnalysisConfig:
    """Resolve and validate an already-merged raw config (e.g. Snakemake's ``config``); no registry checks."""
    resolved = resolve_analysis(raw)
    try:
        return AnalysisConfig.model_validate(resolved)
    except ValidationError as err:
        header = f"invalid configuration in {source}:"
        raise ConfigError(format_validation_error(err, header, allowed=_allowed_keys)) from None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at ``loc`` (dict keys such as task names are skipped)."""
    model: Any = AnalysisConfig
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            continue  # a user key of a dict (task, sample or model name)
        model = _model_of(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_of(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation
