"""Optimizers updating a flat parameter vector in place.

Every optimizer sees the whole network as one vector ``params`` with gradient
``grad`` (see ``network.py``), so one step is a handful of in-place array
operations regardless of depth. ``step(params, grad, lr)`` takes the learning
rate from the schedule each epoch.

Models trained in lock-step (``lockstep.py``) are the rows of one (K, p) array: every
update is elementwise, so a row is updated exactly as its model alone would be. ``lr``
is then one rate per row (equal rates are applied as one float, different ones as a
(K, 1) column of the same values), per-row state (Adam's step count) has one entry per
row, and :meth:`Optimizer.rows` narrows the optimizer to some rows.

:class:`LBFGS` is the exception: a quasi-Newton method needs objective values at
trial points, so it holds only settings here and ``training.train`` runs it over
the full batch with ``lbfgs.minimize`` (``full_batch = True`` marks it).
"""

import copy
import math

import numpy as np

from .hyperparameters import Hyperparameters


class Optimizer(Hyperparameters):
    """Base class. ``clip_norm`` rescales the gradient when its L2 norm exceeds it."""

    name = "optimizer"
    full_batch = False  # True: one update per pass over all rows, batch_size ignored
    _state = ("_tmp",)  # arrays with one row per model (and per-row counters): see rows()

    def __init__(self, clip_norm=None):
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be a positive float or None, got {clip_norm!r}.")
        self.clip_norm = clip_norm

    def reset(self, params):
        """Allocate the state (moments, accumulators) for ``params``: one flat vector (p,)
        or one row per model (K, p)."""
        self._tmp = np.empty_like(params)

    def step(self, params, grad, lr):
        """Update ``params`` in place; ``lr`` is a float, or one float per row of ``params``."""
        raise NotImplementedError

    def rows(self, index):
        """This optimizer narrowed to some rows of its state: a slice gives views, so a step
        of the narrowed optimizer updates the full state (rows not in it are untouched); an
        index array gives copies (dropping rows for good)."""
        narrowed = copy.copy(self)
        for key in self._state:
            setattr(narrowed, key, getattr(self, key)[index])
        return narrowed

    def clip(self, grad, norm):
        """Rescale ``grad`` in place to ``clip_norm`` where ``norm`` exceeds it (``norm``: one
        float, or one per row of ``grad``)."""
        if self.clip_norm is None:
            return
        norms = norm if isinstance(norm, (list, tuple)) else [norm]
        factors = [float(self.clip_norm / n) if n > self.clip_norm else 1.0 for n in norms]
        if any(f != 1.0 for f in factors):
            grad *= per_row(factors, grad)


class SGD(Optimizer):
    """p <- p - lr g. With full batches this is plain gradient descent."""

    name = "sgd"

    def step(self, params, grad, lr):
        np.multiply(grad, per_row(lr, params), out=self._tmp)
        params -= self._tmp


class Momentum(Optimizer):
    """Heavy ball: v <- mu v - lr g;  p <- p + v."""

    name = "momentum"
    _state = ("_tmp", "_velocity")

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
        np.multiply(grad, per_row(lr, params), out=self._tmp)
        v -= self._tmp
        params += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the form that needs no look-ahead evaluation:
    v <- mu v - lr g;  p <- p + mu v - lr g  (Sutskever et al. 2013)."""

    name = "nesterov"

    def step(self, params, grad, lr):
        mu, lr = float(self.momentum), per_row(lr, params)
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
    _state = ("_tmp", "_sum_sq")

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
        tmp *= per_row(lr, params)
        params -= tmp


class RMSprop(Optimizer):
    """E <- rho E + (1 - rho) g**2;  p <- p - lr g / (sqrt(E) + eps)."""

    name = "rmsprop"
    _state = ("_tmp", "_mean_sq")

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
        tmp *= per_row(lr, params)
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015):
    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g**2;
    p <- p - lr sqrt(1-b2**t) / (1-b1**t) * m / (sqrt(v) + eps).

    Stored scaled, m' = m / (1-b1) and v' = v / (1-b2), so the moments need no
    multiplication by (1-b): m' <- b1 m' + g, v' <- b2 v' + g**2, and the constants move
    into one scalar step, p <- p - s m' / (sqrt(v') + eps / sqrt(1-b2)) with
    s = lr sqrt(1-b2**t) (1-b1) / ((1-b1**t) sqrt(1-b2)): 10 passes over the
    parameters per step instead of 12 (Adam is the largest cost after the matmuls)."""

    name = "adam"
    _state = ("_tmp", "_m", "_v", "_t")

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
        self._t = np.zeros(params.shape[0] if params.ndim == 2 else 1, np.int64)  # steps per row

    def step(self, params, grad, lr):
        b1, b2 = float(self.beta1), float(self.beta2)
        self._t += 1
        counts = self._t.tolist()
        rates = lr if isinstance(lr, (list, tuple)) else [lr] * len(counts)
        scale = (1.0 - b1) / math.sqrt(1.0 - b2)
        if counts.count(counts[0]) == len(counts) and rates.count(rates[0]) == len(rates):
            counts, rates = counts[:1], rates[:1]  # the common case: every row alike
        steps = [-float(rate) * math.sqrt(1.0 - b2**t) / (1.0 - b1**t) * scale
                 for rate, t in zip(rates, counts)]
        m, v, tmp = self._m, self._v, self._tmp
        m *= b1
        m += grad
        v *= b2
        np.multiply(grad, grad, out=tmp)
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += float(self.eps) / math.sqrt(1.0 - b2)
        np.divide(m, tmp, out=tmp)
        tmp *= per_row(steps, params)
        params += tmp


