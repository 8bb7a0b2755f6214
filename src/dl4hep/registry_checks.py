"""Cross-checks between the config and the registries, run before any job starts.

Typed models catch unknown keys and wrong types; this module catches names that
only a registry knows (feature sets, model types, input schemas, generator
processes) and combinations that cannot work (a point-cloud model on a task
whose features provide no point cloud).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dl4hep.errors import ConfigError

if TYPE_CHECKING:
    from dl4hep.config import AnalysisConfig

__all__ = ["check_analysis"]


def check_analysis(cfg: AnalysisConfig) -> None:
    """Raise :class:`ConfigError` naming the first key whose value no registry accepts."""
    from dl4hep.features.registry import check_feature_set, feature_blocks
    from dl4hep.generate.processes import check_generator
    from dl4hep.io.schema import load_input_schema
    from dl4hep.models.specs import check_model

    for tname, task in cfg.tasks.items():
        where = f"tasks.{tname}"
        load_input_schema(task.input, config_dir=cfg.config_dir, where=f"{where}.input")
        blocks = set()
        for fname in task.features:
            check_feature_set(fname, task.feature_options.get(fname, {}), where=f"{where}.features")
            blocks |= feature_blocks(fname)
        for sname, sample in task.samples.items():
            if sample.input is not None:
                load_input_schema(sample.input, config_dir=cfg.config_dir, where=f"{where}.samples.{sname}.input")
            if sample.generator is not None:
                check_generator(sample.generator, where=f"{where}.samples.{sname}.generator")
        for mname, model in task.models.items():
            mwhere = f"{where}.models.{mname}"
            if model.inputs not in blocks:
                raise ConfigError(
                    f"{mwhere}.inputs is '{model.inputs}' but the task's features {task.features} "
                    f"provide only {sorted(blocks)}; pick a model that reads {sorted(blocks)} "
                    "or add a feature set that provides the block"
                )
            check_model(model.type, model.inputs, model.hyperparameters, where=mwhere)
