"""Evaluation figures as SVG: learning curves, ROC, precision-recall, calibration, decision
curve, confusion matrix, predicted-probability histograms, and the validation curves of
many configurations for the report.

Every function returns a :class:`pipeline.svg.Chart`; ``chart.to_svg()`` is a standalone
SVG document (shown by the MLflow UI's artifact viewer, inlined as is in the HTML report)
and ``chart.save(path)`` writes it. The drawing itself is :mod:`pipeline.svg`.

Functions that compare models (ROC, PR, calibration, decision curve) take either one
probability array or a dict ``{name: prob}`` of several models scored on the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn import calibration as skcal
from sklearn import metrics as skm

from pipeline import metrics, svg
from pipeline.metrics import smoothed

Curves = np.ndarray | Mapping[str, np.ndarray]

# Okabe & Ito's colour-blind-safe palette, without its yellow (too pale for lines on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#8c8c8c"
LOSS_STYLES = {"train_loss": svg.SOLID, "val_loss": svg.DASHED}  # history key -> dash pattern


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _model_pen(index: int) -> svg.Pen:
    """The ``index``-th of several models compared in one panel: the palette's colours
    solid, then dashed, then dotted, so that up to 21 models are told apart (a 3 x 3
    capacity sweep already has more configurations than colours)."""
    dashes = (svg.SOLID, svg.DASHED, svg.DOTTED)
    return svg.Pen(_colour(index), dashes[index // len(PALETTE) % len(dashes)])


def _legend_name(name: str) -> str:
    """A model's name, short enough to leave room for its numbers in a legend entry."""
    return svg.shorten(str(name), 32)


def _curves(y, prob: Curves) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validated labels and a name -> probabilities dict (one unnamed model is "model")."""
    named = dict(prob) if isinstance(prob, Mapping) else {"model": prob}
    if not named:
        raise ValueError("prob is an empty dict; pass probabilities or {name: probabilities}")
    checked = {}
    for name, p in named.items():
        y_checked, checked[name] = metrics.check_binary(y, p, f"prob[{name!r}]")
    return y_checked, checked


def learning_curves(histories: Sequence[Mapping[str, Sequence[float]]]) -> svg.Chart:
    """Training (solid) and validation (dashed) loss per epoch, one colour per fold; with
    more folds than colours (repeated k-fold), every fold thin and grey under the mean over
    folds, since colours repeated across folds would tell nothing apart.

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
                   for key, dash in LOSS_STYLES.items() if key in history]
    longest = max(len(losses) for _, _, losses in series)
    chart, panel = svg.single_panel_chart("Learning curves", svg.padded([1, max(longest, 1)]),
                           svg.padded(np.concatenate([losses for _, _, losses in series])))
    panel.xaxis("epoch", integer=True)
    panel.yaxis("loss")
    if len(histories) > len(PALETTE):
        entries = _fold_spread(panel, histories, series)
    else:
        for fold, dash, losses in series:
            panel.line(np.arange(1, losses.size + 1), losses, svg.Pen(_colour(fold), dash))
        # Style entries apart from the fold colours: seven folds need nine entries, not fourteen.
        entries = [svg.Entry(f"fold {fold}", svg.Pen(_colour(fold))) for fold in range(len(histories))]
    entries += [svg.Entry("train", svg.Pen(GREY)), svg.Entry("validation", svg.Pen(GREY, svg.DASHED))]
    panel.legend(entries, "upper right", ncols=2)
    return chart


def _fold_spread(panel: svg.Panel, histories, series) -> list[svg.Entry]:
    """Each fold thin and grey, the mean over the folds still training at each epoch on top."""
    thin = {dash: svg.Pen(GREY, dash, width=0.8, opacity=0.5) for dash in LOSS_STYLES.values()}
    for _, dash, losses in series:
        panel.line(np.arange(1, losses.size + 1), losses, thin[dash])
    for key, dash in LOSS_STYLES.items():
        curves = [h[key] for h in histories if key in h]
        if curves:
            mean = fold_mean(curves)
            panel.line(np.arange(1, mean.size + 1), mean, svg.Pen(_colour(0), dash))
    return [svg.Entry(f"each of {len(histories)} folds", thin[svg.SOLID]),
            svg.Entry("mean over folds", svg.Pen(_colour(0)))]


