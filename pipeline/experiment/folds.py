"""The outer folds: carve each one's inner validation part, fit preprocessing and network on
the training part only (choosing l2 on the validation part when a grid is given; the folds'
networks trained together in lock-step), fit the recalibration and choose the threshold on
the validation part, evaluate on the held-out part (and shuffle each variable there for
permutation importance), and record each fold's run."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from sklearn.pipeline import Pipeline

from .. import metrics
from ..evaluation.importance import permute_and_predict
from ..evaluation.recalibration import fit_recalibration, recalibrated
from ..metrics.registry import direction
from ..preprocessing import build_preprocessor, feature_names, oversample
from ..progress import Progress
from ..splits import outer_splits, validation_split
from .estimator import build_estimator
from .naming import run_name, sweep_tag


@dataclasses.dataclass
class FoldResult:
    index: int
    repeat: int  # repeat of repeated k-fold (0 otherwise)
    test_rows: np.ndarray  # positions in the dataset
    prediction: np.ndarray  # P(y=1) (binary), class probabilities (multiclass) or values
    threshold: float  # chosen on the inner validation part (binary), else nan
    metrics: dict
    history: dict
    feature_names: list  # after preprocessing (names only, never values)
    fit_seconds: float  # preprocessing + training time of this fold
    model: Pipeline  # the fitted preprocessing + network of this fold
    diagnostics: dict  # counts, convergence, chosen l2, validation objective (see _diagnostics)
    raw_prediction: np.ndarray | None = None  # before recalibration (None without one)
    calibrator: object | None = None  # fitted on the inner validation part (binary)
    permuted: np.ndarray | None = None  # (V, R, n_test[, K]) each variable shuffled R times

    @property
    def val_objective(self) -> float:
        """The objective on the inner validation part: what a sweep selects by, honestly."""
        return self.diagnostics["val_objective"]


@dataclasses.dataclass
class FittedPipeline:
    """A fitted preprocessing + network, with what its inner validation part said of it."""

    pipeline: Pipeline
    val_prediction: np.ndarray  # before recalibration: the objective and l2 choice use it
    val_objective: float
    l2: float
    calibrator: object | None = None  # fitted on the validation part (calibration != none)
    method: str = "none"

    @property
    def model(self):
        """What is deployed: the pipeline, recalibrated when there is a calibrator."""
        return recalibrated(self.pipeline, self.calibrator, self.method)

    def calibrate(self, prediction: np.ndarray) -> np.ndarray:
        return prediction if self.calibrator is None else self.calibrator.transform(prediction)


def run_folds(config, dataset, tracker, parent, label, swept=None) -> tuple[list[FoldResult], object | None]:
    """Fit every outer fold's pipeline, the networks trained together in lock-step (see
    :func:`fit_pipelines`; a progress bar named ``label``), then evaluate and record each
    fold. With ``tracking.log_model``, the final model's part (all rows, :func:`final_part`)
    is trained with them and its deployable model returned beside the folds' results (else
    None). Every part's ``fit_seconds`` is its equal share of the joint fit."""
    folds = outer_splits(config.split, dataset.y, dataset.groups, config.seed)
    parts = [(*inner_split(config, dataset, train, config.seed + k), config.seed + k)
             for k, (train, _) in enumerate(folds)]
    progress = Progress(len(folds) * config.optimizer.max_epochs, label=label)
    callbacks = [[_progress_callback(k, config, progress)] for k in range(len(folds))]
    refit = config.tracking.log_model
    if refit:
        parts.append(final_part(config, dataset))
        callbacks.append([])
    start = time.perf_counter()
    fitted = fit_pipelines(config, dataset, parts, callbacks)
    fit_seconds = (time.perf_counter() - start) / len(parts)
    progress.close()
    results = [finish_fold(config, dataset, k, test, parts[k], fitted[k], fit_seconds, tracker,
                           parent, swept) for k, (_, test) in enumerate(folds)]
    return results, fitted[-1].model if refit else None


