"""Config checks that need the registries, and the checked loaders every entry point uses.

:mod:`dl4hep.config` parses and types a config without knowing any registry (it is a leaf).
This module adds what only a registry knows: names of feature sets, model types, input
schemas and generator processes, combinations that cannot work (a point-cloud model on a
task whose features provide no point cloud), hyperparameter-search spaces, and every
feature or observer name the config uses: the ``selection``, ``evaluation.pt_observer``
and ``sculpting_observer``, ``dataset.reweight_observers``, ``models.<m>.features`` and
the collections and fields of declared ``columns``.

:func:`load_checked` (the CLI: ``dl4hep check-config`` and every stage) and
:func:`checked_from_dict` (Snakemake's config loading, ``workflow/rules/common.smk``) parse
and then check, so all of them reject the same mistakes at load time, before any output,
each with the key path and the nearest valid names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dl4hep.config import (
    AnalysisConfig,
    ModelConfig,
    TaskConfig,
    TrainingConfig,
    analysis_from_dict,
)
from dl4hep.config.load import merge_files
from dl4hep.config.search_space import (
    FIXED_TRAINING_KEYS,
    resolve_key,
    trial_model,
    values_to_check,
)
from dl4hep.errors import ConfigError, did_you_mean, format_validation_error
from dl4hep.features.event_weights import check_task_weights
from dl4hep.features.registry import check_feature_set, feature_blocks, feature_names
from dl4hep.features.selection import compile_selection
from dl4hep.generate.processes import check_generator
from dl4hep.io.schema import load_input_schema
from dl4hep.models.specs import MODEL_SPECS, check_model

__all__ = [
    "check_analysis",
    "check_search",
    "check_task_names",
    "checked_from_dict",
    "load_checked",
    "task_feature_names",
]


def load_checked(*paths: str | Path, overrides: dict[str, Any] | None = None) -> AnalysisConfig:
    """Load, merge (later files win), resolve and validate a config, then check it against the registries."""
    raw = merge_files(*paths, overrides=overrides)
    return checked_from_dict(raw, source=", ".join(str(p) for p in paths))


def checked_from_dict(raw: dict[str, Any], source: str = "<config>") -> AnalysisConfig:
    """:func:`dl4hep.config.analysis_from_dict` plus :func:`check_analysis` (Snakemake's ``config``)."""
    cfg = analysis_from_dict(raw, source=source)
    check_analysis(cfg)
    return cfg


def check_analysis(cfg: AnalysisConfig) -> None:
    """Raise :class:`ConfigError` naming the first key whose value no registry accepts."""
    for tname, task in cfg.tasks.items():
        where = f"tasks.{tname}"
        schema = load_input_schema(task.input, config_dir=cfg.config_dir, where=f"{where}.input")
        blocks = _check_feature_sets(task, schema, where)
        for sname, sample in task.samples.items():
            if sample.input is not None:
                own = load_input_schema(
                    sample.input, config_dir=cfg.config_dir, where=f"{where}.samples.{sname}.input"
                )
                _check_feature_sets(task, own, where)
            if sample.generator is not None:
                check_generator(sample.generator, where=f"{where}.samples.{sname}.generator")
        _check_models(task, blocks, where)
        check_task_names(task, where)
        check_task_weights(task, where=where)


def _check_feature_sets(task: TaskConfig, schema: Any, where: str) -> set[str]:
    """Names and options of every feature set (against ``schema``); return the blocks they provide."""
    blocks: set[str] = set()
    for fname in task.features:
        opts = task.feature_options.get(fname, {})
        check_feature_set(
            fname,
            opts,
            where=f"{where}.features",
            schema=schema,
            options_where=f"{where}.feature_options.{fname}",
        )
        blocks |= feature_blocks(fname, opts)
    return blocks


def _check_models(task: TaskConfig, blocks: set[str], where: str) -> None:
    for mname, model in task.models.items():
        mwhere = f"{where}.models.{mname}"
        if model.inputs not in blocks:
            raise ConfigError(
                f"{mwhere}.inputs is '{model.inputs}' but the task's features {task.features} "
                f"provide only {sorted(blocks)}; pick a model that reads {sorted(blocks)} "
                "or add a feature set that provides the block"
            )
        check_model(model.type, model.inputs, model.hyperparameters, where=mwhere)
        check_search(model, where=mwhere)
        _check_objective(task, model, mwhere)


def _check_objective(task: TaskConfig, model: Any, where: str) -> None:
    """Autoencoders (anomaly scores) belong to classification tasks and train on their own loss."""
    if MODEL_SPECS[model.type].objective != "anomaly":
        return
    if task.kind != "classification":
        raise ConfigError(
            f"{where}.type: '{model.type}' is an anomaly-detection autoencoder; a {task.kind} task "
            "cannot use it (it needs a background class to train on)"
        )
    if model.training.loss != "auto":
        raise ConfigError(
            f"{where}.training.loss: an autoencoder trains on its reconstruction error; "
            f"remove loss '{model.training.loss}' (or set auto)"
        )


def task_feature_names(task: TaskConfig, where: str) -> tuple[list[str], list[str]]:
    """``(tabular, observers)`` names of the task's feature sets, in order.

    Raises:
        ConfigError: two sets give the same tabular feature, or a declared column (``columns``)
            reuses an observer name of another set (the rows would silently keep only one).
    """
    tabular: list[str] = []
    observers: dict[str, str] = {}
    for fname in task.features:
        n = feature_names(fname, task.feature_options.get(fname, {}), where=f"{where}.features")
        clash = sorted(set(n["tabular"]) & set(tabular))
        if clash:
            raise ConfigError(
                f"{where}.features: feature sets give the same tabular feature(s) {clash} twice"
            )
        tabular += n["tabular"]
        for o in n["observers"]:
            if o in observers and "columns" in (fname, observers[o]):
                raise ConfigError(
                    f"{where}.feature_options.columns.columns.{o}: observer '{o}' is also an observer of "
                    f"'{observers[o] if fname == 'columns' else fname}'; give the declared column another name"
                )
            observers.setdefault(o, fname)
    return tabular, list(observers)


def check_task_names(task: TaskConfig, where: str) -> None:
    """Every feature/observer name the task uses must be one its feature sets produce."""
    tabular, observers = task_feature_names(task, where)
    if task.selection:
        compile_selection(
            task.selection, sorted({*tabular, *observers}), where=f"{where}.selection"
        )
    ev, ds = task.evaluation, task.dataset
    # an unset pt_observer is the default 'pt': a task without it skips that plot (docs/evaluation.md)
    if ev.pt_observer is not None and "pt_observer" in ev.model_fields_set:
        _known(ev.pt_observer, observers, f"{where}.evaluation.pt_observer", "observer")
    if ev.sculpting_observer is not None:
        _known(
            ev.sculpting_observer, observers, f"{where}.evaluation.sculpting_observer", "observer"
        )
    if ds.balance == "pt_eta" or "reweight_observers" in ds.model_fields_set:
        for i, name in enumerate(ds.reweight_observers):
            _known(name, observers, f"{where}.dataset.reweight_observers[{i}]", "observer")
    if task.regression is not None:
        reg = task.regression
        named: list[tuple[str, str | None]] = [
            ("target", reg.target),
            ("relative_to", reg.relative_to),
        ]
        for key, obs in [*named, *((f"bins.{b}", b) for b in reg.bins)]:
            if obs is not None:
                _known(obs, observers, f"{where}.regression.{key}", "observer")
    for mname, model in task.models.items():
        for i, name in enumerate(model.features or []):
            _known(name, tabular, f"{where}.models.{mname}.features[{i}]", "tabular feature")


def _known(name: str, allowed: list[str], where: str, kind: str) -> None:
    if name not in allowed:
        raise ConfigError(
            f"{where}: unknown {kind} '{name}'; the task's feature sets give {sorted(allowed)}."
            + did_you_mean(name, allowed)
        )


def check_search(mcfg: ModelConfig, *, where: str) -> None:
    """Raise :class:`ConfigError` naming ``where.search.space.<key>`` for a key or value the model rejects."""
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
                raise ConfigError(
                    f"{kwhere}: unknown training key '{name}'."
                    + did_you_mean(name, TrainingConfig.model_fields)
                )
            if name in FIXED_TRAINING_KEYS:
                raise ConfigError(
                    f"{kwhere}: '{name}' cannot be searched (it changes what the validation loss "
                    f"measures or where training runs); fixed keys: {sorted(FIXED_TRAINING_KEYS)}"
                )
        for value in values_to_check(param):
            try:
                trial = trial_model(mcfg, {key: value})
            except ValidationError as err:
                header = f"{kwhere}: value {value!r} is not valid:"
                raise ConfigError(format_validation_error(err, header, prefix=where)) from None
            if section == "hyperparameters":
                check_model(trial.type, trial.inputs, trial.hyperparameters, where=kwhere)
