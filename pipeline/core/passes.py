"""One forward and backward pass of a stack of models (``stack.py``), bound to its arrays once.

A training step of a small network costs more in Python and numpy call overhead than in
arithmetic (PERFORMANCE.md: ~1.5 us per call whatever the size). A :class:`Pass` binds,
once per batch of a training run, every array the step touches: the batch's views, each
layer's block [W; b] and its transpose, the gradient views, the activation, delta and mask
buffers, the generators of the dropout masks. A step is then only the numpy calls of the
chain rule, side by side::

    forward   H_i = f([A_{i-1} 1] @ [W_i; b_i])      (dropout: A_i = H_i * mask_i)
    backward  d[W_i; b_i] = [A_{i-1} 1].T @ D_i
              D_{i-1} = (D_i @ [W_i; b_i].T) * mask_{i-1} * f'(H_{i-1})

except for the first layer, whose input is the data: there Z_1 = X @ W_1 + b_1 and
db_1 = 1.T @ D_1, since a ones column on X would mean a copy of the data (job B: 52 MB).
Passes of one shape share their buffers (steps run one after the other).
"""

import numpy as np

SMALL_BATCH = 128  # rows below which D @ [W; b].T is computed on a transposed copy


class Pass:
    """Forward and backward of models ``rows`` of ``stack`` on the batch ``X`` (k, n,
    n_inputs), targets ``T`` (k, n, n_outputs), weights ``w`` (k, n) or None; ``rngs``: one
    generator per model when dropout is on, else None."""

    def __init__(self, stack, rows, X, T, w=None, rngs=None):
        k, n = X.shape[:2]
        blocks, grads, weights, weight_grads, scratch = stack._layer_views(rows)
        buf = stack._buffers_for(k, n)
        self.T, self.w, self.n, self.rngs = T, w, n, rngs
        self.activation, self.fix_ones = stack.activation, not stack._keeps_ones
        self.dtype = stack.dtype
        self.penalty_views = list(zip(weights, weight_grads, scratch))
        drop = buf.dropout_buffers() if rngs is not None else None
        hidden = buf.hidden
        inputs = [X] + (drop[3] if drop else hidden)
        # (input, weights, bias or None: folded into the weights when the input has a ones column)
        products = [(X, blocks[0][:, :-1], blocks[0][:, -1:])] + \
            [(inputs[i], blocks[i], None) for i in range(1, len(blocks))]
        self.layers = [(*products[i], hidden[i][..., :-1], hidden[i], buf.zeros[i],
                        drop and (drop[0][i], drop[1][i], drop[2][i], drop[3][i]))
                       for i in range(len(hidden))]
        self.output = (*products[-1], buf.logits)
        self.padded_bias = buf.padded_bias
        self.back = [(inputs[i].transpose(0, 2, 1), grads[i], blocks[i].transpose(0, 2, 1),
                      buf.transposed[i - 1], buf.deltas[i - 1], buf.deltas[i - 1][..., :-1],
                      hidden[i - 1], drop[2][i - 1] if drop else None, buf.signs[i - 1])
                     for i in range(len(blocks) - 1, 0, -1)]
        self.first = (X.transpose(0, 2, 1), grads[0][:, :-1], buf.ones, grads[0][:, -1:])
        self.delta = buf.delta

    def forward(self, rate=0.0):
        """Logits (k, n, n_outputs); ``rate``: inverted-dropout rate on hidden units, each
        model drawing an (n, units) array per hidden layer from its generator, as a lone
        network does."""
        activation = self.activation
        for a, weights, bias, z, h, zeros, drop in self.layers:
            np.matmul(a, weights, out=z)
            if bias is not None:  # added to the whole buffer (4x faster than to the view z),
                padded = self.padded_bias  # the ones column getting 0
                np.copyto(padded[..., :-1], bias)
                h += padded
            activation.forward(h, zeros)  # the whole buffer: its ones column is rewritten below
            if self.fix_ones:
                h[..., -1] = 1.0
            if drop:
                self._drop(h, rate, *drop)
        a, weights, bias, logits = self.output
        np.matmul(a, weights, out=logits)
        if bias is not None:
            logits += bias
        return logits

    def _drop(self, h, rate, draws, kept, mask, dropped):
        for draw, rng in zip(draws, self.rngs):
            rng.random(dtype=self.dtype, out=draw)
        np.greater_equal(draws, rate, out=kept)
        np.multiply(kept, self.dtype.type(1.0 / (1.0 - rate)), out=mask[..., :-1])
        np.multiply(h, mask, out=dropped)

    def backward(self, delta):
        """Backpropagate ``delta`` = dJ/dlogits into the gradient views."""
        activation = self.activation
        for a_t, grad, block_t, transposed, d, d_units, h, mask, signs in self.back:
            np.matmul(a_t, delta, out=grad)
            if block_t.shape[1] == 1:  # one output unit: D @ [W; b].T is an outer product
                np.multiply(delta, block_t, out=d)
            elif transposed is not None:  # small: with B transposed, OpenBLAS is ~1.5x slower
                np.copyto(transposed, block_t)
                np.matmul(delta, transposed, out=d)
            else:
                np.matmul(delta, block_t, out=d)
            if mask is not None:
                d *= mask
            activation.backward(h, d, signs)
            delta = d_units
        x_t, weight_grad, ones, bias_grad = self.first
        np.matmul(x_t, delta, out=weight_grad)
        np.matmul(ones, delta, out=bias_grad)  # ~3x faster than delta.sum(axis=1)

    def gradient(self, loss, l1=0.0, l2=0.0, rate=0.0):
        """Each model's dJ/dparams on its batch (J of DESIGN.md: weighted mean loss +
        penalties) into the gradient views; returns the batch data losses (floats)."""
        z = self.forward(rate)
        delta = loss.delta(z, self.T, self.delta)
        values = loss.value(z, self.T)
        if self.w is None:
            scale = 1.0 / self.n
            losses = [value * scale for value in values.sum(axis=-1).tolist()]
            delta *= scale
        else:
            scale = self.w / self.w.sum(axis=-1, keepdims=True)
            losses = row_dots(values, scale)
            delta *= scale[..., None]
        self.backward(delta)
        if l1 or l2:
            add_penalty_gradient(self.penalty_views, l1, l2)
        return losses