def fold_mean(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Per epoch, the mean over the folds' curves that reach it (folds that stopped early
    drop out): a run's logged mean learning curves, and the line drawn over many folds."""
    longest = max(len(curve) for curve in curves)
    return np.array([np.mean([c[e] for c in curves if e < len(c)]) for e in range(longest)])


def roc_curve(y, prob: Curves) -> svg.Chart:
    """ROC curve of one or several models, with the chance diagonal.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,) -- P(y = 1).
    """
    y, named = _curves(y, prob)
    side = svg.HEIGHT - svg.TOP - svg.BOTTOM  # a square plot area: the diagonal at 45 degrees
    chart, panel = svg.single_panel_chart("ROC curve", (0, 1), (0, 1.01), width=svg.LEFT + side + svg.RIGHT)
    panel.xaxis("1 - specificity")
    panel.yaxis("sensitivity")
    chance = svg.Pen(GREY, svg.DOTTED, 1.2)
    panel.line([0, 1], [0, 1], chance, kind="reference")
    entries = []
    for index, (name, p) in enumerate(named.items()):
        fpr, tpr, _ = skm.roc_curve(y, p)
        pen = _model_pen(index)
        panel.line(fpr, tpr, pen)
        entries.append(svg.Entry(f"{_legend_name(name)} (AUROC {metrics.auroc(y, p):.3f})", pen))
    panel.legend([*entries, svg.Entry("chance", chance)], "lower right")
    return chart


def precision_recall_curve(y, prob: Curves) -> svg.Chart:
    """Precision-recall curve(s) with the prevalence as the no-skill baseline.

    Parameters as in :func:`roc_curve`.
    """
    y, named = _curves(y, prob)
    chart, panel = svg.single_panel_chart("Precision-recall curve", (0, 1), (0, 1.01))
    panel.xaxis("recall (sensitivity)")
    panel.yaxis("precision (PPV)")
    prevalence = y.mean()
    baseline = svg.Pen(GREY, svg.DOTTED, 1.2)
    panel.line([0, 1], [prevalence, prevalence], baseline, kind="reference")
    entries = []
    for index, (name, p) in enumerate(named.items()):
        precision, recall, _ = skm.precision_recall_curve(y, p)
        pen = _model_pen(index)
        panel.line(*svg.post_steps(recall, precision), pen)
        entries.append(svg.Entry(f"{_legend_name(name)} (AP {metrics.auprc(y, p):.3f})", pen))
    panel.legend([*entries, svg.Entry(f"prevalence {prevalence:.2f}", baseline)], "lower left")
    return chart


