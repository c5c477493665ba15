"""Did training converge, and did it fail? Reported for every optimizer.

Convergence of the first-order optimizers is scikit-learn MLP's test on the training
loss (they keep training to ``max_epochs``; this only reports). Divergence turns a
blown-up fit into :class:`TrainingDivergedError`, so it can never pass for a result.
"""

import math

# A training loss above LOSS_GROWTH x max(initial loss, LOSS_FLOOR) has diverged. Healthy
# training ends below its starting loss; Adam at learning_rate=1e6 reaches ~1e19. The
# floor keeps a near-perfect warm start (initial loss ~0) from becoming a hair trigger.
LOSS_GROWTH, LOSS_FLOOR = 1e3, 0.1
# A parameter beyond WEIGHT_LIMIT x max(1, max |target|) has diverged: on standardised
# inputs even an unscaled regression target needs weights of its own order only.
WEIGHT_LIMIT = 1e6


class TrainingDivergedError(FloatingPointError):
    """The loss or the weights became NaN, infinite or far larger than at the start."""


class PlateauMonitor:
    """scikit-learn MLPClassifier's stopping test, as a report: the training loss failed
    to improve on its best by more than ``tol`` for more than ``n_iter_no_change``
    consecutive epochs (the same count as scikit-learn's ``_no_improvement_count``).

    ``reached`` stays True once the plateau has been seen.
    """

    def __init__(self, tol=1e-4, n_iter_no_change=10):
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.best, self.count, self.reached = math.inf, 0, False

    def update(self, loss):
        self.count = self.count + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        self.reached = self.reached or self.count > self.n_iter_no_change
        return self.reached


class DivergenceGuard:
    """Raise :class:`TrainingDivergedError` at the first epoch whose loss or weights blew up.

    Parameters
    ----------
    initial_loss : float
        Training loss before the first update (``objectives.initial_loss``).
    target_scale : float
        max |target|: scales the weight limit for unscaled regression targets.
    advice : str
        What to try instead, ending the message.
    """

    def __init__(self, initial_loss, target_scale, advice):
        self.initial_loss = initial_loss
        self.loss_limit = LOSS_GROWTH * max(initial_loss, LOSS_FLOOR)
        self.weight_limit = WEIGHT_LIMIT * max(1.0, target_scale)
        self.advice = advice

    def check(self, params, record, epoch, lr):
        """Check one epoch's ``record`` (``train_loss``, maybe ``val_loss``) and ``params``."""
        train_loss, val_loss = record["train_loss"], record.get("val_loss", 0.0)
        # Two reductions and no temporary array; a NaN fails both comparisons.
        high, low = float(params.max()), float(params.min())
        if (math.isfinite(train_loss) and math.isfinite(val_loss) and train_loss <= self.loss_limit
                and -self.weight_limit <= low and high <= self.weight_limit):
            return
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch + 1}: {self._problems(train_loss, val_loss, high, low)} "
            f"with learning rate {lr:g}. {self.advice}"
        )

    def _problems(self, train_loss, val_loss, high, low):
        bad = [f"the {name} became {value}" for name, value in
               (("training loss", train_loss), ("validation loss", val_loss)) if not math.isfinite(value)]
        if math.isfinite(train_loss) and train_loss > self.loss_limit:
            bad.append(f"the training loss grew to {train_loss:.3g}, over {LOSS_GROWTH:g} x its "
                       f"initial {self.initial_loss:.3g}")
        if not (math.isfinite(high) and math.isfinite(low)):
            bad.append("the weights overflowed")
        elif max(high, -low) > self.weight_limit:
            bad.append(f"a weight reached {max(high, -low):.3g} (limit {self.weight_limit:.3g})")
        return " and ".join(bad)
