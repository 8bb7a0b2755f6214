"""The ``dataset`` stage: a task's feature files merged into train/val/test parquet files.

``dl4hep dataset --task T --input SAMPLE PARQUET ... --out-dir D`` (rule ``dataset``) runs
:func:`build_dataset`.

Input: ``features/<task>/<sample>/*.parquet`` (written by ``dl4hep features``; layout in
:mod:`dl4hep.contracts`). Output: ``datasets/<task>/{train,val,test}.parquet``, ``meta.json``
(features, classes, normalisation, counts) and ``provenance.json``, written atomically.

Modules:

- :mod:`~dl4hep.data.dataset`: :func:`build_dataset` (the entry) and its steps: read, label and
  weight, drop NaN/inf, cap per class, split, training weights, normalisation, write;
- :mod:`~dl4hep.data.weights`, :mod:`~dl4hep.data.nonfinite`, :mod:`~dl4hep.data.splitting`,
  :mod:`~dl4hep.data.normalisation`: one step each;
- :mod:`~dl4hep.data.kfold`: k-fold variants of a dataset;
- :mod:`~dl4hep.data.tensors`, :mod:`~dl4hep.data.buckets`: the torch side, datasets read back as
  tensors for ``training`` (imported only there).

Docs: docs/dataset.md. ``build_dataset`` is loaded on first use (awkward and pyarrow are heavy).
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_dataset"]


def __getattr__(name: str) -> Any:
    if name == "build_dataset":
        from dl4hep.data.dataset import build_dataset

        return build_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
