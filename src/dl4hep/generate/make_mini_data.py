"""Write the small ntuples in ``data/`` used by fast tests of the later stages.

Usage::

    python -m dl4hep.generate.make_mini_data [--config configs/mini.yaml] [--out data] [--events N]

One file per sample of the config, ``data/mini_<sample>.root`` (same format as
``dl4hep generate``), seeded so that reruns give identical arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dl4hep.generate.api import generate_sample
from dl4hep.validate import load_checked

#: Default events per sample: jets are heavier on disk (all PF candidates are stored).
DEFAULT_EVENTS = {"jets": 60, "dilepton": 100, "egamma": 100}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/mini.yaml")
    ap.add_argument("--out", type=Path, default=Path("data"))
    ap.add_argument("--events", type=int, default=None, help="events per sample (default: 60 jets, 100 others)")
    ap.add_argument("--samples", nargs="*", default=None, help="only these samples")
    a = ap.parse_args(argv)
    cfg = load_checked(a.config)
    seed = 1000
    for tname, task in cfg.tasks.items():
        for sname, sample in task.samples.items():
            seed += 1
            if sample.generator is None or (a.samples and sname not in a.samples):
                continue
            n = a.events or DEFAULT_EVENTS.get(tname, 100)
            out = a.out / f"mini_{sname}.root"
            summary = generate_sample(config=cfg, sample=sname, events=n, seed=seed, out=out)
            print(json.dumps({k: summary[k] for k in ("sample", "process", "events", "cross_section_pb",
                                                     "events_per_s", "output")}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
