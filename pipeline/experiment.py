"""Run one resolved configuration end to end, following DESIGN.md's protocol:

load -> validate -> outer split -> per fold: inner validation split, preprocessing
fitted on the training part only, train, evaluate on the held-out part -> pooled
out-of-fold metrics with bootstrap CIs -> refit on all rows for the logged model.

No Hydra and no MLflow here: ``train.py`` composes the config, and a tracker
(``tracking.Tracker`` or :class:`NoTracking`) receives what should be recorded.
"""

import contextlib
import dataclasses
import logging
import time

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from . import metrics, plots
from .config import ConfigError, ExperimentConfig, flatten
from .core import optimizers, schedules
from .core.activations import LeakyReLU
from .datasets import load_dataset
from .estimators import NeuralNetClassifier, NeuralNetRegressor
from .preprocessing import build_preprocessor, feature_names, oversample
from .progress import Progress
from .splits import outer_splits, validation_split

LOSS_ABBREVIATIONS = {"cross_entropy": "ce", "squared_error": "se", "absolute_error": "ae"}
log = logging.getLogger("biotab")


@dataclasses.dataclass
class FoldResult:
    index: int
    test_rows: np.ndarray  # positions in the dataset
    prediction: np.ndarray  # P(y=1) (binary), class probabilities (multiclass) or values
    threshold: float  # chosen on the inner validation part (binary), else nan
    metrics: dict
    history: dict
    feature_names: list  # after preprocessing (names only, never values)
    fit_seconds: float  # preprocessing + training time of this fold


@dataclasses.dataclass
class ExperimentResult:
    run_name: str
    task: str
    folds: list
    pooled: dict  # metric -> {"value", "ci_low", "ci_high"} on the out-of-fold predictions
    summary: dict  # flat metrics logged on the parent run
    objective: float
    run_id: str | None = None


def run_experiment(config: ExperimentConfig, tracker=None, parent_run_id=None) -> ExperimentResult:
    """Run ``config``; ``tracker`` (None = no tracking) records runs, metrics and artifacts,
    nested under ``parent_run_id`` (a sweep's run) when given."""
    tracker = tracker or NoTracking()
    name = run_name(config)
    notes = ineffective_settings(config)
    for note in notes:
        log.warning("%s", note)
    with tracker.run(name, params=flatten(config), tags=_config_tags(config, notes),
                     parent=parent_run_id) as parent:
        dataset = load_dataset(config.dataset)
        check_task_settings(config, dataset.task)
        parent.set_tags({"dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint,
                         "task": dataset.task, "n_rows": str(len(dataset.y))})
        results = _run_folds(config, dataset, tracker, parent, name)
        fit_seconds = sum(r.fit_seconds for r in results)
        if config.tracking.log_model:
            # Before the metrics: mlflow copies a run's metrics onto every model it logs.
            fit_seconds += _log_final_model(config, dataset, parent)
        rows, prediction, threshold = _pool(results, dataset.task)
        groups = None if dataset.groups is None else dataset.groups[rows]
        pooled = _evaluate(dataset.task, dataset.y[rows], prediction, threshold,
                           config.n_bootstrap, config.seed, groups)
        summary = {**_summary(results, pooled), "fit_seconds": fit_seconds}
        parent.log_metrics(summary, history=_mean_curve([r.history for r in results]))
        _log_artifacts(parent, config, dataset, results, dataset.y[rows], prediction, threshold)
        return ExperimentResult(name, dataset.task, results, pooled, summary,
                                pooled[config.objective]["value"], getattr(parent, "run_id", None))


def check_task_settings(config, task):
    """Settings that depend on the loaded target, checked before any training."""
    task_metrics = {"binary": metrics.BINARY_METRICS, "multiclass": metrics.MULTICLASS_METRICS,
                    "regression": metrics.REGRESSION_METRICS}[task]
    if config.objective not in task_metrics:
        raise ConfigError(f"objective={config.objective} is not a {task} metric; for this "
                          f"dataset choose one of {list(task_metrics)}.")
    if task == "regression" and config.loss.name == "cross_entropy":
        raise ConfigError("loss=cross_entropy needs a classification target; this dataset's "
                          "target is continuous: use loss=squared_error or loss=absolute_error.")
    if task == "regression" and config.preprocess.get("imbalance", "none") != "none":
        raise ConfigError("preprocess.imbalance applies to classification only; set it to none "
                          "for a regression target.")


