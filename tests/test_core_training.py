"""The training loop: hand-worked steps, optimizers, schedules, regularization,
early stopping, reproducibility and divergence."""

import ast
import pathlib
import sys

import numpy as np
import pytest

from pipeline.core import optimizers as opt
from pipeline.core import schedules
from pipeline.core.activations import sigmoid
from pipeline.core.losses import get_loss
from pipeline.core.network import Network
from pipeline.core.training import (
    SUMMARY_KEYS,
    TrainingConfig,
    TrainingDivergedError,
    data_loss,
    train,
)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=200) > 0).astype(float)
    return X, y[:, None]


def _logistic(n_inputs, seed=0):
    return Network((n_inputs, 1), "identity", "sigmoid").initialize(np.random.default_rng(seed))


def test_one_full_batch_step_by_hand(blobs):
    X, T = blobs
    net = _logistic(5)
    w0, b0 = net.weights[0].copy(), net.biases[0].copy()
    train(net, X, T, TrainingConfig(optimizer="sgd", learning_rate=0.5, batch_size=None,
                                    max_epochs=1, l2=0.1), np.random.default_rng(0))
    residual = sigmoid(X @ w0 + b0) - T  # dL/dz for sigmoid + cross-entropy
    np.testing.assert_allclose(net.weights[0], w0 - 0.5 * (X.T @ residual / len(X) + 0.1 * w0))
    np.testing.assert_allclose(net.biases[0], b0 - 0.5 * residual.mean(axis=0))


def test_pure_sgd_makes_one_update_per_example(blobs):
    X, T = blobs
    steps = []

    class CountingSGD(opt.SGD):
        def step(self, params, grad, lr):
            steps.append(len(steps))
            super().step(params, grad, lr)

    for batch_size, expected in [(1, 200), (32, 7), (None, 1)]:
        steps.clear()
        train(_logistic(5), X, T, TrainingConfig(optimizer=CountingSGD(), batch_size=batch_size,
                                                 max_epochs=1), np.random.default_rng(0))
        assert len(steps) == expected


@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
def test_every_optimizer_decreases_the_loss(blobs, name):
    X, T = blobs
    net = Network((5, 8, 1), "tanh", "sigmoid").initialize(np.random.default_rng(0))
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.1}.get(name, 0.01)
    history = train(net, X, T, TrainingConfig(optimizer=name, learning_rate=lr, max_epochs=30),
                    np.random.default_rng(0))
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]


def test_adam_matches_textbook_update():
    """One Adam step with folded bias correction equals Kingma & Ba's algorithm 1."""
    g = np.array([0.5, -2.0, 1e-3])
    p = np.array([1.0, 1.0, 1.0])
    adam = opt.Adam()
    adam.reset(p)
    for _ in range(2):
        adam.step(p, g, lr=0.1)
    m, v, expected = 0 * g, 0 * g, np.array([1.0, 1.0, 1.0])
    for t in (1, 2):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        expected = expected - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8 / np.sqrt(1 - 0.999**t))
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_nesterov_and_momentum_differ_from_sgd():
    g = np.array([1.0, -1.0])
    results = {}
    for name in ("sgd", "momentum", "nesterov"):
        o, p = opt.get_optimizer(name), np.zeros(2)
        o.reset(p)
        for _ in range(3):
            o.step(p, g, 0.1)
        results[name] = p
    np.testing.assert_allclose(results["sgd"], [-0.3, 0.3])
    np.testing.assert_allclose(results["momentum"], [-(0.1 + 0.19 + 0.271), 0.561])
    # Nesterov: p += mu v_new - lr g, with v: 0.1, 0.19, 0.271
    np.testing.assert_allclose(results["nesterov"], [-(0.19 + 0.271 + 0.3439), 0.8049])


def test_gradient_clipping_bounds_the_norm():
    o = opt.SGD(clip_norm=1.0)
    g = np.array([3.0, 4.0])
    o.clip(g, 5.0)
    np.testing.assert_allclose(g, [0.6, 0.8])


def test_schedules():
    assert schedules.StepDecay(1.0, step_size=10, factor=0.5).rate(25) == 0.25
    assert schedules.ExponentialDecay(1.0, decay=0.9).rate(2) == pytest.approx(0.81)
    cosine = schedules.Cosine(1.0, period=10, minimum=0.1)
    assert cosine.rate(0) == 1.0 and cosine.rate(10) == pytest.approx(0.1)
    assert cosine.rate(5) == pytest.approx(0.55)
    plateau = schedules.ReduceOnPlateau(1.0, factor=0.5, patience=2)
    rates = [plateau.rate(e, loss) for e, loss in enumerate([3, 2, 2, 2, 2, 2, 2])]
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]


def test_schedule_is_used_and_recorded(blobs):
    X, T = blobs
    history = train(_logistic(5), X, T,
                    TrainingConfig(learning_rate=schedules.StepDecay(0.1, step_size=2, factor=0.1),
                                   max_epochs=5), np.random.default_rng(0))
    np.testing.assert_allclose(history["learning_rate"], [0.1, 0.1, 0.01, 0.01, 0.001])


