"""Reconstruct a batch of generated events into NanoAOD-style collections.

Works on :class:`~dl4hep.generate.pythia_run.FlatEvents` (flat arrays over a batch);
the detector model is vectorised over the whole batch, FastJet clusters all events
of the batch in one call (awkward multi-event API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import awkward as ak
import numpy as np

from dl4hep.generate import detector as det
from dl4hep.generate.detector import DetectorParams, EcalDeposits
from dl4hep.generate.pythia_run import FlatEvents, import_fastjet
from dl4hep.generate.softdrop import softdrop_mass
from dl4hep.kinematics import cartesian, delta_phi, pt_eta_phi

__all__ = [
    "BatchOptions", "PileupPool", "draw_vertices", "reconstruct_batch", "last_copy", "is_b_hadron", "is_c_hadron",
]

NEUTRINOS = (12, 14, 16)


def is_b_hadron(pid: np.ndarray) -> np.ndarray:
    a = np.abs(pid)
    return (a > 100) & (((a // 100) % 10 == 5) | ((a // 1000) % 10 == 5))


def is_c_hadron(pid: np.ndarray) -> np.ndarray:
    a = np.abs(pid)
    return (a > 100) & (((a // 100) % 10 == 4) | ((a // 1000) % 10 == 4)) & ~is_b_hadron(pid)


def last_copy(idx: np.ndarray, ev: FlatEvents) -> np.ndarray:
    """Follow recoil/shower copies (single daughter with the same id) to the last copy."""
    idx = idx.copy()
    for _ in range(100):
        d1 = ev.daughter1[idx]
        d2 = ev.daughter2[idx]
        ok = (d1 >= 0) & ((d2 == d1) | (d2 < 0))
        ok &= ev.pid[np.maximum(d1, 0)] == ev.pid[idx]
        if not ok.any():
            break
        idx = np.where(ok, d1, idx)
    return idx


def resonance_products(ev: FlatEvents, res_pdg: int) -> tuple[np.ndarray, np.ndarray]:
    """Decay quarks of every resonance ``res_pdg`` (top: b, q, q'; W/Z/H: the two quarks).

    Returns (event index per resonance, global particle indices with shape (n, k)).
    """
    cand = np.nonzero(np.abs(ev.pid) == res_pdg)[0]
    if len(cand) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 3 if res_pdg == 6 else 2), np.int64)
    last = np.unique(last_copy(cand, ev))
    d1, d2 = ev.daughter1[last], ev.daughter2[last]
    good = (d1 >= 0) & (d2 > d1)
    last, d1, d2 = last[good], d1[good], d2[good]
    if res_pdg != 6:
        return ev.event[last], np.stack([d1, d2], axis=1)
    # top -> b W (first b quark and first W among the daughters d1..d2), W -> q q'
    bq = _first_daughter(ev, d1, d2, 5)
    w = _first_daughter(ev, d1, d2, 24)
    ok = (bq >= 0) & (w >= 0)
    last, bq, w = last[ok], bq[ok], last_copy(w[ok], ev)
    wd1, wd2 = ev.daughter1[w], ev.daughter2[w]
    ok = (wd1 >= 0) & (wd2 > wd1)
    return ev.event[last[ok]], np.stack([bq[ok], wd1[ok], wd2[ok]], axis=1).astype(np.int64)


def _first_daughter(ev: FlatEvents, d1: np.ndarray, d2: np.ndarray, abs_pid: int) -> np.ndarray:
    """Index of the first particle with ``|pid| == abs_pid`` in each range d1..d2, else -1."""
    found = np.full(len(d1), -1, np.int64)
    for offset in range(int((d2 - d1).max(initial=-1)) + 1):  # daughter ranges are a few long
        k = d1 + offset
        hit = (found < 0) & (k <= d2) & (np.abs(ev.pid[np.minimum(k, len(ev.pid) - 1)]) == abs_pid)
        found[hit] = k[hit]
    return found


def same_event_pairs(a_event: np.ndarray, b_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i, j) with ``a_event[i] == b_event[j]``; ``b_event`` sorted ascending."""
    start = np.searchsorted(b_event, a_event, "left")
    count = np.searchsorted(b_event, a_event, "right") - start
    ia = np.repeat(np.arange(len(a_event)), count)
    first = np.repeat(np.cumsum(count) - count, count)
    ib = np.repeat(start, count) + (np.arange(len(ia)) - first)
    return ia, ib


def _any_per(index: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of length ``n``: True where ``index`` occurs."""
    return np.bincount(index, minlength=n)[:n] > 0


def _jag(values: np.ndarray, counts: np.ndarray, dtype: Any) -> ak.Array:
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    content = ak.contents.NumpyArray(np.ascontiguousarray(values, dtype=dtype))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), content))


def _jets_from(cs_jets: ak.Array) -> dict[str, np.ndarray]:
    px = ak.to_numpy(ak.flatten(cs_jets.px))
    py = ak.to_numpy(ak.flatten(cs_jets.py))
    pz = ak.to_numpy(ak.flatten(cs_jets.pz))
    e = ak.to_numpy(ak.flatten(cs_jets.E))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    m = np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0))
    return {"pt": pt, "eta": eta, "phi": phi, "mass": m}


def draw_vertices(rng: np.random.Generator, p: DetectorParams, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex z (cm) and time (ns) of ``n`` in-time interactions: z ~ N(0, σ_z), t ~ N(0, σ_t).

    The luminous region of CMS (σ_z = ``beamspot_sigma_z`` = 3.5 cm, σ_t = ``beamspot_sigma_t``
    = 0.2 ns); the same for the hard scatter and every pileup vertex.
    """
    return rng.normal(0.0, p.beamspot_sigma_z, n), rng.normal(0.0, p.beamspot_sigma_t, n)


@dataclass
class PileupPool:
    """Pre-generated minimum-bias interactions (visible particles near the barrel).

    ``uses`` counts how often each pool event has been overlaid (see :meth:`stats`).
    """

    offsets: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pdg: np.ndarray
    charge: np.ndarray
    uses: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.uses is None:
            self.uses = np.zeros(self.size, np.int64)

    @property
    def size(self) -> int:
        return len(self.offsets) - 1

    @staticmethod
    def from_flat(ev: FlatEvents) -> PileupPool:
        pt, eta, _ = pt_eta_phi(ev.px, ev.py, ev.pz)
        vis = (ev.status > 0) & ~np.isin(np.abs(ev.pid), NEUTRINOS) & (np.abs(eta) < 1.75) & (ev.e > 0.1)
        counts = np.bincount(ev.event[vis], minlength=ev.n_events)
        return PileupPool(
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            px=ev.px[vis], py=ev.py[vis], pz=ev.pz[vis], e=ev.e[vis], pdg=ev.pid[vis], charge=ev.charge[vis],
        )

    @staticmethod
    def concat(pools: list[PileupPool]) -> PileupPool:
        """One pool holding the events of ``pools`` in order."""
        counts = np.concatenate([np.diff(x.offsets) for x in pools])
        cols = {k: np.concatenate([getattr(x, k) for x in pools]) for k in ("px", "py", "pz", "e", "pdg", "charge")}
        return PileupPool(offsets=np.concatenate([[0], np.cumsum(counts)]), **cols)

    def stats(self) -> dict[str, float | int]:
        """Reuse of the pool so far: mean uses per pool event = interactions drawn / pool events."""
        drawn = int(self.uses.sum())
        return {
            "pool_events": self.size, "interactions_drawn": drawn,
            "mean_uses_per_pool_event": drawn / max(self.size, 1), "max_uses": int(self.uses.max(initial=0)),
        }

    def overlay(self, rng: np.random.Generator, p: DetectorParams, mu: float) -> EcalDeposits:
        """ECAL deposits of Poisson(mu) interactions in each of the bunch crossings -1, 0, +1.

        Each interaction is drawn at random from the pool, rotated by a random phi,
        mirrored in z with probability 1/2, placed at a vertex from :func:`draw_vertices`
        (plus BX·25 ns); out-of-time crossings arrive at -+25 ns with their amplitude scaled
        by ``oot_weight``.
        """
        if mu <= 0 or self.size == 0:
            return EcalDeposits()
        nbx = rng.poisson(mu, 3)
        bx = np.repeat(np.array([-1, 0, 1]), nbx)
        nint = len(bx)
        pick = rng.integers(0, self.size, nint)
        self.uses += np.bincount(pick, minlength=self.size)
        starts, stops = self.offsets[pick], self.offsets[pick + 1]
        lens = stops - starts
        inter = np.repeat(np.arange(nint), lens)
        idx = np.repeat(starts - np.cumsum(np.concatenate([[0], lens[:-1]])), lens) + np.arange(lens.sum())
        rot = rng.uniform(-np.pi, np.pi, nint)[inter]
        flip = np.where(rng.random(nint) < 0.5, -1.0, 1.0)[inter]
        c, s = np.cos(rot), np.sin(rot)
        px, py = self.px[idx], self.py[idx]
        vz, t0 = draw_vertices(rng, p, nint)
        t0 = t0 + bx * p.bx_spacing
        w = np.where(bx == 0, 1.0, p.oot_weight)[inter]
        return det.ecal_deposits(
            rng, p, px=c * px - s * py, py=s * px + c * py, pz=flip * self.pz[idx], e=self.e[idx],
            pdg=self.pdg[idx], charge=self.charge[idx], vz=vz[inter], t0=t0[inter], weight=w,
        )


@dataclass(frozen=True)
class BatchOptions:
    """What :func:`reconstruct_batch` needs to know of the process (its ClassVars) and the pileup.

    ``match_resonance``: PDG id of the resonance whose decay quarks define FatJet_isMatched,
    None for QCD (every jet matched), ``"none"`` for no matching. ``hard_process`` False: the
    events hold only pileup, and ECAL clusters are seeded on pileup energy.
    """

    match_resonance: int | None | Literal["none"] = "none"
    ecal: bool = False
    hard_process: bool = True
    pool: PileupPool | None = None
    pileup_mu: float = 0.0
    max_clusters: int = 4


def reconstruct_batch(
    ev: FlatEvents, rng: np.random.Generator, p: DetectorParams, opts: BatchOptions = BatchOptions(),
    *, prompt: np.ndarray | None = None,
) -> dict[str, Any]:
    """All output collections of the batch (awkward arrays with one entry per event).

    Built like Delphes, one collection after the other: PF candidates, MET, leptons, jets,
    large-R jets, ECAL. The random draws happen in that order (PF smearing, b-tag, ECAL), so a
    seed gives the same events. ``prompt``: global particle index of the prompt photon/electron
    per event (ECAL signal).
    """
    fastjet = import_fastjet()
    pf = _pf_candidates(ev, rng, p)
    out: dict[str, Any] = {"PFCands": pf.collection()}
    out.update(_met(pf, ev.n_events))
    out.update(_leptons(pf, p, ev.n_events))
    parts = pf.fastjet_input()
    out["Jet"] = _jets(ev, rng, p, fastjet, parts)
    out.update(_fatjets(ev, p, fastjet, parts, pf, opts.match_resonance))
    out.update(_ecal(ev, rng, p, opts, prompt))
    return out


@dataclass
class _PFCands:
    """PF candidates of a batch, sorted by (event, −pT): columns, event index and four-momenta."""

    cols: dict[str, np.ndarray]
    event: np.ndarray
    counts: np.ndarray
    p4: dict[str, np.ndarray]

    @property
    def start(self) -> np.ndarray:
        """Index of each event's first candidate."""
        return np.concatenate([[0], np.cumsum(self.counts)])[:-1]

    def collection(self) -> ak.Array:
        c, n, f32 = self.cols, self.counts, np.float32
        return ak.zip({
            "pt": _jag(c["pt"], n, f32), "eta": _jag(c["eta"], n, f32),
            "phi": _jag(c["phi"], n, f32), "mass": _jag(c["mass"], n, f32),
            "charge": _jag(c["charge"], n, np.int32), "pdgId": _jag(c["pdgId"], n, np.int32),
            "d0": _jag(c["d0"], n, f32), "d0Err": _jag(c["d0Err"], n, f32),
            "dz": _jag(c["dz"], n, f32), "dzErr": _jag(c["dzErr"], n, f32),
            "puppiWeight": _jag(np.ones(len(self.event)), n, f32),
        })

    def fastjet_input(self) -> ak.Array:
        """Per-event (px, py, pz, E) records, the input of one multi-event FastJet call."""
        v = self.p4
        parts = ak.unflatten(ak.zip({"px": v["px"], "py": v["py"], "pz": v["pz"], "E": v["E"]},
                                    with_name="Momentum4D"), self.counts)
        return ak.zip({"px": parts.px, "py": parts.py, "pz": parts.pz, "E": parts.E})


def _pf_candidates(ev: FlatEvents, rng: np.random.Generator, p: DetectorParams) -> _PFCands:
    """Visible final-state particles through :func:`detector.make_pf_candidates`, sorted per event by −pT."""
    fi = np.nonzero((ev.status > 0) & ~np.isin(np.abs(ev.pid), NEUTRINOS))[0]
    pf = det.make_pf_candidates(
        rng, p, px=ev.px[fi], py=ev.py[fi], pz=ev.pz[fi], e=ev.e[fi], pdg=ev.pid[fi], charge=ev.charge[fi],
        vx=ev.vx[fi], vy=ev.vy[fi], vz=ev.vz[fi],
    )
    keep = pf.pop("keep")
    pev = ev.event[fi][keep]
    cols = {k: v[keep] for k, v in pf.items()}
    order = np.lexsort((-cols["pt"], pev))
    cols = {k: v[order] for k, v in cols.items()}
    return _PFCands(cols=cols, event=pev[order], counts=np.bincount(pev[order], minlength=ev.n_events),
                    p4=cartesian(cols["pt"], cols["eta"], cols["phi"], cols["mass"]))


def _met(pf: _PFCands, nev: int) -> dict[str, np.ndarray]:
    """Missing transverse momentum: minus the vector sum of the PF candidates; ΣE_T as the scalar pT sum."""
    mex = -np.bincount(pf.event, weights=pf.p4["px"], minlength=nev)
    mey = -np.bincount(pf.event, weights=pf.p4["py"], minlength=nev)
    return {
        "MET_pt": np.hypot(mex, mey).astype(np.float32),
        "MET_phi": np.arctan2(mey, mex).astype(np.float32),
        "MET_sumEt": np.bincount(pf.event, weights=pf.cols["pt"], minlength=nev).astype(np.float32),
    }


def _leptons(pf: _PFCands, p: DetectorParams, nev: int) -> dict[str, ak.Array]:
    """Electrons (ΔR 0.3 isolation) and muons (ΔR 0.4) among the PF candidates above their pT/|η| cuts."""
    c, f32, out = pf.cols, np.float32, {}
    for name, code, ptmin, etamax, cone, isoname in (
        ("Electron", 11, p.electron_pt_min, p.track_eta_max, 0.3, "pfRelIso03_all"),
        ("Muon", 13, p.muon_pt_min, p.muon_eta_max, 0.4, "pfRelIso04_all"),
    ):
        sel = np.nonzero((np.abs(c["pdgId"]) == code) & (c["pt"] > ptmin) & (np.abs(c["eta"]) < etamax))[0]
        iso = det.relative_isolation(pf.event[sel], c["eta"][sel], c["phi"][sel], c["pt"][sel], sel,
                                     pf.event, c["eta"], c["phi"], c["pt"], cone)
        n = np.bincount(pf.event[sel], minlength=nev)
        out[name] = ak.zip({
            "pt": _jag(c["pt"][sel], n, f32), "eta": _jag(c["eta"][sel], n, f32),
            "phi": _jag(c["phi"][sel], n, f32), "mass": _jag(c["mass"][sel], n, f32),
            "charge": _jag(c["charge"][sel], n, np.int32), isoname: _jag(iso, n, f32),
            "dxy": _jag(c["d0"][sel], n, f32), "dz": _jag(c["dz"][sel], n, f32),
        })
    return out


def _sorted_jets(cs_jets: ak.Array, nev: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """FastJet jets as flat (pt, eta, phi, mass) sorted by (event, −pT); jets per event, event per jet, the order."""
    jets = _jets_from(cs_jets)
    nj = ak.to_numpy(ak.num(cs_jets)).astype(np.int64)
    jev = np.repeat(np.arange(nev), nj)
    order = np.lexsort((-jets["pt"], jev))
    return {k: v[order] for k, v in jets.items()}, nj, jev, order


def _hadron_flavour(ev: FlatEvents, p: DetectorParams, jets: dict[str, np.ndarray], jev: np.ndarray) -> np.ndarray:
    """Jet hadron flavour: 5 (4) if a b (c) hadron with pT > ``heavy_hadron_pt_min`` lies within ΔR < 0.4; b wins."""
    hpt, heta, hphi = pt_eta_phi(ev.px, ev.py, ev.pz)
    flav = np.zeros(len(jev), np.int32)
    for code, test in ((4, is_c_hadron), (5, is_b_hadron)):  # b after c: b wins
        h = np.nonzero(test(ev.pid) & (hpt > p.heavy_hadron_pt_min))[0]
        ij, ih = same_event_pairs(jev, ev.event[h])
        ih = h[ih]
        dr2 = (heta[ih] - jets["eta"][ij]) ** 2 + delta_phi(hphi[ih], jets["phi"][ij]) ** 2
        flav[_any_per(ij[dr2 < p.hadron_match_dr ** 2], len(jev))] = code
    return flav


def _jets(ev: FlatEvents, rng: np.random.Generator, p: DetectorParams, fastjet: Any, parts: ak.Array) -> ak.Array:
    """Anti-kT R = 0.4 jets above ``jet_pt_min`` with hadron flavour and a truth-based b-tag."""
    cs4 = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4))
    jets, nj, jev, _ = _sorted_jets(cs4.inclusive_jets(min_pt=p.jet_pt_min), ev.n_events)
    flav = _hadron_flavour(ev, p, jets, jev)
    f32 = np.float32
    return ak.zip({
        "pt": _jag(jets["pt"], nj, f32), "eta": _jag(jets["eta"], nj, f32), "phi": _jag(jets["phi"], nj, f32),
        "mass": _jag(jets["mass"], nj, f32), "btag": _jag(det.btag_decision(rng, p, flav, jets["eta"]), nj, f32),
        "hadronFlavour": _jag(flav, nj, np.int32),
    })


def _fatjet_matched(ev: FlatEvents, fj: dict[str, np.ndarray], fev: np.ndarray,
                    match_resonance: int | None | str) -> np.ndarray:
    """FatJet_isMatched: every decay quark of a ``match_resonance`` of the event lies within ΔR < 0.8."""
    matched = np.zeros(len(fev), bool)
    if match_resonance is None:
        matched[:] = True
    elif match_resonance != "none" and len(fev):
        rev, prods = resonance_products(ev, int(match_resonance))
        _, qeta, qphi = pt_eta_phi(ev.px[prods], ev.py[prods], ev.pz[prods])  # (n_res, k)
        ij, ir = same_event_pairs(fev, rev)
        dr2 = (qeta[ir] - fj["eta"][ij, None]) ** 2 + delta_phi(qphi[ir], fj["phi"][ij, None]) ** 2
        matched = _any_per(ij[(dr2 < 0.8 ** 2).all(axis=1)], len(fev))
    return matched


def _fatjets(ev: FlatEvents, p: DetectorParams, fastjet: Any, parts: ak.Array, pf: _PFCands,
             match_resonance: int | None | str) -> dict[str, ak.Array]:
    """Anti-kT R = 0.8 jets above ``fatjet_pt_min``: soft-drop mass, truth match and constituent indices."""
    nev = ev.n_events
    cs8 = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8))
    fj, nfj, fev, forder = _sorted_jets(cs8.inclusive_jets(min_pt=p.fatjet_pt_min), nev)
    cons = ak.flatten(cs8.constituent_index(min_pt=p.fatjet_pt_min), axis=1)[forder]  # per jet: local PF indices
    ncons = ak.to_numpy(ak.num(cons)).astype(np.int64)
    cidx = ak.to_numpy(ak.flatten(cons)).astype(np.int64)
    cjet_local = np.concatenate([np.arange(c) for c in nfj]) if len(nfj) and nfj.sum() else np.zeros(0, np.int64)
    msd = np.zeros(len(fev))
    if len(fev):
        gidx = cidx + np.repeat(pf.start[fev], ncons)
        v = pf.p4
        msd = softdrop_mass(np.concatenate([[0], np.cumsum(ncons)]), v["px"][gidx], v["py"][gidx], v["pz"][gidx],
                            v["E"][gidx])
    matched = _fatjet_matched(ev, fj, fev, match_resonance)
    f32 = np.float32
    ncon_ev = np.bincount(fev, weights=ncons, minlength=nev).astype(np.int64)
    return {
        "FatJet": ak.zip({
            "pt": _jag(fj["pt"], nfj, f32), "eta": _jag(fj["eta"], nfj, f32), "phi": _jag(fj["phi"], nfj, f32),
            "mass": _jag(fj["mass"], nfj, f32), "msoftdrop": _jag(msd, nfj, f32),
            "isMatched": _jag(matched, nfj, bool),
        }),
        "FatJetPFCands": ak.zip({
            "jetIdx": _jag(np.repeat(cjet_local, ncons), ncon_ev, np.int32),
            "pFCandsIdx": _jag(cidx, ncon_ev, np.int32),
        }),
    }