def calibration_curve(y, prob: Curves, n_bins: int = 10, *, n_boot: int = 200, seed=0,
                      groups=None) -> svg.Chart:
    """Reliability diagram: observed event rate against mean predicted risk per bin, and the
    smoothed calibration curve with its pointwise 95% bootstrap band.

    The upper panel shows one line per model, the ideal diagonal, and each model's
    calibration intercept and slope in the legend; the lower panel the histogram of
    predictions, which shows where the bins rest on few patients. The smoothed curve is the
    restricted-cubic-spline logistic fit of :mod:`pipeline.metrics.smoothed` (the one behind
    ICI, E50 and E90), drawn over the range of the predictions; its band holds the middle 95%
    of the curves refitted on ``n_boot`` bootstrap resamples (whole patients with ``groups``).

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,).
    n_bins : int -- equal-width bins on [0, 1].
    n_boot : int -- resamples for the band (0: the smoothed curve without a band).
    seed, groups : the resampling's seed, and the patient of each row (or None).
    """
    if not (isinstance(n_bins, int) and n_bins >= 2):
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    y, named = _curves(y, prob)
    edges = np.linspace(0, 1, n_bins + 1)
    counts = {name: np.histogram(p, bins=edges)[0] for name, p in named.items()}
    height, gap = round(svg.HEIGHT * 1.3), 10
    plots_height = height - svg.TOP - svg.BOTTOM - gap
    top_height = round(plots_height * 0.75)
    chart = svg.Chart("Calibration", svg.WIDTH, height)
    width = svg.WIDTH - svg.LEFT - svg.RIGHT
    top = chart.panel(svg.LEFT, svg.TOP, width, top_height, (0, 1), (0, 1))
    bottom = chart.panel(svg.LEFT, svg.TOP + top_height + gap, width, plots_height - top_height, (0, 1),
                         (0, 1.05 * max(max(c.max() for c in counts.values()), 1)))
    top.title("Calibration")
    top.xaxis(show_labels=False)  # shared with the histogram below
    top.yaxis("observed event rate")
    bottom.xaxis("predicted probability")
    bottom.yaxis("patients", integer=True)
    ideal = svg.Pen(GREY, svg.DOTTED, 1.2)
    top.line([0, 1], [0, 1], ideal, kind="reference")
    entries = [svg.Entry("ideal", ideal)]
    for index, (name, p) in enumerate(named.items()):
        observed, predicted = skcal.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        m = metrics.binary_metrics(y, p)  # the only public source of intercept and slope
        pen = _model_pen(index)
        top.line(predicted, observed, pen)
        top.markers(predicted, observed, pen)
        smoothed = _smoothed_calibration(y, p, n_boot, seed, groups)
        if smoothed is not None:
            grid, curve, low, high = smoothed
            top.band(grid, low, high, svg.Pen(pen.color, opacity=0.15))
            top.line(grid, curve, svg.Pen(pen.color, svg.DASHED, 1.4), kind="smoothed")
        bottom.line(*svg.histogram_outline(edges, counts[name]), pen)
        entries.append(svg.Entry(f"{_legend_name(name)} (intercept {m['calibration_intercept']:.2f}, "
                              f"slope {m['calibration_slope']:.2f})", pen, "marker"))
    entries.append(svg.Entry("smoothed, 95% band" if n_boot else "smoothed", svg.Pen(GREY, svg.DASHED)))
    top.legend(entries, "upper left")
    return chart


def _smoothed_calibration(y, p, n_boot, seed, groups):
    """Grid over the predictions' range, the smoothed curve on it and its pointwise 95%
    bootstrap band (nan without enough resamples); None where the spline has no fit."""
    grid = np.linspace(max(p.min(), 1e-3), min(p.max(), 1 - 1e-3), 101)
    if grid[0] >= grid[-1]:
        return None
    if n_boot:
        fit = smoothed.smoothed_curve(y, p, grid, n_boot=n_boot, seed=seed, groups=groups)
    else:
        fits = smoothed.spline_fits(y.astype(float), p, np.ones((1, y.size)))
        curve = smoothed.curve_on_grid(fits, grid)[0]
        fit = {"curve": curve, "low": np.full(grid.size, np.nan), "high": np.full(grid.size, np.nan)}
    if not np.all(np.isfinite(fit["curve"])):
        return None
    return grid, fit["curve"], fit["low"], fit["high"]


def decision_curve(y, prob: Curves, thresholds=metrics.DEFAULT_THRESHOLDS) -> svg.Chart:
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
    chart, panel = svg.single_panel_chart("Decision curve", svg.padded(t), ylim)
    panel.xaxis("threshold probability")
    panel.yaxis("net benefit")
    treat_all, treat_none = svg.Pen(GREY, svg.DASHED), svg.Pen("#000000", svg.DOTTED, 1.2)
    panel.line(t, reference["treat_all"], treat_all, kind="reference")
    panel.line(t, reference["treat_none"], treat_none, kind="reference")
    entries = []
    for index, (name, curve) in enumerate(curves.items()):
        pen = _model_pen(index)
        panel.line(t, curve["model"], pen)
        entries.append(svg.Entry(_legend_name(name), pen))
    panel.legend([*entries, svg.Entry("treat all", treat_all), svg.Entry("treat none", treat_none)],
                 "upper right")
    return chart


def confusion_matrix(y, pred_labels, class_names: Sequence[str]) -> svg.Chart:
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
    side = svg.HEIGHT - svg.TOP - svg.BOTTOM
    cell = side / k
    names = [svg.shorten(str(name), max(4, int(cell / 6.5))) for name in class_names]
    left = round(34 + max(svg.text_width(name, svg.TICK_FONT) for name in names))  # room for the row names
    chart = svg.Chart("Confusion matrix", round(left + side + svg.RIGHT), svg.HEIGHT)
    panel = chart.panel(left, svg.TOP, side, side, (-0.5, k - 0.5), (k - 0.5, -0.5))  # row 0 on top
    panel.title("Confusion matrix")
    ticks = list(enumerate(names))
    panel.xaxis("predicted", ticks=ticks, grid=False)
    panel.yaxis("true", ticks=ticks, grid=False)
    font = min(12.0, cell / 4)
    for (i, j), count in np.ndenumerate(counts):
        dark = count > counts.max() / 2  # white text on dark cells
        panel.rect(j - 0.5, i - 0.5, j + 0.5, i + 0.5, svg.blues(count / max(counts.max(), 1)))
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