def _run_folds(config, dataset, tracker, parent, name):
    folds = outer_splits(config.split, dataset.y, dataset.groups, config.seed)
    progress = Progress(len(folds) * config.optimizer.max_epochs, label=name)
    results = [_run_fold(config, dataset, k, train, test, tracker, parent, progress)
               for k, (train, test) in enumerate(folds)]
    progress.close()
    return results


def _log_final_model(config, dataset, parent):
    """Refit on all rows, log the deployable model; return the refit's training time."""
    start = time.perf_counter()
    model = fit_final_model(config, dataset)
    seconds = time.perf_counter() - start
    parent.log_model(model, {c: str(t) for c, t in dataset.X.dtypes.items()},
                     proba=dataset.task != "regression")
    return seconds


def _log_artifacts(run, config, dataset, results, y, prediction, threshold):
    with run.artifacts_together():
        run.log_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False), "config.yaml")
        run.log_text("\n".join(results[0].feature_names) + "\n", "feature_names.txt")
        run.log_table(_oof_table(results, dataset), "oof_predictions.csv")
        run.log_table(_learning_curve_table(results), "learning_curves.csv")
        if dataset.task == "binary":
            run.log_table(pd.DataFrame(metrics.decision_curve(y, prediction)), "decision_curve.csv")
        if config.tracking.log_plots:
            _log_plots(run, dataset, results, y, prediction, threshold)


# --- one fold ------------------------------------------------------------------


def _run_fold(config, dataset, k, train, test, tracker, parent, progress):
    seed = config.seed + k
    fit_rows, val_rows = _inner_split(config, dataset, train, seed)
    start = time.perf_counter()
    model_pipeline, X_val, y_val = _fit(config, dataset, fit_rows, val_rows, seed,
                                        [_progress_callback(k, config, progress)])
    fit_seconds = time.perf_counter() - start
    model = model_pipeline.named_steps["model"]
    prediction = _predict(model_pipeline, dataset.X.iloc[test], dataset.task)
    threshold = np.nan
    if dataset.task == "binary":
        threshold = metrics.choose_threshold(y_val, model.predict_proba(X_val)[:, 1])
    fold_metrics = _fold_metrics(dataset.task, dataset.y[test], prediction, threshold)
    history = model.history_
    fold_tags = {"fold": str(k), "biotab.role": "fold", **_sweep_tag(config)}
    with tracker.run(f"{run_name(config)} fold {k}", tags=fold_tags, parent=parent) as run:
        run.log_metrics({**fold_metrics, "n_epochs": model.n_epochs_, "threshold": threshold,
                         "fit_seconds": fit_seconds})
        run.log_npz(_weights(model), "weights.npz")
    names = feature_names(model_pipeline.named_steps["preprocess"])
    return FoldResult(k, test, prediction, threshold, fold_metrics, history, names, fit_seconds)


def _inner_split(config, dataset, train, seed):
    """Carve the validation part (early stopping, learning curves, threshold) off ``train``."""
    groups = None if dataset.groups is None else dataset.groups[train]
    fit_idx, val_idx = validation_split(dataset.y[train], groups,
                                        config.split["validation_fraction"], seed)
    return train[fit_idx], train[val_idx]


def _fit(config, dataset, fit_rows, val_rows, seed, callbacks=()):
    """Fit preprocessing on ``fit_rows`` only, then the network with ``val_rows`` monitored."""
    preprocessor = build_preprocessor(config.preprocess, dataset.numeric, dataset.categorical)
    X_fit = preprocessor.fit_transform(dataset.X.iloc[fit_rows])
    y_fit = dataset.y[fit_rows]
    X_val = preprocessor.transform(dataset.X.iloc[val_rows])
    y_val = dataset.y[val_rows]
    if config.preprocess.get("imbalance") == "oversample":
        X_fit, y_fit = oversample(X_fit, y_fit, np.random.default_rng(seed))
    model = build_estimator(config, dataset.task, seed)
    callbacks = list(callbacks)
    if dataset.task == "binary":
        callbacks.append(_validation_auroc(X_val, y_val))
    model.fit(X_fit, y_fit, validation_data=(X_val, y_val), on_epoch_end=callbacks)
    return Pipeline([("preprocess", preprocessor), ("model", model)]), X_val, y_val


