"""Bootstrap intervals (percentile, BCa, logit) and smoothed calibration (ICI, E50, E90),
each against an independent computation: the standard library's normal distribution, a
brute-force jackknife with scikit-learn's AUROC, SciPy's BCa, scikit-learn's logistic
regression on the spline design, and a hand-worked spline."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pipeline import metrics as M
from pipeline.metrics import intervals, smoothed
from pipeline.metrics.bootstrap import bootstrap_replicates
from pipeline.metrics.resampling import jackknife_units, resample_counts


def _binormal(n, auroc, prevalence, seed):
    """Scores N(0,1) for negatives and N(d,1) for positives, d giving the AUROC."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(float)
    d = np.sqrt(2) * statistics.NormalDist().inv_cdf(auroc)
    return y, 1 / (1 + np.exp(-(rng.normal(size=n) + d * y - d / 2)))


@pytest.mark.parametrize("p", [1e-300, 1e-12, 1e-6, 0.001, 0.02425, 0.1, 0.5, 0.8, 0.975,
                               0.999999, 1 - 1e-12])
def test_normal_quantile_and_cdf_equal_the_standard_library(p):
    reference = statistics.NormalDist()
    assert intervals.norm_ppf(p) == pytest.approx(reference.inv_cdf(p), rel=1e-13, abs=1e-13)
    # The standard library's cdf (via erf) loses digits in the lower tail; its inv_cdf
    # (Wichura's AS241) does not, so the round trip is the reference there.
    assert intervals.norm_cdf(reference.inv_cdf(p)) == pytest.approx(p, rel=1e-13)
    if p >= 0.1:
        x = reference.inv_cdf(p)
        assert intervals.norm_cdf(x) == pytest.approx(reference.cdf(x), rel=1e-14)
    assert intervals.norm_ppf(0.0) == -np.inf and intervals.norm_ppf(1.0) == np.inf
    assert np.isnan(intervals.norm_ppf(1.5))


def test_bca_equals_its_formula_on_a_brute_force_jackknife():
    y, p = _binormal(120, 0.8, 0.4, seed=1)
    r = bootstrap_replicates(y, p, "auroc", n_boot=400, seed=3)
    jack = [roc_auc_score(np.delete(y, i), np.delete(p, i)) for i in range(y.size)]
    np.testing.assert_allclose(r["jackknife"], jack, rtol=0, atol=1e-12)
    theta, reps = roc_auc_score(y, p), r["replicates"]
    z0 = stats.norm.ppf(np.mean(reps < theta) + 0.5 * np.mean(reps == theta))
    d = np.mean(jack) - np.asarray(jack)
    a = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    z = stats.norm.ppf([0.025, 0.975])
    levels = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    expected = np.quantile(reps, levels)
    got = M.bootstrap_ci(y, p, "auroc", n_boot=400, seed=3, interval="bca")
    assert got == pytest.approx(tuple(expected), abs=1e-12)


def test_bca_agrees_with_scipy_on_fresh_resamples():
    y, p = _binormal(200, 0.9, 0.3, seed=2)
    ours = M.bootstrap_ci(y, p, "auroc", n_boot=4000, seed=0, interval="bca")
    theirs = stats.bootstrap((y, p), lambda a, b: roc_auc_score(a, b), paired=True, vectorized=False,
                             n_resamples=4000, method="BCa", random_state=0).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.01)  # Monte Carlo error only


def test_logit_interval_is_a_wald_interval_on_the_logit_scale():
    y, p = _binormal(150, 0.9, 0.4, seed=4)
    r = bootstrap_replicates(y, p, "auroc", n_boot=500, seed=5, jackknife=False)
    logit = np.log(r["replicates"] / (1 - r["replicates"]))
    q1, q3 = np.quantile(logit, [0.25, 0.75])
    se = (q3 - q1) / (2 * statistics.NormalDist().inv_cdf(0.75))
    centre = np.log(r["point"] / (1 - r["point"]))
    ends = 1 / (1 + np.exp(-(centre + np.array([-1, 1]) * 1.959963984540054 * se)))
    got = M.bootstrap_ci(y, p, "auroc", n_boot=500, seed=5, interval="logit")
    assert got == pytest.approx(tuple(ends), abs=1e-12)
    assert got[1] < 1  # inside the bounds, unlike a symmetric interval near 1


def test_evaluate_uses_the_logit_interval_by_default_and_counts_degenerate_resamples():
    y, p = _binormal(30, 0.8, 0.1, seed=6)  # ~3 events: some resamples have none
    result = M.evaluate("binary", y, p, n_boot=300, seed=1)
    reps = bootstrap_replicates(y, p, "auroc", n_boot=300, seed=1)["replicates"]
    assert result["auroc"]["n_degenerate"] == np.sum(~np.isfinite(reps)) > 0
    assert (result["auroc"]["ci_low"], result["auroc"]["ci_high"]) == pytest.approx(
        M.bootstrap_ci(y, p, "auroc", n_boot=300, seed=1, interval="logit"), abs=1e-12)
    slope = result["calibration_slope"]  # unbounded: the percentile interval
    assert (slope["ci_low"], slope["ci_high"]) == pytest.approx(
        M.bootstrap_ci(y, p, "calibration_slope", n_boot=300, seed=1, interval="percentile"), abs=1e-12)


