"""Pooling the folds: out-of-fold predictions per repeat, metrics with bootstrap CIs (each
fold's threshold on its own rows; repeats scored one by one and averaged), the per-fold
mean and spread, and the fold-mean learning curves."""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import metrics


@dataclasses.dataclass
class Pooled:
    """Out-of-fold predictions of every scored row, one set per repeat (aligned by row)."""

    rows: np.ndarray  # (n,) dataset positions, sorted
    predictions: list  # per repeat: (n,) or (n, K)
    thresholds: list  # per repeat: (n,) each row's fold threshold (nan unless binary)
    folds: list  # per repeat: (n,) each row's fold index


def pool_predictions(results) -> Pooled:
    """Every repeat's out-of-fold predictions, sorted by row. Each repeat of repeated k-fold
    predicts every row once; a hold-out split predicts its test rows."""
    pooled = Pooled(np.empty(0, int), [], [], [])
    for repeat in sorted({r.repeat for r in results}):
        folds = [r for r in results if r.repeat == repeat]
        rows = np.concatenate([r.test_rows for r in folds])
        order = np.argsort(rows, kind="stable")
        if pooled.predictions and not np.array_equal(rows[order], pooled.rows):
            raise ValueError(f"repeat {repeat} does not predict the same rows as repeat 0")
        pooled.rows = rows[order]
        pooled.predictions.append(np.concatenate([r.prediction for r in folds])[order])
        pooled.thresholds.append(_per_row(folds, lambda r: r.threshold)[order])
        pooled.folds.append(_per_row(folds, lambda r: r.index)[order])
    return pooled


def _per_row(folds, value) -> np.ndarray:
    """``value(fold)`` repeated for each of the fold's test rows, in the folds' order."""
    return np.concatenate([np.full(len(r.test_rows), value(r)) for r in folds])


def evaluate_pooled(task, y, pooled: Pooled, n_boot, seed, groups):
    """Pooled metrics with CIs (at 0.5 and, binary, at each fold's own threshold as
    ``*_tuned``); a dataset with subjects gets a cluster bootstrap over them."""
    extra = {"tuned": pooled.thresholds} if task == "binary" else None
    return metrics.evaluate_repeats(task, y, pooled.predictions, threshold=0.5, n_boot=n_boot,
                                    seed=seed, extra_thresholds=extra, groups=groups)


def summary_metrics(results, pooled_metrics, task) -> dict:
    """Flat metrics for the configuration run: per-fold mean and sd, pooled value and CI,
    the folds' thresholds, convergence and events."""
    summary = {}
    for name in results[0].metrics:
        values = np.array([r.metrics[name] for r in results], dtype=float)
        summary[f"{name}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        summary[f"{name}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
    for name, stats in pooled_metrics.items():
        summary[name] = stats["value"]
        summary[f"{name}_ci_low"] = stats["ci_low"]
        summary[f"{name}_ci_high"] = stats["ci_high"]
        if stats.get("n_degenerate"):
            summary[f"{name}_degenerate"] = stats["n_degenerate"]
    if task == "binary":
        thresholds = np.array([r.threshold for r in results])
        summary.update(threshold_median=float(np.median(thresholds)),
                       threshold_min=float(thresholds.min()), threshold_max=float(thresholds.max()),
                       test_events_min=min(r.diagnostics["test_events"] for r in results),
                       events_per_parameter=float(np.mean([r.diagnostics["events_per_parameter"]
                                                           for r in results])))
    summary["n_unconverged"] = sum(not r.diagnostics["converged"] for r in results)
    if all("val_loss" in r.history for r in results):
        summary["best_val_loss"] = best_val_loss(results)
    return summary


def model_metrics(summary: dict, task: str) -> dict:
    """The task's main metrics and their intervals, shown beside a logged model."""
    return {key: summary[key] for m in metrics.registry.MAIN_METRICS[task]
            for key in (m, f"{m}_ci_low", f"{m}_ci_high") if key in summary}


def mean_curves(results) -> dict:
    """The run's per-epoch MLflow metrics (the UI's learning curves): the mean over folds of
    each per-epoch value, where a fold that stopped early contributes, after its end, the
    value of the epoch whose weights it kept (its best epoch with early stopping, else its
    last): the curve describes the folds' models, and does not jump where a fold leaves it.
    ``n_folds_active`` counts the folds still training at each epoch.

    Each fold's own curves go into ``learning_curves.csv``: on SQLite every metric point
    costs ~50 us of ORM work, and five folds' curves cost more than the rest of the logging.
    """
    longest = max(len(r.history["train_loss"]) for r in results)
    curve = {}
    for key in ("train_loss", "val_loss", "val_auroc"):
        if all(key in r.history for r in results):
            curve[f"mean_{key}"] = np.mean([_held(r, key, longest) for r in results], axis=0).tolist()
    curve["n_folds_active"] = [sum(len(r.history["train_loss"]) > e for r in results)
                               for e in range(longest)]
    return curve


def _held(result, key, length) -> np.ndarray:
    """A fold's per-epoch ``key`` extended to ``length`` epochs with its kept epoch's value."""
    values = np.asarray(result.history[key], dtype=float)
    kept = result.diagnostics.get("best_epoch")
    kept = len(values) - 1 if kept is None or kept < 0 else kept
    return np.concatenate([values, np.full(length - len(values), values[kept])])


def best_val_loss(results) -> float:
    """Mean over folds of each fold's lowest validation loss: one comparable number."""
    return float(np.mean([np.min(r.history["val_loss"]) for r in results]))
