"""MLflow tracking: the only package of biotab that imports mlflow.

Where to look: the tracking URI, the store and experiments (``store``); opening runs and
recording into them (``runs``); the deployable model (``models``); code and library
versions (``provenance``); a sweep's own run (``sweeps``); reading runs back
(``queries``); links into the MLflow UI and its saved views (``ui``, ``views``); the private
MLflow APIs relied on (``private``). Raw patient rows are never
logged.

Importing this package costs about a second (``import mlflow``); the rest of the project
imports it only when tracking is on.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported
# Bounded retries: MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) keep a job
# waiting for minutes on a dead tracking server; these fail it in seconds, and still ride
# out a brief hiccup of a busy server. Set the variables to override.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

from .models import SKLEARN_TYPES_TO_TRUST, model_signature  # noqa: E402
from .provenance import runtime_tags, warm_up  # noqa: E402
from .queries import download_artifact, find_sweep_run, metric_history, search_runs  # noqa: E402
from .runs import MAX_FAILURE_REASON, RunHandle, Tracker  # noqa: E402
from .store import default_artifact_root, ensure_experiment, resolve_tracking_uri, store_exists  # noqa: E402
from .sweeps import (  # noqa: E402
    end_sweep,
    finished_configuration,
    log_run_metrics,
    log_sweep_artifacts,
    mark_orphans,
    resume_sweep,
    run_name,
    run_status,
    set_aside,
    start_sweep,
)
from .ui import artifact_link, experiment_id, run_link, single_run_link, sweep_link  # noqa: E402

__all__ = [
    "MAX_FAILURE_REASON", "SKLEARN_TYPES_TO_TRUST", "artifact_link", "default_artifact_root",
    "download_artifact", "end_sweep", "ensure_experiment", "experiment_id", "find_sweep_run",
    "finished_configuration", "log_run_metrics", "log_sweep_artifacts", "mark_orphans",
    "metric_history", "model_signature", "resolve_tracking_uri", "resume_sweep", "run_link",
    "run_name", "run_status", "RunHandle", "runtime_tags", "search_runs", "set_aside",
    "single_run_link", "start_sweep", "store_exists", "sweep_link", "Tracker", "warm_up",
]
