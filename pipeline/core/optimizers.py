"""First-order optimizers updating a flat parameter vector in place.

Every optimizer sees the whole network as one vector ``params`` with gradient
``grad`` (see ``network.py``), so one step is a handful of in-place array
operations regardless of depth. ``step(params, grad, lr)`` takes the learning
rate from the schedule each epoch.
"""

import numpy as np

from .hyperparameters import Hyperparameters


class Optimizer(Hyperparameters):
    """Base class. ``clip_norm`` rescales the gradient when its L2 norm exceeds it."""

    name = "optimizer"

    def __init__(self, clip_norm=None):
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be a positive float or None, got {clip_norm!r}.")
        self.clip_norm = clip_norm

    def reset(self, params):
        """Allocate the state (moments, accumulators) for ``params``."""
        self._tmp = np.empty_like(params)

    def step(self, params, grad, lr):
        raise NotImplementedError

    def clip(self, grad, norm):
        """Rescale ``grad`` in place to ``clip_norm`` when ``norm`` exceeds it."""
        if self.clip_norm is not None and norm > self.clip_norm:
            grad *= float(self.clip_norm / norm)


class SGD(Optimizer):
    """p <- p - lr g. With full batches this is plain gradient descent."""

    name = "sgd"

    def step(self, params, grad, lr):
        np.multiply(grad, float(lr), out=self._tmp)
        params -= self._tmp


class Momentum(Optimizer):
    """Heavy ball: v <- mu v - lr g;  p <- p + v."""

    name = "momentum"

    def __init__(self, momentum=0.9, clip_norm=None):
        super().__init__(clip_norm)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        self.momentum = momentum

    def reset(self, params):
        super().reset(params)
        self._velocity = np.zeros_like(params)

    def step(self, params, grad, lr):
        v = self._velocity
        v *= float(self.momentum)
        np.multiply(grad, float(lr), out=self._tmp)
        v -= self._tmp
        params += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the form that needs no look-ahead evaluation:
    v <- mu v - lr g;  p <- p + mu v - lr g  (Sutskever et al. 2013)."""

    name = "nesterov"

    def step(self, params, grad, lr):
        mu, lr = float(self.momentum), float(lr)
        v = self._velocity
        v *= mu
        np.multiply(grad, lr, out=self._tmp)
        v -= self._tmp
        params -= self._tmp
        np.multiply(v, mu, out=self._tmp)
        params += self._tmp


class Adagrad(Optimizer):
    """G <- G + g**2;  p <- p - lr g / (sqrt(G) + eps): per-weight rates that only shrink."""

    name = "adagrad"

    def __init__(self, eps=1e-8, clip_norm=None):
        super().__init__(clip_norm)
        self.eps = eps

    def reset(self, params):
        super().reset(params)
        self._sum_sq = np.zeros_like(params)

    def step(self, params, grad, lr):
        tmp = self._tmp
        np.multiply(grad, grad, out=tmp)
        self._sum_sq += tmp
        np.sqrt(self._sum_sq, out=tmp)
        tmp += float(self.eps)
        np.divide(grad, tmp, out=tmp)
        tmp *= float(lr)
        params -= tmp


class RMSprop(Optimizer):
    """E <- rho E + (1 - rho) g**2;  p <- p - lr g / (sqrt(E) + eps)."""

    name = "rmsprop"

    def __init__(self, rho=0.9, eps=1e-8, clip_norm=None):
        super().__init__(clip_norm)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho!r}.")
        self.rho, self.eps = rho, eps

    def reset(self, params):
        super().reset(params)
        self._mean_sq = np.zeros_like(params)

    def step(self, params, grad, lr):
        tmp, e = self._tmp, self._mean_sq
        e *= float(self.rho)
        np.multiply(grad, grad, out=tmp)
        tmp *= float(1.0 - self.rho)
        e += tmp
        np.sqrt(e, out=tmp)
        tmp += float(self.eps)
        np.divide(grad, tmp, out=tmp)
        tmp *= float(lr)
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with the bias corrections folded into one scalar step:
    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g**2;
    p <- p - lr sqrt(1-b2**t) / (1-b1**t) * m / (sqrt(v) + eps)."""

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None):
        super().__init__(clip_norm)
        for key, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {beta!r}.")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def reset(self, params):
        super().reset(params)
        self._m = np.zeros_like(params)
        self._v = np.zeros_like(params)
        self._t = 0

    def step(self, params, grad, lr):
        b1, b2 = float(self.beta1), float(self.beta2)
        self._t += 1
        step = float(lr) * np.sqrt(1.0 - b2**self._t) / (1.0 - b1**self._t)
        m, v, tmp = self._m, self._v, self._tmp
        m *= b1
        np.multiply(grad, 1.0 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += float(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= -float(step)
        params += tmp


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam)}


def get_optimizer(optimizer):
    """Return a fresh :class:`Optimizer` from a name in ``OPTIMIZERS`` or a copy of an instance."""
    if isinstance(optimizer, Optimizer):
        clone = type(optimizer).__new__(type(optimizer))
        clone.__dict__ = optimizer._settings()
        return clone
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer instance, "
            f"got {optimizer!r}."
        )
    return OPTIMIZERS[optimizer]()