def test_jackknife_leaves_out_whole_patients_and_pools_beyond_its_limit():
    groups = np.array([5, 5, 7, 9, 9, 9])
    assert jackknife_units(6, groups).tolist() == [0, 0, 1, 2, 2, 2]
    pooled = jackknife_units(5000, seed=0, max_units=1000)
    assert np.bincount(pooled).tolist() == [5] * 1000


# ---------------------------------------------------------------- smoothed calibration


def test_restricted_cubic_spline_by_hand():
    basis = smoothed.rcs_basis([-1.0, 0.5, 1.5, 3.0], [0.0, 1.0, 2.0])
    # s(x) = [(x)+^3 - 2 (x - 1)+^3 + (x - 2)+^3] / 4
    np.testing.assert_allclose(basis[:, 1], [0.0, 0.125 / 4, (3.375 - 0.25) / 4, 3.0], atol=1e-15)
    np.testing.assert_allclose(basis[:, 0], [-1.0, 0.5, 1.5, 3.0])
    far = smoothed.rcs_basis(np.array([10.0, 11.0, 12.0]), [0.0, 1.0, 2.0])[:, 1]
    assert far[2] - far[1] == pytest.approx(far[1] - far[0])  # linear beyond the last knot


def _sklearn_calibration_errors(y, p, knots_from=None):
    x = np.log(p / (1 - p))
    k = smoothed.knot_count(y, x) if knots_from is None else knots_from[0]
    knots = np.quantile(x if knots_from is None else knots_from[1], smoothed.KNOT_PERCENTILES[k])
    fit = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(smoothed.rcs_basis(x, knots), y)
    errors = np.abs(fit.predict_proba(smoothed.rcs_basis(x, knots))[:, 1] - p)
    return errors.mean(), np.median(errors), np.quantile(errors, 0.9)


@pytest.mark.parametrize("n, prevalence, expected_knots", [(400, 0.3, 4), (150, 0.15, 3)])
def test_ici_e50_e90_equal_a_scikit_learn_spline_fit(n, prevalence, expected_knots):
    y, p = _binormal(n, 0.8, prevalence, seed=8)
    p = np.clip(p ** 1.4, 1e-6, 1 - 1e-6)  # miscalibrated on purpose
    assert smoothed.knot_count(y, np.log(p / (1 - p))) == expected_knots
    values = M.binary_metrics(y, p)
    assert (values["ici"], values["e50"], values["e90"]) == pytest.approx(
        _sklearn_calibration_errors(y, p), abs=1e-6)


def test_ici_of_a_resample_equals_the_fit_on_its_drawn_rows_with_the_same_knots():
    y, p = _binormal(300, 0.8, 0.4, seed=9)
    (w,) = list(resample_counts(y.size, 1, seed=2))
    got = smoothed.calibration_errors(y, p, w)
    rows = np.repeat(np.arange(y.size), w[0].astype(int))
    x = np.log(p / (1 - p))
    expected = _sklearn_calibration_errors(y[rows], p[rows], knots_from=(smoothed.knot_count(y, x), x))
    assert (got["ici"][0], got["e50"][0], got["e90"][0]) == pytest.approx(expected, abs=1e-6)


def test_the_smoothed_fits_log_likelihood_is_exact_for_any_linear_predictor():
    eta = np.array([[-1e4, -800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 900.0, 1e4]])
    y = np.array([0.0, 1, 0, 1, 1, 0, 1, 1, 0])
    w = np.array([[1.0, 2, 1, 1, 3, 1, 1, 1, 2]])
    expected = np.sum(w * (y * eta - np.logaddexp(0.0, eta)))  # -> -2e4 - 900 - ...: no clipping
    np.testing.assert_allclose(smoothed._log_likelihood(eta, y, w), [expected], rtol=1e-14)


def test_a_newton_step_that_overshoots_is_halved_and_one_that_overflows_makes_the_fit_undefined():
    x = np.linspace(-3, 3, 40)
    y = (x > 0).astype(float)
    y[::7] = 1 - y[::7]
    X, w, beta = np.column_stack([np.ones_like(x), x]), np.ones((2, 40)), np.zeros((2, 2))
    eta = beta @ X.T
    ll = smoothed._log_likelihood(eta, y, w)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # handled, not printed
        step, _, ll_after, stuck = smoothed._halve(beta, np.array([[0.0, 1e3], [0.0, 1e308]]),
                                                   X, y, w, ll, eta)
    assert step[0, 1] == 1e3 / 2**9 and ll_after[0] > ll[0]  # halved until the fit improves
    assert stuck.tolist() == [False, True]


def test_smoothed_curve_band_surrounds_a_well_calibrated_diagonal():
    rng = np.random.default_rng(10)
    p = rng.uniform(0.05, 0.95, 1500)
    y = (rng.random(p.size) < p).astype(float)
    grid = np.linspace(0.1, 0.9, 9)
    out = M.smoothed_curve(y, p, grid, n_boot=100, seed=1)
    assert np.all(out["low"] <= out["curve"]) and np.all(out["curve"] <= out["high"])
    assert np.all((out["low"] < grid + 0.02) & (grid - 0.02 < out["high"]))
    assert np.max(np.abs(out["curve"] - grid)) < 0.08
