"""Full-batch L-BFGS: the two-loop recursion against explicit BFGS updates, the strong
Wolfe line search, the objective evaluators against finite differences, logistic
regression against scikit-learn, and MLPs against Adam."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from pipeline.core import lbfgs
from pipeline.core.gradcheck import compare_gradients, numerical_gradient
from pipeline.core.losses import LOSS_NAMES, get_loss
from pipeline.core.network import Network
from pipeline.core.objectives import (
    LinearObjective,
    NetworkObjective,
    compute_gradient,
    full_gradient,
    objective,
)
from pipeline.core.optimizers import LBFGS, OPTIMIZERS, get_optimizer
from pipeline.core.training import TrainingConfig, train
from pipeline.estimators import NeuralNetClassifier, NeuralNetRegressor

PIMA_ZERO_AS_MISSING = ["PlGlcConc", "BloodP", "SkinThick", "TwoHourSerIns", "BMI"]


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), 1 - y  # malignant = 1


def _pima(directory):
    path = directory / "pima-indians-diabetes.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    table = pd.read_csv(path)
    y = table.pop("target").to_numpy()
    for column in PIMA_ZERO_AS_MISSING:  # zeros stand for missing: the median of the rest
        values = table[column].to_numpy(float, copy=True)
        values[values == 0] = np.median(values[values != 0])
        table[column] = values
    return StandardScaler().fit_transform(table.to_numpy(float)), y


def _quadratic(p, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(p, p))
    return A @ A.T + np.eye(p), rng


# --- the algorithm's pieces ---------------------------------------------------------


@pytest.mark.parametrize("n_pairs", [1, 4, 13])
def test_two_loop_recursion_equals_explicit_bfgs_updates(n_pairs):
    """-d = H g with H from gamma I by the BFGS update H <- V'HV + rho s s' over the last
    m pairs (N&W eq. 6.17 and 7.19), built as a dense matrix."""
    p, m = 6, 5
    H_true, rng = _quadratic(p, n_pairs)
    memory = lbfgs.Memory(m, p, np.float64)
    pairs = []
    for _ in range(n_pairs):
        s = rng.normal(size=p)
        y = H_true @ s
        assert memory.push(s, y)
        pairs.append((s, y))
    kept = pairs[-m:]
    s, y = kept[-1]
    H = (s @ y) / (y @ y) * np.eye(p)
    for s, y in kept:
        rho = 1.0 / (y @ s)
        V = np.eye(p) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    g = rng.normal(size=p)
    d = memory.direction(g, np.empty(p))
    np.testing.assert_allclose(-d, H @ g, rtol=1e-10, atol=1e-12)


def test_memory_refuses_pairs_without_positive_curvature():
    memory = lbfgs.Memory(3, 2, np.float64)
    assert not memory.push(np.array([1.0, 0.0]), np.array([-1.0, 0.0]))
    assert len(memory) == 0
    g = np.array([0.5, -2.0])
    np.testing.assert_array_equal(memory.direction(g, np.empty(2)), -g)  # H = I when empty


@pytest.mark.parametrize("step", [1e-3, 1.0, 50.0])
def test_line_search_meets_the_strong_wolfe_conditions(step):
    """phi(a) = (a - 2)**4 / 4 - a along d: from tiny steps it extrapolates, from huge
    ones it brackets and zooms; the accepted step satisfies both conditions."""
    def f(a):
        return (a - 2.0) ** 4 / 4 - a

    def df(a):
        return (a - 2.0) ** 3 - 1.0

    calls = []

    def phi(a):
        calls.append(a)
        return f(a), df(a)

    a, fa, evals, ok = lbfgs.line_search(phi, f(0.0), df(0.0), step, max_evals=30)
    assert ok and evals == len(calls) and a == calls[-1] and fa == f(a)
    assert f(a) <= f(0.0) + lbfgs.C1 * a * df(0.0)
    assert abs(df(a)) <= -lbfgs.C2 * df(0.0)


def test_line_search_treats_overflow_as_too_long():
    def phi(a):
        return (np.inf, np.nan) if a > 10 else ((a - 1.0) ** 2, 2 * (a - 1.0))

    a, fa, _, ok = lbfgs.line_search(phi, 1.0, -2.0, 1e3, max_evals=40)
    assert ok and 0 < a <= 10 and fa < 1.0


def test_minimize_finds_the_rosenbrock_minimum():
    x = np.array([-1.2, 1.0, -0.5, 0.8])
    grad = np.empty_like(x)

    def evaluate():
        a, b = x[:-1], x[1:]
        grad[:] = 0.0
        grad[:-1] = -400 * a * (b - a**2) - 2 * (1 - a)
        grad[1:] += 200 * (b - a**2)
        return float(np.sum(100 * (b - a**2) ** 2 + (1 - a) ** 2))

    result = lbfgs.minimize(evaluate, x, grad, LBFGS(tol=1e-9), max_iter=500)
    assert result.reason == "gradient_tolerance"
    np.testing.assert_allclose(x, 1.0, atol=1e-7)
    assert np.abs(grad).max() <= 1e-9 and result.n_evals >= result.n_iter


def test_lbfgs_is_registered_and_checks_its_settings():
    assert OPTIMIZERS["lbfgs"] is LBFGS
    optimizer = get_optimizer("lbfgs")
    assert optimizer == LBFGS() and optimizer.full_batch and not get_optimizer("adam").full_batch
    assert get_optimizer(LBFGS(memory=5, tol=1e-6)).memory == 5
    with pytest.raises(ValueError, match="clip_norm must be None for lbfgs"):
        LBFGS(clip_norm=1.0)
    for bad in (dict(memory=0), dict(tol=-1.0), dict(ftol=float("nan")), dict(max_linesearch=1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LBFGS(**bad)
    with pytest.raises(TypeError, match="full batch"):
        LBFGS().step(np.zeros(2), np.zeros(2), 0.1)


# --- the objective over all rows ----------------------------------------------------

HEADS = {"sigmoid": 1, "softmax": 3, "identity": 2}


def _problem(head, rng, n=9, p=4):
    X = rng.normal(size=(n, p))
    k = HEADS[head]
    if head == "sigmoid":
        T = rng.integers(0, 2, size=(n, 1)).astype(float)
    elif head == "softmax":
        T = np.eye(k)[rng.integers(0, k, size=n)]
    else:
        T = rng.choice([-1.0, 1.0], size=(n, k)) * rng.uniform(4.0, 6.0, size=(n, k))
    return X, T, rng.uniform(0.5, 2.0, size=n)


@pytest.mark.parametrize("head,loss_name", [(h, n) for h, names in LOSS_NAMES.items() for n in names])
@pytest.mark.parametrize("weighted", [False, True])
def test_linear_objective_matches_finite_differences_and_the_network(head, loss_name, weighted):
    rng = np.random.default_rng(0)
    X, T, w = _problem(head, rng)
    w = w if weighted else None
    net = Network((X.shape[1], HEADS[head]), "identity", head).initialize(rng)
    net.params[net.n_weights:] = rng.normal(scale=0.1, size=HEADS[head])
    loss, l2 = get_loss(loss_name, head), 0.05
    fast = LinearObjective(net, loss, X, T, w, l2)
    J = fast()
    ours = net.grad.copy()
    assert J == pytest.approx(objective(net, loss, X, T, w, 0.0, l2), rel=1e-13)
    reference = numerical_gradient(lambda: objective(net, loss, X, T, w, 0.0, l2), net.params)
    compare_gradients(ours, reference, tolerance=1e-6)
    assert NetworkObjective(net, loss, X, T, w, l2)() == pytest.approx(J, rel=1e-13)
    np.testing.assert_allclose(net.grad, ours, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_full_gradient_equals_one_pass(weighted):
    rng = np.random.default_rng(1)
    X, T, w = _problem("softmax", rng, n=23)
    w = w if weighted else None
    if weighted:
        w[5:10] = 0.0  # a chunk of weight zero adds nothing
    net = Network((4, 5, 3), "tanh", "softmax").initialize(rng)
    loss = get_loss("cross_entropy", "softmax")
    one = compute_gradient(net, loss, X, T, w, 0.01, 0.02)
    expected = net.grad.copy()
    chunked = full_gradient(net, loss, X, T, w, 0.01, 0.02, chunk_rows=5)
    assert chunked == pytest.approx(one, rel=1e-13)
    np.testing.assert_allclose(net.grad, expected, rtol=1e-12, atol=1e-15)


# --- logistic regression against scikit-learn ---------------------------------------


def _sklearn_logistic(X, y, l2):
    """J = mean CE + (l2/2)|w|^2 is scikit-learn's objective divided by n with C = 1/(n l2)."""
    model = LogisticRegression(C=1.0 / (len(y) * l2), tol=1e-10, max_iter=10_000).fit(X, y)
    return np.r_[model.coef_[0], model.intercept_]


