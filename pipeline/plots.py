"""Evaluation figures as SVG: learning curves, ROC, precision-recall, calibration, decision
curve, confusion matrix, predicted-probability histograms, and the validation curves of
many configurations for the report.

Every function returns a :class:`Chart`; ``chart.to_svg()`` is a standalone SVG document
(shown by the MLflow UI's artifact viewer, inlined as is in the HTML report) and
``chart.save(path)`` writes it. The charts are drawn here, by a small layer at the end of
this module, rather than by matplotlib: a sweep draws seven figures for every configuration,
and matplotlib spent ~0.4 s of CPU on them, more than the whole per-configuration budget.

Functions that compare models (ROC, PR, calibration, decision curve) take either one
probability array or a dict ``{name: prob}`` of several models scored on the same rows.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import calibration as skcal
from sklearn import metrics as skm

from pipeline import metrics

Curves = np.ndarray | Mapping[str, np.ndarray]

# Okabe & Ito's colour-blind-safe palette, without its yellow (too pale for lines on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#8c8c8c"
SOLID, DASHED, DOTTED = "", "6 4", "1.5 3"  # stroke-dasharray values

WIDTH, HEIGHT = 550, 450  # pixels, the size of the former 5.5 x 4.5 in figures at 100 dpi
LEFT, RIGHT, TOP, BOTTOM = 66, 16, 34, 48  # room around a plot area for ticks, labels, title


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _legend_name(name: str) -> str:
    """A model's name, short enough to leave room for its numbers in a legend entry."""
    return _shorten(str(name), 32)


