"""End-to-end generation with Pythia 8: schema, reproducibility and physics on numbers.

Small seeded samples are generated once per module (about 1 minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")
uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

from dl4hep.config import load_analysis  # noqa: E402
from dl4hep.generate.api import generate_sample  # noqa: E402

pytestmark = [pytest.mark.generate, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
#: sample -> events generated for the physics checks
EVENTS = {"top": 100, "wqq": 70, "zqq": 70, "qcd": 30, "hww": 150, "ttbar": 150, "photon": 60, "pileup": 30}
TASK_OF = {"top": "jets", "wqq": "jets", "zqq": "jets", "qcd": "jets", "hww": "dilepton", "ttbar": "dilepton",
           "photon": "egamma", "pileup": "egamma"}


@pytest.fixture(scope="module")
def cfg():
    """The mini analysis config (task files are found relative to the repository root)."""
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)
    try:
        return load_analysis("configs/mini.yaml")
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def files(cfg, tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    out = {}
    for i, (sample, n) in enumerate(EVENTS.items()):
        path = d / f"{sample}.root"
        summary = generate_sample(config=cfg, sample=sample, events=n, seed=100 + i, out=path)
        assert summary["events"] == n
        out[sample] = path
    return out


def _events(path):
    with uproot.open(path) as f:
        return f["Events"].arrays()


def test_branches_match_generated_schema(files):
    schema = yaml.safe_load((REPO / "configs" / "inputs" / "generated.yaml").read_text())
    for sample, path in files.items():
        with uproot.open(path) as f:
            keys = set(f[schema["tree"]].keys())
            runs = f[schema["runs"]["tree"]]
            assert set(schema["runs"].values()) - {schema["runs"]["tree"]} <= set(runs.keys())
            r = runs.arrays()
            assert r["genEventCount"][0] == EVENTS[sample]
            assert r["genCrossSection"][0] > 0
            assert r["genEventSumw"][0] == pytest.approx(EVENTS[sample])
        wanted = set(schema["event_id"].values()) | {schema["weight"]}
        for coll in schema["collections"].values():
            wanted |= set(coll["fields"].values())
            if "counter" in coll:
                wanted.add(coll["counter"])
        missing = wanted - keys
        assert not missing, f"{sample}: branches missing: {sorted(missing)}"


def test_same_seed_same_arrays_different_seed_differs(cfg, tmp_path):
    a = tmp_path / "a.root"
    b = tmp_path / "b.root"
    c = tmp_path / "c.root"
    for p, seed in ((a, 5), (b, 5), (c, 6)):
        generate_sample(config=cfg, sample="electron", events=8, seed=seed, out=p)
    ea, eb, ec = _events(a), _events(b), _events(c)
    assert ea.fields == eb.fields
    for field in ea.fields:
        assert ak.all(ak.ravel(ea[field]) == ak.ravel(eb[field])) if len(ak.ravel(ea[field])) else True, field
    assert not np.array_equal(ak.to_numpy(ak.ravel(ea["PFCands_pt"]))[:5], ak.to_numpy(ak.ravel(ec["PFCands_pt"]))[:5])
    assert a.with_name("a.root.provenance.json").exists()


def test_event_ids_unique_and_seeded(files):
    e = _events(files["hww"])
    ev = ak.to_numpy(e["event"])
    assert len(np.unique(ev)) == len(ev)
    assert (ak.to_numpy(e["run"]) == 1).all()


def _matched_mass(path):
    e = _events(path)
    sel = e["FatJet_isMatched"] & (e["FatJet_pt"] > 300)
    return ak.to_numpy(ak.flatten(e["FatJet_mass"][sel])), ak.to_numpy(ak.flatten(e["FatJet_msoftdrop"][sel]))


def test_boosted_jet_masses_peak_at_resonances(files):
    mt, msd_t = _matched_mass(files["top"])
    mw, _ = _matched_mass(files["wqq"])
    mz, _ = _matched_mass(files["zqq"])
    assert len(mt) > 20 and len(mw) > 20 and len(mz) > 20
    assert 140 < np.median(mt) < 200
    assert 140 < np.median(msd_t) < 200
    assert 65 < np.median(mw) < 95
    assert 75 < np.median(mz) < 105
    assert np.median(mz) > np.median(mw) - 2


def test_boosted_jets_in_task_range_and_constituent_links(files):
    e = _events(files["top"])
    pt, eta = ak.flatten(e["FatJet_pt"]), ak.flatten(e["FatJet_eta"])
    in_range = (pt > 500) & (pt < 1000) & (abs(eta) < 2)
    assert ak.sum(in_range) > 0.5 * len(e)
    # constituents: indices valid, and their summed four-momentum reproduces the jet pT
    jidx, cidx = e["FatJetPFCands_jetIdx"], e["FatJetPFCands_pFCandsIdx"]
    assert ak.all(cidx < ak.num(e["PFCands_pt"]))
    assert ak.all(jidx < ak.num(e["FatJet_pt"]))
    i = int(np.argmax(ak.to_numpy(ak.num(e["FatJet_pt"])) > 0))
    sel = cidx[i][jidx[i] == 0]
    cpt, cphi = e["PFCands_pt"][i][sel], e["PFCands_phi"][i][sel]
    px, py = ak.sum(cpt * np.cos(cphi)), ak.sum(cpt * np.sin(cphi))
    assert np.hypot(px, py) == pytest.approx(float(e["FatJet_pt"][i][0]), rel=1e-3)
    q = _events(files["qcd"])
    assert ak.all(ak.flatten(q["FatJet_isMatched"]))


def test_dilepton_mll_and_met_differ_as_expected(files):
    def mll_met(path):
        e = _events(path)
        pts, etas, phis, ms = [], [], [], []
        for c, iso in (("Electron", "pfRelIso03_all"), ("Muon", "pfRelIso04_all")):
            good = (e[f"{c}_pt"] > 10) & (e[f"{c}_{iso}"] < 0.15)
            pts.append(e[f"{c}_pt"][good])
            etas.append(e[f"{c}_eta"][good])
            phis.append(e[f"{c}_phi"][good])
            ms.append(e[f"{c}_mass"][good])
        pt, eta, phi = (ak.concatenate(x, axis=1) for x in (pts, etas, phis))
        order = ak.argsort(pt, ascending=False)
        pt, eta, phi = pt[order], eta[order], phi[order]
        two = ak.num(pt) >= 2
        pt, eta, phi = pt[two], eta[two], phi[two]
        m2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
        return np.sqrt(ak.to_numpy(m2)), ak.to_numpy(e["MET_pt"][two])

    m_h, met_h = mll_met(files["hww"])
    m_t, met_t = mll_met(files["ttbar"])
    assert len(m_h) > 40 and len(m_t) > 40
    assert m_h.mean() < m_t.mean() - 10  # H -> WW*: small opening angle, m_ll < m_H/2
    assert np.mean(m_h < 60) > np.mean(m_t < 60)
    assert met_t.mean() > met_h.mean()


def test_b_jet_tracks_are_displaced(files):
    e = _events(files["top"])
    d0b, d0l = [], []
    for i in range(len(e)):
        jet_eta, jet_phi, flav = (ak.to_numpy(e[k][i]) for k in ("Jet_eta", "Jet_phi", "Jet_hadronFlavour"))
        pf = {k: ak.to_numpy(e[f"PFCands_{k}"][i]) for k in ("eta", "phi", "pt", "charge", "d0")}
        trk = (pf["charge"] != 0) & (pf["pt"] > 1)
        for je, jp, fl in zip(jet_eta, jet_phi, flav, strict=True):
            dphi = (pf["phi"] - jp + np.pi) % (2 * np.pi) - np.pi
            inside = trk & ((pf["eta"] - je) ** 2 + dphi ** 2 < 0.16)
            (d0b if fl == 5 else d0l if fl == 0 else []).extend(np.abs(pf["d0"][inside]).tolist())
    assert len(d0b) > 100 and len(d0l) > 100
    assert np.median(d0b) > 1.5 * np.median(d0l)
    jets_b = ak.flatten(e["Jet_btag"][e["Jet_hadronFlavour"] == 5])
    jets_l = ak.flatten(e["Jet_btag"][e["Jet_hadronFlavour"] == 0])
    assert ak.mean(jets_b) > 0.5 > 0.1 > ak.mean(jets_l)


def _r9(path):
    e = _events(path)
    out = []
    for i in range(len(e)):
        ie, ip, en, ci = (ak.to_numpy(e[f"CaloHit_{k}"][i]) for k in ("ieta", "iphi", "energy", "clusterIdx"))
        for k in range(len(e["Cluster_energy"][i])):
            s_ie, s_ip = int(e["Cluster_seedIeta"][i][k]), int(e["Cluster_seedIphi"][i][k])
            h = ci == k
            dphi = (ip[h] - s_ip + 180) % 360 - 180
            e33 = en[h][(abs(ie[h] - s_ie) <= 1) & (abs(dphi) <= 1)].sum()
            out.append((e33 / en[h].sum(), float(e["Cluster_energy"][i][k]), bool(e["Cluster_isMatched"][i][k])))
    return np.array(out)


def test_photon_clusters_more_compact_than_pileup(files):
    ph = _r9(files["photon"])
    pu = _r9(files["pileup"])
    assert ph[:, 2].all() and not pu[:, 2].any()
    # low-pT prompt photons (pT-hat 5-25 GeV in the egamma task) occasionally leave no cluster
    assert 0.9 * EVENTS["photon"] <= len(ph) <= EVENTS["photon"]
    assert (pu[:, 1] > 5).sum() >= 3  # the task selection 'energy > 5' keeps some pileup clusters
    assert np.median(ph[:, 0]) > np.median(pu[:, 0]) + 0.1
    e = _events(files["photon"])
    assert ak.all(abs(e["Cluster_eta"]) < 1.479)
    assert ak.all(ak.num(e["CaloHit_energy"]) <= 49 * ak.num(e["Cluster_energy"]))


def test_calo_hits_and_seeds_inside_the_barrel(files):
    """ieta = floor(eta/0.0174) of every stored crystal lies in the barrel, [-85, 84] (docs)."""
    for sample in ("photon", "pileup"):
        e = _events(files[sample])
        for branch in ("CaloHit_ieta", "Cluster_seedIeta"):
            ie = ak.to_numpy(ak.flatten(e[branch]))
            assert len(ie) and ie.min() >= -85 and ie.max() <= 84, (sample, branch, ie.min(), ie.max())


def test_pileup_pool_reuse_is_bounded_and_recorded(cfg, tmp_path):
    """200 pileup events at mu = 60 draw about 3 * 60 * 200 = 36000 interactions; with the default
    bound of 100 uses per pool event the pool holds ceil(36000 / 100) = 360 events (the old rule,
    min(300, 2 * 200 + 50) = 300 events, gave 120 uses each)."""
    import json

    out = tmp_path / "pu.root"
    summary = generate_sample(config=cfg, sample="pileup", events=200, seed=21, out=out)
    prov = json.loads(out.with_name("pu.root.provenance.json").read_text())
    pool = prov["summary"]["pileup_pool"]
    assert pool == summary["pileup_pool"]
    assert pool["pool_events"] == 360
    assert pool["interactions_drawn"] == pytest.approx(36000, rel=0.03)  # Poisson: +- 0.5 %
    assert pool["mean_uses_per_pool_event"] == pytest.approx(pool["interactions_drawn"] / 360)
    assert pool["mean_uses_per_pool_event"] < 105


def test_each_chunk_seed_draws_its_own_pileup_pool(cfg):
    from dl4hep.generate.api import EventGenerator
    from dl4hep.generate.processes import parse_generator

    settings = parse_generator({"process": "pileup_only", "pileup_mu": 60}, where="test")
    pools = [EventGenerator(settings, seed=s, com_energy_tev=13.6, events=10).pool for s in (3, 4, 3)]
    assert pools[0].size == pools[1].size == 300  # the floor for small jobs
    np.testing.assert_array_equal(pools[0].e, pools[2].e)  # same seed, same pool
    n = min(len(pools[0].e), len(pools[1].e))
    assert not np.isin(pools[0].e[:n], pools[1].e[:n]).any()  # no particle shared between chunks