@pytest.mark.parametrize("dataset", ["breast_cancer", "pima"])
@pytest.mark.parametrize("l2", [1e-4, 1e-2])
def test_logistic_regression_equals_scikit_learn(cancer, shared_datasets_dir, dataset, l2):
    X, y = cancer if dataset == "breast_cancer" else _pima(shared_datasets_dir)
    # Default tolerances; the default max_epochs=200 would do too (at most ~165 iterations).
    model = NeuralNetClassifier(hidden_layer_sizes=(), optimizer="lbfgs", l2=l2,
                                max_epochs=1000, random_state=0).fit(X, y)
    ours = np.r_[model.coefs_[0][:, 0], model.intercepts_[0]]
    reference = _sklearn_logistic(X, y, l2)
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) <= 1e-5
    assert model.converged_ and model.n_iter_ < 200
    assert model.stop_reason_ in ("gradient_tolerance", "objective_tolerance")
    assert model.n_iter_ == model.n_epochs_ == len(model.history_["train_loss"])
    # The returned point is stationary by an independent measure: central differences.
    net = Network((X.shape[1], 1), "identity", "sigmoid").set_weights(model.coefs_, model.intercepts_)
    loss = get_loss("cross_entropy", "sigmoid")
    T = y[:, None].astype(float)
    fd = numerical_gradient(lambda: objective(net, loss, X, T, None, 0.0, l2), net.params)
    assert np.abs(fd).max() < 1e-8


