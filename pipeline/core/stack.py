"""K networks of one architecture as one stacked model: the arithmetic of lock-step training.

The K models' parameters are the rows of ONE (K, P) array, so an optimizer updates them
all with the few in-place operations it would use for one (``optimizers.py``). Within a
row, each layer's weights and bias are folded into one block [W; b] of shape
(n_in + 1, n_out), and every layer input carries a trailing column of ones::

    Z_i = [A_{i-1} 1] @ [W_i; b_i]                   forward: one product, no bias add
    d[W_i; b_i] = [A_{i-1} 1].T @ D_i                weight and bias gradient in one product
    D_{i-1} = (D_i @ [W_i; b_i].T)[..., :-1] * f'    (the ones column's entry is unused)

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

import numpy as np

from .activations import get_activation
from .objectives import CHUNK_ROWS, LinearStack, _row_dots
from .optimizers import per_row


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
            self._buffers[(k, n)] = _Buffers(k, n, self.layer_sizes, self.dtype)
        return self._buffers[(k, n)]

    # --- forward and backward --------------------------------------------------------------

    def forward(self, rows, X1, dropout=0.0, rngs=None):
        """Logits (k, n, n_outputs) of the models ``rows`` on their batches ``X1`` (k, n,
        n_inputs + 1), whose last column is ones. ``dropout``: inverted-dropout rate on
        hidden units, masks drawn from ``rngs`` (one generator per model, each drawing
        an (n, units) array per hidden layer, as a lone network does)."""
        k, n = X1.shape[:2]
        buf = self._buffers_for(k, n)
        blocks = self._layer_views(rows)[0]
        a = X1
        for i, block in enumerate(blocks[:-1]):
            h = buf.hidden[i]
            np.matmul(a, block, out=h[..., :-1])
            self.activation.forward(h)
            if not self._keeps_ones:
                h[..., -1] = 1.0
            a = self._drop(buf, i, dropout, rngs) if dropout > 0.0 else h
        return np.matmul(a, blocks[-1], out=buf.logits)

    def _drop(self, buf, i, rate, rngs):
        draw, keep, mask = buf.dropout(i)
        for j, rng in enumerate(rngs):
            rng.random(dtype=self.dtype, out=draw[j])
        np.greater_equal(draw, rate, out=keep)
        np.multiply(keep, self.dtype.type(1.0 / (1.0 - rate)), out=mask[..., :-1])
        return np.multiply(buf.hidden[i], mask, out=buf.dropped[i])

    def backward(self, rows, X1, delta, dropout=False):
        """Backpropagate ``delta`` = dJ/dlogits (k, n, n_outputs) into ``grad[rows]``."""
        k, n = X1.shape[:2]
        buf = self._buffers_for(k, n)
        blocks, grads = self._layer_views(rows)[:2]
        for i in range(len(blocks) - 1, -1, -1):
            a_prev = X1 if i == 0 else (buf.dropped if dropout else buf.hidden)[i - 1]
            np.matmul(a_prev.transpose(0, 2, 1), delta, out=grads[i])
            if i == 0:
                return
            d = buf.deltas[i - 1]
            np.matmul(delta, blocks[i].transpose(0, 2, 1), out=d)
            if dropout:
                d *= buf.masks[i - 1]
            self.activation.backward(buf.hidden[i - 1], d)
            delta = d[..., :-1]

    # --- objective -------------------------------------------------------------------------

    def batch_gradient(self, rows, X1, T, w, loss, l1=0.0, l2=0.0, dropout=0.0, rngs=None):
        """Fill ``grad[rows]`` with each model's dJ/dparams on its batch (J of DESIGN.md:
        weighted mean loss + penalties); return the batch data losses, one float per model.

        ``T`` (k, n, n_outputs) targets, ``w`` (k, n) sample weights or None.
        """
        z = self.forward(rows, X1, dropout, rngs)
        buf = self._buffers_for(*X1.shape[:2])
        delta = loss.delta(z, T, buf.delta)
        values = loss.value(z, T)
        if w is None:
            scale = 1.0 / X1.shape[1]
            losses = [value * scale for value in values.sum(axis=-1).tolist()]
            delta *= scale
        else:
            scale = w / w.sum(axis=-1, keepdims=True)
            losses = _row_dots(values, scale)
            delta *= scale[..., None]
        self.backward(rows, X1, delta, dropout > 0.0)
        self.add_penalty_gradient(rows, l1, l2)
        return losses

    def full_gradient(self, rows, X1, T, w, n, loss, l1=0.0, l2=0.0):
        """dJ/dparams over each model's first ``n`` rows, without dropout, into ``grad[rows]``;
        returns the data losses. More than CHUNK_ROWS rows are taken in chunks, each
        weighted by its share of the total weight, so memory stays bounded."""
        if n <= CHUNK_ROWS:
            return self.batch_gradient(rows, X1[:, :n], T[:, :n], _head(w, n), loss, l1, l2)
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
                losses = self.batch_gradient(slice(first + lo, first + hi), X1[lo:hi, part],
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

    def data_losses(self, rows, X1, T, w, n, loss):
        """Each model's weighted mean loss on its first ``n`` rows, without dropout (chunks
        of CHUNK_ROWS rows); one float per model."""
        sums = None
        for start in range(0, n, CHUNK_ROWS):
            part = slice(start, min(start + CHUNK_ROWS, n))
            values = loss.value(self.forward(rows, X1[:, part]), T[:, part])
            chunk = values.sum(axis=-1).tolist() if w is None else _row_dots(values, w[:, part])
            sums = chunk if sums is None else [a + b for a, b in zip(sums, chunk)]
        totals = [float(n)] * len(sums) if w is None else w[:, :n].sum(axis=-1).tolist()
        return [s / t for s, t in zip(sums, totals)]

    def linear_objective(self, rows, X1, T, w, n, loss, l2):
        """The exact, call-thrifty full-batch evaluator of models WITHOUT hidden layers
        (``objectives.LinearStack``) over their first ``n`` rows."""
        blocks, grads, weights, weight_grads, _ = self._layer_views(rows)
        return LinearStack(blocks[0], grads[0], X1[:, :n], T[:, :n], _head(w, n), loss, l2,
                           weights[0], weight_grads[0])

    def add_penalty_gradient(self, rows, l1, l2):
        """Add d(penalty)/dW to ``grad[rows]``: l1 sign(W) (a subgradient at 0) + l2 W."""
        if not (l1 or l2):
            return
        _, _, weights, weight_grads, scratch = self._layer_views(rows)
        for w, g, tmp in zip(weights, weight_grads, scratch):
            if l2:
                np.multiply(w, float(l2), out=tmp)
                g += tmp
            if l1:
                np.sign(w, out=tmp)
                tmp *= float(l1)
                g += tmp

    def penalties(self, rows, l1, l2):
        """l1 sum|W| + (l2 / 2) sum W**2 of each model ``rows``; one float per model."""
        weights = self._layer_views(rows)[2]
        totals = [0.0] * weights[0].shape[0]
        for w in weights:
            if l2:
                totals = [t + 0.5 * l2 * s for t, s in zip(totals, _row_dots(w, w))]
            if l1:
                totals = [t + l1 * s for t, s in zip(totals, np.abs(w).sum(axis=-1).tolist())]
        return totals

    def grad_norms(self, rows):
        """L2 norm of each model's gradient ``grad[rows]``; one float per model."""
        g = self.grad[rows]
        return [value ** 0.5 for value in _row_dots(g, g)]


