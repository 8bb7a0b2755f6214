"""Layout checks of a drawn figure: overlapping text and legends that hide data.

Used by the tests on every plot kind, and available to anyone adding a plot
(``PlotWriter(check=True)`` raises on a collision before a figure is written).
Boxes are the artists' window extents after a draw, in display pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Pixels two boxes may share before they count as overlapping (anti-aliasing, glyph padding).
TOLERANCE = 1.0


def _undrawn_tick_labels(fig: Figure) -> set[int]:
    """Tick labels that exist but are not drawn (ticks outside the view, labels switched off)."""
    hidden: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            # Axis._update_ticks() returns the ticks a draw renders (inside the view interval);
            # get_ticklabels() also returns the labels of ticks outside it.
            drawn = {id(x) for tick in axis._update_ticks() for x in (tick.label1, tick.label2)
                     if x.get_visible()}
            for tick in [*axis.majorTicks, *axis.minorTicks]:
                hidden.update(id(x) for x in (tick.label1, tick.label2) if id(x) not in drawn)
    return hidden


def _visible_texts(fig: Figure) -> Iterator[Text]:
    hidden = _undrawn_tick_labels(fig)
    for t in fig.findobj(Text):
        ax = t.axes
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden and (ax is None or ax.get_visible()):
            yield t


def _overlap(a: Bbox, b: Bbox) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE) and (min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE)


def _inside_legend(t: Text, legends: list[Legend]) -> bool:
    return any(t in leg.get_texts() or t is leg.get_title() for leg in legends)


def _corner_pairs(fig: Figure) -> set[frozenset[int]]:
    """(x, y) tick-label pairs of one axes: where they touch, at a corner, is matplotlib's usual layout."""
    pairs = set()
    for ax in fig.axes:
        xs = [x for tick in ax.xaxis.majorTicks + ax.xaxis.minorTicks for x in (tick.label1, tick.label2)]
        ys = [y for tick in ax.yaxis.majorTicks + ax.yaxis.minorTicks for y in (tick.label1, tick.label2)]
        pairs.update(frozenset((id(x), id(y))) for x in xs for y in ys)
    return pairs


def text_collisions(fig: Figure) -> list[str]:
    """Pairs of visible texts whose boxes overlap, and texts that a legend box covers."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [leg for leg in fig.findobj(Legend) if leg.get_visible()]
    texts = [t for t in _visible_texts(fig)]
    boxes = [t.get_window_extent(renderer) for t in texts]
    found = []
    corner = _corner_pairs(fig)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if _overlap(boxes[i], boxes[j]) and frozenset((id(texts[i]), id(texts[j]))) not in corner:
                found.append(f"text {texts[i].get_text()!r} overlaps {texts[j].get_text()!r}")
    for leg in legends:
        frame = leg.get_window_extent(renderer)
        for t, box in zip(texts, boxes, strict=True):
            if not _inside_legend(t, [leg]) and _overlap(frame, box):
                found.append(f"legend {leg.get_title().get_text()!r} covers text {t.get_text()!r}")
    return found


def legend_covers_data(fig: Figure) -> list[str]:
    """Legends whose box contains data points of a line drawn in the same axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or not leg.get_visible():
            continue
        frame = leg.get_window_extent(renderer)
        box = ax.get_window_extent(renderer)
        for line in ax.get_lines():
            xy = np.asarray(line.get_xydata(), dtype=np.float64)
            xy = xy[np.all(np.isfinite(xy), axis=1)]
            if not line.get_visible() or len(xy) <= 2:  # reference lines (axhline) are not data
                continue
            px = line.get_transform().transform(xy)
            shown = (px[:, 0] >= box.x0) & (px[:, 0] <= box.x1) & (px[:, 1] >= box.y0) & (px[:, 1] <= box.y1)
            inside = shown & (px[:, 0] > frame.x0) & (px[:, 0] < frame.x1) & (px[:, 1] > frame.y0) & (px[:, 1] < frame.y1)
            if inside.any():
                found.append(f"legend in axes {ax.get_ylabel()!r} covers {int(inside.sum())} point(s) of "
                             f"{line.get_label()!r}")
    return found