def _curves(y, prob: Curves) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validated labels and a name -> probabilities dict (one unnamed model is "model")."""
    named = dict(prob) if isinstance(prob, Mapping) else {"model": prob}
    if not named:
        raise ValueError("prob is an empty dict; pass probabilities or {name: probabilities}")
    checked = {}
    for name, p in named.items():
        y_checked, checked[name] = metrics.check_binary(y, p, f"prob[{name!r}]")
    return y_checked, checked


def learning_curves(histories: Sequence[Mapping[str, Sequence[float]]]) -> Chart:
    """Training (solid) and validation (dashed) loss per epoch, one colour per fold.

    Parameters
    ----------
    histories : list of dict -- one per fold, e.g. an estimator's ``history_``: per-epoch
        lists ``train_loss`` and, when a validation set was used, ``val_loss``.
    """
    if not histories:
        raise ValueError("histories is empty: pass one history dict per fold")
    series = []  # (fold, dash, losses)
    for fold, history in enumerate(histories):
        if "train_loss" not in history:
            raise ValueError(f"histories[{fold}] has no 'train_loss' (keys: {sorted(history)})")
        series += [(fold, dash, np.asarray(history[key], dtype=float))
                   for key, dash in (("train_loss", SOLID), ("val_loss", DASHED)) if key in history]
    longest = max(len(losses) for _, _, losses in series)
    chart, panel = _single("Learning curves", _padded([1, max(longest, 1)]),
                           _padded(np.concatenate([losses for _, _, losses in series])))
    panel.xaxis("epoch", integer=True)
    panel.yaxis("loss")
    for fold, dash, losses in series:
        panel.line(np.arange(1, losses.size + 1), losses, _Pen(_colour(fold), dash))
    # Style entries apart from the fold colours, so that ten folds need twelve entries, not twenty.
    entries = [_Entry(f"fold {fold}", _Pen(_colour(fold))) for fold in range(len(histories))]
    entries += [_Entry("train", _Pen(GREY)), _Entry("validation", _Pen(GREY, DASHED))]
    panel.legend(entries, "upper right", ncols=2)
    return chart


def roc_curve(y, prob: Curves) -> Chart:
    """ROC curve of one or several models, with the chance diagonal.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,) -- P(y = 1).
    """
    y, named = _curves(y, prob)
    side = HEIGHT - TOP - BOTTOM  # a square plot area: the diagonal at 45 degrees
    chart, panel = _single("ROC curve", (0, 1), (0, 1.01), width=LEFT + side + RIGHT)
    panel.xaxis("1 - specificity")
    panel.yaxis("sensitivity")
    chance = _Pen(GREY, DOTTED, 1.2)
    panel.line([0, 1], [0, 1], chance, kind="reference")
    entries = []
    for index, (name, p) in enumerate(named.items()):
        fpr, tpr, _ = skm.roc_curve(y, p)
        pen = _Pen(_colour(index))
        panel.line(fpr, tpr, pen)
        entries.append(_Entry(f"{_legend_name(name)} (AUROC {metrics.auroc(y, p):.3f})", pen))
    panel.legend([*entries, _Entry("chance", chance)], "lower right")
    return chart


def precision_recall_curve(y, prob: Curves) -> Chart:
    """Precision-recall curve(s) with the prevalence as the no-skill baseline.

    Parameters as in :func:`roc_curve`.
    """
    y, named = _curves(y, prob)
    chart, panel = _single("Precision-recall curve", (0, 1), (0, 1.01))
    panel.xaxis("recall (sensitivity)")
    panel.yaxis("precision (PPV)")
    prevalence = y.mean()
    baseline = _Pen(GREY, DOTTED, 1.2)
    panel.line([0, 1], [prevalence, prevalence], baseline, kind="reference")
    entries = []
    for index, (name, p) in enumerate(named.items()):
        precision, recall, _ = skm.precision_recall_curve(y, p)
        # The step area under the drawn curve is metrics' auprc (average precision),
        # without the calibration fits that binary_metrics would add.
        average_precision = -np.sum(np.diff(recall) * precision[:-1])
        pen = _Pen(_colour(index))
        panel.line(*_post_steps(recall, precision), pen)
        entries.append(_Entry(f"{_legend_name(name)} (AP {average_precision:.3f})", pen))
    panel.legend([*entries, _Entry(f"prevalence {prevalence:.2f}", baseline)], "lower left")
    return chart


def calibration_curve(y, prob: Curves, n_bins: int = 10) -> Chart:
    """Reliability diagram: observed event rate against mean predicted risk per bin.

    The upper panel shows one line per model, the ideal diagonal, and each model's
    calibration intercept and slope in the legend; the lower panel the histogram of
    predictions, which shows where the bins rest on few patients.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,).
    n_bins : int -- equal-width bins on [0, 1].
    """
    if not (isinstance(n_bins, int) and n_bins >= 2):
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    y, named = _curves(y, prob)
    edges = np.linspace(0, 1, n_bins + 1)
    counts = {name: np.histogram(p, bins=edges)[0] for name, p in named.items()}
    height, gap = round(HEIGHT * 1.3), 10
    plots_height = height - TOP - BOTTOM - gap
    top_height = round(plots_height * 0.75)
    chart = Chart("Calibration", WIDTH, height)
    width = WIDTH - LEFT - RIGHT
    top = chart.panel(LEFT, TOP, width, top_height, (0, 1), (0, 1))
    bottom = chart.panel(LEFT, TOP + top_height + gap, width, plots_height - top_height, (0, 1),
                         (0, 1.05 * max(max(c.max() for c in counts.values()), 1)))
    top.title("Calibration")
    top.xaxis(show_labels=False)  # shared with the histogram below
    top.yaxis("observed event rate")
    bottom.xaxis("predicted probability")
    bottom.yaxis("patients", integer=True)
    ideal = _Pen(GREY, DOTTED, 1.2)
    top.line([0, 1], [0, 1], ideal, kind="reference")
    entries = [_Entry("ideal", ideal)]
    for index, (name, p) in enumerate(named.items()):
        observed, predicted = skcal.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        m = metrics.binary_metrics(y, p)  # the only public source of intercept and slope
        pen = _Pen(_colour(index))
        top.line(predicted, observed, pen)
        top.markers(predicted, observed, pen)
        bottom.line(*_histogram_outline(edges, counts[name]), pen)
        entries.append(_Entry(f"{_legend_name(name)} (intercept {m['calibration_intercept']:.2f}, "
                              f"slope {m['calibration_slope']:.2f})", pen, "marker"))
    top.legend(entries, "upper left")
    return chart


def decision_curve(y, prob: Curves, thresholds=metrics.DEFAULT_THRESHOLDS) -> Chart:
    """Net benefit of the model(s) against treating everyone and treating no one.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,).
    thresholds : array-like, shape (m,) -- threshold probabilities in (0, 1).
    """
    y, named = _curves(y, prob)
    curves = {name: metrics.decision_curve(y, p, thresholds) for name, p in named.items()}
    reference = next(iter(curves.values()))
    t = reference["thresholds"]
    # Treat-all plunges towards -infinity as t -> 1; the interesting range is near zero.
    prevalence = y.mean()
    top = max(0.0, *(curve["model"].max() for curve in curves.values()))
    ylim = (-0.05 * max(prevalence, 0.2), 1.1 * max(top, prevalence) + 0.01)
    chart, panel = _single("Decision curve", _padded(t), ylim)
    panel.xaxis("threshold probability")
    panel.yaxis("net benefit")
    treat_all, treat_none = _Pen(GREY, DASHED), _Pen("#000000", DOTTED, 1.2)
    panel.line(t, reference["treat_all"], treat_all, kind="reference")
    panel.line(t, reference["treat_none"], treat_none, kind="reference")
    entries = []
    for index, (name, curve) in enumerate(curves.items()):
        pen = _Pen(_colour(index))
        panel.line(t, curve["model"], pen)
        entries.append(_Entry(_legend_name(name), pen))
    panel.legend([*entries, _Entry("treat all", treat_all), _Entry("treat none", treat_none)],
                 "upper right")
    return chart


def confusion_matrix(y, pred_labels, class_names: Sequence[str]) -> Chart:
    """Confusion matrix of counts (rows: true class, columns: predicted), with row percentages.

    Parameters
    ----------
    y, pred_labels : array-like, shape (n,) -- class codes ``0..K-1``.
    class_names : sequence of K str -- names of the codes, in order.
    """
    k = len(class_names)
    truth = _class_codes(y, "y", k)
    predicted = _class_codes(pred_labels, "pred_labels", k)
    if truth.size != predicted.size:
        raise ValueError(f"pred_labels has {predicted.size} rows but y has {truth.size}")
    counts = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    row_share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = HEIGHT - TOP - BOTTOM
    cell = side / k
    names = [_shorten(str(name), max(4, int(cell / 6.5))) for name in class_names]
    left = round(34 + max(_text_width(name, TICK_FONT) for name in names))  # room for the row names
    chart = Chart("Confusion matrix", round(left + side + RIGHT), HEIGHT)
    panel = chart.panel(left, TOP, side, side, (-0.5, k - 0.5), (k - 0.5, -0.5))  # row 0 on top
    panel.title("Confusion matrix")
    ticks = list(enumerate(names))
    panel.xaxis("predicted", ticks=ticks, grid=False)
    panel.yaxis("true", ticks=ticks, grid=False)
    font = min(12.0, cell / 4)
    for (i, j), count in np.ndenumerate(counts):
        dark = count > counts.max() / 2  # white text on dark cells
        panel.rect(j - 0.5, i - 0.5, j + 0.5, i + 0.5, _blues(count / max(counts.max(), 1)))
        panel.label(j, i, [str(count), f"{row_share[i, j]:.0%}"], "white" if dark else "#222222", font)
    return chart


def _class_codes(labels, name: str, k: int) -> np.ndarray:
    codes = np.asarray(labels)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.number):
        raise ValueError(f"{name} must be a 1-D array of class codes, got {codes.dtype} "
                         f"with shape {codes.shape}")
    if not np.all((codes == np.round(codes)) & (codes >= 0) & (codes < k)):
        raise ValueError(f"{name} must hold integer codes 0..{k - 1} matching class_names")
    return codes.astype(int)


def probability_histogram(y, prob, class_names: Sequence[str], bins: int = 20) -> Chart:
    """Histogram of predicted probabilities, split by true class.

    Binary (``prob`` of shape (n,)): P(y = 1) for each true class on one axis.
    Multiclass (``prob`` of shape (n, K)): one panel per class k, showing P(class k)
    for rows of class k against all other rows.

    Parameters
    ----------
    y : array-like, shape (n,) -- class codes ``0..K-1``.
    prob : array-like, shape (n,) or (n, K).
    class_names : sequence of K str.
    """
    prob = np.asarray(prob, dtype=float)
    truth = _class_codes(y, "y", len(class_names))
    edges = np.linspace(0, 1, bins + 1)
    if prob.ndim == 1:
        if len(class_names) != 2:
            raise ValueError("1-D prob means a binary outcome: pass two class_names")
        truth, prob = metrics.check_binary(truth, prob)
        counts = [np.histogram(prob[truth == code], bins=edges)[0] for code in (0, 1)]
        chart, panel = _single("Predicted probabilities", (0, 1), _count_limits(counts))
        labels = [f"true {name}" for name in class_names]
        _histogram_panel(panel, f"P({class_names[1]})", edges, labels, counts)
        return chart
    truth, prob = metrics.check_multiclass(truth, prob, "prob")
    k = prob.shape[1]
    if k != len(class_names):
        raise ValueError(f"prob has {k} columns but class_names has {len(class_names)} names")
    counts = [[np.histogram(prob[truth == code, code], bins=edges)[0],
               np.histogram(prob[truth != code, code], bins=edges)[0]] for code in range(k)]
    ylim = _count_limits([c for pair in counts for c in pair])
    width, height, gap, top = 250, 350, 24, TOP + 22  # room for the chart's and the panels' titles
    chart = Chart("Predicted probabilities", LEFT + k * width + (k - 1) * gap + RIGHT, height)
    chart.heading()
    for code, name in enumerate(class_names):
        panel = chart.panel(LEFT + code * (width + gap), top, width, height - top - BOTTOM, (0, 1), ylim)
        panel.title(name)
        _histogram_panel(panel, f"P({name})", edges, [f"true {name}", "other classes"], counts[code],
                         first=code == 0)
    return chart


def _histogram_panel(panel: _Panel, xlabel: str, edges, labels, counts, first: bool = True) -> None:
    """Overlaid translucent histograms with a legend; y ticks and label only on the first panel."""
    panel.xaxis(xlabel)
    panel.yaxis("patients" if first else "", integer=True, show_labels=first)
    entries = []
    for index, (label, count) in enumerate(zip(labels, counts)):
        pen = _Pen(_colour(index), opacity=0.55)
        panel.bars(edges, count, pen)
        entries.append(_Entry(label, pen, "patch"))
    panel.legend(entries, "upper center")


def _count_limits(counts) -> tuple[float, float]:
    return 0.0, 1.05 * max(max(int(c.max()) for c in counts), 1)


VALIDATION_PANELS = {  # logged key -> panel title, y label
    "mean_val_loss": ("Validation loss (mean over folds)", "loss"),
    "mean_val_auroc": ("Validation AUROC (mean over folds)", "AUROC"),
}


def validation_curves(curves: Mapping[str, Mapping[str, Sequence[float]]],
                      highlight: Sequence[str] = (), max_labelled: int = 10) -> Chart:
    """Validation loss per epoch of several configurations, averaged over folds (and the
    validation AUROC beside it when logged).

    Parameters
    ----------
    curves : dict label -> {"mean_val_loss": [...], "mean_val_auroc": [...]} (per epoch).
    highlight : labels drawn in colour with a legend entry when there are more than
        ``max_labelled`` curves; the others are drawn thin and grey.
    """
    keys = [k for k in VALIDATION_PANELS if any(c.get(k) for c in curves.values())]
    if not keys:
        raise ValueError("no configuration logged mean_val_loss or mean_val_auroc")
    labelled = list(curves) if len(curves) <= max_labelled else [c for c in curves if c in highlight]
    others = [c for c in curves if c not in labelled]
    pens = {label: _Pen(_colour(i)) for i, label in enumerate(labelled)}
    background = _Pen(GREY, width=0.8, opacity=0.6)
    entries = [_Entry(label, pens[label]) for label in labelled]
    entries += [_Entry("other configurations", background)] if others else []
    width, height, gap = 400, 340, 70
    chart_width = LEFT + len(keys) * width + (len(keys) - 1) * gap + RIGHT
    ncols = 2 if _legend_size(entries, 2)[0] <= chart_width - 20 else 1
    legend_width, legend_height = _legend_size(entries, ncols)
    chart = Chart("Validation learning curves", chart_width, TOP + height + BOTTOM + legend_height + 10)
    for index, key in enumerate(keys):
        values = {label: np.asarray(curve.get(key) or [], dtype=float) for label, curve in curves.items()}
        longest = max(v.size for v in values.values())
        panel = chart.panel(LEFT + index * (width + gap), TOP, width, height, _padded([1, longest]),
                            _padded(np.concatenate(list(values.values()))))
        title, ylabel = VALIDATION_PANELS[key]
        panel.title(title)
        panel.xaxis("epoch", integer=True)
        panel.yaxis(ylabel)
        for label in [*others, *labelled]:  # the highlighted curves on top
            panel.line(np.arange(1, values[label].size + 1), values[label], pens.get(label, background))
    chart.legend(entries, (chart_width - legend_width) / 2, TOP + height + BOTTOM, ncols)
    return chart


def save_figures(charts: Mapping[str, Chart], directory) -> list[Path]:
    """Write each chart as ``<directory>/<name>.svg`` (directory created if needed).

    Returns
    -------
    list of Path -- the files written, in the order of ``charts``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, chart in charts.items():
        if not name or Path(name).name != name:
            raise ValueError(f"figure name {name!r} must be a plain file name without '/'")
        paths.append(chart.save(directory / f"{name}.svg"))
    return paths


