"""The training loop: forward, loss, backward, update — plus the bookkeeping
(shuffling, schedules, penalties, early stopping, history, divergence checks).

The objective minimised is exactly the one in DESIGN.md::

    J = sum_i s_i L_i / sum_i s_i  +  l1 sum|W|  +  (l2 / 2) sum W**2

over each mini-batch, with ``s_i`` the sample weight times the class weight.
"""

import math
from dataclasses import dataclass

import numpy as np

from .losses import Loss, get_loss
from .optimizers import Optimizer, get_optimizer
from .regularization import EarlyStopping, add_penalty_gradient, penalty
from .schedules import Schedule, get_schedule


class TrainingDivergedError(FloatingPointError):
    """The loss or the weights became NaN or infinite."""


@dataclass
class TrainingConfig:
    """Hyperparameters of one training run (see DESIGN.md for their meaning)."""

    loss: str | Loss = "cross_entropy"
    optimizer: str | Optimizer = "adam"
    learning_rate: float | Schedule = 1e-3
    batch_size: int | None = 32  # None = full batch; 1 = pure stochastic gradient descent
    max_epochs: int = 200
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    patience: int | None = None  # early stopping on validation loss when set


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


def compute_gradient(network, loss, X, T, weights=None, l1=0.0, l2=0.0, dropout=0.0, rng=None):
    """Fill ``network.grad`` with dJ/dparams on a batch; return the batch's data loss."""
    z = network.forward(X, dropout, rng)
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


def train(network, X, T, config, rng, weights=None, validation=None, on_epoch_end=()):
    """Train ``network`` in place and return its per-epoch history.

    Parameters
    ----------
    network : Network
        Initialised network; its dtype decides the arithmetic.
    X : ndarray of shape (n, n_inputs)
    T : ndarray of shape (n, n_outputs)
        Targets: 0/1 column (sigmoid head), one-hot rows (softmax) or values (identity).
    config : TrainingConfig
    rng : numpy.random.Generator
        The only source of randomness (shuffling, dropout).
    weights : ndarray of shape (n,), optional
        Per-example weights s_i.
    validation : tuple (X_val, T_val, weights_val or None), optional
        Monitored every epoch (``val_loss``); early stopping uses it when
        ``config.patience`` is set, and then the best weights are restored.
    on_epoch_end : callable or sequence of callables
        Called as ``f(epoch, record, network)`` after each epoch; may add metrics to
        ``record`` (a dict), which then appear in the history.

    Returns
    -------
    history : dict of lists
        ``train_loss``, ``learning_rate``, ``grad_norm``, ``val_loss`` (with a
        validation set) and callback metrics, one entry per epoch; plus
        ``best_epoch`` (int) when early stopping ran.
    """
    loss = config.loss if isinstance(config.loss, Loss) else get_loss(config.loss, network.head)
    if not network.activation.trainable:
        network.activation.backward(None, None)  # raises the explanatory error
    optimizer = get_optimizer(config.optimizer)
    optimizer.reset(network.params)
    schedule = get_schedule(config.learning_rate)
    stopper = EarlyStopping(config.patience) if config.patience and validation else None
    callbacks = [on_epoch_end] if callable(on_epoch_end) else list(on_epoch_end)
    batches = _Batches(X, T, weights, config.batch_size, network.dtype)

    history, monitored = {"train_loss": [], "learning_rate": [], "grad_norm": []}, None
    for epoch in range(config.max_epochs):
        lr = schedule.rate(epoch, monitored)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            record = _run_epoch(network, loss, batches, config, optimizer, lr, rng)
        record["learning_rate"] = lr
        if validation is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                record["val_loss"] = data_loss(network, loss, *validation)
        _check_finite(network, record, epoch, lr)
        for callback in callbacks:
            callback(epoch, record, network)
        for key, value in record.items():
            history.setdefault(key, []).append(value)
        monitored = record.get("val_loss", record["train_loss"])
        if stopper and stopper.update(epoch, monitored, network.params):
            break
    if stopper:
        stopper.restore(network.params)
        history["best_epoch"] = stopper.best_epoch
    return history


def _run_epoch(network, loss, batches, config, optimizer, lr, rng):
    """One pass over the shuffled data: forward, loss, backward, update per batch."""
    total_loss = total_norm = 0.0
    n_batches = 0
    for Xb, Tb, wb, share in batches.epoch(rng):
        batch_loss = compute_gradient(
            network, loss, Xb, Tb, wb, config.l1, config.l2, config.dropout, rng
        )
        norm = math.sqrt(float(network.grad @ network.grad))
        optimizer.clip(network.grad, norm)
        optimizer.step(network.params, network.grad, lr)
        total_loss += batch_loss * share
        total_norm += norm
        n_batches += 1
    return {"train_loss": total_loss, "grad_norm": total_norm / n_batches}


def _check_finite(network, record, epoch, lr):
    losses = {"training loss": record["train_loss"], "validation loss": record.get("val_loss", 0.0)}
    bad = [f"the {name} became {value}" for name, value in losses.items() if not math.isfinite(value)]
    if not np.isfinite(network.params).all():
        bad.append("the weights overflowed")
    if not bad:
        return
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch + 1}: {' and '.join(bad)} "
        f"with learning rate {lr:g}. Try a smaller learning_rate, gradient clipping "
        f"(clip_norm) or standardised inputs."
    )


class _Batches:
    """Shuffled mini-batches as contiguous slices of one reshuffled copy per epoch."""

    def __init__(self, X, T, weights, batch_size, dtype):
        self.X = np.ascontiguousarray(X, dtype=dtype)
        self.T = np.ascontiguousarray(T, dtype=dtype)
        self.w = None if weights is None else np.ascontiguousarray(weights, dtype=dtype)
        n = self.X.shape[0]
        self.size = n if batch_size is None else min(int(batch_size), n)
        self.n = n
        self._X, self._T = np.empty_like(self.X), np.empty_like(self.T)
        self._w = None if self.w is None else np.empty_like(self.w)
        self._total_weight = n if self.w is None else float(self.w.sum())

    def epoch(self, rng):
        """Yield ``(X_batch, T_batch, w_batch, share)``; share = batch's part of the epoch loss."""
        if self.size == self.n:
            X, T, w = self.X, self.T, self.w  # full batch: order is irrelevant
        else:
            order = rng.permutation(self.n)
            # mode="clip" avoids the hidden full copy that mode="raise" makes with out=.
            X = np.take(self.X, order, axis=0, out=self._X, mode="clip")
            T = np.take(self.T, order, axis=0, out=self._T, mode="clip")
            w = None if self.w is None else np.take(self.w, order, out=self._w, mode="clip")
        for start in range(0, self.n, self.size):
            stop = min(start + self.size, self.n)
            wb = None if w is None else w[start:stop]
            share = (stop - start if wb is None else float(wb.sum())) / self._total_weight
            yield X[start:stop], T[start:stop], wb, share
