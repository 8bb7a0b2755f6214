"""Figures of the evaluation stage (design §8): mplhep style, experiment label, PDF + PNG.

Every function takes already-computed numbers (no file reading, no metrics),
draws one figure, writes ``<stem>.pdf`` and ``<stem>.png`` atomically through
:meth:`PlotWriter.save` and closes it. Histograms are filled with ``hist``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on batch nodes; must precede pyplot

import hist  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from dl4hep.evaluation.importance import Importance  # noqa: E402
from dl4hep.evaluation.metrics import Roc, eff_bkg_at  # noqa: E402
from dl4hep.evaluation.plot_checks import legend_covers_data, text_collisions  # noqa: E402
from dl4hep.evaluation.sculpting import Sculpting  # noqa: E402
from dl4hep.evaluation.significance import SignificanceScan  # noqa: E402
from dl4hep.io.atomic import atomic_output  # noqa: E402

__all__ = [
    "FORMATS",
    "PlotWriter",
    "ScoreGroup",
    "plot_confusion",
    "plot_efficiency_vs_observer",
    "plot_features",
    "plot_importance",
    "plot_roc",
    "plot_sculpting",
    "plot_scores",
    "plot_significance",
    "plot_training",
]

FORMATS = ("pdf", "png")
# mathtext's \sqrt in PDF output logs one harmless warning per glyph
logging.getLogger("matplotlib.mathtext").setLevel(logging.ERROR)
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


@dataclass
class PlotWriter:
    """Style, experiment label and output directory shared by all figures of a task.

    Attributes:
        plots_dir: where ``<stem>.{pdf,png}`` go.
        experiment: "CMS", "ATLAS" or "none" (plain matplotlib style).
        label_text: text after the experiment label (e.g. "Simulation").
        com_energy: √s in TeV.
        luminosity: integrated luminosity in fb⁻¹.
        earned: whether the experiment label is earned, i.e. the inputs are the experiment's own
            simulation or data. Generated samples (Pythia + dl4hep's parametric detector) are not:
            their figures say "Private work" with the experiment's style but not its name.
        check_layout: run :mod:`~dl4hep.evaluation.plot_checks` on every figure before writing it
            and record what collides in ``layout_problems`` (the tests do).
        written: file names written so far (for ``plots/index.json``).
    """

    plots_dir: Path
    experiment: str = "CMS"
    label_text: str = "Simulation"
    com_energy: float = 13.6
    luminosity: float = 300.0
    dpi: int = 110
    earned: bool = True
    check_layout: bool = False
    layout_problems: dict[str, list[str]] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def style(self) -> Iterator[None]:
        sheet = {"CMS": mplhep.style.CMS, "ATLAS": mplhep.style.ATLAS}.get(self.experiment, "default")
        # Plain-text tick labels: mathtext parsing of every tick label dominated the run time.
        with plt.style.context([sheet, {"axes.formatter.use_mathtext": False}]):
            yield

    def label(self, ax: plt.Axes, *, lumi: bool = False, right_ax: plt.Axes | None = None) -> None:
        """Experiment label (simulation) above ``ax``; √s always, luminosity where yields are shown.

        ``right_ax``: in a grid of panels, the √s/luminosity text goes above this panel (the
        right-most of the top row) instead of sharing the first, narrow panel with the label.
        """
        lumi_value = self.luminosity if lumi else None
        right = f"{self.luminosity:g} fb$^{{-1}}$ ({self.com_energy:g} TeV)" if lumi else f"({self.com_energy:g} TeV)"
        # data=False already writes "Simulation": drop it from the configured text to avoid a repeat.
        text = self.label_text
        if text.lower().startswith("simulation"):
            text = text[len("simulation"):].strip()
        split = {"rlabel": ""} if right_ax is not None and right_ax is not ax else {}
        common = {"data": False, "lumi": lumi_value, "com": self.com_energy, "ax": ax, "loc": 0, **split}
        if self.experiment in ("CMS", "ATLAS") and not self.earned:
            mplhep.label.exp_label(exp="", llabel=f"Private work {text}".strip(), **common)
        elif self.experiment == "CMS":
            mplhep.cms.label(text=text, **common)
        elif self.experiment == "ATLAS":
            mplhep.atlas.label(text=text, **common)
        else:
            ax.set_title(self.label_text, loc="left", fontsize="medium")
            plain = f"$\\sqrt{{s}}$ = {self.com_energy:g} TeV"
            plain = f"{self.luminosity:g} fb$^{{-1}}$, {plain}" if lumi else plain
            (right_ax or ax).set_title(plain, loc="right", fontsize="medium")
            return
        if split:
            mplhep.label.exp_label(exp="", llabel="", rlabel=right, loc=0, ax=right_ax)

    def save(self, fig: plt.Figure, stem: str) -> list[str]:
        """Write ``stem.pdf`` and ``stem.png`` atomically, close ``fig``, return the names."""
        names = []
        try:
            # One draw for the tight bounding box, shared by both formats (bbox_inches="tight"
            # would draw twice per format; drawing dominates the stage's run time).
            fig.canvas.draw()
            if self.check_layout:
                self.layout_problems[stem] = text_collisions(fig) + legend_covers_data(fig)
            bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.08)
            for fmt in FORMATS:
                target = self.plots_dir / f"{stem}.{fmt}"
                with atomic_output(target) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=self.dpi, bbox_inches=bbox)
                names.append(target.name)
        finally:
            plt.close(fig)
        self.written.extend(names)
        return names


def _grid(n: int, ncols: int, size: float = 4.2) -> tuple[plt.Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + 0.5, size * nrows + 0.3), squeeze=False,
                             gridspec_kw={"wspace": 0.45, "hspace": 0.4})
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _label_grid(writer: PlotWriter, axes: np.ndarray, *, lumi: bool = False) -> None:
    """The experiment label above the first panel, √s above the last visible panel of the top row."""
    top = [ax for ax in axes[0] if ax.get_visible()]
    writer.label(top[0], lumi=lumi, right_ax=top[-1])


# ------------------------------------------------------------------ ROC


def plot_roc(
    writer: PlotWriter,
    stem: str,
    curves: Mapping[str, Roc],
    *,
    reference: str,
    title: str,
    bands: Mapping[str, Any] | None = None,
) -> list[str]:
    """Background rejection ``1/ε_B`` (log) vs ``ε_S`` for several models, ratio to ``reference``
    (one model, as in its own evaluation: no ratio panel).

    Args:
        curves: model name -> ROC, drawn in this order; AUC in the legend.
        reference: model whose rejection is the ratio panel's denominator.
        title: what is signal and background, e.g. "hbb vs qcd".
        bands: model name -> ``RocBand`` (``dl4hep.evaluation.systematics``): the rejection range
            over the weight variations, shaded in the model's colour.
    """
    grid = np.linspace(0.01, 1.0, 400)
    with writer.style():
        if len(curves) > 1:
            fig, (ax, rax) = plt.subplots(
                2, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}
            )
        else:
            fig, ax = plt.subplots(figsize=(9, 7))
            rax = ax
        writer.label(ax)  # before the content: mplhep draws the figure to place the text
        rejections = {}
        for name, c in curves.items():
            fpr = eff_bkg_at(c, grid)
            with np.errstate(divide="ignore"):
                rej = np.where(fpr > 0, 1.0 / np.where(fpr > 0, fpr, 1.0), np.nan)
            rejections[name] = rej
            (line,) = ax.plot(grid, rej, label=f"{name} (AUC = {c.auc:.4f})")
            band = (bands or {}).get(name)
            if band is not None:
                with np.errstate(divide="ignore"):
                    lo, hi = (np.where(e > 0, 1.0 / np.where(e > 0, e, 1.0), np.nan) for e in (band.eff_bkg_hi, band.eff_bkg_lo))
                ax.fill_between(band.eff_sig, lo, hi, color=line.get_color(), alpha=0.25, lw=0,
                                label=f"{name}: weight variations")
        ax.plot(grid, 1.0 / grid, color="grey", ls=":", label="random")
        ax.set_yscale("log")
        finite = np.concatenate([r[np.isfinite(r)] for r in rejections.values()] + [np.ones(1)])
        # head-room on the log axis: the curves fill the lower half, the legend the top
        top = max(float(finite.max()), 10.0)
        ax.set_ylim(0.5, top ** (1 / 0.5))
        ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
        ax.legend(title=title, loc="upper right", fontsize="small")
        if rax is not ax:
            _ratio_panel(rax, grid, rejections, reference)
        rax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
        rax.set_xlim(0, 1)
        return writer.save(fig, stem)


def _ratio_panel(rax: plt.Axes, grid: np.ndarray, rejections: dict[str, np.ndarray], reference: str) -> None:
    """Each model's rejection over the reference's, along ``grid``."""
    ref = rejections.get(reference)
    for name, rej in rejections.items():
        if ref is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rax.plot(grid, rej / ref, label=name)
    rax.axhline(1.0, color="grey", lw=1, ls="--")
    rax.set_ylabel(f"Ratio to\n{reference}", fontsize="small")
    _clear_top_tick(rax)


def _clear_top_tick(ax: plt.Axes) -> None:
    """End a ratio panel's y range on a tick and hide that tick, so no label touches the panel above."""
    lo, hi = ax.get_ylim()
    ticks = matplotlib.ticker.MaxNLocator(nbins=4).tick_values(lo, hi)
    ax.set_ylim(lo, float(ticks[-1]))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4, prune="upper"))


