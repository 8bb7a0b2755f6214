"""Shower shapes on hand-worked crystal grids."""

import awkward as ak
import numpy as np
import pytest

from dl4hep.features import shower_shapes as ss

A = ss.CRYSTAL


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
    # log weights over the 5x5 (the d_iphi=3 hit is outside)
    es = np.array([10, 4, 2, 3, 1, 0.5])
    de = np.array([0, 1, -1, 0, 0, 2])
    dp = np.array([0, 0, 0, 1, -1, 0])
    w = np.maximum(0, 4.7 + np.log(es / e5))
    me, mp = (w * de).sum() / w.sum(), (w * dp).sum() / w.sum()
    assert t["sigma_ietaieta"] == pytest.approx(A * np.sqrt((w * (de - me) ** 2).sum() / w.sum()), rel=1e-5)
    assert t["sigma_iphiiphi"] == pytest.approx(A * np.sqrt((w * (dp - mp) ** 2).sum() / w.sum()), rel=1e-5)
    assert t["sigma_ietaiphi"] == pytest.approx(A**2 * (w * (de - me) * (dp - mp)).sum() / w.sum(), abs=1e-9)
    # energy-weighted widths and time over all hits
    ea = np.append(es, 0.25)
    dea, dpa = np.append(de, 0), np.append(dp, 3)
    ta = np.array([1, 2, 0, 0, 0, 0, 0.0])
    assert t["eta_width"] == pytest.approx(A * np.sqrt(np.cov(dea, aweights=ea, bias=True)), rel=1e-5)
    assert t["phi_width"] == pytest.approx(A * np.sqrt(np.cov(dpa, aweights=ea, bias=True)), rel=1e-5)
    assert t["time_mean"] == pytest.approx((ea * ta).sum() / ea.sum(), rel=1e-5)
    assert t["time_spread"] == pytest.approx(np.sqrt(np.cov(ta, aweights=ea, bias=True)), rel=1e-5)
    assert t["n_crystals"] == 7
    # points: energy order, log E, mask
    assert o.points.shape == (1, 64, 5) and o.points_mask[0].sum() == 7
    np.testing.assert_allclose(o.points[0, :3, 2], np.log([10, 4, 3]), rtol=1e-6)
    assert np.all(o.points[0, 7:] == 0) and np.all(o.points_p4[0, 7:] == 0)
    np.testing.assert_allclose(o.points_p4[0, :, 3].sum(), ea.sum(), rtol=1e-6)
    assert o.observers["pt"][0] == pytest.approx(25 / np.cosh(0.17), rel=1e-6)


def test_log_weight_cut_and_window_edge():
    # a 0.05 GeV hit at the 5x5 corner has 4.7 + ln(0.05/20.05) < 0: zero weight, but counts in E_5x5
    hits = [_hit(5, 100, 10.0), _hit(5, 101, 10.0), _hit(7, 102, 0.05)]
    o = ss.compute(_chunk(hits, [{"energy": 20.05, "eta": 0.0, "phi": 0.0}]), ss.Options(), None)
    e5 = 20.05
    assert float(o.tabular["E_5x5"][0]) == pytest.approx(e5)
    assert float(o.tabular["sigma_ietaieta"][0]) == pytest.approx(0.0, abs=1e-9)  # only weighted hits at d_ieta=0
    assert float(o.tabular["sigma_iphiiphi"][0]) == pytest.approx(A * 0.5, rel=1e-5)  # two equal weights at 0, 1


def test_grouping_phi_wrap_eta_gap_and_multiple_events():
    hits = [[_hit(-1, 360, 5.0, c=1), _hit(1, 1, 1.0, c=1), _hit(3, 3, 2.0, c=0), _hit(1, 1, 7.0, c=-1)], []]
    clusters = [[{"energy": 2.0, "eta": 0.0, "phi": 0.0}, {"energy": 6.0, "eta": 0.0, "phi": 0.0}], []]
    chunk = ak.zip({"clusters": ak.Array(clusters), "hits": ak.Array(hits)}, depth_limit=1)
    o = ss.compute(chunk, ss.Options(max_hits=4), None)
    np.testing.assert_array_equal(o.event_index, [0, 0])
    assert o.tabular["E_3x3"].tolist() == [2.0, 6.0]  # (-1,360) and (1,1) are diagonal neighbours
    assert o.points[1, 1, :2].tolist() == [1.0, 1.0]
