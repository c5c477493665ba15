"""The training loop: forward, loss, backward, update — plus the bookkeeping
(shuffling, schedules, penalties, early stopping, history, convergence, divergence).

The objective minimised is exactly the one in DESIGN.md::

    J = sum_i s_i L_i / sum_i s_i  +  l1 sum|W|  +  (l2 / 2) sum W**2

over each mini-batch for the first-order optimizers, over all rows for L-BFGS.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import lbfgs
from .convergence import DivergenceGuard, PlateauMonitor, TrainingDivergedError
from .losses import Loss, get_loss
from .objectives import (
    compute_gradient,
    data_loss,
    full_batch_objective,
    full_gradient,
    initial_loss,
    objective,
)
from .optimizers import Optimizer, get_optimizer
from .regularization import EarlyStopping
from .schedules import Schedule, get_schedule

__all__ = [
    "SUMMARY_KEYS", "TrainingConfig", "TrainingDivergedError", "compute_gradient", "data_loss",
    "objective", "train",
]

# Entries of the returned history that are one value per run, not one per epoch.
SUMMARY_KEYS = ("best_epoch", "converged", "stop_reason", "n_iter", "final_grad_norm")
CONVERGED_REASONS = ("gradient_tolerance", "objective_tolerance", "early_stopping")


@dataclass
class TrainingConfig:
    """Hyperparameters of one training run (see DESIGN.md for their meaning)."""

    loss: str | Loss = "cross_entropy"
    optimizer: str | Optimizer = "adam"
    learning_rate: float | Schedule = 1e-3  # unused by lbfgs (its line search picks steps)
    batch_size: int | None = 32  # None = full batch; 1 = pure SGD; lbfgs: always full batch
    max_epochs: int = 200  # lbfgs: iterations
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    patience: int | None = None  # early stopping on validation loss when set


def train(network, X, T, config, rng, weights=None, validation=None, on_epoch_end=()):
    """Train ``network`` in place and return its per-epoch history and convergence summary.

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
    history : dict
        Per epoch (L-BFGS: per iteration), lists of ``train_loss``, ``learning_rate``
        (L-BFGS: the accepted step length), ``grad_norm``, ``val_loss`` (with a
        validation set) and callback metrics. Per run (``SUMMARY_KEYS``):
        ``converged`` (bool), ``stop_reason`` (str), ``n_iter`` (epochs or iterations
        run), ``final_grad_norm`` (L2 norm of dJ/dparams over all rows, without
        dropout, at the returned weights) and, when early stopping ran, ``best_epoch``.

    Raises
    ------
    TrainingDivergedError
        When the loss or the weights blow up (see ``convergence.DivergenceGuard``).
    """
    loss = config.loss if isinstance(config.loss, Loss) else get_loss(config.loss, network.head)
    if not network.activation.trainable:
        network.activation.backward(None, None)  # raises the explanatory error
    optimizer = get_optimizer(config.optimizer)
    callbacks = [on_epoch_end] if callable(on_epoch_end) else list(on_epoch_end)
    X, T = (np.ascontiguousarray(a, dtype=network.dtype) for a in (X, T))
    weights = None if weights is None else np.ascontiguousarray(weights, dtype=network.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        start_loss = initial_loss(network, loss, X, T, weights)
    if optimizer.full_batch:
        _check_smooth(config)
        advice = ("Use l2 > 0 (without it separable classes have no finite optimum) or "
                  "standardised inputs.")
        run = _train_lbfgs
    else:
        advice = "Try a smaller learning_rate, gradient clipping (clip_norm) or standardised inputs."
        run = _train_first_order
    guard = DivergenceGuard(start_loss, float(np.abs(T).max(initial=0.0)), advice)
    history, reason, converged, grad_ready = run(
        network, loss, X, T, config, optimizer, rng, weights, validation, callbacks, guard
    )
    if not grad_ready:
        with np.errstate(over="ignore", invalid="ignore"):
            full_gradient(network, loss, X, T, weights, config.l1, config.l2)
    history.update(converged=converged, stop_reason=reason, n_iter=len(history["train_loss"]),
                   final_grad_norm=math.sqrt(float(network.grad @ network.grad)))
    return history


def _train_first_order(network, loss, X, T, config, optimizer, rng, weights, validation,
                       callbacks, guard):
    """Epochs of mini-batch steps; converged = early stopping ended it or the loss plateaued."""
    optimizer.reset(network.params)
    schedule = get_schedule(config.learning_rate)
    stopper = EarlyStopping(config.patience) if config.patience and validation else None
    plateau = PlateauMonitor()
    batches = _Batches(X, T, weights, config.batch_size, network.dtype)

    history, monitored, reason = _new_history(), None, "max_epochs"
    for epoch in range(config.max_epochs):
        lr = schedule.rate(epoch, monitored)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            record = _run_epoch(network, loss, batches, config, optimizer, lr, rng)
        record["learning_rate"] = lr
        _end_epoch(network, loss, validation, callbacks, guard, history, record, epoch, lr)
        plateau.update(record["train_loss"])
        monitored = record.get("val_loss", record["train_loss"])
        if stopper and stopper.update(epoch, monitored, network.params):
            reason = "early_stopping"
            break
    if stopper:
        stopper.restore(network.params)
        history["best_epoch"] = stopper.best_epoch
    return history, reason, reason == "early_stopping" or plateau.reached, False


def _train_lbfgs(network, loss, X, T, config, settings, rng, weights, validation, callbacks,
                 guard):
    """Full-batch L-BFGS: one history entry per iteration; converged = a tolerance reached
    (or early stopping ended it). ``rng`` is not used: nothing is random."""
    evaluate = full_batch_objective(network, loss, X, T, weights, config.l2)
    stopper = EarlyStopping(config.patience) if config.patience and validation else None
    history = _new_history()

    def on_iteration(iteration, f, step):
        record = {"train_loss": evaluate.data_loss, "learning_rate": step,
                  "grad_norm": math.sqrt(float(network.grad @ network.grad))}
        _end_epoch(network, loss, validation, callbacks, guard, history, record, iteration, step)
        monitored = record.get("val_loss", record["train_loss"])
        return bool(stopper and stopper.update(iteration, monitored, network.params))

    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by the guard
        result = lbfgs.minimize(evaluate, network.params, network.grad, settings,
                                config.max_epochs, on_iteration)
    if not math.isfinite(result.f):
        raise TrainingDivergedError(
            f"training diverged at the start: the objective is {result.f} at the initial "
            f"weights. {guard.advice}"
        )
    reason = "early_stopping" if result.reason == "stopped" else result.reason
    grad_ready = stopper is None
    if stopper:
        stopper.restore(network.params)
        history["best_epoch"] = stopper.best_epoch
    return history, reason, reason in CONVERGED_REASONS, grad_ready


def _check_smooth(config):
    """L-BFGS needs one smooth, deterministic objective: no L1 kink, no random dropout."""
    bad = [f"{key}={value!r}" for key, value in (("l1", config.l1), ("dropout", config.dropout))
           if value > 0]
    if bad:
        raise ValueError(
            f"optimizer='lbfgs' needs a smooth, deterministic objective, but {' and '.join(bad)} "
            f"(L1 is not differentiable at 0; dropout redraws its masks). Use optimizer='adam' "
            f"(or another first-order optimizer) for L1 or dropout, or l2 with lbfgs."
        )


def _new_history():
    return {"train_loss": [], "learning_rate": [], "grad_norm": []}


def _end_epoch(network, loss, validation, callbacks, guard, history, record, epoch, lr):
    """Validation loss, divergence check, callbacks, then the record joins the history."""
    if validation is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            record["val_loss"] = data_loss(network, loss, *validation)
    guard.check(network.params, record, epoch, lr)
    for callback in callbacks:
        callback(epoch, record, network)
    for key, value in record.items():
        history.setdefault(key, []).append(value)


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
