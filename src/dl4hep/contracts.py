"""The data contracts between stages: column names, split names and the file layout.

Every stage writes and reads files whose names and columns are fixed here, once (docs/architecture.md
describes them in prose and points here). Torch-free and import-free apart from the standard
library, so every layer may use it.

- Feature files (``features/<task>/<sample>/<part>.parquet``) carry their description as JSON in the
  parquet schema metadata under :data:`FEATURE_META_KEY`.
- Datasets hold one block per model input kind (:data:`BLOCKS`); a point-cloud block is the three
  tensors of :data:`POINT_TENSORS`.
- Prediction files hold ``label``, ``weight``, one :func:`score_column` per class (or the regression
  columns) and one :func:`observer_column` per observer.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BLOCKS",
    "Block",
    "FEATURE_META_KEY",
    "LABEL",
    "OBSERVER_PREFIX",
    "POINTS",
    "POINTS_MASK",
    "POINTS_P4",
    "POINT_TENSORS",
    "SCORE_PREFIX",
    "SPLITS",
    "Split",
    "WEIGHT",
    "observer_column",
    "score_column",
]

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
"""The dataset splits, in the order they are written and evaluated."""

Block = Literal["tabular", "points"]
BLOCKS: tuple[Block, ...] = ("tabular", "points")
"""Model input kinds: a flat feature vector per row, or a padded set of particles/hits per row."""

POINTS = "points"
POINTS_MASK = "points_mask"
POINTS_P4 = "points_p4"
POINT_TENSORS = (POINTS, POINTS_MASK, POINTS_P4)
"""A point-cloud block: per-particle features, the real-slot mask and (px, py, pz, E) per slot."""

FEATURE_META_KEY = b"dl4hep"
"""Parquet schema-metadata key under which feature files carry their JSON description."""

LABEL = "label"
WEIGHT = "weight"
SCORE_PREFIX = "score_"
OBSERVER_PREFIX = "obs_"


def score_column(cls: str) -> str:
    """Name of the prediction column holding the score of class ``cls``."""
    return f"{SCORE_PREFIX}{cls}"


def observer_column(name: str) -> str:
    """Name of the prediction column holding observer ``name`` (a quantity kept for plots, not trained on)."""
    return f"{OBSERVER_PREFIX}{name}"
