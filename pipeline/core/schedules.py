"""Learning-rate schedules, evaluated once per epoch.

``rate(epoch, monitored_loss)`` returns the learning rate for ``epoch`` (0-based);
only :class:`ReduceOnPlateau` looks at the loss it is given.
"""

import copy
import math

from .hyperparameters import Hyperparameters


class Schedule(Hyperparameters):
    name = "schedule"

    def __init__(self, initial):
        if not initial > 0:
            raise ValueError(f"learning_rate must be positive, got {initial!r}.")
        self.initial = float(initial)

    def reset(self):
        """Forget state from a previous fit."""

    def rate(self, epoch, monitored_loss=None):
        raise NotImplementedError


class Constant(Schedule):
    name = "constant"

    def rate(self, epoch, monitored_loss=None):
        return self.initial


class StepDecay(Schedule):
    """Multiply the rate by ``factor`` every ``step_size`` epochs."""

    name = "step"

    def __init__(self, initial, step_size=50, factor=0.5):
        super().__init__(initial)
        self.step_size, self.factor = int(step_size), float(factor)

    def rate(self, epoch, monitored_loss=None):
        return self.initial * self.factor ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """lr = initial * decay**epoch."""

    name = "exponential"

    def __init__(self, initial, decay=0.99):
        super().__init__(initial)
        self.decay = float(decay)

    def rate(self, epoch, monitored_loss=None):
        return self.initial * self.decay**epoch


class Cosine(Schedule):
    """Cosine annealing from ``initial`` to ``minimum`` over ``period`` epochs."""

    name = "cosine"

    def __init__(self, initial, period=200, minimum=0.0):
        super().__init__(initial)
        self.period, self.minimum = int(period), float(minimum)

    def rate(self, epoch, monitored_loss=None):
        progress = min(epoch, self.period) / self.period
        return self.minimum + 0.5 * (self.initial - self.minimum) * (1 + math.cos(math.pi * progress))


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` when the monitored loss (validation loss when
    there is a validation set, else training loss) has not improved for ``patience`` epochs."""

    name = "reduce_on_plateau"

    def __init__(self, initial, factor=0.5, patience=10, minimum=1e-6):
        super().__init__(initial)
        self.factor, self.patience, self.minimum = float(factor), int(patience), float(minimum)
        self.reset()

    def reset(self):
        self._lr, self._best, self._waited = self.initial, math.inf, 0

    def rate(self, epoch, monitored_loss=None):
        if monitored_loss is not None:
            if monitored_loss < self._best:
                self._best, self._waited = monitored_loss, 0
            else:
                self._waited += 1
                if self._waited > self.patience:
                    self._lr, self._waited = max(self._lr * self.factor, self.minimum), 0
        return self._lr


SCHEDULES = {cls.name: cls for cls in (Constant, StepDecay, ExponentialDecay, Cosine, ReduceOnPlateau)}


def get_schedule(learning_rate):
    """A float gives a constant rate; a :class:`Schedule` is copied and reset."""
    if isinstance(learning_rate, Schedule):
        schedule = copy.deepcopy(learning_rate)  # the caller's object stays untouched
        schedule.reset()
        return schedule
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
        raise ValueError(
            f"learning_rate must be a positive float or a Schedule ({sorted(SCHEDULES)}), "
            f"got {learning_rate!r}."
        )
    return Constant(learning_rate)
