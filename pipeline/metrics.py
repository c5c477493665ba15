"""Clinical evaluation metrics with bootstrap confidence intervals.

Every metric is written once, as a *weighted* function ``f(y, pred, w) -> (b,)``
where ``w`` has shape ``(b, n)``: row ``j`` says how many times each of the ``n``
rows appears in bootstrap resample ``j``. Drawing rows with replacement is the
same as drawing such counts, so one vectorized pass evaluates all resamples at
once, and the point estimate is the same function with ``w = ones((1, n))``: the
number tested against scikit-learn comes from the very code that makes the
confidence interval.

Conventions
-----------
* Binary labels are 0/1 and ``prob`` is P(y = 1). A row is predicted positive
  when ``prob >= threshold`` (scikit-learn's ``roc_curve`` convention).
* Multiclass labels are integer codes ``0..K-1`` indexing the columns of ``proba``.
* Log loss clips probabilities to ``[eps, 1 - eps]`` (float64 machine epsilon), as
  scikit-learn does; the calibration fits clip to ``[1e-15, 1 - 1e-15]``.

Undefined metrics are ``nan``, never an exception
-------------------------------------------------
* AUROC, balanced accuracy, calibration intercept/slope, MCC: ``nan`` when
  ``y_true`` holds one class only. AUPRC and sensitivity: ``nan`` without
  positives; specificity: ``nan`` without negatives.
* PPV: ``nan`` when nothing is predicted positive; NPV: ``nan`` when nothing is
  predicted negative. F1 = 2TP / (2TP + FP + FN): ``nan`` only when there are
  neither positives nor positive predictions.
* MCC: ``nan`` whenever a margin of the confusion matrix is empty
  (scikit-learn returns 0 there).
* Calibration intercept/slope: ``nan`` when the logistic fit has no finite
  maximum (perfect separation by ``logit(p)``, or constant predictions for the slope).
* Macro AUROC: ``nan`` when any class is absent from ``y_true``. Macro F1 leaves
  out classes that are neither present nor predicted, as scikit-learn does.
* R²: ``nan`` when ``y_true`` is constant (scikit-learn returns 0 or 1 there).

Bootstrap resamples on which a metric is undefined are skipped and counted in
a logged warning; the percentile interval uses the remaining ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

BINARY_METRICS: tuple[str, ...] = (
    "auroc", "auprc", "log_loss", "brier", "calibration_intercept", "calibration_slope",
    "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "mcc",
)
MULTICLASS_METRICS: tuple[str, ...] = ("macro_auroc", "accuracy", "macro_f1", "log_loss")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
THRESHOLD_METHODS: tuple[str, ...] = ("youden", "f1")

DEFAULT_THRESHOLDS = np.linspace(0.01, 0.99, 99)
DEFAULT_THRESHOLDS.flags.writeable = False  # shared default argument: keep it immutable

_LOG_LOSS_EPS = np.finfo(np.float64).eps  # scikit-learn's clipping, so log losses agree
_TINY = np.finfo(np.float64).tiny  # smallest normal float64: a divisor that keeps 0 / x = 0
_LOGIT_CLIP = 1e-15  # keeps logit(p) finite for p = 0 or 1 in the calibration fits
_ROW_SUM_TOL = 1e-5  # float32 softmax outputs sum to 1 only up to rounding
_CHUNK_CELLS = 2_000_000  # caps a (b, n) resample-count matrix at ~16 MB
_FIT_BLOCK_CELLS = 150_000  # caps a block of calibration fits at ~1.2 MB per (m, n) array

WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- helpers

def _div(num, den) -> np.ndarray:
    """``num / den`` elementwise, ``nan`` where ``den == 0`` (the metric is undefined)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _wmean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of per-row ``values`` (n,) for each resample in ``w`` (b, n)."""
    return (w @ values) / w.sum(axis=1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def _tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending sort order of ``score`` and the start index of each run of equal scores."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


# ------------------------------------------------------------- ranking metrics

class Ranked(NamedTuple):
    """Weighted counts per distinct score, highest score first, each (groups, b).

    Resamples run along the columns, so the cumulative sums over scores add contiguous
    rows. AUROC and AUPRC share one sort and one gather of the (b, n) counts.
    """

    pos: np.ndarray  # positives with each score
    neg: np.ndarray  # negatives with each score
    tp: np.ndarray  # positives scored at or above each score


def _ranked(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> Ranked:
    order, starts = _tie_groups(-p)
    counts = w.T[order]
    pos = counts * y[order, None]
    neg = np.subtract(counts, pos, out=counts)  # in place: each fresh (n, b) array costs page faults
    if starts.size < p.size:  # ties: one row per distinct score
        pos, neg = (np.add.reduceat(a, starts, axis=0) for a in (pos, neg))
    return Ranked(pos, neg, np.cumsum(pos, axis=0))


def _auroc_of(r: Ranked) -> np.ndarray:
    """AUROC as the Mann-Whitney U statistic: P(score_pos > score_neg) + P(tie) / 2.

    Counted from the negatives: each wins against the positives scored higher (``tp``
    minus the ``pos`` of its own score) and half of those tied with it. Equal to the
    trapezoidal area under the ROC curve (scikit-learn) with ties.
    """
    wins = 0.5 * r.pos
    np.subtract(r.tp, wins, out=wins)  # positives above each score, ties counting half
    u = np.einsum("gb,gb->b", r.neg, wins)
    return _div(u, r.tp[-1] * r.neg.sum(axis=0))


def _auprc_of(r: Ranked) -> np.ndarray:
    """Average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k.

    The step-wise (not interpolated) area of scikit-learn's ``average_precision_score``.
    """
    predicted = np.cumsum(r.neg, axis=0)
    predicted += r.tp
    # predicted is 0 only above the highest score drawn, where tp and pos are 0 too: a
    # tiny divisor makes that precision 0, and it adds nothing.
    precision = np.divide(r.tp, np.maximum(predicted, _TINY, out=predicted), out=predicted)
    return _div(np.einsum("gb,gb->b", r.pos, precision), r.tp[-1])


def _auroc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _auroc_of(_ranked(y, p, w))


def _auprc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _auprc_of(_ranked(y, p, w))


# -------------------------------------------------------- probability metrics

def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    q = np.clip(np.where(y == 1, p, 1.0 - p), _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    return _wmean(-np.log(q), w)


def _brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _wmean((p - y) ** 2, w)


def _logistic_terms(beta, x, w, lin) -> tuple[np.ndarray, np.ndarray]:
    """``sigmoid(eta)`` and the weighted log-likelihood (m,) at ``eta = a + b * x``.

    ``beta`` holds one ``(a, b)`` per fit, shape (m, 2), or a single row that all ``m``
    fits share (then ``sigmoid(eta)`` is (1, n)). Per row, y * eta - log(1 + e^eta) =
    (y - 1) * eta - log(1 + e^-eta): one exp and one log, which numpy vectorizes (log1p
    and logaddexp are 3-10x slower on a bootstrap batch). The first part is linear in
    (a, b), so its sum is ``lin @ (a, b)`` with ``lin = w @ ((y - 1) * [1, x])`` computed
    once per fit. Clipping eta keeps e^-eta finite; the log-likelihood then loses at most
    ~1e-16 per row, far below what the line search compares.
    """
    q = np.multiply(-beta[:, 1:], x)
    q -= beta[:, :1]  # -eta
    np.clip(q, -700.0, 700.0, out=q)
    np.exp(q, out=q)
    q += 1.0
    mu = 1.0 / q
    log_q = np.log(q, out=q)
    log_q_sum = w @ log_q[0] if len(log_q) == 1 else np.einsum("mn,mn->m", w, log_q)
    return mu, (lin * beta).sum(axis=1) - log_q_sum


def _calibration_fit(x, y, w, fit_slope: bool) -> np.ndarray:
    """Weighted maximum-likelihood logistic regression ``logit P(y = 1) = a + b * x``,
    one fit per resample; ``b`` is held at 1 (``x`` is an offset) unless ``fit_slope``.

    Parameters
    ----------
    x : ndarray, shape (n,) -- the logit of the predictions.
    y : ndarray, shape (n,) -- 0/1 labels.
    w : ndarray, shape (b, n) -- row weights, one row per fit.
    fit_slope : bool

    Returns
    -------
    beta : ndarray, shape (b, 2) -- ``(a, b)`` per fit; ``nan`` rows where the maximum is
    not finite (one class only, perfect separation) or Newton has not converged.
    """
    start = np.array([0.0, 1.0])
    if w.shape[0] > 1:
        # Bootstrap fits lie near the fit on the average resample: starting there saves
        # Newton steps on the whole (b, n) batch.
        center = _newton_fits(x, y, w.mean(axis=0, keepdims=True), fit_slope, start)[0]
        start = center if np.all(np.isfinite(center)) else start
    # The fits are independent. Blocks of resamples keep the (m, n) working arrays in
    # cache: a (1000, 600) batch runs 2-3x slower, mostly on page faults of its fresh 5 MB
    # temporaries.
    block = max(1, _FIT_BLOCK_CELLS // x.size)
    return np.concatenate([_newton_fits(x, y, w[i:i + block], fit_slope, start)
                           for i in range(0, w.shape[0], block)])


def _newton_fits(x, y, w, fit_slope: bool, start, max_iter=50, tol=1e-10) -> np.ndarray:
    """:func:`_calibration_fit` by Newton-Raphson (IRLS) with step halving, from ``start``.

    The log-likelihood is concave, so halving only guards against overshooting from a
    poor start. A fit that has not converged in ``max_iter`` steps is ``nan``.
    """
    fitted = 2 if fit_slope else 1  # leading columns of (a, b) that Newton moves
    design = np.column_stack([np.ones_like(x), x])
    powers = np.column_stack([np.ones_like(x), x, x * x])  # entries of [1, x]' [1, x]
    lin = w @ ((y - 1.0)[:, None] * design)  # log-likelihood part linear in (a, b)
    beta = np.tile(start, (w.shape[0], 1))
    failed = (w @ y == 0) | (w @ (1.0 - y) == 0)  # one class only
    if fit_slope:
        failed |= _separated(x, y, w)
    rows = np.flatnonzero(~failed)  # fits still iterating; the arrays below follow them
    wa, ba, lin = w[rows], beta[rows], lin[rows]
    mu, ll = _logistic_terms(ba[:1], x, wa, lin)  # every fit starts at the same point
    for _ in range(max_iter):
        grad = (wa * (y - mu)) @ design
        info = (wa * mu * (1 - mu)) @ powers  # Fisher information I_aa, I_ab, I_bb
        step, singular = _newton_step(grad, info, fit_slope)
        # A step this small ends the fit: take it without the line search, which would
        # accept it after one more (m, n) evaluation.
        converged = ~singular & _negligible(step, ba, fitted, tol)
        beta[rows[converged]] += step[converged]
        failed[rows[singular]] = True
        rows, wa, ba, step, ll, lin = _subset(~(singular | converged),
                                              rows, wa, ba, step, ll, lin)
        if rows.size == 0:
            break
        step, mu, ll = _halve_until_ascent(ba, step, ll, x, wa, lin)
        stalled = _negligible(step, ba, fitted, tol)  # halving shrank the step to nothing
        ba = ba + step
        beta[rows] = ba
        rows, wa, ba, mu, ll, lin = _subset(~stalled, rows, wa, ba, mu, ll, lin)
    failed[rows] = True  # still moving after max_iter steps
    beta[failed] = np.nan
    return beta


def _separated(x, y, w) -> np.ndarray:
    """Per fit (row of ``w``): a threshold on ``x`` splits the classes of the rows it uses,
    ties at the threshold allowed (quasi-complete separation). The slope then has no finite
    maximum (Albert & Anderson, Biometrika 1984); Newton would creep towards infinity until
    the likelihood stopped changing and report wherever it stalled (40.2 on 569 separated
    rows)."""
    used = w > 0
    positive, negative = used & (y == 1), used & (y == 0)
    low_positive = np.where(positive, x, np.inf).min(axis=1)
    high_positive = np.where(positive, x, -np.inf).max(axis=1)
    low_negative = np.where(negative, x, np.inf).min(axis=1)
    high_negative = np.where(negative, x, -np.inf).max(axis=1)
    return (high_negative <= low_positive) | (high_positive <= low_negative)


def _newton_step(grad, info, fit_slope: bool) -> tuple[np.ndarray, np.ndarray]:
    """Newton step ``info^-1 @ grad`` per fit in closed form, and where ``info`` is singular.

    ``grad`` (m, 2) is the gradient in (a, b), ``info`` (m, 3) holds I_aa, I_ab, I_bb.
    Singular means a condition number of 1e12 or more, as ``np.linalg.cond`` measures it
    (separation drives the information to 0); those fits get a zero step.
    """
    g_a, g_b = grad.T
    i_aa, i_ab, i_bb = info.T
    with np.errstate(divide="ignore", invalid="ignore"):
        if fit_slope:
            det = i_aa * i_bb - i_ab * i_ab
            # A symmetric 2 x 2 matrix has cond = l_max / l_min = l_max**2 / det.
            l_max = (i_aa + i_bb) / 2 + np.hypot((i_aa - i_bb) / 2, i_ab)
            singular = ~(l_max * l_max < 1e12 * det)
            step = np.column_stack([i_bb * g_a - i_ab * g_b, i_aa * g_b - i_ab * g_a]) / det[:, None]
        else:
            singular = ~(i_aa > 0)  # cond of a 1 x 1 matrix is 1, or infinite at 0
            step = np.column_stack([g_a / i_aa, np.zeros_like(g_a)])
    step[singular] = 0.0
    return step, singular


def _negligible(step, beta, fitted: int, tol: float) -> np.ndarray:
    """Newton has converged: no fitted coefficient moves by more than ``tol`` (relative)."""
    return (np.abs(step[:, :fitted]).max(axis=1)
            <= tol * (1 + np.abs(beta[:, :fitted]).max(axis=1)))


def _subset(mask, *arrays) -> tuple[np.ndarray, ...]:
    """The rows of each array where ``mask`` holds, without copying when it holds everywhere."""
    return arrays if mask.all() else tuple(a[mask] for a in arrays)


def _halve_until_ascent(beta, step, ll, x, w, lin, max_halvings=30):
    """Shrink each Newton step until the log-likelihood does not decrease.

    Returns the accepted step and ``sigmoid(eta)``, log-likelihood at the new point. Only
    the fits whose step went downhill are evaluated again.
    """
    mu, ll_new = _logistic_terms(beta + step, x, w, lin)
    for _ in range(max_halvings):
        worse = np.flatnonzero(ll_new < ll - 1e-12 * (1 + np.abs(ll)))  # tolerate rounding noise
        if worse.size == 0:
            break
        step[worse] /= 2
        mu[worse], ll_new[worse] = _logistic_terms(beta[worse] + step[worse], x, w[worse],
                                                   lin[worse])
    return step, mu, ll_new


def _calibration_intercept(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Calibration-in-the-large: ``a`` in logit P(y=1) = a + logit(p) (slope fixed at 1).

    0 when the mean risk is right; > 0 when predictions are too low on average.
    Van Calster et al., J Clin Epidemiol 2016; BMC Med 2019.
    """
    return _calibration_fit(_logit(p), y, w, fit_slope=False)[:, 0]


