"""Shower shapes on hand-worked crystal grids."""

import awkward as ak
import numpy as np
import pytest

from dl4hep.features.sets import shower_shapes as ss

A = ss.CRYSTAL  # generator crystal size in eta
A_PHI = 2 * np.pi / 360  # crystal size in phi
S = 0.01745  # CMSSW EcalClusterTools::localCovariances barrel crystal size


def _chunk(hits, clusters):
    return ak.zip({"clusters": ak.Array([clusters]), "hits": ak.Array([hits])}, depth_limit=1)


def _hit(ieta, iphi, e, t=0.0, c=0):
    return {"ieta": ieta, "iphi": iphi, "energy": e, "time": t, "cluster_idx": c}


def test_cross_shaped_cluster_by_hand():
    # seed 10 GeV at (10,10); 4 neighbours; one hit at the 5x5 edge (d_ieta=+2); one outside (d_iphi=3)
    hits = [_hit(10, 10, 10.0, 1.0), _hit(11, 10, 4.0, 2.0), _hit(9, 10, 2.0), _hit(10, 11, 3.0),
            _hit(10, 9, 1.0), _hit(12, 10, 0.5), _hit(10, 13, 0.25)]
    o = ss.compute(_chunk(hits, [{"energy": 25.0, "eta": 0.17, "phi": 0.1}]), ss.Options(), None)
    t = {k: float(v[0]) for k, v in o.tabular.items()}
    e5 = 10 + 4 + 2 + 3 + 1 + 0.5
    assert t["E_max"] == 10 and t["E_2nd"] == 4
    assert t["E_3x3"] == pytest.approx(20.0) and t["E_5x5"] == pytest.approx(e5)
    assert t["E_2x2"] == pytest.approx(max(10 + 4 + 3, 10 + 4 + 1, 10 + 2 + 3, 10 + 2 + 1))
    assert t["R9"] == pytest.approx(20 / 25)
    assert t["E1x5_over_E5x5"] == pytest.approx((10 + 3 + 1) / e5)
    assert t["E2x5max_over_E5x5"] == pytest.approx((10 + 3 + 1 + 4) / e5)
    # log weights over the 5x5 (the d_iphi=3 hit is outside), about the energy-weighted mean
    es = np.array([10, 4, 2, 3, 1, 0.5])
    de = np.array([0, 1, -1, 0, 0, 2])
    dp = np.array([0, 0, 0, 1, -1, 0])
    w = np.maximum(0, 4.7 + np.log(es / e5))
    me, mp = (es * de).sum() / e5, (es * dp).sum() / e5
    assert t["sigma_ietaieta"] == pytest.approx(S * np.sqrt((w * (de - me) ** 2).sum() / w.sum()), rel=1e-5)
    assert t["sigma_iphiiphi"] == pytest.approx(S * np.sqrt((w * (dp - mp) ** 2).sum() / w.sum()), rel=1e-5)
    assert t["sigma_ietaiphi"] == pytest.approx(S**2 * (w * (de - me) * (dp - mp)).sum() / w.sum(), abs=1e-9)
    # energy-weighted widths and time over all hits
    ea = np.append(es, 0.25)
    dea, dpa = np.append(de, 0), np.append(dp, 3)
    ta = np.array([1, 2, 0, 0, 0, 0, 0.0])
    assert t["eta_width"] == pytest.approx(A * np.sqrt(np.cov(dea, aweights=ea, bias=True)), rel=1e-5)
    assert t["phi_width"] == pytest.approx(A_PHI * np.sqrt(np.cov(dpa, aweights=ea, bias=True)), rel=1e-5)
    assert t["time_mean"] == pytest.approx((ea * ta).sum() / ea.sum(), rel=1e-5)
    assert t["time_spread"] == pytest.approx(np.sqrt(np.cov(ta, aweights=ea, bias=True)), rel=1e-5)
    assert t["n_crystals"] == 6 and o.observers["n_hits"][0] == 7  # 5x5 crystals with w > 0; all hits
    # points: energy order, log E, mask
    assert o.points.shape == (1, 64, 5) and o.points_mask[0].sum() == 7
    np.testing.assert_allclose(o.points[0, :3, 2], np.log([10, 4, 3]), rtol=1e-6)
    assert np.all(o.points[0, 7:] == 0) and np.all(o.points_p4[0, 7:] == 0)
    np.testing.assert_allclose(o.points_p4[0, :, 3].sum(), ea.sum(), rtol=1e-6)
    assert o.observers["pt"][0] == pytest.approx(25 / np.cosh(0.17), rel=1e-6)


