"""Events/s per core of each feature set on generated ntuples, next to uproot-only reading.

Usage: python benchmarks/feature_throughput.py [--repeat N] [--sets A,B] [--cpu] [FILE ...]
(default: every set, data/mini_*.root)

Each figure is the best of N passes (default 3; files in the page cache), so other jobs on the
machine disturb it less. ``--cpu`` times the process CPU time instead of the wall time: reading
and feature building are single-threaded, so this is the per-core cost, and it stays steady
while other jobs load the machine (the wall time then also counts time spent waiting for a core).
"""

from __future__ import annotations

import argparse
import glob
import time
import warnings
from pathlib import Path

from dl4hep.features.registry import get_feature_set
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema

SETS = ["shower_shapes", "dilepton_kinematics", "jet_point_cloud", "jet_substructure"]
CLOCK = time.perf_counter


def _best(repeat: int, work, *args):
    """(shortest wall time, result) over ``repeat`` runs of ``work(*args)``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = CLOCK()
        result = work(*args)
        best = min(best, CLOCK() - t0)
    return best, result


def _compute_all(module, chunks, opts, schema) -> list:
    return [module.compute(c, opts, schema) for c in chunks]


def main(files: list[str], repeat: int = 3, sets: list[str] = SETS) -> None:
    schema = load_input_schema("generated", config_dir="configs", where="benchmark")
    print(f"{'feature set':<22}{'file':<28}{'events':>8}{'read ev/s':>12}{'features ev/s':>15}")
    for name in sets:
        m = get_feature_set(name)
        opts = m.Options()
        for f in files:
            try:
                reader = ChunkReader(Path(f), schema, m.needs(opts), step_size=50_000)
            except Exception:
                continue  # file without this set's collections
            t_read, chunks = _best(repeat, list, reader)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_feat, _ = _best(repeat, _compute_all, m, chunks, opts, schema)
            n = reader.num_entries
            label = f"{Path(f).parent.name}/{Path(f).name}"
            print(f"{name:<22}{label:<28}{n:>8}{n / t_read:>12.0f}{n / t_feat:>15.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="ntuples (default: data/mini_*.root)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per figure; the best is kept")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated feature sets")
    parser.add_argument("--cpu", action="store_true", help="time process CPU instead of wall time")
    args = parser.parse_args()
    if args.cpu:
        CLOCK = time.process_time
    main(args.files or sorted(glob.glob("data/mini_*.root")), args.repeat, args.sets.split(","))
