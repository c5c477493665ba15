"""What a sweep defers to its end (``sweep_details=best``): permutation importance and the
deployable model cost about as much as the rest of a configuration's evaluation together,
and a sweep needs them for the configuration it selects only. Its jobs run without them
(:func:`without_details`); the sweep's end computes them for its best configuration
(:func:`complete_run`, the two parts at once in two workers) and adds them to that finished
run. Training is reproducible bit for bit, so the folds trained again there are the run's
own."""

from __future__ import annotations

import dataclasses

from ..config import DETAIL_PARTS, DETAILS_TAG
from ..data import load_dataset
from .artifacts import log_final_model
from .extras import fold_importance, log_importance
from .folds import fit_final_model, run_folds
from .pooling import model_metrics, pool_predictions
from .recorder import NoTracking


def details_deferred(config) -> bool:
    """A tracked sweep's job with ``sweep_details=best`` and details to defer."""
    wanted = config.evaluation.importance or config.tracking.log_model
    return (bool(config.sweep_id) and config.tracking.enabled and wanted
            and config.sweep_details == "best")


def without_details(config):
    """``config`` as such a job runs it: no permutation importance, no model logged."""
    return without_model(dataclasses.replace(
        config, evaluation=dataclasses.replace(config.evaluation, importance=False)))


def without_model(config):
    """``config`` with no deployable model trained or logged."""
    return dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, log_model=False))


def complete_run(config, tracker, run_id: str, name: str, run_metrics: dict,
                 parts=DETAIL_PARTS) -> None:
    """Add the deferred ``parts`` of ``config``'s finished run ``run_id`` (named ``name``,
    with ``run_metrics``): "importance", its folds trained again (not recorded twice) to
    shuffle each variable of their test parts; "model", its deployable model (trained with
    the folds in lock-step when both parts are asked for). With every part, the run is
    marked completed; a caller adding the parts separately marks it (:func:`mark_completed`)."""
    dataset = load_dataset(config.dataset)
    wanted = [part for part in parts if {"importance": config.evaluation.importance,
                                         "model": config.tracking.log_model}[part]]
    model = importance = None
    if "importance" in wanted:
        results, model = run_folds(config if "model" in wanted else without_model(config), dataset,
                                   NoTracking(), None, f"details of {name}")
        importance = fold_importance(config, dataset, results, pool_predictions(results))
    elif "model" in wanted:
        model = fit_final_model(config, dataset)
    with tracker.reopen(run_id) as run:
        if model is not None:
            log_final_model(run, config, dataset, model, name)
            run.log_model_metrics(model_metrics(run_metrics, dataset.task))
        if importance is not None:
            with run.artifacts_together():  # the table and its figure in one call
                log_importance(run, config, importance)
        if set(parts) == set(DETAIL_PARTS):
            run.set_tags({DETAILS_TAG: "completed"})


def mark_completed(tracker, run_id: str) -> None:
    """Mark run ``run_id`` as carrying every deferred detail (added part by part)."""
    with tracker.reopen(run_id) as run:
        run.set_tags({DETAILS_TAG: "completed"})
