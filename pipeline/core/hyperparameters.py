"""A base for small objects defined by their settings (activations, optimizers, schedules),
and the checks of hyperparameter values (each error names the parameter and the valid values).

Such objects can be passed as scikit-learn parameters, so they print as their constructor
call and compare by value; attributes starting with ``_`` are state, not settings.
"""

from numbers import Integral, Real

import numpy as np


class Hyperparameters:
    def _settings(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self._settings() == other._settings()

    def __hash__(self):
        # Equal objects must hash equal; settings may be unhashable (lists), so the type
        # alone: a model holds only a few of these.
        return hash(type(self))


def check_choice(name, value, choices, instance_of=None):
    if instance_of is not None and isinstance(value, instance_of):
        return
    # Lists and dicts are unhashable look-alikes; and since 1 == True, a bool must be given
    # where the choices are bools and only there.
    if isinstance(value, (list, dict)) or value not in choices or (
        isinstance(value, (bool, np.bool_)) != all(isinstance(c, bool) for c in choices)
    ):
        alternative = f" or a {instance_of.__name__} instance" if instance_of else ""
        raise ValueError(f"{name} must be one of {list(choices)}{alternative}, got {value!r}.")


def check_number(name, value, low=None, high=None, low_open=False, high_open=False, extra=""):
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        bounds = f"{lo}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{hi}"
        raise ValueError(f"{name} must be a number in {bounds}{' ' + extra if extra else ''}, got {value!r}.")


def check_int(name, value, low, extra=""):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{' ' + extra if extra else ''}, got {value!r}.")
