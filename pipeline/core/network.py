"""A stack of dense layers whose weights and biases live in ONE flat vector.

Layers hold views into ``params`` (weights first, then biases), and their
gradients are views into ``grad``. An optimizer therefore updates the whole
network with a dozen array operations per step instead of a dozen per layer,
and the weight penalty touches the contiguous slice ``params[:n_weights]``.

Forward pass of layer i (row-major: a row per example)::

    Z_i = A_{i-1} @ W_i + b_i,   A_i = f(Z_i)   (hidden),   logits = Z_L

Backward pass, given D_L = dJ/dZ_L::

    dW_i = A_{i-1}.T @ D_i,   db_i = 1.T @ D_i,   D_{i-1} = (D_i @ W_i.T) * f'(Z_{i-1})
"""

import numpy as np

from .activations import HEADS, Identity, get_activation


class Network:
    """Dense feed-forward network with one activation for all hidden layers.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_inputs, hidden_1, ..., n_outputs)``; two entries = no hidden layer
        (logistic or linear regression).
    activation : str or Activation
        Hidden-layer activation.
    head : {"sigmoid", "softmax", "identity"}
        Output function turning logits into predictions.
    dtype : numpy dtype
        float64 (default, for gradient checks and small data) or float32 (speed).
    """

    def __init__(self, layer_sizes, activation="relu", head="sigmoid", dtype=np.float64):
        if len(layer_sizes) < 2 or any(int(s) < 1 for s in layer_sizes):
            raise ValueError(f"layer_sizes must hold at least 2 positive sizes, got {layer_sizes!r}.")
        if head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {head!r}.")
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = get_activation(activation)
        self.head = head
        self.dtype = np.dtype(dtype)
        shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.n_weights = sum(a * b for a, b in shapes)
        self.params = np.zeros(self.n_weights + sum(b for _, b in shapes), self.dtype)
        self.grad = np.zeros_like(self.params)
        self.weights, self.biases = _views(self.params, shapes)
        self.weight_grads, self.bias_grads = _views(self.grad, shapes)
        self._buffers = {}
        self._dropout_masks = []

    @property
    def n_layers(self):
        return len(self.weights)

    def initialize(self, rng):
        """Glorot-uniform weights (He for ReLU-like units), zero biases, from ``rng``."""
        he = self.activation.name in ("relu", "leaky_relu")
        for i, w in enumerate(self.weights):
            fan_in, fan_out = w.shape
            if he and i < self.n_layers - 1:
                w[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=w.shape)
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                w[...] = rng.uniform(-limit, limit, size=w.shape)
        self.params[self.n_weights:] = 0.0
        return self

    def set_weights(self, coefs, intercepts):
        """Copy weight matrices ``coefs[i]`` (n_in, n_out) and bias vectors into the network."""
        if len(coefs) != self.n_layers or len(intercepts) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} weight matrices and bias vectors.")
        for w, b, new_w, new_b in zip(self.weights, self.biases, coefs, intercepts):
            if np.shape(new_w) != w.shape or np.shape(new_b) != b.shape:
                raise ValueError(
                    f"weight shapes must be {[x.shape for x in self.weights]}, "
                    f"got {[np.shape(x) for x in coefs]}."
                )
            w[...] = new_w
            b[...] = new_b
        return self

    # --- inference -------------------------------------------------------------

    def logits(self, X):
        """Output logits for ``X`` (n, n_inputs); allocates, never touches training buffers."""
        a = np.asarray(X, dtype=self.dtype)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = a @ w + b
            if i < self.n_layers - 1:
                self.activation.forward(a)
        return a

    def predict(self, X):
        """Head applied to the logits: probabilities (sigmoid/softmax) or values (identity)."""
        return HEADS[self.head](self.logits(X))

    # --- training --------------------------------------------------------------

    def forward(self, X, dropout=0.0, rng=None, masks=None):
        """Training forward pass over a batch; caches what :meth:`backward` needs.

        ``dropout`` is the inverted-dropout rate on hidden activations: kept units
        are scaled by 1 / (1 - rate) so no rescaling is needed at prediction.
        ``masks`` replaces the random draw with given masks (one (n, units) array per
        hidden layer, entries 0 or 1 / (1 - rate), e.g. :attr:`dropout_masks` of an
        earlier pass): the objective is then deterministic, so its gradient can be
        checked by finite differences.
        """
        if masks is not None and len(masks) != self.n_layers - 1:
            raise ValueError(f"masks must hold one array per hidden layer ({self.n_layers - 1}), "
                             f"got {len(masks)}.")
        buf = self._batch_buffers(X.shape[0])
        self._input = X
        self._dropout_masks = []
        a = X
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = buf["z"][i]
            np.matmul(a, w, out=z)
            z += b
            if i < self.n_layers - 1:
                self.activation.forward(z)
                if masks is not None:
                    self._dropout_masks.append(masks[i])
                    z = np.multiply(z, masks[i], out=buf["dropped"][i])
                elif dropout > 0.0:
                    z = self._drop(z, buf["dropped"][i], dropout, rng)
            a = z
        return a

    @property
    def dropout_masks(self):
        """The scaled dropout masks of the last :meth:`forward` pass (empty without dropout)."""
        return list(self._dropout_masks)

    def backward(self, delta, input_grad=False):
        """Backpropagate ``delta`` = dJ/dlogits (n, n_outputs) into ``self.grad``.

        Returns dJ/dX when ``input_grad`` is true (used to show the chain rule on
        the lecture's worked example), else None.
        """
        buf = self._batch_buffers(delta.shape[0])
        ones = buf["ones"]
        for i in range(self.n_layers - 1, -1, -1):
            a_prev = self._layer_input(i, buf)
            np.matmul(a_prev.T, delta, out=self.weight_grads[i])
            np.matmul(ones, delta, out=self.bias_grads[i][None, :])
            if i == 0:
                return delta @ self.weights[0].T if input_grad else None
            d_prev = buf["d"][i - 1]
            np.matmul(delta, self.weights[i].T, out=d_prev)
            if self._dropout_masks:
                d_prev *= self._dropout_masks[i - 1]
            self.activation.backward(buf["z"][i - 1], d_prev)
            delta = d_prev
        return None

    def _layer_input(self, i, buf):
        if i == 0:
            return self._input
        return buf["dropped"][i - 1] if self._dropout_masks else buf["z"][i - 1]

    def _drop(self, a, out, rate, rng):
        mask = rng.random(a.shape, dtype=self.dtype) >= rate
        mask = mask.astype(self.dtype) * (1.0 / (1.0 - rate))
        self._dropout_masks.append(mask)
        return np.multiply(a, mask, out=out)

    def _batch_buffers(self, n):
        """Preallocated activation/delta buffers, one set per batch size seen."""
        if n not in self._buffers:
            sizes = self.layer_sizes[1:]
            self._buffers[n] = {
                "z": [np.empty((n, s), self.dtype) for s in sizes],
                "dropped": [np.empty((n, s), self.dtype) for s in sizes[:-1]],
                "d": [np.empty((n, s), self.dtype) for s in sizes[:-1]],
                "ones": np.ones((1, n), self.dtype),
            }
        return self._buffers[n]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_buffers"], state["_dropout_masks"] = {}, []
        state.pop("_input", None)
        state.pop("weights"), state.pop("biases"), state.pop("weight_grads"), state.pop("bias_grads")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.weights, self.biases = _views(self.params, shapes)
        self.weight_grads, self.bias_grads = _views(self.grad, shapes)


def _views(flat, shapes):
    """Split a flat vector into weight-matrix views (first) and bias-vector views (after)."""
    weights, biases, start = [], [], 0
    for n_in, n_out in shapes:
        weights.append(flat[start:start + n_in * n_out].reshape(n_in, n_out))
        start += n_in * n_out
    for _, n_out in shapes:
        biases.append(flat[start:start + n_out])
        start += n_out
    return weights, biases


def linear_network(layer_sizes, dtype=np.float64):
    """A deep linear network: identity activations and an identity head."""
    return Network(layer_sizes, activation=Identity(), head="identity", dtype=dtype)