def test_logistic_regression_with_sample_weights_equals_scikit_learn(cancer):
    X, y = cancer
    w = np.where(y == 1, 3.0, 1.0)
    l2 = 1e-3
    model = NeuralNetClassifier((), optimizer="lbfgs", l2=l2, random_state=0).fit(X, y, sample_weight=w)
    # scikit-learn scales its penalty by the weight sum: C = 1 / (sum(w) l2).
    reference = LogisticRegression(C=1.0 / (w.sum() * l2), tol=1e-10, max_iter=10_000)
    reference.fit(X, y, sample_weight=w)
    ours = np.r_[model.coefs_[0][:, 0], model.intercepts_[0]]
    ref = np.r_[reference.coef_[0], reference.intercept_]
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) <= 1e-5


# --- MLPs, histories, early stopping ------------------------------------------------


def test_mlp_reaches_the_tolerance_and_beats_adam_in_as_many_epochs(cancer):
    X, y = cancer
    T, l2 = y[:, None].astype(float), 1e-2
    loss = get_loss("cross_entropy", "sigmoid")
    results = {}
    for name, optimizer in (("lbfgs", LBFGS(tol=1e-7)), ("adam", "adam")):
        net = Network((30, 8, 1), "tanh", "sigmoid").initialize(np.random.default_rng(0))
        epochs = results["lbfgs"][1]["n_iter"] if name == "adam" else 1000
        config = TrainingConfig(optimizer=optimizer, learning_rate=1e-3, l2=l2, max_epochs=epochs)
        history = train(net, X, T, config, np.random.default_rng(0))
        results[name] = (objective(net, loss, X, T, None, 0.0, l2), history, net)
    J, history, net = results["lbfgs"]
    assert history["stop_reason"] == "gradient_tolerance" and history["converged"]
    compute_gradient(net, loss, X, T, None, 0.0, l2)  # independent of L-BFGS's own evaluator
    assert np.abs(net.grad).max() <= 1e-7
    assert history["final_grad_norm"] == pytest.approx(np.linalg.norm(net.grad), rel=1e-6)
    assert J < results["adam"][0]
    assert results["adam"][1]["n_iter"] == history["n_iter"] < 1000
    # And the stationary point is one by central differences too.
    fd = numerical_gradient(lambda: objective(net, loss, X[:200], T[:200], None, 0.0, l2),
                            net.params)
    compute_gradient(net, loss, X[:200], T[:200], None, 0.0, l2)
    compare_gradients(net.grad.copy(), fd, tolerance=1e-6)