def test_log_weight_cut_and_window_edge():
    # a 0.05 GeV hit at the 5x5 corner has 4.7 + ln(0.05/20.05) < 0: zero weight, but it counts in
    # E_5x5 and in the energy-weighted mean position (CMSSW mean5x5PositionInLocalCrysCoord)
    hits = [_hit(5, 100, 10.0), _hit(5, 101, 10.0), _hit(7, 102, 0.05)]
    o = ss.compute(_chunk(hits, [{"energy": 20.05, "eta": 0.0, "phi": 0.0}]), ss.Options(), None)
    e5 = 20.05
    m_eta, m_phi = 2 * 0.05 / e5, (10 + 2 * 0.05) / e5
    assert float(o.tabular["E_5x5"][0]) == pytest.approx(e5)
    # the two weighted hits sit at d_ieta = 0, the mean at m_eta
    assert float(o.tabular["sigma_ietaieta"][0]) == pytest.approx(S * m_eta, rel=1e-5)
    # two equal weights at d_iphi = 0 and 1
    assert float(o.tabular["sigma_iphiiphi"][0]) == pytest.approx(S * np.sqrt((m_phi**2 + (1 - m_phi) ** 2) / 2), rel=1e-5)
    assert float(o.tabular["n_crystals"][0]) == 2 and float(o.observers["n_hits"][0]) == 3


def test_local_covariances_hand_worked_asymmetric_grid():
    """D7: CMSSW localCovariances on a hand-worked asymmetric 5x5 (generator grid, seed at ieta = iphi = 0).

    Hits: 6 GeV seed (0, 0), 3 GeV at (Δiη, Δiφ) = (+1, 0), 1 GeV at (0, −1) through the φ wrap
    (iphi 359), and 0.5 GeV at Δiη = +3, outside the 5x5. E_5x5 = 10 GeV.
    Energy-weighted mean: (Δiη, Δiφ) = (3/10, −1/10).
    w = 4.7 + ln(E/10) = 4.189174, 3.496027, 2.397415 (Σw = 10.082616).
    σ_iηiη² / a² = (4.189174·0.3² + 3.496027·0.7² + 2.397415·0.3²) / 10.082616 = 0.2286952
    σ_iφiφ² / a² = (4.189174·0.1² + 3.496027·0.1² + 2.397415·0.9²) / 10.082616 = 0.2002216
    σ_iηiφ / a²  = (4.189174·(−0.3)(0.1) + 3.496027·(0.7)(0.1) + 2.397415·(−0.3)(−0.9)) / 10.082616 = 0.0760069
    with a = 0.01745. A log-weighted mean (the previous definition) gives 0.008281, 0.007408, 2.496e-5
    (with a = 0.0174).
    """
    hits = [_hit(0, 0, 6.0), _hit(1, 0, 3.0), _hit(0, 359, 1.0), _hit(3, 0, 0.5)]
    o = ss.compute(_chunk(hits, [{"energy": 10.5, "eta": 0.01, "phi": 0.0}]), ss.Options(), None)
    t = {k: float(v[0]) for k, v in o.tabular.items()}
    assert t["E_5x5"] == pytest.approx(10.0)
    assert t["sigma_ietaieta"] == pytest.approx(0.01745 * np.sqrt(0.2286952), rel=1e-6)
    assert t["sigma_iphiiphi"] == pytest.approx(0.01745 * np.sqrt(0.2002216), rel=1e-6)
    assert t["sigma_ietaiphi"] == pytest.approx(0.01745**2 * 0.0760069, rel=2e-6)
    assert t["sigma_ietaieta"] == pytest.approx(0.0083450, rel=1e-4)
    assert t["sigma_iphiiphi"] == pytest.approx(0.0078082, rel=1e-4)


