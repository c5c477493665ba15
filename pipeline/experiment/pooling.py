"""Pooling the folds: out-of-fold predictions, metrics with bootstrap CIs, the per-fold
mean and spread, and the fold-mean learning curves."""

from __future__ import annotations

import numpy as np

from .. import metrics, plots


def pool_predictions(results, task):
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


def evaluate(task, y, prediction, threshold, n_boot, seed, groups):
    """Pooled metrics with CIs; a dataset with subjects gets a cluster bootstrap over them."""
    extra = {"tuned": threshold} if task == "binary" else None
    return metrics.evaluate(task, y, prediction, threshold=0.5, n_boot=n_boot, seed=seed,
                            extra_thresholds=extra, groups=groups)


def summary_metrics(results, pooled):
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


def mean_curves(histories):
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
