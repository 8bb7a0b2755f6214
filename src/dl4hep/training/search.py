"""Hyperparameter search with Optuna (``dl4hep search``); see docs/search.md.

Each trial trains the model on the task's dataset with values drawn from
``models.<m>.search.space`` by Optuna's TPE sampler (Bergstra et al., NeurIPS 2011) and
returns its best validation loss. Trials report the validation loss every epoch and
the median pruner stops one whose loss is above the median of earlier trials at the
same epoch. The study lives in a journal file (``study.journal``, Optuna's
``JournalFileBackend``: an append-only log with file locks), so a second call
continues it and several Snakemake jobs can share it.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend

from dl4hep.config import AnalysisConfig, SearchConfig, config_digest
from dl4hep.config.search_space import fixed_settings, trial_model
from dl4hep.errors import ConfigError

__all__ = ["FINISHED", "open_study", "run_search", "study_name", "suggest"]

log = logging.getLogger(__name__)

#: Trial states that count towards ``search.trials``.
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _search(config: AnalysisConfig, task: str, model: str) -> SearchConfig:
    search = config.model(task, model).search
    if search is None:
        raise ConfigError(f"tasks.{task}.models.{model} has no 'search:' block; add one (docs/search.md)")
    return search


def study_name(config: AnalysisConfig, task: str, model: str) -> str:
    """``<task>.<model>.<digest>``: a changed model (outside the space) or space starts a new study;
    more trials or applying ``best.yaml`` do not."""
    mcfg = config.model(task, model)
    search = _search(config, task, model)
    key = {"model": fixed_settings(mcfg), "seed": config.seed,
           "space": {k: v.model_dump() for k, v in search.space.items()}, "epochs": search.epochs}
    return f"{task}.{model}.{config_digest(key)}"


def open_study(config: AnalysisConfig, task: str, model: str, out_dir: Path, *, seed_salt: str = "") -> optuna.Study:
    """Create or load the study in ``out_dir/study.journal`` (TPE sampler, median pruner)."""
    search = _search(config, task, model)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = JournalFileBackend(str(out_dir / "study.journal"))
    storage = optuna.storages.JournalStorage(backend)
    seed = int(hashlib.sha256(f"{config.seed}:{task}:{model}:{seed_salt}".encode()).hexdigest()[:8], 16)
    return optuna.create_study(
        study_name=study_name(config, task, model), storage=storage, direction="minimize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_epochs),
    )


def suggest(trial: optuna.Trial, search: SearchConfig) -> dict[str, Any]:
    """One value per space key from ``trial`` (choices are drawn by index, so lists are allowed)."""
    values: dict[str, Any] = {}
    for key, p in search.space.items():
        if p.choices is not None:
            values[key] = p.choices[trial.suggest_categorical(key, list(range(len(p.choices))))]
        elif p.low is None or p.high is None:  # excluded by SearchParam's validator
            raise ConfigError(f"search.space.{key}: give low and high, or choices")
        elif p.is_int:
            values[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            values[key] = trial.suggest_float(key, float(p.low), float(p.high), step=p.step, log=p.log)
    return values


def value_of(search: SearchConfig, key: str, stored: Any) -> Any:
    """The config value of a stored Optuna parameter (choices are stored as their index)."""
    p = search.space[key]
    return p.choices[int(stored)] if p.choices is not None else stored


def _objective(config: AnalysisConfig, task: str, model: str, dataset_dir: Path, out_dir: Path):
    from dl4hep.training.api import train_model

    search = _search(config, task, model)

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, search)
        cfg = config.model_copy(deep=True)
        cfg.tasks[task].models[model] = trial_model(config.model(task, model), values, search.epochs)

        def report(row: dict[str, Any]) -> None:
            trial.report(float(row["val_loss"]), int(row["epoch"]))
            if trial.should_prune():
                log.info("trial %d pruned after epoch %d (val_loss %.4f)", trial.number, row["epoch"], row["val_loss"])
                raise optuna.TrialPruned()

        log.info("trial %d: %s", trial.number, values)
        with tempfile.TemporaryDirectory(prefix=f"trial{trial.number}-", dir=out_dir) as tmp:
            result = train_model(config=cfg, task=task, model=model, dataset_dir=dataset_dir, out_dir=Path(tmp),
                                 progress=False, on_epoch=report)
        trial.set_user_attr("best_epoch", result["best_epoch"])
        trial.set_user_attr("epochs_run", result["epochs_run"])
        return float(result["best_val_loss"])

    return objective


def run_search(
    *, config: AnalysisConfig, task: str, model: str, dataset_dir: Path, out_dir: Path, worker: int = 0,
) -> dict[str, Any]:
    """Run trials until the study holds ``search.trials`` finished ones; return a summary.

    Safe to call again (continues the study) and from several processes at once (``worker``
    only varies the sampler seed).
    """
    search = _search(config, task, model)
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    study = open_study(config, task, model, out_dir, seed_salt=f"{worker}:{len(_finished(config, task, model, out_dir))}")
    missing = search.trials - len(_finished(config, task, model, out_dir, study))
    if missing > 0:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(
            _objective(config, task, model, dataset_dir, out_dir), n_trials=missing,
            callbacks=[optuna.study.MaxTrialsCallback(search.trials, states=FINISHED)],
        )
    finished = _finished(config, task, model, out_dir, study)
    best = study.best_trial if any(t.state == optuna.trial.TrialState.COMPLETE for t in finished) else None
    return {"study": study.study_name, "worker": worker, "finished": len(finished), "ran": max(missing, 0),
            "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in finished),
            "best_value": None if best is None else best.value, "best_trial": None if best is None else best.number}


def _finished(config: AnalysisConfig, task: str, model: str, out_dir: Path,
              study: optuna.Study | None = None) -> list[optuna.trial.FrozenTrial]:
    if study is None:
        if not (out_dir / "study.journal").exists():
            return []
        study = open_study(config, task, model, out_dir)
    return study.get_trials(deepcopy=False, states=FINISHED)
