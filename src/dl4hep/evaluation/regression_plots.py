"""Figures of a regression task: response distributions and response/resolution vs an observer."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import mplhep
import numpy as np

from dl4hep.evaluation.plots import PlotWriter
from dl4hep.evaluation.resolution import ResponseSummary

__all__ = ["plot_response", "plot_response_vs"]


def plot_response(
    writer: PlotWriter,
    stem: str,
    responses: Mapping[str, tuple[np.ndarray, np.ndarray]],
    summaries: Mapping[str, ResponseSummary],
    *,
    xlabel: str,
) -> list[str]:
    """Normalised weighted distributions of the response, one step line per model (and the raw baseline)."""
    every = np.concatenate([r[np.isfinite(r)] for r, _ in responses.values()])
    lo, hi = np.quantile(every, [0.005, 0.995]) if len(every) else (0.5, 1.5)
    edges = np.linspace(lo, hi, 61)
    with writer.style():
        fig, ax = plt.subplots(figsize=(9, 7.5))
        writer.label(ax)  # before the content: mplhep draws the figure to place the text
        top = 0.0
        for name, (r, w) in responses.items():
            h, _ = np.histogram(r, edges, weights=w)
            h = h / h.sum() if h.sum() > 0 else h
            top = max(top, float(h.max()) if len(h) else 0.0)
            s = summaries[name]
            mplhep.histplot(
                h,
                edges,
                histtype="step",
                lw=2,
                ax=ax,
                label=f"{name}: median {s.median:.3f}, $\\sigma_{{eff}}$ {s.sigma_eff:.3f}",
            )
        ax.set_ylim(0, 1.6 * top if top > 0 else 1.0)  # curves in the lower 60 %, legend above
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Fraction of objects")
        ax.legend(fontsize="x-small", loc="upper right")
        return writer.save(fig, stem)


def plot_response_vs(
    writer: PlotWriter,
    stem: str,
    edges: np.ndarray,
    series: Mapping[str, list[ResponseSummary]],
    *,
    observer: str,
    ylabel: str,
) -> list[str]:
    """Median response with its central 68 % interval (top) and σ_eff / median (bottom) per bin of ``observer``."""
    centres, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
    with writer.style():
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
        )
        writer.label(top)
        n = max(1, len(series))
        for k, (name, bins) in enumerate(series.items()):
            shift = (k - (n - 1) / 2) * 0.15 * half  # side by side within a bin
            med = np.array([b.median for b in bins])
            lo = med - np.array([b.q16 for b in bins])
            hi = np.array([b.q84 for b in bins]) - med
            top.errorbar(
                centres + shift, med, yerr=[lo, hi], xerr=half, fmt="o", ms=4, capsize=0, label=name
            )
            bottom.plot(centres + shift, [b.resolution for b in bins], "o-", ms=4, label=name)
        top.axhline(1.0, color="grey", lw=1, ls="--")
        ymin, ymax = top.get_ylim()
        top.set_ylim(ymin, ymax + 0.6 * (ymax - ymin))  # room for the legend above the points
        top.set_ylabel(f"{ylabel}: median, 68 %")
        top.legend(fontsize="x-small", loc="upper right", ncols=2)
        bottom.set_ylabel("$\\sigma_{eff}$ / median")
        bottom.set_xlabel(observer)
        bottom.set_ylim(bottom=0)
        return writer.save(fig, stem)
