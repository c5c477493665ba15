"""A small SVG chart layer for :mod:`pipeline.plots`: a :class:`Chart` holds plot areas
(:class:`Panel`: data limits mapped onto a pixel box, nice ticks, grid, legend) and the text
around them; series are drawn with a :class:`Pen`. All text is escaped (names come from
user configs), and non-finite values break lines instead of producing invalid SVG.

Hand-written rather than matplotlib: a sweep draws seven figures for every configuration,
and matplotlib spent ~0.4 s of CPU on them; these take ~6 ms.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOLID, DASHED, DOTTED = "", "6 4", "1.5 3"  # stroke-dasharray values

WIDTH, HEIGHT = 550, 450  # pixels, the size of the former 5.5 x 4.5 in figures at 100 dpi
LEFT, RIGHT, TOP, BOTTOM = 66, 16, 34, 48  # room around a plot area for ticks, labels, title

FONT_FAMILY = "Arial, Helvetica, sans-serif"
TITLE_FONT, LABEL_FONT, TICK_FONT, LEGEND_FONT = 13, 12, 10, 10
INK, FRAME, GRID = "#222222", "#555555", "#e6e6e6"
X_TICK_SPACING, Y_TICK_SPACING = 65, 45  # pixels per tick interval, at least
LEGEND_ROW, LEGEND_SAMPLE, LEGEND_PAD = 15, 22, 6
BLUES = np.array([[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
                  [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]])  # ColorBrewer Blues
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Chart:
    """An SVG figure: one or more plot areas and the text around them.

    ``to_svg()`` returns the document; ``save(path)`` writes it (UTF-8).
    """

    def __init__(self, title: str, width: int, height: int):
        self.title, self.width, self.height = title, width, height
        self._panels: list[Panel] = []
        self._extra: list[str] = []

    def panel(self, left: float, top: float, width: float, height: float, xlim, ylim) -> Panel:
        """A plot area at pixel box (left, top, width, height) showing data limits xlim, ylim."""
        panel = Panel(left, top, width, height, xlim, ylim)
        self._panels.append(panel)
        return panel

    def heading(self) -> None:
        """The title, centred above all panels."""
        self._extra.append(_text(self.width / 2, 20, self.title, size=TITLE_FONT, bold=True))

    def legend(self, entries: Sequence[Entry], left: float, top: float, ncols: int = 1) -> None:
        """A legend outside the panels, its top left corner at (left, top)."""
        self._extra.append(_legend(entries, left, top, ncols))

    def to_svg(self) -> str:
        w, h = self.width, self.height
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                f'font-family="{FONT_FAMILY}" font-size="{TICK_FONT}" fill="{INK}">'
                f'<title>{_escape(self.title)}</title><rect width="{w}" height="{h}" fill="white"/>'
                + "".join(panel.markup() for panel in self._panels) + "".join(self._extra) + "</svg>")

    _repr_svg_ = to_svg  # Jupyter shows a chart inline

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_svg(), encoding="utf-8")
        return path


@dataclass(frozen=True)
class Pen:
    """How a series is drawn: its colour, dash pattern, line width and opacity."""

    color: str
    dash: str = SOLID
    width: float = 1.8
    opacity: float = 1.0

    def stroke(self) -> str:
        attrs = f' fill="none" stroke="{self.color}" stroke-width="{self.width}"'
        attrs += f' stroke-dasharray="{self.dash}"' if self.dash else ""
        return attrs + (f' stroke-opacity="{self.opacity}"' if self.opacity < 1 else "")


@dataclass(frozen=True)
class Entry:
    """A legend entry: its text and a sample drawn as a "line", "marker" (line and dot) or "patch"."""

    label: str
    pen: Pen
    sample: str = "line"


class Panel:
    """One plot area: data limits mapped onto a pixel box, with grid, ticks, labels and legend.

    The data go into a nested ``<svg>``, which clips them to the plot area without the ids
    that a ``clipPath`` needs (ids would collide when the report inlines several charts).
    :meth:`x` and :meth:`y` give pixels from the plot area's top left corner, as used inside it.
    """

    def __init__(self, left, top, width, height, xlim, ylim):
        self.left, self.top, self.width, self.height = left, top, width, height
        self.xlim, self.ylim = xlim, ylim
        self._below: list[str] = []  # the grid
        self._data: list[str] = []
        self._above: list[str] = []  # ticks, labels, legend

    def x(self, values) -> np.ndarray:
        lo, hi = self.xlim
        return (np.asarray(values, dtype=float) - lo) * (self.width / (hi - lo))

    def y(self, values) -> np.ndarray:
        lo, hi = self.ylim
        return self.height - (np.asarray(values, dtype=float) - lo) * (self.height / (hi - lo))

    # -- axes

    def title(self, text: str) -> None:
        centre = self.left + self.width / 2
        self._above.append(_text(centre, self.top - 10, text, size=TITLE_FONT, bold=True, fit=self.width))

    def xaxis(self, label: str = "", *, ticks=None, integer=False, show_labels=True, grid=True) -> None:
        """Ticks along the bottom: ``ticks`` as (value, text) pairs, or nice ones by default."""
        if ticks is None:
            ticks = _nice_ticks(*self.xlim, self.width // X_TICK_SPACING, integer)
        xs = self.left + self.x([value for value, _ in ticks])
        bottom = self.top + self.height
        if grid:
            self._below.append(_lines(GRID, (f"M{x:.1f},{self.top}v{self.height}" for x in xs)))
        self._above.append(_lines(FRAME, (f"M{x:.1f},{bottom}v4" for x in xs)))
        if show_labels:
            self._above.append(_text_group("x-ticks", "middle", (
                (x, bottom + 15, text) for x, (_, text) in zip(xs, ticks))))
        if label:
            centre = self.left + self.width / 2
            self._above.append(_text(centre, bottom + 36, label, size=LABEL_FONT, fit=self.width))

    def yaxis(self, label: str = "", *, ticks=None, integer=False, show_labels=True, grid=True) -> None:
        """Ticks along the left side, as :meth:`xaxis`."""
        if ticks is None:
            ticks = _nice_ticks(*self.ylim, self.height // Y_TICK_SPACING, integer)
        ys = self.top + self.y([value for value, _ in ticks])
        if grid:
            self._below.append(_lines(GRID, (f"M{self.left},{y:.1f}h{self.width}" for y in ys)))
        self._above.append(_lines(FRAME, (f"M{self.left},{y:.1f}h-4" for y in ys)))
        widest = 0.0
        if show_labels and ticks:
            self._above.append(_text_group("y-ticks", "end", (
                (self.left - 7, y + 3.5, text) for y, (_, text) in zip(ys, ticks))))
            widest = max(text_width(text, TICK_FONT) for _, text in ticks)
        if label:
            x, y = max(14.0, self.left - 16 - widest), self.top + self.height / 2
            self._above.append(_text(x, y, label, size=LABEL_FONT, rotate=True, fit=self.height))

    def legend(self, entries: Sequence[Entry], corner: str, ncols: int = 1) -> None:
        """A legend box inside the plot area: corner "upper right", "lower left", "upper center", ..."""
        width, height = legend_size(entries, ncols)
        vertical, horizontal = corner.split()
        left = {"left": self.left + 8, "center": self.left + (self.width - width) / 2,
                "right": self.left + self.width - 8 - width}[horizontal]
        top = self.top + 8 if vertical == "upper" else self.top + self.height - 8 - height
        self._above.append(_legend(entries, left, top, ncols))

    # -- data

    def line(self, x, y, pen: Pen, kind: str = "curve") -> None:
        """A line through the points; ``kind`` is its class: "curve" (data) or "reference"."""
        self._data.append(f'<path class="{kind}" d="{_path_data(self.x(x), self.y(y))}"{pen.stroke()}/>')

    def band(self, x, low, high, pen: Pen) -> None:
        """The area between two curves over ``x`` (e.g. a pointwise confidence band), filled
        in the pen's colour at its opacity; points where either bound is not finite are left out."""
        x, low, high = (np.asarray(v, dtype=float) for v in (x, low, high))
        keep = np.isfinite(x) & np.isfinite(low) & np.isfinite(high)
        if keep.sum() < 2:
            return
        px = np.r_[self.x(x[keep]), self.x(x[keep][::-1])]
        py = np.r_[self.y(high[keep]), self.y(low[keep][::-1])]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(np.clip(px, -1e6, 1e6), np.clip(py, -1e6, 1e6)))
        self._data.append(f'<polygon class="band" points="{points}" fill="{pen.color}" '
                          f'fill-opacity="{pen.opacity}" stroke="none"/>')

    def markers(self, x, y, pen: Pen) -> None:
        """Dots at the points (e.g. calibration bins); non-finite points are skipped."""
        px, py = self.x(x), self.y(y)
        finite = np.isfinite(px) & np.isfinite(py)
        dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3"/>' for a, b in zip(px[finite], py[finite]))
        self._data.append(f'<g class="markers" fill="{pen.color}">{dots}</g>')

    def bars(self, edges, counts, pen: Pen) -> None:
        """Histogram bars over bins ``edges[i]..edges[i + 1]``; empty bins are left out."""
        left, right, top = self.x(edges[:-1]), self.x(edges[1:]), self.y(counts)
        base = float(self.y(0))
        rects = "".join(f'<rect x="{a:.1f}" y="{t:.1f}" width="{b - a:.1f}" height="{base - t:.1f}"/>'
                        for a, b, t, n in zip(left, right, top, counts) if n > 0)
        self._data.append(f'<g class="bars" fill="{pen.color}" fill-opacity="{pen.opacity}" '
                          f'stroke="white" stroke-width="0.5">{rects}</g>')

    def rect(self, x0, y0, x1, y1, fill: str) -> None:
        """A filled rectangle between data corners (x0, y0) and (x1, y1)."""
        (a, b), (c, d) = sorted(self.x([x0, x1])), sorted(self.y([y0, y1]))
        self._data.append(f'<rect x="{a:.1f}" y="{c:.1f}" width="{b - a:.1f}" height="{d - c:.1f}" '
                          f'fill="{fill}"/>')

    def label(self, x, y, lines: Sequence[str], color: str, size: float) -> None:
        """Lines of text centred on data point (x, y)."""
        px, py = float(self.x(x)), float(self.y(y))
        first = py + size * (0.35 - 0.6 * (len(lines) - 1))
        spans = "".join(f'<tspan x="{px:.1f}" y="{first + i * 1.2 * size:.1f}">{_escape(line)}</tspan>'
                        for i, line in enumerate(lines))
        self._data.append(f'<text class="cell" text-anchor="middle" font-size="{size:.1f}" '
                          f'fill="{color}">{spans}</text>')

    def markup(self) -> str:
        box = f'x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}"'
        return ('<g class="panel">' + "".join(self._below)
                + f'<svg class="plot-area" {box} overflow="hidden" stroke-linejoin="round">'
                + "".join(self._data) + "</svg>"
                + f'<rect {box} fill="none" stroke="{FRAME}"/>' + "".join(self._above) + "</g>")


