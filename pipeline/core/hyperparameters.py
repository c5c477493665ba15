"""A base for small objects defined by their settings (activations, optimizers, schedules).

They can be passed as scikit-learn parameters, so they print as their constructor call
and compare by value; attributes starting with ``_`` are state, not settings.
"""


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
