"""Bootstrap confidence intervals: resamples drawn as counts, every metric evaluated on all
of them at once, intervals from the replicates (percentile, BCa, logit: see ``intervals``),
and the paired comparison of two models.

The default interval (:data:`DEFAULT_INTERVAL`, ``"logit"``) was chosen by
``bench/bench_interval_coverage.py`` (binormal AUROC, n = 200, 2000 samples per cell, 1000
resamples each; Monte Carlo SE 0.005). Coverage of the nominal 95%:

=====  ======  ==========  =====  =====
AUROC  events  percentile  BCa    logit
=====  ======  ==========  =====  =====
0.75   100     0.943       0.948  0.950
0.75   20      0.932       0.949  0.947
0.75   10      0.905       0.933  0.928
0.95   100     0.932       0.952  0.953
0.95   20      0.883       0.918  0.931
0.95   10      0.801       0.853  0.894
0.99   100     0.896       0.936  0.953
0.99   20      0.825       0.909  0.969
0.99   10      0.724       0.858  0.897
=====  ======  ==========  =====  =====

Only the logit interval stays within 0.93-0.97 wherever there are at least 20 events; near
AUROC 1 it is asymmetric (wide below, tight above) where BCa still undercovers. It needs no
jackknife. Unbounded metrics (log loss, calibration intercept and slope) get the percentile
interval under it.

BCa needs jackknife values: the metric with one row (or, with ``groups``, one patient) left
out, i.e. the same weighted function on ``w = 1 - e_i``. That is ``m`` more evaluations for
``m`` rows or patients, chunked like the resamples; beyond :data:`resampling.JACKKNIFE_UNITS`
units they are pooled into that many random groups (a delete-a-group jackknife), so the
jackknife never costs more than scoring that many resamples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from .checks import CHECKS, check_bootstrap_args, check_threshold
from .intervals import DEFAULT_INTERVAL, INTERVALS, check_interval
from .ranking import auprc_of, auroc_of, ranked
from .registry import BINARY_METRICS, REGRESSION_METRICS, TASKS, bounds_of
from .resampling import apply_in_chunks, jackknife_units, jackknife_weights, resample_counts
from .scores import SCORE_METRICS, WeightedMetric, metric_table
from .smoothed import calibration_errors
from .thresholds import RATES, confusion

logger = logging.getLogger(__name__)

_CHUNK_CELLS = 2_000_000  # caps a (b, n) resample-count matrix at ~16 MB


def _resample_counts(n: int, n_boot: int, seed, groups=None):
    """Bootstrap resamples as counts in chunks of shape (b, n): :func:`resampling.resample_counts`."""
    return resample_counts(n, n_boot, seed, groups, _CHUNK_CELLS)


def _bootstrap(stat: Callable[[np.ndarray], dict[str, np.ndarray]], n: int, n_boot: int,
               seed, groups=None) -> dict[str, np.ndarray]:
    """Apply ``stat(counts) -> {name: (b,)}`` to every chunk of resamples and concatenate."""
    return apply_in_chunks(stat, _resample_counts(n, n_boot, seed, groups))


def _jackknife(stat: Callable[[np.ndarray], dict[str, np.ndarray]], n: int, seed,
               groups=None) -> dict[str, np.ndarray]:
    """``stat`` with each row (or cluster, or random group of them) left out in turn."""
    return apply_in_chunks(stat, jackknife_weights(jackknife_units(n, groups, seed), _CHUNK_CELLS))


def _interval(method: str, label: str, point: float, values: np.ndarray, jackknife,
              alpha: float, bounds=None) -> tuple[float, float]:
    """Interval of one metric from its replicates; logs how many were skipped."""
    skipped = int(values.size - np.isfinite(values).sum())
    if skipped:
        logger.warning("%s: skipped %d of %d bootstrap resamples where it is undefined",
                       label, skipped, values.size)
    return INTERVALS[method](values, point, alpha, jackknife, bounds)


def _resolve_metric(metric: str, pred: np.ndarray, threshold: float) -> tuple[str, WeightedMetric]:
    """Task and weighted function of a metric name; 2-D predictions mean multiclass."""
    if pred.ndim == 2:
        task = "multiclass"
    elif metric in REGRESSION_METRICS:
        task = "regression"
    else:
        task = "binary"
    table = metric_table(task, threshold)
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


def bootstrap_replicates(y_true, pred, metric, n_boot: int = 1000, seed=0, *,
                         threshold: float = 0.5, groups=None,
                         jackknife: bool = True) -> dict[str, np.ndarray | float]:
    """The point value, bootstrap replicates and jackknife values of one metric: everything
    an interval of :data:`INTERVALS` needs, to compare methods on the same resamples.

    Arguments as in :func:`bootstrap_ci`; ``jackknife=False`` skips the leave-one-out values.

    Returns
    -------
    dict with ``point`` (float), ``replicates`` (n_boot,), ``jackknife`` (m,) or ``None``,
    ``bounds`` (the metric's range, or ``None``) and ``label``.
    """
    check_bootstrap_args(n_boot, 0.05, minimum=1)
    if callable(metric):
        y, pred = np.asarray(y_true), np.asarray(pred)
        if y.shape[:1] != pred.shape[:1]:
            raise ValueError(f"y_true and pred must have the same number of rows, got "
                             f"{y.shape[:1]} and {pred.shape[:1]}")
        fn, label = _callable_metric(metric, y, pred), getattr(metric, "__name__", "metric")
        bounds = None
    else:
        task, fn = _resolve_metric(metric, np.asarray(pred), check_threshold(threshold))
        y, pred = CHECKS[task](y_true, pred, "pred")
        label, bounds = metric, bounds_of(metric)

    def stat(w):
        return {label: fn(y, pred, w)}
    return {"point": float(stat(np.ones((1, len(y))))[label][0]),
            "replicates": _bootstrap(stat, len(y), n_boot, seed, groups)[label],
            "jackknife": _jackknife(stat, len(y), seed, groups)[label] if jackknife else None,
            "bounds": bounds, "label": label}


def bootstrap_ci(y_true, pred, metric, n_boot: int = 1000, alpha: float = 0.05, seed=0, *,
                 threshold: float = 0.5, groups=None, interval: str = DEFAULT_INTERVAL,
                 bounds=None) -> tuple[float, float]:
    """Bootstrap confidence interval of one metric, resampling rows (or clusters).

    Parameters
    ----------
    y_true : array-like, shape (n,)
    pred : array-like, shape (n,) or (n, K) -- probabilities (binary, multiclass) or
        predictions (regression).
    metric : str or callable -- a name from :data:`BINARY_METRICS`,
        :data:`MULTICLASS_METRICS` (used when ``pred`` is 2-D) or
        :data:`REGRESSION_METRICS`, evaluated vectorized over all resamples; or any
        ``metric(y, pred) -> float`` (slower: called once per resample, and for ``"bca"``
        once per row left out).
    n_boot : int -- number of resamples.
    alpha : float -- 1 - confidence level.
    seed : int or None -- seeds ``np.random.default_rng``; same seed, same interval.
    threshold : float -- for binary threshold metrics, ``prob >= threshold`` is positive.
    groups : array-like, shape (n,), optional -- cluster (patient) of each row: whole
        clusters are resampled (and left out by the jackknife).
    interval : {"percentile", "bca", "logit"} -- see :mod:`pipeline.metrics.intervals`.
    bounds : (lo, hi), optional -- the range of a callable metric, for ``"logit"``
        (named metrics know theirs).

    Returns
    -------
    (low, high) -- ``(nan, nan)`` if the metric is undefined on every resample. Resamples
    where it is undefined are skipped, with a logged warning saying how many.
    """
    check_bootstrap_args(n_boot, alpha, minimum=1)
    check_interval(interval)
    r = bootstrap_replicates(y_true, pred, metric, n_boot, seed, threshold=threshold,
                             groups=groups, jackknife=interval == "bca")
    return _interval(interval, r["label"], r["point"], r["replicates"], r["jackknife"], alpha,
                     r["bounds"] if bounds is None else bounds)


def evaluate(task: str, y_true, pred, threshold: float = 0.5, n_boot: int = 1000,
             seed=0, alpha: float = 0.05, extra_thresholds: Mapping | None = None,
             groups=None, *, interval: str = DEFAULT_INTERVAL) -> dict[str, dict[str, float]]:
    """Every metric of ``task`` with a bootstrap confidence interval.

    All metrics share the same resamples. For ``task="binary"`` the threshold metrics
    use ``prob >= threshold``; ``extra_thresholds={"tuned": t}`` adds them again as
    ``accuracy_tuned``, ... with ``t`` a number or one threshold per row (each fold's own
    threshold applied to its own test rows: the pooled confusion matrix sums the folds').
    The threshold-free metrics and their costly calibration fits are computed once.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
    y_true : array-like, shape (n,)
    pred : array-like, shape (n,) for binary (P(y = 1)) and regression, (n, K) for multiclass.
    threshold : float
    n_boot : int -- 0 skips the bootstrap (intervals are ``nan``), e.g. for per-fold values.
    seed : int or None
    alpha : float
    extra_thresholds : mapping suffix -> threshold (float or array of shape (n,)), binary only.
    groups : array-like, shape (n,), optional -- cluster (patient) of each row for a
        cluster bootstrap.
    interval : {"percentile", "bca", "logit"} -- the interval method, by default
        :data:`DEFAULT_INTERVAL` (log it with the results).

    Returns
    -------
    dict metric -> {"value", "ci_low", "ci_high", "n_degenerate"} of plain floats;
    ``n_degenerate`` counts the resamples on which the metric was undefined (skipped).
    """
    extra = {k: [v] for k, v in (extra_thresholds or {}).items()}
    return evaluate_repeats(task, y_true, [pred], threshold, n_boot, seed, alpha, extra, groups,
                            interval=interval)


def evaluate_repeats(task: str, y_true, preds, threshold: float = 0.5, n_boot: int = 1000,
                     seed=0, alpha: float = 0.05, extra_thresholds: Mapping | None = None,
                     groups=None, *, interval: str = DEFAULT_INTERVAL) -> dict[str, dict[str, float]]:
    """:func:`evaluate` of repeated cross-validation: ``preds[r]`` holds repeat ``r``'s
    out-of-fold prediction of every row, and each metric is the mean over repeats of its
    pooled value per repeat (each repeat is a set of fitted models; averaging predictions
    over repeats first would score an ensemble that no fold produced). The bootstrap draws
    patients once per resample and applies that draw to every repeat; so does the jackknife
    of BCa, leaving a patient out of every repeat at once.

    ``extra_thresholds`` maps a suffix to one threshold (float or per-row array) per repeat.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    check_bootstrap_args(n_boot, alpha)
    check_interval(interval)
    if not len(preds):
        raise ValueError("preds is empty: pass one prediction array per repeat")
    checked = [CHECKS[task](y_true, pred, f"preds[{r}]") for r, pred in enumerate(preds)]
    y = checked[0][0]
    extra = {k: list(v) for k, v in (extra_thresholds or {}).items()}
    for suffix, per_repeat in extra.items():
        if len(per_repeat) != len(preds):
            raise ValueError(f"extra_thresholds[{suffix!r}] has {len(per_repeat)} entries for "
                             f"{len(preds)} repeats")
    stats = [_evaluation_stat(task, check_threshold(threshold),
                              {k: _check_row_thresholds(v[r], y.size) for k, v in extra.items()})
             for r in range(len(preds))]

    def stat(w):
        per_repeat = [s(y, pred, w) for s, (_, pred) in zip(stats, checked)]
        return {name: np.mean([values[name] for values in per_repeat], axis=0)
                for name in per_repeat[0]}

    point = {name: float(values[0]) for name, values in stat(np.ones((1, y.size))).items()}
    replicates = _bootstrap(stat, y.size, n_boot, seed, groups)
    jackknife = _jackknife(stat, y.size, seed, groups) if n_boot and interval == "bca" else {}
    result = {}
    for name, value in point.items():
        values = replicates.get(name, np.empty(0))
        low, high = (_interval(interval, name, value, values, jackknife.get(name), alpha,
                               bounds_of(name)) if values.size else (np.nan, np.nan))
        result[name] = {"value": value, "ci_low": low, "ci_high": high,
                        "n_degenerate": float(np.sum(~np.isfinite(values)))}
    return result


def _check_row_thresholds(threshold, n: int):
    """A threshold for every row: a number, or an array of shape (n,) in [0, 1]."""
    if np.isscalar(threshold):
        return check_threshold(threshold)
    t = np.asarray(threshold, dtype=float)
    if t.shape != (n,) or not np.all((t >= 0) & (t <= 1)):
        raise ValueError(f"a per-row threshold must have shape ({n},) with values in [0, 1], "
                         f"got shape {t.shape}")
    return t


def _evaluation_stat(task, threshold, extra_thresholds):
    """``stat(y, pred, w) -> {name: (b,)}`` for all of a task's metrics; binary threshold
    metrics share one confusion matrix per threshold instead of one per metric, AUROC and
    AUPRC one ranking, ICI, E50 and E90 one spline fit."""
    if task != "binary":
        table = metric_table(task)
        return lambda y, pred, w: {name: fn(y, pred, w) for name, fn in table.items()}
    thresholds = {"": threshold, **{f"_{k}": t for k, t in extra_thresholds.items()}}

    def stat(y, p, w):
        order = ranked(y, p, w)
        shared = {"auroc": auroc_of(order), "auprc": auprc_of(order), **calibration_errors(y, p, w)}
        values = {name: shared[name] if name in shared else SCORE_METRICS[name](y, p, w)
                  for name in BINARY_METRICS if name in SCORE_METRICS}
        for suffix, t in thresholds.items():
            counts = confusion(y, p >= t, w)
            values.update({f"{name}{suffix}": rate(counts) for name, rate in RATES.items()})
        return values
    return stat


def _repeats(prob, name: str) -> list:
    """``prob`` as a list of per-repeat arrays (a lone array is one repeat)."""
    if isinstance(prob, (list, tuple)):
        if not prob:
            raise ValueError(f"{name} is an empty list: pass one prediction array per repeat")
        return list(prob)
    return [prob]


def paired_bootstrap_difference(y_true, prob_a, prob_b, metric: str = "auroc",
                                n_boot: int = 2000, seed=0, *, alpha: float = 0.05,
                                threshold: float = 0.5, groups=None) -> dict[str, float]:
    """Difference ``metric(a) - metric(b)`` of two models scored on the same rows.

    Both models are evaluated on the same resamples, so the interval accounts for the
    correlation between them (a paired bootstrap).

    Parameters
    ----------
    y_true : array-like, shape (n,)
    prob_a, prob_b : array-like, shape (n,) or (n, K) -- the two models' probabilities; or,
        for repeated cross-validation, a list with one such array per repeat: the difference
        is then the mean over repeats of each repeat's difference, on one shared resample.
    metric : str -- a binary (or, for 2-D probabilities, multiclass) metric name.
    n_boot, seed, alpha, threshold, groups : as in :func:`bootstrap_ci`.

    Returns
    -------
    dict with ``difference``, ``ci_low``, ``ci_high`` (percentile interval) and
    ``p_value``: two-sided, twice the smaller bootstrap tail beyond 0, computed as
    ``(count + 1) / (n_boot + 1)`` so it is never exactly 0; 1 for identical models.
    """
    check_bootstrap_args(n_boot, alpha, minimum=1)
    a_list, b_list = _repeats(prob_a, "prob_a"), _repeats(prob_b, "prob_b")
    if len(a_list) != len(b_list):
        raise ValueError(f"prob_a and prob_b must hold as many repeats, got {len(a_list)} and {len(b_list)}")
    task, fn = _resolve_metric(metric, np.asarray(a_list[0]), check_threshold(threshold))
    if task == "regression":
        raise ValueError(f"metric must be a binary or multiclass metric, got {metric!r}")
    y = CHECKS[task](y_true, a_list[0], "prob_a")[0]
    pairs = [(CHECKS[task](y_true, a, f"prob_a[{r}]")[1], CHECKS[task](y_true, b, f"prob_b[{r}]")[1])
             for r, (a, b) in enumerate(zip(a_list, b_list))]

    def mean_difference(w):
        return np.mean([fn(y, a, w) - fn(y, b, w) for a, b in pairs], axis=0)

    difference = float(mean_difference(np.ones((1, y.size)))[0])
    diffs = _bootstrap(lambda w: {"d": mean_difference(w)}, y.size, n_boot, seed, groups)["d"]
    low, high = _interval("percentile", f"{metric} difference", difference, diffs, None, alpha)
    finite = diffs[np.isfinite(diffs)]
    tail = min(np.sum(finite <= 0), np.sum(finite >= 0))
    p_value = min(1.0, 2 * (tail + 1) / (finite.size + 1)) if finite.size else float("nan")
    return {"difference": difference, "ci_low": low, "ci_high": high, "p_value": float(p_value)}