# --- the drawing layer: charts, plot areas, legends -------------------------------------

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
        self._panels: list[_Panel] = []
        self._extra: list[str] = []

    def panel(self, left: float, top: float, width: float, height: float, xlim, ylim) -> _Panel:
        """A plot area at pixel box (left, top, width, height) showing data limits xlim, ylim."""
        panel = _Panel(left, top, width, height, xlim, ylim)
        self._panels.append(panel)
        return panel

    def heading(self) -> None:
        """The title, centred above all panels."""
        self._extra.append(_text(self.width / 2, 20, self.title, size=TITLE_FONT, bold=True))

    def legend(self, entries: Sequence[_Entry], left: float, top: float, ncols: int = 1) -> None:
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
class _Pen:
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
class _Entry:
    """A legend entry: its text and a sample drawn as a "line", "marker" (line and dot) or "patch"."""

    label: str
    pen: _Pen
    sample: str = "line"


class _Panel:
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
            widest = max(_text_width(text, TICK_FONT) for _, text in ticks)
        if label:
            x, y = max(14.0, self.left - 16 - widest), self.top + self.height / 2
            self._above.append(_text(x, y, label, size=LABEL_FONT, rotate=True, fit=self.height))

    def legend(self, entries: Sequence[_Entry], corner: str, ncols: int = 1) -> None:
        """A legend box inside the plot area: corner "upper right", "lower left", "upper center", ..."""
        width, height = _legend_size(entries, ncols)
        vertical, horizontal = corner.split()
        left = {"left": self.left + 8, "center": self.left + (self.width - width) / 2,
                "right": self.left + self.width - 8 - width}[horizontal]
        top = self.top + 8 if vertical == "upper" else self.top + self.height - 8 - height
        self._above.append(_legend(entries, left, top, ncols))

    # -- data

    def line(self, x, y, pen: _Pen, kind: str = "curve") -> None:
        """A line through the points; ``kind`` is its class: "curve" (data) or "reference"."""
        self._data.append(f'<path class="{kind}" d="{_path_data(self.x(x), self.y(y))}"{pen.stroke()}/>')

    def markers(self, x, y, pen: _Pen) -> None:
        """Dots at the points (e.g. calibration bins); non-finite points are skipped."""
        px, py = self.x(x), self.y(y)
        finite = np.isfinite(px) & np.isfinite(py)
        dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3"/>' for a, b in zip(px[finite], py[finite]))
        self._data.append(f'<g class="markers" fill="{pen.color}">{dots}</g>')

    def bars(self, edges, counts, pen: _Pen) -> None:
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


