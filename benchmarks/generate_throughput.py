"""Events/s of the built-in generator per process: Pythia alone, + detector, + writing.

    python benchmarks/generate_throughput.py [--events 200] [--processes ttbar_hadronic qcd_dijet ...]

One seeded job per process (same settings as configs/tasks/*.yaml: boosted samples with
450 < pTHat < 1100 GeV, egamma samples with pileup mu = 60). Timings come from the
generator's own clocks: Pythia's ``nextBatch`` (incl. the minimum-bias pool), the
detector + reconstruction (flattening, PF, jets, soft drop, leptons, ECAL), and the
ROOT writing. ``init`` is Pythia initialisation and imports (once per job).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from dl4hep.generate.api import EventGenerator, write_events
from dl4hep.generate.processes import PROCESSES, parse_generator

BOOSTED = {"qcd_dijet", "ttbar_hadronic", "w_hadronic", "z_hadronic", "h_bb"}


def run(process: str, events: int, seed: int) -> dict[str, float]:
    extra = {"pthat_min": 450, "pthat_max": 1100} if process in BOOSTED else {}
    settings = parse_generator({"process": process, **extra}, where="benchmark")
    t0 = time.perf_counter()
    gen = EventGenerator(settings, seed=seed, com_energy_tev=13.6, events=events)
    t_init = time.perf_counter() - t0 - gen.t_pythia
    with tempfile.TemporaryDirectory() as d:
        s = write_events(Path(d) / "bench.root", gen, events=events, seed=seed, progress=False)
        size = (Path(d) / "bench.root").stat().st_size
    wall = time.perf_counter() - t0
    tp, td, tw = s["time_pythia_s"], s["time_detector_s"], s["time_write_s"]
    return {
        "pythia": events / tp, "detector": events / (tp + td), "written": events / (tp + td + tw),
        "wall": events / wall, "overhead": (td + tw) / tp, "init": t_init, "kb_per_event": size / events / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--processes", nargs="*", default=list(PROCESSES))
    a = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {a.events} events/process")
    print("| process | Pythia only (ev/s) | + detector (ev/s) | + writing (ev/s) | wall incl. init (ev/s) "
          "| (detector+write)/Pythia | init (s) | kB/event |")
    print("|---|---|---|---|---|---|---|---|")
    for p in a.processes:
        r = run(p, a.events, a.seed)
        print(f"| {p} | {r['pythia']:.1f} | {r['detector']:.1f} | {r['written']:.1f} | {r['wall']:.1f} "
              f"| {r['overhead']:.2f} | {r['init']:.1f} | {r['kb_per_event']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
