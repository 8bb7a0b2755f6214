"""Pythia 8 driver: configured generators, awkward batches of events, the minimum-bias pool."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import awkward as ak
import numpy as np

from dl4hep.errors import DataError, MissingDependencyError

__all__ = ["FlatEvents", "PythiaSource", "flatten_batch", "import_pythia", "pythia_seed"]

INSTALL = "pip install 'dl4hep[generate]'"


def import_pythia():
    """Return the Pythia 8 Python module (``pythia8mc`` wheel, or a ``pythia8`` build)."""
    try:
        import pythia8mc as pythia8  # the PyPI wheel
    except ImportError:
        try:
            import pythia8  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise MissingDependencyError(
                f"Event generation needs Pythia 8 (module pythia8mc or pythia8). Install it with: {INSTALL}"
            ) from None
    return pythia8


_BANNER_DONE = False


def import_fastjet():
    """Return the fastjet module; its one-time banner goes to stderr, not stdout."""
    global _BANNER_DONE
    try:
        import fastjet
    except ImportError:
        raise MissingDependencyError(f"Jet clustering needs the fastjet package. Install it with: {INSTALL}") from None
    if not _BANNER_DONE:
        _BANNER_DONE = True
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)  # FastJet prints its banner with std::cout on the first clustering
            fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 0.0, 1.0)],
                                    fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4))
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return fastjet


def pythia_seed(seed: int, stream: int) -> int:
    """Map (seed, stream) to Pythia's allowed seed range 1..900000000, deterministically."""
    return 1 + (int(seed) * 1_000_003 + stream * 7_919) % 899_999_999


#: Settings used for every generator: vertex/decay treatment and quiet output.
COMMON = [
    "Print:quiet = on",
    "Next:numberCount = 0",
    # Particles with c*tau0 > 10 mm (K0S, Lambda, pi+-, K+-, ...) are stable, as in LHC
    # generator-level records; B and D hadrons decay with finite lifetime, so their
    # daughters have displaced production vertices (Particle::vProd, mm).
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10",
]


class PythiaSource:
    """One configured Pythia instance producing awkward batches of events."""

    def __init__(self, commands: list[str], *, seed: int, stream: int, com_energy_tev: float) -> None:
        pythia8 = import_pythia()
        self.pythia = pythia8.Pythia("", False)
        cmds = [f"Beams:eCM = {com_energy_tev * 1000.0}", "Random:setSeed = on",
                f"Random:seed = {pythia_seed(seed, stream)}", *COMMON, *commands]
        for c in cmds:
            if not self.pythia.readString(c):
                raise DataError(f"Pythia rejected the setting '{c}'")
        if not self.pythia.init():
            raise DataError(f"Pythia failed to initialise with settings {cmds}")
        self.commands = cmds
        self._charge: dict[int, int] = {}

    def batch(self, n: int) -> ak.Array:
        """``n`` events as an awkward array of particle records (field ``prt``)."""
        return self.pythia.nextBatch(int(n))

    def charges(self, pdg: np.ndarray) -> np.ndarray:
        """Electric charge (units of e, rounded to int) for PDG codes, cached per code."""
        uniq, inv = np.unique(pdg, return_inverse=True)
        pd = self.pythia.particleData
        vals = np.empty(len(uniq), np.int32)
        for i, code in enumerate(uniq.tolist()):
            if code not in self._charge:
                self._charge[code] = int(round(pd.charge(int(code))))
            vals[i] = self._charge[code]
        return vals[inv]

    def sigma_pb(self) -> float:
        """Estimated cross section of the generated process in pb (sigmaGen is in mb)."""
        return float(self.pythia.infoPython().sigmaGen()) * 1e9


@dataclass
class FlatEvents:
    """All particles of a batch as flat numpy arrays; global indices (local + offset)."""

    n_events: int
    offsets: np.ndarray
    event: np.ndarray
    pid: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    daughter1: np.ndarray
    daughter2: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray  # cm
    vy: np.ndarray
    vz: np.ndarray
    charge: np.ndarray
    weight: np.ndarray  # per event


def _glob(local: np.ndarray, off: np.ndarray) -> np.ndarray:
    return np.where(local > 0, local + off, -1)


def flatten_batch(batch: ak.Array, source: PythiaSource) -> FlatEvents:
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    event = np.repeat(np.arange(len(counts)), counts)
    off = offsets[:-1][event]

    def flat(x, fill=0.0):
        return ak.to_numpy(ak.fill_none(ak.flatten(x), fill))

    pid = flat(prt.id).astype(np.int64)
    vprod = prt.vProd
    mm_to_cm = 0.1
    try:
        w = ak.to_numpy(ak.firsts(batch.info.weights)).astype(float)
        w = np.where(np.isfinite(w), w, 1.0)
    except Exception:  # noqa: BLE001 - older bindings without weights
        w = np.ones(len(counts))
    return FlatEvents(
        n_events=len(counts), offsets=offsets, event=event, pid=pid,
        status=flat(prt.status).astype(np.int64),
        mother1=_glob(flat(prt.mother1).astype(np.int64), off),
        daughter1=_glob(flat(prt.daughter1).astype(np.int64), off),
        daughter2=_glob(flat(prt.daughter2).astype(np.int64), off),
        px=flat(prt.p.px), py=flat(prt.p.py), pz=flat(prt.p.pz), e=flat(prt.p.e),
        vx=flat(vprod.px) * mm_to_cm, vy=flat(vprod.py) * mm_to_cm, vz=flat(vprod.pz) * mm_to_cm,
        charge=source.charges(pid), weight=w,
    )
