"""Reconstruct a batch of generated events into NanoAOD-style collections.

Works on :class:`~dl4hep.generate.pythia_run.FlatEvents` (flat arrays over a batch);
the detector model is vectorised over the whole batch, FastJet clusters all events
of the batch in one call (awkward multi-event API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from dl4hep.generate import detector as det
from dl4hep.generate.detector import DetectorParams, EcalDeposits
from dl4hep.generate.pythia_run import FlatEvents, import_fastjet
from dl4hep.generate.softdrop import softdrop_mass

__all__ = ["PileupPool", "draw_vertices", "reconstruct_batch", "last_copy", "is_b_hadron", "is_c_hadron"]

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


def _p4(pt, eta, phi, mass):
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    return px, py, pz, e


def _jets_from(cs_jets: ak.Array) -> dict[str, np.ndarray]:
    px = ak.to_numpy(ak.flatten(cs_jets.px))
    py = ak.to_numpy(ak.flatten(cs_jets.py))
    pz = ak.to_numpy(ak.flatten(cs_jets.pz))
    e = ak.to_numpy(ak.flatten(cs_jets.E))
    pt, eta, phi = det.pt_eta_phi(px, py, pz)
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
        pt, eta, _ = det.pt_eta_phi(ev.px, ev.py, ev.pz)
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


def reconstruct_batch(
    ev: FlatEvents,
    rng: np.random.Generator,
    p: DetectorParams,
    *,
    process: str,
    match_resonance: int | None | str,
    ecal: bool,
    pool: PileupPool | None = None,
    pileup_mu: float = 0.0,
    max_clusters: int = 4,
    prompt: np.ndarray | None = None,
) -> dict[str, Any]:
    """All output collections of the batch (awkward arrays with one entry per event).

    ``match_resonance``: PDG id of the resonance whose decay quarks define
    FatJet_isMatched, None for QCD (every jet matched), ``"none"`` for no matching.
    ``prompt``: global particle index of the prompt photon/electron per event (ECAL signal).
    """
    fastjet = import_fastjet()
    nev = ev.n_events
    final = (ev.status > 0) & ~np.isin(np.abs(ev.pid), NEUTRINOS)
    fi = np.nonzero(final)[0]
    pf = det.make_pf_candidates(
        rng, p, px=ev.px[fi], py=ev.py[fi], pz=ev.pz[fi], e=ev.e[fi], pdg=ev.pid[fi], charge=ev.charge[fi],
        vx=ev.vx[fi], vy=ev.vy[fi], vz=ev.vz[fi],
    )
    keep = pf.pop("keep")
    pev = ev.event[fi][keep]
    cols = {k: v[keep] for k, v in pf.items()}
    order = np.lexsort((-cols["pt"], pev))
    pev = pev[order]
    cols = {k: v[order] for k, v in cols.items()}
    npf = np.bincount(pev, minlength=nev)
    pf_start = np.concatenate([[0], np.cumsum(npf)])[:-1]
    cpx, cpy, cpz, ce = _p4(cols["pt"], cols["eta"], cols["phi"], cols["mass"])
    out: dict[str, Any] = {}
    f32 = np.float32
    out["PFCands"] = ak.zip({
        "pt": _jag(cols["pt"], npf, f32), "eta": _jag(cols["eta"], npf, f32),
        "phi": _jag(cols["phi"], npf, f32), "mass": _jag(cols["mass"], npf, f32),
        "charge": _jag(cols["charge"], npf, np.int32), "pdgId": _jag(cols["pdgId"], npf, np.int32),
        "d0": _jag(cols["d0"], npf, f32), "d0Err": _jag(cols["d0Err"], npf, f32),
        "dz": _jag(cols["dz"], npf, f32), "dzErr": _jag(cols["dzErr"], npf, f32),
        "puppiWeight": _jag(np.ones(len(pev)), npf, f32),
    })
    # ---- MET
    mex = -np.bincount(pev, weights=cpx, minlength=nev)
    mey = -np.bincount(pev, weights=cpy, minlength=nev)
    out["MET_pt"] = np.hypot(mex, mey).astype(f32)
    out["MET_phi"] = np.arctan2(mey, mex).astype(f32)
    out["MET_sumEt"] = np.bincount(pev, weights=cols["pt"], minlength=nev).astype(f32)
    # ---- leptons
    for name, code, ptmin, etamax, cone, isoname in (
        ("Electron", 11, p.electron_pt_min, p.track_eta_max, 0.3, "pfRelIso03_all"),
        ("Muon", 13, p.muon_pt_min, p.muon_eta_max, 0.4, "pfRelIso04_all"),
    ):
        sel = np.nonzero((np.abs(cols["pdgId"]) == code) & (cols["pt"] > ptmin) & (np.abs(cols["eta"]) < etamax))[0]
        iso = det.relative_isolation(pev[sel], cols["eta"][sel], cols["phi"][sel], cols["pt"][sel], sel,
                                     pev, cols["eta"], cols["phi"], cols["pt"], cone)
        n = np.bincount(pev[sel], minlength=nev)
        out[name] = ak.zip({
            "pt": _jag(cols["pt"][sel], n, f32), "eta": _jag(cols["eta"][sel], n, f32),
            "phi": _jag(cols["phi"][sel], n, f32), "mass": _jag(cols["mass"][sel], n, f32),
            "charge": _jag(cols["charge"][sel], n, np.int32), isoname: _jag(iso, n, f32),
            "dxy": _jag(cols["d0"][sel], n, f32), "dz": _jag(cols["dz"][sel], n, f32),
        })
    # ---- jets (one multi-event FastJet call per radius)
    parts = ak.unflatten(ak.zip({"px": cpx, "py": cpy, "pz": cpz, "E": ce}, with_name="Momentum4D"), npf)
    parts = ak.zip({"px": parts.px, "py": parts.py, "pz": parts.pz, "E": parts.E})
    cs4 = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4))
    j4 = cs4.inclusive_jets(min_pt=p.jet_pt_min)
    jets = _jets_from(j4)
    nj = ak.to_numpy(ak.num(j4)).astype(np.int64)
    jev = np.repeat(np.arange(nev), nj)
    jorder = np.lexsort((-jets["pt"], jev))
    jets = {k: v[jorder] for k, v in jets.items()}
    # hadron flavour: b (c) hadron with pT > 5 GeV within dR < 0.4
    hpt, heta, hphi = det.pt_eta_phi(ev.px, ev.py, ev.pz)
    flav = np.zeros(len(jev), np.int32)
    for code, test in ((4, is_c_hadron), (5, is_b_hadron)):  # b after c: b wins
        h = np.nonzero(test(ev.pid) & (hpt > p.heavy_hadron_pt_min))[0]
        ij, ih = same_event_pairs(jev, ev.event[h])
        ih = h[ih]
        dr2 = (heta[ih] - jets["eta"][ij]) ** 2 + det.delta_phi(hphi[ih], jets["phi"][ij]) ** 2
        flav[_any_per(ij[dr2 < p.hadron_match_dr ** 2], len(jev))] = code
    out["Jet"] = ak.zip({
        "pt": _jag(jets["pt"], nj, f32), "eta": _jag(jets["eta"], nj, f32), "phi": _jag(jets["phi"], nj, f32),
        "mass": _jag(jets["mass"], nj, f32), "btag": _jag(det.btag_decision(rng, p, flav, jets["eta"]), nj, f32),
        "hadronFlavour": _jag(flav, nj, np.int32),
    })
    # ---- large-R jets, constituents, soft drop, truth matching
    cs8 = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8))
    j8 = cs8.inclusive_jets(min_pt=p.fatjet_pt_min)
    c8 = cs8.constituent_index(min_pt=p.fatjet_pt_min)
    fj = _jets_from(j8)
    nfj = ak.to_numpy(ak.num(j8)).astype(np.int64)
    fev = np.repeat(np.arange(nev), nfj)
    forder = np.lexsort((-fj["pt"], fev))
    fj = {k: v[forder] for k, v in fj.items()}
    cons = ak.flatten(c8, axis=1)[forder]  # per jet: local PF indices
    ncons = ak.to_numpy(ak.num(cons)).astype(np.int64)
    cidx = ak.to_numpy(ak.flatten(cons)).astype(np.int64)
    cjet_local = np.concatenate([np.arange(c) for c in nfj]) if len(nfj) and nfj.sum() else np.zeros(0, np.int64)
    msd = np.zeros(len(fev))
    if len(fev):
        gidx = cidx + np.repeat(pf_start[fev], ncons)
        msd = softdrop_mass(np.concatenate([[0], np.cumsum(ncons)]), cpx[gidx], cpy[gidx], cpz[gidx], ce[gidx])
    matched = np.zeros(len(fev), bool)
    if match_resonance is None:
        matched[:] = True
    elif match_resonance != "none" and len(fev):
        rev, prods = resonance_products(ev, int(match_resonance))
        _, qeta, qphi = det.pt_eta_phi(ev.px[prods], ev.py[prods], ev.pz[prods])  # (n_res, k)
        ij, ir = same_event_pairs(fev, rev)
        dr2 = (qeta[ir] - fj["eta"][ij, None]) ** 2 + det.delta_phi(qphi[ir], fj["phi"][ij, None]) ** 2
        matched = _any_per(ij[(dr2 < 0.8 ** 2).all(axis=1)], len(fev))
    out["FatJet"] = ak.zip({
        "pt": _jag(fj["pt"], nfj, f32), "eta": _jag(fj["eta"], nfj, f32), "phi": _jag(fj["phi"], nfj, f32),
        "mass": _jag(fj["mass"], nfj, f32), "msoftdrop": _jag(msd, nfj, f32),
        "isMatched": _jag(matched, nfj, bool),
    })
    ncon_ev = np.bincount(fev, weights=ncons, minlength=nev).astype(np.int64)
    out["FatJetPFCands"] = ak.zip({
        "jetIdx": _jag(np.repeat(cjet_local, ncons), ncon_ev, np.int32),
        "pFCandsIdx": _jag(cidx, ncon_ev, np.int32),
    })
    # ---- ECAL clusters
    out.update(_ecal(ev, rng, p, process=process, ecal=ecal, pool=pool, pileup_mu=pileup_mu,
                     max_clusters=max_clusters, prompt=prompt))
    return out


def _signal_deposits(ev, rng, p, prompt) -> tuple[list[EcalDeposits], np.ndarray, np.ndarray]:
    """ECAL deposits of the hard events (per event) and the impact crystal of each prompt object.

    Every hard event gets its own vertex from :func:`draw_vertices` (as the pileup); the prompt
    object's impact is η_R = asinh(sinh η + z/R) and the bent φ of :func:`detector._bend`.
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
    pt, eta, phi = det.pt_eta_phi(ev.px[prompt], ev.py[prompt], ev.pz[prompt])
    eta_r = np.arcsinh(np.sinh(eta) + vz / p.ecal_radius)
    phib, _ = det._bend(p, phi, pt, ev.charge[prompt])
    return per_event, det._ieta(eta_r), det._iphi(phib)


