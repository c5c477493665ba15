"""The lecture's examples (../shared/seed): the backprop worked example, XOR and its
feature map, the perceptron's hard threshold, and deep linear networks."""

import numpy as np
import pytest

from pipeline.core.activations import Identity
from pipeline.core.network import Network, linear_network
from pipeline.core.training import TrainingConfig, train
from pipeline.estimators import NeuralNetClassifier

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def test_worked_example_chain_rule():
    """f(x, y, z) = (x + y) z at (-1, 2, 3) as a two-layer linear network:
    q = [x y] @ [[1], [1]] and f = q @ [[z]], so z is the second layer's weight.

    The slides print f = -3 and df/dx = df/dy = -3; by hand, q = 1, f = q z = 3,
    df/dz = q = 1 and df/dx = df/dy = z = 3. The core agrees with the hand
    computation (the slides' signs come from cs231n's original x=-2, y=5, z=-4).
    """
    net = Network((2, 1, 1), Identity(), "identity")
    net.set_weights([np.array([[1.0], [1.0]]), np.array([[3.0]])], [np.zeros(1), np.zeros(1)])
    f = net.forward(np.array([[-1.0, 2.0]]))
    assert f[0, 0] == 3.0
    df_dxy = net.backward(np.array([[1.0]]), input_grad=True)  # baseline df/df = 1
    np.testing.assert_array_equal(df_dxy, [[3.0, 3.0]])
    assert net.weight_grads[1][0, 0] == 1.0  # df/dz = q
    np.testing.assert_array_equal(net.weight_grads[0], [[-3.0], [6.0]])  # dq-weights: x * z, y * z


def test_logistic_regression_cannot_learn_xor():
    model = NeuralNetClassifier(
        hidden_layer_sizes=(), optimizer="adam", learning_rate=0.1, batch_size=None,
        max_epochs=2000, random_state=0,
    ).fit(XOR_X, XOR_Y)
    assert model.score(XOR_X, XOR_Y) <= 0.75


def test_mlp_with_two_tanh_units_learns_xor():
    model = NeuralNetClassifier(
        hidden_layer_sizes=(2,), activation="tanh", optimizer="adam", learning_rate=0.1,
        batch_size=None, max_epochs=2000, random_state=0,
    ).fit(XOR_X, XOR_Y)
    assert model.score(XOR_X, XOR_Y) == 1.0
    assert model.history_["train_loss"][-1] < 0.05


def test_logistic_regression_on_feature_map_learns_xor():
    features = np.column_stack([XOR_X, XOR_X[:, 0] * XOR_X[:, 1]])  # psi(x) = (x1, x2, x1 x2)
    model = NeuralNetClassifier(
        hidden_layer_sizes=(), optimizer="adam", learning_rate=0.1, batch_size=None,
        max_epochs=2000, random_state=0,
    ).fit(features, XOR_Y)
    assert model.score(features, XOR_Y) == 1.0


def test_hand_set_hard_threshold_network_computes_xor():
    """h1 = [x1 + x2 > 0.5] (OR), h2 = [x1 + x2 > 1.5] (AND), y = [h1 - h2 > 0.5]."""
    net = Network((2, 2, 1), "hard_threshold", "identity")
    net.set_weights(
        [np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[1.0], [-1.0]])],
        [np.array([-0.5, -1.5]), np.array([-0.5])],
    )
    np.testing.assert_array_equal((net.logits(XOR_X)[:, 0] > 0).astype(int), XOR_Y)


def test_training_through_hard_threshold_is_refused():
    net = Network((2, 2, 1), "hard_threshold", "sigmoid").initialize(np.random.default_rng(0))
    with pytest.raises(ValueError, match="gradient is zero almost everywhere"):
        train(net, XOR_X, XOR_Y[:, None], TrainingConfig(max_epochs=1), np.random.default_rng(0))


def test_deep_linear_network_is_one_linear_map():
    """y = x W1 W2 W3 (+ biases): a deep linear network is no more expressive than one layer."""
    rng = np.random.default_rng(0)
    net = linear_network((4, 6, 5, 3)).initialize(rng)
    net.params[net.n_weights:] = rng.normal(size=net.params.size - net.n_weights)
    (w1, w2, w3), (b1, b2, b3) = net.weights, net.biases
    single = Network((4, 3), Identity(), "identity")
    single.set_weights([w1 @ w2 @ w3], [(b1 @ w2 + b2) @ w3 + b3])
    X = rng.normal(size=(20, 4))
    np.testing.assert_allclose(net.predict(X), single.predict(X), rtol=1e-12, atol=1e-12)