def finish_fold(config, dataset, k, test, part, fitted, fit_seconds, tracker, parent, swept):
    """Evaluate fold ``k``'s fitted pipeline on its held-out rows ``test`` (its threshold
    chosen on its validation part) and record the fold's run."""
    fit_rows, val_rows, seed = part
    model = fitted.pipeline.named_steps["model"]
    raw = predict(fitted.pipeline, dataset.X.iloc[test], dataset.task)
    prediction = fitted.calibrate(raw)
    threshold = np.nan
    if dataset.task == "binary":  # on the scale of the test predictions: recalibrated
        threshold = metrics.choose_threshold(dataset.y[val_rows],
                                             fitted.calibrate(fitted.val_prediction))
    fold_metrics = _fold_metrics(dataset.task, dataset.y[test], prediction, threshold)
    diagnostics = _diagnostics(config, dataset, model, fit_rows, val_rows, test, fitted)
    repeat = k // config.split.get("n_splits", 1) if config.split["name"] == "repeated_kfold" else 0
    # A fold run carries what its configuration swept and names it, so the UI can group
    # and box-plot folds by parameter.
    fold_tags = {"fold": str(k), "repeat": str(repeat), "biotab.role": "fold",
                 "configuration": run_name(config), "stop_reason": model.stop_reason_,
                 **sweep_tag(config)}
    with tracker.run(f"fold {k}", params=swept, tags=fold_tags, parent=parent) as run:
        run.log_metrics({**fold_metrics, "threshold": threshold, "fit_seconds": fit_seconds,
                         **{key: float(value) for key, value in diagnostics.items()
                            if key != "stop_reason"}})
        run.log_npz(_weights(model), "weights.npz")
    names = feature_names(fitted.pipeline.named_steps["preprocess"])
    permuted = None
    if config.evaluation.importance:  # on this fold's test rows only, by its own model
        permuted = permute_and_predict(lambda X: predict(fitted.model, X, dataset.task),
                                       dataset.X.iloc[test], config.evaluation.importance_repeats,
                                       np.random.default_rng(seed))
    return FoldResult(k, repeat, test, prediction, threshold, fold_metrics, model.history_, names,
                      fit_seconds, fitted.pipeline, diagnostics,
                      None if fitted.calibrator is None else raw, fitted.calibrator, permuted)


def inner_split(config, dataset, train, seed):
    """Carve the validation part (early stopping, learning curves, threshold, l2 choice)
    off ``train``."""
    groups = None if dataset.groups is None else dataset.groups[train]
    fit_idx, val_idx = validation_split(dataset.y[train], groups,
                                        config.split["validation_fraction"], seed)
    return train[fit_idx], train[val_idx]


def fit_pipeline(config, dataset, fit_rows, val_rows, seed, callbacks=()) -> FittedPipeline:
    """:func:`fit_pipelines` of one part."""
    return fit_pipelines(config, dataset, [(fit_rows, val_rows, seed)], [callbacks])[0]


def fit_pipelines(config, dataset, parts, callbacks) -> list[FittedPipeline]:
    """For each part ``(fit_rows, val_rows, seed)``: preprocessing fitted on ``fit_rows`` only,
    then the network with ``val_rows`` monitored; with ``regularization.l2_grid``, one network
    per l2 and the one with the best objective on ``val_rows`` kept (ties go to the larger
    penalty); then, for a binary outcome, the ``calibration`` method fitted on the kept
    network's ``val_rows`` predictions. ``callbacks[i]``: part i's ``on_epoch_end`` list.

    The parts' networks (for one l2) are trained together as one stacked model
    (``NeuralNet*.fit_folds``, :mod:`pipeline.core.lockstep`): the same numbers as fitting
    them one by one, in less time. The validation objective is the network's own: the
    calibrator is fitted on those rows, and its score there would flatter it (isotonic
    regression most)."""
    prepared = [_prepare(config, dataset, *part) for part in parts]
    best = [None] * len(parts)
    for l2 in sorted(config.regularization.l2_grid or [config.regularization.l2], reverse=True):
        models = _fit_in_lock_step(build_estimator(config, dataset.task, parts[0][2], l2=l2),
                                   prepared, [seed for _, _, seed in parts], callbacks)
        for i, (p, model) in enumerate(zip(prepared, models)):
            val_prediction = predict(model, p.X_val, dataset.task)
            score = _objective(config.objective, dataset.task, p.y_val, val_prediction)
            if best[i] is None or _better(score, best[i][1], config.objective):
                best[i] = (model, score, val_prediction, l2)
    method = config.calibration.name if dataset.task == "binary" else "none"
    return [FittedPipeline(Pipeline([("preprocess", p.preprocessor), ("model", model)]),
                           val_prediction, score, l2,
                           fit_recalibration(method, val_prediction, p.y_val), method)
            for p, (model, score, val_prediction, l2) in zip(prepared, best)]


def _fit_in_lock_step(template, prepared, seeds, callbacks) -> list:
    """``template`` fitted to each part, parts of one input width trained together (one-hot
    encoding can give folds different widths: they are networks of different shapes)."""
    models = [None] * len(prepared)
    widths = [p.X_fit.shape[1] for p in prepared]
    for width in dict.fromkeys(widths):
        group = [i for i, w in enumerate(widths) if w == width]
        fitted = template.fit_folds(
            [(prepared[i].X_fit, prepared[i].y_fit, prepared[i].X_val, prepared[i].y_val, seeds[i])
             for i in group],
            on_epoch_end=[callbacks[i] for i in group], val_scores=prepared[0].val_scores)
        for i, model in zip(group, fitted):
            models[i] = model
    return models


