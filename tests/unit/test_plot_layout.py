"""Every plot kind, drawn with realistic labels, has no overlapping text and no legend over data."""

from __future__ import annotations

import numpy as np
import pytest

from dl4hep.evaluation import plots as P
from dl4hep.evaluation.importance import Importance
from dl4hep.evaluation.metrics import roc
from dl4hep.evaluation.plot_checks import legend_covers_data, text_collisions
from dl4hep.evaluation.sculpting import sculpting
from dl4hep.evaluation.significance import scan_cuts

RNG = np.random.default_rng(7)
CLASSES = ["qcd", "top", "wqq", "zqq", "hbb"]


def _y_d(n=4000, sep=1.5):
    y = RNG.random(n) < 0.5
    return y, 1 / (1 + np.exp(-RNG.normal(sep * y - sep / 2, 1.0)))


def _roc(w):
    y, _ = _y_d()
    curves = {m: roc(y, RNG.normal(k * y, 1.0)) for k, m in ((1.0, "particle_transformer"), (1.3, "particlenet"),
                                                             (0.8, "pfn"), (0.6, "dnn"))}
    return P.plot_roc(w, "roc", curves, reference="dnn", title="any signal vs qcd")


def _roc_one_model(w):
    y, _ = _y_d()
    return P.plot_roc(w, "roc_pfn", {"pfn": roc(y, RNG.normal(y, 1.0))}, reference="pfn", title="any signal vs qcd")


def _confusion(w):
    n = len(CLASSES)
    counts = RNG.integers(10, 500, (n, n))
    return P.plot_confusion(w, "confusion", counts / counts.sum(1, keepdims=True), counts, CLASSES,
                            model="particle_transformer")


def _scores(w):
    panels = {}
    for c in CLASSES[1:4]:
        groups = []
        for lab, shift in ((c, 0.7), (f"not {c}", 0.3)):
            a, b = RNG.beta(8 * shift, 8 * (1 - shift), (2, 3000))
            groups.append(P.ScoreGroup(lab, a, np.ones(3000), b, np.ones(3000), 0.42))
        panels[f"score_{c}"] = groups
    return P.plot_scores(w, "scores", panels, model="particlenet")


def _significance(w):
    y, d = _y_d()
    scans = {"hww": scan_cuts(d, y, np.where(y, 0.05, 2.0), rel_bkg_uncertainty=0.1)}
    return P.plot_significance(w, "significance", scans, model="dnn", rel_unc=0.1)


def _training(w):
    ep = np.arange(1, 13)
    hist = {"epoch": ep, "train_loss": 1 / ep, "val_loss": 1.1 / ep, "train_acc": 1 - 0.5 / ep,
            "val_acc": 1 - 0.55 / ep, "val_auc": 1 - 0.3 / ep, "lr": 1e-3 * 0.9**ep}
    return P.plot_training(w, "training", hist, model="particle_transformer")


def _features(w):
    names = ["sigma_ieta_ieta", "R9", "E_max", "E_2x2", "E_3x3", "eta_width", "phi_width", "n_hits"]
    labels = RNG.integers(0, 2, 3000)
    values = RNG.normal(labels[:, None], 1.0, (3000, len(names)))
    return P.plot_features(w, "features", values, names, labels, np.ones(3000), ["eg", "pileup"])


def _importance(w):
    names = ["mll", "ptll", "dphi_ll", "mT", "MET", "n_jets", "HT", "l1_px", "j1_E"]
    imp = Importance(names, 0.95, np.linspace(0.001, 0.08, len(names)), np.full(len(names), 0.003))
    return P.plot_importance(w, "importance", imp, model="dnn")


