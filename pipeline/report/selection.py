"""Which runs a report covers: the sweeps of a store and the configuration runs of one."""

from __future__ import annotations

import time

from .. import tracking
from ..errors import did_you_mean

LIST_HINT = "list the sweeps with: python -m pipeline.report --list"


def list_sweeps(uri: str) -> list[dict]:
    """The sweep runs of the store, newest first: ``sweep_id``, ``run_id``, ``run_name``,
    ``status``, ``experiment``, ``started`` (local time) and the job counts when closed."""
    sweeps = tracking.search_runs(uri, tags={"biotab.role": "sweep"})
    return [{"sweep_id": s["tags"].get("sweep_id", "?"), "run_id": s["run_id"],
             "run_name": s["run_name"], "status": s["status"], "experiment": s["experiment"],
             "started": local_time(s["start_time"]), "n_jobs": s["tags"].get("n_jobs", ""),
             "n_failed": s["tags"].get("n_failed", "")} for s in reversed(sweeps)]


def latest_sweep_id(uri: str) -> str:
    """The ``sweep_id`` of the newest sweep run in the store."""
    sweeps = list_sweeps(uri)
    if not sweeps:
        raise ValueError(f"no sweep in {uri}: run one (python -m pipeline.train -m ... or "
                         "experiment=<file>), or pass --experiment NAME to compare an experiment's runs")
    return sweeps[0]["sweep_id"]


def configuration_runs(uri: str, sweep_id: str | None, experiment: str | None):
    """Configuration runs of the sweep and/or experiment (the newest sweep when neither
    is given), oldest first, and the sweep id used."""
    if sweep_id is None and experiment is None:
        sweep_id = latest_sweep_id(uri)
    tags = {"biotab.role": "configuration", **({"sweep_id": sweep_id} if sweep_id else {})}
    runs = tracking.search_runs(uri, experiment, tags)
    if not runs:
        if sweep_id and tracking.find_sweep_run(uri, sweep_id) is None:
            known = [s["sweep_id"] for s in list_sweeps(uri)]
            raise ValueError(f"no sweep {sweep_id!r} in {uri}.{did_you_mean(sweep_id, known)} {LIST_HINT}")
        if not sweep_id:
            raise ValueError(f"experiment {experiment!r} in {uri} has no configuration runs")
    return runs, sweep_id


def local_time(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


def format_sweeps(sweeps: list[dict]) -> str:
    if not sweeps:
        return "(no sweeps in this store)"
    lines = [f"{'sweep id':<24} {'started':<19} {'status':<9} {'jobs':>4} {'failed':>6}  experiment / name"]
    lines += [f"{s['sweep_id']:<24} {s['started']:<19} {s['status']:<9} {s['n_jobs']:>4} "
              f"{s['n_failed']:>6}  {s['experiment']} / {s['run_name']}" for s in sweeps]
    return "\n".join(lines)
