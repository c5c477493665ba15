"""Training K models of one architecture together, in lock-step: the folds of a
cross-validation (and its repeats, and the final refit) as one stacked model.

Each model keeps everything a lone training run has: its own rows (any number), its own
generator (shuffling, dropout masks), schedule, early stopping with its best epoch
restored, plateau and divergence checks, history and callbacks. Only the arithmetic is
shared: one batched product per layer for all models whose batches have equal shapes,
and one optimizer update for all of them (``stack.py``, ``batches.py``). A model that
stops early leaves the stack, so the others do not carry it. L-BFGS runs one
``lbfgs.iterate`` per model and evaluates all models that ask at once; a model that has
converged asks no more and stops updating.

The result equals training each model alone with the same generator, bit for bit:
``train`` is this function with one model (a test holds every optimizer, loss, dropout,
early stopping, weights and unequal row counts to exact equality).
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import lbfgs
from .activations import HEADS
from .batches import Batches, StackedRows
from .convergence import DivergenceGuard, PlateauMonitor, TrainingDivergedError
from .losses import Loss, get_loss
from .objectives import initial_loss
from .optimizers import get_optimizer
from .passes import row_dots
from .regularization import EarlyStopping
from .schedules import get_schedule
from .stack import StackedNetwork

CONVERGED_REASONS = ("gradient_tolerance", "objective_tolerance", "early_stopping")


@dataclass
class Fold:
    """One model's data: what ``training.train`` takes besides the network and generator.

    ``X`` (n, n_inputs); ``T`` (n, n_outputs) targets; ``weights`` (n,) per-example
    weights or None; ``validation`` = (X_val, T_val, weights_val or None) or None;
    ``on_epoch_end``: callables ``f(epoch, record, network)`` for this model;
    ``val_scores``: name -> ``f(T_val, predicted)`` recorded every epoch, scored on the
    network's predictions for its validation rows (n_val, n_outputs), as ``predict``
    gives them, from the pass that gives ``val_loss`` (a callback predicting them itself
    would repeat that pass).
    """

    X: np.ndarray
    T: np.ndarray
    weights: np.ndarray | None = None
    validation: tuple | None = None
    on_epoch_end: Sequence[Callable] = field(default_factory=tuple)
    val_scores: Mapping[str, Callable] = field(default_factory=dict)


def train_folds(networks, folds, config, rngs):
    """Train ``networks[k]`` on ``folds[k]`` with generator ``rngs[k]``, all in lock-step.

    Parameters
    ----------
    networks : list of Network
        Initialised networks of one architecture (layer sizes, activation, head, dtype),
        trained in place.
    folds : list of Fold
    config : training.TrainingConfig
        Shared by all models.
    rngs : list of numpy.random.Generator
        One per model: its only source of randomness.

    Returns
    -------
    list of dict
        Each model's history, exactly as ``training.train`` returns it for that model.

    Raises
    ------
    TrainingDivergedError
        When a model's loss or weights blow up (the message names the fold when K > 1).
    """
    if not (len(networks) == len(folds) == len(rngs)) or not networks:
        raise ValueError(f"need one network, fold and generator per model, got "
                         f"{len(networks)}, {len(folds)} and {len(rngs)}.")
    first = networks[0]
    loss = config.loss if isinstance(config.loss, Loss) else get_loss(config.loss, first.head)
    if not first.activation.trainable:
        first.activation.backward(None, None)  # raises the explanatory error
    optimizer = get_optimizer(config.optimizer)
    if optimizer.full_batch:
        _check_smooth(config)
    # Largest first: the models with a batch at any step are then consecutive (see batches.py).
    order = sorted(range(len(folds)), key=lambda k: -len(folds[k].X))
    stack = StackedNetwork.from_networks([networks[k] for k in order])
    _check_shapes(folds, first.layer_sizes)
    dtype = first.dtype
    rows = StackedRows([(folds[k].X, folds[k].T, folds[k].weights) for k in order], dtype)
    val = [folds[k].validation for k in order]
    val_rows = StackedRows([v if v is not None else _no_rows(folds[k]) for k, v in
                            zip(order, val)], dtype) if any(v is not None for v in val) else None
    runs = [_Run(k, networks[k], folds[k], rngs[k], config, optimizer.full_batch, len(folds) > 1,
                 loss, rows, slot) for slot, k in enumerate(order)]
    trainer = _LBFGS if optimizer.full_batch else _FirstOrder
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by the guards
        trainer(stack, rows, val_rows, runs, loss, config, optimizer).run()
    return [run.history for run in sorted(runs, key=lambda run: run.index)]


def _check_shapes(folds, sizes):
    for k, fold in enumerate(folds):
        parts = [("X", fold.X, sizes[0]), ("T", fold.T, sizes[-1])]
        if fold.validation is not None:
            parts += [("X_val", fold.validation[0], sizes[0]), ("T_val", fold.validation[1], sizes[-1])]
        for name, array, columns in parts:
            if np.ndim(array) != 2 or np.shape(array)[1] != columns:
                raise ValueError(f"fold {k}: {name} has shape {np.shape(array)}, but the networks "
                                 f"take {columns} columns there (layer sizes {sizes}).")


def _no_rows(fold):
    return (np.empty((0, fold.X.shape[1])), np.empty((0, fold.T.shape[1])),
            None if fold.weights is None else np.empty(0))


class _Run:
    """One model's bookkeeping: everything but the arithmetic."""

    def __init__(self, index, network, fold, rng, config, full_batch, named, loss, rows, slot):
        self.index, self.network, self.rng = index, network, rng
        self.callbacks = [fold.on_epoch_end] if callable(fold.on_epoch_end) else \
            list(fold.on_epoch_end)
        self.has_validation = fold.validation is not None
        self.val_scores = dict(fold.val_scores) if self.has_validation else {}
        self.history = {"train_loss": [], "learning_rate": [], "grad_norm": []}
        self.stopper = EarlyStopping(config.patience) if config.patience and \
            self.has_validation else None
        self.plateau = PlateauMonitor()
        self.schedule = None if full_batch else get_schedule(config.learning_rate)
        self.monitored, self.reason, self.prefix = None, "max_epochs", \
            f"fold {index}: " if named else ""
        if full_batch:
            advice = ("Use l2 > 0 (without it separable classes have no finite optimum) or "
                      "standardised inputs.")
        else:
            advice = "Try a smaller learning_rate, gradient clipping (clip_norm) or standardised inputs."
        n, X, T, w = rows.n[slot], *rows.group(slot, slot + 1)
        with np.errstate(over="ignore", invalid="ignore"):
            start = initial_loss(network, loss, X[0, :n], T[0, :n], None if w is None else w[0, :n])
        self.guard = DivergenceGuard(start, float(np.abs(T[0, :n]).max(initial=0.0)), advice)

    def end_epoch(self, params, record, epoch, lr, stack=None, slot=None, validation=None):
        """Validation loss, divergence check, val_scores, callbacks (with the network
        synchronised), then the history. ``validation``: (loss, (T_val, predicted) or None)."""
        if validation is not None:
            record["val_loss"] = validation[0]
        try:
            self.guard.check(params, record, epoch, lr)
        except TrainingDivergedError as error:
            raise TrainingDivergedError(f"{self.prefix}{error}") from None
        if validation is not None and validation[1] is not None:
            record.update((name, score(*validation[1])) for name, score in self.val_scores.items())
        if self.callbacks:
            stack.store(slot, self.network)
            for callback in self.callbacks:
                callback(epoch, record, self.network)
        for key, value in record.items():
            self.history.setdefault(key, []).append(value)
        self.monitored = record.get("val_loss", record["train_loss"])
        return bool(self.stopper and self.stopper.update(epoch, self.monitored, params))

    def finish(self, reason, converged, grad_norm, stack, slot):
        stack.store(slot, self.network)
        if self.stopper:
            self.history["best_epoch"] = self.stopper.best_epoch
        self.history.update(converged=converged, stop_reason=reason,
                            n_iter=len(self.history["train_loss"]), final_grad_norm=grad_norm)


