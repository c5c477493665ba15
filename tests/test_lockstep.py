"""Lock-step training: K folds trained together as one stacked model equal, bit for bit,
the same folds trained one by one with the same seeds (weights, histories, summaries), for
every optimizer, loss and head, mini-batch and full-batch, dropout, penalties, sample
weights, early stopping at different epochs, L-BFGS folds converging at different
iterations, and folds with different numbers of rows."""

import copy

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from pipeline.core import batches, stack
from pipeline.core import optimizers as opt
from pipeline.core.lockstep import Fold, train_folds
from pipeline.core.losses import LOSS_NAMES, get_loss
from pipeline.core.network import Network
from pipeline.core.objectives import compute_gradient
from pipeline.core.schedules import ReduceOnPlateau
from pipeline.core.stack import StackedNetwork
from pipeline.core.training import TrainingConfig, TrainingDivergedError, train
from pipeline.estimators import NeuralNetClassifier, NeuralNetRegressor

OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), 1 - y
SIZES = (70, 64, 70, 37)  # unequal: ragged last batches, a fold with one batch fewer


def _fold(seed, n, head="sigmoid", n_inputs=6, weighted=False, n_val=0):
    rng = np.random.default_rng(seed)

    def targets(X):
        if head == "sigmoid":
            return (X[:, :1] - 0.5 * X[:, 1:2] + 0.7 * rng.normal(size=(len(X), 1)) > 0) * 1.0
        if head == "softmax":
            return np.eye(3)[np.argmax(X[:, :3] + rng.normal(size=(len(X), 3)), axis=1)]
        return X[:, :2] @ rng.normal(size=(2, 2)) + 0.1 * rng.normal(size=(len(X), 2))

    X = rng.normal(size=(n, n_inputs))
    weights = rng.uniform(0.2, 3.0, size=n) if weighted else None
    validation = None
    if n_val:
        X_val = rng.normal(size=(n_val, n_inputs))
        validation = (X_val, targets(X_val), None)
    return Fold(X, targets(X), weights, validation)


def _networks(n, hidden, head, activation="relu", dtype=np.float64, n_inputs=6):
    sizes = (n_inputs, *hidden, OUTPUTS[head])
    return [Network(sizes, activation, head, dtype).initialize(np.random.default_rng(100 + k))
            for k in range(n)]


def _both(config, folds, hidden=(8, 5), head="sigmoid", activation="relu", dtype=np.float64):
    """(lock-step histories and networks, one-by-one histories and networks)."""
    nets = _networks(len(folds), hidden, head, activation, dtype)
    alone = copy.deepcopy(nets)
    stacked = train_folds(nets, folds, config, [np.random.default_rng(k) for k in range(len(folds))])
    single = [train(net, f.X, f.T, config, np.random.default_rng(k), f.weights, f.validation,
                    f.on_epoch_end) for k, (net, f) in enumerate(zip(alone, folds))]
    return (stacked, nets), (single, alone)


def _assert_identical(both):
    (stacked, nets), (single, alone) = both
    for k, (a, b) in enumerate(zip(nets, alone)):
        assert np.array_equal(a.params, b.params), f"fold {k}: weights differ"
        assert stacked[k] == single[k], f"fold {k}: histories differ"  # exact float equality
        assert a.params.dtype == b.params.dtype


@pytest.mark.parametrize("name", [n for n in sorted(opt.OPTIMIZERS) if n != "lbfgs"])
@pytest.mark.parametrize("batch_size", [16, None])
def test_every_first_order_optimizer_equals_one_by_one(name, batch_size):
    config = TrainingConfig(optimizer=name, learning_rate=0.01, batch_size=batch_size, max_epochs=6)
    _assert_identical(_both(config, [_fold(k, n) for k, n in enumerate(SIZES)]))


