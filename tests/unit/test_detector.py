"""Fast detector model and generator-config validation: no Pythia needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dl4hep.errors import ConfigError, MissingDependencyError
from dl4hep.generate import detector as det
from dl4hep.generate.detector import DetectorParams, EcalDeposits
from dl4hep.generate.processes import PROCESSES, check_generator, parse_generator, pythia_commands

REPO = Path(__file__).resolve().parents[2]
P = DetectorParams()


def _particles(n, pdg, e, eta=0.3, phi=0.2, charge=0, vx=0.0, vy=0.0, vz=0.0):
    pt = e / np.cosh(eta)
    return dict(
        px=np.full(n, pt * np.cos(phi)), py=np.full(n, pt * np.sin(phi)), pz=np.full(n, pt * np.sinh(eta)),
        e=np.full(n, float(e)), pdg=np.full(n, pdg), charge=np.full(n, charge),
        vx=np.full(n, vx), vy=np.full(n, vy), vz=np.full(n, vz),
    )


def test_shower_profile_is_normalised_and_compact():
    u = np.array([0.5, 0.1, 0.9])
    f_em = det.shower_fractions(u, u, np.ones(3, bool), P, 3)
    assert f_em.shape == (3, 7, 7)
    np.testing.assert_allclose(f_em.sum(axis=(1, 2)), 1.0, atol=0.01)
    # central impact: most energy in the 3x3 core (Moliere radius ~ one crystal)
    e3x3 = f_em[0, 2:5, 2:5].sum()
    assert 0.90 < e3x3 < 0.99
    assert f_em[0, 3, 3] > 0.6
    # hadronic showers are wider
    f_had = det.shower_fractions(u, u, np.zeros(3, bool), P, 3)
    assert f_had[0, 2:5, 2:5].sum() < e3x3 - 0.2
    # a full 11x11 block contains essentially everything
    assert det.shower_fractions(u, u, np.ones(3, bool), P, 5).sum(axis=(1, 2)).min() > 0.999


def test_impact_parameters_geometry():
    # vertex at x = 1 mm, track along +y: d0 = x sin(phi) = 0.1 cm; dz unchanged for eta = 0
    d0, dz = det.impact_parameters(np.array([0.1]), np.array([0.0]), np.array([0.5]),
                                   np.array([np.pi / 2]), np.array([0.0]))
    assert d0[0] == pytest.approx(0.1)
    assert dz[0] == pytest.approx(0.5)
    # track pointing away radially from the vertex: d0 = 0, dz = z - r sinh(eta)
    d0, dz = det.impact_parameters(np.array([0.1]), np.array([0.0]), np.array([0.0]),
                                   np.array([0.0]), np.array([1.0]))
    assert d0[0] == pytest.approx(0.0, abs=1e-12)
    assert dz[0] == pytest.approx(-0.1 * np.sinh(1.0))


def test_photon_energy_resolution_and_pf_types():
    rng = np.random.default_rng(1)
    pp = _particles(20000, 22, 100.0)
    pf = det.make_pf_candidates(rng, P, **pp)
    assert pf["keep"].all()
    assert set(np.unique(pf["pdgId"])) == {22}
    pt_true = 100.0 / np.cosh(0.3)
    rel = np.std(pf["pt"] / pt_true)
    expect = np.sqrt(P.em_res_a ** 2 / 100 + P.em_res_c ** 2)
    assert rel == pytest.approx(expect, rel=0.05)
    assert (pf["charge"] == 0).all() and (pf["d0Err"] == 0).all()


def test_track_efficiency_resolution_and_displacement():
    rng = np.random.default_rng(2)
    n = 40000
    pp = _particles(n, 211, 20.0, charge=1, vx=0.05)  # 0.5 mm displaced production vertex
    pf = det.make_pf_candidates(rng, P, **pp)
    k = pf["keep"] & (pf["charge"] != 0)  # tracks; lost tracks become neutral calorimeter candidates
    assert k.mean() == pytest.approx(P.track_eff_high, abs=0.005)
    assert set(np.unique(pf["pdgId"][k])) == {211}
    assert (pf["charge"][k] == 1).all()
    pt_true = 20.0 / np.cosh(0.3)
    assert np.std(pf["pt"][k] / pt_true) == pytest.approx(np.hypot(P.track_pt_res_a, P.track_pt_res_b * pt_true),
                                                          rel=0.05)
    d0_true = 0.05 * np.sin(0.2)
    assert np.mean(pf["d0"][k]) == pytest.approx(d0_true, abs=2e-4)
    assert np.std(pf["d0"][k]) == pytest.approx(pf["d0Err"][k][0], rel=0.05)
    # soft tracks have worse impact-parameter resolution; neutral hadrons become 130
    soft = det.make_pf_candidates(rng, P, **_particles(10, 211, 1.2, charge=-1))
    assert soft["d0Err"][soft["keep"]].min() > pf["d0Err"][k].max()
    nh = det.make_pf_candidates(rng, P, **_particles(10, 2112, 30.0))
    assert set(np.unique(nh["pdgId"])) == {130}
    mu = det.make_pf_candidates(rng, P, **_particles(5000, -13, 30.0, charge=1))
    assert set(np.unique(mu["pdgId"][mu["keep"]])) == {-13}


def test_btag_rates():
    rng = np.random.default_rng(3)
    for flav, eff in ((5, P.btag_eff_b), (4, P.btag_eff_c), (0, P.btag_eff_light)):
        tag = det.btag_decision(rng, P, np.full(50000, flav), np.zeros(50000))
        assert set(np.unique(tag)) <= {0.0, 1.0}
        assert tag.mean() == pytest.approx(eff, abs=0.01)


def test_relative_isolation():
    ev = np.array([0, 0, 0, 1])
    eta = np.array([0.0, 0.1, 1.0, 0.0])
    phi = np.zeros(4)
    pt = np.array([50.0, 5.0, 10.0, 20.0])
    iso = det.relative_isolation(np.array([0, 1]), eta[[0, 3]], phi[[0, 3]], pt[[0, 3]], np.array([0, 3]),
                                 ev, eta, phi, pt, 0.3)
    np.testing.assert_allclose(iso, [0.1, 0.0])


def test_single_photon_cluster_energy_and_hits():
    rng = np.random.default_rng(4)
    dep = EcalDeposits(eta=np.array([0.5]), phi=np.array([1.0]), energy=np.array([50.0]),
                       time=np.zeros(1), em=np.ones(1, bool))
    ie, ip = int(np.floor(0.5 / det.DETA)), int(np.floor(1.0 / det.DPHI))
    es = []
    for _ in range(200):
        c = det.build_ecal_cluster(rng, P, dep, ie, ip)
        es.append(c["energy"])
    assert np.mean(es) == pytest.approx(50.0 * 0.995, rel=0.01)
    assert np.std(es) / 50 < 0.015
    assert len(c["hit_energy"]) <= P.ecal_window ** 2
    assert c["seedIeta"] == ie and c["seedIphi"] == ip
    assert abs(c["eta"] - 0.5) < det.DETA and abs(c["phi"] - 1.0) < det.DPHI
    seed = np.argmax(c["hit_energy"])
    assert abs(c["hit_time"][seed]) < 0.5  # high-energy crystal: sub-ns timing
    soft = c["hit_energy"] < 0.3
    assert np.std(c["hit_time"][soft]) > 1.0  # low-energy crystals: noise-dominated timing


def test_ecal_deposits_bending_and_seeds():
    rng = np.random.default_rng(5)
    # a 0.5 GeV charged pion curls up before the ECAL; a 30 GeV photon reaches it
    pp = _particles(1, 211, 0.5, eta=0.0, charge=1)
    pp.pop("vx"), pp.pop("vy"), pp.pop("vz")
    assert len(det.ecal_deposits(rng, P, **pp)) == 0
    ph = _particles(1, 22, 30.0, eta=0.2)
    for k in ("vx", "vy", "vz"):
        ph.pop(k)
    dep = det.ecal_deposits(rng, replace_conv(P), **ph)
    assert dep.energy.sum() == pytest.approx(30.0)
    seeds = det.find_pileup_seeds(dep, P, 4)
    assert len(seeds) == 1
    assert abs(seeds[0][0] - np.floor(0.2 / det.DETA)) <= 1


def replace_conv(p):
    return p.with_overrides({"conversion_prob": 0.0})


# ---------------------------------------------------------------- configuration

def test_all_task_generator_blocks_validate():
    for path in sorted((REPO / "configs" / "tasks").glob("*.yaml")):
        task = yaml.safe_load(path.read_text())
        for name, sample in task["samples"].items():
            if sample.get("generator"):
                s = parse_generator(sample["generator"], where=f"{path.stem}.samples.{name}.generator")
                assert pythia_commands(s) is not None


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_process_has_pythia_commands(name):
    s = parse_generator({"process": name}, where="x")
    cmds = pythia_commands(s)
    assert isinstance(cmds, list)
    if name != "pileup_only":
        assert any("= on" in c for c in cmds)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_process_declares_what_the_generator_reads(name):
    """The ClassVars agree with the fields the generator then reads (driven by the registry)."""
    cls = PROCESSES.get(name)
    s = parse_generator({"process": name}, where="x")
    assert cls.name == name == s.process
    assert isinstance(cls.ecal, bool) and isinstance(cls.hard_process, bool)
    if cls.ecal:  # the pileup overlay settings
        assert {"pileup_mu", "pool_size", "pool_max_reuse"} <= set(cls.model_fields)
    if cls.prompt_pdg is not None:  # the barrel filter
        assert cls.ecal and cls.hard_process and "eta_max" in cls.model_fields
    if not cls.hard_process:  # pileup only: no Pythia hard process, clusters seeded on pileup
        assert cls.ecal and pythia_commands(s) == [] and "max_clusters" in cls.model_fields
    assert cls.match_resonance in (None, "none") or cls.match_resonance in (6, 23, 24, 25)


def test_a_new_process_is_one_registered_class():
    from typing import ClassVar, Literal

    from dl4hep.generate.processes import Process, register_process

    @register_process
    class ToyZ(Process):
        match_resonance: ClassVar[int | None | Literal["none"]] = 23
        process: Literal["toy_z"]
        mass: float = 91.0

        def pythia_commands(self) -> list[str]:
            return ["WeakSingleBoson:ffbar2gmZ = on", f"23:m0 = {self.mass}"]

    try:
        s = parse_generator({"process": "toy_z", "mass": 90}, where="x")
        assert isinstance(s, ToyZ) and pythia_commands(s) == ["WeakSingleBoson:ffbar2gmZ = on", "23:m0 = 90.0"]
        assert "toy_z" in PROCESSES and ToyZ.name == "toy_z"
        with pytest.raises(ConfigError, match=r"unknown key 'x\.mas'\. Did you mean 'mass'\?"):
            check_generator({"process": "toy_z", "mas": 90}, where="x")
    finally:
        PROCESSES.unregister("toy_z")
    with pytest.raises(ConfigError, match="unknown generator process 'toy_z'"):
        check_generator({"process": "toy_z"}, where="x")


def test_bad_generator_settings_name_where_and_suggest():
    with pytest.raises(ConfigError, match=r"tasks\.jets\.samples\.top\.generator.*ttbar_hadronic"):
        check_generator({"process": "ttbar_hadronc"}, where="tasks.jets.samples.top.generator")
    with pytest.raises(ConfigError, match=r"pthat_mn.*pthat_min"):
        check_generator({"process": "qcd_dijet", "pthat_mn": 3}, where="w")
    with pytest.raises(ConfigError, match="pthat_max"):
        check_generator({"process": "qcd_dijet", "pthat_min": 500, "pthat_max": 400}, where="w")
    with pytest.raises(ConfigError, match="pileup_mu"):
        check_generator({"process": "qcd_dijet", "pileup_mu": 20}, where="w")
    with pytest.raises(ConfigError, match="btag_eff_b"):
        check_generator({"process": "qcd_dijet", "detector": {"btag_eff": 0.7}}, where="w")
    with pytest.raises(ConfigError, match="process"):
        check_generator({"pthat_min": 3}, where="w")


def test_processes_module_is_pythia_and_torch_free():
    code = ("import sys, dl4hep.generate.processes as p; p.check_generator({'process': 'h_bb'}, where='x'); "
            "bad = [m for m in ('pythia8mc', 'pythia8', 'torch', 'fastjet') if m in sys.modules]; "
            "print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_pythia_gives_install_command(monkeypatch):
    from dl4hep.generate import pythia_run

    monkeypatch.setitem(sys.modules, "pythia8mc", None)
    monkeypatch.setitem(sys.modules, "pythia8", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'dl4hep\[generate\]'"):
        pythia_run.import_pythia()


def test_same_event_pairs_matches_brute_force():
    from dl4hep.generate.events import same_event_pairs

    rng = np.random.default_rng(4)
    a = rng.integers(0, 6, 40)  # unsorted
    b = np.sort(rng.integers(0, 6, 25))
    ia, ib = same_event_pairs(a, b)
    want = {(i, j) for i in range(len(a)) for j in range(len(b)) if a[i] == b[j]}
    assert set(zip(ia.tolist(), ib.tolist(), strict=True)) == want
    assert len(ia) == len(want)  # no duplicates
    assert same_event_pairs(a, b[:0])[0].size == 0


def test_top_decay_products_from_a_hand_built_record():
    """Two events: t -> b W+ (W+ -> u d~ after a recoil copy); t~ -> W- b~ with an extra gluon."""
    from dl4hep.generate.events import resonance_products
    from dl4hep.generate.pythia_run import FlatEvents

    # event 0: 0 t, 1 b, 2 W, 3 W (copy), 4 u, 5 d~ | event 1: 6 t~, 7 W-, 8 b~, 9 g, 10 d, 11 u~
    pid = np.array([6, 5, 24, 24, 2, -1, -6, -24, -5, 21, 1, -2])
    d1 = np.array([1, -1, 3, 4, -1, -1, 7, 10, -1, -1, -1, -1])
    d2 = np.array([2, -1, 3, 5, -1, -1, 9, 11, -1, -1, -1, -1])
    n = len(pid)
    z = np.zeros(n)
    ev = FlatEvents(
        n_events=2, offsets=np.array([0, 6]), event=np.repeat([0, 1], 6), pid=pid, status=np.ones(n, int),
        mother1=np.full(n, -1), daughter1=d1, daughter2=d2, px=z, py=z, pz=z, e=z, vx=z, vy=z, vz=z,
        charge=z, weight=np.ones(2),
    )
    events, prods = resonance_products(ev, 6)
    assert events.tolist() == [0, 1]
    assert prods.tolist() == [[1, 4, 5], [8, 10, 11]]


def test_generate_stage_face_exports_the_entry_lazily():
    import dl4hep.generate
    from dl4hep.generate import api

    assert dl4hep.generate.generate_sample is api.generate_sample
    code = "import sys, dl4hep.generate; assert not {'awkward', 'numpy', 'uproot'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
