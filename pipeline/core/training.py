"""The training loop: forward, loss, backward, update — plus the bookkeeping
(shuffling, schedules, penalties, early stopping, history, convergence, divergence).

The objective minimised is exactly the one in DESIGN.md::

    J = sum_i s_i L_i / sum_i s_i  +  l1 sum|W|  +  (l2 / 2) sum W**2

over each mini-batch for the first-order optimizers, over all rows for L-BFGS.

One network trains as a stack of one (``lockstep.train_folds``): the same code trains the
folds of a cross-validation together, and a fold trained with them gets exactly the
numbers it gets here.
"""

from dataclasses import dataclass

from .convergence import TrainingDivergedError
from .lockstep import Fold, train_folds
from .losses import Loss
from .objectives import compute_gradient, data_loss, objective
from .optimizers import Optimizer
from .schedules import Schedule

__all__ = [
    "SUMMARY_KEYS", "Fold", "TrainingConfig", "TrainingDivergedError", "compute_gradient",
    "data_loss", "objective", "train", "train_folds",
]

# Entries of the returned history that are one value per run, not one per epoch.
SUMMARY_KEYS = ("best_epoch", "converged", "stop_reason", "n_iter", "final_grad_norm")


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
    callbacks = [on_epoch_end] if callable(on_epoch_end) else list(on_epoch_end)
    return train_folds([network], [Fold(X, T, weights, validation, callbacks)], config, [rng])[0]
