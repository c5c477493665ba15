"""NeuralNetClassifier / NeuralNetRegressor as scikit-learn estimators."""

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer, load_iris, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from pipeline.core.activations import LeakyReLU
from pipeline.core.optimizers import Adam
from pipeline.core.schedules import Cosine
from pipeline.estimators import NeuralNetClassifier, NeuralNetRegressor
from pipeline.tracking.models import _trusted_types

PARAMETERS = {
    "hidden_layer_sizes", "activation", "loss", "optimizer", "learning_rate", "batch_size",
    "max_epochs", "l1", "l2", "dropout", "early_stopping", "patience", "validation_fraction",
    "class_weight", "warm_start", "random_state",
}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), 1 - y  # malignant = 1


@pytest.mark.parametrize("estimator", [NeuralNetClassifier(), NeuralNetRegressor()],
                         ids=["classifier", "regressor"])
def test_passes_scikit_learn_check_estimator(estimator):
    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 50


def test_parameters_are_those_of_the_design():
    assert set(NeuralNetClassifier().get_params()) == PARAMETERS
    assert set(NeuralNetRegressor().get_params()) == PARAMETERS - {"class_weight"}


def test_no_hidden_layer_matches_scikit_learn_logistic_regression(cancer):
    """J = mean CE + (l2/2)|w|^2 is sklearn's C-scaled objective with l2 = 1 / (C n)."""
    X, y = cancer
    C = 1.0
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    ours = NeuralNetClassifier(
        hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.3, batch_size=None,
        max_epochs=20_000, l2=1 / (C * len(y)), random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(ours.coefs_[0][:, 0], reference.coef_[0], atol=1e-4)
    np.testing.assert_allclose(ours.intercepts_[0], reference.intercept_, atol=1e-4)


def test_no_hidden_layer_regressor_matches_least_squares():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    reference = LinearRegression().fit(X, y)
    ours = NeuralNetRegressor(hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.3,
                              batch_size=None, max_epochs=2000, random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.coefs_[0][:, 0], reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), atol=1e-5)


