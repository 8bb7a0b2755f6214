"""The training stage: fit a model on its dataset, score every split with it, export it.

Entry functions (imported lazily: importing :mod:`dl4hep.training` does not import torch):

- :func:`train_model` (``dl4hep train``): ``datasets/<task>/{train,val}.parquet`` + ``meta.json``
  -> ``models/<task>/<model>/{best.pt,last.pt,history.csv,summary.json,tensorboard/}``.
- :func:`predict_model` (``dl4hep predict``): ``best.pt`` + ``datasets/<task>/{train,val,test}.parquet``
  -> ``predictions/<task>/<model>/{train,val,test}.parquet`` (the Predictions contract of
  :mod:`dl4hep.contracts`); :func:`predict_kfold` for k-fold models.
- :func:`export_onnx` (``dl4hep export``): ``best.pt`` -> ``models/<task>/<model>/model.onnx``.
- :func:`run_search` (``dl4hep search``): hyperparameter search over :func:`train_model` trials.

Modules:

- :mod:`~dl4hep.training.api`: :func:`train_model`, its set-up and the epoch loop.
- :mod:`~dl4hep.training.epoch`: :func:`~dl4hep.training.epoch.train_one_epoch` and
  :func:`~dl4hep.training.epoch.validate`.
- :mod:`~dl4hep.training.state`: :class:`~dl4hep.training.state.TrainState` (early stopping, history, resume).
- :mod:`~dl4hep.training.recorder`: ``last.pt``/``best.pt``, ``history.csv``, TensorBoard.
- :mod:`~dl4hep.training.checkpoint`: checkpoint files, RNG states, rebuilding a trained model.
- :mod:`~dl4hep.training.devices`: device choice and GPU claims, the DDP shim, bf16 autocast.
- :mod:`~dl4hep.training.launch`: ``--nproc N`` launches ``torchrun``.
- :mod:`~dl4hep.training.objectives`: classification, regression and anomaly losses; class weights.
- :mod:`~dl4hep.training.schedules`: optimiser and learning-rate schedule.
- :mod:`~dl4hep.training.host_memory`: allocator settings for the step loop.
- :mod:`~dl4hep.training.predict`, :mod:`~dl4hep.training.kfold`, :mod:`~dl4hep.training.inference`:
  scoring datasets, k-fold models and in-memory arrays.
- :mod:`~dl4hep.training.export`, :mod:`~dl4hep.training.search`: ONNX export, hyperparameter search.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["export_onnx", "predict_kfold", "predict_model", "run_search", "train_model"]

_ENTRIES = {
    "train_model": "dl4hep.training.api",
    "predict_model": "dl4hep.training.predict",
    "predict_kfold": "dl4hep.training.kfold",
    "export_onnx": "dl4hep.training.export",
    "run_search": "dl4hep.training.search",
}


def __getattr__(name: str) -> Any:
    if name in _ENTRIES:
        return getattr(importlib.import_module(_ENTRIES[name]), name)
    raise AttributeError(f"module 'dl4hep.training' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