def test_history_has_one_entry_per_iteration_and_the_objective_decreases(cancer):
    X, y = cancer
    seen = []
    model = NeuralNetClassifier((), optimizer="lbfgs", l2=1e-2, random_state=0).fit(
        X[:400], y[:400], validation_data=(X[400:], y[400:]),
        on_epoch_end=lambda epoch, record, net: seen.append(epoch))
    history = model.history_
    assert seen == list(range(model.n_iter_))
    assert {"train_loss", "learning_rate", "grad_norm", "val_loss"} <= set(history)
    assert all(len(v) == model.n_iter_ for v in history.values())
    assert all(step > 0 for step in history["learning_rate"])
    assert history["learning_rate"][-1] == 1.0  # near the optimum the quasi-Newton step is taken whole
    assert history["grad_norm"][-1] == pytest.approx(model.final_grad_norm_, rel=1e-12)
    # J = data loss + (l2/2)|W|^2 never increases (sufficient decrease), so the data
    # loss alone may, but only by the penalty's drop.
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_lbfgs_ignores_batch_size_and_randomness(cancer):
    X, y = cancer
    fits = [NeuralNetClassifier((4,), activation="tanh", optimizer="lbfgs", l2=1e-2, max_epochs=30,
                                batch_size=batch_size, random_state=0).fit(X, y)
            for batch_size in (32, None, 1)]
    for other in fits[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(fits[0].coefs_, other.coefs_))
    again = NeuralNetClassifier((4,), activation="tanh", optimizer="lbfgs", l2=1e-2,
                                max_epochs=30, random_state=0).fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(fits[0].coefs_, again.coefs_))


def test_lbfgs_early_stopping_restores_the_best_iteration():
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(40, 20)), rng.normal(size=(200, 20))
    T = (rng.random((40, 1)) < 0.5).astype(float)  # labels are noise: validation loss must rise
    T_val = (rng.random((200, 1)) < 0.5).astype(float)
    net = Network((20, 16, 1), "tanh", "sigmoid").initialize(np.random.default_rng(0))
    config = TrainingConfig(optimizer="lbfgs", max_epochs=500, patience=5)
    history = train(net, X, T, config, np.random.default_rng(0), validation=(X_val, T_val, None))
    best = int(np.argmin(history["val_loss"]))
    assert history["best_epoch"] == best and history["stop_reason"] == "early_stopping"
    assert history["converged"] and len(history["val_loss"]) == best + 1 + 5
    loss = get_loss("cross_entropy", "sigmoid")
    val = objective(net, loss, X_val, T_val)
    assert val == pytest.approx(history["val_loss"][best], rel=1e-12)
    full_gradient(net, loss, X, T)  # the reported norm is at the restored weights
    assert history["final_grad_norm"] == pytest.approx(np.linalg.norm(net.grad), rel=1e-12)


@pytest.mark.parametrize("setting", [dict(l1=0.01), dict(dropout=0.2), dict(l1=0.01, dropout=0.2)])
def test_lbfgs_refuses_l1_and_dropout_naming_the_alternatives(cancer, setting):
    X, y = cancer
    with pytest.raises(ValueError, match=r"lbfgs.*(l1|dropout)=0\.\d.*optimizer='adam'.*l2 with lbfgs"):
        NeuralNetClassifier((4,), optimizer="lbfgs", **setting).fit(X, y)


def test_float32_lbfgs_stops_on_the_objective_tolerance(cancer):
    X, y = cancer
    model = NeuralNetClassifier((), optimizer="lbfgs", l2=1e-2, random_state=0).fit(
        X.astype(np.float32), y)
    assert model.coefs_[0].dtype == np.float32
    assert model.converged_ and model.stop_reason_ == "objective_tolerance"
    reference = _sklearn_logistic(X, y, 1e-2)
    ours = np.r_[model.coefs_[0][:, 0], model.intercepts_[0]]
    # float32 sums carry ~1e-7 relative noise: J can only be resolved to ~1e-6, which
    # leaves the weights ~1e-3 from the optimum (measured 1.6e-3); float64 is the default.
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < 1e-2


def test_lbfgs_linear_regression_equals_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = X @ rng.normal(size=6) + 3.0 + 0.1 * rng.normal(size=300)
    model = NeuralNetRegressor((), optimizer="lbfgs", random_state=0).fit(X, y)
    X1 = np.c_[X, np.ones(len(y))]
    coef = np.linalg.lstsq(X1, y, rcond=None)[0]
    np.testing.assert_allclose(np.r_[model.coefs_[0][:, 0], model.intercepts_[0]], coef, rtol=1e-8)
    assert model.converged_