def _ecal(ev, rng, p, *, process, ecal, pool, pileup_mu, max_clusters, prompt) -> dict[str, Any]:
    nev = ev.n_events
    cl_counts, hit_counts = np.zeros(nev, np.int64), np.zeros(nev, np.int64)
    cl: dict[str, list] = {k: [] for k in ("energy", "eta", "phi", "seedIeta", "seedIphi", "isMatched", "genEnergy")}
    hits: dict[str, list] = {k: [] for k in ("ieta", "iphi", "energy", "time", "clusterIdx")}
    if ecal:
        if process != "pileup_only":
            sig, c_ieta, c_iphi = _signal_deposits(ev, rng, p, np.asarray(prompt, np.int64))
            gen_energy = ev.e[np.asarray(prompt, np.int64)]  # true energy of each event's prompt object
        for i in range(nev):
            pu = pool.overlay(rng, p, pileup_mu) if pool is not None else EcalDeposits()
            if process == "pileup_only":
                deps = pu
                centres = det.find_pileup_seeds(deps, p, max_clusters)
                truth = [False] * len(centres)
            else:
                deps = EcalDeposits.concat([sig[i], pu])
                centres = [(int(c_ieta[i]), int(c_iphi[i]))]
                truth = [True]
            for (ie, ip), tm in zip(centres, truth, strict=False):
                c = det.build_ecal_cluster(rng, p, deps, ie, ip)
                if c is None:
                    continue
                idx = cl_counts[i]
                for key in ("energy", "eta", "phi", "seedIeta", "seedIphi"):
                    cl[key].append(c[key])
                cl["isMatched"].append(tm)
                cl["genEnergy"].append(float(gen_energy[i]) if tm else 0.0)
                nh = len(c["hit_energy"])
                hits["ieta"].append(c["hit_ieta"])
                hits["iphi"].append(c["hit_iphi"])
                hits["energy"].append(c["hit_energy"])
                hits["time"].append(c["hit_time"])
                hits["clusterIdx"].append(np.full(nh, idx, np.int32))
                cl_counts[i] += 1
                hit_counts[i] += nh

    def cat(lst, dtype):
        return np.concatenate(lst).astype(dtype) if lst else np.zeros(0, dtype)

    f32 = np.float32
    return {
        "Cluster": ak.zip({
            "energy": _jag(np.array(cl["energy"], f32), cl_counts, f32),
            "eta": _jag(np.array(cl["eta"], f32), cl_counts, f32),
            "phi": _jag(np.array(cl["phi"], f32), cl_counts, f32),
            "seedIeta": _jag(np.array(cl["seedIeta"], np.int32), cl_counts, np.int32),
            "seedIphi": _jag(np.array(cl["seedIphi"], np.int32), cl_counts, np.int32),
            "isMatched": _jag(np.array(cl["isMatched"], bool), cl_counts, bool),
            "genEnergy": _jag(np.array(cl["genEnergy"], f32), cl_counts, f32),
        }),
        "CaloHit": ak.zip({
            "ieta": _jag(cat(hits["ieta"], np.int32), hit_counts, np.int32),
            "iphi": _jag(cat(hits["iphi"], np.int32), hit_counts, np.int32),
            "energy": _jag(cat(hits["energy"], f32), hit_counts, f32),
            "time": _jag(cat(hits["time"], f32), hit_counts, f32),
            "clusterIdx": _jag(cat(hits["clusterIdx"], np.int32), hit_counts, np.int32),
        }),
    }
