"""Seeded tiny ROOT ntuples in the generated-schema layout (written with mktree/extend)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from tests.paths import REAL_DATA

REAL = REAL_DATA


def _coll(rng: np.random.Generator, counts: np.ndarray, fields: dict) -> ak.Array:
    n = int(counts.sum())
    return ak.unflatten(ak.zip({k: f(rng, n) for k, f in fields.items()}), counts)


def generated_events(n_events: int, seed: int = 1) -> dict[str, ak.Array]:
    rng = np.random.default_rng(seed)
    pt = lambda lo, hi: (lambda r, n: r.uniform(lo, hi, n).astype(np.float32))  # noqa: E731
    eta = lambda r, n: r.uniform(-2.4, 2.4, n).astype(np.float32)  # noqa: E731
    phi = lambda r, n: r.uniform(-np.pi, np.pi, n).astype(np.float32)  # noqa: E731
    const = lambda v, dt=np.float32: (lambda r, n: np.full(n, v, dt))  # noqa: E731
    lep = {"pt": pt(10, 100), "eta": eta, "phi": phi, "mass": const(0.000511),
           "charge": lambda r, n: r.choice([-1, 1], n).astype(np.int32),
           "pfRelIso03_all": lambda r, n: r.uniform(0, 0.3, n).astype(np.float32),
           "dxy": const(0.0), "dz": const(0.0)}
    mu = {**lep, "mass": const(0.1057)}
    mu["pfRelIso04_all"] = mu.pop("pfRelIso03_all")
    n_fj = rng.integers(0, 3, n_events)
    n_pf = rng.integers(5, 40, n_events)
    # each fat jet takes up to 8 candidates of its event
    jet_idx, cand_idx, n_link = [], [], []
    for nj, nc in zip(n_fj, n_pf, strict=True):
        links = [(j, c) for j in range(nj) for c in range(j * 8, min(nc, j * 8 + 8))]
        n_link.append(len(links))
        jet_idx += [lk[0] for lk in links]
        cand_idx += [lk[1] for lk in links]
    n_cl = rng.integers(0, 3, n_events)
    n_hit = n_cl * 9
    ev = {
        "run": np.ones(n_events, np.uint32), "luminosityBlock": np.ones(n_events, np.uint32),
        "event": np.arange(n_events, dtype=np.uint64) + 1000 * seed,
        "genWeight": np.ones(n_events, np.float32),
        "Electron": _coll(rng, rng.integers(0, 3, n_events), lep),
        "Muon": _coll(rng, rng.integers(0, 3, n_events), mu),
        "Jet": _coll(rng, rng.integers(0, 6, n_events), {"pt": pt(20, 300), "eta": eta, "phi": phi,
                     "mass": pt(5, 20), "btag": lambda r, n: r.integers(0, 2, n).astype(np.float32),
                     "hadronFlavour": lambda r, n: r.integers(0, 6, n).astype(np.int32)}),
        "MET_pt": rng.uniform(0, 100, n_events).astype(np.float32),
        "MET_phi": rng.uniform(-np.pi, np.pi, n_events).astype(np.float32),
        "MET_sumEt": rng.uniform(100, 500, n_events).astype(np.float32),
        "FatJet": _coll(rng, n_fj, {"pt": pt(300, 1200), "eta": eta, "phi": phi, "mass": pt(20, 200),
                        "msoftdrop": pt(10, 150), "isMatched": lambda r, n: r.random(n) < 0.5}),
        "PFCands": _coll(rng, n_pf, {"pt": pt(1, 100), "eta": eta, "phi": phi, "mass": const(0.1396),
                         "charge": lambda r, n: r.choice([-1, 0, 1], n).astype(np.int32),
                         "pdgId": lambda r, n: r.choice([211, -211, 130, 22, 11, -13], n).astype(np.int32),
                         "d0": const(0.01), "d0Err": const(0.005), "dz": const(0.02), "dzErr": const(0.01),
                         "puppiWeight": const(1.0)}),
        "FatJetPFCands": ak.unflatten(ak.zip({"jetIdx": np.array(jet_idx, np.int32),
                                              "pFCandsIdx": np.array(cand_idx, np.int32)}), np.array(n_link)),
        "Cluster": _coll(rng, n_cl, {"energy": pt(2, 50), "eta": lambda r, n: r.uniform(-1.4, 1.4, n).astype(np.float32),
                         "phi": phi, "seedIeta": const(10, np.int32), "seedIphi": const(10, np.int32),
                         "isMatched": lambda r, n: r.random(n) < 0.5, "genEnergy": const(20.0)}),
    }
    # 3x3 hits around (10, 10) for each cluster
    ci = np.concatenate([np.repeat(np.arange(k), 9) for k in n_cl]) if n_cl.sum() else np.zeros(0)
    grid = np.tile(np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]), (int(n_cl.sum()), 1))
    nh = int(n_hit.sum())
    ev["CaloHit"] = ak.unflatten(ak.zip({
        "ieta": (10 + grid[:, 0]).astype(np.int32), "iphi": (10 + grid[:, 1]).astype(np.int32),
        "energy": rng.uniform(0.05, 5, nh).astype(np.float32), "time": rng.normal(0, 1, nh).astype(np.float32),
        "clusterIdx": ci.astype(np.int32)}), n_hit)
    return ev


def write_generated(path: Path, n_events: int = 40, seed: int = 1, repeat: int = 1) -> Path:
    """Write ``repeat`` copies of a seeded block of ``n_events`` events into tree ``Events``."""
    ev = generated_events(n_events, seed)
    with uproot.recreate(path) as f:
        types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in ev.items()}
        f.mktree("Events", types)
        for _ in range(repeat):
            f["Events"].extend(ev)
    return path
