"""One resolved configuration end to end, following DESIGN.md's protocol: load -> validate ->
outer split -> per fold (see ``folds``) -> pooled out-of-fold metrics with bootstrap CIs ->
refit on all rows for the logged model."""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd
import yaml

from .. import metrics
from ..config import ExperimentConfig, flatten
from ..data import load_dataset
from ..errors import ConfigError
from ..evaluation.subgroups import check_subgroups
from ..metrics.registry import MAIN_METRICS
from .artifacts import fold_table, learning_curve_table, log_final_model, log_plots, oof_table
from .details import DETAILS_TAG, details_deferred, without_details
from .extras import Extras, calibration_warnings, evaluate_extras, extra_metrics, log_extras
from .folds import run_folds
from .naming import (
    config_tags,
    describe,
    ineffective_settings,
    interval_tags,
    result_warnings,
    run_name,
    swept_name,
    warning_tags,
)
from .pooling import evaluate_pooled, mean_curves, model_metrics, pool_predictions, summary_metrics
from .recorder import NoTracking, Tracker

log = logging.getLogger("biotab")


@dataclasses.dataclass
class ExperimentResult:
    run_name: str
    task: str
    folds: list
    pooled: dict  # metric -> {"value", "ci_low", "ci_high"} on the out-of-fold predictions
    summary: dict  # flat metrics logged on the parent run
    objective: float
    run_id: str | None = None
    warnings: list = dataclasses.field(default_factory=list)  # said once, logged as tags
    extras: Extras = dataclasses.field(default_factory=Extras)  # importance, subgroups, ...


def run_experiment(config: ExperimentConfig, tracker: Tracker | None = None,
                   parent_run_id: str | None = None, swept: dict | None = None) -> ExperimentResult:
    """Run ``config``; ``tracker`` (None = no tracking) records runs, metrics and artifacts,
    nested under ``parent_run_id`` (a sweep's run) when given. ``swept``: this
    configuration's values of what its sweep varies (they name its runs)."""
    tracker = tracker or NoTracking()
    descriptor = run_name(config)
    name = swept_name(swept) if swept else descriptor
    notes = ineffective_settings(config)
    for note in notes:
        log.warning("%s", note)
    tags = config_tags(config, notes, descriptor)
    # What this job runs: without the details its sweep computes for the best configuration.
    deferred = details_deferred(config)
    running = without_details(config) if deferred else config
    if deferred:
        tags[DETAILS_TAG] = "deferred"
    with tracker.run(name, params=flatten(config), tags=tags, parent=parent_run_id) as parent:
        dataset = load_dataset(config.dataset)
        check_task_settings(config, dataset.task)
        check_subgroups(config.evaluation, dataset.X, dataset.task)
        data_warnings = _data_warnings(tracker, dataset)  # before this run is among them
        _log_dataset(parent, dataset)
        results, model = run_folds(running, dataset, tracker, parent, name, swept or {})
        fit_seconds = sum(r.fit_seconds for r in results)
        if model is not None:  # trained with the folds, in the same share of time
            fit_seconds += results[0].fit_seconds
            # Before the metrics: mlflow copies a run's metrics onto every model it logs.
            log_final_model(parent, running, dataset, model, name)
        pooled = pool_predictions(results)
        groups = None if dataset.groups is None else dataset.groups[pooled.rows]
        scores = evaluate_pooled(dataset.task, dataset.y[pooled.rows], pooled, config.n_bootstrap,
                                 config.seed, groups)
        extras = evaluate_extras(config, dataset, results, pooled)
        summary = {**summary_metrics(results, scores, dataset.task), **extra_metrics(extras),
                   "fit_seconds": fit_seconds}
        parent.log_metrics(summary, history=mean_curves(results))
        parent.log_model_metrics(model_metrics(summary, dataset.task))
        found = data_warnings + result_warnings(results, summary, config) + calibration_warnings(results)
        for warning in found:
            log.warning("%s: %s", name, warning)
        parent.set_tags({**warning_tags(notes, found), **interval_tags(scores, MAIN_METRICS[dataset.task]),
                         "mlflow.note.content": describe(descriptor, scores, summary, dataset.task,
                                                         notes, found)})
        _log_artifacts(parent, config, dataset, results, pooled, extras, scores)
        return ExperimentResult(name, dataset.task, results, scores, summary,
                                scores[config.objective]["value"], getattr(parent, "run_id", None),
                                found, extras)


def _data_warnings(tracker, dataset) -> list[str]:
    """The table's leakage and provenance hints, and another cohort under the same name: the
    experiment already holds runs of this dataset with another fingerprint."""
    found = list(dataset.warnings)
    others = tracker.fingerprints(dataset.name) - {dataset.fingerprint}
    if others:
        found.append(f"this experiment already holds runs of dataset '{dataset.name}' on other "
                     f"data ({len(others)} other fingerprint(s)): two tables share a name. The "
                     "report ranks only runs of one table; set tracking.experiment to keep them apart.")
    return [f"data: {warning}" for warning in found]


def _log_dataset(run, dataset):
    """Tags and the MLflow dataset input: names, counts and the fingerprint, never rows."""
    run.set_tags({"dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint,
                  "task": dataset.task, "n_rows": str(len(dataset.y))})
    counts = {"num_rows": len(dataset.y), "num_features": dataset.X.shape[1]}
    if dataset.task == "binary":
        counts["num_events"] = int(dataset.y.sum())
    run.log_dataset(dataset.name, dataset.fingerprint, dataset.source,
                    {c: "double" if c in dataset.numeric else "string" for c in dataset.X.columns},
                    counts)


def check_task_settings(config, task):
    """Settings that depend on the loaded target, checked before any training."""
    task_metrics = metrics.task_metrics(task)
    if config.objective not in task_metrics:
        raise ConfigError(f"objective={config.objective} is not a {task} metric; for this "
                          f"dataset choose one of {list(task_metrics)}.")
    if task == "regression" and config.loss.name == "cross_entropy":
        raise ConfigError("loss=cross_entropy needs a classification target; this dataset's "
                          "target is continuous: use loss=squared_error or loss=absolute_error.")
    if task == "regression" and config.preprocess.get("imbalance", "none") != "none":
        raise ConfigError("preprocess.imbalance applies to classification only; set it to none "
                          "for a regression target.")
    if task != "binary" and config.calibration.name != "none":
        raise ConfigError(f"calibration={config.calibration.name} recalibrates the probability of "
                          f"a binary outcome; this target is {task}: use calibration=none.")


def _log_artifacts(run, config, dataset, results, pooled, extras, scores):
    with run.artifacts_together():
        run.log_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False), "config.yaml")
        run.log_text("\n".join(results[0].feature_names) + "\n", "feature_names.txt")
        run.log_table(oof_table(results, dataset), "oof_predictions.csv")
        run.log_table(fold_table(results), "folds.csv")
        run.log_table(learning_curve_table(results), "learning_curves.csv")
        # Figures of the first repeat: one set of fitted models (repeats are scored apart).
        y, prediction = dataset.y[pooled.rows], pooled.predictions[0]
        if dataset.task == "binary":
            run.log_table(pd.DataFrame(metrics.decision_curve(y, prediction)), "decision_curve.csv")
        log_extras(run, config, dataset, extras, scores)
        if config.tracking.log_plots:
            raw = None if extras.uncalibrated is None else extras.uncalibrated.predictions[0]
            groups = None if dataset.groups is None else dataset.groups[pooled.rows]
            log_plots(run, dataset, results, y, prediction, pooled.thresholds[0],
                      calibration=(config.calibration.name, raw), groups=groups, seed=config.seed)
