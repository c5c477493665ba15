"""One run by its id, and the model it logged (external validation reads both)."""

from __future__ import annotations

import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ..config import DETAILS_TAG
from . import private
from .queries import _experiment_names, _run_dict


def get_run(uri: str, run_id: str) -> dict:
    """Run ``run_id`` as a :func:`pipeline.tracking.search_runs` dict; ``ValueError`` naming
    the store when there is no such run."""
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ValueError(f"no run {run_id!r} in {uri}: copy the run id from the MLflow UI or "
                         "from the line `logged to ... run <id>` that training printed") from None
    return _run_dict(run, _experiment_names(client))


def load_model(uri: str, run_id: str):
    """The fitted model (a scikit-learn pipeline, or its recalibrated wrapper) that run
    ``run_id`` logged; ``ValueError`` when it logged none (``tracking.log_model=false``)."""
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    models = client.search_logged_models([run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not models and run.data.tags.get(DETAILS_TAG) == "deferred":
        raise ValueError(f"run {run_id} is a sweep's configuration other than its best: a sweep logs "
                         "the model of its best configuration only (sweep_details=best). Validate "
                         "the best, or rerun this configuration alone or with sweep_details=all")
    if not models:
        raise ValueError(f"run {run_id} logged no model (was tracking.log_model=false?); rerun the "
                         "configuration with tracking.log_model=true")
    newest = max(models, key=lambda m: m.creation_timestamp)
    with private.global_tracking_uri(uri):  # models:/ URIs resolve against the global store
        return mlflow.sklearn.load_model(f"models:/{newest.model_id}")