class _Trainer:
    def __init__(self, stack, rows, val_rows, runs, loss, config, optimizer):
        self.stack, self.rows, self.val_rows, self.runs = stack, rows, val_rows, runs
        self.loss, self.config, self.optimizer = loss, config, optimizer

    def validation(self, slots):
        """{slot: (validation loss, (T_val, predicted) for its val_scores, else None)} of
        the models ``slots`` that have a validation set."""
        out, val = {}, self.val_rows
        for lo, hi, n in ([] if val is None else val.groups(slots)):
            X, T, w = val.group(lo, hi)
            scored = any(self.runs[slot].val_scores for slot in range(lo, hi))
            losses, logits = self.stack.data_losses(slice(lo, hi), X, T, w, n, self.loss,
                                                    keep_logits=scored)
            for j, slot in enumerate(range(lo, hi)):
                predicted = None
                if self.runs[slot].val_scores:  # as Network.predict gives them
                    predicted = (T[j, :n], HEADS[self.stack.head](logits[j]))
                out[slot] = (losses[j], predicted)
        return out

    def final_gradient_norms(self, slots):
        """{slot: norm of dJ/dparams over all its rows, no dropout}, at the current weights."""
        out, config = {}, self.config
        for lo, hi, n in self.rows.groups(slots):
            X, T, w = self.rows.group(lo, hi)
            self.stack.full_gradient(slice(lo, hi), X, T, w, n, self.loss, config.l1, config.l2)
            out.update(zip(range(lo, hi), self.stack.grad_norms(slice(lo, hi))))
        return out


