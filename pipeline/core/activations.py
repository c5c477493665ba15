"""Hidden-layer activations and output heads.

Each activation works in place on a pre-activation array ``z`` and has a
derivative written in terms of its *output* ``a = f(z)``, so backpropagation
needs nothing but what the forward pass already produced (as scikit-learn does).
"""

import numpy as np

from .hyperparameters import Hyperparameters


class Activation(Hyperparameters):
    """An elementwise nonlinearity: ``forward`` in place, ``backward`` multiplies a delta by f'."""

    name = "activation"
    trainable = True

    def forward(self, z, zeros=None):
        """Overwrite ``z`` (any shape) with ``f(z)`` and return it; ``zeros``: an optional
        array of zeros of z's shape (``np.maximum`` with an array is ~6x faster than with
        the scalar 0)."""
        raise NotImplementedError

    def backward(self, a, delta, scratch=None):
        """Multiply ``delta`` in place by ``f'(z)``, computed from the output ``a = f(z)``;
        ``scratch``: an optional bool array of a's shape to use instead of allocating."""
        raise NotImplementedError


class Identity(Activation):
    """f(z) = z. Stacked identity layers compute one linear map (a deep linear network)."""

    name = "identity"

    def forward(self, z, zeros=None):
        return z

    def backward(self, a, delta, scratch=None):
        return delta


class Sigmoid(Activation):
    """f(z) = 1 / (1 + exp(-z)); f' = a (1 - a)."""

    name = "sigmoid"

    def forward(self, z, zeros=None):
        return sigmoid(z, out=z)

    def backward(self, a, delta, scratch=None):
        delta *= a
        delta *= 1.0 - a
        return delta


class Tanh(Activation):
    """f(z) = tanh(z); f' = 1 - a**2."""

    name = "tanh"

    def forward(self, z, zeros=None):
        return np.tanh(z, out=z)

    def backward(self, a, delta, scratch=None):
        delta *= 1.0 - a * a
        return delta


class ReLU(Activation):
    """f(z) = max(0, z); f' = [a > 0]."""

    name = "relu"

    def forward(self, z, zeros=None):
        return np.maximum(z, 0.0 if zeros is None else zeros, out=z)

    def backward(self, a, delta, scratch=None):
        # Multiplying by the boolean mask is ~18x faster than heaviside/copyto(where=).
        delta *= a > 0 if scratch is None else np.greater(a, 0.0, out=scratch)
        return delta


class LeakyReLU(Activation):
    """f(z) = z for z > 0, slope * z otherwise; keeps a gradient for "dead" units."""

    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        if not 0.0 <= negative_slope < 1.0:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}.")
        self.negative_slope = float(negative_slope)

    def forward(self, z, zeros=None):
        # max(z, slope * z) equals the piecewise definition for 0 <= slope < 1.
        return np.maximum(z, self.negative_slope * z, out=z)

    def backward(self, a, delta, scratch=None):
        # a has the sign of z, so the mask can come from the output.
        delta *= np.where(a > 0, 1.0, self.negative_slope).astype(delta.dtype, copy=False)
        return delta


class Softplus(Activation):
    """f(z) = log(1 + exp(z)) (the lecture's "soft ReLU"); f' = sigmoid(z) = 1 - exp(-a)."""

    name = "softplus"

    def forward(self, z, zeros=None):
        return np.logaddexp(0.0, z, out=z)

    def backward(self, a, delta, scratch=None):
        delta *= -np.expm1(-a)
        return delta


class HardThreshold(Activation):
    """f(z) = 1 if z > 0 else 0: the perceptron's step. Forward only."""

    name = "hard_threshold"
    trainable = False

    def forward(self, z, zeros=None):
        np.greater(z, 0.0, out=z, casting="unsafe")
        return z

    def backward(self, a, delta, scratch=None):
        raise ValueError(
            "activation 'hard_threshold' cannot be trained by backpropagation: its gradient is "
            "zero almost everywhere. Use it only with hand-set weights, or train with "
            "'sigmoid', 'tanh' or 'relu'."
        )


ACTIVATIONS = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softplus, HardThreshold)
}
TRAINABLE_ACTIVATIONS = tuple(name for name, cls in ACTIVATIONS.items() if cls.trainable)


def get_activation(activation):
    """Return an :class:`Activation` from a name in ``ACTIVATIONS`` or an instance."""
    if isinstance(activation, Activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)} or an Activation instance, "
            f"got {activation!r}."
        )
    return ACTIVATIONS[activation]()


# --- output heads -----------------------------------------------------------


def sigmoid(z, out=None):
    """Logistic function, exact in both tails (no cancellation), overflow-safe."""
    with np.errstate(over="ignore"):
        # exp(-z) may overflow to inf for z << 0, giving exactly 1 / inf = 0.
        out = np.negative(z, out=out)
        np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)


def softmax(z):
    """Softmax over the last axis of logits ``z`` (n, K) (or (models, n, K)), shifted by
    the row maximum for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


HEADS = {"sigmoid": sigmoid, "softmax": softmax, "identity": lambda z: z.copy()}
