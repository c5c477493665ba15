"""Every metric as a weighted function ``f(y, pred, w) -> (b,)`` per task, and their point
values on one set of predictions."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from .calibration import calibration_intercept, calibration_slope
from .checks import check_binary, check_multiclass, check_regression, check_threshold
from .common import LOG_LOSS_EPS, div, wmean
from .ranking import macro_auroc, weighted_auprc, weighted_auroc
from .registry import BINARY_METRICS, TASKS
from .smoothed import e50, e90, ici
from .thresholds import RATES, at_threshold, confusion

WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    q = np.clip(np.where(y == 1, p, 1.0 - p), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return wmean(-np.log(q), w)


def _brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return wmean((p - y) ** 2, w)

SCORE_METRICS: dict[str, WeightedMetric] = {
    "auroc": weighted_auroc,
    "auprc": weighted_auprc,
    "log_loss": _log_loss,
    "brier": _brier,
    "calibration_intercept": calibration_intercept,
    "calibration_slope": calibration_slope,
    "ici": ici,  # these three share one spline fit in evaluate(); alone each fits it
    "e50": e50,
    "e90": e90,
}


def _multiclass_accuracy(y, proba, w) -> np.ndarray:
    return wmean((proba.argmax(axis=1) == y).astype(float), w)


def _macro_f1(y, proba, w) -> np.ndarray:
    predicted = proba.argmax(axis=1)
    f1 = [RATES["f1"](confusion((y == k).astype(float), predicted == k, w))
          for k in range(proba.shape[1])]
    # Classes neither present nor predicted are nan here and left out, as in scikit-learn.
    return np.nanmean(f1, axis=0)


def _multiclass_log_loss(y, proba, w) -> np.ndarray:
    q = np.clip(proba[np.arange(y.size), y.astype(int)], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return wmean(-np.log(q), w)


def _rmse(y, pred, w) -> np.ndarray:
    return np.sqrt(wmean((pred - y) ** 2, w))


def _mae(y, pred, w) -> np.ndarray:
    return wmean(np.abs(pred - y), w)


def _r2(y, pred, w) -> np.ndarray:
    mean = wmean(y, w)
    total = (w * (y - mean[:, None]) ** 2).sum(axis=1)
    return 1.0 - div(w @ (pred - y) ** 2, total)

_MULTICLASS: dict[str, WeightedMetric] = {
    "macro_auroc": macro_auroc,
    "accuracy": _multiclass_accuracy,
    "macro_f1": _macro_f1,
    "log_loss": _multiclass_log_loss,
}

_REGRESSION: dict[str, WeightedMetric] = {"rmse": _rmse, "mae": _mae, "r2": _r2}


def metric_table(task: str, threshold: float = 0.5) -> dict[str, WeightedMetric]:
    """Name -> weighted metric for ``task``; binary threshold metrics use ``threshold``."""
    if task == "binary":
        table = {**SCORE_METRICS, **{name: partial(at_threshold, rate, threshold)
                                      for name, rate in RATES.items()}}
        return {name: table[name] for name in BINARY_METRICS}
    if task == "multiclass":
        return dict(_MULTICLASS)
    if task == "regression":
        return dict(_REGRESSION)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _point(table: dict[str, WeightedMetric], y, pred) -> dict[str, float]:
    ones = np.ones((1, y.size))
    return {name: float(fn(y, pred, ones)[0]) for name, fn in table.items()}


def binary_metrics(y_true, prob, threshold: float = 0.5) -> dict[str, float]:
    """All binary metrics of :data:`BINARY_METRICS` on one set of predictions.

    Parameters
    ----------
    y_true : array-like, shape (n,) -- 0/1 labels, 1 = positive (e.g. disease).
    prob : array-like, shape (n,) -- predicted P(y = 1).
    threshold : float -- rows with ``prob >= threshold`` count as predicted positive.

    Returns
    -------
    dict name -> float (``nan`` where undefined, see the module docstring).
    """
    y, p = check_binary(y_true, prob)
    return _point(metric_table("binary", check_threshold(threshold)), y, p)


def auroc(y_true, prob) -> float:
    """AUROC alone, ~20x cheaper than :func:`binary_metrics` (no calibration fits).

    For per-epoch monitoring of a validation set. Arguments as in :func:`binary_metrics`.
    """
    y, p = check_binary(y_true, prob)
    return float(weighted_auroc(y, p, np.ones((1, y.size)))[0])


def auprc(y_true, prob) -> float:
    """Average precision alone, as cheap as :func:`auroc`. Arguments as in :func:`binary_metrics`."""
    y, p = check_binary(y_true, prob)
    return float(weighted_auprc(y, p, np.ones((1, y.size)))[0])


def multiclass_metrics(y_true, proba) -> dict[str, float]:
    """Macro one-vs-rest AUROC, accuracy, macro F1 and log loss.

    Parameters
    ----------
    y_true : array-like, shape (n,) -- class codes ``0..K-1``.
    proba : array-like, shape (n, K) -- class probabilities, rows summing to 1.
    """
    y, p = check_multiclass(y_true, proba)
    return _point(metric_table("multiclass"), y, p)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, MAE and R². ``y_true``, ``y_pred``: array-like, shape (n,)."""
    y, pred = check_regression(y_true, y_pred)
    return _point(metric_table("regression"), y, pred)
