"""K networks of one architecture as one stacked model: the arithmetic of lock-step training.

The K models' parameters are the rows of ONE (K, P) array, so an optimizer updates them
all with the few in-place operations it would use for one (``optimizers.py``). Within a
row, each layer's weights and bias are folded into one block [W; b] of shape
(n_in + 1, n_out), and every hidden layer's output carries a trailing column of ones::

    Z_i = [A_{i-1} 1] @ [W_i; b_i]                   forward: one product, no bias add
    d[W_i; b_i] = [A_{i-1} 1].T @ D_i                weight and bias gradient in one product
    D_{i-1} = (D_i @ [W_i; b_i].T)[..., :-1] * f'    (the ones column's entry is unused)

(the first layer adds its bias instead: see ``passes.py``).

A batch of each model is one slice of a (k, n, .) array (a model per leading index), and
``np.matmul`` makes for each slice the very BLAS call one model alone would make. Every
other operation is elementwise, or a reduction along the last axis that numpy computes row
by row exactly as for a lone row. So a model's numbers do not depend on the models
stacked with it, and training K models stacked equals training each alone, bit for bit.
That needs equal shapes: BLAS picks its kernel by matrix size (measured with OpenBLAS
0.3.31: padding a 25-row batch to 32 zero-weight rows changes the last bits of 60 of 112
products), so batches of different sizes are never padded; ``lockstep.py`` stacks the
models whose batches have equal sizes and takes the others in their own groups.

Elementwise work runs on whole buffers, ones column included (contiguous arrays are 2-3x
faster than the strided views without it); activations with f(1) != 1 then rewrite it.
"""

import math

import numpy as np

from .activations import get_activation
from .objectives import CHUNK_ROWS, LinearStack
from .optimizers import per_row
from .passes import Buffers, Pass, add_penalty_gradient, row_dots


