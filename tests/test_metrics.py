"""Clinical metrics: agreement with scikit-learn, hand-worked examples, calibration,
undefined cases, input validation and the vectorized bootstrap."""

import logging
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from pipeline import metrics as M
from pipeline.metrics import bootstrap, calibration, ranking

EXACT = 1e-12


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _logit(p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return np.log(p / (1 - p))


def _binary_sample(n, seed, decimals=None, shift=0.0, scale=1.0):
    """Labels drawn from a true risk; predictions a distorted copy of it (ties if rounded)."""
    rng = np.random.default_rng(seed)
    risk = _sigmoid(rng.normal(-0.5, 1.5, n))
    y = (rng.random(n) < risk).astype(int)
    prob = _sigmoid(shift + scale * _logit(risk))
    return y, (np.round(prob, decimals) if decimals is not None else prob)


@pytest.fixture(scope="module")
def sample():
    return _binary_sample(400, seed=0, decimals=2, shift=0.3, scale=1.3)


def _binary_samples():
    extreme_y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    extreme_p = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.2])  # clipped log loss, ties at t
    return {
        "ties": _binary_sample(300, seed=1, decimals=1),
        "no_ties": _binary_sample(250, seed=2, shift=-0.4, scale=0.7),
        "extreme": (extreme_y, extreme_p),
    }


SKLEARN_BINARY = {
    "auroc": lambda y, p, yhat: skm.roc_auc_score(y, p),
    "auprc": lambda y, p, yhat: skm.average_precision_score(y, p),
    "log_loss": lambda y, p, yhat: skm.log_loss(y, p),
    "brier": lambda y, p, yhat: skm.brier_score_loss(y, p),
    "accuracy": lambda y, p, yhat: skm.accuracy_score(y, yhat),
    "balanced_accuracy": lambda y, p, yhat: skm.balanced_accuracy_score(y, yhat),
    "sensitivity": lambda y, p, yhat: skm.recall_score(y, yhat),
    "specificity": lambda y, p, yhat: skm.recall_score(y, yhat, pos_label=0),
    "ppv": lambda y, p, yhat: skm.precision_score(y, yhat),
    "npv": lambda y, p, yhat: skm.precision_score(y, yhat, pos_label=0),
    "f1": lambda y, p, yhat: skm.f1_score(y, yhat),
    "mcc": lambda y, p, yhat: skm.matthews_corrcoef(y, yhat),
}


# ------------------------------------------------------- agreement with sklearn

@pytest.mark.parametrize("data", list(_binary_samples()))
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_metrics_agree_with_sklearn(data, threshold):
    y, p = _binary_samples()[data]
    ours = M.binary_metrics(y, p, threshold)
    yhat = (p >= threshold).astype(int)
    for name, reference in SKLEARN_BINARY.items():
        assert ours[name] == pytest.approx(reference(y, p, yhat), abs=EXACT), name


def test_auroc_alone_agrees_with_sklearn(sample):
    y, p = sample
    assert M.auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=EXACT)
    assert type(M.auroc(y, p)) is float


def test_auroc_of_many_scores_agrees_with_sklearn_under_each_weighting():
    """K score vectors (with ties) x b resample weightings, scored in small blocks; a
    weighting without negatives gives nan, as scikit-learn refuses it."""
    rng = np.random.default_rng(4)
    y = (rng.random(60) < 0.3).astype(float)
    scores = np.round(rng.random((7, 60)), 1)  # rounded: many ties
    w = rng.integers(0, 3, (9, 60)).astype(float)
    w[-1, y == 0] = 0
    many = ranking.auroc_of_many(y, scores, w, cells=50)
    assert many.shape == (7, 9) and np.isnan(many[:, -1]).all()
    for k in range(7):
        for b in range(8):
            reference = skm.roc_auc_score(y, scores[k], sample_weight=w[b])
            assert many[k, b] == pytest.approx(reference, abs=EXACT)


@pytest.mark.parametrize("data", list(_binary_samples()))
def test_auprc_alone_agrees_with_sklearn(data):
    y, p = _binary_samples()[data]
    assert M.auprc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=EXACT)
    assert type(M.auprc(y, p)) is float


