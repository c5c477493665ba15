"""Confidence intervals from bootstrap replicates: percentile, BCa and a Wald interval on the
logit scale, and the normal distribution they need (numpy only: no scipy).

Each method is a function ``(replicates, point, alpha, jackknife, bounds) -> (low, high)`` in
:data:`INTERVALS`; :data:`DEFAULT_INTERVAL` names the one :func:`evaluate` uses unless told
otherwise. Replicates that are not finite (the metric is undefined on that resample) are left
out by every method; the caller counts them.

Percentile
    The ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the replicates. Invariant under any
    monotone transformation of the metric, which is why a "percentile interval on the logit
    scale" would be the same interval. It assumes the replicates are centred on the estimate
    and symmetric on some scale; near a bound (AUROC 0.99) they are not, and it undercovers.

BCa (bias-corrected and accelerated; Efron, JASA 1987; Efron & Tibshirani 1993, ch. 14)
    The quantiles at levels ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha/2)``
    and ``Phi^-1(1 - alpha/2)``, with

    * bias correction ``z0 = Phi^-1(P*(theta* < theta_hat) + P*(theta* = theta_hat) / 2)``
      over the finite replicates (ties count half: AUROC replicates can equal the estimate),
      the proportion held within ``[1 / (2B), 1 - 1 / (2B)]`` so that ``z0`` stays finite
      when every replicate falls on one side of the estimate;
    * acceleration ``a = sum(d_i^3) / (6 (sum(d_i^2))^(3/2))``, ``d_i = mean(theta_(.)) -
      theta_(i)``, from the jackknife values ``theta_(i)``: the metric with row ``i`` (or,
      with groups, cluster ``i``) left out. Non-finite jackknife values are left out; ``a = 0``
      when fewer than three remain or they do not vary.

    Where ``1 - a (z0 + z) <= 0`` (extreme acceleration) the level is 0 (lower) or 1 (upper).
    The interval is ``nan`` when the point estimate is: without it there is no bias to correct.

Logit (a Wald interval on the logit scale with the bootstrap standard error)
    For a metric bounded in ``[lo, hi]`` (most are in [0, 1]; MCC in [-1, 1]) with
    ``g(m) = logit((m - lo) / (hi - lo))``::

        g(theta_hat) -/+ Phi^-1(1 - alpha / 2) * se,   se = IQR(g(theta*)) / (2 * 0.6745)

    mapped back by ``g^-1``, so it stays inside the bounds and is asymmetric where the metric
    is near one. The spread of the logit replicates is measured by their interquartile range
    (the standard deviation for normal replicates) because a replicate on the bound (a
    resample with AUROC 1) has an infinite logit; should a quartile be infinite, the interval
    is the whole range. A point estimate on the bound, and metrics without bounds
    (log loss, calibration intercept and slope, regression errors), get the percentile interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

_STANDARD_NORMAL = NormalDist()
_IQR_PER_SD = 2 * 0.6744897501960817  # interquartile range of the standard normal


def _erfc(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erfc, otypes=[float])(x)


def norm_cdf(x) -> np.ndarray:
    """Standard normal CDF ``Phi(x) = erfc(-x / sqrt(2)) / 2`` (accurate in both tails)."""
    return 0.5 * _erfc(-np.asarray(x, dtype=float) / math.sqrt(2))


def norm_ppf(p) -> np.ndarray:
    """Inverse standard normal CDF ``Phi^-1(p)``: ``-inf`` at 0, ``inf`` at 1, ``nan`` outside.
    The standard library's (Wichura's AS241, full double precision)."""
    x = np.vectorize(_quantile, otypes=[float])(np.asarray(p, dtype=float))
    return x if x.ndim else x[()]


def _quantile(p: float) -> float:
    if 0 < p < 1:
        return _STANDARD_NORMAL.inv_cdf(p)
    return -math.inf if p == 0 else math.inf if p == 1 else math.nan


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def percentile_interval(replicates, point, alpha, jackknife=None, bounds=None):
    """The ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the finite replicates."""
    finite = _finite(replicates)
    if not finite.size:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def acceleration(jackknife) -> float:
    """BCa's acceleration from jackknife values (non-finite ones left out; 0 if undefined)."""
    finite = _finite(jackknife)
    if finite.size < 3:
        return 0.0
    d = finite.mean() - finite
    scale = float(np.sum(d * d)) ** 1.5
    return float(np.sum(d ** 3) / (6 * scale)) if scale > 0 else 0.0


def bias_correction(replicates, point) -> float:
    """BCa's ``z0`` from the finite replicates; ties with the estimate count half."""
    finite = _finite(replicates)
    below = np.count_nonzero(finite < point) + 0.5 * np.count_nonzero(finite == point)
    share = min(max(below / finite.size, 0.5 / finite.size), 1 - 0.5 / finite.size)
    return float(norm_ppf(share))


def bca_levels(z0: float, a: float, alpha: float) -> np.ndarray:
    """The two quantile levels of the BCa interval (see the module docstring)."""
    z = norm_ppf(np.array([alpha / 2, 1 - alpha / 2]))
    shifted = z0 + z
    denominator = 1 - a * shifted
    with np.errstate(divide="ignore", invalid="ignore"):
        levels = norm_cdf(z0 + shifted / denominator)
    return np.where(denominator > 0, levels, [0.0, 1.0])


def bca_interval(replicates, point, alpha, jackknife=None, bounds=None):
    """BCa interval; ``jackknife`` holds the leave-one-out values (``None``: ``a = 0``)."""
    finite = _finite(replicates)
    if not (finite.size and np.isfinite(point)):
        return float("nan"), float("nan")
    a = 0.0 if jackknife is None else acceleration(jackknife)
    low, high = np.quantile(finite, bca_levels(bias_correction(finite, point), a, alpha))
    return float(low), float(high)


def logit_interval(replicates, point, alpha, jackknife=None, bounds=None):
    """Wald interval on the logit scale of a metric bounded by ``bounds = (lo, hi)``."""
    if bounds is None or not (bounds[0] < point < bounds[1]):
        return percentile_interval(replicates, point, alpha)
    finite = _finite(replicates)
    if not finite.size:
        return float("nan"), float("nan")
    lo, hi = bounds
    share = np.clip((finite - lo) / (hi - lo), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # replicates on a bound: +-inf
        g = np.log(share) - np.log1p(-share)
        quartiles = np.quantile(g, [0.25, 0.75])  # nan where one touches an infinite value
    se = (quartiles[1] - quartiles[0]) / _IQR_PER_SD
    if not np.isfinite(se):
        return float(lo), float(hi)
    centre = math.log((point - lo) / (hi - point))
    half = float(norm_ppf(1 - alpha / 2)) * se
    ends = 1 / (1 + np.exp(-np.array([centre - half, centre + half])))
    return float(lo + (hi - lo) * ends[0]), float(lo + (hi - lo) * ends[1])


Interval = Callable[..., tuple[float, float]]

INTERVALS: dict[str, Interval] = {
    "percentile": percentile_interval,
    "bca": bca_interval,
    "logit": logit_interval,
}

#: The interval :func:`pipeline.metrics.evaluate` reports unless told otherwise (chosen by
#: bench/bench_interval_coverage.py: see the module docstring of ``bootstrap``).
DEFAULT_INTERVAL = "logit"


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {tuple(INTERVALS)}, got {interval!r}")
    return interval
