"""Threshold metrics from weighted confusion matrices, the choice of a threshold on
validation data, and net benefit (decision curves)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .checks import as_float_array, check_binary
from .common import div, tie_groups

THRESHOLD_METHODS: tuple[str, ...] = ("youden", "f1")
DEFAULT_THRESHOLDS = np.linspace(0.01, 0.99, 99)
DEFAULT_THRESHOLDS.flags.writeable = False  # shared default argument: keep it immutable


class Confusion(NamedTuple):
    """Weighted confusion-matrix counts, each of shape (b,)."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray


def confusion(y: np.ndarray, positive: np.ndarray, w: np.ndarray) -> Confusion:
    truth = y == 1
    return Confusion(*(w @ (t & q).astype(float) for t, q in (
        (truth, positive), (~truth, positive), (truth, ~positive), (~truth, ~positive))))


def _mcc(c: Confusion) -> np.ndarray:
    margins = (c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn)
    return div(c.tp * c.tn - c.fp * c.fn, np.sqrt(margins))

RATES: dict[str, Callable[[Confusion], np.ndarray]] = {
    "accuracy": lambda c: div(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn),
    "balanced_accuracy": lambda c: (div(c.tp, c.tp + c.fn) + div(c.tn, c.tn + c.fp)) / 2,
    "sensitivity": lambda c: div(c.tp, c.tp + c.fn),
    "specificity": lambda c: div(c.tn, c.tn + c.fp),
    "ppv": lambda c: div(c.tp, c.tp + c.fp),
    "npv": lambda c: div(c.tn, c.tn + c.fn),
    "f1": lambda c: div(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    "mcc": _mcc,
}


def at_threshold(rate, threshold, y, p, w) -> np.ndarray:
    return rate(confusion(y, p >= threshold, w))


def _youden(tp, fp, n_pos, n_neg):
    return tp / n_pos - fp / n_neg


def _f1_at(tp, fp, n_pos, n_neg):
    return 2 * tp / (tp + fp + n_pos)

_THRESHOLD_CRITERIA = {"youden": _youden, "f1": _f1_at}


def choose_threshold(y_val, prob_val, method: str = "youden") -> float:
    """Threshold maximizing Youden's J (sensitivity + specificity - 1) or F1 on validation data.

    Candidates are the distinct validation probabilities. The returned value is the
    midpoint between the best candidate and the next lower distinct probability, so it
    classifies the validation rows exactly as the best candidate does while not sitting
    on a training score; ties in the criterion go to the higher threshold.

    Parameters
    ----------
    y_val : array-like, shape (n,) -- 0/1 labels of the validation part.
    prob_val : array-like, shape (n,) -- predicted P(y = 1) on the validation part.
    method : {"youden", "f1"}

    Returns
    -------
    float -- use as ``prob >= threshold``.
    """
    if method not in _THRESHOLD_CRITERIA:
        raise ValueError(f"method must be one of {THRESHOLD_METHODS}, got {method!r}")
    y, p = check_binary(y_val, prob_val, "prob_val")
    n_pos, n_neg = y.sum(), y.size - y.sum()
    if n_pos == 0 or (method == "youden" and n_neg == 0):
        raise ValueError(f"y_val must contain both classes to choose a threshold by {method!r}; "
                         "use a stratified validation split")
    order, starts = tie_groups(-p)
    candidates = p[order][starts]  # distinct probabilities, descending
    tp = np.cumsum(np.add.reduceat(y[order], starts))
    fp = np.cumsum(np.add.reduceat(1.0 - y[order], starts))
    score = _THRESHOLD_CRITERIA[method](tp, fp, n_pos, n_neg)
    # Equal criteria can differ in the last bit (2/3 - 0 vs 1 - 1/3): compare with slack.
    best = int(np.flatnonzero(score >= score.max() - 1e-12)[0])
    if best + 1 == candidates.size:
        return float(candidates[best])
    return float((candidates[best] + candidates[best + 1]) / 2)


def _check_decision_thresholds(thresholds) -> np.ndarray:
    t = as_float_array(np.atleast_1d(thresholds), "thresholds", 1)
    if t.min() <= 0 or t.max() >= 1:
        raise ValueError("thresholds must lie strictly between 0 and 1 (net benefit weighs "
                         f"false positives by t / (1 - t)), got [{t.min():.3g}, {t.max():.3g}]")
    return t


def _net_benefit(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    sorted_p = p[order]
    positives_from = np.r_[np.cumsum(y[order][::-1])[::-1], 0.0]  # positives at index >= i
    first = np.searchsorted(sorted_p, t, side="left")  # first row with p >= t
    tp = positives_from[first]
    fp = (y.size - first) - tp
    return tp / y.size - fp / y.size * t / (1 - t)


def net_benefit(y_true, prob, thresholds) -> np.ndarray:
    """Net benefit of treating rows with ``prob >= t``: TP/n - FP/n * t / (1 - t).

    Vickers & Elkin, Med Decis Making 2006: the odds t / (1 - t) is the harm of a
    false positive relative to the benefit of a true positive implied by choosing t.

    Parameters
    ----------
    y_true : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,) -- predicted P(y = 1).
    thresholds : array-like, shape (m,) -- threshold probabilities in (0, 1).

    Returns
    -------
    ndarray, shape (m,)
    """
    y, p = check_binary(y_true, prob)
    return _net_benefit(y, p, _check_decision_thresholds(thresholds))


def decision_curve(y_true, prob, thresholds=DEFAULT_THRESHOLDS) -> dict[str, np.ndarray]:
    """Net benefit of the model, of treating everyone and of treating no one.

    Returns
    -------
    dict with ``thresholds``, ``model``, ``treat_all`` and ``treat_none``, each shape (m,).
    """
    y, p = check_binary(y_true, prob)
    t = _check_decision_thresholds(thresholds)
    return {
        "thresholds": t.copy(),
        "model": _net_benefit(y, p, t),
        "treat_all": _net_benefit(y, np.ones_like(p), t),
        "treat_none": np.zeros_like(t),
    }
