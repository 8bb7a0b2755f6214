"""The compiled exclusive-kT axes against FastJet (mini and real files) and a brute-force clustering,
and τ_N of the feature set against a per-jet FastJet reference on the same files."""

import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from dl4hep.features.base import cartesian
from dl4hep.features.exclusive_kt import exclusive_axes, kinematics
from dl4hep.features.jets import link_constituents
from dl4hep.features.sets import jet_substructure as js
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import load_input_schema
from tests.paths import REPO

MINI = [REPO / "data" / f"mini_{s}.root" for s in ("qcd", "top", "hbb", "wqq", "zqq")]
PFNANO = REPO / "tests" / "data" / "pfnano.root"


def _chunks(path: Path, schema_name: str):
    schema = load_input_schema(schema_name, config_dir=REPO / "configs", where="test")
    opts = js.Options()
    return list(ChunkReader(path, schema, js.needs(opts), step_size=100_000))


def _jets_p4(chunk):
    """Flat constituent four-vectors (float64) and counts of the chunk's jets with >= 3 constituents."""
    jets, cons, _ = link_constituents(chunk)
    counts = ak.to_numpy(ak.num(cons, axis=1))
    cons = cons[counts >= 3]
    flat = ak.flatten(cons)
    p4 = cartesian(*(ak.to_numpy(flat[k]).astype(np.float64) for k in ("pt", "eta", "phi", "mass")))
    return p4, counts[counts >= 3]


def _fastjet_axes(p4, counts, n):
    fastjet = pytest.importorskip("fastjet")
    parts = ak.unflatten(ak.zip({k: p4[k] for k in ("px", "py", "pz", "E")}), counts)
    jet_def = fastjet.JetDefinition(fastjet.kt_algorithm, 10.0, fastjet.N2Plain, fastjet.E_scheme)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        axes = fastjet.ClusterSequence(parts, jet_def).exclusive_jets(n_jets=n)
    return np.stack(
        [ak.to_numpy(ak.flatten(axes[k])).reshape(-1, n) for k in ("px", "py", "pz", "E")], axis=-1
    )


def _by_energy(axes):
    return np.take_along_axis(axes, np.argsort(axes[..., 3], axis=1)[..., None], axis=1)