@dataclass
class _GroupStep:
    """One group's part of a training step: models lo..hi-1, batches of equal shape."""

    lo: int
    hi: int
    span: tuple  # (lo, hi, start, size) of the batch
    fill: bool  # the batch must be gathered first
    step: object  # passes.Pass
    w: np.ndarray | None
    params: np.ndarray
    grad: np.ndarray
    optimizer: object
    shares: list  # each model's share of its epoch's loss (unweighted)
    totals: list  # each model's total weight


class _FirstOrder(_Trainer):
    """Epochs of mini-batch steps; converged = early stopping ended it or the loss plateaued."""

    def run(self):
        self.optimizer.reset(self.stack.params)
        self.batches = Batches(self.rows, self.config.batch_size)
        self.plan = self._plan()
        for epoch in range(self.config.max_epochs):
            rates = [run.schedule.rate(epoch, run.monitored) for run in self.runs]
            records = self.epoch(rates)
            stopped = self.end_epoch(epoch, rates, records)
            if stopped:
                self.finish(stopped, "early_stopping")
                if not self.runs:
                    return
        self.batches = self.plan = None  # the shuffled copy is freed before the final pass
        self.finish(range(len(self.runs)), None)

    def epoch(self, rates):
        """One pass of every model over its shuffled rows: forward, loss, backward, update."""
        batches, config, loss = self.batches, self.config, self.loss
        batches.shuffle([run.rng for run in self.runs])
        k = len(self.runs)
        losses, norms, counts = [0.0] * k, [0.0] * k, [0] * k
        l1, l2, rate = config.l1, config.l2, config.dropout
        for step in self.plan:
            for g in step:
                if g.fill:
                    batches.fill(*g.span)
                batch_losses = g.step.gradient(loss, l1, l2, rate)
                batch_norms = [math.sqrt(value) for value in row_dots(g.grad, g.grad)]
                g.optimizer.clip(g.grad, batch_norms)
                g.optimizer.step(g.params, g.grad, rates[g.lo:g.hi])
                shares = g.shares if g.w is None else \
                    [s / total for s, total in zip(g.w.sum(axis=-1).tolist(), g.totals)]
                for j, value, norm, share in zip(range(g.lo, g.hi), batch_losses, batch_norms,
                                                 shares):
                    losses[j] += value * share
                    norms[j] += norm
                    counts[j] += 1
        return [{"train_loss": value, "grad_norm": norm / count}
                for value, norm, count in zip(losses, norms, counts)]

    def _plan(self):
        """Every step's groups, with all they touch bound once (``passes.Pass``)."""
        batches, stack, k = self.batches, self.stack, len(self.runs)
        rngs = [run.rng for run in self.runs] if self.config.dropout > 0.0 else None
        plan = []
        for groups in batches.steps:
            step = []
            for lo, hi, start, size in groups:
                rows = slice(lo, hi)
                X, T, w = batches.batch(lo, hi, start, size)
                step.append(_GroupStep(
                    lo=lo, hi=hi, span=(lo, hi, start, size), fill=batches.needs_fill(lo, hi),
                    step=stack.bind(rows, X, T, w, rngs and rngs[lo:hi]), w=w,
                    params=stack.params[rows], grad=stack.grad[rows],
                    optimizer=self.optimizer if (lo, hi) == (0, k) else self.optimizer.rows(rows),
                    shares=[size / total for total in batches.total_weight[lo:hi]],
                    totals=batches.total_weight[lo:hi]))
            plan.append(step)
        return plan

    def end_epoch(self, epoch, rates, records):
        """Each model's epoch record, in fold order; the slots whose early stopping fired."""
        val = self.validation(range(len(self.runs)))
        stopped = []
        for slot in sorted(range(len(self.runs)), key=lambda s: self.runs[s].index):
            run, record = self.runs[slot], records[slot]
            record["learning_rate"] = rates[slot]
            if run.end_epoch(self.stack.params[slot], record, epoch, rates[slot], self.stack, slot,
                             val.get(slot)):
                stopped.append(slot)
            run.plateau.update(record["train_loss"])
        return sorted(stopped)

    def finish(self, slots, reason):
        """Restore the best weights, report, and drop the finished models from the stack."""
        slots = list(slots)
        for slot in slots:
            run = self.runs[slot]
            run.reason = reason or run.reason
            if run.stopper:
                run.stopper.restore(self.stack.params[slot])
        norms = self.final_gradient_norms(slots)
        for slot in slots:
            run = self.runs[slot]
            run.finish(run.reason, run.reason == "early_stopping" or run.plateau.reached,
                       norms[slot], self.stack, slot)
        keep = np.array([s for s in range(len(self.runs)) if s not in set(slots)], int)
        if len(keep) and len(keep) < len(self.runs):
            self.stack = self.stack.take(keep)
            self.rows = self.rows.take(keep)
            self.val_rows = None if self.val_rows is None else self.val_rows.take(keep)
            self.optimizer = self.optimizer.rows(keep)
            self.batches = Batches(self.rows, self.config.batch_size)
        self.runs = [self.runs[s] for s in keep]
        if len(keep):
            self.plan = self._plan()