def test_works_in_pipeline_cross_validation_grid_search_and_calibration():
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), NeuralNetClassifier((16,), max_epochs=30, random_state=0))
    assert cross_val_score(model, X, y, cv=3, scoring="roc_auc").mean() > 0.97
    grid = GridSearchCV(model, {"neuralnetclassifier__l2": [0.0, 0.5]}, cv=3).fit(X, y)
    # each candidate's score is what cross-validating it by hand gives (the parameter
    # reached the network: the two differ), and the best one is chosen
    by_hand = [cross_val_score(clone(model).set_params(neuralnetclassifier__l2=l2), X, y, cv=3).mean()
               for l2 in (0.0, 0.5)]
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], by_hand, rtol=0, atol=1e-12)
    assert by_hand[0] != by_hand[1]
    assert grid.best_params_["neuralnetclassifier__l2"] == (0.0, 0.5)[int(np.argmax(by_hand))]
    calibrated = CalibratedClassifierCV(model, cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_accepts_dataframes_and_records_feature_names(cancer):
    X, y = cancer
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = NeuralNetClassifier((8,), max_epochs=5, random_state=0).fit(frame, pd.Series(y))
    assert list(model.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(model.predict_proba(frame), model.predict_proba(X))


def test_multiclass_uses_softmax_units():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = NeuralNetClassifier((16,), learning_rate=0.01, max_epochs=100, random_state=0).fit(X, y)
    assert model.coefs_[-1].shape == (16, 3)
    assert model.score(X, y) > 0.95
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_string_labels_and_binary_single_output(cancer):
    X, y = cancer
    labels = np.where(y == 1, "malignant", "benign")
    model = NeuralNetClassifier((), max_epochs=20, random_state=0).fit(X, labels)
    assert model.coefs_[-1].shape == (30, 1)
    assert list(model.classes_) == ["benign", "malignant"]
    assert set(model.predict(X)) <= {"benign", "malignant"}


def test_same_random_state_is_bitwise_reproducible(cancer):
    X, y = cancer
    fits = [NeuralNetClassifier((16,), dropout=0.2, max_epochs=5, early_stopping=True,
                                random_state=s).fit(X, y) for s in (3, 3, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(fits[0].coefs_, fits[1].coefs_))
    assert not np.array_equal(fits[0].coefs_[0], fits[2].coefs_[0])


def test_validation_data_gives_learning_curves_and_early_stopping(cancer):
    X, y = cancer
    model = NeuralNetClassifier((32,), max_epochs=300, early_stopping=True, patience=5,
                                learning_rate=0.01, random_state=0)
    model.fit(X[:400], y[:400], validation_data=(X[400:], y[400:]))
    assert len(model.history_["val_loss"]) == model.n_epochs_ < 300
    assert model.best_epoch_ == int(np.argmin(model.history_["val_loss"]))


def test_early_stopping_carves_a_stratified_validation_split(cancer):
    X, y = cancer
    model = NeuralNetClassifier((8,), max_epochs=50, early_stopping=True,
                                validation_fraction=0.2, random_state=0).fit(X, y)
    assert "val_loss" in model.history_
    assert model.best_epoch_ is not None
    # every carved split holds 20% of the rows and the class balance to within one row
    n_val, positives = int(np.ceil(0.2 * len(y))), 0.2 * y.sum()
    for seed in range(10):
        _, T_fit, _, (X_val, T_val, _) = model._carve_validation(
            X, y, y.astype(float)[:, None], None, np.random.default_rng(seed))
        assert len(X_val) == n_val and len(T_fit) == len(y) - n_val
        assert abs(T_val.sum() - positives) <= 1


def test_callbacks_add_metrics_to_history(cancer):
    X, y = cancer
    seen = []
    model = NeuralNetClassifier((), max_epochs=3, random_state=0).fit(
        X, y, on_epoch_end=lambda epoch, record, net: seen.append(epoch) or record.update(extra=1.0)
    )
    assert seen == [0, 1, 2] and model.history_["extra"] == [1.0, 1.0, 1.0]


def test_saved_state_holds_the_history_as_arrays_and_restores_lists(cancer):
    X, y = cancer
    model = NeuralNetClassifier((), max_epochs=4, random_state=0).fit(
        X[:400], y[:400], validation_data=(X[400:], y[400:]),
        on_epoch_end=lambda epoch, record, net: record.update(epoch=epoch))
    state = model.__getstate__()
    assert isinstance(state["history_"]["val_loss"], np.ndarray)
    assert state["history_"]["epoch"] == [0, 1, 2, 3]  # not floats: kept as they are
    assert isinstance(model.history_["val_loss"], list)  # the live model is untouched
    for restored in (pickle.loads(pickle.dumps(model)),
                     skops.io.loads(skops.io.dumps(model), trusted=_trusted_types())):
        assert restored.history_ == model.history_
        assert all(type(v) is float for v in restored.history_["train_loss"])
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_class_weight_equals_the_matching_sample_weight(cancer):
    X, y = cancer
    kwargs = dict(hidden_layer_sizes=(), batch_size=None, max_epochs=20, random_state=0)
    weighted = NeuralNetClassifier(class_weight={0: 1.0, 1: 3.0}, **kwargs).fit(X, y)
    sample = NeuralNetClassifier(**kwargs).fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(weighted.coefs_[0], sample.coefs_[0], rtol=1e-12)
    balanced = NeuralNetClassifier(class_weight="balanced", **kwargs).fit(X, y)
    assert not np.allclose(balanced.coefs_[0], NeuralNetClassifier(**kwargs).fit(X, y).coefs_[0])


def test_warm_start_continues_training(cancer):
    X, y = cancer
    model = NeuralNetClassifier((8,), max_epochs=5, warm_start=True, random_state=0).fit(X, y)
    first = [w.copy() for w in model.coefs_]
    model.fit(X, y)
    assert model.n_epochs_ == 10 and len(model.history_["train_loss"]) == 10
    cold = NeuralNetClassifier((8,), max_epochs=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.coefs_[0], first[0])
    assert not np.array_equal(model.coefs_[0], first[0])


def test_float32_input_trains_in_float32(cancer):
    X, y = cancer
    model = NeuralNetClassifier((8,), max_epochs=5, random_state=0).fit(X.astype(np.float32), y)
    assert model.coefs_[0].dtype == np.float32
    assert NeuralNetClassifier((8,), max_epochs=5).fit(X, y).coefs_[0].dtype == np.float64


def test_core_objects_as_parameters(cancer):
    X, y = cancer
    model = NeuralNetClassifier((8,), activation=LeakyReLU(0.1), optimizer=Adam(clip_norm=1.0),
                                learning_rate=Cosine(0.01, period=10), max_epochs=10, random_state=0)
    model.fit(X, y)
    assert model.history_["learning_rate"][-1] < 0.01
    assert model.score(X, y) > 0.9


def test_core_objects_print_as_their_call_and_compare_by_settings():
    assert repr(LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert LeakyReLU(0.1) == LeakyReLU(0.1) != LeakyReLU(0.2)
    used = Adam(clip_norm=1.0)
    used._state = "moments"  # state, not a setting
    assert used == Adam(clip_norm=1.0) and hash(used) == hash(Adam(clip_norm=1.0))
    assert Cosine(0.01, period=10) != Cosine(0.01, period=20)
    assert len({LeakyReLU(0.1), LeakyReLU(0.1), Adam()}) == 2


@pytest.mark.parametrize("param,value,valid", [
    ("hidden_layer_sizes", (0,), "tuple of positive ints"),
    ("hidden_layer_sizes", "64", "tuple of positive ints"),
    ("activation", "hard_threshold", "'identity', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'softplus'"),
    ("activation", "gelu", "'relu'"),
    ("loss", "hinge", "'cross_entropy', 'squared_error', 'absolute_error'"),
    ("optimizer", "newton", "'adagrad', 'adam', 'lbfgs', 'momentum', 'nesterov', 'rmsprop', 'sgd'"),
    ("learning_rate", 0.0, r"\(0.0, inf\]"),
    ("learning_rate", "fast", "positive float"),
    ("batch_size", 0, "integer >= 1 or None"),
    ("max_epochs", 0, "integer >= 1"),
    ("max_epochs", 2.5, "integer >= 1"),
    ("l1", -1.0, r"\[0.0, inf\]"),
    ("l2", float("nan"), r"\[0.0, inf\]"),
    ("dropout", 1.0, r"\[0.0, 1.0\)"),
    ("early_stopping", "yes", r"\[True, False\]"),
    ("patience", 0, "integer >= 1"),
    ("validation_fraction", 1.0, r"\(0.0, 1.0\)"),
    ("class_weight", "auto", "None, 'balanced' or a dict"),
    ("warm_start", 1, r"\[True, False\]"),
])
def test_invalid_parameter_names_itself_and_the_choices(cancer, param, value, valid):
    X, y = cancer
    with pytest.raises(ValueError, match=rf"{param} must .*{valid}"):
        NeuralNetClassifier(**{param: value}).fit(X[:20], y[:20])


def test_regressor_rejects_classification_losses():
    with pytest.raises(ValueError, match=r"loss must be one of \['squared_error', 'absolute_error'\]"):
        NeuralNetRegressor(loss="cross_entropy").fit(np.ones((4, 2)), np.arange(4.0))


def test_parameter_checks_do_not_shadow_scikit_learns_validate_params():
    from sklearn.base import BaseEstimator

    for cls in (NeuralNetClassifier, NeuralNetRegressor):
        ours = [c for c in cls.__mro__ if c.__module__ == "pipeline.estimators"]
        assert not any("_validate_params" in vars(c) for c in ours)
        assert cls._validate_params is BaseEstimator._validate_params
    with pytest.raises(ValueError, match="max_epochs must be an integer"):
        NeuralNetRegressor(max_epochs=0)._check_params()


def test_regressor_records_the_target_dimensions_as_fitted_state():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    model = NeuralNetRegressor((), max_epochs=2, random_state=0).fit(X, y)
    assert model.y_ndim_ == 1 and model.predict(X).shape == (40,)
    assert not hasattr(model, "_y_ndim")
    two = NeuralNetRegressor((), max_epochs=2, random_state=0).fit(X, np.c_[y, -y])
    assert two.y_ndim_ == 2 and two.predict(X).shape == (40, 2)
    # A model pickled before the rename held ``_y_ndim``: it still loads and predicts.
    old_state = model.__getstate__()
    old_state["_y_ndim"] = old_state.pop("y_ndim_")
    restored = NeuralNetRegressor.__new__(NeuralNetRegressor)
    restored.__setstate__(old_state)
    assert restored.y_ndim_ == 1
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
