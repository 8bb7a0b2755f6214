"""Cross-checks between the config and the registries, run before any job starts.

Typed models catch unknown keys and wrong types; this module catches names that
only a registry knows (feature sets, model types, input schemas, generator
processes), combinations that cannot work (a point-cloud model on a task
whose features provide no point cloud), and every feature or observer name the
config uses: the ``selection``, ``evaluation.pt_observer`` and ``sculpting_observer``,
``dataset.reweight_observers``, ``models.<m>.features`` and the collections and fields
of declared ``columns``. :func:`dl4hep.config.analysis_from_dict` calls
:func:`check_analysis`, so ``dl4hep check-config``, every stage and Snakemake's config
loading (``workflow/rules/common.smk``) all reject the same mistakes, each with the key path
and the nearest valid names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dl4hep.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from dl4hep.config import AnalysisConfig, TaskConfig

__all__ = ["check_analysis", "check_task_names", "task_feature_names"]


def check_analysis(cfg: AnalysisConfig) -> None:
    """Raise :class:`ConfigError` naming the first key whose value no registry accepts."""
    from dl4hep.io.schema import load_input_schema

    for tname, task in cfg.tasks.items():
        where = f"tasks.{tname}"
        schema = load_input_schema(task.input, config_dir=cfg.config_dir, where=f"{where}.input")
        blocks = _check_feature_sets(task, schema, where)
        for sname, sample in task.samples.items():
            if sample.input is not None:
                own = load_input_schema(sample.input, config_dir=cfg.config_dir, where=f"{where}.samples.{sname}.input")
                _check_feature_sets(task, own, where)
            if sample.generator is not None:
                from dl4hep.generate.processes import check_generator

                check_generator(sample.generator, where=f"{where}.samples.{sname}.generator")
        _check_models(task, blocks, where)
        check_task_names(task, where)
        from dl4hep.features.event_weights import check_task_weights

        check_task_weights(task, where=where)


def _check_feature_sets(task: TaskConfig, schema: Any, where: str) -> set[str]:
    """Names and options of every feature set (against ``schema``); return the blocks they provide."""
    from dl4hep.features.registry import check_feature_set, feature_blocks

    blocks: set[str] = set()
    for fname in task.features:
        opts = task.feature_options.get(fname, {})
        check_feature_set(fname, opts, where=f"{where}.features", schema=schema,
                          options_where=f"{where}.feature_options.{fname}")
        blocks |= feature_blocks(fname, opts)
    return blocks


def _check_models(task: TaskConfig, blocks: set[str], where: str) -> None:
    from dl4hep.models.specs import check_model
    from dl4hep.search_space import check_search

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
    from dl4hep.models.specs import MODEL_SPECS

    if MODEL_SPECS[model.type].objective != "anomaly":
        return
    if task.kind != "classification":
        raise ConfigError(f"{where}.type: '{model.type}' is an anomaly-detection autoencoder; a {task.kind} task "
                          "cannot use it (it needs a background class to train on)")
    if model.training.loss != "auto":
        raise ConfigError(f"{where}.training.loss: an autoencoder trains on its reconstruction error; "
                          f"remove loss '{model.training.loss}' (or set auto)")


def task_feature_names(task: TaskConfig, where: str) -> tuple[list[str], list[str]]:
    """``(tabular, observers)`` names of the task's feature sets, in order.

    Raises:
        ConfigError: two sets give the same tabular feature, or a declared column (``columns``)
            reuses an observer name of another set (the rows would silently keep only one).
    """
    from dl4hep.features.registry import feature_names

    tabular: list[str] = []
    observers: dict[str, str] = {}
    for fname in task.features:
        n = feature_names(fname, task.feature_options.get(fname, {}), where=f"{where}.features")
        clash = sorted(set(n["tabular"]) & set(tabular))
        if clash:
            raise ConfigError(f"{where}.features: feature sets give the same tabular feature(s) {clash} twice")
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
    from dl4hep.features.selection import compile_selection

    tabular, observers = task_feature_names(task, where)
    if task.selection:
        compile_selection(task.selection, sorted({*tabular, *observers}), where=f"{where}.selection")
    ev, ds = task.evaluation, task.dataset
    # an unset pt_observer is the default 'pt': a task without it skips that plot (docs/evaluation.md)
    if ev.pt_observer is not None and "pt_observer" in ev.model_fields_set:
        _known(ev.pt_observer, observers, f"{where}.evaluation.pt_observer", "observer")
    if ev.sculpting_observer is not None:
        _known(ev.sculpting_observer, observers, f"{where}.evaluation.sculpting_observer", "observer")
    if ds.balance == "pt_eta" or "reweight_observers" in ds.model_fields_set:
        for i, name in enumerate(ds.reweight_observers):
            _known(name, observers, f"{where}.dataset.reweight_observers[{i}]", "observer")
    if task.regression is not None:
        reg = task.regression
        named: list[tuple[str, str | None]] = [("target", reg.target), ("relative_to", reg.relative_to)]
        for key, obs in [*named, *((f"bins.{b}", b) for b in reg.bins)]:
            if obs is not None:
                _known(obs, observers, f"{where}.regression.{key}", "observer")
    for mname, model in task.models.items():
        for i, name in enumerate(model.features or []):
            _known(name, tabular, f"{where}.models.{mname}.features[{i}]", "tabular feature")


def _known(name: str, allowed: list[str], where: str, kind: str) -> None:
    if name not in allowed:
        raise ConfigError(f"{where}: unknown {kind} '{name}'; the task's feature sets give {sorted(allowed)}."
                          + did_you_mean(name, allowed))
