"""The committed mini ntuples (data/, `python -m dl4hep.generate.make_mini_data`) feed every
task's feature sets and dataset assembly: a fast check on real generated physics."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from dl4hep.config import load_analysis
from dl4hep.data.dataset import build_dataset
from dl4hep.features.api import build_features


@pytest.mark.parametrize("task", ["egamma", "dilepton", "jets"])
def test_mini_ntuples_build_features_and_datasets(at_repo, tmp_path, task):
    cfg = load_analysis("configs/mini.yaml")
    inputs = {}
    for sample, scfg in cfg.task(task).samples.items():
        if scfg.label is None:  # pseudo-data: only scored by `apply`, never in a dataset
            continue
        src = at_repo / "data" / f"mini_{sample}.root"
        assert src.is_file(), f"{src} missing: python -m dl4hep.generate.make_mini_data"
        out = tmp_path / f"{sample}.parquet"
        summary = build_features(config=cfg, task=task, sample=sample, input_path=src, out=out)
        assert summary["rows_out"] > 0, summary
        rows = ak.from_parquet(out)
        assert len(rows) == summary["rows_out"]
        tab = np.stack([ak.to_numpy(rows.tabular[k]) for k in rows.tabular.fields], axis=1)
        assert np.isfinite(tab).mean() > 0.99
        inputs[sample] = [out]
    result = build_dataset(config=cfg, task=task, inputs=inputs, out_dir=tmp_path / "dataset")
    meta = json.loads((tmp_path / "dataset" / "meta.json").read_text())
    assert set(meta["classes"]) == set(cfg.task(task).classes)
    train_counts = meta["counts"]["train"]
    assert all(train_counts[c] > 0 for c in cfg.task(task).classes), train_counts
    assert result
