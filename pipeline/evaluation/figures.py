"""Figures of the evaluation tables, as SVG (:mod:`pipeline.svg`): permutation importance and
subgroup performance, each an estimate per row with its 95% interval (a forest plot).
Rows are named by variables and subgroup levels, never by patient values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import svg
from ..plots import GREY, PALETTE

ROW = 22  # pixels per row
MAX_LABEL = 40  # characters of a row label
DOT = svg.Pen(PALETTE[0])
REFERENCE = svg.Pen(GREY, svg.DOTTED, 1.2)


def importance_chart(table: pd.DataFrame, top: int = 20) -> svg.Chart:
    """The ``top`` most important variables of an importance table
    (:func:`pipeline.evaluation.importance.importance_table`), largest first, with intervals."""
    shown = table.head(top)
    metric = str(shown["metric"].iloc[0]) if len(shown) else "objective"
    labels = [svg.shorten(str(v), MAX_LABEL) for v in shown["variable"]]
    values = shown[["importance", "ci_low", "ci_high"]].to_numpy(dtype=float)
    title = f"Permutation importance ({metric})"
    chart, panel = _rows_chart(title, labels, [0.0, *values.ravel()])
    panel.xaxis(f"{metric} intact minus shuffled")
    _forest(panel, values, reference=0.0)
    if len(table) > top:
        panel.legend([svg.Entry(f"top {top} of {len(table)} variables", REFERENCE)], "lower right")
    return chart


def subgroups_chart(table: pd.DataFrame, overall: dict[str, float] | None = None) -> svg.Chart:
    """Per subgroup level: AUROC, calibration intercept, sensitivity and specificity at the
    tuned threshold, with intervals; levels too small to score are named and left empty.
    ``overall``: the pooled value of each metric, drawn as a dotted reference."""
    names = ("auroc", "calibration_intercept", "sensitivity_tuned", "specificity_tuned")
    titles = ("AUROC", "calibration intercept", "sensitivity@tuned", "specificity@tuned")
    labels = [svg.shorten(f"{r.variable}: {r.level}", MAX_LABEL)
              + ("" if r.status == "scored" else " (too small)") for r in table.itertuples()]
    left = round(20 + max([svg.text_width(label, svg.TICK_FONT) for label in labels] + [40]))
    width, gap = 200, 24
    height = max(len(labels), 1) * ROW + 10
    chart = svg.Chart("Performance by subgroup", left + len(names) * (width + gap) + svg.RIGHT,
                      svg.TOP + 22 + height + svg.BOTTOM)
    chart.heading()
    for index, (name, title) in enumerate(zip(names, titles)):
        values = (table[[name, f"{name}_ci_low", f"{name}_ci_high"]].to_numpy(dtype=float)
                  if name in table else np.full((len(table), 3), np.nan))
        reference = 0.0 if name == "calibration_intercept" else (overall or {}).get(name)
        xlim = svg.padded([*values.ravel(), *([] if reference is None else [reference])])
        panel = chart.panel(left + index * (width + gap), svg.TOP + 22, width, height, xlim,
                            (len(labels) - 0.5, -0.5))
        panel.title(title)
        panel.xaxis()
        panel.yaxis(ticks=list(enumerate(labels)) if index == 0 else [], grid=False,
                    show_labels=index == 0)
        _forest(panel, values, reference)
    return chart


def _rows_chart(title: str, labels: list[str], values) -> tuple[svg.Chart, svg.Panel]:
    """A chart with one row per label, the labels left of the plot area."""
    left = round(20 + max([svg.text_width(label, svg.TICK_FONT) for label in labels] + [40]))
    height = max(len(labels), 1) * ROW + 10
    chart = svg.Chart(title, left + 380 + svg.RIGHT, svg.TOP + height + svg.BOTTOM)
    panel = chart.panel(left, svg.TOP, 380, height, svg.padded(values), (len(labels) - 0.5, -0.5))
    panel.title(title)
    panel.yaxis(ticks=list(enumerate(labels)), grid=False)
    return chart, panel


def _forest(panel: svg.Panel, values: np.ndarray, reference: float | None) -> None:
    """Row ``i``: a dot at ``values[i, 0]`` and a line from ``values[i, 1]`` to ``values[i, 2]``;
    a dotted vertical line at ``reference``."""
    if reference is not None and np.isfinite(reference):
        panel.line([reference, reference], [-0.5, len(values) - 0.5], REFERENCE, kind="reference")
    for row, (_, low, high) in enumerate(values):
        if np.isfinite(low) and np.isfinite(high):
            panel.line([low, high], [row, row], DOT, kind="interval")
    rows = np.arange(len(values))
    panel.markers(values[:, 0] if len(values) else [], rows, DOT)