# ------------------------------------------------------------------ confusion


def plot_confusion(
    writer: PlotWriter, stem: str, normalised: np.ndarray, counts: np.ndarray, classes: Sequence[str], *, model: str
) -> list[str]:
    """Confusion matrix normalised per true class (rows sum to 1), counts in brackets."""
    n = len(classes)
    with writer.style():
        fig, ax = plt.subplots(figsize=(2.0 + 1.4 * n, 1.6 + 1.3 * n))
        im = ax.imshow(np.nan_to_num(normalised), cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, label="Fraction of true class")
        writer.label(ax)  # after the colorbar, which resizes the axes; mplhep places the text in axes units
        small = "x-small" if n > 3 else "small"
        for i in range(n):
            for j in range(n):
                v = normalised[i, j]
                txt = "–" if np.isnan(v) else f"{v:.2f}\n({counts[i, j]})"
                ax.text(j, i, txt, ha="center", va="center", fontsize=small,
                        color="white" if (not np.isnan(v) and v > 0.6) else "black")
        ax.set_xticks(range(n), classes, rotation=45 if n > 3 else 0)
        ax.set_yticks(range(n), classes)
        ax.minorticks_off()
        ax.set_xlabel(f"Predicted class ({model})")
        ax.set_ylabel("True class")
        return writer.save(fig, stem)


