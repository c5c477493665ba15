"""One job's tracking and what it tells the user: the tracker (or none), the experiment's
name, a FAILED run for an invalid configuration, and the summary printed at the end."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import PROJECT_ROOT
from .context import is_multirun, sweep_run_id, sweep_state, task_overrides
from .workers import lasting_imports

log = logging.getLogger("biotab")
HEADLINE = ("auroc", "auprc", "brier", "calibration_slope", "sensitivity", "specificity",
            "macro_auroc", "accuracy", "rmse", "r2")


def open_tracker(enabled, uri, experiment):
    if not enabled:
        return None, None
    with lasting_imports():
        from .. import tracking  # imports mlflow (~1 s): only when tracking is on

        tracking.warm_up(uri)  # the imports its first run would make later, frozen too
    uri = tracking.resolve_tracking_uri(uri)
    return tracking.Tracker(uri, experiment, tags=tracking.runtime_tags()), (uri, experiment)


def experiment_name(configured, dataset):
    """``tracking.experiment``, else one experiment per dataset: its config name, or the
    file name for a ``csv`` table (every user table would otherwise share "csv")."""
    if configured:
        return configured
    name = dataset.get("name") or "biotab"
    path = dataset.get("path")
    if name == "csv" and path and path != "???":
        return Path(str(path)).stem
    return name


def finished_before(config, where) -> float | None:
    """In a resumed sweep, the objective of this configuration's FINISHED run, if the sweep
    finished it before (found by its ``config_hash``) on the same data; None when it must run."""
    if not (where and sweep_state().get("resumed")):
        return None
    from .. import tracking
    from ..data import load_dataset
    from ..experiment.naming import config_hash

    uri, experiment = where
    run = tracking.finished_configuration(uri, experiment, config.sweep_id, config_hash(config))
    if run is None:
        return None
    before, now = run["tags"].get("dataset_fingerprint"), load_dataset(config.dataset).fingerprint
    if before != now:  # its result describes another table
        log.warning("%s: the table changed since the sweep ran it (dataset fingerprint %s, now %s): "
                    "running it again", run["run_name"], before, now)
        tracking.set_aside(uri, run["run_id"])
        return None
    print(f"done before the resume: {run['run_name']} (run {run['run_id']})")
    return run["metrics"].get(config.objective, float("nan"))


def record_invalid_config(raw, err):
    """An invalid configuration still leaves a FAILED run with the reason (best effort:
    the tracking settings themselves may be what is invalid)."""
    tracking_cfg, dataset = raw.get("tracking") or {}, raw.get("dataset") or {}
    try:
        tracker, _ = open_tracker(tracking_cfg.get("enabled", True), tracking_cfg.get("uri"),
                              experiment_name(tracking_cfg.get("experiment"), dataset))
        if tracker is None:
            return
        tags = {"biotab.role": "configuration", "overrides": " ".join(task_overrides())}
        if raw.get("sweep_id"):
            tags["sweep_id"] = raw["sweep_id"]
        with tracker.run("invalid configuration", tags=tags, parent=sweep_run_id()):
            raise err
    except Exception as recorded:
        if recorded is not err:
            log.warning("could not record the failed configuration in MLflow: %s", recorded)


def print_summary(result, where):
    if is_multirun():  # one line per job; the sweep's leaderboard follows at the end
        stats = result.pooled.get("auroc") or next(iter(result.pooled.values()))
        print(f"done: {result.run_name}: {stats['value']:.3f} "
              f"[{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]")
        return
    print(f"\n{result.run_name}  ({result.task}, {len(result.folds)} folds)")
    for name in HEADLINE:
        if name in result.pooled:
            stats = result.pooled[name]
            print(f"  {name:<18} {stats['value']:.3f}  "
                  f"(95% CI {stats['ci_low']:.3f}-{stats['ci_high']:.3f})")
    if where:
        uri, experiment = where
        print(f"\nlogged to {uri}, experiment '{experiment}', run {result.run_id}")
        print(f"its learning curves and metrics: {run_view_link(uri, experiment, result)}")
        if not uri.startswith("http"):
            print(f"  (serve the UI first: {how_to_open(uri)})")


def run_view_link(uri, experiment, result) -> str:
    """The MLflow UI link to a view of this run (see :mod:`pipeline.tracking.ui`)."""
    from .. import tracking

    eid = tracking.experiment_id(uri, experiment)
    return tracking.single_run_link(uri, eid, result.run_id, result.task)


def how_to_open(uri):
    """The command that shows ``uri`` in the MLflow UI."""
    if uri.startswith("http"):
        return uri
    if uri == f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}":
        return "make ui"
    return f".venv/bin/mlflow ui --host 127.0.0.1 --backend-store-uri {uri}"
