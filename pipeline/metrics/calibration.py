"""Calibration: intercept (calibration-in-the-large) and slope, by weighted logistic fits
of the outcome on logit(p), one per bootstrap resample, vectorized Newton-Raphson."""

from __future__ import annotations

import numpy as np

from .common import logit

_FIT_BLOCK_CELLS = 150_000  # caps a block of calibration fits at ~1.2 MB per (m, n) array


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


def calibration_fit(x, y, w, fit_slope: bool) -> np.ndarray:
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
        failed |= separated(x, y, w)
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


def separated(x, y, w) -> np.ndarray:
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


def calibration_intercept(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Calibration-in-the-large: ``a`` in logit P(y=1) = a + logit(p) (slope fixed at 1).

    0 when the mean risk is right; > 0 when predictions are too low on average.
    Van Calster et al., J Clin Epidemiol 2016; BMC Med 2019.
    """
    return calibration_fit(logit(p), y, w, fit_slope=False)[:, 0]


def calibration_slope(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``b`` in logit P(y=1) = a + b * logit(p): 1 is ideal, < 1 means over-confident."""
    return calibration_fit(logit(p), y, w, fit_slope=True)[:, 1]
