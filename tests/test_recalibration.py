"""Recalibration (config group ``calibration``) against scikit-learn's CalibratedClassifierCV on
the same predictions, fitted inside each outer fold on its inner validation part only, carried
by the logged model; model updating against independent maximum-likelihood fits; the
calibration plot's smoothed curve against scikit-learn's logistic regression on the spline."""

import typing
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from pipeline import config as config_module
from pipeline import plots
from pipeline.config import ConfigError, validate
from pipeline.data import load_dataset
from pipeline.evaluation import RECALIBRATION_METHODS
from pipeline.evaluation.recalibration import (
    IsotonicCalibrator,
    LogisticCalibrator,
    RecalibratedClassifier,
    fit_isotonic,
    fit_platt,
    fit_recalibration,
    fit_update,
)
from pipeline.experiment import fit_final_model, run_experiment
from pipeline.experiment.folds import inner_split, predict
from pipeline.metrics import smoothed
from pipeline.metrics.common import logit
from pipeline.splits import outer_splits

FAST = ("tracking=off", "optimizer.max_epochs=15", "n_bootstrap=50", "evaluation=fast")
NS = "{http://www.w3.org/2000/svg}"


class Frozen(ClassifierMixin, BaseEstimator):
    """A "classifier" whose P(y = 1) is its single input column: what scikit-learn's
    calibration sees of our network."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return np.column_stack([1 - X[:, 0], X[:, 0]])

    def predict(self, X):
        return (X[:, 0] >= 0.5).astype(int)


class FrozenLogits(Frozen):
    """The same, with the log-odds as its decision function (Platt scaling calibrates that)."""

    def decision_function(self, X):
        return logit(X[:, 0])


def sklearn_calibrated(method, p_fit, y_fit, p_new):
    """scikit-learn's calibration of ``p`` fitted on (p_fit, y_fit), applied to ``p_new``."""
    estimator = FrozenEstimator((FrozenLogits() if method == "sigmoid" else Frozen()).fit(None))
    calibrated = CalibratedClassifierCV(estimator, method=method).fit(p_fit[:, None], y_fit)
    return calibrated.predict_proba(p_new[:, None])[:, 1]


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    z = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(0.5 + z)))).astype(int)
    p = np.round(1 / (1 + np.exp(-(2.2 * z - 0.3))), 3)  # over-confident, with ties
    return p, y


def test_platt_is_scikit_learns_sigmoid_calibration_on_the_log_odds(scores):
    p, y = scores
    grid = np.linspace(0.001, 0.999, 200)
    np.testing.assert_allclose(fit_platt(p, y).transform(grid),
                               sklearn_calibrated("sigmoid", p, y, grid), atol=1e-7)


def test_isotonic_is_scikit_learns_isotonic_calibration(scores):
    p, y = scores
    grid = np.r_[np.linspace(0, 1, 1001), p]
    np.testing.assert_allclose(fit_isotonic(p, y).transform(grid),
                               sklearn_calibrated("isotonic", p, y, grid), atol=1e-12)


def test_isotonic_fit_is_monotone_and_keeps_the_mean(scores):
    p, y = scores
    fitted = fit_isotonic(p, y).transform(p)
    assert np.all(np.diff(fit_isotonic(p, y).y) >= 0)
    assert fitted.mean() == pytest.approx(y.mean(), abs=1e-12)  # PAV preserves the total


@pytest.mark.parametrize("p,y,match", [
    (np.full(5, 0.3), np.zeros(5), "both outcomes"),
    (np.array([0.2, 1.5]), np.array([0, 1]), "probabilities"),
    (np.array([0.2, 0.5]), np.array([0, 2]), "0/1"),
])
def test_recalibration_refuses_unusable_validation_parts(p, y, match):
    with pytest.raises(ValueError, match=match):
        fit_recalibration("platt", p, y)


def test_method_names_come_from_one_registry():
    hint = typing.get_type_hints(config_module.CalibrationConfig)["name"]
    assert set(typing.get_args(hint)) == set(RECALIBRATION_METHODS)
    assert fit_recalibration("none", [0.1, 0.9], [0, 1]) is None
    with pytest.raises(ValueError, match="platt"):
        fit_recalibration("beta", [0.1, 0.9], [0, 1])


# --- inside the protocol: each fold's validation part, never its test rows ----------------


@pytest.fixture(scope="module", params=["platt", "isotonic"])
def recalibrated_run(request):
    from tests.conftest import compose_config

    config = validate(compose_config(*FAST, "model=logistic", f"calibration={request.param}"))
    return request.param, config, load_dataset(config.dataset), run_experiment(config)


def test_each_fold_is_recalibrated_on_its_validation_part_as_scikit_learn_does(recalibrated_run):
    """Rebuild each fold's inner validation part, calibrate the fold's own uncalibrated network
    there with scikit-learn, and get the fold's test predictions exactly."""
    method, config, dataset, result = recalibrated_run
    folds = outer_splits(config.split, dataset.y, dataset.groups, config.seed)
    for r, (train, test) in zip(result.folds, folds):
        _, val_rows = inner_split(config, dataset, train, config.seed + r.index)
        p_val = predict(r.model, dataset.X.iloc[val_rows], "binary")
        raw = predict(r.model, dataset.X.iloc[test], "binary")
        np.testing.assert_allclose(r.raw_prediction, raw, atol=1e-12)
        expected = sklearn_calibrated("sigmoid" if method == "platt" else "isotonic",
                                      p_val, dataset.y[val_rows], raw)
        np.testing.assert_allclose(r.prediction, expected, atol=1e-6)
        assert not np.intersect1d(val_rows, test).size


