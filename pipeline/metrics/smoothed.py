"""Smoothed calibration: a logistic regression of the outcome on a restricted cubic spline of
logit(p), fitted by weighted Newton-Raphson (IRLS) for many resamples at once; from it the
integrated calibration index ICI and E50, E90 (Austin & Steyerberg, Stat Med 2019;38:4051),
and the smoothed calibration curve with a pointwise bootstrap band.

The model, per resample (row of ``w``)::

    logit P(y = 1) = b_0 + b_1 x + sum_j b_(j+1) s_j(x),   x = logit(p)

with ``s_j`` Harrell's restricted cubic spline terms (``rcspline.eval``, ``norm=2``): cubic
between the knots, linear beyond the outer ones. The smoothed observed risk of row ``i`` is
the fitted ``P(y = 1)`` at its ``x_i``; ICI is the weighted mean of ``|smoothed_i - p_i|``,
E50 and E90 its weighted median and 90th percentile (the quantiles of the resample itself:
``numpy.quantile``'s default on the rows as drawn).

Knots (the rule, decided once per data set, so that every resample fits the same model)
    Four knots at the 5/35/65/95th percentiles of ``x`` (Harrell, Regression Modeling
    Strategies, 2nd ed., section 2.4.6); three, at the 10/50/90th, when the smaller outcome
    class has fewer than :data:`MIN_EVENTS_4_KNOTS` (= 40) rows: a k-knot spline spends k
    coefficients, and ~10 events per coefficient is the usual budget. Tied predictions can
    make percentiles coincide: then three knots, and if those coincide too, no spline at all
    (a linear logistic recalibration). The knots, like their number, are placed once on all
    rows and kept for every resample: they are part of the model's specification, and the
    bootstrap measures how its fit varies (as Harrell's ``rms`` does: its bootstrap refits
    the stored design matrix). Placing them per resample would add a little variability of
    the percentiles, and cost a design matrix per resample instead of one matrix product.

Undefined (``nan``, counted as a degenerate resample): one outcome class only, predictions
that separate the classes (the fit has no finite maximum), a singular information matrix
(condition number above 1e12 after scaling), a Newton step that 30 halvings cannot make
improve the fit, and no convergence within 50 Newton steps.
"""

from __future__ import annotations

import numpy as np

from .calibration import separated
from .common import logit

MIN_EVENTS_4_KNOTS = 40
KNOT_PERCENTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95)}
_BLOCK_CELLS = 150_000  # resamples per block: the (m, n) working arrays stay ~1.2 MB
_MAX_COND = 1e12


def knot_count(y: np.ndarray, x: np.ndarray) -> int:
    """Number of knots for labels ``y`` and logits ``x`` (all rows, unweighted): 4, 3 or 2
    (2 = a straight line in ``x``, no spline terms). See the module docstring."""
    smaller = min(float(np.sum(y)), float(np.sum(1 - y)))
    for k in (4, 3):
        if (k == 3 or smaller >= MIN_EVENTS_4_KNOTS) and np.all(
                np.diff(np.quantile(x, KNOT_PERCENTILES[k])) > 0):
            return k
    return 2