def _efficiency(w):
    edges = np.array([5, 7.5, 10, 15, 20, 30, 40.0])
    k = len(edges) - 1
    eff = np.linspace(0.4, 0.8, k)
    rej = np.linspace(5, 60, k)
    series = {"eg": {"eff_sig": eff, "eff_sig_lo": eff - 0.05, "eff_sig_hi": eff + 0.04,
                     "rejection": rej, "rejection_lo": rej * 0.7, "rejection_hi": rej * 1.5}}
    return P.plot_efficiency_vs_observer(w, "efficiency", edges, series, observer="energy", working_point=0.7,
                                         model="hit_gnn")


def _sculpting(w):
    mass = RNG.exponential(40, 5000)
    disc = 1 / (1 + np.exp(-(RNG.normal(0, 1, 5000) + np.exp(-((mass - 90) / 20) ** 2))))
    sc = sculpting(disc, mass, np.ones(5000), np.arange(0, 310, 20.0))
    return P.plot_sculpting(w, "sculpting", sc, observer="msoftdrop", model="particlenet", title="any signal vs qcd")


def _regression_responses():
    from dl4hep.evaluation.resolution import summarise

    e_true = RNG.uniform(5, 50, 3000)
    raw = RNG.normal(0.95, 0.05, 3000) - np.abs(RNG.normal(0, 0.05, 3000))  # low-side tail
    corr = RNG.normal(1.0, 0.02, 3000)
    resp = {"dnn": (corr, np.ones(3000)), "dnn_gauss": (corr * 1.01, np.ones(3000)), "raw": (raw, np.ones(3000))}
    return resp, {k: summarise(*v) for k, v in resp.items()}, e_true


def _response(w):
    from dl4hep.evaluation.regression_plots import plot_response

    resp, summ, _ = _regression_responses()
    return plot_response(w, "response", resp, summ, xlabel="E$_{corr}$ / E$_{true}$")


def _response_vs(w):
    from dl4hep.evaluation.regression_plots import plot_response_vs
    from dl4hep.evaluation.resolution import binned_summary

    resp, _, e_true = _regression_responses()
    edges = np.array([5, 10, 15, 20, 30, 50.0])
    series = {k: binned_summary(r, wt, e_true, edges) for k, (r, wt) in resp.items()}
    return plot_response_vs(w, "response_vs", edges, series, observer="true_energy", ylabel="E$_{corr}$ / E$_{true}$")


KINDS = [_roc, _roc_one_model, _confusion, _scores, _significance, _training, _features, _importance, _efficiency, _sculpting,
         _response, _response_vs]


@pytest.mark.slow
@pytest.mark.parametrize("experiment, earned", [("CMS", True), ("CMS", False), ("ATLAS", True), ("none", True)])
@pytest.mark.parametrize("draw", KINDS, ids=lambda f: f.__name__.strip("_"))
def test_no_text_collision_and_no_legend_over_data(tmp_path, draw, experiment, earned):
    w = P.PlotWriter(tmp_path, experiment=experiment, earned=earned, check_layout=True)
    names = draw(w)
    assert names and all((tmp_path / n).stat().st_size > 0 for n in names)
    assert w.layout_problems == {names[0].rsplit(".", 1)[0]: []}


def test_checks_detect_an_overlap_and_a_covered_curve():
    """The checks can fail: two texts at one place, and a legend placed over a line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    x = np.linspace(0, 1, 50)
    ax.plot(x, np.full(50, 0.95), label="a curve along the top")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right")
    assert any("first label" in p for p in text_collisions(fig))
    assert any("a curve along the top" in p for p in legend_covers_data(fig))
    plt.close(fig)


def test_generated_samples_say_private_work_not_the_experiment(tmp_path):
    import matplotlib.pyplot as plt

    for earned, expect, absent in ((False, "Private work", "CMS"), (True, "CMS", "Private work")):
        w = P.PlotWriter(tmp_path, experiment="CMS", earned=earned)
        with w.style():
            fig, ax = plt.subplots()
            w.label(ax)
            texts = " ".join(t.get_text() for t in ax.texts)
            plt.close(fig)
        assert expect in texts and absent not in texts, texts