# ------------------------------------------------------------------ scores


@dataclass(frozen=True)
class ScoreGroup:
    """One true-class group of a score panel: train and test values, weights, KS p-value."""

    label: str
    train: np.ndarray
    train_weight: np.ndarray
    test: np.ndarray
    test_weight: np.ndarray
    ks_pvalue: float | None


def _density(values: np.ndarray, weights: np.ndarray, bins: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = hist.Hist(hist.axis.Regular(bins, lo, hi, underflow=False, overflow=False), storage=hist.storage.Weight())
    h.fill(np.clip(values, lo, np.nextafter(hi, lo)), weight=weights)
    v, var = h.values(), h.variances()
    norm = v.sum() * (hi - lo) / bins
    if norm <= 0:
        return v * 0, v * 0, h.axes[0].edges
    return v / norm, np.sqrt(var) / norm, h.axes[0].edges


def plot_scores(
    writer: PlotWriter, stem: str, panels: Mapping[str, Sequence[ScoreGroup]], *, model: str, bins: int = 40
) -> list[str]:
    """Normalised score distributions, training (filled) vs test (points), KS p-value in the legend.

    Args:
        panels: x-axis title (the score drawn) -> groups (e.g. true signal, true background).
    """
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    with writer.style():
        fig, axes = _grid(len(panels), 3, size=7.0)
        _label_grid(writer, axes)  # before the content: mplhep draws the figure to place the text
        for ax, (xlabel, groups) in zip(axes.flat, panels.items(), strict=False):
            for k, g in enumerate(groups):
                col = colors[k % len(colors)]
                ks = "" if g.ks_pvalue is None else f", KS p = {g.ks_pvalue:.2f}"
                if len(g.train):
                    v, _, edges = _density(g.train, g.train_weight, bins, 0.0, 1.0)
                    mplhep.histplot(v, edges, histtype="fill", alpha=0.3, color=col, ax=ax,
                                    label=f"{g.label} train")
                if len(g.test):
                    v, e, edges = _density(g.test, g.test_weight, bins, 0.0, 1.0)
                    mplhep.histplot(v, edges, yerr=e, histtype="errorbar", color=col, ax=ax,
                                    markersize=4, label=f"{g.label} test{ks}")
            ax.set_yscale("log")
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, 1e-4), hi * 300)  # head-room for label and legend
            ax.set_xlim(0, 1)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Normalised")
            ax.legend(fontsize="x-small", loc="upper right")
        fig.suptitle(f"{model}: training vs test", y=1.0, fontsize="medium")
        return writer.save(fig, stem)


