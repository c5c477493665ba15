"""The experiment's configuration schema, checked before any data is touched.

Hydra composes ``conf/`` into a plain dict; :func:`validate` checks it against the
dataclasses below, so a misspelt key or an invalid value fails at start-up with a message
naming the key and the valid options. Allowed names come from where they are defined (the
core's registries, the metrics table); defaults live in ``conf/`` only, so every field here
is required. The ``dataset``, ``preprocess`` and ``split`` groups are checked against the
keys their modules read (``KNOWN_KEYS`` there) and then by those modules themselves.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Literal

from .core.activations import TRAINABLE_ACTIVATIONS
from .core.losses import LOSS_NAMES
from .core.optimizers import OPTIMIZERS
from .core.schedules import SCHEDULES
from .errors import ConfigError, did_you_mean
from .evaluation import RECALIBRATION_METHODS
from .metrics.registry import OBJECTIVES

__all__ = ["ConfigError", "ExperimentConfig", "flatten", "validate"]

ACTIVATION = Literal[TRAINABLE_ACTIVATIONS]
LOSS = Literal[tuple(dict.fromkeys(name for names in LOSS_NAMES.values() for name in names))]
RULE = Literal[tuple(OPTIMIZERS)]
SCHEDULE = Literal[tuple(SCHEDULES)]
OBJECTIVE = Literal[OBJECTIVES]


@dataclass
class ModelConfig:
    name: Literal["logistic", "mlp"]  # logistic = no hidden layer
    hidden_layer_sizes: list[int]
    activation: ACTIVATION
    negative_slope: float  # leaky_relu only


@dataclass
class LossConfig:
    name: LOSS


@dataclass
class ScheduleConfig:
    name: SCHEDULE
    step_size: int  # step
    factor: float  # step, reduce_on_plateau
    decay: float  # exponential
    period: int | None  # cosine; None = max_epochs
    minimum: float  # cosine, reduce_on_plateau
    patience: int  # reduce_on_plateau


@dataclass
class OptimizerConfig:
    name: str  # the option's name in conf/optimizer/ (gd, minibatch, ... name a rule and its settings)
    rule: RULE
    learning_rate: float
    batch_size: int | None  # None = full batch; 1 = pure SGD
    max_epochs: int
    momentum: float  # momentum, nesterov
    beta1: float  # adam
    beta2: float  # adam
    rho: float  # rmsprop
    clip_norm: float | None
    schedule: ScheduleConfig


@dataclass
class RegularizationConfig:
    name: str
    l1: float
    l2: float
    dropout: float
    early_stopping: bool
    patience: int
    l2_grid: list[float]  # l2 chosen per outer fold on its inner validation part; [] = off


@dataclass
class TrackingConfig:
    enabled: bool
    uri: str | None  # None = $MLFLOW_TRACKING_URI or the project's mlflow.db
    experiment: str | None  # None = the dataset's name
    log_model: bool
    log_plots: bool
    log_models_with_training_rows: bool  # log a model whose fitted state holds training rows (knn)


@dataclass
class CalibrationConfig:
    name: Literal[RECALIBRATION_METHODS]  # fitted per outer fold on its inner validation part


@dataclass
class EvaluationConfig:
    name: str
    importance: bool  # permutation importance on each outer fold's test part
    importance_repeats: int  # permutations per variable and fold
    subgroups: list[str]  # feature columns or <column>_band of evaluation.bands
    bands: dict | None  # numeric column -> ascending band edges
    min_events: int  # subgroups with fewer events or non-events are not scored


@dataclass
class ExperimentConfig:
    dataset: dict
    preprocess: dict
    split: dict
    model: ModelConfig
    loss: LossConfig
    optimizer: OptimizerConfig
    regularization: RegularizationConfig
    tracking: TrackingConfig
    seed: int
    objective: OBJECTIVE
    n_bootstrap: int  # resamples for the 95% confidence intervals
    sweep_id: str | None  # set by sweeps; groups runs in MLflow
    debug: bool  # full tracebacks
    resume: str | None  # a sweep id (or "latest") whose unfinished configurations a sweep reruns
    sweep_details: Literal["best", "all"]  # importance and model in a sweep: best configuration or all
    calibration: CalibrationConfig
    evaluation: EvaluationConfig


#: What a sweep with ``sweep_details=best`` defers to its end, for its best configuration.
DETAIL_PARTS = ("importance", "model")
#: The run tag saying so: "deferred" on a sweep's runs, then "completed" on its best.
DETAILS_TAG = "biotab.details"


#: Allowed ranges of numeric keys: (low, high, low inclusive, high inclusive); None = open.
#: Checked here, before any data is read, so that the message names the config key rather
#: than the estimator argument it becomes.
RANGES = {
    "optimizer.learning_rate": (0.0, None, False, False),
    "optimizer.batch_size": (1, None, True, False),
    "optimizer.max_epochs": (1, None, True, False),
    "optimizer.momentum": (0.0, 1.0, True, False),
    "optimizer.beta1": (0.0, 1.0, True, False),
    "optimizer.beta2": (0.0, 1.0, True, False),
    "optimizer.rho": (0.0, 1.0, True, False),
    "optimizer.clip_norm": (0.0, None, False, False),
    "optimizer.schedule.step_size": (1, None, True, False),
    "optimizer.schedule.factor": (0.0, 1.0, False, True),
    "optimizer.schedule.decay": (0.0, 1.0, False, True),
    "optimizer.schedule.period": (1, None, True, False),
    "optimizer.schedule.minimum": (0.0, None, True, False),
    "optimizer.schedule.patience": (1, None, True, False),
    "regularization.l1": (0.0, None, True, False),
    "regularization.l2": (0.0, None, True, False),
    "regularization.dropout": (0.0, 1.0, True, False),
    "regularization.patience": (1, None, True, False),
    "regularization.l2_grid": (0.0, None, True, False),
    "model.hidden_layer_sizes": (1, None, True, False),
    "model.negative_slope": (0.0, None, True, False),
    "n_bootstrap": (0, None, True, False),
    "seed": (0, None, True, False),
    "evaluation.importance_repeats": (1, None, True, False),
    "evaluation.min_events": (1, None, True, False),
}


def validate(raw: dict) -> ExperimentConfig:
    """Check a composed configuration dict and return it typed; raise :class:`ConfigError`."""
    from . import data, preprocessing, splits  # imported here: they pull in pandas/sklearn

    config = _build(ExperimentConfig, raw, "")
    for group, module in (("dataset", data), ("preprocess", preprocessing), ("split", splits)):
        known = getattr(module, "KNOWN_KEYS", None)
        if known is not None:
            _reject_unknown(getattr(config, group), known, group)
    _check_ranges(flatten(config))
    for group, check in (("dataset", data.check_config), ("preprocess", preprocessing.check_config)):
        try:
            check(getattr(config, group))
        except ValueError as err:  # the module's own message names the key
            raise ConfigError(str(err)) from None
    if config.model.name == "logistic" and config.model.hidden_layer_sizes:
        raise ConfigError(
            "model.hidden_layer_sizes must be [] for model=logistic (no hidden layer); "
            "use model=mlp for hidden layers."
        )
    return config


def _check_ranges(flat):
    for key, (low, high, low_in, high_in) in RANGES.items():
        values = flat.get(key)
        for value in values if isinstance(values, list) else [values]:
            if value is None or isinstance(value, bool):
                continue
            below = low is not None and (value < low if low_in else value <= low)
            above = high is not None and (value > high if high_in else value >= high)
            if below or above:
                raise ConfigError(f"{key}={value!r} is out of range: it must be "
                                  f"{_interval(low, high, low_in, high_in)}.")


def _interval(low, high, low_in, high_in):
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_in else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_in else '<'} {high}")
    return " and ".join(parts)


def _build(cls, raw, prefix):
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    _reject_unknown(raw, hints, prefix.rstrip("."))
    missing = [prefix + name for name in hints if name not in raw]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required but missing from the configuration: "
                          "every key has its default in conf/ (is a group's _base.yaml missing?).")
    return cls(**{name: _check(hint, raw[name], prefix + name) for name, hint in hints.items()})


def _reject_unknown(raw, known, group):
    prefix, where = (f"{group}.", group) if group else ("", "the configuration")
    for key in raw:
        if key not in known:
            hint = did_you_mean(key, known, prefix=prefix)
            raise ConfigError(
                f"{prefix}{key} is not a known configuration key.{hint} "
                f"Valid keys of {where}: {', '.join(sorted(known))}."
            )


def _check(hint, value, key):
    """Check ``value`` against a type hint; return it (converted for nested dataclasses)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r} is not valid; choose one of {list(args)}.")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(inner[0], value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}.")
        return [_check(args[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}.")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is not typing.Any and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{key} must be of type {hint.__name__}, got {value!r}.")
    return value


def flatten(config, prefix=""):
    """Flatten nested dicts/dataclasses to {"optimizer.learning_rate": 0.001, ...} for MLflow params."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
