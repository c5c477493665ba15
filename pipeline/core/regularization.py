"""Weight penalties (biases are never penalised) and early stopping.

Dropout lives in ``network.py`` because it acts inside the forward pass.
"""

import numpy as np


def penalty(weights, l1, l2):
    """l1 * sum|W| + (l2 / 2) * sum W**2 over the flat weight vector."""
    value = 0.0
    if l1:
        value += l1 * float(np.abs(weights).sum())
    if l2:
        value += 0.5 * l2 * float(weights @ weights)
    return value


def add_penalty_gradient(weights, weight_grad, l1, l2):
    """Add d(penalty)/dW in place: l1 * sign(W) (a subgradient at 0) + l2 * W."""
    if l2:
        weight_grad += float(l2) * weights
    if l1:
        weight_grad += float(l1) * np.sign(weights)


class EarlyStopping:
    """Stop when the monitored loss has not improved for ``patience`` epochs and
    remember the best parameters so they can be restored."""

    def __init__(self, patience=10, min_delta=0.0):
        if int(patience) < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}.")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best_loss, self.best_epoch, self.best_params = np.inf, -1, None
        self._waited = 0

    def update(self, epoch, loss, params):
        """Record ``loss`` for ``epoch``; return True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self._waited = loss, epoch, 0
            if self.best_params is None:
                self.best_params = params.copy()
            else:
                np.copyto(self.best_params, params)
            return False
        self._waited += 1
        return self._waited >= self.patience

    def restore(self, params):
        """Copy the best parameters seen back into ``params``."""
        if self.best_params is not None:
            np.copyto(params, self.best_params)