def test_ieta_default_fits_the_generated_grid():
    """D20: the default treats ieta as contiguous through 0, as the generator writes it
    (dl4hep.generate.detector: ieta = floor(eta / 0.0174), so a shower at eta ~ 0 has ieta -1, 0, 1)."""
    from dl4hep.generate.detector import crystal_ieta as _ieta

    assert _ieta(np.array([-0.01, 0.01, 0.02])).tolist() == [-1, 0, 1]  # the generator grid has ieta = 0
    # a 1 (phi) x 5 (eta) column of hits at ieta -2..2, seed at ieta 0
    es = [1.0, 2.0, 8.0, 2.5, 0.5]
    hits = [_hit(ie, 50, e) for ie, e in zip(range(-2, 3), es, strict=True)]
    o = ss.compute(_chunk(hits, [{"energy": 14.0, "eta": 0.0, "phi": 0.0}]), ss.Options(), None)
    t = {k: float(v[0]) for k, v in o.tabular.items()}
    assert t["E_3x3"] == pytest.approx(2.0 + 8.0 + 2.5) and t["E_5x5"] == pytest.approx(14.0)
    assert t["E1x5_over_E5x5"] == pytest.approx(8.0 / 14.0)
    assert t["E2x5max_over_E5x5"] == pytest.approx((8.0 + 2.5) / 14.0)
    np.testing.assert_array_equal(o.points[0, :5, 0], [0, 1, -1, -2, 2])  # d_ieta by decreasing energy
    # CMS EBDetId indices (no ieta = 0) need the explicit option: ieta -1 and +1 are neighbours
    cms = [_hit(ie, 50, e) for ie, e in zip((-2, -1, 1, 2, 3), es, strict=True)]
    o = ss.compute(_chunk(cms, [{"energy": 14.0, "eta": 0.0, "phi": 0.0}]), ss.Options(ieta_has_zero=False), None)
    assert float(o.tabular["E_3x3"][0]) == pytest.approx(2.0 + 8.0 + 2.5)


@pytest.mark.parametrize("has_zero", [True, False])
def test_points_p4_at_the_crystal_centres(has_zero):
    """D12: points_p4 sit at the centre of the hit's crystal: η = 0.0174 (c + 0.5), φ = 2π (iφ + 0.5)/360.

    Cross-checked with the generator's own crystal index functions (crystal k covers [k, k+1)·size)
    and with ``vector`` for (px, py, pz, E)."""
    import vector

    from dl4hep.generate.detector import crystal_ieta as _ieta
    from dl4hep.generate.detector import crystal_iphi as _iphi

    ieta = np.array([-85, -1, 0, 1, 40, 84]) if has_zero else np.array([-85, -1, 1, 2, 40, 85])
    iphi = np.array([0, 359, 180, 1, 90, 270])
    e = np.array([3.0, 2.5, 10.0, 1.0, 0.5, 0.25])
    hits = [_hit(int(a), int(b), float(c)) for a, b, c in zip(ieta, iphi, e, strict=True)]
    o = ss.compute(_chunk(hits, [{"energy": 20.0, "eta": 0.0, "phi": 0.0}]), ss.Options(ieta_has_zero=has_zero), None)
    order = np.argsort(-e, kind="stable")
    c = ieta - (0 if has_zero else (ieta > 0))
    eta, phi = A * (c + 0.5), np.mod(A_PHI * (iphi + 0.5) + np.pi, 2 * np.pi) - np.pi
    p = vector.array({"pt": e / np.cosh(eta), "eta": eta, "phi": phi, "mass": np.zeros(len(e))})[order]
    got = o.points_p4[0, : len(e)].astype(np.float64)
    np.testing.assert_allclose(got, np.stack([p.px, p.py, p.pz, p.E], axis=1), rtol=1e-5, atol=1e-6)
    g = vector.array({"px": got[:, 0], "py": got[:, 1], "pz": got[:, 2], "E": got[:, 3]})
    if has_zero:  # the generator's index of each p4 direction is the hit's own crystal
        np.testing.assert_array_equal(_ieta(g.eta), ieta[order])
        np.testing.assert_array_equal(_iphi(g.phi), iphi[order])
    np.testing.assert_allclose(g.eta, A * (c[order] + 0.5), atol=2e-6)  # the centre, not the edge

