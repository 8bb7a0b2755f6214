"""Evaluation stage: metrics, plots and the model comparison of every task.

Input: ``predictions/<task>/<model>/{train,val,test}.parquet``, ``models/<task>/<model>/history.csv``
(and ``best.pt`` for permutation importance), ``datasets/<task>/{meta.json,train.parquet,test.parquet}``.
Output: ``evaluation/<task>/models/<model>/`` per model (written as soon as that model is predicted)
and ``evaluation/<task>/{comparison.csv,comparison.md,metrics/,plots/}`` for the task
(:mod:`dl4hep.evaluation.api` lists every file; docs/evaluation.md defines every figure).

Modules: ``api`` (entries), ``inputs`` (reading and checks), ``curves`` (signal-vs-background curves, KS
groups, efficiency vs observer), ``model`` (one model's metrics and plots), ``compare`` and ``table``
(the task comparison), ``paired`` (paired-bootstrap differences), ``importance`` (permutation
importance), ``metrics``/``significance``/``systematics``/``kfold``/``sculpting``/``flat_phase_space``
(figures of merit), ``plots``/``plot_checks`` (figures), ``regression``/``resolution``/``regression_plots``
(``kind: regression``), ``search_report`` (hyperparameter searches).

Entry functions (imported lazily: plotting pulls in matplotlib): :func:`evaluate_model`,
:func:`compare_models`, :func:`evaluate_task`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare_models", "evaluate_model", "evaluate_task"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dl4hep.evaluation import api

        return getattr(api, name)
    raise AttributeError(f"module 'dl4hep.evaluation' has no attribute {name!r}")
