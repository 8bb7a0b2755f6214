"""``dl4hep generate``: one seeded chunk of a sample -> NanoAOD-style ROOT file."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from dl4hep.errors import ConfigError
from dl4hep.generate.detector import DetectorParams
from dl4hep.generate.processes import Process, parse_generator, pythia_commands
from dl4hep.io.atomic import atomic_output
from dl4hep.provenance import write_provenance

__all__ = ["EventGenerator", "generate_sample", "pool_events", "write_events"]

#: Events per Pythia batch (nextBatch) and per TTree.extend() call.
BATCH = 100
FLUSH = 1000
RUN_NUMBER = 1
EVENT_STRIDE = 10_000_000
#: Minimum-bias events per Pythia batch when filling the pileup pool (bounds the memory).
POOL_BATCH = 500
#: Smallest pileup pool, whatever the job size (the old fixed pool: 300 events).
POOL_MIN = 300
#: Bunch crossings overlaid per event (-1, 0, +1), each with Poisson(pileup_mu) interactions.
N_BX = 3


def pool_events(mu: float, events: int, pool_size: int, max_reuse: float) -> int:
    """Minimum-bias events in a job's pileup pool.

    A job draws about N_int = 3·μ·events interactions (3 bunch crossings of Poisson(μ)), so a
    pool of n events is used N_int/n times per event on average. The pool is sized for a mean
    reuse of at most ``max_reuse``: n = min(pool_size, max(POOL_MIN, ceil(N_int / max_reuse))).
    The achieved reuse is reported by :meth:`PileupPool.stats` (provenance ``summary.pileup_pool``).
    """
    n_int = N_BX * max(mu, 0.0) * events
    return int(min(pool_size, max(POOL_MIN, math.ceil(n_int / max_reuse))))


class EventGenerator:
    """Pythia (+ pileup pool) + fast detector for one process; yields output batches."""

    def __init__(self, settings: Process, *, seed: int, com_energy_tev: float, events: int) -> None:
        from dl4hep.generate.events import PileupPool
        from dl4hep.generate.pythia_run import PythiaSource, flatten_batch, import_fastjet

        import_fastjet()
        self.settings = settings
        self.process: str = settings.name
        self.params = DetectorParams().with_overrides(settings.detector.model_dump())
        self.rng = np.random.default_rng([int(seed), 0x9E3779B9])
        self.ecal = settings.ecal
        self.mu = float(getattr(settings, "pileup_mu", 0.0))
        self.pool = None
        self.pool_source = None
        self.t_pythia = 0.0
        if self.ecal and (self.mu > 0 or not settings.hard_process):
            t0 = time.perf_counter()
            # stream 2 of this chunk's seed: every chunk overlays its own minimum-bias events
            self.pool_source = PythiaSource(["SoftQCD:nonDiffractive = on"], seed=seed, stream=2,
                                            com_energy_tev=com_energy_tev)
            n_pool = pool_events(self.mu, events, settings.pool_size, settings.pool_max_reuse)
            self.pool = PileupPool.concat([
                PileupPool.from_flat(flatten_batch(self.pool_source.batch(k), self.pool_source))
                for k in np.diff(np.append(np.arange(0, n_pool, POOL_BATCH), n_pool))
            ])
            self.t_pythia += time.perf_counter() - t0
        self.source = None
        if settings.hard_process:
            self.source = PythiaSource(pythia_commands(settings), seed=seed, stream=1,
                                       com_energy_tev=com_energy_tev)
        self._flatten = flatten_batch
        self.n_tried = 0
        self.n_accepted = 0
        self.t_detector = 0.0

    def cross_section_pb(self) -> float:
        src = self.source if self.source is not None else self.pool_source
        sigma = src.sigma_pb() if src is not None else 0.0
        if self.n_tried:
            sigma *= self.n_accepted / self.n_tried  # generator-level filter (ECAL barrel)
        return sigma

    def _prompt(self, flat) -> tuple[np.ndarray, np.ndarray]:
        """Hardest final-state photon/electron per event and whether it lies in the barrel."""
        from dl4hep.kinematics import pt_eta_phi

        code = self.settings.prompt_pdg
        cand = np.nonzero((flat.status > 0) & (np.abs(flat.pid) == code))[0]
        pt, eta, _ = pt_eta_phi(flat.px[cand], flat.py[cand], flat.pz[cand])
        best = np.full(flat.n_events, -1, np.int64)
        bpt = np.zeros(flat.n_events)
        for k, c in enumerate(cand):  # few candidates per event
            e = flat.event[c]
            if pt[k] > bpt[e]:
                bpt[e], best[e] = pt[k], c
        ok = best >= 0
        _, beta, _ = pt_eta_phi(flat.px[np.maximum(best, 0)], flat.py[np.maximum(best, 0)],
                                flat.pz[np.maximum(best, 0)])
        ok &= np.abs(beta) < self.settings.eta_max
        return best, ok

    def _accept(self, b: ak.Array) -> np.ndarray:
        """Generator-level filter: the hardest final-state photon (electron) has |eta| < eta_max."""
        prt = b.prt
        code = self.settings.prompt_pdg
        sel = prt[(prt.status > 0) & (abs(prt.id) == code)]
        px, py, pz = sel.p.px, sel.p.py, sel.p.pz
        pt = np.hypot(px, py)
        best = ak.argmax(pt, axis=1, keepdims=True)
        bpt = ak.fill_none(ak.firsts(pt[best]), 0.0)
        bpz = ak.fill_none(ak.firsts(pz[best]), 0.0)
        eta = np.arcsinh(ak.to_numpy(bpz) / np.maximum(ak.to_numpy(bpt), 1e-9))
        return (ak.to_numpy(bpt) > 0) & (np.abs(eta) < self.settings.eta_max)

    def batch_options(self) -> Any:
        """:class:`~dl4hep.generate.events.BatchOptions` of this process and its pileup pool."""
        from dl4hep.generate.events import BatchOptions

        s = self.settings
        return BatchOptions(match_resonance=s.match_resonance, ecal=s.ecal, hard_process=s.hard_process,
                            pool=self.pool, pileup_mu=self.mu, max_clusters=getattr(s, "max_clusters", 4))

    def next_batch(self, n: int) -> dict[str, Any]:
        """Exactly ``n`` reconstructed events (more are generated if a filter rejects some)."""
        from dl4hep.generate.events import reconstruct_batch

        flat, prompt = self._hard_events(n) if self.source is not None else self._empty_events(n)
        t0 = time.perf_counter()
        out = reconstruct_batch(flat, self.rng, self.params, self.batch_options(), prompt=prompt)
        out["genWeight"] = flat.weight.astype(np.float32)
        self.t_detector += time.perf_counter() - t0
        return out

    def _empty_events(self, n: int) -> tuple[Any, None]:
        """``n`` events without particles (pileup only: everything comes from the overlay)."""
        from dl4hep.generate.pythia_run import FlatEvents

        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        flat = FlatEvents(n, np.zeros(n + 1, np.int64), zi, zi, zi, zi, zi, zi, z, z, z, z, z, z, z,
                          np.zeros(0, np.int32), np.ones(n))
        self.n_tried += n
        self.n_accepted += n
        return flat, None

    def _hard_events(self, n: int) -> tuple[Any, np.ndarray | None]:
        """``n`` Pythia events passing the generator-level filter, flattened, and their prompt object."""
        chunks, got = [], 0
        egamma = self.settings.prompt_pdg is not None
        while got < n:
            want = n - got
            if egamma:  # about half of the events have the object in the barrel
                want = min(int(want * 2.5) + 5, 4 * BATCH)
            t0 = time.perf_counter()
            b = self.source.batch(want)
            self.t_pythia += time.perf_counter() - t0
            t0 = time.perf_counter()
            if egamma:
                ok = np.nonzero(self._accept(b))[0]
                keep = ok[: n - got]
                # events after the last kept one are never looked at: not counted as tried
                self.n_tried += int(keep[-1]) + 1 if len(keep) == n - got else len(b)
                b = b[keep]
            else:
                self.n_tried += len(b)
            chunks.append(b)
            got += len(b)
            self.t_detector += time.perf_counter() - t0
        t0 = time.perf_counter()
        batch = ak.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        flat = self._flatten(batch, self.source)
        prompt = self._prompt(flat)[0] if egamma else None
        self.n_accepted += n
        self.t_detector += time.perf_counter() - t0
        return flat, prompt


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0]
    res = {}
    for k in parts[0]:
        if isinstance(parts[0][k], np.ndarray):
            res[k] = np.concatenate([x[k] for x in parts])
        else:
            res[k] = ak.concatenate([x[k] for x in parts])
    return res


def write_events(path: Path, gen: EventGenerator, *, events: int, seed: int, progress: bool = True) -> dict[str, Any]:
    """Generate ``events`` events with ``gen`` and write them to the ROOT file ``path``."""
    import uproot
    from tqdm import tqdm

    t_write = 0.0
    sumw = 0.0
    written = 0
    lumi = np.uint32(seed % 2**32)
    with uproot.recreate(path) as f, tqdm(total=events, file=sys.stderr, disable=not progress,
                                          desc=f"generate {gen.process}", unit="ev", mininterval=1.0) as bar:
        tree = None
        buf: list[dict[str, Any]] = []
        nbuf = 0
        while written + nbuf < events:
            n = min(BATCH, events - written - nbuf)
            out = gen.next_batch(n)
            ids = np.arange(written + nbuf, written + nbuf + n, dtype=np.uint64)
            out = {
                "run": np.full(n, RUN_NUMBER, np.uint32),
                "luminosityBlock": np.full(n, lumi, np.uint32),
                "event": np.uint64(seed) * np.uint64(EVENT_STRIDE) + ids,
                **out,
            }
            buf.append(out)
            nbuf += n
            bar.update(n)
            if nbuf >= FLUSH or written + nbuf >= events:
                t0 = time.perf_counter()
                data = _concat(buf)
                if tree is None:
                    types = {k: (v.dtype if isinstance(v, np.ndarray) else v.type) for k, v in data.items()}
                    tree = f.mktree("Events", types, title="Events")
                tree.extend(data)
                sumw += float(np.sum(data["genWeight"], dtype=np.float64))
                written += nbuf
                buf, nbuf = [], 0
                t_write += time.perf_counter() - t0
        t0 = time.perf_counter()
        sigma = gen.cross_section_pb()
        runs = f.mktree("Runs", {"run": np.uint32, "genEventCount": np.int64, "genEventSumw": np.float64,
                                 "genCrossSection": np.float64}, title="Runs")
        runs.extend({"run": np.array([RUN_NUMBER], np.uint32), "genEventCount": np.array([written], np.int64),
                     "genEventSumw": np.array([sumw]), "genCrossSection": np.array([sigma])})
        t_write += time.perf_counter() - t0
    summary = {"events": written, "sum_weights": sumw, "cross_section_pb": float(sigma),
               "time_pythia_s": gen.t_pythia, "time_detector_s": gen.t_detector, "time_write_s": t_write}
    if gen.pool is not None:
        summary["pileup_pool"] = gen.pool.stats()
    return summary


def generate_sample(*, config: Any, sample: str, events: int, seed: int, out: Path) -> dict[str, Any]:
    """Generate one chunk of ``sample`` (``events`` events, ``seed``) into the ROOT file ``out``."""
    task, scfg = config.sample(sample)
    where = f"tasks.{task}.samples.{sample}.generator"
    if scfg.generator is None:
        raise ConfigError(f"tasks.{task}.samples.{sample} has no 'generator' block (it reads files); nothing to generate")
    if events < 1:
        raise ConfigError(f"--events must be >= 1, got {events}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    settings = parse_generator(scfg.generator, where=where)
    t0 = time.perf_counter()
    gen = EventGenerator(settings, seed=seed, com_energy_tev=float(config.com_energy), events=events)
    out = Path(out)
    with atomic_output(out) as tmp:
        summary = write_events(tmp, gen, events=events, seed=seed)
        tmp.chmod(0o644)  # mkstemp creates 0600; ntuples are meant to be shared
    summary["time_total_s"] = time.perf_counter() - t0
    summary["events_per_s"] = events / max(summary["time_total_s"], 1e-9)
    summary.update(task=task, sample=sample, process=settings.name, seed=seed, output=str(out))
    write_provenance(out, stage="generate", config={
        "task": task, "sample": sample, "sample_config": scfg.model_dump(mode="json"),
        "generator": settings.model_dump(mode="json"), "events": events, "seed": seed,
        "com_energy_tev": float(config.com_energy), "pythia_commands": pythia_commands(settings),
        "detector": gen.params.__dict__,
    }, extra={"summary": summary})
    return summary