def test_grouping_phi_wrap_eta_gap_and_multiple_events():
    hits = [[_hit(-1, 360, 5.0, c=1), _hit(1, 1, 1.0, c=1), _hit(3, 3, 2.0, c=0), _hit(1, 1, 7.0, c=-1)], []]
    clusters = [[{"energy": 2.0, "eta": 0.0, "phi": 0.0}, {"energy": 6.0, "eta": 0.0, "phi": 0.0}], []]
    chunk = ak.zip({"clusters": ak.Array(clusters), "hits": ak.Array(hits)}, depth_limit=1)
    o = ss.compute(chunk, ss.Options(max_hits=4, ieta_has_zero=False), None)  # CMS ieta (no 0)
    np.testing.assert_array_equal(o.event_index, [0, 0])
    assert o.tabular["E_3x3"].tolist() == [2.0, 6.0]  # (-1,360) and (1,1) are diagonal neighbours
    assert o.points[1, 1, :2].tolist() == [1.0, 1.0]


def _reference_cluster(h, e_cluster, opt):
    """Tabular features and hit cloud of one cluster, straight from the module docstring (loops)."""
    e, t = h["energy"], h["time"]
    order = np.argsort(-e, kind="stable")
    ceta = h["ieta"] if opt.ieta_has_zero else h["ieta"] - (h["ieta"] > 0)
    deta = ceta - ceta[order[0]]
    dphi = (h["iphi"] - h["iphi"][order[0]] + 180) % 360 - 180

    def esum(m):
        return e[m].sum()

    in5 = (np.abs(deta) <= 2) & (np.abs(dphi) <= 2)
    e5 = esum(in5)
    w = np.where(in5 & (e > 0), np.maximum(0, opt.log_weight_w0 + np.log(np.where(e > 0, e, 1) / e5)), 0)
    e_mean = np.where(in5 & (e > 0), e, 0)  # CMSSW mean5x5PositionInLocalCrysCoord skips E < 0

    def wvar(x, y, wt, mean_wt=None):
        mean_wt = wt if mean_wt is None else mean_wt
        mx, my = (mean_wt * x).sum() / mean_wt.sum(), (mean_wt * y).sum() / mean_wt.sum()
        return (wt * (x - mx) * (y - my)).sum() / wt.sum()

    strip = np.abs(dphi) <= 2
    tm = (e * t).sum() / e.sum()
    tab = {
        "E_max": e[order[0]], "E_2nd": e[order[1]] if len(e) > 1 else 0.0,
        "E_2x2": max(esum(np.isin(deta, [0, a]) & np.isin(dphi, [0, b])) for a in (-1, 1) for b in (-1, 1)),
        "E_3x3": esum((np.abs(deta) <= 1) & (np.abs(dphi) <= 1)), "E_5x5": e5,
        "R9": esum((np.abs(deta) <= 1) & (np.abs(dphi) <= 1)) / e_cluster,
        "E1x5_over_E5x5": esum((deta == 0) & strip) / e5,
        "E2x5max_over_E5x5": max(esum(np.isin(deta, [0, s]) & strip) for s in (-1, 1)) / e5,
        "sigma_ietaieta": S * np.sqrt(wvar(deta, deta, w, e_mean)),
        "sigma_iphiiphi": S * np.sqrt(wvar(dphi, dphi, w, e_mean)),
        "sigma_ietaiphi": S**2 * wvar(deta, dphi, w, e_mean),
        "eta_width": A * np.sqrt(wvar(deta, deta, e)), "phi_width": A_PHI * np.sqrt(wvar(dphi, dphi, e)),
        "n_crystals": (w > 0).sum(), "time_mean": tm, "time_spread": np.sqrt((e * (t - tm) ** 2).sum() / e.sum()),
    }
    k = order[: opt.max_hits]
    log_e = np.log(np.where(e[k] > 0, e[k], 1)) * (e[k] > 0)
    points = np.stack([deta[k], dphi[k], log_e, t[k], e[k] / e_cluster], axis=-1)
    eta, phi = A * (ceta[k] + 0.5), np.mod(A_PHI * (h["iphi"][k] + 0.5) + np.pi, 2 * np.pi) - np.pi
    pt = e[k] / np.cosh(eta)
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e[k]], axis=-1)
    return tab, points, p4


