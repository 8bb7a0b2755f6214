"""N-subjettiness on jets with one and three hard, well separated prongs."""

import awkward as ak
import numpy as np

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
