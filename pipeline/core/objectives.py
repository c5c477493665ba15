"""The objective of DESIGN.md and its gradient, on a batch or over all rows::

    J = sum_i s_i L_i / sum_i s_i  +  l1 sum|W|  +  (l2 / 2) sum W**2

for one ``Network``: the readable reference that the gradient checks hold to finite
differences, and that the stacked training arithmetic (``stack.py``) is tested against.
``LinearStack`` is the exact, call-thrifty evaluator L-BFGS uses for networks without
hidden layers (one model or a stack of them).
"""

import numpy as np

from .losses import BinaryCrossEntropy
from .passes import row_dots
from .regularization import add_penalty_gradient, penalty

# Rows per forward/backward when all rows are evaluated: bounds the activation buffers
# (2048 x 256 float64 = 4 MB a layer) whatever the table's size. Larger chunks were no
# faster on job B of PERFORMANCE.md (~0.4 s a pass over 200,000 rows, float32).
CHUNK_ROWS = 2048


def data_loss(network, loss, X, T, weights=None):
    """Weighted mean loss sum_i s_i L_i / sum_i s_i (no penalty), without dropout."""
    values = loss.value(network.logits(X), T)
    if weights is None:
        return float(values.mean())
    return float(values @ weights / weights.sum())


def objective(network, loss, X, T, weights=None, l1=0.0, l2=0.0):
    """The full objective J of DESIGN.md at the current parameters."""
    return data_loss(network, loss, X, T, weights) + penalty(
        network.params[: network.n_weights], l1, l2
    )


def compute_gradient(network, loss, X, T, weights=None, l1=0.0, l2=0.0, dropout=0.0, rng=None,
                     masks=None):
    """Fill ``network.grad`` with dJ/dparams on a batch; return the batch's data loss.

    ``masks`` (one per hidden layer, see ``Network.forward``) holds dropout fixed, so
    the gradient of that one deterministic objective can be checked numerically.
    """
    z = network.forward(X, dropout, rng, masks)
    delta = loss.delta(z, T, np.empty_like(z))
    if weights is None:
        scale = 1.0 / X.shape[0]
        batch_loss = float(loss.value(z, T).sum()) * scale
        delta *= scale
    else:
        scale = weights / weights.sum()
        batch_loss = float(loss.value(z, T) @ scale)
        delta *= scale[:, None]
    network.backward(delta)
    n = network.n_weights
    add_penalty_gradient(network.params[:n], network.grad[:n], l1, l2)
    return batch_loss


def full_gradient(network, loss, X, T, weights=None, l1=0.0, l2=0.0, chunk_rows=CHUNK_ROWS):
    """Fill ``network.grad`` with dJ/dparams over ALL rows (no dropout); return the data loss.

    More than ``chunk_rows`` rows are taken in chunks, each weighted by its share of
    sum_i s_i, so memory stays bounded and the result is the same sum.
    """
    n = X.shape[0]
    if n <= chunk_rows:
        return compute_gradient(network, loss, X, T, weights, l1, l2)
    total = n if weights is None else float(weights.sum())
    acc, value = np.zeros_like(network.grad), 0.0
    for start in range(0, n, chunk_rows):
        rows = slice(start, start + chunk_rows)
        w = None if weights is None else weights[rows]
        share = (X[rows].shape[0] if w is None else float(w.sum())) / total
        if share == 0.0:
            continue  # rows of weight zero add nothing (and would divide 0 by 0)
        value += share * compute_gradient(network, loss, X[rows], T[rows], w)
        network.grad *= share
        acc += network.grad
    np.copyto(network.grad, acc)
    add_penalty_gradient(network.params[: network.n_weights], network.grad[: network.n_weights],
                         l1, l2)
    return value