def _calibration_slope(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``b`` in logit P(y=1) = a + b * logit(p): 1 is ideal, < 1 means over-confident."""
    return _calibration_fit(_logit(p), y, w, fit_slope=True)[:, 1]


# ---------------------------------------------------------- threshold metrics

class Confusion(NamedTuple):
    """Weighted confusion-matrix counts, each of shape (b,)."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray


def _confusion(y: np.ndarray, positive: np.ndarray, w: np.ndarray) -> Confusion:
    truth = y == 1
    return Confusion(*(w @ (t & q).astype(float) for t, q in (
        (truth, positive), (~truth, positive), (truth, ~positive), (~truth, ~positive))))


def _mcc(c: Confusion) -> np.ndarray:
    margins = (c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn)
    return _div(c.tp * c.tn - c.fp * c.fn, np.sqrt(margins))


_RATES: dict[str, Callable[[Confusion], np.ndarray]] = {
    "accuracy": lambda c: _div(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn),
    "balanced_accuracy": lambda c: (_div(c.tp, c.tp + c.fn) + _div(c.tn, c.tn + c.fp)) / 2,
    "sensitivity": lambda c: _div(c.tp, c.tp + c.fn),
    "specificity": lambda c: _div(c.tn, c.tn + c.fp),
    "ppv": lambda c: _div(c.tp, c.tp + c.fp),
    "npv": lambda c: _div(c.tn, c.tn + c.fn),
    "f1": lambda c: _div(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    "mcc": _mcc,
}

_SCORE_METRICS: dict[str, WeightedMetric] = {
    "auroc": _auroc,
    "auprc": _auprc,
    "log_loss": _log_loss,
    "brier": _brier,
    "calibration_intercept": _calibration_intercept,
    "calibration_slope": _calibration_slope,
}


def _at_threshold(rate, threshold, y, p, w) -> np.ndarray:
    return rate(_confusion(y, p >= threshold, w))


# ---------------------------------------------------- multiclass and regression

def _macro_auroc(y, proba, w) -> np.ndarray:
    """One-vs-rest AUROC averaged over classes; ``nan`` if any class is absent."""
    per_class = [_auroc((y == k).astype(float), proba[:, k], w) for k in range(proba.shape[1])]
    return np.mean(per_class, axis=0)


def _multiclass_accuracy(y, proba, w) -> np.ndarray:
    return _wmean((proba.argmax(axis=1) == y).astype(float), w)


def _macro_f1(y, proba, w) -> np.ndarray:
    predicted = proba.argmax(axis=1)
    f1 = [_RATES["f1"](_confusion((y == k).astype(float), predicted == k, w))
          for k in range(proba.shape[1])]
    # Classes neither present nor predicted are nan here and left out, as in scikit-learn.
    return np.nanmean(f1, axis=0)


def _multiclass_log_loss(y, proba, w) -> np.ndarray:
    q = np.clip(proba[np.arange(y.size), y.astype(int)], _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    return _wmean(-np.log(q), w)


def _rmse(y, pred, w) -> np.ndarray:
    return np.sqrt(_wmean((pred - y) ** 2, w))


def _mae(y, pred, w) -> np.ndarray:
    return _wmean(np.abs(pred - y), w)


def _r2(y, pred, w) -> np.ndarray:
    mean = _wmean(y, w)
    total = (w * (y - mean[:, None]) ** 2).sum(axis=1)
    return 1.0 - _div(w @ (pred - y) ** 2, total)


_MULTICLASS: dict[str, WeightedMetric] = {
    "macro_auroc": _macro_auroc,
    "accuracy": _multiclass_accuracy,
    "macro_f1": _macro_f1,
    "log_loss": _multiclass_log_loss,
}
_REGRESSION: dict[str, WeightedMetric] = {"rmse": _rmse, "mae": _mae, "r2": _r2}


def _metric_table(task: str, threshold: float = 0.5) -> dict[str, WeightedMetric]:
    """Name -> weighted metric for ``task``; binary threshold metrics use ``threshold``."""
    if task == "binary":
        table = {**_SCORE_METRICS, **{name: partial(_at_threshold, rate, threshold)
                                      for name, rate in _RATES.items()}}
        return {name: table[name] for name in BINARY_METRICS}
    if task == "multiclass":
        return dict(_MULTICLASS)
    if task == "regression":
        return dict(_REGRESSION)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


# ------------------------------------------------------------------ validation

def _as_float_array(x, name: str, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_probabilities(prob, name: str, n: int, ndim: int) -> np.ndarray:
    p = _as_float_array(prob, name, ndim)
    if p.shape[0] != n:
        raise ValueError(f"{name} has {p.shape[0]} rows but y_true has {n}")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in "
                         f"[{p.min():.3g}, {p.max():.3g}]; pass probabilities, not logits")
    return p


def check_binary(y_true, prob, name: str = "prob") -> tuple[np.ndarray, np.ndarray]:
    """Validated 0/1 labels and probabilities as float arrays; ValueError names the argument."""
    y = _as_float_array(y_true, "y_true", 1)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must hold binary labels 0/1 (1 = positive class), got values "
                         f"{np.unique(y)[:5]}")
    return y, _check_probabilities(prob, name, y.size, 1)


def check_multiclass(y_true, proba, name: str = "proba") -> tuple[np.ndarray, np.ndarray]:
    """Validated class codes and (n, K) probabilities; ValueError names the argument."""
    y = _as_float_array(y_true, "y_true", 1)
    p = _check_probabilities(proba, name, y.size, 2)
    k = p.shape[1]
    if k < 2:
        raise ValueError(f"{name} must have one column per class (>= 2), got shape {p.shape}")
    if not np.all((y == np.round(y)) & (y >= 0) & (y < k)):
        raise ValueError(f"y_true must hold integer class codes 0..{k - 1} (one per column "
                         f"of {name}), got values {np.unique(y)[:5]}")
    if np.abs(p.sum(axis=1) - 1).max() > _ROW_SUM_TOL:
        raise ValueError(f"each row of {name} must sum to 1 (class probabilities); "
                         "apply softmax to scores first")
    return y, p


def _check_regression(y_true, y_pred, name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    y = _as_float_array(y_true, "y_true", 1)
    pred = _as_float_array(y_pred, name, 1)
    if pred.size != y.size:
        raise ValueError(f"{name} has {pred.size} rows but y_true has {y.size}")
    return y, pred


_CHECKS = {"binary": check_binary, "multiclass": check_multiclass,
           "regression": _check_regression}


def _check_threshold(threshold) -> float:
    if not (np.isscalar(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return float(threshold)


def _check_bootstrap_args(n_boot, alpha, minimum: int = 0) -> None:
    if not (isinstance(n_boot, int | np.integer) and n_boot >= minimum):
        raise ValueError(f"n_boot must be an integer >= {minimum}, got {n_boot!r}")
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


# ---------------------------------------------------------------- point values

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
    return _point(_metric_table("binary", _check_threshold(threshold)), y, p)


def auroc(y_true, prob) -> float:
    """AUROC alone, ~20x cheaper than :func:`binary_metrics` (no calibration fits).

    For per-epoch monitoring of a validation set. Arguments as in :func:`binary_metrics`.
    """
    y, p = check_binary(y_true, prob)
    return float(_auroc(y, p, np.ones((1, y.size)))[0])


def auprc(y_true, prob) -> float:
    """Average precision alone, as cheap as :func:`auroc`. Arguments as in :func:`binary_metrics`."""
    y, p = check_binary(y_true, prob)
    return float(_auprc(y, p, np.ones((1, y.size)))[0])


def multiclass_metrics(y_true, proba) -> dict[str, float]:
    """Macro one-vs-rest AUROC, accuracy, macro F1 and log loss.

    Parameters
    ----------
    y_true : array-like, shape (n,) -- class codes ``0..K-1``.
    proba : array-like, shape (n, K) -- class probabilities, rows summing to 1.
    """
    y, p = check_multiclass(y_true, proba)
    return _point(_metric_table("multiclass"), y, p)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, MAE and R². ``y_true``, ``y_pred``: array-like, shape (n,)."""
    y, pred = _check_regression(y_true, y_pred)
    return _point(_metric_table("regression"), y, pred)


# ------------------------------------------------------------ threshold choice

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
    order, starts = _tie_groups(-p)
    candidates = p[order][starts]  # distinct probabilities, descending
    tp = np.cumsum(np.add.reduceat(y[order], starts))
    fp = np.cumsum(np.add.reduceat(1.0 - y[order], starts))
    score = _THRESHOLD_CRITERIA[method](tp, fp, n_pos, n_neg)
    # Equal criteria can differ in the last bit (2/3 - 0 vs 1 - 1/3): compare with slack.
    best = int(np.flatnonzero(score >= score.max() - 1e-12)[0])
    if best + 1 == candidates.size:
        return float(candidates[best])
    return float((candidates[best] + candidates[best + 1]) / 2)


# -------------------------------------------------------------- decision curve

def _check_decision_thresholds(thresholds) -> np.ndarray:
    t = _as_float_array(np.atleast_1d(thresholds), "thresholds", 1)
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


# ------------------------------------------------------------------- bootstrap

def _resample_counts(n: int, n_boot: int, seed, groups=None) -> Iterator[np.ndarray]:
    """Bootstrap resamples as counts, in chunks of shape (b, n).

    Entry ``[j, i]`` is how many times row ``i`` is drawn in resample ``j`` (n draws
    with replacement). With ``groups`` (a cluster id per row, e.g. the patient of each
    recording) whole clusters are drawn instead: rows of one patient are not
    independent, and resampling them one by one gives intervals that are too narrow.
    Chunking bounds memory; the sequence depends only on ``(n, n_boot, seed, groups)``.
    """
    rng = np.random.default_rng(seed)
    units = n if groups is None else _group_codes(groups, n)
    n_units = units if groups is None else int(units.max()) + 1
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        flat = (rng.integers(0, n_units, size=(b, n_units)) + n_units * np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_units).reshape(b, n_units).astype(float)
        yield counts if groups is None else counts[:, units]


def _group_codes(groups, n: int) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per row ({n}), got shape {groups.shape}")
    return np.unique(groups, return_inverse=True)[1]


def _bootstrap(stat: Callable[[np.ndarray], dict[str, np.ndarray]], n: int, n_boot: int,
               seed, groups=None) -> dict[str, np.ndarray]:
    """Apply ``stat(counts) -> {name: (b,)}`` to every chunk of resamples and concatenate."""
    parts = [stat(w) for w in _resample_counts(n, n_boot, seed, groups)]
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _percentile_ci(values: np.ndarray, alpha: float, label: str) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap values; logs how many were skipped."""
    ok = np.isfinite(values)
    skipped = int(values.size - ok.sum())
    if skipped:
        logger.warning("%s: skipped %d of %d bootstrap resamples where it is undefined",
                       label, skipped, values.size)
    if not ok.any():
        return float("nan"), float("nan")
    low, high = np.quantile(values[ok], [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _resolve_metric(metric: str, pred: np.ndarray, threshold: float) -> tuple[str, WeightedMetric]:
    """Task and weighted function of a metric name; 2-D predictions mean multiclass."""
    if pred.ndim == 2:
        task = "multiclass"
    elif metric in REGRESSION_METRICS:
        task = "regression"
    else:
        task = "binary"
    table = _metric_table(task, threshold)
    if metric not in table:
        raise ValueError(f"metric {metric!r} is not a {task} metric; choose from {tuple(table)}")
    return task, table[metric]


def _callable_metric(metric: Callable, y: np.ndarray, pred: np.ndarray) -> WeightedMetric:
    """Evaluate a plain ``metric(y, pred) -> float`` on each resample (a Python loop).

    A resample where it raises ``ValueError`` (e.g. one class only) counts as undefined.
    """
    def per_resample(_y, _pred, w):
        values = np.empty(len(w))
        for j, counts in enumerate(w.astype(int)):
            rows = np.repeat(np.arange(y.size), counts)
            try:
                values[j] = metric(y[rows], pred[rows])
            except ValueError:
                values[j] = np.nan
        return values
    return per_resample


def bootstrap_ci(y_true, pred, metric, n_boot: int = 1000, alpha: float = 0.05, seed=0, *,
                 threshold: float = 0.5, groups=None) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of one metric, resampling rows.

    Parameters
    ----------
    y_true : array-like, shape (n,)
    pred : array-like, shape (n,) or (n, K) -- probabilities (binary, multiclass) or
        predictions (regression).
    metric : str or callable -- a name from :data:`BINARY_METRICS`,
        :data:`MULTICLASS_METRICS` (used when ``pred`` is 2-D) or
        :data:`REGRESSION_METRICS`, evaluated vectorized over all resamples; or any
        ``metric(y, pred) -> float`` (slower: called once per resample).
    n_boot : int -- number of resamples.
    alpha : float -- 1 - confidence level.
    seed : int or None -- seeds ``np.random.default_rng``; same seed, same interval.
    threshold : float -- for binary threshold metrics, ``prob >= threshold`` is positive.
    groups : array-like, shape (n,), optional -- cluster (patient) of each row: whole
        clusters are resampled.

    Returns
    -------
    (low, high) -- ``(nan, nan)`` if the metric is undefined on every resample. Resamples
    where it is undefined are skipped, with a logged warning saying how many.
    """
    _check_bootstrap_args(n_boot, alpha, minimum=1)
    if callable(metric):
        y, pred = np.asarray(y_true), np.asarray(pred)
        if y.shape[:1] != pred.shape[:1]:
            raise ValueError(f"y_true and pred must have the same number of rows, got "
                             f"{y.shape[:1]} and {pred.shape[:1]}")
        fn, label = _callable_metric(metric, y, pred), getattr(metric, "__name__", "metric")
    else:
        task, fn = _resolve_metric(metric, np.asarray(pred), _check_threshold(threshold))
        y, pred = _CHECKS[task](y_true, pred, "pred")
        label = metric
    values = _bootstrap(lambda w: {label: fn(y, pred, w)}, len(y), n_boot, seed, groups)[label]
    return _percentile_ci(values, alpha, label)


def evaluate(task: str, y_true, pred, threshold: float = 0.5, n_boot: int = 1000,
             seed=0, alpha: float = 0.05, extra_thresholds: Mapping[str, float] | None = None,
             groups=None) -> dict[str, dict[str, float]]:
    """Every metric of ``task`` with a bootstrap confidence interval.

    All metrics share the same resamples. For ``task="binary"`` the threshold metrics
    use ``prob >= threshold``; ``extra_thresholds={"tuned": 0.31}`` adds them again at
    each named threshold as ``accuracy_tuned``, ... (same resamples, so the
    threshold-free metrics and their costly calibration fits are computed once).

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
    y_true : array-like, shape (n,)
    pred : array-like, shape (n,) for binary (P(y = 1)) and regression, (n, K) for multiclass.
    threshold : float
    n_boot : int -- 0 skips the bootstrap (intervals are ``nan``), e.g. for per-fold values.
    seed : int or None
    alpha : float
    extra_thresholds : mapping suffix -> threshold, binary only.
    groups : array-like, shape (n,), optional -- cluster (patient) of each row for a
        cluster bootstrap.

    Returns
    -------
    dict metric -> {"value", "ci_low", "ci_high"} of plain floats.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    _check_bootstrap_args(n_boot, alpha)
    y, pred = _CHECKS[task](y_true, pred, "pred")
    stat = _evaluation_stat(task, _check_threshold(threshold), extra_thresholds or {})
    point = {name: float(values[0]) for name, values in stat(y, pred, np.ones((1, y.size))).items()}
    replicates = _bootstrap(lambda w: stat(y, pred, w), y.size, n_boot, seed, groups)
    result = {}
    for name, value in point.items():
        low, high = (_percentile_ci(replicates[name], alpha, name) if replicates
                     else (float("nan"), float("nan")))
        result[name] = {"value": value, "ci_low": low, "ci_high": high}
    return result


def _evaluation_stat(task, threshold, extra_thresholds):
    """``stat(y, pred, w) -> {name: (b,)}`` for all of a task's metrics; binary threshold
    metrics share one confusion matrix per threshold instead of one per metric, AUROC and
    AUPRC one ranking."""
    if task != "binary":
        table = _metric_table(task)
        return lambda y, pred, w: {name: fn(y, pred, w) for name, fn in table.items()}
    thresholds = {"": threshold, **{f"_{k}": _check_threshold(t) for k, t in extra_thresholds.items()}}

    def stat(y, p, w):
        ranked = _ranked(y, p, w)
        values = {"auroc": _auroc_of(ranked), "auprc": _auprc_of(ranked)}
        values.update({name: _SCORE_METRICS[name](y, p, w) for name in BINARY_METRICS
                       if name in _SCORE_METRICS and name not in values})
        for suffix, t in thresholds.items():
            counts = _confusion(y, p >= t, w)
            values.update({f"{name}{suffix}": rate(counts) for name, rate in _RATES.items()})
        return values
    return stat


def paired_bootstrap_difference(y_true, prob_a, prob_b, metric: str = "auroc",
                                n_boot: int = 2000, seed=0, *, alpha: float = 0.05,
                                threshold: float = 0.5, groups=None) -> dict[str, float]:
    """Difference ``metric(a) - metric(b)`` of two models scored on the same rows.

    Both models are evaluated on the same resamples, so the interval accounts for the
    correlation between them (a paired bootstrap).

    Parameters
    ----------
    y_true : array-like, shape (n,)
    prob_a, prob_b : array-like, shape (n,) or (n, K) -- the two models' probabilities.
    metric : str -- a binary (or, for 2-D probabilities, multiclass) metric name.
    n_boot, seed, alpha, threshold, groups : as in :func:`bootstrap_ci`.

    Returns
    -------
    dict with ``difference``, ``ci_low``, ``ci_high`` (percentile interval) and
    ``p_value``: two-sided, twice the smaller bootstrap tail beyond 0, computed as
    ``(count + 1) / (n_boot + 1)`` so it is never exactly 0; 1 for identical models.
    """
    _check_bootstrap_args(n_boot, alpha, minimum=1)
    task, fn = _resolve_metric(metric, np.asarray(prob_a), _check_threshold(threshold))
    if task == "regression":
        raise ValueError(f"metric must be a binary or multiclass metric, got {metric!r}")
    y, a = _CHECKS[task](y_true, prob_a, "prob_a")
    _, b = _CHECKS[task](y_true, prob_b, "prob_b")
    ones = np.ones((1, y.size))
    difference = float(fn(y, a, ones)[0] - fn(y, b, ones)[0])
    diffs = _bootstrap(lambda w: {"d": fn(y, a, w) - fn(y, b, w)}, y.size, n_boot, seed,
                       groups)["d"]
    low, high = _percentile_ci(diffs, alpha, f"{metric} difference")
    finite = diffs[np.isfinite(diffs)]
    tail = min(np.sum(finite <= 0), np.sum(finite >= 0))
    p_value = min(1.0, 2 * (tail + 1) / (finite.size + 1)) if finite.size else float("nan")
    return {"difference": difference, "ci_low": low, "ci_high": high, "p_value": float(p_value)}
