"""What a configuration run reports beyond its pooled metrics (config groups ``calibration``
and ``evaluation``, see :mod:`pipeline.evaluation`): the predictions' calibration before
recalibration, permutation importance on the folds' test parts, performance within
subgroups, and the training table's schema (for external validation)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd

from .. import metrics
from ..evaluation import figures
from ..evaluation.importance import FoldPermutations, importance_table
from ..evaluation.schema import training_schema
from ..evaluation.subgroups import largest_gap, subgroup_levels, subgroup_table
from .pooling import Pooled, pool_predictions

UNCALIBRATED = ("auroc", "brier", "log_loss", "calibration_intercept", "calibration_slope", "ici")


@dataclasses.dataclass
class Extras:
    uncalibrated: Pooled | None = None  # the out-of-fold predictions before recalibration
    uncalibrated_metrics: dict = dataclasses.field(default_factory=dict)  # name -> value
    importance: pd.DataFrame | None = None  # one row per variable
    subgroups: pd.DataFrame | None = None  # one row per subgroup level
    gaps: pd.DataFrame | None = None  # one row per subgroup variable and metric


def evaluate_extras(config, dataset, results, pooled: Pooled) -> Extras:
    extras = Extras()
    y = dataset.y[pooled.rows]
    groups = None if dataset.groups is None else dataset.groups[pooled.rows]
    if all(r.raw_prediction is not None for r in results):
        extras.uncalibrated = pool_predictions([dataclasses.replace(r, prediction=r.raw_prediction)
                                                for r in results])
        scores = metrics.evaluate_repeats(dataset.task, y, extras.uncalibrated.predictions, n_boot=0)
        extras.uncalibrated_metrics = {name: scores[name]["value"] for name in UNCALIBRATED}
    extras.importance = fold_importance(config, dataset, results, pooled)
    if config.evaluation.subgroups:
        X = dataset.X.iloc[pooled.rows]
        levels = {name: subgroup_levels(name, X, config.evaluation.bands or {}).to_numpy()
                  for name in config.evaluation.subgroups}
        extras.subgroups, extras.gaps = subgroup_table(
            levels, y, pooled.predictions, pooled.thresholds, config.n_bootstrap, config.seed,
            groups, config.evaluation.min_events)
    return extras


def fold_importance(config, dataset, results, pooled: Pooled) -> pd.DataFrame | None:
    """Permutation importance from the folds' shuffled test parts (None without them)."""
    if not all(r.permuted is not None for r in results):
        return None
    # Fold rows as positions among the predicted rows: a hold-out split resamples its test part.
    folds = [FoldPermutations(np.searchsorted(pooled.rows, r.test_rows), r.prediction, r.permuted)
             for r in results]
    groups = None if dataset.groups is None else dataset.groups[pooled.rows]
    return importance_table(folds, list(dataset.X.columns), dataset.y[pooled.rows], dataset.task,
                            config.objective, config.n_bootstrap, config.seed, groups)


def calibration_warnings(results) -> list[str]:
    """Recalibrated predictions of exactly 0 or 1 (isotonic steps at the ends of a small
    validation part): certainty no model has, and a calibration slope and log loss that
    describe those rows rather than the model."""
    if any(r.calibrator is None for r in results):
        return []
    certain = sum(int(np.sum((r.prediction <= 0) | (r.prediction >= 1))) for r in results)
    if not certain:
        return []
    total = sum(r.prediction.size for r in results)
    return [f"recalibration predicted a probability of exactly 0 or 1 for {certain} of {total} "
            "test rows (isotonic steps at the ends of a small validation part): their log loss "
            "and the calibration slope are not meaningful; prefer calibration=platt, or a larger "
            "split.validation_fraction."]


def extra_metrics(extras: Extras) -> dict:
    """Flat metrics for the configuration run: ``<metric>_uncalibrated`` and the largest
    subgroup AUROC gap with its interval (``subgroup_auroc_gap``)."""
    out = {f"{name}_uncalibrated": value for name, value in extras.uncalibrated_metrics.items()}
    gap = None if extras.gaps is None else largest_gap(extras.gaps)
    if gap:
        out.update(subgroup_auroc_gap=gap["gap"], subgroup_auroc_gap_ci_low=gap["ci_low"],
                   subgroup_auroc_gap_ci_high=gap["ci_high"])
    return out


def log_extras(run, config, dataset, extras: Extras, scores: dict) -> None:
    """Tables and figures of ``extras`` and ``training_schema.json`` (names, kinds,
    percentiles and hashed levels: no patient value)."""
    run.log_text(json.dumps(training_schema(dataset), indent=1), "training_schema.json")
    if extras.importance is not None:
        log_importance(run, config, extras.importance)
    if extras.subgroups is not None:
        run.log_table(extras.subgroups, "subgroups.csv")
        run.log_table(extras.gaps, "subgroup_gaps.csv")
        if config.tracking.log_plots:
            overall = {name: stats["value"] for name, stats in scores.items()}
            run.log_chart(figures.subgroups_chart(extras.subgroups, overall), "subgroups")


def log_importance(run, config, importance: pd.DataFrame) -> None:
    run.log_table(importance, "feature_importance.csv")
    if config.tracking.log_plots:
        run.log_chart(figures.importance_chart(importance), "feature_importance")
