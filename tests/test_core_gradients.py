"""Backprop against central finite differences, for every activation x loss x head,
with l1 and l2 on, with sample weights, for 0, 1 and 3 hidden layers."""

import itertools

import numpy as np
import pytest

from pipeline.core.activations import TRAINABLE_ACTIVATIONS, LeakyReLU
from pipeline.core.gradcheck import compare_gradients, numerical_gradient
from pipeline.core.losses import LOSS_NAMES, get_loss
from pipeline.core.network import Network
from pipeline.core.training import compute_gradient, objective

HEAD_OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}
CASES = [
    (head, loss, activation, hidden)
    for head, loss in ((h, name) for h, names in LOSS_NAMES.items() for name in names)
    for activation, hidden in itertools.product(TRAINABLE_ACTIVATIONS, [(), (5,), (4, 3, 4)])
    if activation == "relu" or hidden  # no hidden layer: the activation is unused
]


def _problem(head, n_outputs, rng, n=7, n_inputs=4):
    X = rng.normal(size=(n, n_inputs))
    if head == "sigmoid":
        T = rng.integers(0, 2, size=(n, 1)).astype(float)
    elif head == "softmax":
        T = np.eye(n_outputs)[rng.integers(0, n_outputs, size=n)]
    else:
        # Targets well away from the initial outputs (|z| < ~3): no |z - t| kink near.
        T = rng.choice([-1.0, 1.0], size=(n, n_outputs)) * rng.uniform(4.0, 6.0, size=(n, n_outputs))
    weights = rng.uniform(0.5, 2.0, size=n)
    return X, T, weights


def _smallest_hidden_preactivation(net, X):
    a, smallest = X, np.inf
    for w, b in zip(net.weights[:-1], net.biases[:-1]):
        z = a @ w + b
        smallest = min(smallest, np.abs(z).min())
        a = net.activation.forward(z)
    return smallest


def _network_away_from_kinks(sizes, activation, head, X, seed):
    """Finite differences are only valid where the objective is smooth: redraw the
    weights until no hidden pre-activation (ReLU kink) or weight (l1 kink) is near 0."""
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt])
        net = Network(sizes, activation, head).initialize(rng)
        weights = net.params[: net.n_weights]
        weights += 0.1 * np.sign(weights)
        net.params[net.n_weights:] = rng.normal(scale=0.1, size=net.params.size - net.n_weights)
        if _smallest_hidden_preactivation(net, X) > 1e-2:
            return net
    raise RuntimeError("no smooth starting point found")


@pytest.mark.parametrize("head,loss_name,activation,hidden", CASES)
def test_backprop_matches_finite_differences(head, loss_name, activation, hidden):
    rng = np.random.default_rng(0)
    n_outputs = HEAD_OUTPUTS[head]
    X, T, weights = _problem(head, n_outputs, rng)
    net = _network_away_from_kinks((X.shape[1], *hidden, n_outputs), activation, head, X, seed=1)
    loss = get_loss(loss_name, head)
    l1, l2 = 0.01, 0.03

    compute_gradient(net, loss, X, T, weights, l1, l2)
    ours = net.grad.copy()
    reference = numerical_gradient(lambda: objective(net, loss, X, T, weights, l1, l2), net.params)
    compare_gradients(ours, reference, tolerance=1e-6)


def test_leaky_relu_slope_gradient():
    rng = np.random.default_rng(1)
    X, T, weights = _problem("sigmoid", 1, rng)
    net = Network((4, 6, 1), LeakyReLU(0.2), "sigmoid").initialize(rng)
    loss = get_loss("cross_entropy", "sigmoid")
    compute_gradient(net, loss, X, T, weights)
    reference = numerical_gradient(lambda: objective(net, loss, X, T, weights), net.params)
    compare_gradients(net.grad.copy(), reference, tolerance=1e-6)


def test_gradient_checker_reports_a_wrong_gradient():
    with pytest.raises(AssertionError, match="gradient mismatch at parameter 1"):
        compare_gradients(np.array([1.0, 2.0]), np.array([1.0, 2.1]), tolerance=1e-6)


def test_float32_gradient_close_to_float64():
    rng = np.random.default_rng(2)
    X, T, weights = _problem("sigmoid", 1, rng)
    grads = []
    for dtype in (np.float64, np.float32):
        net = Network((4, 5, 1), "tanh", "sigmoid", dtype).initialize(np.random.default_rng(3))
        compute_gradient(net, get_loss("cross_entropy", "sigmoid"), X.astype(dtype), T.astype(dtype))
        assert net.grad.dtype == dtype
        grads.append(net.grad.astype(np.float64))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_dropout_backprop_matches_finite_differences_with_the_mask_held_fixed(activation):
    """Dropout makes J random; with the masks of one draw held fixed it is an ordinary
    function of the weights, and backprop through that pass must be its gradient."""
    rng = np.random.default_rng(4)
    X, T, weights = _problem("softmax", 3, rng, n=8)
    net = _network_away_from_kinks((4, 6, 5, 3), activation, "softmax", X, seed=2)
    loss, l2 = get_loss("cross_entropy", "softmax"), 0.03
    drawn = net.forward(X, dropout=0.4, rng=np.random.default_rng(0)).copy()
    masks = [m.copy() for m in net.dropout_masks]
    assert len(masks) == 2 and all(set(np.unique(m)) == {0.0, 1 / 0.6} for m in masks)
    np.testing.assert_array_equal(net.forward(X, masks=masks), drawn)  # the same pass, replayed

    def fixed_mask_objective():
        values = loss.value(net.forward(X, masks=masks), T)
        return float(values @ weights / weights.sum()) + objective_penalty(net, l2)

    compute_gradient(net, loss, X, T, weights, 0.0, l2, masks=masks)
    ours = net.grad.copy()
    reference = numerical_gradient(fixed_mask_objective, net.params)
    compare_gradients(ours, reference, tolerance=1e-6)
    # A unit dropped for every row feeds nothing forward: its outgoing weights get only
    # the penalty's gradient, and its incoming ones only the penalty's too.
    masks[0][:, 0] = 0.0
    compute_gradient(net, loss, X, T, weights, 0.0, l2, masks=masks)
    np.testing.assert_allclose(net.weight_grads[1][0], l2 * net.weights[1][0], rtol=1e-12)
    np.testing.assert_allclose(net.weight_grads[0][:, 0], l2 * net.weights[0][:, 0], rtol=1e-12)


def objective_penalty(net, l2):
    w = net.params[: net.n_weights]
    return 0.5 * l2 * float(w @ w)


def test_masks_must_match_the_hidden_layers():
    net = Network((3, 4, 1), "relu", "sigmoid").initialize(np.random.default_rng(0))
    with pytest.raises(ValueError, match="one array per hidden layer"):
        net.forward(np.ones((2, 3)), masks=[np.ones((2, 4)), np.ones((2, 1))])
