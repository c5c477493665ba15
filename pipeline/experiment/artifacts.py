"""What a configuration run keeps besides metrics: the out-of-fold predictions (never feature
values), every fold's learning curves, the figures and the deployable model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..preprocessing import model_may_be_logged


def learning_curve_table(results):
    """Fold, epoch and every per-epoch value of each fold's training history."""
    frames = []
    for r in results:
        curves = {key: values for key, values in r.history.items() if isinstance(values, list)}
        n_epochs = len(curves["train_loss"])
        frames.append(pd.DataFrame({"fold": r.index, "epoch": np.arange(n_epochs), **curves}))
    return pd.concat(frames, ignore_index=True)


def oof_table(results, dataset):
    """Row index, repeat, fold, prediction, the fold's threshold and the label: never feature
    values. With patient groups, a ``cluster`` code (0..G-1, not the patient id) lets a paired
    comparison resample whole patients."""
    clusters = None if dataset.groups is None else np.unique(dataset.groups, return_inverse=True)[1]
    frames = []
    for r in results:
        frame = pd.DataFrame({"row": r.test_rows, "repeat": r.repeat, "fold": r.index})
        if dataset.task == "binary":
            frame["probability"] = r.prediction
            frame["threshold"] = r.threshold
        elif dataset.task == "multiclass":
            for j, name in enumerate(dataset.class_names):
                frame[f"probability_{name}"] = r.prediction[:, j]
        else:
            frame["prediction"] = r.prediction
        frame["label"] = dataset.y[r.test_rows]
        if clusters is not None:
            frame["cluster"] = clusters[r.test_rows]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def fold_table(results):
    """One row per fold: sizes, events, threshold, the validation objective (what a sweep's
    honest selection uses), the penalty, convergence and time."""
    return pd.DataFrame([{"fold": r.index, "repeat": r.repeat, "threshold": r.threshold,
                          **r.diagnostics, "fit_seconds": r.fit_seconds} for r in results])


def log_plots(run, dataset, results, y, prediction, thresholds, calibration=("none", None),
              groups=None, seed=0):
    """The run's figures; ``thresholds``: each row's fold threshold (binary); ``calibration``:
    the recalibration method and the predictions before it (None without one), drawn beside
    the recalibrated ones; ``groups``: the patient of each row, resampled whole for the
    smoothed calibration curve's band."""
    charts = {"learning_curves": plots.learning_curves([r.history for r in results])}
    if dataset.task == "binary":
        names = dataset.class_names or ["0", "1"]
        method, raw = calibration
        shown = prediction if raw is None else {f"recalibrated ({method})": prediction,
                                                "before recalibration": raw}
        charts.update(
            roc=plots.roc_curve(y, prediction),
            precision_recall=plots.precision_recall_curve(y, prediction),
            calibration=plots.calibration_curve(y, shown, groups=groups, seed=seed),
            decision_curve=plots.decision_curve(y, prediction),
            confusion_matrix=plots.confusion_matrix(y, (prediction >= thresholds).astype(int), names),
            probability_histogram=plots.probability_histogram(y, prediction, names),
        )
    elif dataset.task == "multiclass":
        charts["confusion_matrix"] = plots.confusion_matrix(
            y, prediction.argmax(axis=1), dataset.class_names)
    for name, chart in charts.items():
        run.log_chart(chart, name)


def log_final_model(run, config, dataset, model, name):
    """Log the deployable model (named after the configuration), unless its fitted state
    holds training rows and ``tracking.log_models_with_training_rows`` is off."""
    if model_may_be_logged(model, config.tracking.log_models_with_training_rows):
        run.log_model(model, {c: str(t) for c, t in dataset.X.dtypes.items()}, name=name,
                      proba=dataset.task != "regression")
