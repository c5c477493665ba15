"""Convergence reported for every optimizer, and divergence turned into an error."""

import pickle
import warnings

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from pipeline.core.convergence import DivergenceGuard, PlateauMonitor
from pipeline.core.losses import get_loss
from pipeline.core.network import Network
from pipeline.core.objectives import compute_gradient, data_loss, initial_loss
from pipeline.core.training import TrainingConfig, TrainingDivergedError, train
from pipeline.estimators import NeuralNetClassifier, NeuralNetRegressor
from pipeline.tracking.models import _trusted_types

# The conf/optimizer defaults: (optimizer, learning_rate, batch_size, max_epochs).
CONF_DEFAULTS = {
    "sgd": ("sgd", 0.01, 1, 50),
    "gd": ("sgd", 0.1, None, 500),
    "minibatch": ("sgd", 0.05, 32, 200),
    "momentum": ("momentum", 0.01, 32, 200),
    "nesterov": ("nesterov", 0.01, 32, 200),
    "adagrad": ("adagrad", 0.05, 32, 200),
    "rmsprop": ("rmsprop", 1e-3, 32, 200),
    "adam": ("adam", 1e-3, 32, 200),
    "lbfgs": ("lbfgs", 1e-3, 32, 200),
}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), 1 - y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y  # y unscaled: 25 to 346


def _settings(name, **overrides):
    optimizer, lr, batch, epochs = CONF_DEFAULTS[name]
    return dict(dict(optimizer=optimizer, learning_rate=lr, batch_size=batch, max_epochs=epochs,
                     random_state=0), **overrides)


# --- convergence ----------------------------------------------------------------------


def test_plateau_monitor_by_hand():
    monitor = PlateauMonitor(tol=0.1, n_iter_no_change=2)
    # 0.95 and 0.91 beat the best by less than tol (count 1, 2); 0.80 beats 0.91 by 0.11
    # (count 0); 0.75, 0.9, 0.9 do not beat 0.80 then 0.75 by tol: count 3 > 2 at the last.
    reached = [monitor.update(x) for x in [1.0, 0.95, 0.91, 0.80, 0.75, 0.9, 0.9]]
    assert reached == [False, False, False, False, False, False, True]
    assert monitor.update(0.1) and monitor.reached  # once seen, stays reported


def test_plateau_is_where_scikit_learn_mlp_stops(cancer):
    """scikit-learn stops at the first epoch of its test; ours, fed the same loss curve,
    first reports the plateau at exactly that epoch."""
    X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((8,), learning_rate_init=1e-3, max_iter=1000, random_state=0).fit(X, y)
    curve = mlp.loss_curve_
    assert len(curve) < 1000  # it stopped on its tolerance
    monitor = PlateauMonitor()
    first = next(i for i, loss in enumerate(curve) if monitor.update(loss))
    assert first == len(curve) - 1


def test_first_order_training_runs_on_after_the_plateau_and_reports_it(cancer):
    X, y = cancer
    model = NeuralNetClassifier((), **_settings("gd", max_epochs=2000)).fit(X, y)
    assert model.n_iter_ == model.n_epochs_ == 2000  # reporting never stops training
    assert model.converged_ and model.stop_reason_ == "max_epochs"
    early = NeuralNetClassifier((), **_settings("gd", max_epochs=20)).fit(X, y)
    assert not early.converged_  # still improving when max_epochs ran out


def test_early_stopping_counts_as_converged(cancer):
    X, y = cancer
    model = NeuralNetClassifier((32,), max_epochs=300, early_stopping=True, patience=5,
                                learning_rate=0.01, random_state=0)
    model.fit(X[:400], y[:400], validation_data=(X[400:], y[400:]))
    assert model.stop_reason_ == "early_stopping" and model.converged_
    assert model.n_iter_ < 300


@pytest.mark.parametrize("name", ["sgd", "adam", "lbfgs"])
def test_final_grad_norm_is_the_full_batch_gradient_at_the_returned_weights(cancer, name):
    X, y = cancer
    w = np.where(y == 1, 2.0, 1.0)
    regularization = dict(l2=1e-2) if name == "lbfgs" else dict(l1=1e-3, l2=1e-2, dropout=0.2)
    model = NeuralNetClassifier((6,), activation="tanh", **_settings(name, max_epochs=5),
                                **regularization).fit(X, y, sample_weight=w)
    net = Network((30, 6, 1), "tanh", "sigmoid").set_weights(model.coefs_, model.intercepts_)
    compute_gradient(net, get_loss("cross_entropy", "sigmoid"), X, y[:, None].astype(float), w,
                     regularization.get("l1", 0.0), regularization["l2"])  # no dropout
    assert model.final_grad_norm_ == pytest.approx(np.linalg.norm(net.grad), rel=1e-10)


def test_convergence_attributes_are_fitted_state(cancer):
    X, y = cancer
    model = NeuralNetClassifier((4,), max_epochs=3, warm_start=True, random_state=0).fit(X, y)
    model.max_epochs = 2
    model.fit(X, y)
    assert model.n_iter_ == 2 and model.n_epochs_ == 5  # n_iter_ is the last fit's
    assert type(model.converged_) is bool and isinstance(model.final_grad_norm_, float)
    assert not any(key in model.history_ for key in ("converged", "n_iter", "final_grad_norm"))
    for restored in (pickle.loads(pickle.dumps(model)),
                     skops.io.loads(skops.io.dumps(model), trusted=_trusted_types())):
        assert (restored.converged_, restored.n_iter_, restored.final_grad_norm_,
                restored.stop_reason_) == (model.converged_, 2, model.final_grad_norm_, "max_epochs")


# --- divergence -----------------------------------------------------------------------


