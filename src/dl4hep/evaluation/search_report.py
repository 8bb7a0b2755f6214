"""Results of a hyperparameter search (``dl4hep search-report``): best-trial YAML, table, plot.

Writes into the search directory:

* ``best.yaml``: a config overlay ``tasks.<task>.models.<model>.{training,hyperparameters}`` with the
  best trial's values; pass it after the main config (``--configfile main.yaml best.yaml``, or
  ``dl4hep … --config main.yaml --config best.yaml``) and the normal workflow trains with them.
* ``trials.csv``: one row per trial (number, state, objective, last epoch, every parameter).
* ``plots/trials.{pdf,png}``: objective vs trial (pruned trials at their last reported loss, the
  running best as a line), fANOVA parameter importances (Hutter et al., ICML 2014, Optuna's
  default evaluator) and one slice (objective vs value) per parameter.
* ``summary.json``: best value, trial and parameters, importances, counts per state.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml

from dl4hep.config import AnalysisConfig
from dl4hep.config.search_space import overrides_of
from dl4hep.errors import DataError
from dl4hep.evaluation.plots import PlotWriter, _grid
from dl4hep.io.atomic import atomic_output
from dl4hep.training.search import open_study, value_of

__all__ = ["best_overlay", "write_search_report"]

log = logging.getLogger(__name__)

_COMPLETE, _PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED


def best_overlay(task: str, model: str, values: dict[str, Any]) -> dict[str, Any]:
    """The config overlay that sets ``values`` (``{space key: value}``) on one model."""
    return {"tasks": {task: {"models": {model: overrides_of(values)}}}}


def _objective(t: optuna.trial.FrozenTrial) -> float:
    """Final value of a complete trial, last reported value of a pruned one (NaN otherwise)."""
    if t.state == _COMPLETE and t.value is not None:
        return float(t.value)
    if t.intermediate_values:
        return float(t.intermediate_values[max(t.intermediate_values)])
    return math.nan


def _table(study: optuna.Study, search: Any) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name, "objective": _objective(t),
               "last_epoch": max(t.intermediate_values) if t.intermediate_values else None}
        row.update({k: value_of(search, k, v) for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _importances(study: optuna.Study) -> dict[str, float]:
    complete = study.get_trials(deepcopy=False, states=(_COMPLETE,))
    if len(complete) < 2 or not any(t.params for t in complete):
        return {}
    try:
        # a seeded forest, so that a rerun reports the same importances
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (RuntimeError, ValueError) as err:  # e.g. every trial drew the same values
        log.warning("parameter importances not computed: %s", err)
        return {}


def _plot(writer: PlotWriter, df: pd.DataFrame, keys: list[str], log_keys: set[str], importances: dict[str, float],
          title: str) -> None:
    fig, grid = _grid(2 + len(keys), ncols=3)
    axes = grid.flat
    done = df[df["state"] == "COMPLETE"]
    pruned = df[df["state"] == "PRUNED"]
    ax = axes[0]
    ax.plot(done["trial"], done["objective"], "o", label="complete")
    ax.plot(pruned["trial"], pruned["objective"], "x", color="tab:red", label="pruned (last epoch)")
    if len(done):
        best = done.set_index("trial")["objective"].cummin()
        ax.step(best.index, best.to_numpy(), where="post", color="k", lw=1, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    ax = axes[1]
    if importances:
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set_xlabel("importance (fANOVA)")
    else:
        ax.text(0.5, 0.5, "importance needs\n2 complete trials", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for ax, key in zip(list(axes)[2:], keys, strict=False):
        for part, style in ((done, "o"), (pruned, "x")):
            x = part[key].map(lambda v: str(v) if isinstance(v, (list, tuple)) else v) if key in part else []
            ax.plot(x, part["objective"], style, color="tab:red" if style == "x" else "tab:blue")
        if key in log_keys:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("validation loss")
    writer.save(fig, "trials")


def write_search_report(*, config: AnalysisConfig, task: str, model: str, search_dir: Path) -> dict[str, Any]:
    """Write ``best.yaml``, ``trials.csv``, ``summary.json`` and ``plots/trials.*`` (module docstring).

    Raises:
        DataError: the study has no complete trial (nothing to call best).
    """
    search_dir = Path(search_dir)
    search = config.model(task, model).search
    study = open_study(config, task, model, search_dir)
    complete = study.get_trials(deepcopy=False, states=(_COMPLETE,))
    if not complete:
        raise DataError(f"the search study in {search_dir / 'study.journal'} has no complete trial "
                        f"({len(study.trials)} trials); raise tasks.{task}.models.{model}.search.trials "
                        "or search.startup_trials")
    best = study.best_trial
    values = {k: value_of(search, k, v) for k, v in best.params.items()}
    df = _table(study, search)
    importances = _importances(study)
    header = (f"# dl4hep search: best of {len(complete)} complete trials of study {study.study_name}\n"
              f"# (trial {best.number}, validation loss {best.value:.6g}). Use after the main config:\n"
              f"#   snakemake --configfile <main>.yaml {search_dir / 'best.yaml'}\n")
    with atomic_output(search_dir / "best.yaml") as tmp:
        tmp.write_text(header + yaml.safe_dump(best_overlay(task, model, values), sort_keys=False))
    with atomic_output(search_dir / "trials.csv") as tmp:
        df.to_csv(tmp, index=False)
    writer = PlotWriter(search_dir / "plots", experiment="none")
    with writer.style():
        _plot(writer, df, list(search.space), {k for k, p in search.space.items() if p.log}, importances,
              f"{task}/{model}: {len(df)} trials")
    summary = {
        "study": study.study_name, "best_trial": best.number, "best_value": best.value, "best": values,
        "importances": importances, "states": df["state"].value_counts().to_dict(),
        "trials": len(df),
    }
    with atomic_output(search_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)) + "\n")
    return summary
