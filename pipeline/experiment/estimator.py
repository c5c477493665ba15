"""The estimator a configuration describes: model, loss, optimizer, schedule and penalties."""

from __future__ import annotations

from ..core import optimizers, schedules
from ..core.activations import LeakyReLU
from ..estimators import NeuralNetClassifier, NeuralNetRegressor


def build_estimator(config, task, seed, l2=None):
    """The estimator that ``config`` describes (a classifier unless the task is regression);
    ``l2`` replaces ``regularization.l2`` (a value of ``regularization.l2_grid``)."""
    model, opt, reg = config.model, config.optimizer, config.regularization
    params = dict(
        hidden_layer_sizes=tuple(model.hidden_layer_sizes),
        activation=LeakyReLU(model.negative_slope) if model.activation == "leaky_relu"
        else model.activation,
        loss=config.loss.name, optimizer=_optimizer(opt), learning_rate=_schedule(opt),
        batch_size=opt.batch_size, max_epochs=opt.max_epochs, l1=reg.l1, l2=reg.l2 if l2 is None else l2,
        # Dropout acts on hidden units: without any it is a no-op (noted on the run), and
        # passing it on would only make lbfgs refuse a smooth objective.
        dropout=reg.dropout if model.hidden_layer_sizes else 0.0,
        early_stopping=reg.early_stopping, patience=reg.patience,
        random_state=seed,
    )
    if task == "regression":
        return NeuralNetRegressor(**params)
    balanced = config.preprocess.get("imbalance") == "class_weight"
    return NeuralNetClassifier(class_weight="balanced" if balanced else None, **params)


def _optimizer(opt):
    rule_params = {
        "momentum": {"momentum": opt.momentum}, "nesterov": {"momentum": opt.momentum},
        "adam": {"beta1": opt.beta1, "beta2": opt.beta2}, "rmsprop": {"rho": opt.rho},
    }.get(opt.rule, {})
    return optimizers.OPTIMIZERS[opt.rule](clip_norm=opt.clip_norm, **rule_params)


def _schedule(opt):
    s, lr = opt.schedule, opt.learning_rate
    return {
        "constant": lambda: lr,
        "step": lambda: schedules.StepDecay(lr, s.step_size, s.factor),
        "exponential": lambda: schedules.ExponentialDecay(lr, s.decay),
        "cosine": lambda: schedules.Cosine(lr, s.period or opt.max_epochs, s.minimum),
        "reduce_on_plateau": lambda: schedules.ReduceOnPlateau(lr, s.factor, s.patience,
                                                               max(s.minimum, 1e-12)),
    }[s.name]()