class StackedNetwork:
    """K dense networks with the same layer sizes, activation, head and dtype.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_inputs, hidden_1, ..., n_outputs)``.
    activation : str or Activation
    head : {"sigmoid", "softmax", "identity"}
    dtype : numpy dtype
    n_models : int

    ``rows`` arguments below are slices ``slice(start, stop)`` (integers) of the K models.
    """

    def __init__(self, layer_sizes, activation, head, dtype, n_models):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = get_activation(activation)
        self.head, self.dtype, self.n_models = head, np.dtype(dtype), int(n_models)
        self.shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.n_params = sum((n_in + 1) * n_out for n_in, n_out in self.shapes)
        self.params = np.zeros((self.n_models, self.n_params), self.dtype)
        self.grad = np.zeros_like(self.params)
        self._scratch = np.empty_like(self.params)
        ones = np.ones(1, self.dtype)
        self._keeps_ones = bool(self.activation.forward(ones)[0] == 1.0)  # relu, identity
        self._buffers, self._views = {}, {}

    @classmethod
    def from_networks(cls, networks):
        """A stack holding copies of ``networks``' parameters (all of one architecture)."""
        first = networks[0]
        for net in networks[1:]:
            if (net.layer_sizes, net.activation, net.head, net.dtype) != (
                    first.layer_sizes, first.activation, first.head, first.dtype):
                raise ValueError("networks trained in lock-step must share layer sizes, "
                                 "activation, head and dtype.")
        stack = cls(first.layer_sizes, first.activation, first.head, first.dtype, len(networks))
        for row, net in enumerate(networks):
            stack.load(row, net)
        return stack

    def load(self, row, network):
        """Copy ``network``'s weights and biases into model ``row``."""
        blocks = self._layer_views(slice(0, self.n_models))[0]
        for block, w, b in zip(blocks, network.weights, network.biases):
            block[row, :-1] = w
            block[row, -1] = b

    def store(self, row, network, params=None):
        """Copy model ``row`` (or ``params``, one row of the same layout) into ``network``."""
        params = self.params[row] if params is None else params
        start = 0
        for w, b in zip(network.weights, network.biases):
            block = params[start:start + w.size + b.size].reshape(w.shape[0] + 1, w.shape[1])
            w[...] = block[:-1]
            b[...] = block[-1]
            start += w.size + b.size

    def take(self, index):
        """A new stack of the models ``index`` (an integer array), parameters copied."""
        stack = type(self)(self.layer_sizes, self.activation, self.head, self.dtype, len(index))
        stack.params[...] = self.params[index]
        return stack

    # --- views ---------------------------------------------------------------------------

    def _layer_views(self, rows):
        """Per layer, for the models ``rows``: blocks [W; b] (k, n_in + 1, n_out), their
        gradients, and the weights alone as flat rows (k, n_in * n_out) with gradients."""
        key = (rows.start, rows.stop)
        if key not in self._views:
            params, grad, scratch = self.params[rows], self.grad[rows], self._scratch[rows]
            blocks, grads, weights, weight_grads, weight_scratch = [], [], [], [], []
            start = 0
            for n_in, n_out in self.shapes:
                size = (n_in + 1) * n_out
                blocks.append(_reshaped(params[:, start:start + size], n_in + 1, n_out))
                grads.append(_reshaped(grad[:, start:start + size], n_in + 1, n_out))
                weights.append(params[:, start:start + n_in * n_out])
                weight_grads.append(grad[:, start:start + n_in * n_out])
                weight_scratch.append(scratch[:, start:start + n_in * n_out])
                start += size
            self._views[key] = (blocks, grads, weights, weight_grads, weight_scratch)
        return self._views[key]

    def _buffers_for(self, k, n):
        """Activation and delta buffers for k models' batches of n rows, kept per shape."""
        if (k, n) not in self._buffers:
            self._buffers[(k, n)] = Buffers(k, n, self.layer_sizes, self.dtype)
        return self._buffers[(k, n)]

    # --- objective -------------------------------------------------------------------------

    def bind(self, rows, X, T, w=None, rngs=None):
        """A :class:`passes.Pass` of the models ``rows`` on the batch ``X`` (k, n, n_inputs),
        targets ``T`` (k, n, n_outputs) and weights ``w`` (k, n) or None; ``rngs`` (one
        generator per model) when dropout is on."""
        return Pass(self, rows, X, T, w, rngs)

    def batch_gradient(self, rows, X, T, w, loss, l1=0.0, l2=0.0, dropout=0.0, rngs=None):
        """Fill ``grad[rows]`` with each model's dJ/dparams on its batch (J of DESIGN.md:
        weighted mean loss + penalties); return the batch data losses, one float per model."""
        return self.bind(rows, X, T, w, rngs if dropout > 0.0 else None).gradient(
            loss, l1, l2, dropout)

    def full_gradient(self, rows, X, T, w, n, loss, l1=0.0, l2=0.0):
        """dJ/dparams over each model's first ``n`` rows, without dropout, into ``grad[rows]``;
        returns the data losses. More than CHUNK_ROWS rows are taken in chunks, each
        weighted by its share of the total weight, so memory stays bounded."""
        if n <= CHUNK_ROWS:
            return self.batch_gradient(rows, X[:, :n], T[:, :n], _head(w, n), loss, l1, l2)
        first, k = rows.start, rows.stop - rows.start
        totals = [float(n)] * k if w is None else w[:, :n].sum(axis=-1).tolist()
        acc, values = np.zeros_like(self.grad[rows]), [0.0] * k
        for start in range(0, n, CHUNK_ROWS):
            part = slice(start, min(start + CHUNK_ROWS, n))
            wc = None if w is None else w[:, part]
            sizes = [float(part.stop - start)] * k if wc is None else wc.sum(axis=-1).tolist()
            shares = [size / total for size, total in zip(sizes, totals)]
            # A chunk without weight for some model adds nothing to it (and would divide 0
            # by 0): it is taken model by model, skipping those.
            groups = [(0, k)] if 0.0 not in shares else \
                [(j, j + 1) for j, share in enumerate(shares) if share != 0.0]
            for lo, hi in groups:
                losses = self.batch_gradient(slice(first + lo, first + hi), X[lo:hi, part],
                                             T[lo:hi, part], None if wc is None else wc[lo:hi],
                                             loss)
                for j, value in enumerate(losses, lo):
                    values[j] += shares[j] * value
                g = self.grad[first + lo:first + hi]
                g *= per_row(shares[lo:hi], g)
                acc[lo:hi] += g
        np.copyto(self.grad[rows], acc)
        self.add_penalty_gradient(rows, l1, l2)
        return values

    def data_losses(self, rows, X, T, w, n, loss, keep_logits=False):
        """Each model's weighted mean loss on its first ``n`` rows, without dropout (chunks
        of CHUNK_ROWS rows): one float per model; and, with ``keep_logits``, the logits
        (models, n, n_outputs) they were computed from (else None)."""
        sums = None
        logits = np.empty((*X.shape[:1], n, T.shape[-1]), self.dtype) if keep_logits else None
        for start in range(0, n, CHUNK_ROWS):
            part = slice(start, min(start + CHUNK_ROWS, n))
            forward = self.bind(rows, X[:, part], T[:, part]).forward()
            if keep_logits:
                logits[:, part] = forward
            values = loss.value(forward, T[:, part])
            chunk = values.sum(axis=-1).tolist() if w is None else row_dots(values, w[:, part])
            sums = chunk if sums is None else [a + b for a, b in zip(sums, chunk)]
        totals = [float(n)] * len(sums) if w is None else w[:, :n].sum(axis=-1).tolist()
        return [s / t for s, t in zip(sums, totals)], logits

    def linear_objective(self, rows, X, T, w, n, loss, l2):
        """The exact, call-thrifty full-batch evaluator of models WITHOUT hidden layers
        (``objectives.LinearStack``) over their first ``n`` rows (which it copies, with a
        column of ones)."""
        blocks, grads, weights, weight_grads, _ = self._layer_views(rows)
        X1 = np.ones((X.shape[0], n, X.shape[2] + 1), self.dtype)
        X1[..., :-1] = X[:, :n]
        return LinearStack(blocks[0], grads[0], X1, T[:, :n], _head(w, n), loss, l2,
                           weights[0], weight_grads[0])

    def add_penalty_gradient(self, rows, l1, l2):
        """Add d(penalty)/dW to ``grad[rows]``: l1 sign(W) (a subgradient at 0) + l2 W."""
        if l1 or l2:
            add_penalty_gradient(list(zip(*self._layer_views(rows)[2:])), l1, l2)

    def penalties(self, rows, l1, l2):
        """l1 sum|W| + (l2 / 2) sum W**2 of each model ``rows``; one float per model."""
        weights = self._layer_views(rows)[2]
        totals = [0.0] * weights[0].shape[0]
        for w in weights:
            if l2:
                totals = [t + 0.5 * l2 * s for t, s in zip(totals, row_dots(w, w))]
            if l1:
                totals = [t + l1 * s for t, s in zip(totals, np.abs(w).sum(axis=-1).tolist())]
        return totals

    def grad_norms(self, rows):
        """L2 norm of each model's gradient ``grad[rows]``; one float per model."""
        g = self.grad[rows]
        return [math.sqrt(value) for value in row_dots(g, g)]


def _reshaped(flat_rows, n_in, n_out):
    """(k, n_in * n_out) rows as (k, n_in, n_out) blocks: a view, never a copy."""
    view = flat_rows.reshape(flat_rows.shape[0], n_in, n_out)
    if not np.may_share_memory(view, flat_rows):
        raise RuntimeError("a parameter block was copied instead of viewed.")
    return view


def _head(w, n):
    return None if w is None else w[:, :n]