def test_binary_metrics_return_every_name_as_plain_float(sample):
    ours = M.binary_metrics(*sample)
    assert tuple(ours) == M.BINARY_METRICS
    assert all(type(v) is float for v in ours.values())


@pytest.mark.parametrize("k", [3, 4])
def test_multiclass_metrics_agree_with_sklearn(k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 300)
    proba = rng.dirichlet(np.ones(k), 300) + 0.8 * np.eye(k)[y]  # informative
    proba = np.round(proba / proba.sum(axis=1, keepdims=True), 2)  # ties
    proba /= proba.sum(axis=1, keepdims=True)
    ours = M.multiclass_metrics(y, proba)
    predicted = proba.argmax(axis=1)
    assert tuple(ours) == M.MULTICLASS_METRICS
    reference = {
        "macro_auroc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "accuracy": skm.accuracy_score(y, predicted),
        "macro_f1": skm.f1_score(y, predicted, average="macro"),
        "log_loss": skm.log_loss(y, proba, labels=range(k)),
    }
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=EXACT), name


def test_macro_f1_agrees_when_a_class_is_never_predicted():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .8, .1],
                      [.6, .3, .1], [.1, .6, .3], [.5, .2, .3]])  # class 2 never argmax
    reference = skm.f1_score(y, proba.argmax(axis=1), average="macro", zero_division=0)
    assert M.multiclass_metrics(y, proba)["macro_f1"] == pytest.approx(reference, abs=EXACT)


def test_regression_metrics_agree_with_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    ours = M.regression_metrics(y, pred)
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=EXACT)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=EXACT)
    assert ours["r2"] == pytest.approx(skm.r2_score(y, pred), abs=EXACT)


# ------------------------------------------------------------------ calibration