class _LBFGS(_Trainer):
    """Full-batch L-BFGS per model: one history entry per iteration; converged = a
    tolerance reached (or early stopping ended it). Generators are not used."""

    def run(self):
        stack, k = self.stack, len(self.runs)
        self.data_loss = [math.nan] * k
        self.linear = {} if len(stack.shapes) == 1 else None  # LinearStack per group
        iterations = [lbfgs.iterate(stack.params[s], stack.grad[s], self.optimizer,
                                    self.config.max_epochs, self._on_iteration(s))
                      for s in range(k)]
        for iteration in iterations:
            next(iteration)
        pending, results = list(range(k)), {}
        while pending:
            values = self.evaluate(pending)
            asking = []
            for slot in pending:
                try:
                    iterations[slot].send(values[slot])
                    asking.append(slot)
                except StopIteration as done:
                    results[slot] = done.value
            pending = asking
        self.finish(results)

    def _on_iteration(self, slot):
        run, stack = self.runs[slot], self.stack

        def on_iteration(iteration, f, step):
            grad = stack.grad[slot]
            record = {"train_loss": self.data_loss[slot], "learning_rate": step,
                      "grad_norm": math.sqrt(float(grad @ grad))}
            return run.end_epoch(stack.params[slot], record, iteration, step, stack, slot,
                                 self.validation([slot]).get(slot))
        return on_iteration

    def evaluate(self, slots):
        """{slot: J} at each model's current parameters, gradients into ``stack.grad``."""
        values, l2 = {}, self.config.l2
        for lo, hi, n in self.rows.groups(slots):
            rows = slice(lo, hi)
            if self.linear is not None:  # no hidden layer: the fast exact evaluator
                if (lo, hi) not in self.linear:
                    self.linear[(lo, hi)] = self.stack.linear_objective(
                        rows, *self.rows.group(lo, hi), n, self.loss, l2)
                losses = self.linear[(lo, hi)]()
            else:
                X, T, w = self.rows.group(lo, hi)
                losses = self.stack.full_gradient(rows, X, T, w, n, self.loss, 0.0, l2)
            penalties = self.stack.penalties(rows, 0.0, l2)
            for slot, value, penalty in zip(range(lo, hi), losses, penalties):
                self.data_loss[slot] = value
                values[slot] = value + penalty
        return values

    def finish(self, results):
        redo = []
        for slot, result in results.items():
            run = self.runs[slot]
            if not math.isfinite(result.f):
                raise TrainingDivergedError(
                    f"{run.prefix}training diverged at the start: the objective is {result.f} "
                    f"at the initial weights. {run.guard.advice}")
            run.reason = "early_stopping" if result.reason == "stopped" else result.reason
            if run.stopper:
                run.stopper.restore(self.stack.params[slot])
                redo.append(slot)
        norms = self.final_gradient_norms(sorted(redo))
        for slot in results:
            grad = self.stack.grad[slot]
            norm = norms[slot] if slot in norms else math.sqrt(float(grad @ grad))
            run = self.runs[slot]
            run.finish(run.reason, run.reason in CONVERGED_REASONS, norm, self.stack, slot)


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