def fit_final_model(config, dataset):
    """Refit on all rows (with an inner validation part) for the logged, deployable model."""
    rows = np.arange(len(dataset.y))
    fit_rows, val_rows = _inner_split(config, dataset, rows, config.seed)
    return _fit(config, dataset, fit_rows, val_rows, config.seed)[0]


def build_estimator(config, task, seed):
    """The estimator that ``config`` describes (a classifier unless the task is regression)."""
    model, opt, reg = config.model, config.optimizer, config.regularization
    params = dict(
        hidden_layer_sizes=tuple(model.hidden_layer_sizes),
        activation=LeakyReLU(model.negative_slope) if model.activation == "leaky_relu"
        else model.activation,
        loss=config.loss.name, optimizer=_optimizer(opt), learning_rate=_schedule(opt),
        batch_size=opt.batch_size, max_epochs=opt.max_epochs, l1=reg.l1, l2=reg.l2,
        dropout=reg.dropout, early_stopping=reg.early_stopping, patience=reg.patience,
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


def _validation_auroc(X_val, y_val):
    """Record the validation AUROC every epoch, for the learning curves."""
    def on_epoch_end(epoch, record, network):
        record["val_auroc"] = metrics.auroc(y_val, network.predict(X_val)[:, 0])
    return on_epoch_end


def _progress_callback(fold, config, progress):
    def on_epoch_end(epoch, record, network):
        progress.update(fold * config.optimizer.max_epochs + epoch + 1,
                        f"fold {fold} loss {record.get('val_loss', record['train_loss']):.4f}")
    return on_epoch_end


def _predict(model_pipeline, X, task):
    if task == "binary":
        return model_pipeline.predict_proba(X)[:, 1]
    if task == "multiclass":
        return model_pipeline.predict_proba(X)
    return model_pipeline.predict(X)


def _fold_metrics(task, y, prediction, threshold):
    """The pooled metric set on one fold, without confidence intervals."""
    return {name: stats["value"]
            for name, stats in _evaluate(task, y, prediction, threshold, 0, 0, None).items()}


# --- pooling and summaries -------------------------------------------------------


def _pool(results, task):
    """Out-of-fold predictions per row, averaged over repeats of repeated k-fold, so the
    bootstrap resamples patients rather than copies of them."""
    rows = np.concatenate([r.test_rows for r in results])
    predictions = np.concatenate([r.prediction for r in results])
    unique, inverse = np.unique(rows, return_inverse=True)
    counts = np.bincount(inverse).astype(float)
    shape = (len(unique),) + predictions.shape[1:]
    pooled = np.zeros(shape)
    np.add.at(pooled, inverse, predictions)
    pooled /= counts.reshape((-1,) + (1,) * (predictions.ndim - 1))
    thresholds = [r.threshold for r in results if np.isfinite(r.threshold)]
    threshold = float(np.median(thresholds)) if thresholds else 0.5
    return unique, pooled, threshold


def _evaluate(task, y, prediction, threshold, n_boot, seed, groups):
    """Pooled metrics with CIs; a dataset with subjects gets a cluster bootstrap over them."""
    extra = {"tuned": threshold} if task == "binary" else None
    return metrics.evaluate(task, y, prediction, threshold=0.5, n_boot=n_boot, seed=seed,
                            extra_thresholds=extra, groups=groups)


def _summary(results, pooled):
    """Flat metrics for the parent run: per-fold mean and sd, pooled value and CI."""
    summary = {}
    for name in results[0].metrics:
        values = np.array([r.metrics[name] for r in results], dtype=float)
        summary[f"{name}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        summary[f"{name}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
    for name, stats in pooled.items():
        summary[name] = stats["value"]
        summary[f"{name}_ci_low"] = stats["ci_low"]
        summary[f"{name}_ci_high"] = stats["ci_high"]
    return summary


def _mean_curve(histories):
    """Mean over folds of each per-epoch metric (folds that stopped early drop out).

    These are the run's per-epoch MLflow metrics (the UI's learning curves); each fold's
    own curves go into ``learning_curves.csv``: on SQLite every metric point costs
    ~50 us of ORM work, and five folds' curves cost more than the rest of the logging.
    """
    curve = {}
    for key in ("train_loss", "val_loss", "val_auroc"):
        series = [h[key] for h in histories if key in h]
        if series:
            curve[f"mean_{key}"] = plots.fold_mean(series).tolist()
    return curve


def _learning_curve_table(results):
    """Fold, epoch and every per-epoch value of each fold's training history."""
    frames = []
    for r in results:
        curves = {key: values for key, values in r.history.items() if isinstance(values, list)}
        n_epochs = len(curves["train_loss"])
        frames.append(pd.DataFrame({"fold": r.index, "epoch": np.arange(n_epochs), **curves}))
    return pd.concat(frames, ignore_index=True)


def _oof_table(results, dataset):
    """Row index, fold, prediction and label: never feature values."""
    frames = []
    for r in results:
        frame = pd.DataFrame({"row": r.test_rows, "fold": r.index})
        if dataset.task == "binary":
            frame["probability"] = r.prediction
        elif dataset.task == "multiclass":
            for j, name in enumerate(dataset.class_names):
                frame[f"probability_{name}"] = r.prediction[:, j]
        else:
            frame["prediction"] = r.prediction
        frame["label"] = dataset.y[r.test_rows]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _log_plots(run, dataset, results, y, prediction, threshold):
    charts = {"learning_curves": plots.learning_curves([r.history for r in results])}
    if dataset.task == "binary":
        names = dataset.class_names or ["0", "1"]
        charts.update(
            roc=plots.roc_curve(y, prediction),
            precision_recall=plots.precision_recall_curve(y, prediction),
            calibration=plots.calibration_curve(y, prediction),
            decision_curve=plots.decision_curve(y, prediction),
            confusion_matrix=plots.confusion_matrix(y, (prediction >= threshold).astype(int), names),
            probability_histogram=plots.probability_histogram(y, prediction, names),
        )
    elif dataset.task == "multiclass":
        charts["confusion_matrix"] = plots.confusion_matrix(
            y, prediction.argmax(axis=1), dataset.class_names)
    for name, chart in charts.items():
        run.log_chart(chart, name)


# --- names, tags and small helpers ---------------------------------------------


def run_name(config):
    """A readable run name that tells a sweep's configurations apart in the MLflow UI,
    e.g. ``mlp[64,32] relu ce adam lr=0.001 l2=0.0001 es``; the preprocessing appears when it
    is not the standard one, the dataset when runs of several share an experiment."""
    model, reg, opt = config.model, config.regularization, config.optimizer
    parts = [] if config.tracking.experiment is None else [config.dataset["name"]]
    parts += ["logistic" if model.name == "logistic"
              else f"mlp[{','.join(map(str, model.hidden_layer_sizes))}] {model.activation}"]
    if config.preprocess.get("name", "standard") != "standard":
        parts.append(config.preprocess["name"])
    parts += [LOSS_ABBREVIATIONS[config.loss.name], opt.name, f"lr={opt.learning_rate:g}"]
    parts += [f"{key}={value:g}" for key, value in
              (("l1", reg.l1), ("l2", reg.l2), ("dropout", reg.dropout)) if value]
    if reg.early_stopping:
        parts.append("es")
    return " ".join(parts)


def _config_tags(config, notes):
    tags = {"biotab.role": "configuration", "model": config.model.name,
            "seed": str(config.seed), **_sweep_tag(config)}
    if notes:  # the run's description in the MLflow UI
        tags["mlflow.note.content"] = " ".join(notes)
    return tags


def ineffective_settings(config):
    """Valid settings that change nothing, said once so that identical results of a sweep's
    crossed grid (e.g. logistic x dropout) are not read as an effect."""
    if config.regularization.dropout and not config.model.hidden_layer_sizes:
        return [f"regularization.dropout={config.regularization.dropout:g} has no effect: dropout "
                "acts on hidden units and this model has none."]
    return []


def _sweep_tag(config):
    return {"sweep_id": config.sweep_id} if config.sweep_id else {}


def _weights(model):
    arrays = {f"coef_{i}": w for i, w in enumerate(model.coefs_)}
    arrays.update({f"intercept_{i}": b for i, b in enumerate(model.intercepts_)})
    return arrays


class NoTracking:
    """Stands in for ``tracking.Tracker`` when tracking is off: records nothing."""

    name = "run"
    run_id = None

    @contextlib.contextmanager
    def run(self, name, params=None, tags=None, parent=None):
        yield self

    @contextlib.contextmanager
    def artifacts_together(self):
        yield

    def __getattr__(self, method):
        if method.startswith("log_") or method == "set_tags":
            return lambda *args, **kwargs: None
        raise AttributeError(method)