def _signal_deposits(
    ev: FlatEvents, rng: np.random.Generator, p: DetectorParams, prompt: np.ndarray,
) -> tuple[list[EcalDeposits], np.ndarray, np.ndarray]:
    """ECAL deposits of the hard events (per event) and the impact crystal of each prompt object.

    Every hard event gets its own vertex from :func:`draw_vertices` (as the pileup); the prompt
    object's impact is η_R = asinh(sinh η + z/R) and the bent φ of :func:`detector.bend`.
    """
    nev = ev.n_events
    vz, t0 = draw_vertices(rng, p, nev)
    fi = np.nonzero((ev.status > 0) & ~np.isin(np.abs(ev.pid), NEUTRINOS))[0]
    pev = ev.event[fi]
    dep, src = det.ecal_deposits_with_source(
        rng, p, px=ev.px[fi], py=ev.py[fi], pz=ev.pz[fi], e=ev.e[fi], pdg=ev.pid[fi], charge=ev.charge[fi],
        vz=vz[pev], t0=t0[pev],
    )
    order = np.argsort(pev[src], kind="stable")
    bounds = np.searchsorted(pev[src][order], np.arange(nev + 1))
    per_event = [dep.select(order[bounds[i]: bounds[i + 1]]) for i in range(nev)]
    pt, eta, phi = pt_eta_phi(ev.px[prompt], ev.py[prompt], ev.pz[prompt])
    eta_r = np.arcsinh(np.sinh(eta) + vz / p.ecal_radius)
    phib, _ = det.bend(p, phi, pt, ev.charge[prompt])
    return per_event, det.crystal_ieta(eta_r), det.crystal_iphi(phib)


