"""One outer fold: carve the inner validation part, fit preprocessing and network on the
training part only, evaluate on the held-out part, and record the fold's run."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from sklearn.pipeline import Pipeline

from .. import metrics
from ..preprocessing import build_preprocessor, feature_names, oversample
from ..splits import validation_split
from .estimator import build_estimator
from .naming import run_name, sweep_tag
from .pooling import evaluate


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
    model: Pipeline  # the fitted preprocessing + network of this fold


def run_fold(config, dataset, k, train, test, tracker, parent, progress):
    seed = config.seed + k
    fit_rows, val_rows = _inner_split(config, dataset, train, seed)
    start = time.perf_counter()
    model_pipeline, X_val, y_val = fit_pipeline(config, dataset, fit_rows, val_rows, seed,
                                                [_progress_callback(k, config, progress)])
    fit_seconds = time.perf_counter() - start
    model = model_pipeline.named_steps["model"]
    prediction = _predict(model_pipeline, dataset.X.iloc[test], dataset.task)
    threshold = np.nan
    if dataset.task == "binary":
        threshold = metrics.choose_threshold(y_val, model.predict_proba(X_val)[:, 1])
    fold_metrics = _fold_metrics(dataset.task, dataset.y[test], prediction, threshold)
    history = model.history_
    fold_tags = {"fold": str(k), "biotab.role": "fold", **sweep_tag(config)}
    with tracker.run(f"{run_name(config)} fold {k}", tags=fold_tags, parent=parent) as run:
        run.log_metrics({**fold_metrics, "n_epochs": model.n_epochs_, "threshold": threshold,
                         "fit_seconds": fit_seconds})
        run.log_npz(_weights(model), "weights.npz")
    names = feature_names(model_pipeline.named_steps["preprocess"])
    return FoldResult(k, test, prediction, threshold, fold_metrics, history, names, fit_seconds,
                      model_pipeline)


def _inner_split(config, dataset, train, seed):
    """Carve the validation part (early stopping, learning curves, threshold) off ``train``."""
    groups = None if dataset.groups is None else dataset.groups[train]
    fit_idx, val_idx = validation_split(dataset.y[train], groups,
                                        config.split["validation_fraction"], seed)
    return train[fit_idx], train[val_idx]


def fit_pipeline(config, dataset, fit_rows, val_rows, seed, callbacks=()):
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
    return fit_pipeline(config, dataset, fit_rows, val_rows, config.seed)[0]


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
            for name, stats in evaluate(task, y, prediction, threshold, 0, 0, None).items()}


def _weights(model):
    arrays = {f"coef_{i}": w for i, w in enumerate(model.coefs_)}
    arrays.update({f"intercept_{i}": b for i, b in enumerate(model.intercepts_)})
    return arrays