class LBFGS(Optimizer):
    """Limited-memory BFGS over the full batch, to a tolerance (see ``lbfgs.py``).

    Each iteration (one history entry, counted against ``max_epochs``) finds a step
    along the quasi-Newton direction that satisfies the strong Wolfe conditions, so
    the learning rate and ``batch_size`` are not used. It needs a smooth,
    deterministic objective: ``training.train`` refuses ``l1 > 0`` and ``dropout > 0``.

    Parameters
    ----------
    memory : int, default=10
        Correction pairs (s, y) kept for the two-loop recursion.
    tol : float, default=1e-10
        Converged when max |dJ/dparams| <= tol * max(1, |J|). J is a mean over rows,
        so for J <= 1 this is scikit-learn's ``LogisticRegression(tol=...)`` gradient test.
    ftol : float or None, default=None
        Also converged when the objective's relative decrease in one iteration,
        (J_prev - J) / max(|J_prev|, |J|), is <= ftol: progress has reached rounding.
        None = 64 x the machine epsilon of the parameters' dtype (1.4e-14 in float64,
        scikit-learn's value; 7.6e-6 in float32, where ``tol`` is out of reach). Unlike
        scipy, no floor of 1 in the denominator: with J ~ 0.05 it stopped logistic
        regression 5e-6 (relative) short of the optimum instead of 8e-7.
    max_linesearch : int, default=20
        Objective evaluations allowed per line search.
    clip_norm : None
        Accepted for a uniform constructor; must be None (the line search bounds each step).
    """

    name = "lbfgs"
    full_batch = True

    def __init__(self, memory=10, tol=1e-10, ftol=None, max_linesearch=20, clip_norm=None):
        if clip_norm is not None:
            raise ValueError(
                f"clip_norm must be None for lbfgs (its line search bounds each step), got "
                f"{clip_norm!r}; clip gradients with a first-order optimizer such as adam."
            )
        super().__init__(None)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
            raise ValueError(f"memory must be a positive integer, got {memory!r}.")
        for key, value in (("tol", tol), ("ftol", ftol)):
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"{key} must be a non-negative float, got {value!r}.")
        if isinstance(max_linesearch, bool) or not isinstance(max_linesearch, int) \
                or max_linesearch < 2:
            raise ValueError(f"max_linesearch must be an integer >= 2, got {max_linesearch!r}.")
        self.memory, self.tol, self.ftol, self.max_linesearch = memory, tol, ftol, max_linesearch

    def step(self, params, grad, lr):
        raise TypeError("L-BFGS needs objective values at trial points: train it with "
                        "training.train, which runs lbfgs.minimize over the full batch.")


def per_row(values, like):
    """``values`` (a float, or one float per row of ``like``) as a multiplier for ``like``:
    a float when all rows share it, else a (K, 1) column in ``like``'s dtype. Either way
    each row is multiplied by its own value rounded to that dtype, as a float would be."""
    if not isinstance(values, (list, tuple)):
        return float(values)
    first = values[0]
    if all(value == first for value in values):
        return float(first)
    return np.array(values, like.dtype)[:, None]


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, LBFGS)}


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