@pytest.mark.parametrize("head,loss", [(h, n) for h, names in LOSS_NAMES.items() for n in names])
def test_every_loss_and_head_equals_one_by_one(head, loss):
    config = TrainingConfig(loss=loss, learning_rate=0.01, batch_size=16, max_epochs=4)
    folds = [_fold(k, n, head, n_val=11 + k) for k, n in enumerate(SIZES)]
    _assert_identical(_both(config, folds, head=head, activation="tanh"))


def test_dropout_penalties_weights_and_clipping_equal_one_by_one():
    config = TrainingConfig(optimizer=opt.Adam(clip_norm=0.5), learning_rate=0.01, batch_size=8,
                            max_epochs=5, l1=1e-3, l2=1e-2, dropout=0.3)
    folds = [_fold(k, n, weighted=True) for k, n in enumerate(SIZES)]
    _assert_identical(_both(config, folds, hidden=(9, 7), activation="sigmoid"))


@pytest.mark.parametrize("activation", ["identity", "leaky_relu", "softplus"])
def test_float32_and_other_activations_equal_one_by_one(activation):
    config = TrainingConfig(learning_rate=0.01, batch_size=10, max_epochs=4, dropout=0.1)
    folds = [_fold(k, n) for k, n in enumerate(SIZES)]
    _assert_identical(_both(config, folds, activation=activation, dtype=np.float32))


def test_pure_sgd_and_folds_smaller_than_a_batch():
    config = TrainingConfig(optimizer="sgd", learning_rate=0.05, batch_size=1, max_epochs=3)
    _assert_identical(_both(config, [_fold(k, n) for k, n in enumerate((9, 12, 7))]))
    config = TrainingConfig(learning_rate=0.01, batch_size=40, max_epochs=5)
    _assert_identical(_both(config, [_fold(k, n) for k, n in enumerate((90, 40, 25))]))


def test_early_stopping_at_different_epochs_restores_each_best_epoch():
    config = TrainingConfig(learning_rate=0.03, batch_size=16, max_epochs=300, patience=4)
    folds = [_fold(k, n, n_val=15) for k, n in enumerate(SIZES)]
    both = _both(config, folds, hidden=(32,))
    _assert_identical(both)
    histories = both[0][0]
    assert all(h["stop_reason"] == "early_stopping" for h in histories)
    assert len({h["n_iter"] for h in histories}) > 1  # the folds stopped at different epochs
    for h in histories:
        assert h["n_iter"] == h["best_epoch"] + 1 + 4


def test_folds_with_and_without_validation_and_per_fold_schedules():
    config = TrainingConfig(learning_rate=ReduceOnPlateau(0.05, patience=1, factor=0.5),
                            batch_size=16, max_epochs=12)
    folds = [_fold(k, n, n_val=(20 if k % 2 else 0)) for k, n in enumerate(SIZES)]
    both = _both(config, folds)
    _assert_identical(both)
    rates = [h["learning_rate"] for h in both[0][0]]
    assert any(r != rates[0] for r in rates)  # each fold's schedule reacted to its own loss


@pytest.mark.parametrize("hidden", [(), (6,)])
def test_lbfgs_folds_converging_at_different_iterations(hidden):
    config = TrainingConfig(optimizer="lbfgs", l2=1e-2, max_epochs=500)
    both = _both(config, [_fold(k, n, weighted=bool(hidden)) for k, n in enumerate(SIZES)],
                 hidden=hidden, activation="tanh")
    _assert_identical(both)
    histories = both[0][0]
    assert all(h["converged"] for h in histories)
    assert len({h["n_iter"] for h in histories}) > 1  # converged folds stopped updating


def test_lbfgs_early_stopping():
    config = TrainingConfig(optimizer="lbfgs", max_epochs=300, patience=3)
    both = _both(config, [_fold(k, n, n_val=25) for k, n in enumerate(SIZES)], hidden=(16,),
                 activation="tanh")
    _assert_identical(both)
    assert any(h["stop_reason"] == "early_stopping" for h in both[0][0])


