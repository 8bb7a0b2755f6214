"""Events/s per core of each feature set on generated ntuples, next to uproot-only reading.

Usage: python benchmarks/feature_throughput.py [FILE ...]  (default: data/mini_*.root)
"""

from __future__ import annotations

import glob
import sys
import time
import warnings
from pathlib import Path

from dl4hep.features.registry import get_feature_set
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema

SETS = ["shower_shapes", "dilepton_kinematics", "jet_point_cloud", "jet_substructure"]


def main(files: list[str]) -> None:
    schema = load_input_schema("generated", config_dir="configs", where="benchmark")
    print(f"{'feature set':<22}{'file':<28}{'events':>8}{'read ev/s':>12}{'features ev/s':>15}")
    for name in SETS:
        m = get_feature_set(name)
        opts = m.Options()
        for f in files:
            try:
                reader = ChunkReader(Path(f), schema, m.needs(opts), step_size=50_000)
            except Exception:
                continue  # file without this set's collections
            t0 = time.perf_counter()
            chunks = list(reader)
            t_read = time.perf_counter() - t0
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for c in chunks:
                    m.compute(c, opts, schema)
            t_feat = time.perf_counter() - t0
            n = reader.num_entries
            label = f"{Path(f).parent.name}/{Path(f).name}"
            print(f"{name:<22}{label:<28}{n:>8}{n / t_read:>12.0f}{n / t_feat:>15.0f}")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(glob.glob("data/mini_*.root")))
