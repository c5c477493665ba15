"""The sweep-level run that groups a multirun's configuration runs: opened before the jobs
start, closed with a summary after them."""

from __future__ import annotations

import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from .provenance import context_tags, runtime_tags
from .runs import strings
from .store import ensure_experiment


def start_sweep(uri: str, experiment: str, sweep_id: str, name: str, overrides: str) -> str:
    """Open the sweep-level run that groups a multirun's configuration runs; return its id.

    It stays RUNNING while the jobs log (possibly from other processes or machines) and is
    closed by :func:`end_sweep`.
    """
    client = MlflowClient(uri)
    tags = {**context_tags(), **runtime_tags(),
            "sweep_id": sweep_id, "biotab.role": "sweep", "overrides": overrides}
    run = client.create_run(ensure_experiment(experiment, uri), run_name=name, tags=strings(tags))
    return run.info.run_id


def end_sweep(uri: str, run_id: str, failed: list[dict], n_jobs: int, name: str | None = None,
              description: str | None = None) -> None:
    """Close the sweep run: FINISHED unless every job failed; failures listed in tags; its
    final ``name`` and Markdown ``description`` (the UI's run page) when given."""
    client = MlflowClient(uri)
    summary = "; ".join(f"{f['run_name']}: {f['failure_reason']}" for f in failed)
    tags = {"n_jobs": n_jobs, "n_failed": len(failed), "failed_jobs": summary or "none"}
    if name:
        tags["mlflow.runName"] = name
    if description:
        tags["mlflow.note.content"] = description
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in strings(tags).items()])
    status = "FAILED" if failed and len(failed) >= n_jobs else "FINISHED"
    client.set_terminated(run_id, status)


def log_sweep_artifacts(uri: str, run_id: str, directory: Path) -> None:
    """Attach a directory's files (the sweep report) to the sweep run."""
    MlflowClient(uri).log_artifacts(run_id, str(directory), "report")


def run_status(uri: str, run_id: str) -> str:
    return MlflowClient(uri).get_run(run_id).info.status


def run_name(uri: str, run_id: str) -> str:
    return MlflowClient(uri).get_run(run_id).info.run_name


def log_run_metrics(uri: str, run_id: str, values: dict[str, float]) -> None:
    """Metrics computed after a run's jobs, e.g. a sweep's selection-honest estimate."""
    now = int(time.time() * 1000)
    MlflowClient(uri).log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])