@pytest.mark.parametrize(
    "path,schema",
    [(p, "generated") for p in MINI] + [(PFNANO, "pfnano")],
    ids=lambda x: getattr(x, "stem", x),
)
def test_axes_equal_fastjet_on_files(path, schema):
    """Every jet of the mini files and the real PFNano file: the same N = 1, 2, 3 exclusive-kT axes."""
    n_jets = 0
    for chunk in _chunks(path, schema):
        p4, counts = _jets_p4(chunk)
        if len(counts) == 0:
            continue
        n_jets += len(counts)
        ours = exclusive_axes(p4["px"], p4["py"], p4["pz"], p4["E"], counts, 3)
        for n in (1, 2, 3):
            ref = _by_energy(_fastjet_axes(p4, counts, n))
            got = _by_energy(ours[:, n * (n - 1) // 2 : n * (n + 1) // 2])
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9 * np.max(np.abs(ref)))
    assert n_jets > 10


def _brute_force_axes(p4, n_axes):
    """kT exclusive clustering by the definition: merge the pair with the smallest
    min(kT_i², kT_j²) ΔR²_ij (E scheme, y and φ as in FastJet's PseudoJet) until n_axes remain.
    Written without the module's code, O(n³)."""
    parts = [np.array([p4[k][i] for k in ("px", "py", "pz", "E")]) for i in range(len(p4["px"]))]

    def y_phi_kt2(p):
        kt2, phi, rap = kinematics(*(np.array([v]) for v in p))
        return rap[0], phi[0], kt2[0]

    while len(parts) > n_axes:
        best = None
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                (yi, fi, ki), (yj, fj, kj) = y_phi_kt2(parts[i]), y_phi_kt2(parts[j])
                dphi = min(abs(fi - fj), 2 * np.pi - abs(fi - fj))
                d = min(ki, kj) * ((yi - yj) ** 2 + dphi**2)
                if best is None or d < best[0]:
                    best = (d, i, j)
        _, i, j = best
        parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [parts[i] + parts[j]]
    return np.array(sorted(parts, key=lambda p: p[3]))


def test_axes_equal_brute_force_on_random_jets():
    """Jets of 3-13 particles, some across φ = 0 (FastJet's φ ∈ [0, 2π) wraps there) and massive ones."""
    rng = np.random.default_rng(11)
    counts = rng.integers(3, 14, 16)
    n = counts.sum()
    phi0 = np.repeat(rng.choice([0.0, 1.0, np.pi, -2.5], len(counts)), counts)
    p4 = cartesian(
        rng.exponential(10.0, n) + 0.5,
        rng.normal(0.0, 0.4, n),
        phi0 + rng.normal(0.0, 0.3, n),
        rng.uniform(0.0, 2.0, n),
    )
    axes = exclusive_axes(p4["px"], p4["py"], p4["pz"], p4["E"], counts, 3)
    first = np.concatenate([[0], np.cumsum(counts)])
    for j in range(len(counts)):
        jet = {k: v[first[j] : first[j + 1]] for k, v in p4.items()}
        for n_axes in (1, 2, 3):
            got = _by_energy(
                axes[j : j + 1, n_axes * (n_axes - 1) // 2 : n_axes * (n_axes + 1) // 2]
            )[0]
            np.testing.assert_allclose(got, _brute_force_axes(jet, n_axes), rtol=1e-12, atol=1e-12)


def test_fewer_particles_than_axes_leave_nan_rows():
    p4 = cartesian(np.array([10.0, 5.0]), np.array([0.1, -0.1]), np.array([0.2, 0.3]), np.zeros(2))
    axes = exclusive_axes(p4["px"], p4["py"], p4["pz"], p4["E"], np.array([2]), 3)
    assert np.isnan(axes[0, 3:]).all()  # N = 3 needs three particles
    np.testing.assert_allclose(
        axes[0, 0], [p4[k].sum() for k in ("px", "py", "pz", "E")], rtol=1e-15
    )


def test_along_the_beam_and_zero_momentum_kinematics():
    """FastJet's conventions: φ = 0 without transverse momentum, y = ±(10⁵ + |p_z|) along the beam."""
    kt2, phi, rap = kinematics(
        np.array([0.0, 0.0, 0.0, 1.0]),
        np.array([0.0, 0.0, 0.0, -1.0]),
        np.array([3.0, -2.0, 0.0, 0.0]),
        np.array([3.0, 2.0, 0.0, 2.0]),
    )
    np.testing.assert_array_equal(kt2, [0.0, 0.0, 0.0, 2.0])
    np.testing.assert_allclose(phi, [0.0, 0.0, 0.0, 2 * np.pi - np.pi / 4])
    np.testing.assert_array_equal(rap[:3], [1e5 + 3.0, -(1e5 + 2.0), 1e5])
    assert rap[3] == 0.0


@pytest.mark.parametrize(
    "path,schema",
    [(MINI[0], "generated"), (MINI[1], "generated"), (PFNANO, "pfnano")],
    ids=lambda x: getattr(x, "stem", x),
)
def test_tau_of_feature_set_equals_fastjet_reference(path, schema):
    """The feature set's τ_1..3 on real and mini jets equal a per-jet FastJet reference
    (tests/unit/test_substructure.py ``_tau_reference``: its own ClusterSequence, loops over ΔR)
    to float32 rounding, so the compiled axes leave the physics definition unchanged."""
    pytest.importorskip("fastjet")
    from tests.unit.test_substructure import _tau_reference

    for chunk in _chunks(path, schema):
        out = js.compute(chunk, js.Options(), None)
        jets, cons, _ = link_constituents(chunk)
        for j in range(
            0, len(jets), max(1, len(jets) // 40)
        ):  # ~40 jets per file keep the Python loops short
            parts = ak.to_list(cons[j][["pt", "eta", "phi", "mass"]])
            jet = {k: float(jets[j][k]) for k in ("eta", "phi")}
            for n in (1, 2, 3):
                ref = _tau_reference(parts, jet, n) if parts else np.nan
                assert out.tabular[f"tau{n}"][j] == pytest.approx(
                    ref, rel=2e-6, abs=1e-9, nan_ok=True
                ), (j, n)


def _random_jets(rng, counts):
    n = int(np.sum(counts))
    return cartesian(
        rng.exponential(5.0, n) + 0.1,
        rng.normal(0.0, 0.5, n),
        rng.normal(0.0, 0.5, n),
        rng.uniform(0.0, 0.3, n),
    )


def test_jets_larger_than_the_compiled_stride_equal_fastjet():
    """A chunk with jets of more than ``CAP`` particles takes the run-time-stride kernel (the other
    tests the constant-stride one): FastJet's axes for the large and the small jets."""
    from dl4hep.features.exclusive_kt import CAP

    rng = np.random.default_rng(21)
    counts = np.array([CAP + 57, 12, CAP + 1, 40, CAP])
    p4 = _random_jets(rng, counts)
    ours = exclusive_axes(p4["px"], p4["py"], p4["pz"], p4["E"], counts, 3)
    for n in (1, 2, 3):
        ref = _by_energy(_fastjet_axes(p4, counts, n))
        got = _by_energy(ours[:, n * (n - 1) // 2 : n * (n + 1) // 2])
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9 * np.max(np.abs(ref)))


def test_particles_along_the_beam_leave_first_as_in_fastjet():
    """A particle along the beam (p_T = 0, y = ±(10⁵ + |p_z|)) is farther than R from all others, so
    it joins the beam (d_iB = k_T² = 0) before any pair merges; the beam path keeps FastJet's axes."""
    rng = np.random.default_rng(4)
    counts = np.array([9, 6, 7])
    p4 = _random_jets(rng, counts)
    for k, (at, pz) in enumerate(((0, 30.0), (9, -12.0), (20, 5.0))):
        p4["px"][at], p4["py"][at], p4["pz"][at], p4["E"][at] = 0.0, 0.0, pz, abs(pz)
        if k == 2:  # two along the beam in the last jet
            p4["px"][at + 1], p4["py"][at + 1], p4["pz"][at + 1], p4["E"][at + 1] = (
                0.0,
                0.0,
                -3.0,
                3.0,
            )
    ours = exclusive_axes(p4["px"], p4["py"], p4["pz"], p4["E"], counts, 3)
    for n in (1, 2, 3):
        ref = _by_energy(_fastjet_axes(p4, counts, n))
        got = _by_energy(ours[:, n * (n - 1) // 2 : n * (n + 1) // 2])
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