_CLUSTER_FIELDS = {"energy": np.float32, "eta": np.float32, "phi": np.float32, "seedIeta": np.int32,
                   "seedIphi": np.int32, "isMatched": bool, "genEnergy": np.float32}
_HIT_FIELDS = {"ieta": np.int32, "iphi": np.int32, "energy": np.float32, "time": np.float32, "clusterIdx": np.int32}


@dataclass
class _EcalRows:
    """Clusters and their crystal hits, collected event by event (clusters are few per event)."""

    nev: int
    cl: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in _CLUSTER_FIELDS})
    hits: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in _HIT_FIELDS})

    def __post_init__(self) -> None:
        self.cl_counts = np.zeros(self.nev, np.int64)
        self.hit_counts = np.zeros(self.nev, np.int64)

    def add(self, i: int, c: dict[str, Any], matched: bool, gen_energy: float) -> None:
        """Append cluster ``c`` of :func:`detector.build_ecal_cluster` to event ``i``."""
        idx = self.cl_counts[i]
        for key in ("energy", "eta", "phi", "seedIeta", "seedIphi"):
            self.cl[key].append(c[key])
        self.cl["isMatched"].append(matched)
        self.cl["genEnergy"].append(gen_energy)
        nh = len(c["hit_energy"])
        for key in ("ieta", "iphi", "energy", "time"):
            self.hits[key].append(c[f"hit_{key}"])
        self.hits["clusterIdx"].append(np.full(nh, idx, np.int32))
        self.cl_counts[i] += 1
        self.hit_counts[i] += nh

    def collections(self) -> dict[str, ak.Array]:
        """The ``Cluster`` and ``CaloHit`` collections."""
        def cat(lst: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(lst).astype(dtype) if lst else np.zeros(0, dtype)

        return {
            "Cluster": ak.zip({k: _jag(np.array(self.cl[k], t), self.cl_counts, t) for k, t in _CLUSTER_FIELDS.items()}),
            "CaloHit": ak.zip({k: _jag(cat(self.hits[k], t), self.hit_counts, t) for k, t in _HIT_FIELDS.items()}),
        }


def _ecal(ev: FlatEvents, rng: np.random.Generator, p: DetectorParams, opts: BatchOptions,
          prompt: np.ndarray | None) -> dict[str, ak.Array]:
    """ECAL clusters and hits: one cluster on each prompt object, or pileup-seeded ones (pileup only)."""
    rows = _EcalRows(ev.n_events)
    if not opts.ecal:
        return rows.collections()
    if opts.hard_process:
        prompt = np.asarray(prompt, np.int64)
        sig, c_ieta, c_iphi = _signal_deposits(ev, rng, p, prompt)
        gen_energy = ev.e[prompt]  # true energy of each event's prompt object
    for i in range(ev.n_events):
        pu = opts.pool.overlay(rng, p, opts.pileup_mu) if opts.pool is not None else EcalDeposits()
        if opts.hard_process:
            deps = EcalDeposits.concat([sig[i], pu])
            centres, truth = [(int(c_ieta[i]), int(c_iphi[i]))], [True]
        else:
            deps = pu
            centres = det.find_pileup_seeds(deps, p, opts.max_clusters)
            truth = [False] * len(centres)
        for (ie, ip), tm in zip(centres, truth, strict=False):
            c = det.build_ecal_cluster(rng, p, deps, ie, ip)
            if c is not None:
                rows.add(i, c, tm, float(gen_energy[i]) if tm else 0.0)
    return rows.collections()
