"""N-subjettiness on jets with one and three hard, well separated prongs."""

import warnings

import awkward as ak
import numpy as np
import pytest

from dl4hep.features.jet_substructure import nsubjettiness


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
    """τ_N of one jet by itself: its own FastJet sequence (ghosts only below N particles), loops over ΔR."""
    import fastjet

    pt, eta, phi, m = (np.array([p[k] for p in parts], float) for k in ("pt", "eta", "phi", "mass"))
    if len(parts) < 3:
        k = np.arange(1, 4) * 1e-3
        pt, eta, phi, m = (np.append(a, b) for a, b in zip((pt, eta, phi, m), (np.full(3, 1e-8), jet["eta"] + k,
                                                                               jet["phi"] + k, np.zeros(3)), strict=True))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    event = ak.Array([[{"px": a, "py": b, "pz": c, "E": np.sqrt(a * a + b * b + c * c + d * d)}
                       for a, b, c, d in zip(px, py, pz, m, strict=True)]])
    seq = fastjet.ClusterSequence(event, fastjet.JetDefinition(fastjet.kt_algorithm, 10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fastjet's generic exclusive-jets advisory
        axes = seq.exclusive_jets(n_jets=n_axes)[0]
    a_eta = [np.arcsinh(a.pz / np.hypot(a.px, a.py)) for a in axes]
    a_phi = [np.arctan2(a.py, a.px) for a in axes]
    n = len(parts)
    total = 0.0
    for i in range(n):
        dr = [np.hypot(eta[i] - ae, (phi[i] - ap + np.pi) % (2 * np.pi) - np.pi) for ae, ap in zip(a_eta, a_phi, strict=True)]
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
