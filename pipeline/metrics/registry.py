"""The one table of metric names: which task each serves and which direction is better.

The config schema (``objective``), the report's ranking, the leaderboard labels and the
Optuna sweeper's direction all read it, so a metric is named in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class MetricInfo:
    """A metric of one task. ``better`` is ``"higher"``, ``"lower"`` or ``"ideal"`` (closest
    to ``ideal`` is best, e.g. a calibration slope of 1); ``threshold``: computed at a
    probability threshold (0.5 and the tuned one); ``bounds``: the range of its values,
    when finite (the ``"logit"`` interval works on that scale); ``objective``: a sweep may
    optimise it (not one that a useless model wins: predicting the prevalence for everyone
    is perfectly calibrated, ICI 0)."""

    name: str
    task: str
    better: str
    ideal: float | None = None
    threshold: bool = False
    bounds: tuple[float, float] | None = (0.0, 1.0)
    objective: bool = True


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("auroc", "binary", "higher"),
    MetricInfo("auprc", "binary", "higher"),
    MetricInfo("log_loss", "binary", "lower", bounds=None),
    MetricInfo("brier", "binary", "lower"),
    MetricInfo("calibration_intercept", "binary", "ideal", ideal=0.0, bounds=None),
    MetricInfo("calibration_slope", "binary", "ideal", ideal=1.0, bounds=None),
    # Smoothed calibration (Austin & Steyerberg, Stat Med 2019): mean, median and 90th
    # percentile of |smoothed observed risk - predicted risk|.
    *(MetricInfo(name, "binary", "lower", objective=False) for name in ("ici", "e50", "e90")),
    *(MetricInfo(name, "binary", "higher", threshold=True) for name in (
        "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")),
    MetricInfo("mcc", "binary", "higher", threshold=True, bounds=(-1.0, 1.0)),
    MetricInfo("macro_auroc", "multiclass", "higher"),
    MetricInfo("accuracy", "multiclass", "higher"),
    MetricInfo("macro_f1", "multiclass", "higher"),
    MetricInfo("log_loss", "multiclass", "lower", bounds=None),
    MetricInfo("rmse", "regression", "lower", bounds=None),
    MetricInfo("mae", "regression", "lower", bounds=None),
    MetricInfo("r2", "regression", "higher", bounds=None),
)


def task_metrics(task: str) -> tuple[str, ...]:
    """Names of the metrics of ``task``, in reporting order."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return tuple(m.name for m in METRICS if m.task == task)


BINARY_METRICS = task_metrics("binary")
MULTICLASS_METRICS = task_metrics("multiclass")
REGRESSION_METRICS = task_metrics("regression")
THRESHOLD_METRICS = tuple(m.name for m in METRICS if m.threshold)

#: Metrics a sweep may optimise: every one with a direction (not the calibration ones).
OBJECTIVES = tuple(dict.fromkeys(m.name for m in METRICS if m.better != "ideal" and m.objective))


#: The headline metrics of each task: the pooled ones shown first (run descriptions, interval
#: tags, the model's metrics, the UI view's bar charts, the leaderboard's columns).
MAIN_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "auprc", "brier", "calibration_slope", "ici"),
    "multiclass": ("macro_auroc", "accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


def info(name: str) -> MetricInfo:
    """The first entry named ``name`` (its direction is the same for every task)."""
    base = name.removesuffix("_tuned").removesuffix("@0.5")
    for metric in METRICS:
        if metric.name == base:
            return metric
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(dict.fromkeys(m.name for m in METRICS))}")


def bounds_of(name: str) -> tuple[float, float] | None:
    """The finite range of metric ``name`` (``None`` if unbounded or unknown); a threshold
    metric under any suffix (``sensitivity_youden``) has the range of its base metric."""
    for metric in METRICS:
        if name == metric.name or (metric.threshold and name.startswith(metric.name + "_")):
            return metric.bounds
    return None


def lower_is_better(name: str) -> bool:
    return info(name).better == "lower"


def direction(name: str) -> str:
    """``"maximize"`` or ``"minimize"``: what a sweeper should do with objective ``name``."""
    better = info(name).better
    if better == "ideal":
        raise ValueError(f"metric {name!r} is best at {info(name).ideal}, not at an extreme: "
                         f"it cannot be an objective; choose one of {', '.join(OBJECTIVES)}")
    return "maximize" if better == "higher" else "minimize"