class _Buffers:
    """Activations (with their ones column), deltas and dropout masks for k models' batches
    of n rows: allocated once per shape, so training allocates nothing per batch that
    grows with the layers."""

    def __init__(self, k, n, sizes, dtype):
        hidden = sizes[1:-1]
        self.hidden = [_with_ones((k, n, u + 1), dtype) for u in hidden]
        self.deltas = [np.empty((k, n, u + 1), dtype) for u in hidden]
        self.logits = np.empty((k, n, sizes[-1]), dtype)
        self.delta = np.empty_like(self.logits)
        self.dropped = self.masks = None
        self._shape, self._dtype = (k, n), dtype

    def dropout(self, i):
        """(draws, kept, mask) of hidden layer i, allocated at the first dropout pass."""
        if self.masks is None:
            k, n = self._shape
            units = [h.shape[-1] - 1 for h in self.hidden]
            self.draws = [np.empty((k, n, u), self._dtype) for u in units]
            self.kept = [np.empty((k, n, u), bool) for u in units]
            self.masks = [_with_ones((k, n, u + 1), self._dtype) for u in units]
            self.dropped = [_with_ones((k, n, u + 1), self._dtype) for u in units]
        return self.draws[i], self.kept[i], self.masks[i]


def _with_ones(shape, dtype):
    a = np.empty(shape, dtype)
    a[..., -1] = 1.0
    return a


def _reshaped(flat_rows, n_in, n_out):
    """(k, n_in * n_out) rows as (k, n_in, n_out) blocks: a view, never a copy."""
    view = flat_rows.reshape(flat_rows.shape[0], n_in, n_out)
    if not np.may_share_memory(view, flat_rows):
        raise RuntimeError("a parameter block was copied instead of viewed.")
    return view


def _head(w, n):
    return None if w is None else w[:, :n]
