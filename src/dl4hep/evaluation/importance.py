"""Permutation feature importance for tabular models.

The importance of feature ``j`` is the drop of the signal-vs-background AUC
when column ``j`` is shuffled across rows (Breiman 2001; scikit-learn's
``permutation_importance``), averaged over ``n_repeats`` shuffles. The model
is reached only through ``score_fn(tabular) -> probabilities`` so this module
needs no torch; :func:`load_score_fn` builds that callable from a model
directory with the training stage's inference API, and returns None (with the
reason) when that API is not available. :func:`run_importance` runs it for one model of a task
on the dataset's test split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dl4hep.evaluation.metrics import weighted_auc

__all__ = ["Importance", "ScoreFn", "load_score_fn", "permutation_importance", "importance_metrics", "run_importance",
           "subset_score_fn"]

log = logging.getLogger(__name__)

#: ``(N, T)`` unnormalised tabular features -> ``(N, C)`` class probabilities.
ScoreFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Importance:
    """Result of :func:`permutation_importance`.

    Attributes:
        features: feature names, shape ``(T,)``.
        baseline_auc: AUC with intact inputs.
        drop_mean, drop_std: mean and standard deviation over repeats of
            ``baseline_auc − AUC(shuffled)``, shape ``(T,)``.
    """

    features: list[str]
    baseline_auc: float
    drop_mean: np.ndarray
    drop_std: np.ndarray


def _auc(probs: np.ndarray, is_signal: np.ndarray, weights: np.ndarray, bkg_index: int) -> float:
    # Inclusive signal-vs-background discriminant 1 - p(background): for a binary
    # model this is the signal score.
    return weighted_auc(is_signal, 1.0 - probs[:, bkg_index], weights)


def permutation_importance(
    score_fn: ScoreFn,
    tabular: np.ndarray,
    is_signal: np.ndarray,
    *,
    features: Sequence[str],
    bkg_index: int,
    weights: np.ndarray | None = None,
    n_repeats: int = 3,
    seed: int = 0,
) -> Importance:
    """Drop in signal-vs-background AUC when each tabular column is shuffled.

    Args:
        score_fn: model as a function of unnormalised tabular features ``(N, T)``
            returning class probabilities ``(N, C)``.
        tabular: features, shape ``(N, T)``, columns ordered as ``features``.
        is_signal: bool, shape ``(N,)``: True for signal rows, False for background.
        features: names of the ``T`` columns.
        bkg_index: column of the background class in the probabilities.
        weights: physics weights, shape ``(N,)`` (unit if None).
        n_repeats: shuffles per feature.
        seed: seed of the shuffles (reproducible importances).
    """
    x = np.array(tabular, dtype=np.float32, copy=True)
    y = np.asarray(is_signal, dtype=bool)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(features):
        raise ValueError(f"tabular has shape {x.shape}, expected (N, {len(features)}) for features {list(features)}")
    rng = np.random.default_rng(seed)
    base = _auc(np.asarray(score_fn(x)), y, w, bkg_index)
    drops = np.zeros((len(features), n_repeats))
    for j in range(len(features)):
        original = x[:, j].copy()
        for r in range(n_repeats):
            x[:, j] = original[rng.permutation(len(original))]
            drops[j, r] = base - _auc(np.asarray(score_fn(x)), y, w, bkg_index)
        x[:, j] = original
    return Importance(list(features), base, drops.mean(axis=1), drops.std(axis=1))


def load_score_fn(model_dir: Path) -> tuple[ScoreFn, dict[str, Any]] | tuple[None, str]:
    """Build ``score_fn`` for a trained tabular model from the training stage's inference API.

    Returns:
        ``(score_fn, meta)``, or ``(None, reason)`` if ``dl4hep.training.inference``
        (``load_model``, ``predict_arrays``) is not importable or loading fails.
    """
    try:
        from dl4hep.training.inference import load_model, predict_arrays
    except (ImportError, AttributeError) as err:
        return None, f"dl4hep.training.inference is not available ({err})"
    try:
        model, meta = load_model(Path(model_dir))
    except Exception as err:  # report, do not crash the whole evaluation for one diagnostic
        return None, f"could not load the model in {model_dir}: {type(err).__name__}: {err}"

    def score_fn(tabular: np.ndarray) -> np.ndarray:
        return np.asarray(predict_arrays(model, meta, tabular=tabular))

    return score_fn, dict(meta or {})


def subset_score_fn(score_fn: ScoreFn, full: np.ndarray, order: list[str], permute: list[str]) -> ScoreFn:
    """Wrap ``score_fn`` so the importance loop sees only the permuted columns (the others stay ``full``'s)."""
    if permute == order:
        return score_fn
    cols = [order.index(n) for n in permute]

    def fn(sub: np.ndarray) -> np.ndarray:
        x = full.copy()
        x[:, cols] = sub
        return score_fn(x)

    return fn


def run_importance(
    model_dir: Path, features: list[str] | None, *, classes: list[str], background: str, dataset_dir: Path,
    dataset_meta: dict[str, Any], seed: int, max_rows: int,
) -> Importance | str:
    """Permutation importance of one trained tabular model on ``dataset_dir/test.parquet``, or why it was skipped.

    Columns are taken in the order the model was trained with (its meta), else the dataset's; only
    ``features`` (all when None) are permuted.
    """
    from dl4hep.evaluation.inputs import read_tabular

    data = read_tabular(dataset_dir / "test.parquet", max_rows, seed)
    if data is None:
        return f"no tabular features in {dataset_dir / 'test.parquet'}"
    values, names, labels, weights = data
    score_fn, meta = load_score_fn(model_dir)
    if score_fn is None:
        return str(meta)
    order = list((meta or {}).get("tabular") or dataset_meta.get("tabular") or names)
    missing = [n for n in order if n not in names]
    if missing:
        return f"features {missing} of the model are not in {dataset_dir / 'test.parquet'}"
    values = values[:, [names.index(n) for n in order]]
    ib = classes.index(background)
    permute = [n for n in order if features is None or n in features]
    try:
        return permutation_importance(
            subset_score_fn(score_fn, values, order, permute), values[:, [order.index(n) for n in permute]],
            labels != ib, features=permute, bkg_index=ib, weights=weights, seed=seed,
        )
    except ValueError as err:
        return f"cannot compute importance: {err}"


def importance_metrics(imp: Importance) -> dict[str, Any]:
    """The ``permutation_importance`` entry of a model's metrics JSON."""
    return {
        "baseline_auc": imp.baseline_auc,
        "auc_drop": dict(zip(imp.features, imp.drop_mean.tolist(), strict=True)),
        "auc_drop_std": dict(zip(imp.features, imp.drop_std.tolist(), strict=True)),
    }