# ------------------------------------------------------------------ significance


def plot_significance(
    writer: PlotWriter, stem: str, scans: Mapping[str, SignificanceScan], *, model: str, rel_unc: float
) -> list[str]:
    """Significance vs lower cut on the discriminant, one panel per signal class; best cut marked."""
    with writer.style():
        fig, axes = _grid(len(scans), 2, size=9.0 if len(scans) == 1 else 7.0)
        _label_grid(writer, axes, lumi=True)  # before the content: mplhep draws the figure to place the text
        for ax, (title, sc) in zip(axes.flat, scans.items(), strict=False):
            ax.plot(sc.cuts, sc.z_s_sqrt_b, label=r"$S/\sqrt{B}$")
            ax.plot(sc.cuts, sc.z_s_sqrt_sb, label=r"$S/\sqrt{S+B}$")
            ax.plot(sc.cuts, sc.z_asimov, label=r"Asimov $Z_A$")
            if sc.z_uncertainty is not None:
                ax.plot(sc.cuts, sc.z_uncertainty, label=rf"$Z$ with $\sigma_b$ = {100 * rel_unc:g}% $B$")
            if sc.best is not None:
                best = sc.summary()
                ax.axvline(best["cut"], color="k", ls="--", lw=1,
                           label=f"best cut {best['cut']:.3f}: Z = {best['z']:.2f}\n"
                                 f"S = {best['s']:.3g}, B = {best['b']:.3g}")
            finite = np.concatenate([z[np.isfinite(z)] for z in (sc.z_s_sqrt_b, sc.z_asimov)] + [np.zeros(1)])
            ax.set_ylim(0, 1.9 * max(float(np.percentile(finite, 99.5)), 1e-3))
            ax.set_xlabel(f"Cut on {title} discriminant")
            ax.set_ylabel("Significance")
            ax.legend(fontsize="x-small", loc="upper left", title=f"{model}: {title}", title_fontsize="x-small",
                      bbox_to_anchor=(0.0, 0.86), ncols=2)
        return writer.save(fig, stem)


# ------------------------------------------------------------------ training