def weighted_quantiles(values: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles of each resample as ``numpy.quantile`` (linear) computes them on its rows.

    Parameters
    ----------
    values : ndarray, shape (n,) or (b, n) -- ascending (each row, if 2-D).
    w : ndarray, shape (b, n) -- counts of each value in each resample, in that order.
    q : sequence of m levels in [0, 1].

    Returns
    -------
    ndarray, shape (b, m) -- ``nan`` for a resample without rows.
    """
    q = np.asarray(q, dtype=float)
    b, n = w.shape
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    h = (total[:, None] - 1) * q  # position among the rows as drawn, 0-based
    low = np.floor(h)
    # The j-th drawn value (0-based) is the first value whose cumulative count exceeds j.
    # One searchsorted over all resamples: row r is shifted by r * (max total + 2).
    shift = (np.max(total) + 2) * np.arange(b)
    flat = (cum + shift[:, None]).ravel()

    def order_statistic(j):
        index = np.searchsorted(flat, (j + shift[:, None]).ravel(), side="right").reshape(j.shape)
        index = np.minimum(index - n * np.arange(b)[:, None], n - 1)
        return values[index] if values.ndim == 1 else np.take_along_axis(values, index, axis=1)

    below = order_statistic(low)
    above = order_statistic(np.minimum(low + 1, np.maximum(total[:, None] - 1, 0)))
    result = below + (h - low) * (above - below)
    result[total <= 0] = np.nan
    return result


def rcs_basis(x, knots) -> np.ndarray:
    """Restricted cubic spline basis: ``x`` and the ``k - 2`` nonlinear terms (no intercept).

    ``s_j(x) = [(x - t_j)+^3 - (x - t_(k-2))+^3 (t_(k-1) - t_j) / (t_(k-1) - t_(k-2))
    + (x - t_(k-1))+^3 (t_(k-2) - t_j) / (t_(k-1) - t_(k-2))] / (t_(k-1) - t_0)^2``,
    j = 0..k-3 (Harrell's ``rcspline.eval`` with ``norm=2``; the division keeps the columns
    on the scale of ``x``). Cubic between the knots, linear beyond the outer ones.

    Parameters
    ----------
    x : array-like, shape (n,)
    knots : array-like, shape (k,) -- strictly ascending, k >= 3.

    Returns
    -------
    ndarray, shape (n, k - 1)
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    if t.ndim != 1 or t.size < 3 or not np.all(np.diff(t) > 0):
        raise ValueError(f"knots must be at least 3 strictly ascending values, got {t}")
    cube = np.maximum(x[:, None] - t, 0.0) ** 3  # (n, k)
    last, second, inner = t[-1], t[-2], t[:-2]
    terms = (cube[:, :-2] - cube[:, -2:-1] * (last - inner) / (last - second)
             + cube[:, -1:] * (second - inner) / (last - second))
    return np.column_stack([x, terms / (last - t[0]) ** 2])


def design_matrix(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The (n, k) design of the smoothed-calibration model on logits ``x`` with ``k`` knots
    (intercept, ``x``, spline terms) and the knots (``None`` for ``k = 2``: a straight line)."""
    if k == 2:
        return np.column_stack([np.ones_like(x), x]), None
    knots = np.quantile(x, KNOT_PERCENTILES[k])
    return np.column_stack([np.ones_like(x), rcs_basis(x, knots)]), knots


def _log_likelihood(eta, y, w) -> np.ndarray:
    """Weighted log-likelihood per resample, y * eta - log(1 + e^eta) = (y - 1) * eta -
    log(1 + e^-eta), with log(1 + e^-eta) = max(-eta, 0) + log1p(e^-|eta|): exact for every
    eta (logaddexp is several times slower; clipping eta at +-700 overstated the likelihood
    of a step that overshoots, so it was not halved)."""
    softplus = np.log1p(np.exp(-np.abs(eta)))
    softplus += np.maximum(-eta, 0.0)
    return np.einsum("mn,mn->m", w, (y - 1.0) * eta - softplus)


def _newton(X, y, w, start, max_iter=50, tol=1e-9) -> np.ndarray:
    """Weighted logistic regressions of ``y`` on the (n, k) design ``X``, one per row of ``w``.

    Newton-Raphson from ``start`` (k,): the (m, k, k) information matrices come from one
    matrix product with the row-wise outer products of ``X``, each step from
    ``np.linalg.solve`` on the stack; a step that lowers the log-likelihood is halved.
    Returns (m, k) coefficients, ``nan`` rows where the information is singular (condition
    number above 1e12 after Jacobi scaling) or Newton has not converged in ``max_iter`` steps.
    """
    m, k = w.shape[0], X.shape[1]
    outer = (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], k * k)
    beta = np.tile(np.asarray(start, dtype=float), (m, 1))
    converged = np.zeros(m, dtype=bool)
    active = np.arange(m)
    eta = np.tile(X @ beta[0], (m, 1))
    ll = _log_likelihood(eta, y, w)
    for _ in range(max_iter):
        wa = w[active]
        mu = 1.0 / (1.0 + np.exp(-np.clip(eta, -700.0, 700.0)))
        grad = (wa * (y - mu)) @ X
        info = ((wa * mu * (1.0 - mu)) @ outer).reshape(-1, k, k)
        step, singular = _solve(info, grad)
        step, eta, ll, stuck = _halve(beta[active], step, X, y, wa, ll, eta)
        beta[active] += step
        small = np.abs(step).max(axis=1) <= tol * (1 + np.abs(beta[active]).max(axis=1))
        converged[active[small & ~singular & ~stuck]] = True
        keep = ~(small | singular | stuck)
        active, eta, ll = active[keep], eta[keep], ll[keep]
        if active.size == 0:
            break
    beta[~converged] = np.nan
    return beta


def _solve(info, grad) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps ``info^-1 grad`` and which information matrices are singular (zero step)."""
    scale = np.sqrt(np.einsum("mkk->mk", info))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = info / (scale[:, :, None] * scale[:, None, :])
    finite = np.all(np.isfinite(scaled), axis=(1, 2)) & np.all(scale > 0, axis=1)
    eig = np.linalg.eigvalsh(np.where(finite[:, None, None], scaled, np.eye(info.shape[1])))
    singular = ~finite | ~(eig[:, -1] < _MAX_COND * eig[:, 0])
    step = np.zeros_like(grad)
    ok = ~singular
    if ok.any():
        step[ok] = np.linalg.solve(info[ok], grad[ok][..., None])[..., 0]
    return step, singular


def _halve(beta, step, X, y, w, ll, eta, max_halvings=30):
    """Halve each step until the log-likelihood does not decrease (rounding noise allowed);
    a step whose log-likelihood overflows to nan counts as a decrease. Returns the steps,
    the linear predictor and log-likelihood after them, and which rows are still worse
    after ``max_halvings`` (their fit is undefined)."""
    floor = ll - 1e-12 * (1 + np.abs(ll))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: nan, then halved
        eta = (beta + step) @ X.T
        ll_new = _log_likelihood(eta, y, w)
        for _ in range(max_halvings):
            worse = np.flatnonzero(~(ll_new >= floor))
            if worse.size == 0:
                break
            step[worse] /= 2
            eta[worse] = (beta[worse] + step[worse]) @ X.T
            ll_new[worse] = _log_likelihood(eta[worse], y, w[worse])
    return step, eta, ll_new, ~(ll_new >= floor)


def spline_fits(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """The smoothed-calibration fit of every resample (row of ``w``).

    Returns
    -------
    dict with ``knots`` (k,) (``None`` for a straight line), ``beta`` (b, k) coefficients
    (intercept, x, spline terms; ``nan`` rows where undefined) and ``smoothed`` (b, n), the
    fitted risk of each row.
    """
    x = logit(p)
    X, knots = design_matrix(x, knot_count(y, x))
    start = np.zeros(X.shape[1])
    start[1] = 1.0  # logit P = x: perfect calibration
    if w.shape[0] > 1:
        # Bootstrap fits lie near the fit on the average resample: fewer Newton steps from there.
        center = _newton(X, y, w.mean(axis=0, keepdims=True), start)[0]
        start = center if np.all(np.isfinite(center)) else start
    bad = (w @ y == 0) | (w @ (1 - y) == 0) | separated(x, y, w)
    beta = np.full((w.shape[0], X.shape[1]), np.nan)
    good = np.flatnonzero(~bad)
    block = max(1, _BLOCK_CELLS // x.size)
    for i in range(0, good.size, block):
        rows = good[i:i + block]
        beta[rows] = _newton(X, y, w[rows], start)
    with np.errstate(invalid="ignore"):
        smoothed = 1.0 / (1.0 + np.exp(-np.clip(beta @ X.T, -700.0, 700.0)))
    return {"knots": knots, "beta": beta, "smoothed": smoothed}


def calibration_errors(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """ICI, E50 and E90 of every resample: weighted mean, median and 90th percentile of
    ``|smoothed - p|`` over its rows. Each (b,), ``nan`` where the fit is undefined."""
    errors = np.abs(spline_fits(y, p, w)["smoothed"] - p)
    ici = (np.einsum("bn,bn->b", w, errors)) / w.sum(axis=1)
    order = np.argsort(errors, axis=1)  # nan rows sort last; their quantiles are nan anyway
    quantiles = weighted_quantiles(np.take_along_axis(errors, order, axis=1),
                                   np.take_along_axis(w, order, axis=1), [0.5, 0.9])
    undefined = ~np.isfinite(ici)
    quantiles[undefined] = np.nan
    return {"ici": ici, "e50": quantiles[:, 0], "e90": quantiles[:, 1]}


def ici(y, p, w) -> np.ndarray:
    """Integrated calibration index per resample, shape (b,)."""
    return calibration_errors(y, p, w)["ici"]


def e50(y, p, w) -> np.ndarray:
    """Median absolute difference between smoothed observed and predicted risk, (b,)."""
    return calibration_errors(y, p, w)["e50"]


def e90(y, p, w) -> np.ndarray:
    """90th percentile of the absolute differences, (b,)."""
    return calibration_errors(y, p, w)["e90"]


def curve_on_grid(fits: dict[str, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Each resample's smoothed risk at the predicted probabilities ``grid``: (b, g)."""
    x = logit(np.asarray(grid, dtype=float))
    knots = fits["knots"]
    X = np.column_stack([np.ones_like(x), x if knots is None else rcs_basis(x, knots)])
    with np.errstate(invalid="ignore"):
        return 1.0 / (1.0 + np.exp(-np.clip(fits["beta"] @ X.T, -700.0, 700.0)))


def smoothed_curve(y, p, grid, n_boot: int = 200, seed=0, alpha: float = 0.05,
                   groups=None) -> dict[str, np.ndarray]:
    """The smoothed calibration curve at the predicted risks ``grid`` with a pointwise
    percentile bootstrap band (rows, or whole ``groups``, resampled; the knots kept).

    Returns
    -------
    dict with ``grid`` (g,), ``curve`` (g,) (the fit on all rows), ``low`` and ``high`` (g,)
    (``nan`` where fewer than half the resamples have a fit).
    """
    from .resampling import resample_counts

    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    grid = np.asarray(grid, dtype=float)
    curve = curve_on_grid(spline_fits(y, p, np.ones((1, y.size))), grid)[0]
    draws = np.vstack([curve_on_grid(spline_fits(y, p, w), grid)
                       for w in resample_counts(y.size, n_boot, seed, groups)])
    finite = np.isfinite(draws[:, 0])
    if finite.sum() < max(1, n_boot / 2):
        return {"grid": grid, "curve": curve, "low": np.full_like(grid, np.nan),
                "high": np.full_like(grid, np.nan)}
    low, high = np.quantile(draws[finite], [alpha / 2, 1 - alpha / 2], axis=0)
    return {"grid": grid, "curve": curve, "low": low, "high": high}
