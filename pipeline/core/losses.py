"""Per-sample losses and their gradients with respect to the output logits.

Each loss pairs with an output head (sigmoid for one binary unit, softmax for K
classes, identity for regression). ``value`` returns the per-sample loss and
``delta`` writes dL_i/dz_i, so the training objective of DESIGN.md,

    J = sum_i s_i L_i / sum_i s_i + l1 sum|W| + (l2 / 2) sum W**2,

only needs the sample weights ``s`` on top (see ``training.py``).

With sigmoid + cross-entropy, softmax + cross-entropy and identity + squared
error, the output delta is the same expression ``y_hat - t``.
"""

import numpy as np

from .activations import sigmoid, softmax


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax_backward(p, grad_p):
    """Chain a gradient w.r.t. softmax probabilities back to the logits: p * (g - <g, p>)."""
    return p * (grad_p - (grad_p * p).sum(axis=-1, keepdims=True))


class Loss:
    """Base class: ``value(z, t) -> (n,)`` and ``delta(z, t, out) -> (n, k)``.

    Rows are along the second-last axis, outputs along the last: a stack of K models'
    batches, (K, n, k), gives (K, n) values, each row computed as on its own.
    """

    name = "loss"
    head = "identity"

    def value(self, z, t):
        raise NotImplementedError

    def delta(self, z, t, out):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


# --- binary: one sigmoid unit, t in {0, 1}, z of shape (n, 1) ----------------


class BinaryCrossEntropy(Loss):
    """-[t log p + (1-t) log(1-p)] = softplus(z) - t z, computed from the logit (stable)."""

    name, head = "cross_entropy", "sigmoid"

    def value(self, z, t):
        return (np.logaddexp(0.0, z) - t * z)[..., 0]

    def delta(self, z, t, out):
        sigmoid(z, out=out)
        out -= t
        return out


class BinarySquaredError(Loss):
    """0.5 (p - t)**2 on the probability; dL/dz = (p - t) p (1 - p) (saturates, as the lecture warns)."""

    name, head = "squared_error", "sigmoid"

    def value(self, z, t):
        return 0.5 * ((sigmoid(z) - t) ** 2)[..., 0]

    def delta(self, z, t, out):
        p = sigmoid(z)
        np.subtract(p, t, out=out)
        out *= p
        out *= 1.0 - p
        return out


class BinaryAbsoluteError(Loss):
    """|p - t| on the probability; dL/dz = sign(p - t) p (1 - p)."""

    name, head = "absolute_error", "sigmoid"

    def value(self, z, t):
        return np.abs(sigmoid(z) - t)[..., 0]

    def delta(self, z, t, out):
        p = sigmoid(z)
        np.sign(p - t, out=out)
        out *= p
        out *= 1.0 - p
        return out


# --- multiclass: K softmax units, t one-hot (n, K) --------------------------


class CategoricalCrossEntropy(Loss):
    """-log p_true = logsumexp(z) - z_true; dL/dz = p - t."""

    name, head = "cross_entropy", "softmax"

    def value(self, z, t):
        return -(t * _log_softmax(z)).sum(axis=-1)

    def delta(self, z, t, out):
        np.subtract(softmax(z), t, out=out)
        return out


class CategoricalSquaredError(Loss):
    """0.5 sum_k (p_k - t_k)**2 on the softmax probabilities."""

    name, head = "squared_error", "softmax"

    def value(self, z, t):
        return 0.5 * ((softmax(z) - t) ** 2).sum(axis=-1)

    def delta(self, z, t, out):
        p = softmax(z)
        out[...] = _softmax_backward(p, p - t)
        return out


class CategoricalAbsoluteError(Loss):
    """sum_k |p_k - t_k| on the softmax probabilities."""

    name, head = "absolute_error", "softmax"

    def value(self, z, t):
        return np.abs(softmax(z) - t).sum(axis=-1)

    def delta(self, z, t, out):
        p = softmax(z)
        out[...] = _softmax_backward(p, np.sign(p - t))
        return out


# --- regression: identity head, t of shape (n, n_outputs) --------------------


class SquaredError(Loss):
    """0.5 sum_k (z_k - t_k)**2; dL/dz = z - t."""

    name, head = "squared_error", "identity"

    def value(self, z, t):
        return 0.5 * ((z - t) ** 2).sum(axis=-1)

    def delta(self, z, t, out):
        np.subtract(z, t, out=out)
        return out


class AbsoluteError(Loss):
    """sum_k |z_k - t_k|; dL/dz = sign(z - t)."""

    name, head = "absolute_error", "identity"

    def value(self, z, t):
        return np.abs(z - t).sum(axis=-1)

    def delta(self, z, t, out):
        np.sign(z - t, out=out)
        return out


LOSSES = {
    (cls.head, cls.name): cls
    for cls in (
        BinaryCrossEntropy, BinarySquaredError, BinaryAbsoluteError,
        CategoricalCrossEntropy, CategoricalSquaredError, CategoricalAbsoluteError,
        SquaredError, AbsoluteError,
    )
}
LOSS_NAMES = {head: tuple(n for h, n in LOSSES if h == head) for head in ("sigmoid", "softmax", "identity")}


def get_loss(name, head):
    """Return the loss ``name`` for output head ``head``; ValueError lists the valid names."""
    if head not in LOSS_NAMES:
        raise ValueError(f"head must be one of {sorted(LOSS_NAMES)}, got {head!r}.")
    if (head, name) not in LOSSES:
        raise ValueError(
            f"loss must be one of {list(LOSS_NAMES[head])} for a {head} output, got {name!r}."
        )
    return LOSSES[(head, name)]()