def plot_training(writer: PlotWriter, stem: str, history: Mapping[str, np.ndarray], *, model: str) -> list[str]:
    """Loss, accuracy (and validation AUC) and learning rate per epoch from ``history.csv``."""
    ep = history["epoch"]
    with writer.style():
        fig, axes = plt.subplots(1, 3, figsize=(21, 6.5))
        writer.label(axes[0], right_ax=axes[-1])  # before the content: mplhep draws the figure to place the text
        ax = axes[0]
        for key, lab in (("train_loss", "training"), ("val_loss", "validation")):
            if key in history:
                ax.plot(ep, history[key], marker="o", ms=3, label=lab)
        ax.set_ylabel("Loss")
        ax = axes[1]
        for key, lab in (("train_acc", "training accuracy"), ("val_acc", "validation accuracy"),
                         ("val_auc", "validation AUC")):
            if key in history:
                ax.plot(ep, history[key], marker="o", ms=3, label=lab)
        ax.set_ylabel("Accuracy / AUC")
        ax = axes[2]
        if "lr" in history:
            ax.plot(ep, history["lr"], marker="o", ms=3, label="learning rate")
            if np.all(np.asarray(history["lr"]) > 0):
                ax.set_yscale("log")
        ax.set_ylabel("Learning rate")
        for ax in axes:
            ax.set_xlabel("Epoch")
            ax.legend(fontsize="small", title=model, title_fontsize="small")
        return writer.save(fig, stem)


# ------------------------------------------------------------------ features


def plot_features(
    writer: PlotWriter,
    stem: str,
    values: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    weights: np.ndarray,
    classes: Sequence[str],
    *,
    bins: int = 40,
) -> list[str]:
    """Normalised, weighted distribution of every tabular feature per class (one panel each).

    Args:
        values: features, shape ``(N, T)``.
        labels: class index per row, shape ``(N,)``.
        weights: physics weights, shape ``(N,)``.
    """
    with writer.style():
        fig, axes = _grid(len(names), 4, size=4.6)
        _label_grid(writer, axes)  # before the content: mplhep draws the figure to place the text
        for j, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
            col = values[:, j].astype(np.float64)
            good = np.isfinite(col)
            if not good.any():
                ax.set_xlabel(name)
                continue
            lo, hi = np.percentile(col[good], [0.5, 99.5])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            for k, cls in enumerate(classes):
                sel = good & (labels == k)
                if not sel.any():
                    continue
                v, _, edges = _density(col[sel], weights[sel], bins, float(lo), float(hi))
                mplhep.histplot(v, edges, histtype="step", ax=ax, label=cls, lw=1.5)
            ax.set_xlabel(name, fontsize="small")
            ax.set_ylabel("Normalised", fontsize="small")
            ax.tick_params(labelsize="x-small")
            if j == 0:
                ax.legend(fontsize="x-small")
        return writer.save(fig, stem)


# ------------------------------------------------------------------ importance


def plot_importance(writer: PlotWriter, stem: str, imp: Importance, *, model: str) -> list[str]:
    """Permutation importance: AUC drop per shuffled feature (mean ± std over repeats), sorted."""
    order = np.argsort(imp.drop_mean)
    n = len(order)
    with writer.style():
        fig, ax = plt.subplots(figsize=(9, 2.5 + 0.45 * n))
        writer.label(ax)  # before the content: mplhep draws the figure to place the text
        ax.barh(np.arange(n), imp.drop_mean[order], xerr=imp.drop_std[order], color="tab:blue", alpha=0.8)
        ax.set_yticks(np.arange(n), [imp.features[i] for i in order], fontsize="small")
        ax.minorticks_off()
        ax.axvline(0, color="k", lw=1)
        ax.set_xlabel(f"AUC drop when shuffled (baseline AUC = {imp.baseline_auc:.4f})")
        ax.text(0.98, 0.02, model, transform=ax.transAxes, ha="right", va="bottom", fontsize="small")
        return writer.save(fig, stem)


# ------------------------------------------------------------------ efficiency vs observer