def test_larger_l2_shrinks_weights(blobs):
    X, T = blobs
    norms = []
    for l2 in (0.0, 0.01, 0.1):
        net = Network((5, 8, 1), "relu", "sigmoid").initialize(np.random.default_rng(0))
        train(net, X, T, TrainingConfig(l2=l2, learning_rate=0.01, max_epochs=100),
              np.random.default_rng(0))
        norms.append(np.linalg.norm(net.params[: net.n_weights]))
    assert norms[0] > norms[1] > norms[2]


def test_l1_drives_irrelevant_weights_to_zero(blobs):
    X, T = blobs
    rng = np.random.default_rng(1)
    X = np.hstack([X, rng.normal(size=(len(X), 10))])  # the label uses columns 0 and 1 only
    sizes = {}
    for l1 in (0.0, 0.05):
        net = _logistic(15)
        train(net, X, T, TrainingConfig(optimizer="sgd", learning_rate=0.1, batch_size=None,
                                        max_epochs=3000, l1=l1), np.random.default_rng(0))
        sizes[l1] = np.abs(net.weights[0][:, 0])
    assert sizes[0.0][2:].min() > 0.05
    assert sizes[0.05][2:].max() < 1e-2  # subgradient steps hover within ~lr * l1 of zero
    assert sizes[0.05][:2].min() > 0.5  # the informative weights survive


def test_dropout_is_inverted_and_off_at_prediction(blobs):
    X, _ = blobs
    net = Network((5, 50, 1), "relu", "sigmoid").initialize(np.random.default_rng(0))
    rng = np.random.default_rng(0)
    clean = net.logits(X)
    dropped = np.mean([net.forward(X, dropout=0.5, rng=rng).copy() for _ in range(2000)], axis=0)
    np.testing.assert_allclose(dropped, clean, atol=0.05 * np.abs(clean).max())
    assert not np.allclose(net.forward(X, dropout=0.5, rng=rng), clean)
    np.testing.assert_array_equal(net.logits(X), clean)  # prediction path: no dropout


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(40, 20)), rng.normal(size=(200, 20))
    T = (rng.random((40, 1)) < 0.5).astype(float)  # labels are noise: validation loss must rise
    T_val = (rng.random((200, 1)) < 0.5).astype(float)
    net = Network((20, 64, 1), "relu", "sigmoid").initialize(np.random.default_rng(0))
    config = TrainingConfig(learning_rate=0.01, max_epochs=500, patience=5)
    history = train(net, X, T, config, np.random.default_rng(0), validation=(X_val, T_val, None))
    best = int(np.argmin(history["val_loss"]))
    assert history["best_epoch"] == best
    assert len(history["val_loss"]) == best + 1 + 5  # stopped after `patience` worse epochs
    loss = get_loss("cross_entropy", "sigmoid")
    assert data_loss(net, loss, X_val, T_val) == pytest.approx(history["val_loss"][best], rel=1e-12)


def test_same_seed_gives_bitwise_identical_weights(blobs):
    X, T = blobs
    runs = []
    for seed in (7, 7, 8):
        net = Network((5, 16, 1), "relu", "sigmoid").initialize(np.random.default_rng(seed))
        train(net, X, T, TrainingConfig(dropout=0.2, max_epochs=5), np.random.default_rng(seed))
        runs.append(net.params.copy())
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_divergence_names_the_epoch_and_suggests_a_smaller_rate(blobs):
    X, T = blobs
    net = Network((5, 8, 1), "relu", "identity").initialize(np.random.default_rng(0))
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+.*smaller learning_rate"):
        train(net, X * 1e3, T, TrainingConfig(loss="squared_error", optimizer="sgd",
                                              learning_rate=10.0, max_epochs=50),
              np.random.default_rng(0))


def test_history_and_callbacks(blobs):
    X, T = blobs

    def record_norm(epoch, record, network):
        record["weight_norm"] = float(np.linalg.norm(network.params))

    history = train(_logistic(5), X, T, TrainingConfig(max_epochs=4), np.random.default_rng(0),
                    validation=(X, T, None), on_epoch_end=record_norm)
    per_epoch = {key: value for key, value in history.items() if key not in SUMMARY_KEYS}
    assert set(per_epoch) == {"train_loss", "learning_rate", "grad_norm", "val_loss", "weight_norm"}
    assert all(len(v) == 4 for v in per_epoch.values())
    assert set(history) - set(per_epoch) == {"converged", "stop_reason", "n_iter", "final_grad_norm"}


def test_float32_training_stays_float32(blobs):
    X, T = blobs
    net = Network((5, 8, 1), "relu", "sigmoid", np.float32).initialize(np.random.default_rng(0))
    history = train(net, X.astype(np.float32), T.astype(np.float32), TrainingConfig(max_epochs=20),
                    np.random.default_rng(0))
    assert net.params.dtype == np.float32
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_core_imports_only_numpy_and_the_standard_library():
    core = pathlib.Path(__file__).resolve().parents[1] / "pipeline" / "core"
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
