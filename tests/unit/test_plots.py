"""Plot helpers: files written atomically, figures closed, label variants."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dl4hep.evaluation.metrics import roc
from dl4hep.evaluation.plots import PlotWriter, plot_efficiency_vs_observer, plot_roc


@pytest.mark.parametrize("experiment", ["CMS", "ATLAS", "none"])
def test_roc_plot_writes_pdf_png_and_closes(tmp_path, experiment):
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.5
    curves = {m: roc(y, rng.normal(y * k, 1.0)) for k, m in ((1.0, "a"), (2.0, "b"))}
    w = PlotWriter(tmp_path, experiment=experiment, label_text="Simulation Preliminary")
    before = len(plt.get_fignums())
    names = plot_roc(w, "roc", curves, reference="a", title="s vs b")
    assert names == ["roc.pdf", "roc.png"] and w.written == names
    assert len(plt.get_fignums()) == before
    for n in names:
        assert (tmp_path / n).stat().st_size > 1000
    assert not list(tmp_path.glob(".*tmp*"))  # no temporaries left behind


def test_one_model_roc_has_no_ratio_panel(tmp_path, monkeypatch):
    """A model's own ROC (per-model evaluation) has nothing to compare to: one panel; an overlay two."""
    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.5
    curves = {m: roc(y, rng.normal(y * k, 1.0)) for k, m in ((1.0, "a"), (2.0, "b"))}
    w = PlotWriter(tmp_path)
    panels, save = [], w.save
    monkeypatch.setattr(w, "save", lambda fig, stem: panels.append(len(fig.axes)) or save(fig, stem))
    plot_roc(w, "roc_a", {"a": curves["a"]}, reference="a", title="s vs b")
    plot_roc(w, "roc", curves, reference="a", title="s vs b")
    assert panels == [1, 2]
    assert (tmp_path / "roc_a.png").stat().st_size > 1000


def test_efficiency_plot_without_any_passing_background(tmp_path):
    edges = np.array([0.0, 1.0, 2.0])
    nan = np.full(2, np.nan)
    series = {"sig": {"eff_sig": np.array([0.5, 0.6]), "eff_sig_lo": np.array([0.4, 0.5]),
                      "eff_sig_hi": np.array([0.6, 0.7]), "rejection": nan, "rejection_lo": nan, "rejection_hi": nan}}
    names = plot_efficiency_vs_observer(PlotWriter(tmp_path), "eff", edges, series, observer="pt",
                                        working_point=0.5, model="m")
    assert all((tmp_path / n).stat().st_size > 0 for n in names)