def test_chunked_full_gradient_with_a_chunk_without_weight(monkeypatch):
    """Over CHUNK_ROWS rows the full gradient is taken in chunks; a chunk where one fold has
    no weight is taken fold by fold. Still identical to one by one."""
    monkeypatch.setattr(stack, "CHUNK_ROWS", 16)
    folds = [_fold(k, n, weighted=True) for k, n in enumerate(SIZES)]
    folds[0].weights[16:32] = 0.0  # folds 0 and 2 are of one size: stacked in one group
    for config in (TrainingConfig(optimizer="lbfgs", l2=1e-3, max_epochs=40),
                   TrainingConfig(learning_rate=0.01, batch_size=32, max_epochs=3)):
        _assert_identical(_both(config, folds, hidden=(5,), activation="tanh"))


def test_gathered_batches_equal_a_shuffled_copy(monkeypatch):
    """Data too large for a shuffled copy are gathered batch by batch: the same numbers."""
    config = TrainingConfig(learning_rate=0.01, batch_size=16, max_epochs=4, dropout=0.2)
    folds = [_fold(k, n, weighted=True) for k, n in enumerate(SIZES)]
    copied = _both(config, folds)
    monkeypatch.setattr(batches, "COPY_LIMIT_BYTES", 0)
    gathered = _both(config, folds)
    _assert_identical(gathered)
    assert all(np.array_equal(a.params, b.params) for a, b in zip(copied[0][1], gathered[0][1]))


def test_callbacks_see_their_own_fold_network():
    seen = {k: [] for k in range(3)}

    def watcher(k):
        def on_epoch_end(epoch, record, network):
            record["weight_norm"] = float(np.linalg.norm(network.params))
            seen[k].append(epoch)
        return on_epoch_end

    folds = [_fold(k, n) for k, n in enumerate((50, 40, 45))]
    for k, fold in enumerate(folds):
        fold.on_epoch_end = [watcher(k)]
    both = _both(TrainingConfig(learning_rate=0.01, batch_size=16, max_epochs=3), folds)
    _assert_identical(both)
    assert seen == {k: [0, 1, 2] * 2 for k in range(3)}  # lock-step, then one by one
    assert len({h["weight_norm"][-1] for h in both[0][0]}) == 3


def test_a_diverging_fold_is_named():
    folds = [_fold(k, n, "identity") for k, n in enumerate((40, 30))]
    folds[1].X[:] *= 1e3
    config = TrainingConfig(loss="squared_error", optimizer="sgd", learning_rate=10.0, max_epochs=50)
    nets = _networks(2, (8,), "identity")
    with pytest.raises(TrainingDivergedError, match=r"^fold 1: training diverged at epoch \d+"):
        train_folds(nets, folds, config, [np.random.default_rng(k) for k in range(2)])


def test_a_diverging_fold_is_named_before_its_validation_scores_see_its_predictions():
    """A score that refuses non-finite predictions (as AUROC does) must not mask divergence."""
    def finite_only(T, predicted):
        assert np.isfinite(predicted).all(), "scored a diverged network"
        return 0.0

    folds = [_fold(k, n, "sigmoid", n_val=10) for k, n in enumerate((40, 30))]
    for fold in folds:
        fold.val_scores = {"val_finite": finite_only}
    config = TrainingConfig(optimizer="sgd", learning_rate=1e300, max_epochs=5)
    with pytest.raises(TrainingDivergedError, match=r"^fold 0: training diverged at epoch \d+"):
        train_folds(_networks(2, (8,), "sigmoid"), folds, config,
                    [np.random.default_rng(k) for k in range(2)])


