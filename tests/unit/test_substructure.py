"""N-subjettiness on jets with one and three hard, well separated prongs."""

import warnings

import awkward as ak
import numpy as np
import pytest
import vector

from dl4hep.features.sets.jet_substructure import nsubjettiness


def _jet(prongs, rng, per=6):
    parts = []
    for pt, eta, phi in prongs:
        for _ in range(per):
            parts.append({"pt": pt / per, "eta": eta + rng.normal(0, 0.01), "phi": phi + rng.normal(0, 0.01),
                          "mass": 0.0})
    return parts


def test_one_and_three_prong_tau():
    rng = np.random.default_rng(3)
    one = _jet([(500, 0.0, 0.0)], rng)
    three = _jet([(300, 0.0, 0.0), (250, 0.4, 0.2), (200, -0.2, 0.45)], rng)
    cons = ak.with_name(ak.Array([one, three]), "Momentum4D")
    jets = ak.with_name(ak.Array([{"pt": 500.0, "eta": 0.0, "phi": 0.0, "mass": 1.0},
                                  {"pt": 700.0, "eta": 0.05, "phi": 0.2, "mass": 150.0}]), "Momentum4D")
    tau = nsubjettiness(cons, jets)
    t1, t2, t3 = tau[1], tau[2], tau[3]
    assert t1[0] < 0.05  # one prong: tau1 ~ prong width (0.014) / R0
    assert t3[1] / t2[1] < 0.2  # three prongs: tau32 small
    assert t2[1] / t1[1] > 0.4  # ... and tau21 large
    assert t1[1] > 5 * t1[0]
    assert np.all(t3 <= t2 + 1e-9) and np.all(t2 <= t1 + 1e-9)


def test_jets_with_fewer_particles_than_axes():
    cons = ak.with_name(ak.Array([[{"pt": 100.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}], []]), "Momentum4D")
    jets = ak.with_name(ak.Array([{"pt": 100.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}] * 2), "Momentum4D")
    tau = nsubjettiness(cons, jets)
    assert tau[3][0] < 1e-6 and np.isnan(tau[1][1])


