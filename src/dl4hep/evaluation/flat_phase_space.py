"""Performance where the kinematic spectrum cannot help: the test split flattened in (pT, η).

When samples differ in their energy spectra, a tagger can separate classes by the spectrum
alone (for egamma, the cluster energy alone gives AUC ≈ 0.9). Training with
``dataset.balance: pt_eta`` removes that prior from the loss; this module removes it from the
figure of merit as well. Each test class is reweighted flat in the task's
``dataset.reweight_observers`` (the same histogram method as training,
:func:`dl4hep.data.weights.flat_reweight_factors`, fitted on the test rows), and the ROC AUC is
computed with those weights for the model *and* for every observer used alone as a
discriminant. The difference between the model's flat AUC and the best observer-only flat AUC
is what the network learns beyond the spectrum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dl4hep.data.weights import flat_reweight_factors
from dl4hep.evaluation.metrics import roc


def _separation(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """AUC of ``x`` as a discriminant in whichever direction separates better (≥ 0.5)."""
    ok = np.isfinite(x)
    if ok.all() or (y[ok].any() and not y[ok].all()):
        auc = roc(y[ok], x[ok], w[ok]).auc
        return float(max(auc, 1.0 - auc))
    return float("nan")


def flat_phase_space(test: pd.DataFrame, observers: list[str], n_classes: int,
                     curves: dict[str, Any]) -> dict[str, Any] | None:
    """Flat-weighted AUCs per signal-vs-background curve, or None when an observer is absent.

    Args:
        test: predictions of the test split (``label``, ``weight``, ``obs_<name>`` columns).
        observers: the two reweighting observers, e.g. ``["pt", "eta"]``.
        curves: ``{name: curve}`` with ``rows``, ``is_signal`` and ``discriminant`` per curve.

    Returns:
        ``{"observers", "auc": {curve: model AUC}, "observer_auc": {curve: {observer: AUC}},
        "gain": {curve: model AUC − best observer-only AUC}}``.
    """
    columns = [f"obs_{o}" for o in observers]
    if any(c not in test.columns for c in columns):
        return None
    labels = test["label"].to_numpy()
    weight = test["weight"].to_numpy(np.float64)
    factors = flat_reweight_factors(test[columns].to_numpy(np.float64), labels, weight,
                                    np.ones(len(test), bool), n_classes)
    flat = weight * factors
    shown = [c for c in test.columns if c.startswith("obs_")]
    out: dict[str, Any] = {"observers": list(observers), "auc": {}, "observer_auc": {}, "gain": {}}
    for name, c in curves.items():
        w = flat[c.rows]
        out["auc"][name] = float(roc(c.is_signal, c.discriminant, w).auc)
        single = {col[4:]: _separation(c.is_signal, test[col].to_numpy(np.float64)[c.rows], w) for col in shown}
        out["observer_auc"][name] = single
        out["gain"][name] = out["auc"][name] - max(single.values()) if single else None
    return out