def test_the_threshold_is_chosen_on_the_recalibrated_validation_predictions(recalibrated_run):
    from pipeline import metrics

    _, config, dataset, result = recalibrated_run
    folds = outer_splits(config.split, dataset.y, dataset.groups, config.seed)
    for r, (train, _) in zip(result.folds, folds):
        _, val_rows = inner_split(config, dataset, train, config.seed + r.index)
        p_val = r.calibrator.transform(predict(r.model, dataset.X.iloc[val_rows], "binary"))
        assert r.threshold == metrics.choose_threshold(dataset.y[val_rows], p_val)


def test_run_reports_calibration_before_recalibration_too(recalibrated_run):
    from pipeline import metrics

    _, config, dataset, result = recalibrated_run
    raw = np.empty(len(dataset.y))
    for r in result.folds:
        raw[r.test_rows] = r.raw_prediction
    before = metrics.binary_metrics(dataset.y, raw)
    for name in ("calibration_intercept", "calibration_slope", "brier"):
        assert result.summary[f"{name}_uncalibrated"] == pytest.approx(before[name], rel=1e-9)
    assert result.summary["calibration_intercept"] == result.pooled["calibration_intercept"]["value"]


def test_the_deployed_model_carries_its_calibrator(recalibrated_run):
    method, config, dataset, _ = recalibrated_run
    model = fit_final_model(config, dataset)
    assert isinstance(model, RecalibratedClassifier) and model.method == method
    expected = model.calibrator.transform(model.estimator.predict_proba(dataset.X)[:, 1])
    np.testing.assert_allclose(model.predict_proba(dataset.X)[:, 1], expected)
    assert isinstance(model.calibrator, LogisticCalibrator if method == "platt" else IsotonicCalibrator)


@pytest.mark.parametrize("target,extra", [
    ("grade", ("objective=macro_auroc",)),
    ("stay", ("objective=r2", "loss=squared_error")),
])
def test_recalibration_of_a_non_binary_target_is_refused(compose, tmp_path, target, extra):
    import pandas as pd

    rng = np.random.default_rng(0)
    path = tmp_path / "table.csv"
    pd.DataFrame({"x": rng.normal(size=90), "grade": np.repeat(["a", "b", "c"], 30),
                  "stay": rng.gamma(2.0, 3.0, 90)}).drop(columns={"grade": "stay", "stay": "grade"}[target]
                                                          ).to_csv(path, index=False)
    config = validate(compose(*FAST, "calibration=platt", "dataset=csv", f"dataset.path={path}",
                              f"dataset.target={target}", *extra))
    with pytest.raises(ConfigError, match="calibration=platt recalibrates the probability of a binary"):
        run_experiment(config)


# --- model updating (external validation) ---------------------------------------------------


def test_intercept_update_solves_its_score_equation(scores):
    p, y = scores
    a = fit_update("intercept", p, y).intercept
    offset = logit(p)
    expected = brentq(lambda c: np.sum(y - 1 / (1 + np.exp(-(c + offset)))), -10, 10, xtol=1e-14)
    assert a == pytest.approx(expected, abs=1e-8)
    assert fit_update("intercept", p, y).slope == 1.0


def test_logistic_update_is_an_unpenalised_logistic_regression_on_the_log_odds(scores):
    p, y = scores
    fitted = fit_update("logistic", p, y)
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logit(p)[:, None], y)
    assert fitted.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert fitted.slope == pytest.approx(reference.coef_[0, 0], abs=1e-5)


def test_logistic_update_of_separating_predictions_is_refused():
    with pytest.raises(ValueError, match="separate its outcomes"):
        fit_update("logistic", np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))


# --- the calibration plot's smoothed curve ---------------------------------------------------


def test_calibration_plot_draws_the_smoothed_curve_and_its_band(scores):
    p, y = scores
    root = ET.fromstring(plots.calibration_curve(y, p, n_boot=100).to_svg())
    top = root.findall(f"{NS}g[@class='panel']")[0]
    area = top.find(f"{NS}svg[@class='plot-area']")
    [curve] = area.findall(f"{NS}path[@class='smoothed']")
    [band] = area.findall(f"{NS}polygon[@class='band']")
    height, width = float(area.get("height")), float(area.get("width"))
    points = np.array([[float(v) for v in pair.split(",")] for pair in curve.get("d")[1:].split()])
    drawn_p, drawn_risk = points[:, 0] / width, 1 - points[:, 1] / height  # axes are [0, 1]
    # scikit-learn's unpenalised logistic regression on the same restricted cubic spline design
    x = logit(p)
    knots = np.quantile(x, smoothed.KNOT_PERCENTILES[smoothed.knot_count(y, x)])
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(smoothed.rcs_basis(x, knots), y)
    expected = reference.predict_proba(smoothed.rcs_basis(logit(drawn_p), knots))[:, 1]
    np.testing.assert_allclose(drawn_risk, expected, atol=0.005)  # 0.1 px rounding where it is steep
    outline = np.array([[float(v) for v in pair.split(",")] for pair in band.get("points").split()])
    half = len(outline) // 2
    band_p = outline[:half, 0] / width
    upper, lower = 1 - outline[:half, 1] / height, 1 - outline[half:][::-1, 1] / height
    at_band = reference.predict_proba(smoothed.rcs_basis(logit(band_p), knots))[:, 1]
    assert np.all(lower <= upper)
    assert np.mean((lower - 0.002 <= at_band) & (at_band <= upper + 0.002)) > 0.95
    assert "smoothed, 95% band" in [t.text for t in top.findall(f"{NS}g[@class='legend']/{NS}text")]