def _tau_reference(parts, jet, n_axes, R0=0.8):
    """τ_N of one jet by itself: its own FastJet sequence (ghosts only below N particles), loops over
    ΔR in (rapidity, φ)."""
    import fastjet

    pt, eta, phi, m = (np.array([p[k] for p in parts], float) for k in ("pt", "eta", "phi", "mass"))
    if len(parts) < 3:
        k = np.arange(1, 4) * 1e-3
        pt, eta, phi, m = (np.append(a, b) for a, b in zip((pt, eta, phi, m), (np.full(3, 1e-8), jet["eta"] + k,
                                                                               jet["phi"] + k, np.zeros(3)), strict=True))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    y = 0.5 * np.log((e + pz) / (e - pz))  # rapidity
    event = ak.Array([[{"px": a, "py": b, "pz": c, "E": d} for a, b, c, d in zip(px, py, pz, e, strict=True)]])
    seq = fastjet.ClusterSequence(event, fastjet.JetDefinition(fastjet.kt_algorithm, 10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fastjet's generic exclusive-jets advisory
        axes = seq.exclusive_jets(n_jets=n_axes)[0]
    a_y = [0.5 * np.log((a.E + a.pz) / (a.E - a.pz)) for a in axes]
    a_phi = [np.arctan2(a.py, a.px) for a in axes]
    n = len(parts)
    total = 0.0
    for i in range(n):
        dr = [np.hypot(y[i] - ay, (phi[i] - ap + np.pi) % (2 * np.pi) - np.pi) for ay, ap in zip(a_y, a_phi, strict=True)]
        total += pt[i] * min(dr)
    return total / (pt[:n].sum() * R0)


def test_batched_tau_matches_per_jet_fastjet():
    """One multi-jet FastJet call + flat sums == each jet on its own, incl. jets across φ = ±π and small jets."""
    rng = np.random.default_rng(5)
    jets, cons = [], []
    for phi0, n in ((np.pi - 0.05, 20), (-np.pi + 0.02, 9), (0.3, 40), (3.0, 2), (-1.0, 1)):
        eta0 = rng.normal()
        parts = [{"pt": float(rng.exponential(20)), "eta": float(eta0 + rng.normal(0, 0.3)),
                  "phi": float(np.mod(phi0 + rng.normal(0, 0.3) + np.pi, 2 * np.pi) - np.pi), "mass": 0.14}
                 for _ in range(n)]
        cons.append(parts)
        jets.append({"pt": 100.0, "eta": float(eta0), "phi": float(phi0), "mass": 10.0})
    tau = nsubjettiness(ak.with_name(ak.Array(cons), "Momentum4D"), ak.with_name(ak.Array(jets), "Momentum4D"))
    for j, (parts, jet) in enumerate(zip(cons, jets, strict=True)):
        for n_axes in (1, 2, 3):
            assert tau[n_axes][j] == pytest.approx(_tau_reference(parts, jet, n_axes), rel=1e-9, abs=1e-12)


def _brute_force_tau(parts, n_axes, R0=0.8, distance="deltaRapidityPhi"):
    """τ_N straight from Thaler & Van Tilburg (arXiv:1011.2268) with fjcontrib's exclusive-kT axes,
    without FastJet and without the module's code: ``vector`` four-vectors, axes by merging the pair
    with the smallest d_ij = min(p_T,i², p_T,j²) ΔR_ij² (E scheme) until N remain (kT with R = 10:
    no beam recombination happens before), ΔR in (y, φ) (``deltaRapidityPhi``) everywhere.
    ``distance="deltaR"`` measures the constituent-axis distances in (η, φ) instead (the old definition)."""
    ps = [vector.obj(pt=p["pt"], eta=p["eta"], phi=p["phi"], mass=p["mass"]) for p in parts]
    axes = list(ps)
    while len(axes) > n_axes:
        _, i, j = min((min(a.pt, b.pt) ** 2 * a.deltaRapidityPhi(b) ** 2, i, j)
                      for i, a in enumerate(axes) for j, b in enumerate(axes) if i < j)
        axes = [a for k, a in enumerate(axes) if k not in (i, j)] + [axes[i] + axes[j]]
    num = sum(p.pt * min(getattr(p, distance)(a) for a in axes) for p in ps)
    return num / (sum(p.pt for p in ps) * R0)


def test_tau_uses_rapidity_against_brute_force():
    """D8: massive constituents (m ~ p_T) and massive axes, where y differs from η by up to ~0.4."""
    rng = np.random.default_rng(8)
    jets, cons = [], []
    for eta0, phi0, n in ((1.3, np.pi - 0.1, 14), (-0.8, 0.5, 10), (0.2, -2.0, 18), (-1.6, -np.pi + 0.05, 8)):
        pt = rng.exponential(15.0, n) + 2.0
        cons.append([{"pt": float(a), "eta": float(eta0 + rng.normal(0, 0.35)),
                      "phi": float(np.mod(phi0 + rng.normal(0, 0.35) + np.pi, 2 * np.pi) - np.pi),
                      "mass": float(m)} for a, m in zip(pt, rng.uniform(0.5, 1.5, n) * pt, strict=True)])
        jets.append({"pt": float(pt.sum()), "eta": eta0, "phi": phi0, "mass": 50.0})
    tau = nsubjettiness(ak.with_name(ak.Array(cons), "Momentum4D"), ak.with_name(ak.Array(jets), "Momentum4D"))
    worst = 0.0
    for j, parts in enumerate(cons):
        for n_axes in (1, 2, 3):
            ref = _brute_force_tau(parts, n_axes)
            assert tau[n_axes][j] == pytest.approx(ref, rel=1e-9), (j, n_axes)
            worst = max(worst, abs(_brute_force_tau(parts, n_axes, distance="deltaR") / ref - 1))
    assert worst > 0.05  # the (η, φ) distance differs: the check above can tell the two apart


def test_tau_of_jets_larger_than_the_compiled_stride_matches_per_jet_fastjet():
    """A chunk with a jet of more than ``CAP`` constituents takes the run-time-stride τ kernel; there
    too every τ_N, of the large jet and of small ones (one with ghosts), equals the per-jet FastJet
    reference."""
    pytest.importorskip("fastjet")
    from dl4hep.features.exclusive_kt import CAP

    rng = np.random.default_rng(17)
    jets, cons = [], []
    for n in (CAP + 40, 25, 2):
        parts = [{"pt": float(rng.exponential(8.0) + 0.2), "eta": float(rng.normal(0.4, 0.3)),
                  "phi": float(rng.normal(-3.0, 0.3)), "mass": float(rng.uniform(0.0, 0.5))} for _ in range(n)]
        parts = [{**p, "phi": float(np.mod(p["phi"] + np.pi, 2 * np.pi) - np.pi)} for p in parts]
        cons.append(parts)
        jets.append({"pt": 300.0, "eta": 0.4, "phi": -3.0, "mass": 80.0})
    tau = nsubjettiness(ak.with_name(ak.Array(cons), "Momentum4D"), ak.with_name(ak.Array(jets), "Momentum4D"))
    for j, (parts, jet) in enumerate(zip(cons, jets, strict=True)):
        for n_axes in (1, 2, 3):
            assert tau[n_axes][j] == pytest.approx(_tau_reference(parts, jet, n_axes), rel=1e-9, abs=1e-12)


def test_link_columns_equal_the_awkward_constituents():
    """The flat columns of ``link_columns`` are the flattened ``link_constituents`` records, same order."""
    from dl4hep.features.jets import link_columns, link_constituents
    from dl4hep.features.sets import jet_substructure as js
    from dl4hep.io.reader import ChunkReader
    from dl4hep.io.schema import load_input_schema
    from tests.paths import REPO

    for path, name in ((REPO / "data" / "mini_top.root", "generated"), (REPO / "tests" / "data" / "pfnano.root", "pfnano")):
        schema = load_input_schema(name, config_dir=REPO / "configs", where="test")
        for chunk in ChunkReader(path, schema, js.needs(js.Options()), step_size=100_000):
            jets, cons, event_index = link_constituents(chunk)
            jets2, cols, counts, event_index2 = link_columns(chunk, ("pt", "eta", "phi", "mass"))
            np.testing.assert_array_equal(counts, ak.to_numpy(ak.num(cons, axis=1)))
            np.testing.assert_array_equal(event_index2, event_index)
            assert ak.array_equal(jets2, jets)
            flat = ak.flatten(cons)
            for k, v in cols.items():
                np.testing.assert_array_equal(v, ak.to_numpy(flat[k]))
