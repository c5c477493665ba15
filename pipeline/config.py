"""The experiment's configuration schema, checked before any data is touched.

Hydra composes ``conf/`` into a plain dict; :func:`validate` checks it against
the dataclasses below, so a misspelt key or an invalid value fails at start-up
with a message naming the key and the valid options. The ``dataset``,
``preprocess`` and ``split`` groups are checked against the keys their modules
read (``KNOWN_KEYS`` there) and then by those modules themselves.
"""

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

ACTIVATION = Literal["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
SCHEDULE = Literal["constant", "step", "exponential", "cosine", "reduce_on_plateau"]


class ConfigError(ValueError):
    """A configuration key or value the user must fix (the message says which and how)."""


@dataclass
class ModelConfig:
    name: Literal["logistic", "mlp"]  # logistic = no hidden layer
    hidden_layer_sizes: list[int] = field(default_factory=list)
    activation: ACTIVATION = "relu"
    negative_slope: float = 0.01  # leaky_relu only


@dataclass
class LossConfig:
    name: Literal["cross_entropy", "squared_error", "absolute_error"]


@dataclass
class ScheduleConfig:
    name: SCHEDULE = "constant"
    step_size: int = 50  # step
    factor: float = 0.5  # step, reduce_on_plateau
    decay: float = 0.99  # exponential
    period: int | None = None  # cosine; None = max_epochs
    minimum: float = 0.0  # cosine, reduce_on_plateau
    patience: int = 10  # reduce_on_plateau


@dataclass
class OptimizerConfig:
    name: Literal["gd", "sgd", "minibatch", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    rule: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    learning_rate: float
    batch_size: int | None  # None = full batch; 1 = pure SGD
    max_epochs: int
    momentum: float = 0.9  # momentum, nesterov
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    rho: float = 0.9  # rmsprop
    clip_norm: float | None = None
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass
class RegularizationConfig:
    name: str
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    early_stopping: bool = False
    patience: int = 10


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str | None = None  # None = $MLFLOW_TRACKING_URI or the project's mlflow.db
    experiment: str | None = None  # None = the dataset's name
    log_model: bool = True
    log_plots: bool = True


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
    seed: int = 0
    objective: Literal["auroc", "auprc", "log_loss", "brier", "accuracy", "balanced_accuracy",
                       "macro_auroc", "macro_f1", "rmse", "mae", "r2"] = "auroc"
    n_bootstrap: int = 1000  # resamples for the 95% confidence intervals
    sweep_id: str | None = None  # set by sweeps; groups runs in MLflow
    debug: bool = False  # full tracebacks


def validate(raw: dict) -> ExperimentConfig:
    """Check a composed configuration dict and return it typed; raise :class:`ConfigError`."""
    from . import datasets, preprocessing, splits  # imported here: they pull in pandas/sklearn

    config = _build(ExperimentConfig, raw, "")
    for group, module in (("dataset", datasets), ("preprocess", preprocessing), ("split", splits)):
        known = getattr(module, "KNOWN_KEYS", None)
        if known is not None:
            _reject_unknown(getattr(config, group), known, group)
    if config.model.name == "logistic" and config.model.hidden_layer_sizes:
        raise ConfigError(
            "model.hidden_layer_sizes must be [] for model=logistic (no hidden layer); "
            "use model=mlp for hidden layers."
        )
    return config


def _build(cls, raw, prefix):
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    _reject_unknown(raw, fields, prefix.rstrip("."))
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            values[name] = _check(hints[name], raw[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key} is required but missing from the configuration.")
    return cls(**values)


def _reject_unknown(raw, known, group):
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" Did you mean {group}.{close[0]}?" if close else ""
            raise ConfigError(
                f"{group}.{key} is not a known configuration key.{hint} "
                f"Valid keys of {group}: {', '.join(sorted(known))}."
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