def probability_histogram(y, prob, class_names: Sequence[str], bins: int = 20) -> svg.Chart:
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
        chart, panel = svg.single_panel_chart("Predicted probabilities", (0, 1), _count_limits(counts))
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
    width, height, gap, top = 250, 350, 24, svg.TOP + 22  # room for the chart's and the panels' titles
    chart = svg.Chart("Predicted probabilities", svg.LEFT + k * width + (k - 1) * gap + svg.RIGHT, height)
    chart.heading()
    for code, name in enumerate(class_names):
        left = svg.LEFT + code * (width + gap)
        panel = chart.panel(left, top, width, height - top - svg.BOTTOM, (0, 1), ylim)
        panel.title(name)
        _histogram_panel(panel, f"P({name})", edges, [f"true {name}", "other classes"], counts[code],
                         first=code == 0)
    return chart


def _histogram_panel(panel: svg.Panel, xlabel: str, edges, labels, counts, first: bool = True) -> None:
    """Overlaid translucent histograms with a legend; y ticks and label only on the first panel."""
    panel.xaxis(xlabel)
    panel.yaxis("patients" if first else "", integer=True, show_labels=first)
    entries = []
    for index, (label, count) in enumerate(zip(labels, counts)):
        pen = svg.Pen(_colour(index), opacity=0.55)
        panel.bars(edges, count, pen)
        entries.append(svg.Entry(label, pen, "patch"))
    panel.legend(entries, "upper center")


def _count_limits(counts) -> tuple[float, float]:
    return 0.0, 1.05 * max(max(int(c.max()) for c in counts), 1)


VALIDATION_PANELS = {  # logged key -> panel title, y label
    "mean_val_loss": ("Validation loss (mean over folds)", "loss"),
    "mean_val_auroc": ("Validation AUROC (mean over folds)", "AUROC"),
}


def validation_curves(curves: Mapping[str, Mapping[str, Sequence[float]]],
                      highlight: Sequence[str] = (), max_labelled: int = 10) -> svg.Chart:
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
    pens = {label: _model_pen(i) for i, label in enumerate(labelled)}
    background = svg.Pen(GREY, width=0.8, opacity=0.6)
    entries = [svg.Entry(label, pens[label]) for label in labelled]
    entries += [svg.Entry("other configurations", background)] if others else []
    width, height, gap = 400, 340, 70
    chart_width = svg.LEFT + len(keys) * width + (len(keys) - 1) * gap + svg.RIGHT
    ncols = 2 if svg.legend_size(entries, 2)[0] <= chart_width - 20 else 1
    legend_width, legend_height = svg.legend_size(entries, ncols)
    chart_height = svg.TOP + height + svg.BOTTOM + legend_height + 10
    chart = svg.Chart("Validation learning curves", chart_width, chart_height)
    for index, key in enumerate(keys):
        values = {label: np.asarray(curve.get(key) or [], dtype=float) for label, curve in curves.items()}
        longest = max(v.size for v in values.values())
        panel = chart.panel(svg.LEFT + index * (width + gap), svg.TOP, width, height,
                            svg.padded([1, longest]), svg.padded(np.concatenate(list(values.values()))))
        title, ylabel = VALIDATION_PANELS[key]
        panel.title(title)
        panel.xaxis("epoch", integer=True)
        panel.yaxis(ylabel)
        for label in [*others, *labelled]:  # the highlighted curves on top
            panel.line(np.arange(1, values[label].size + 1), values[label], pens.get(label, background))
    chart.legend(entries, (chart_width - legend_width) / 2, svg.TOP + height + svg.BOTTOM, ncols)
    return chart


def save_figures(charts: Mapping[str, svg.Chart], directory) -> list[Path]:
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