def test_invalid_inputs():
    folds = [_fold(k, 30) for k in range(2)]
    rngs = [np.random.default_rng(k) for k in range(2)]
    config = TrainingConfig(max_epochs=1)
    with pytest.raises(ValueError, match="one network, fold and generator per model"):
        train_folds(_networks(2, (4,), "sigmoid"), folds, config, rngs[:1])
    with pytest.raises(ValueError, match="must share layer sizes"):
        train_folds(_networks(1, (4,), "sigmoid") + _networks(1, (5,), "sigmoid"), folds, config,
                    rngs)
    with pytest.raises(ValueError, match=r"fold 1: X has shape \(30, 5\).*take 6 columns"):
        train_folds(_networks(2, (4,), "sigmoid"), [folds[0], Fold(folds[1].X[:, :5], folds[1].T)],
                    config, rngs)
    folds[0].weights = np.ones(30)
    with pytest.raises(ValueError, match="sample weights for every fold or for none"):
        train_folds(_networks(2, (4,), "sigmoid"), folds, config, rngs)


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_stacked_gradient_equals_the_reference_network(dropout):
    """The stacked arithmetic (bias folded into the weights) computes the gradient of the
    reference ``Network`` (held to finite differences in test_core_gradients), up to the
    summation order of the bias terms (~1e-16 relative)."""
    fold = _fold(0, 23, "softmax", weighted=True)
    nets = _networks(3, (7, 4), "softmax", "tanh")
    net_stack = StackedNetwork.from_networks(nets)
    X = np.broadcast_to(fold.X, (3, 23, 6))
    T = np.broadcast_to(fold.T, (3, 23, 3))
    w = np.broadcast_to(fold.weights, (3, 23))
    loss = get_loss("cross_entropy", "softmax")
    rngs = [np.random.default_rng(k) for k in range(3)]
    losses = net_stack.batch_gradient(slice(0, 3), X, T, w, loss, 0.01, 0.02, dropout,
                                      rngs if dropout else None)
    for k, net in enumerate(nets):
        masks = None
        if dropout:  # the same draws, replayed through the reference's fixed-mask forward
            draw = np.random.default_rng(k)
            masks = [(draw.random((23, u)) >= dropout) / (1.0 - dropout) for u in (7, 4)]
        value = compute_gradient(net, loss, fold.X, fold.T, fold.weights, 0.01, 0.02, masks=masks)
        assert losses[k] == pytest.approx(value, rel=1e-13)
        reference = Network(net.layer_sizes, "tanh", "softmax")
        reference.params[:] = net.grad
        got = Network(net.layer_sizes, "tanh", "softmax")
        net_stack.store(k, got, net_stack.grad[k])
        np.testing.assert_allclose(got.params, reference.params, rtol=1e-12, atol=1e-15)


# --- the estimators: fit_folds equals fitting each fold alone ---------------------------------


def _estimator_folds(cancer, n_folds=4):
    X, y = cancer
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    out = []
    for k, test in enumerate(np.array_split(order, n_folds)):
        train = np.setdiff1d(order, test)[: 300 - 7 * k]  # unequal row counts
        fit, val = train[:-60], train[-60:]
        out.append((X[fit], y[fit], X[val], y[val], 10 + k))
    return out


def _same_fit(a, b):
    assert all(np.array_equal(u, v) for u, v in zip(a.coefs_, b.coefs_))
    assert all(np.array_equal(u, v) for u, v in zip(a.intercepts_, b.intercepts_))
    assert a.history_ == b.history_
    for key in ("n_epochs_", "best_epoch_", "converged_", "stop_reason_", "n_iter_",
                "final_grad_norm_"):
        assert getattr(a, key) == getattr(b, key), key


@pytest.mark.parametrize("params", [
    dict(hidden_layer_sizes=(16, 8), max_epochs=15, class_weight="balanced"),
    dict(hidden_layer_sizes=(12,), max_epochs=200, early_stopping=True, patience=3,
         learning_rate=0.01),
    dict(hidden_layer_sizes=(), optimizer="lbfgs", l2=1e-3),
])
def test_fit_folds_equals_fitting_each_fold(cancer, params):
    template = NeuralNetClassifier(**params)
    folds = _estimator_folds(cancer)
    models = template.fit_folds(folds, on_epoch_end=[print_nothing] * len(folds))
    for model, (X, y, X_val, y_val, seed) in zip(models, folds):
        alone = clone(template).set_params(random_state=seed).fit(
            X, y, validation_data=(X_val, y_val), on_epoch_end=print_nothing)
        _same_fit(model, alone)
        assert model.random_state == seed
    assert template.get_params() == NeuralNetClassifier(**params).get_params()  # not fitted