def add_penalty_gradient(views, l1, l2):
    """Add d(penalty)/dW: l1 sign(W) (a subgradient at 0) + l2 W, per layer (weight rows,
    their gradient rows, scratch rows)."""
    for w, g, tmp in views:
        if l2:
            np.multiply(w, float(l2), out=tmp)
            g += tmp
        if l1:
            np.sign(w, out=tmp)
            tmp *= float(l1)
            g += tmp


def row_dots(a, b):
    """Row-wise dot products of two (k, m) arrays, each the BLAS dot of one row with one row."""
    return np.matmul(a[:, None, :], b[:, :, None]).ravel().tolist()


class Buffers:
    """Activations (with their ones column), deltas, ReLU signs and dropout masks for k
    models' batches of n rows: allocated once per shape, so training allocates nothing per
    batch that grows with the layers."""

    def __init__(self, k, n, sizes, dtype):
        hidden = sizes[1:-1]
        self.hidden = [_with_ones((k, n, u + 1), dtype) for u in hidden]
        self.deltas = [np.empty((k, n, u + 1), dtype) for u in hidden]
        self.signs = [np.empty((k, n, u + 1), bool) for u in hidden]
        self.zeros = [np.zeros((k, n, u + 1), dtype) for u in hidden]  # for ReLU's maximum
        self.padded_bias = np.zeros((k, 1, hidden[0] + 1), dtype) if hidden else None
        # Copies of [W; b].T for D @ [W; b].T in small batches (measured: 32 rows ~1.5x
        # faster copied; 256 rows ~7% slower).
        self.transposed = [np.empty((k, out, u + 1), dtype) if n < SMALL_BATCH else None
                           for u, out in zip(hidden, sizes[2:])]
        self.logits = np.empty((k, n, sizes[-1]), dtype)
        self.delta = np.empty_like(self.logits)
        self.ones = np.ones((k, 1, n), dtype)
        self._dropout = None
        self._shape, self._dtype, self._units = (k, n), dtype, hidden

    def dropout_buffers(self):
        """(draws, kept, masks, dropped) per hidden layer, allocated at first use."""
        if self._dropout is None:
            (k, n), dtype = self._shape, self._dtype
            self._dropout = ([np.empty((k, n, u), dtype) for u in self._units],
                             [np.empty((k, n, u), bool) for u in self._units],
                             [_with_ones((k, n, u + 1), dtype) for u in self._units],
                             [_with_ones((k, n, u + 1), dtype) for u in self._units])
        return self._dropout


def _with_ones(shape, dtype):
    a = np.empty(shape, dtype)
    a[..., -1] = 1.0
    return a