def initial_loss(network, loss, X, T, weights=None, max_rows=CHUNK_ROWS):
    """Data loss at the current weights on at most ``max_rows`` evenly spaced rows.

    Evenly spaced rather than random: no draw from the training generator (results
    stay identical), and a table sorted by its target is still sampled across its range.
    """
    step = -(-X.shape[0] // max_rows)
    return data_loss(network, loss, X[::step], T[::step], None if weights is None else weights[::step])


class NetworkObjective:
    """``evaluate() -> J`` at ``network.params``, writing dJ/dparams into ``network.grad``
    (all rows, in chunks when large); ``data_loss`` keeps the last loss without penalty."""

    def __init__(self, network, loss, X, T, weights=None, l2=0.0):
        self.network, self.loss, self.X, self.T, self.weights = network, loss, X, T, weights
        self.l2, self.data_loss = l2, np.nan

    def __call__(self):
        net = self.network
        self.data_loss = full_gradient(net, self.loss, self.X, self.T, self.weights, 0.0, self.l2)
        return self.data_loss + penalty(net.params[: net.n_weights], 0.0, self.l2)


class LinearObjective:
    """The objective of a network WITHOUT hidden layers, at a fraction of the numpy calls:
    ``LinearStack`` for this one network (its flat [W, b] is the one block [W; b])."""

    def __init__(self, network, loss, X, T, weights=None, l2=0.0):
        if network.n_layers != 1:
            raise ValueError("LinearObjective needs a network without hidden layers.")
        n, p = X.shape
        k, dtype = network.layer_sizes[-1], network.dtype
        X1 = np.empty((1, n, p + 1), dtype)
        X1[0, :, :p] = X
        X1[0, :, p] = 1.0
        w = None if weights is None else np.asarray(weights, dtype)[None]
        nw = network.n_weights
        self.W = network.params[:nw]
        self._stack = LinearStack(network.params.reshape(1, p + 1, k),
                                  network.grad.reshape(1, p + 1, k), X1,
                                  np.asarray(T, dtype)[None], w, loss, l2,
                                  network.params[None, :nw], network.grad[None, :nw])
        self.l2, self.data_loss = float(l2), np.nan

    def __call__(self):
        self.data_loss = self._stack()[0]
        return self.data_loss + 0.5 * self.l2 * float(self.W @ self.W)


class LinearStack:
    """The data loss of k models WITHOUT hidden layers and the gradient of J, in one pass.

    Each model's parameters [W (p x n_out, row-major), b (n_out)] are exactly the rows of
    one (p + 1, n_out) block, so with a column of ones appended to X the logits are ONE
    product [X 1] @ [W; b] and the whole gradient another, [X 1].T @ delta: no bias add,
    no bias reduction, no per-layer bookkeeping (L-BFGS on small tables is bound by the
    number of numpy calls, not by arithmetic). Stacks of k models ((k, .) leading axes,
    np.matmul per model) evaluate each model as it would be alone.

    Parameters
    ----------
    P, G : ndarray of shape (k, p + 1, n_out)
        Views of the parameter blocks (read where L-BFGS writes) and of their gradients.
    X1 : (k, n, p + 1) inputs with a last column of ones; T : (k, n, n_out); w : (k, n) or None
    loss : Loss
    l2 : float
    W, dW : ndarray of shape (k, p * n_out)
        The weights alone (and their gradients), for the penalty.
    """

    def __init__(self, P, G, X1, T, w, loss, l2, W, dW):
        k, n = X1.shape[:2]
        dtype = X1.dtype
        self.P, self.G, self.X1, self.W, self.dW = P, G, X1, W, dW
        self.z, self.delta = np.empty((k, n, P.shape[2]), dtype), np.empty((k, n, P.shape[2]), dtype)
        self._tmp = np.empty(W.shape, dtype)
        self.loss, self.T, self.l2 = loss, T, float(l2)
        # s_i / sum s, or 1 / n for every row: the data loss is sum_i scale_i L_i.
        self.scale = np.full((k, n), 1.0 / n, dtype) if w is None else \
            w / w.sum(axis=-1, keepdims=True)
        # Binary cross-entropy on 0/1 labels (soft targets take the generic path) is
        # softplus(s z) with s = 1 - 2t: see _logistic_delta.
        self._logistic = isinstance(loss, BinaryCrossEntropy) and bool(np.isin(T, (0, 1)).all())
        if self._logistic:
            self.sign = 1.0 - 2.0 * T
            self.signed_scale = self.sign * self.scale[..., None]
            self.u = np.empty((k, n, 1), dtype)

    def __call__(self):
        """Each model's data loss (a list); dJ/dparams (penalty included) written into G."""
        z = np.matmul(self.X1, self.P, out=self.z)
        if self._logistic:
            delta, losses = self._logistic_delta(z)
        else:
            delta = self.loss.delta(z, self.T, self.delta)
            losses = row_dots(self.loss.value(z, self.T), self.scale)
            delta *= self.scale[..., None]
        np.matmul(self.X1.transpose(0, 2, 1), delta, out=self.G)
        if self.l2:
            np.multiply(self.W, self.l2, out=self._tmp)
            self.dW += self._tmp
        return losses

    def _logistic_delta(self, z):
        """Binary cross-entropy from ONE softplus. With u = s z, s = 1 - 2t and t in {0, 1},
        L = -log sigmoid(u) = softplus(u): a sum of positive terms, so J is exact to its
        last bits (softplus(z) - t z loses ~|z| eps to cancellation, which stalls L-BFGS's
        line search near the optimum). dL/dz = s sigmoid(u) = s exp(u - softplus(u)),
        where u - softplus(u) = log sigmoid(u) <= 0 cannot overflow. Returns dL/dz * scale,
        the delta of the weighted mean, and the data losses."""
        u = np.multiply(z, self.sign, out=self.u)
        sp = np.logaddexp(0.0, u, out=self.delta)
        losses = row_dots(self.scale, sp[..., 0])
        np.subtract(u, sp, out=sp)
        np.exp(sp, out=sp)
        sp *= self.signed_scale
        return sp, losses