def single_panel_chart(title: str, xlim, ylim, width: int = WIDTH,
                       height: int = HEIGHT) -> tuple[Chart, Panel]:
    """A chart with one titled plot area."""
    chart = Chart(title, width, height)
    panel = chart.panel(LEFT, TOP, width - LEFT - RIGHT, height - TOP - BOTTOM, xlim, ylim)
    panel.title(title)
    return chart, panel


def padded(values, fraction: float = 0.05) -> tuple[float, float]:
    """The range of the finite values widened by ``fraction`` of it on each side, so that
    curves do not run along the frame; (0, 1) when no value is finite."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    margin = fraction * (hi - lo)
    return lo - margin, hi + margin


def _nice_ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> list[tuple[float, str]]:
    """(value, text) of ticks on [lo, hi] at a 1, 2 or 5 x 10^k step, at most ``most`` + 1
    of them (and never fewer than 3 intervals' worth, so a short axis still has a middle)."""
    rough = (hi - lo) / max(most, 3)
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough * (1 - 1e-9))
    step = max(step, 1.0) if integer else step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    # round() then + 0.0 so that a tick at zero never reads "-0.0"
    return [(i * step, f"{round(i * step, decimals) + 0.0:.{decimals}f}") for i in range(first, last + 1)]


def post_steps(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a step line that holds each y until the next x (matplotlib's where="post")."""
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def histogram_outline(edges, counts) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the outline of a histogram, from the baseline and back to it."""
    return np.repeat(edges, 2), np.r_[0, np.repeat(counts, 2), 0]


def _path_data(px: np.ndarray, py: np.ndarray) -> str:
    """SVG path data through pixel points, broken where a value is not finite.

    Points are rounded to 0.1 px; repeated points and points on a straight run between
    their neighbours are dropped, which changes nothing that can be seen.
    """
    finite = np.isfinite(px) & np.isfinite(py)
    starts = np.flatnonzero(finite & ~np.r_[False, finite[:-1]])
    ends = np.flatnonzero(finite & ~np.r_[finite[1:], False]) + 1
    tenths = np.zeros((px.size, 2), dtype=np.int64)
    # Far off-screen points (treat-all near t = 1) are pulled in to keep integers small;
    # at a million pixels away the visible part of their segments moves by < 0.1 px.
    tenths[finite] = np.round(np.clip(np.c_[px[finite], py[finite]], -1e6, 1e6) * 10)
    runs = (_thinned(tenths[a:b]) for a, b in zip(starts, ends))
    return "".join("M" + " ".join(f"{x / 10:.1f},{y / 10:.1f}" for x, y in run.tolist()) for run in runs)


def _thinned(points: np.ndarray) -> np.ndarray:
    """Integer points without repeats and without interior points of straight runs."""
    points = points[np.r_[True, np.any(points[1:] != points[:-1], axis=1)]]
    if len(points) < 3:
        return points
    before, after = points[1:-1] - points[:-2], points[2:] - points[1:-1]
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    turns = (cross != 0) | (np.sum(before * after, axis=1) <= 0)  # a reversal is a turn too
    return points[np.r_[True, turns, True]]


def blues(fraction: float) -> str:
    """A colour of the Blues scale, from nearly white (0) to dark blue (1)."""
    position = fraction * (len(BLUES) - 1)
    low = min(int(position), len(BLUES) - 2)
    rgb = BLUES[low] + (position - low) * (BLUES[low + 1] - BLUES[low])
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)


def _escape(text) -> str:
    """Text safe inside SVG: markup characters escaped, characters XML forbids dropped."""
    return html.escape(_NOT_XML.sub("", str(text)))


def shorten(text: str, limit: int = 64) -> str:
    """``text`` cut in the middle to ``limit`` characters: names differ at either end."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def text_width(text: str, size: float) -> float:
    """An estimate (no font metrics here): sans-serif characters average ~0.6 em."""
    return 0.6 * size * len(text)


def _text(x: float, y: float, content: str, *, size: float = TICK_FONT, bold: bool = False,
          rotate: bool = False, fit: float | None = None) -> str:
    """Centred text at (x, y); ``rotate`` turns it to read upwards (a y-axis label); ``fit``
    shortens it to that many pixels (names come from user configs)."""
    if fit is not None:
        content = shorten(str(content), max(8, int(fit / text_width("x", size))))
    attrs = f' font-size="{size}"' + (' font-weight="bold"' if bold else "")
    attrs += f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{attrs}>{_escape(content)}</text>'


def _text_group(kind: str, anchor: str, items: Iterable[tuple[float, float, str]]) -> str:
    texts = "".join(f'<text x="{x:.1f}" y="{y:.1f}">{_escape(t)}</text>' for x, y, t in items)
    return f'<g class="{kind}" text-anchor="{anchor}">{texts}</g>'


def _lines(color: str, segments: Iterable[str]) -> str:
    return f'<path d="{"".join(segments)}" fill="none" stroke="{color}" stroke-width="1"/>'


def legend_size(entries: Sequence[Entry], ncols: int) -> tuple[float, float]:
    rows = math.ceil(len(entries) / ncols)
    return (ncols * _legend_column(entries) + (ncols - 1) * 12 + 2 * LEGEND_PAD,
            rows * LEGEND_ROW + 2 * LEGEND_PAD)


def _legend_column(entries: Sequence[Entry]) -> float:
    return LEGEND_SAMPLE + 6 + max(text_width(shorten(e.label), LEGEND_FONT) for e in entries)


def _legend(entries: Sequence[Entry], left: float, top: float, ncols: int) -> str:
    """A boxed legend with its top left corner at (left, top); entries fill columns first."""
    width, height = legend_size(entries, ncols)
    column, rows = _legend_column(entries), math.ceil(len(entries) / ncols)
    parts = [f'<g class="legend" font-size="{LEGEND_FONT}">'
             f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" rx="3" '
             'fill="white" fill-opacity="0.85" stroke="#cccccc"/>']
    for index, entry in enumerate(entries):
        x = left + LEGEND_PAD + (index // rows) * (column + 12)
        y = top + LEGEND_PAD + (index % rows + 0.5) * LEGEND_ROW
        parts.append(_legend_sample(entry, x, y) + f'<text x="{x + LEGEND_SAMPLE + 6:.1f}" y="{y + 3.5:.1f}">'
                     f"{_escape(shorten(entry.label))}</text>")
    return "".join(parts) + "</g>"


def _legend_sample(entry: Entry, x: float, y: float) -> str:
    pen = entry.pen
    if entry.sample == "patch":
        return (f'<rect x="{x:.1f}" y="{y - 5:.1f}" width="{LEGEND_SAMPLE}" height="10" fill="{pen.color}" '
                f'fill-opacity="{pen.opacity}"/>')
    line = f'<path d="M{x:.1f},{y:.1f}h{LEGEND_SAMPLE}"{pen.stroke()}/>'
    if entry.sample == "marker":
        line += f'<circle cx="{x + LEGEND_SAMPLE / 2:.1f}" cy="{y:.1f}" r="3" fill="{pen.color}"/>'
    return line