@dataclasses.dataclass
class _Prepared:
    """One part's preprocessing, fitted on its training rows, and its transformed rows."""

    preprocessor: object
    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    val_scores: dict  # name -> f(T_val, predicted): what every network records per epoch


def _prepare(config, dataset, fit_rows, val_rows, seed) -> _Prepared:
    preprocessor = build_preprocessor(config.preprocess, dataset.numeric, dataset.categorical)
    X_fit = preprocessor.fit_transform(dataset.X.iloc[fit_rows])
    y_fit = dataset.y[fit_rows]
    X_val = preprocessor.transform(dataset.X.iloc[val_rows])
    y_val = dataset.y[val_rows]
    if config.preprocess.get("imbalance") == "oversample":
        X_fit, y_fit = oversample(X_fit, y_fit, np.random.default_rng(seed))
    scores = {"val_auroc": _validation_auroc} if dataset.task == "binary" else {}
    return _Prepared(preprocessor, X_fit, y_fit, X_val, y_val, scores)


def final_part(config, dataset):
    """The deployable model's part: all rows, with an inner validation part."""
    rows = np.arange(len(dataset.y))
    return (*inner_split(config, dataset, rows, config.seed), config.seed)


def fit_final_model(config, dataset):
    """Refit on all rows (with an inner validation part) for the logged, deployable model:
    the fitted pipeline, wrapped with its calibrator when ``calibration`` is not ``none``.
    :func:`run_folds` trains the same model with the folds (``tracking.log_model``)."""
    return fit_pipelines(config, dataset, [final_part(config, dataset)], [[]])[0].model


def predict(model, X, task):
    """P(y=1) (binary), class probabilities (multiclass) or values (regression)."""
    if task == "binary":
        return model.predict_proba(X)[:, 1]
    if task == "multiclass":
        return model.predict_proba(X)
    return model.predict(X)


def _objective(objective, task, y, prediction) -> float:
    return metrics.evaluate(task, y, prediction, n_boot=0)[objective]["value"]


def _better(score, best, objective) -> bool:
    """Strictly better (nan never is): equal scores keep the earlier, larger penalty."""
    if not np.isfinite(score):
        return False
    if not np.isfinite(best):
        return True
    return score > best if direction(objective) == "maximize" else score < best


def _diagnostics(config, dataset, model, fit_rows, val_rows, test, fitted) -> dict:
    """Per-fold numbers for the fold run and ``folds.csv``: sizes, events (binary),
    convergence, the penalty used, the validation objective and the recalibration's fit."""
    n_parameters = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
    out = {"n_fit": len(fit_rows), "n_val": len(val_rows), "n_test": len(test),
           "n_parameters": n_parameters, "l2": fitted.l2, "val_objective": fitted.val_objective,
           "converged": int(model.converged_), "n_iter": model.n_iter_,
           "best_epoch": -1 if model.best_epoch_ is None else model.best_epoch_,
           "final_grad_norm": model.final_grad_norm_, "stop_reason": model.stop_reason_}
    if dataset.task == "binary":
        fit_events = int(dataset.y[fit_rows].sum())
        out.update(test_events=int(dataset.y[test].sum()), fit_events=fit_events,
                   events_per_parameter=fit_events / n_parameters)
    calibrator = fitted.calibrator
    if hasattr(calibrator, "slope"):  # Platt: how far the validation part moved the log-odds
        out.update(recalibration_intercept=calibrator.intercept, recalibration_slope=calibrator.slope)
    elif calibrator is not None:  # isotonic: how many distinct steps it kept
        out["recalibration_steps"] = int(np.unique(calibrator.y).size)
    return out


def _validation_auroc(T_val, predicted):
    """The validation AUROC of an epoch, for the learning curves: a binary network's
    column 0 holds the label and P(y=1)."""
    return metrics.auroc(T_val[:, 0], predicted[:, 0])


def _progress_callback(fold, config, progress):
    def on_epoch_end(epoch, record, network):
        progress.update(fold * config.optimizer.max_epochs + epoch + 1,
                        f"fold {fold} loss {record.get('val_loss', record['train_loss']):.4f}")
    return on_epoch_end


def _fold_metrics(task, y, prediction, threshold):
    """The pooled metric set on one fold (its own threshold as "tuned"), without CIs."""
    extra = {"tuned": threshold} if task == "binary" else None
    return {name: stats["value"] for name, stats in
            metrics.evaluate(task, y, prediction, n_boot=0, extra_thresholds=extra).items()}


def _weights(model):
    arrays = {f"coef_{i}": w for i, w in enumerate(model.coefs_)}
    arrays.update({f"intercept_{i}": b for i, b in enumerate(model.intercepts_)})
    return arrays