def _intercept_by_bisection(y, p):
    """Root of the score equation sum(y - sigmoid(a + logit p)) = 0, found by bisection."""
    x = _logit(p)
    low, high = -20.0, 20.0
    for _ in range(200):
        mid = (low + high) / 2
        if np.sum(y - _sigmoid(mid + x)) > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_slope_matches_unpenalized_logistic_regression(seed):
    y, p = _binary_sample(500, seed, shift=0.4, scale=1.6)
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    reference.fit(_logit(p)[:, None], y)
    assert M.binary_metrics(y, p)["calibration_slope"] == pytest.approx(
        reference.coef_[0, 0], abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_intercept_solves_the_offset_score_equation(seed):
    y, p = _binary_sample(500, seed, shift=0.4, scale=1.6)
    assert M.binary_metrics(y, p)["calibration_intercept"] == pytest.approx(
        _intercept_by_bisection(y, p), abs=1e-9)


def test_perfectly_calibrated_predictions_give_intercept_0_and_slope_1():
    rng = np.random.default_rng(7)
    p = _sigmoid(rng.normal(-0.5, 1.5, 20_000))
    y = (rng.random(p.size) < p).astype(int)
    m = M.binary_metrics(y, p)
    # Standard errors at this size are ~0.02 (intercept) and ~0.02 (slope): 4 SE margins.
    assert abs(m["calibration_intercept"]) < 0.08
    assert abs(m["calibration_slope"] - 1) < 0.08


def test_miscalibration_moves_slope_and_intercept_the_documented_way():
    rng = np.random.default_rng(8)
    p = _sigmoid(rng.normal(-0.5, 1.5, 20_000))
    y = (rng.random(p.size) < p).astype(int)
    over_confident = M.binary_metrics(y, _sigmoid(2 * _logit(p)))
    under_confident = M.binary_metrics(y, _sigmoid(0.5 * _logit(p)))
    too_high = M.binary_metrics(y, _sigmoid(_logit(p) + 1))
    assert over_confident["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    assert under_confident["calibration_slope"] == pytest.approx(2.0, abs=0.2)
    assert too_high["calibration_intercept"] == pytest.approx(-1.0, abs=0.1)


def _symmetric_2x2(rng, m):
    """Random symmetric positive (semi-)definite 2 x 2 matrices as columns I_aa, I_ab, I_bb,
    with condition numbers from 1 to 1e16 (the largest are singular in floating point)."""
    angle = rng.uniform(0, np.pi, m)
    large = 10 ** rng.uniform(-3, 3, m)
    small = large / 10 ** rng.uniform(0, 16, m)
    c, s = np.cos(angle), np.sin(angle)
    return np.column_stack([c * c * large + s * s * small, c * s * (large - small),
                            s * s * large + c * c * small])


def test_closed_form_newton_step_equals_a_general_solver():
    rng = np.random.default_rng(0)
    info, grad = _symmetric_2x2(rng, 4000), rng.normal(size=(4000, 2))
    step, singular = calibration._newton_step(grad, info, fit_slope=True)
    matrices = info[:, [0, 1, 1, 2]].reshape(-1, 2, 2)
    cond = np.linalg.cond(matrices)
    clear = np.abs(np.log10(cond) - 12) > 0.01  # rounding decides right at the threshold
    np.testing.assert_array_equal(singular[clear], cond[clear] >= 1e12)
    assert 0 < singular.sum() < singular.size
    np.testing.assert_array_equal(step[singular], 0.0)
    well_posed = cond < 1e4  # the error of any solver grows with cond * machine epsilon
    reference = np.linalg.solve(matrices[well_posed], grad[well_posed][..., None])[..., 0]
    error = np.abs(step[well_posed] - reference).max(axis=1)
    assert np.all(error <= 1e-10 * np.abs(reference).max(axis=1))


def test_intercept_newton_step_is_gradient_over_information():
    grad = np.array([[0.3, 9.0], [-2.0, 9.0], [1.0, 9.0]])
    info = np.array([[0.6, 5.0, 5.0], [4.0, 5.0, 5.0], [0.0, 5.0, 5.0]])  # I_ab, I_bb unused
    step, singular = calibration._newton_step(grad, info, fit_slope=False)
    np.testing.assert_array_equal(step, [[0.5, 0.0], [-0.5, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(singular, [False, False, True])


def test_batched_calibration_fits_equal_one_fit_per_resample(monkeypatch):
    """Blocks of resamples, the shared start and fits leaving the batch as they converge or
    fail change no fit; resamples with no finite maximum are nan rows among finite ones."""
    y, p = _binary_sample(80, seed=11, decimals=1, shift=0.3, scale=1.3)
    cut = np.median(p)
    tie = next(v for v in np.unique(p) if 0 < y[p == v].mean() < 1)
    special = np.vstack([
        y == 0,  # one class only: neither fit has a maximum
        ((y == 1) & (p > cut)) | ((y == 0) & (p <= cut)),  # separated: the slope diverges
        p == tie,  # one prediction: the slope is not identified, the intercept is
    ]).astype(float)
    w = np.vstack([next(bootstrap._resample_counts(y.size, 60, seed=2)), special])
    monkeypatch.setattr(calibration, "_FIT_BLOCK_CELLS", 7 * y.size)  # blocks of 7 resamples
    intercept = calibration.calibration_intercept(y, p, w)
    slope = calibration.calibration_slope(y, p, w)
    fits = (calibration.calibration_intercept, calibration.calibration_slope)
    for batched, fit in zip((intercept, slope), fits):
        alone = np.array([fit(y, p, row[None])[0] for row in w])
        np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-9)  # nan where alone is
    assert np.isnan(intercept[-3]) and np.isnan(slope[-3:]).all()
    assert np.isfinite(intercept[-2:]).all() and np.isfinite(slope[:-3]).all()
    assert intercept[-1] == pytest.approx(_logit(y[p == tie].mean()) - _logit(tie), abs=1e-9)


# ------------------------------------------------------------ undefined metrics

@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nan must come without divide-by-zero warnings
        yield


@pytest.mark.usefixtures("no_warnings")
def test_one_class_gives_nan_for_metrics_that_need_both():
    y, p = np.zeros(6), np.array([.1, .2, .3, .6, .7, .8])
    m = M.binary_metrics(y, p)
    for name in ("auroc", "auprc", "calibration_intercept", "calibration_slope",
                 "balanced_accuracy", "sensitivity", "mcc"):
        assert np.isnan(m[name]), name
    assert m["specificity"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.5)
    assert np.isfinite(m["log_loss"]) and np.isfinite(m["brier"])


@pytest.mark.usefixtures("no_warnings")
def test_nothing_or_everything_predicted_positive():
    y, p = np.array([0, 1, 0, 1]), np.array([.2, .4, .6, .8])
    nothing = M.binary_metrics(y, p, threshold=1.0)
    assert np.isnan(nothing["ppv"]) and np.isnan(nothing["mcc"])
    assert nothing["f1"] == 0.0 and nothing["npv"] == 0.5 and nothing["sensitivity"] == 0.0
    everything = M.binary_metrics(y, p, threshold=0.0)
    assert np.isnan(everything["npv"]) and everything["specificity"] == 0.0


@pytest.mark.parametrize("ties", [False, True], ids=["complete", "quasi-complete"])
def test_calibration_slope_of_separated_predictions_is_nan_at_any_size(ties):
    """Newton only creeps towards the infinite slope: on 569 separated rows it used to stall
    at 40.2 and report it, with a bootstrap CI that did not even contain it."""
    rng = np.random.default_rng(0)
    y = (rng.random(569) < 0.37).astype(int)
    p = np.where(y == 1, 0.7, 0.3) + 0.01 * rng.random(569)
    if ties:  # one negative at the lowest positive prediction: separated, but not strictly
        p[np.flatnonzero(y == 0)[0]] = p[y == 1].min()
    result = M.evaluate("binary", y, p, n_boot=200, seed=0)["calibration_slope"]
    assert np.isnan([result["value"], result["ci_low"], result["ci_high"]]).all()
    reversed_ = M.binary_metrics(y, 1 - p)["calibration_slope"]  # separated the other way
    assert np.isnan(reversed_)
    p[np.flatnonzero(y == 1)[:3]] = 0.25  # three positives below every negative: overlap
    assert np.isfinite(M.binary_metrics(y, p)["calibration_slope"])


@pytest.mark.usefixtures("no_warnings")
def test_calibration_is_nan_when_the_fit_has_no_finite_maximum():
    y = np.array([0, 0, 0, 1, 1, 1])
    separated = M.binary_metrics(y, np.array([.1, .2, .3, .7, .8, .9]))
    assert np.isnan(separated["calibration_slope"])  # slope -> infinity
    assert np.isfinite(separated["calibration_intercept"])  # one parameter stays finite
    constant = M.binary_metrics(y, np.full(6, 0.4))
    assert np.isnan(constant["calibration_slope"])
    assert constant["calibration_intercept"] == pytest.approx(_logit(0.5) - _logit(0.4))


@pytest.mark.usefixtures("no_warnings")
def test_undefined_multiclass_and_regression_metrics_are_nan():
    proba = np.array([[.7, .2, .1], [.2, .7, .1], [.6, .3, .1]])
    assert np.isnan(M.multiclass_metrics([0, 1, 0], proba)["macro_auroc"])  # class 2 absent
    assert np.isnan(M.regression_metrics([1.0, 1.0, 1.0], [1.0, 2.0, 0.5])["r2"])


# ------------------------------------------------------------- input validation

@pytest.mark.parametrize("call, argument", [
    (lambda: M.binary_metrics([0, 1, 2], [.1, .2, .3]), "y_true"),
    (lambda: M.binary_metrics([[0, 1]], [.1, .2]), "y_true"),
    (lambda: M.binary_metrics([], []), "y_true"),
    (lambda: M.binary_metrics(["no", "yes"], [.1, .2]), "y_true"),
    (lambda: M.binary_metrics([0, 1], [.1, 1.2]), "prob"),
    (lambda: M.binary_metrics([0, 1], [-.1, .5]), "prob"),
    (lambda: M.binary_metrics([0, 1], [np.nan, .5]), "prob"),
    (lambda: M.binary_metrics([0, 1, 1], [.1, .5]), "prob"),
    (lambda: M.binary_metrics([0, 1], [[.9, .1], [.5, .5]]), "prob"),
    (lambda: M.binary_metrics([0, 1], [.1, .5], threshold=1.5), "threshold"),
    (lambda: M.multiclass_metrics([0, 1], [[.5, .6], [.5, .5]]), "proba"),
    (lambda: M.multiclass_metrics([0, 2], [[.5, .5], [.5, .5]]), "y_true"),
    (lambda: M.multiclass_metrics([0, 1], [.5, .5]), "proba"),
    (lambda: M.regression_metrics([1.0, 2.0], [1.0, np.inf]), "y_pred"),
    (lambda: M.regression_metrics([1.0, 2.0], [1.0]), "y_pred"),
    (lambda: M.net_benefit([0, 1], [.1, .5], [0.0, 0.5]), "thresholds"),
    (lambda: M.net_benefit([0, 1], [.1, .5], [0.5, 1.0]), "thresholds"),
    (lambda: M.evaluate("survival", [0, 1], [.1, .5]), "task"),
    (lambda: M.evaluate("binary", [0, 1], [.1, 5.0]), "pred"),
    (lambda: M.bootstrap_ci([0, 1], [.1, .5], "auroc", n_boot=0), "n_boot"),
    (lambda: M.bootstrap_ci([0, 1], [.1, .5], "auroc", alpha=1.5), "alpha"),
    (lambda: M.bootstrap_ci([0, 1], [.1, .5], "sharpness"), "metric"),
    (lambda: M.paired_bootstrap_difference([0, 1], [.1, .5], [.2]), "prob_b"),
    (lambda: M.choose_threshold([0, 0], [.1, .5]), "y_val"),
])
def test_invalid_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_invalid_threshold_method_lists_the_choices():
    with pytest.raises(ValueError, match="youden.*f1"):
        M.choose_threshold([0, 1], [.2, .8], method="accuracy")


# ---------------------------------------------------- thresholds, decision curve

# Worked by hand: n = 10, prevalence 0.3. Predicted positive means prob >= t.
NB_Y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
NB_P = np.array([.9, .6, .3, .7, .4, .2, .1, .1, .05, .5])


def test_net_benefit_by_hand():
    # t = 0.2: TP = 3 (.9 .6 .3), FP = 4 (.7 .4 .2 .5): 3/10 - 4/10 * .2/.8 = 0.2
    # t = 0.5: TP = 2 (.9 .6),    FP = 2 (.7 .5):       2/10 - 2/10 * 1     = 0.0
    # t = 0.8: TP = 1 (.9),       FP = 0:               1/10                = 0.1
    np.testing.assert_allclose(M.net_benefit(NB_Y, NB_P, [0.2, 0.5, 0.8]), [0.2, 0.0, 0.1],
                               atol=EXACT)


def test_decision_curve_by_hand():
    curve = M.decision_curve(NB_Y, NB_P, thresholds=[0.2, 0.5, 0.8])
    assert set(curve) == {"thresholds", "model", "treat_all", "treat_none"}
    # treat all: 0.3 - 0.7 * t / (1 - t)
    np.testing.assert_allclose(curve["treat_all"], [0.125, -0.4, -2.5], atol=EXACT)
    np.testing.assert_allclose(curve["model"], [0.2, 0.0, 0.1], atol=EXACT)
    np.testing.assert_array_equal(curve["treat_none"], 0.0)


def test_decision_curve_default_grid_is_shared_but_immutable(sample):
    curve = M.decision_curve(*sample)
    assert curve["model"].shape == (99,)
    np.testing.assert_allclose(curve["thresholds"], np.linspace(0.01, 0.99, 99))
    with pytest.raises(ValueError):
        M.DEFAULT_THRESHOLDS[0] = 0.5


def test_choose_threshold_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([.1, .3, .35, .4, .8, .9])
    # Youden J at candidates .9 .8 .4 .35 .3 .1: 1/3 2/3 1/3 2/3 1/3 0; the tie goes to .8,
    # returned as the midpoint to the next lower probability: (.8 + .4) / 2.
    assert M.choose_threshold(y, p) == pytest.approx(0.6)
    # F1 = 2TP / (TP + FP + P): .5 .8 .667 .857 .75 .667 -> .35, midpoint with .3.
    assert M.choose_threshold(y, p, method="f1") == pytest.approx(0.325)


@pytest.mark.parametrize("method, criterion", [
    ("youden", lambda m: m["sensitivity"] + m["specificity"] - 1),
    ("f1", lambda m: m["f1"]),
])
def test_chosen_threshold_maximizes_its_criterion(sample, method, criterion):
    y, p = sample
    chosen = criterion(M.binary_metrics(y, p, M.choose_threshold(y, p, method)))
    best = max(criterion(M.binary_metrics(y, p, t)) for t in np.unique(p))
    assert chosen == pytest.approx(best, abs=EXACT)


# -------------------------------------------------------------------- bootstrap

def test_same_seed_same_interval_other_seed_other_interval(sample):
    first = M.bootstrap_ci(*sample, "auroc", n_boot=300, seed=5)
    assert M.bootstrap_ci(*sample, "auroc", n_boot=300, seed=5) == first
    assert M.bootstrap_ci(*sample, "auroc", n_boot=300, seed=6) != first


@pytest.mark.parametrize("name, reference", [
    ("auroc", skm.roc_auc_score),
    ("auprc", skm.average_precision_score),
    ("mcc", lambda y, p: skm.matthews_corrcoef(y, p >= 0.5)),
    ("calibration_slope", lambda y, p: M.binary_metrics(y, p)["calibration_slope"]),
    ("calibration_intercept", lambda y, p: M.binary_metrics(y, p)["calibration_intercept"]),
])
def test_vectorized_bootstrap_equals_a_loop_over_the_same_resamples(sample, name, reference):
    # the same interval on both (a callable metric has no known bounds for "logit")
    vectorized = M.bootstrap_ci(*sample, name, n_boot=150, seed=3, interval="percentile")
    looped = M.bootstrap_ci(*sample, reference, n_boot=150, seed=3, interval="percentile")
    np.testing.assert_allclose(vectorized, looped, atol=1e-9)


def test_bootstrap_skips_undefined_resamples_and_says_how_many(caplog):
    y = np.array([1, 1] + [0] * 10)
    p = np.linspace(0.9, 0.1, 12)
    with caplog.at_level(logging.WARNING, logger="pipeline.metrics"):
        low, high = M.bootstrap_ci(y, p, "auroc", n_boot=200)
    assert 0 <= low <= high <= 1
    assert "auroc: skipped" in caplog.text and "of 200" in caplog.text
    assert M.bootstrap_ci(np.zeros(12), p, "auroc", n_boot=50) == pytest.approx(
        (np.nan, np.nan), nan_ok=True)


def test_bootstrap_in_chunks_covers_every_resample(sample, monkeypatch):
    monkeypatch.setattr(bootstrap, "_CHUNK_CELLS", 1000)  # 400 rows -> chunks of 2 resamples
    low, high = M.bootstrap_ci(*sample, "auroc", n_boot=25)
    assert low < M.binary_metrics(*sample)["auroc"] < high
    counts = list(bootstrap._resample_counts(400, 25, seed=0))
    assert sum(len(c) for c in counts) == 25
    assert all(np.all(c.sum(axis=1) == 400) for c in counts)


# ---------------------------------------------------------------------- evaluate

def test_evaluate_binary(sample):
    result = M.evaluate("binary", *sample, threshold=0.4, n_boot=200, seed=1)
    point = M.binary_metrics(*sample, threshold=0.4)
    assert tuple(result) == M.BINARY_METRICS
    for name, entry in result.items():
        assert set(entry) == {"value", "ci_low", "ci_high", "n_degenerate"}
        assert all(type(v) is float for v in entry.values())
        assert entry["value"] == point[name]
        assert entry["ci_low"] <= entry["ci_high"]
    # Every metric is computed on the same resamples as bootstrap_ci draws for the seed
    # (AUROC and AUPRC from one shared ranking there, from one each here).
    for name in ("auroc", "auprc", "calibration_slope"):
        assert (result[name]["ci_low"], result[name]["ci_high"]) == M.bootstrap_ci(
            *sample, name, n_boot=200, seed=1)
    assert result["auroc"]["ci_low"] < result["auroc"]["value"] < result["auroc"]["ci_high"]


def test_evaluate_without_bootstrap_gives_nan_intervals(sample):
    result = M.evaluate("binary", *sample, n_boot=0)
    assert np.isnan(result["auroc"]["ci_low"]) and np.isnan(result["auroc"]["ci_high"])


def test_evaluate_multiclass_and_regression():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    proba = rng.dirichlet(np.ones(3), 150) + np.eye(3)[y]
    proba /= proba.sum(axis=1, keepdims=True)
    assert tuple(M.evaluate("multiclass", y, proba, n_boot=50)) == M.MULTICLASS_METRICS
    target = rng.normal(size=150)
    result = M.evaluate("regression", target, target + rng.normal(size=150), n_boot=50)
    assert tuple(result) == M.REGRESSION_METRICS
    assert result["r2"]["ci_low"] < result["r2"]["value"] < result["r2"]["ci_high"]


# ---------------------------------------------------------- paired comparison

def test_paired_difference_of_identical_models_is_zero():
    y, p = _binary_sample(200, seed=9)
    result = M.paired_bootstrap_difference(y, p, p.copy(), n_boot=200)
    assert result == {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0}


def test_paired_difference_detects_a_better_model_and_is_antisymmetric():
    y, p = _binary_sample(400, seed=10)
    noisy = _sigmoid(_logit(p) + np.random.default_rng(0).normal(scale=2.0, size=p.size))
    ab = M.paired_bootstrap_difference(y, p, noisy, n_boot=500)
    ba = M.paired_bootstrap_difference(y, noisy, p, n_boot=500)
    expected = M.binary_metrics(y, p)["auroc"] - M.binary_metrics(y, noisy)["auroc"]
    assert ab["difference"] == pytest.approx(expected, abs=EXACT)
    assert 0 < ab["ci_low"] < ab["difference"] < ab["ci_high"]
    assert ab["p_value"] < 0.05
    assert ba["difference"] == pytest.approx(-ab["difference"], abs=EXACT)
    assert (ba["ci_low"], ba["ci_high"]) == pytest.approx((-ab["ci_high"], -ab["ci_low"]))
    assert ba["p_value"] == ab["p_value"]


def test_paired_difference_of_another_metric(sample):
    y, p = sample
    result = M.paired_bootstrap_difference(y, p, np.full(p.size, y.mean()), metric="brier",
                                           n_boot=100)
    assert result["difference"] < 0  # the model beats the prevalence on Brier score


def test_paired_difference_of_repeats_averages_each_repeats_difference_on_shared_resamples():
    y, p = _binary_sample(150, seed=12)
    rng = np.random.default_rng(3)
    a = [_sigmoid(_logit(p) + rng.normal(scale=0.5, size=p.size)) for _ in range(3)]
    b = [_sigmoid(_logit(p) + rng.normal(scale=2.0, size=p.size)) for _ in range(3)]
    result = M.paired_bootstrap_difference(y, a, b, n_boot=50, seed=4)
    auroc = lambda yy, pp: M.binary_metrics(yy, pp)["auroc"]  # noqa: E731
    assert result["difference"] == pytest.approx(
        np.mean([auroc(y, ar) - auroc(y, br) for ar, br in zip(a, b)]), abs=EXACT)
    # Brute force: the same patient resamples (counts), each applied to every repeat.
    from pipeline.metrics.resampling import resample_counts
    (counts,) = list(resample_counts(y.size, 50, 4))
    brute = []
    for w in counts.astype(int):
        rows = np.repeat(np.arange(y.size), w)
        if 0 < y[rows].sum() < rows.size:
            brute.append(np.mean([auroc(y[rows], ar[rows]) - auroc(y[rows], br[rows])
                                  for ar, br in zip(a, b)]))
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(
        tuple(np.quantile(brute, [0.025, 0.975])), abs=1e-12)
    with pytest.raises(ValueError, match="as many repeats"):
        M.paired_bootstrap_difference(y, a, b[:2])


def test_extra_thresholds_equal_a_separate_evaluation_at_that_threshold():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1)
    both = M.evaluate("binary", y, p, threshold=0.5, n_boot=200, seed=1, extra_thresholds={"tuned": 0.4})
    alone = M.evaluate("binary", y, p, threshold=0.4, n_boot=200, seed=1)
    for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "mcc", "balanced_accuracy"):
        assert both[f"{name}_tuned"] == alone[name]
    assert both["auroc"] == alone["auroc"]


def test_cluster_bootstrap_resamples_whole_patients():
    """Six identical recordings per patient: a row bootstrap treats them as independent and
    gives a far narrower interval than resampling patients, which is the honest one."""
    rng = np.random.default_rng(0)
    n_patients, per_patient = 40, 6
    y_patient = rng.integers(0, 2, n_patients)
    p_patient = np.clip(0.3 * y_patient + 0.7 * rng.random(n_patients), 0, 1)
    y, p = np.repeat(y_patient, per_patient), np.repeat(p_patient, per_patient)
    groups = np.repeat(np.arange(n_patients), per_patient)
    rows = M.bootstrap_ci(y, p, "auroc", n_boot=500, seed=0)
    patients = M.bootstrap_ci(y, p, "auroc", n_boot=500, seed=0, groups=groups)
    reference = M.bootstrap_ci(y_patient, p_patient, "auroc", n_boot=500, seed=0)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(patients) > 1.8 * width(rows)
    assert width(patients) == pytest.approx(width(reference), rel=0.35)
    evaluated = M.evaluate("binary", y, p, n_boot=500, seed=0, groups=groups)["auroc"]
    assert (evaluated["ci_low"], evaluated["ci_high"]) == patients


def test_groups_must_match_the_rows():
    with pytest.raises(ValueError, match="groups must have one entry per row"):
        M.bootstrap_ci([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], "auroc", n_boot=10, groups=[1, 2])


def test_each_folds_threshold_applies_to_its_own_rows_and_the_confusion_matrices_add_up(sample):
    """Per-row thresholds (a fold's threshold on its own test rows): the pooled sensitivity
    and specificity are those of the summed per-fold confusion matrices (a hand count)."""
    y, p = sample
    fold = np.arange(y.size) % 3
    chosen = np.array([0.3, 0.5, 0.7])
    result = M.evaluate("binary", y, p, n_boot=0, extra_thresholds={"tuned": chosen[fold]})
    tp = sum(int(((p >= chosen[k]) & (y == 1) & (fold == k)).sum()) for k in range(3))
    tn = sum(int(((p < chosen[k]) & (y == 0) & (fold == k)).sum()) for k in range(3))
    assert result["sensitivity_tuned"]["value"] == pytest.approx(tp / (y == 1).sum(), abs=1e-15)
    assert result["specificity_tuned"]["value"] == pytest.approx(tn / (y == 0).sum(), abs=1e-15)
    median = M.evaluate("binary", y, p, n_boot=0, extra_thresholds={"tuned": 0.5})
    assert median["sensitivity_tuned"]["value"] != result["sensitivity_tuned"]["value"]


def test_repeated_cv_averages_each_repeats_pooled_metric_over_one_patient_resample():
    """Reference: a brute-force loop over resamples, scikit-learn's AUROC per repeat on the
    rows each resample draws, averaged over repeats; the same draw serves every repeat."""
    rng = np.random.default_rng(4)
    y = (rng.random(120) < 0.4).astype(float)
    preds = [np.clip(0.4 * y + rng.random(120) * 0.6, 0, 1) for _ in range(3)]
    result = M.evaluate_repeats("binary", y, preds, n_boot=60, seed=7, interval="percentile")
    assert result["auroc"]["value"] == pytest.approx(np.mean([skm.roc_auc_score(y, p) for p in preds]))
    ensemble = M.evaluate("binary", y, np.mean(preds, axis=0), n_boot=0)["auroc"]["value"]
    assert ensemble != pytest.approx(result["auroc"]["value"])  # not the averaged predictions
    replicates = []
    for counts in bootstrap._resample_counts(y.size, 60, seed=7):
        for row in counts.astype(int):
            drawn = np.repeat(np.arange(y.size), row)
            replicates.append(np.mean([skm.roc_auc_score(y[drawn], p[drawn]) for p in preds]))
    low, high = np.quantile(replicates, [0.025, 0.975])
    interval = (result["auroc"]["ci_low"], result["auroc"]["ci_high"])
    assert interval == pytest.approx((low, high), abs=1e-12)
