"""The sweep-level run that groups a multirun's configuration runs: opened before the jobs
start, closed with a summary after them."""

from __future__ import annotations

import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from ..errors import did_you_mean, uninterrupted
from .provenance import context_tags, runtime_tags
from .queries import search_runs
from .runs import strings
from .store import ensure_experiment, open_client


def start_sweep(uri: str, experiment: str, sweep_id: str, name: str, overrides: str) -> str:
    """Open the sweep-level run that groups a multirun's configuration runs; return its id.

    It stays RUNNING while the jobs log (possibly from other processes or machines) and is
    closed by :func:`end_sweep`.
    """
    client = open_client(uri)
    tags = {**context_tags(), **runtime_tags(),
            "sweep_id": sweep_id, "biotab.role": "sweep", "overrides": overrides}
    run = client.create_run(ensure_experiment(experiment, uri), run_name=name, tags=strings(tags))
    return run.info.run_id


def end_sweep(uri: str, run_id: str, failed: list[dict], n_jobs: int, name: str | None = None,
              description: str | None = None, killed: str | None = None) -> None:
    """Close the sweep run: FINISHED unless every job failed, KILLED (with the reason
    ``killed``) when a signal stopped it; failures listed in tags; its final ``name`` and
    Markdown ``description`` (the UI's run page) when given."""
    client = MlflowClient(uri)
    summary = "; ".join(f"{f['run_name']}: {f['failure_reason']}" for f in failed)
    tags = {"n_jobs": n_jobs, "n_failed": len(failed), "failed_jobs": summary or "none"}
    if name:
        tags["mlflow.runName"] = name
    if description:
        tags["mlflow.note.content"] = description
    if killed:
        tags["failure_reason"] = killed
    status = "KILLED" if killed else "FAILED" if failed and len(failed) >= n_jobs else "FINISHED"
    with uninterrupted():  # a second Ctrl-C must not leave the sweep RUNNING
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in strings(tags).items()])
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


ORPHAN_REASON = ("orphaned: its process ended without closing the run (killed, out of time or "
                 "memory, or its node failed); marked KILLED by {by}")


def mark_orphans(uri: str, experiment: str, sweep_id: str, by: str, reason: str | None = None) -> int:
    """Mark KILLED the runs of a sweep left RUNNING by a process that died (configuration
    runs and their folds), with ``reason`` (default: orphaned, found ``by``); return how
    many configurations were orphaned. Call only when no job of the sweep can still be
    running: its summary, a resuming sweep, or a sweep stopped by a signal."""
    client = MlflowClient(uri)
    runs = [r for r in search_runs(uri, experiment, {"sweep_id": sweep_id})
            if r["status"] == "RUNNING" and r["tags"].get("biotab.role") in ("configuration", "fold")]
    for run in runs:
        client.set_tag(run["run_id"], "failure_reason", reason or ORPHAN_REASON.format(by=by))
        client.set_terminated(run["run_id"], "KILLED")
    return sum(r["tags"]["biotab.role"] == "configuration" for r in runs)


def resume_sweep(uri: str, experiment: str, resume: str) -> dict:
    """Reopen sweep ``resume`` (a sweep id, or ``latest``: the newest sweep of
    ``experiment``) so that its jobs rerun only what is not done: orphans marked KILLED,
    and every configuration run that did not finish set aside (``biotab.role`` =
    ``superseded``, its reason kept) for its rerun. Returns ``sweep_id``, ``run_id``,
    ``n_finished``, ``n_rerun`` and ``n_orphans``."""
    sweeps = search_runs(uri, experiment, {"biotab.role": "sweep"})
    if resume == "latest":
        if not sweeps:
            raise ValueError(f"resume=latest: experiment {experiment!r} in {uri} has no sweep to resume")
        sweep = sweeps[-1]
    else:
        matching = [s for s in sweeps if s["tags"].get("sweep_id") == resume]
        if not matching:
            known = [s["tags"].get("sweep_id", "") for s in reversed(sweeps)][:10]
            raise ValueError(f"resume={resume}: no such sweep in experiment {experiment!r} (its "
                             f"sweeps, newest first: {', '.join(known) or 'none'})."
                             f"{did_you_mean(resume, known)}")
        sweep = matching[-1]
    sweep_id, client = sweep["tags"]["sweep_id"], MlflowClient(uri)
    orphans = mark_orphans(uri, experiment, sweep_id, "the resuming sweep")
    configurations = search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration"})
    unfinished = [r for r in configurations if r["status"] != "FINISHED"]
    for run in unfinished:
        set_aside(uri, run["run_id"])
    client.update_run(sweep["run_id"], status="RUNNING")
    client.set_tag(sweep["run_id"], "resumed", str(int(sweep["tags"].get("resumed", "0")) + 1))
    return {"sweep_id": sweep_id, "run_id": sweep["run_id"], "n_orphans": orphans,
            "n_finished": len(configurations) - len(unfinished), "n_rerun": len(unfinished)}


def set_aside(uri: str, run_id: str) -> None:
    """A configuration run that a resumed sweep runs again: no longer counted, charted or
    ranked as one of the sweep's configurations (``biotab.role`` = ``superseded``)."""
    MlflowClient(uri).set_tag(run_id, "biotab.role", "superseded")


def finished_configuration(uri: str, experiment: str, sweep_id: str, config_hash: str) -> dict | None:
    """The FINISHED configuration run of the sweep with this ``config_hash`` tag, if any."""
    runs = search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration",
                                         "config_hash": config_hash})
    finished = [r for r in runs if r["status"] == "FINISHED"]
    return finished[0] if finished else None