@pytest.mark.parametrize("has_zero", [True, False])
def test_random_clusters_against_loop_reference(has_zero):
    """Duplicate crystals, hits outside the 5x5, zero/negative energies, equal energies, unclustered
    and out-of-range links, φ wrap-around and truncation to max_hits, against per-cluster loops."""
    rng = np.random.default_rng(11)
    opt = ss.Options(max_hits=6, ieta_has_zero=has_zero)
    events, clusters = [], []
    for _ in range(25):
        n_cl = int(rng.integers(0, 4))
        hits = []
        for c in list(range(n_cl)) + [-1, n_cl]:  # -1: unclustered, n_cl: points past the clusters
            ieta0, iphi0 = int(rng.choice([-3, -1, 1, 4, 40])), int(rng.choice([1, 2, 180, 359, 360]))
            for _ in range(int(rng.integers(1, 12))):
                ieta = ieta0 + int(rng.integers(-3, 4))
                iphi = (iphi0 + int(rng.integers(-3, 4)) - 1) % 360 + 1
                e = float(rng.choice([0.25, 0.5, 3.0, 0.0, -0.1, rng.exponential(2.0)]))
                hits.append(_hit(ieta if ieta != 0 else 1, iphi, e, float(rng.normal()), c))
        events.append(hits)
        clusters.append([{"energy": float(rng.uniform(5, 20)), "eta": 0.1, "phi": 0.2} for _ in range(n_cl)])
    chunk = ak.zip({"clusters": ak.Array(clusters), "hits": ak.Array(events)}, depth_limit=1)
    o = ss.compute(chunk, opt, None)
    row = 0
    for ev, (hits, cls) in enumerate(zip(events, clusters, strict=True)):
        for c, cl in enumerate(cls):
            h = {k: np.array([x[k] for x in hits if x["cluster_idx"] == c]) for k in ("ieta", "iphi", "energy", "time")}
            assert o.event_index[row] == ev
            assert o.observers["n_hits"][row] == len(h["energy"])
            if len(h["energy"]):
                h["energy"] = h["energy"].astype(np.float32).astype(np.float64)  # stored as float32
                h["time"] = h["time"].astype(np.float32).astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    tab, points, p4 = _reference_cluster(h, np.float32(cl["energy"]), opt)
                for name, value in tab.items():
                    np.testing.assert_allclose(o.tabular[name][row], value, rtol=1e-5, atol=1e-6, err_msg=name)
                n = len(points)
                np.testing.assert_allclose(o.points[row, :n], points, rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(o.points_p4[row, :n], p4, rtol=1e-5, atol=1e-6)
                assert o.points_mask[row].sum() == n and not o.points[row, n:].any()
            row += 1
    assert row == len(o)


def test_kernel_rows_and_constants_follow_the_feature_set():
    from dl4hep.features import shower_kernel as sk

    assert list(sk.TAB) == ss.TABULAR
    assert (sk.CRYSTAL, sk.CRYSTAL_PHI, sk.SIGMA_CRYSTAL) == (ss.CRYSTAL, ss.CRYSTAL_PHI, ss.SIGMA_CRYSTAL)


def test_group_order_equals_the_packed_key_argsort():
    """The compiled grouping (counting sort + insertion sort) orders the clustered hits exactly as
    the stable argsort of the packed (cluster, -energy) key: ties in file order, -0.0 == 0.0,
    NaN last; hits linked to no cluster (negative or past the event's clusters) are dropped."""
    from dl4hep.features import shower_kernel as sk
    from dl4hep.features.segments import argsort_desc_within, starts

    rng = np.random.default_rng(5)
    n_cl = rng.integers(0, 5, 300)
    n_hits = rng.integers(0, 40, 300)
    event = np.repeat(np.arange(300), n_hits)
    cidx = rng.integers(-2, 6, len(event)).astype(np.int32)
    values = np.array([1.0, 2.0, 0.0, -0.0, -1.0, np.nan, np.inf, -np.inf, 0.5], np.float32)
    energy = np.where(rng.random(len(event)) < 0.5, rng.choice(values, len(event)), rng.exponential(1, len(event)))
    energy = energy.astype(np.float32)
    order, counts = sk.group_order(cidx, n_hits, n_cl, energy)
    keep = np.flatnonzero((cidx >= 0) & (cidx < n_cl[event]))
    gid = starts(n_cl)[event[keep]] + cidx[keep]
    np.testing.assert_array_equal(order, keep[argsort_desc_within(gid, energy[keep])])
    np.testing.assert_array_equal(counts, np.bincount(gid, minlength=n_cl.sum()))


@pytest.mark.parametrize("k", [*range(1, 20), 127, 128, 129, 130, 137, 300, 1025, 4096])
def test_segment_sums_are_reduceat_bit_for_bit(k):
    """The kernel's segment sum is np.add.reduceat's: first value + numpy's pairwise sum of the rest."""
    from dl4hep.features.shower_kernel import _segment_sum

    a = np.random.default_rng(k).standard_normal(k) * 10.0 ** np.random.default_rng(k + 1).uniform(-4, 4, k)
    assert _segment_sum(a, k) == np.add.reduceat(a, [0])[0]


def test_empty_cluster_nan_time_and_large_cluster():
    """A cluster without hits, a hit without time, and a 300-hit cluster (pairwise sums past 128,
    truncation to max_hits) against the loop reference."""
    rng = np.random.default_rng(3)
    big = [_hit(int(rng.integers(-4, 5)), int(rng.integers(0, 6)), float(rng.exponential(1.0)), float(rng.normal()), c=2)
           for _ in range(300)]
    hits = [_hit(10, 10, 5.0, float("nan"), c=1), _hit(11, 10, 1.0, 2.0, c=1), *big]
    cl = [{"energy": e, "eta": 0.0, "phi": 0.0} for e in (3.0, 6.0, 400.0)]
    o = ss.compute(_chunk(hits, cl), ss.Options(max_hits=16), None)
    t = {k: v[0] for k, v in o.tabular.items()}  # the cluster without hits
    assert np.isnan(t["E_max"]) and t["E_2nd"] == 0 and t["E_5x5"] == 0 and t["R9"] == 0 and t["n_crystals"] == 0
    nan = ["E1x5_over_E5x5", "E2x5max_over_E5x5", "sigma_ietaieta", "sigma_iphiiphi", "sigma_ietaiphi",
           "eta_width", "phi_width", "time_mean", "time_spread"]
    assert all(np.isnan(t[k]) for k in nan)
    assert not o.points_mask[0].any() and not o.points[0].any() and not o.points_p4[0].any()
    assert np.isnan(o.tabular["time_mean"][1]) and o.tabular["E_5x5"][1] == 6.0
    assert o.points[1, 0, 3] == 0 and o.points[1, 1, 3] == 2  # missing time -> 0 in the points
    h = {k: np.array([x[k] for x in big], float) for k in ("ieta", "iphi", "energy", "time")}
    h["energy"] = h["energy"].astype(np.float32).astype(np.float64)
    h["time"] = h["time"].astype(np.float32).astype(np.float64)
    h["ieta"], h["iphi"] = h["ieta"].astype(np.int64), h["iphi"].astype(np.int64)
    tab, points, p4 = _reference_cluster(h, np.float32(400.0), ss.Options(max_hits=16))
    for name, value in tab.items():
        np.testing.assert_allclose(o.tabular[name][2], value, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(o.points[2], points, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o.points_p4[2], p4, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("has_zero", [True, False])
@pytest.mark.parametrize("n", [5, 2000])
def test_crystal_trigonometry_tables(has_zero, n):
    """Per-index tables (narrow index ranges) and per-hit values (wide ones) hold numpy's
    cosh, sinh, cos, sin of the crystal centres, indexed as the kernel indexes them."""
    rng = np.random.default_rng(n)
    ieta = rng.integers(-85, 86, n).astype(np.int32)
    ieta = ieta if has_zero else np.where(ieta == 0, 1, ieta).astype(np.int32)
    iphi = rng.integers(0, 360, n).astype(np.int32)
    trig = ss._trig(ieta, iphi, has_zero)
    assert trig.per_hit == (n == 5)
    c = ieta.astype(np.int64) - (0 if has_zero else (ieta > 0))
    ke = np.arange(n) if trig.per_hit else c - trig.eta_lo
    kp = np.arange(n) if trig.per_hit else iphi - trig.phi_lo
    eta, phi = A * (c + 0.5), np.mod(A_PHI * (iphi + 0.5) + np.pi, 2 * np.pi) - np.pi
    np.testing.assert_array_equal(trig.eta[0, ke], np.cosh(ss._crystal_eta(c)))
    np.testing.assert_allclose(trig.eta[:, ke], [np.cosh(eta), np.sinh(eta)], rtol=1e-12)
    np.testing.assert_allclose(trig.phi[:, kp], [np.cos(phi), np.sin(phi)], rtol=1e-12, atol=1e-15)