def _asymmetric(series: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    """``(2, K)`` error bars from ``key``, ``key_lo``, ``key_hi``; an unbounded side is drawn to the axis edge."""
    v = np.asarray(series[key], dtype=np.float64)
    lo = np.asarray(series[f"{key}_lo"], dtype=np.float64)
    hi = np.asarray(series[f"{key}_hi"], dtype=np.float64)
    hi = np.where(np.isinf(hi), 10 * np.where(np.isfinite(v), v, 1.0), hi)
    return np.nan_to_num(np.stack([v - lo, hi - v]), nan=0.0).clip(min=0.0)


def plot_efficiency_vs_observer(
    writer: PlotWriter,
    stem: str,
    edges: np.ndarray,
    series: Mapping[str, Mapping[str, np.ndarray]],
    *,
    observer: str,
    working_point: float,
    model: str,
) -> list[str]:
    """Signal efficiency and background rejection per observer bin at a fixed working point.

    Args:
        edges: bin edges of the observer, shape ``(K+1,)``.
        series: signal name -> {"eff_sig", "eff_sig_lo", "eff_sig_hi", "rejection", "rejection_lo",
            "rejection_hi"}, each ``(K,)``: values and their 68 % intervals (Clopper–Pearson).
    """
    centres = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * np.diff(edges)
    with writer.style():
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 10), sharex=True, gridspec_kw={"hspace": 0.08})
        writer.label(ax)  # before the content: mplhep draws the figure to place the text
        for name, s in series.items():
            ax.errorbar(centres, s["eff_sig"], xerr=half, yerr=_asymmetric(s, "eff_sig"), fmt="o", ms=4, label=name)
            rax.errorbar(centres, s["rejection"], xerr=half, yerr=_asymmetric(s, "rejection"), fmt="o", ms=4,
                         label=name)
        ax.axhline(working_point, color="grey", ls="--", lw=1)
        ax.set_ylabel(r"Signal efficiency $\varepsilon_S$")
        ax.set_ylim(0, 1.3)
        ax.legend(title=f"{model}, WP $\\varepsilon_S$ = {100 * working_point:g}%", fontsize="small",
                  title_fontsize="small", loc="upper right")
        if any(np.any(np.isfinite(s["rejection"]) & (s["rejection"] > 0)) for s in series.values()):
            rax.set_yscale("log")  # bins where no background passes have no point
        rax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
        rax.set_xlabel(observer)
        rax.set_xlim(edges[0], edges[-1])
        return writer.save(fig, stem)


# ------------------------------------------------------------------ sculpting


def plot_sculpting(writer: PlotWriter, stem: str, sc: Sculpting, *, observer: str, model: str,
                   title: str) -> list[str]:
    """Normalised background distribution of ``observer`` before and after cuts of fixed ε_B, with JSD."""
    with writer.style():
        fig, ax = plt.subplots(figsize=(9, 7.5))
        writer.label(ax)  # before the content: mplhep draws the figure to place the text
        mplhep.histplot(sc.inclusive, sc.edges, histtype="fill", alpha=0.25, color="grey", ax=ax,
                        label="background, no cut")
        for eff, h in sc.passed.items():
            mplhep.histplot(h, sc.edges, histtype="step", lw=2, ax=ax,
                            label=f"$\\varepsilon_B$ = {100 * eff:g}%: 1/JSD = {_inverse(sc.jsd[eff])}")
        top = max([float(sc.inclusive.max())] + [float(h.max()) for h in sc.passed.values()])
        ax.set_ylim(0, 1.7 * top if top > 0 else 1.0)  # the curves fill the lower 60 %, the legend the top
        ax.set_xlim(sc.edges[0], sc.edges[-1])
        ax.set_xlabel(observer)
        ax.set_ylabel("Fraction of background")
        ax.legend(title=f"{model}: {title}", fontsize="x-small", title_fontsize="x-small", loc="upper right")
        return writer.save(fig, stem)


def _inverse(jsd: float) -> str:
    return "∞" if jsd == 0 else ("–" if not np.isfinite(jsd) else f"{1 / jsd:.3g}")