@pytest.mark.parametrize("params", [dict(hidden_layer_sizes=(12,), max_epochs=30, batch_size=32),
                                    dict(hidden_layer_sizes=(), optimizer="lbfgs", l2=1e-3)])
def test_validation_scores_equal_what_a_callback_predicting_the_rows_itself_records(cancer, params):
    """A fold's val_scores see its network's outputs on its validation rows, from the pass
    that gives val_loss: the same numbers as a callback predicting those rows each epoch."""
    folds = _estimator_folds(cancer)

    def predicted(X_val, y_val):
        def on_epoch_end(epoch, record, network):
            p = network.predict(X_val)[:, 0]
            record["ref_auroc"], record["ref_mean"] = roc_auc_score(y_val, p), float(p.mean())
        return [on_epoch_end]

    scores = {"val_auroc": lambda T, P: roc_auc_score(T[:, 0], P[:, 0]),
              "val_mean": lambda T, P: float(P[:, 0].mean())}
    models = NeuralNetClassifier(**params).fit_folds(
        folds, on_epoch_end=[predicted(X_val, y_val) for _, _, X_val, y_val, _ in folds],
        val_scores=scores)
    for model in models:
        history = model.history_
        assert len(history["val_auroc"]) == model.n_epochs_ > 1
        assert history["val_auroc"] == history["ref_auroc"]
        np.testing.assert_allclose(history["val_mean"], history["ref_mean"], rtol=1e-13, atol=0)


def test_fit_folds_carves_validation_like_fit_and_takes_sample_weights(cancer):
    template = NeuralNetClassifier((8,), max_epochs=40, early_stopping=True, patience=3)
    folds = [(X, y, None, None, seed) for X, y, _, _, seed in _estimator_folds(cancer, 3)]
    weights = [np.where(y == 1, 2.0, 1.0) for _, y, _, _, _ in folds]
    models = template.fit_folds(folds, sample_weight=weights)
    for model, (X, y, _, _, seed), w in zip(models, folds, weights):
        _same_fit(model, clone(template).set_params(random_state=seed).fit(X, y, w))


def test_regressor_fit_folds(cancer):
    X, y = cancer
    target = X[:, 0] + 0.1 * X[:, 1]
    folds = [(X[:200 + 30 * k], target[:200 + 30 * k], None, None, k) for k in range(3)]
    template = NeuralNetRegressor((6,), max_epochs=10, learning_rate=0.01)
    for model, (Xk, yk, _, _, seed) in zip(template.fit_folds(folds), folds):
        _same_fit(model, clone(template).set_params(random_state=seed).fit(Xk, yk))


def test_fit_folds_checks_its_arguments(cancer):
    folds = _estimator_folds(cancer, 2)
    with pytest.raises(ValueError, match="one sample_weight and on_epoch_end entry per fold"):
        NeuralNetClassifier((4,)).fit_folds(folds, on_epoch_end=[None])
    with pytest.raises(ValueError, match="must share layer sizes"):  # 5 inputs, not 30
        X, y, X_val, y_val, seed = folds[1]
        NeuralNetClassifier((4,)).fit_folds([folds[0], (X[:, :5], y, X_val[:, :5], y_val, seed)])


def print_nothing(epoch, record, network):
    """A callback that reads the fold's network, as the experiment's validation AUROC does."""
    record["output_at_zero"] = float(network.predict(np.zeros((1, network.layer_sizes[0])))[0, 0])