def test_adam_at_a_huge_learning_rate_is_a_failed_fit_not_a_result(cancer):
    X, y = cancer
    with pytest.raises(TrainingDivergedError,
                       match=r"epoch 1: the training loss grew to .* over 1000 x its initial "
                             r".*learning rate 1e\+06\. Try a smaller learning_rate"):
        NeuralNetClassifier(learning_rate=1e6, random_state=0).fit(X, y)


def test_a_fit_that_blew_up_and_came_back_is_still_a_failure(diabetes):
    """Momentum on unscaled targets (~150) overshoots to a loss of ~1e19 in epoch 1;
    unchecked it ended at a loss of 3e3 with weights ~1e18: not a model."""
    X, y = diabetes
    with pytest.raises(TrainingDivergedError, match="epoch 1: the training loss grew"):
        NeuralNetRegressor((64, 32), **_settings("momentum")).fit(X, y)


def test_divergence_guard_by_hand():
    params = np.array([1.0, -2.0])
    guard = DivergenceGuard(initial_loss=0.5, target_scale=1.0, advice="Do this.")
    guard.check(params, {"train_loss": 499.0}, 0, 0.1)
    with pytest.raises(TrainingDivergedError, match=r"epoch 3: the training loss grew to 501.*Do this\."):
        guard.check(params, {"train_loss": 501.0}, 2, 0.1)
    tiny = DivergenceGuard(initial_loss=1e-6, target_scale=1.0, advice="")  # the floor: 0.1
    tiny.check(params, {"train_loss": 99.0}, 0, 0.1)
    with pytest.raises(TrainingDivergedError, match="grew to 101"):
        tiny.check(params, {"train_loss": 101.0}, 0, 0.1)
    scaled = DivergenceGuard(initial_loss=0.5, target_scale=300.0, advice="")
    scaled.check(np.array([2.9e8, -2.9e8]), {"train_loss": 1.0}, 0, 0.1)
    with pytest.raises(TrainingDivergedError, match=r"a weight reached 3.1e\+08 \(limit 3e\+08\)"):
        scaled.check(np.array([0.0, -3.1e8]), {"train_loss": 1.0}, 0, 0.1)
    for bad in (np.nan, np.inf):
        with pytest.raises(TrainingDivergedError, match="the weights overflowed"):
            guard.check(np.array([bad, 0.0]), {"train_loss": 1.0}, 0, 0.1)
    with pytest.raises(TrainingDivergedError, match="the validation loss became nan"):
        guard.check(params, {"train_loss": 1.0, "val_loss": np.nan}, 0, 0.1)


def test_lbfgs_refuses_an_objective_that_is_not_finite_at_the_start():
    X = np.array([[1e308, -1e308], [-1e308, 1e308]])
    net = Network((2, 1), "identity", "identity").initialize(np.random.default_rng(0))
    with pytest.raises(TrainingDivergedError, match="at the start.*Use l2 > 0"):
        train(net, X, np.ones((2, 1)), TrainingConfig(loss="squared_error", optimizer="lbfgs"),
              np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(CONF_DEFAULTS))
def test_ordinary_fits_do_not_trip_the_guard(cancer, diabetes, name):
    """Each configured optimizer at its default rate and batch size, for 30 epochs (the
    full matrix of losses, the conf's 64-32 MLP and epochs is the slow test below)."""
    X, y = cancer
    settings = _settings(name, max_epochs=30)
    for loss in ("cross_entropy", "absolute_error"):
        model = NeuralNetClassifier((16,), loss=loss, **settings).fit(X, y)
        assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]
    X, y = diabetes
    model = NeuralNetRegressor((), **settings).fit(X, y)  # raw targets, mean 152
    assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONF_DEFAULTS))
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error", "absolute_error"])
def test_classifiers_at_the_configured_defaults_do_not_trip_the_guard(cancer, name, loss):
    X, y = cancer
    model = NeuralNetClassifier((64, 32), loss=loss, **_settings(name)).fit(X, y)
    assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONF_DEFAULTS))
@pytest.mark.parametrize("loss", ["squared_error", "absolute_error"])
def test_regressors_at_the_configured_defaults_do_not_trip_the_guard(diabetes, name, loss):
    """Raw targets (mean 152) for linear models and the adaptive optimizers; a 64-32 MLP
    under plain or momentum SGD at these rates truly diverges on them (NaN or a loss of
    1e19 before this guard existed, see above), so it gets standardised targets."""
    X, y = diabetes
    linear = NeuralNetRegressor((), loss=loss, **_settings(name)).fit(X, y)
    assert linear.history_["train_loss"][-1] < linear.history_["train_loss"][0]
    sgd_family = CONF_DEFAULTS[name][0] in ("sgd", "momentum", "nesterov")
    target = (y - y.mean()) / y.std() if sgd_family else y
    mlp = NeuralNetRegressor((64, 32), loss=loss, **_settings(name)).fit(X, target)
    assert mlp.history_["train_loss"][-1] < mlp.history_["train_loss"][0]


def test_initial_loss_uses_evenly_spaced_rows_beyond_its_budget():
    rng = np.random.default_rng(0)
    X, T, w = rng.normal(size=(10, 3)), rng.normal(size=(10, 1)), rng.uniform(1, 2, size=10)
    net = Network((3, 1), "identity", "identity").initialize(rng)
    loss = get_loss("squared_error", "identity")
    assert initial_loss(net, loss, X, T, w) == pytest.approx(data_loss(net, loss, X, T, w), rel=1e-15)
    rows = [0, 4, 8]  # ceil(10 / 3) = 4 apart
    assert initial_loss(net, loss, X, T, w, max_rows=3) == pytest.approx(
        data_loss(net, loss, X[rows], T[rows], w[rows]), rel=1e-15)