def _single(title: str, xlim, ylim, width: int = WIDTH, height: int = HEIGHT) -> tuple[Chart, _Panel]:
    """A chart with one titled plot area."""
    chart = Chart(title, width, height)
    panel = chart.panel(LEFT, TOP, width - LEFT - RIGHT, height - TOP - BOTTOM, xlim, ylim)
    panel.title(title)
    return chart, panel


def _padded(values, fraction: float = 0.05) -> tuple[float, float]:
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


def _post_steps(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a step line that holds each y until the next x (matplotlib's where="post")."""
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def _histogram_outline(edges, counts) -> tuple[np.ndarray, np.ndarray]:
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


def _blues(fraction: float) -> str:
    """A colour of the Blues scale, from nearly white (0) to dark blue (1)."""
    position = fraction * (len(BLUES) - 1)
    low = min(int(position), len(BLUES) - 2)
    rgb = BLUES[low] + (position - low) * (BLUES[low + 1] - BLUES[low])
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)


def _escape(text) -> str:
    """Text safe inside SVG: markup characters escaped, characters XML forbids dropped."""
    return html.escape(_NOT_XML.sub("", str(text)))


def _shorten(text: str, limit: int = 64) -> str:
    """``text`` cut in the middle to ``limit`` characters: names differ at either end."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _text_width(text: str, size: float) -> float:
    """An estimate (no font metrics here): sans-serif characters average ~0.6 em."""
    return 0.6 * size * len(text)


def _text(x: float, y: float, content: str, *, size: float = TICK_FONT, bold: bool = False,
          rotate: bool = False, fit: float | None = None) -> str:
    """Centred text at (x, y); ``rotate`` turns it to read upwards (a y-axis label); ``fit``
    shortens it to that many pixels (names come from user configs)."""
    if fit is not None:
        content = _shorten(str(content), max(8, int(fit / _text_width("x", size))))
    attrs = f' font-size="{size}"' + (' font-weight="bold"' if bold else "")
    attrs += f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{attrs}>{_escape(content)}</text>'


def _text_group(kind: str, anchor: str, items: Iterable[tuple[float, float, str]]) -> str:
    texts = "".join(f'<text x="{x:.1f}" y="{y:.1f}">{_escape(t)}</text>' for x, y, t in items)
    return f'<g class="{kind}" text-anchor="{anchor}">{texts}</g>'


def _lines(color: str, segments: Iterable[str]) -> str:
    return f'<path d="{"".join(segments)}" fill="none" stroke="{color}" stroke-width="1"/>'


def _legend_size(entries: Sequence[_Entry], ncols: int) -> tuple[float, float]:
    rows = math.ceil(len(entries) / ncols)
    return (ncols * _legend_column(entries) + (ncols - 1) * 12 + 2 * LEGEND_PAD,
            rows * LEGEND_ROW + 2 * LEGEND_PAD)


def _legend_column(entries: Sequence[_Entry]) -> float:
    return LEGEND_SAMPLE + 6 + max(_text_width(_shorten(e.label), LEGEND_FONT) for e in entries)


def _legend(entries: Sequence[_Entry], left: float, top: float, ncols: int) -> str:
    """A boxed legend with its top left corner at (left, top); entries fill columns first."""
    width, height = _legend_size(entries, ncols)
    column, rows = _legend_column(entries), math.ceil(len(entries) / ncols)
    parts = [f'<g class="legend" font-size="{LEGEND_FONT}">'
             f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" rx="3" '
             'fill="white" fill-opacity="0.85" stroke="#cccccc"/>']
    for index, entry in enumerate(entries):
        x = left + LEGEND_PAD + (index // rows) * (column + 12)
        y = top + LEGEND_PAD + (index % rows + 0.5) * LEGEND_ROW
        parts.append(_legend_sample(entry, x, y) + f'<text x="{x + LEGEND_SAMPLE + 6:.1f}" y="{y + 3.5:.1f}">'
                     f"{_escape(_shorten(entry.label))}</text>")
    return "".join(parts) + "</g>"


def _legend_sample(entry: _Entry, x: float, y: float) -> str:
    pen = entry.pen
    if entry.sample == "patch":
        return (f'<rect x="{x:.1f}" y="{y - 5:.1f}" width="{LEGEND_SAMPLE}" height="10" fill="{pen.color}" '
                f'fill-opacity="{pen.opacity}"/>')
    line = f'<path d="M{x:.1f},{y:.1f}h{LEGEND_SAMPLE}"{pen.stroke()}/>'
    if entry.sample == "marker":
        line += f'<circle cx="{x + LEGEND_SAMPLE / 2:.1f}" cy="{y:.1f}" r="3" fill="{pen.color}"/>'
    return line
