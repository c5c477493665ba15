"""A sweep's own MLflow run: opened before the jobs start, closed after them with the list
of failures, the leaderboard and the report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .job import how_to_open

log = logging.getLogger("biotab")


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` at once: another process may read it at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


def open_sweep(sweep_file, configured_uri, experiment, sweep_id, overrides):
    """Create the store, the experiment and the sweep run, and record them in ``sweep_file``
    (where the jobs and the launching process find them)."""
    from .. import tracking

    state = {"sweep_id": sweep_id, "experiment": experiment}
    try:
        uri = tracking.resolve_tracking_uri(configured_uri)
        run_id = tracking.start_sweep(uri, experiment, sweep_id, f"sweep {overrides}".strip(), overrides)
    except Exception as err:
        write_json(sweep_file, {**state, "status": "failed", "error": f"{type(err).__name__}: {err}"})
        raise
    write_json(sweep_file, {**state, "status": "open", "tracking_uri": uri, "run_id": run_id})


def close_sweep(uri, experiment, sweep_id, run_id, report_dir, failed_reason=None):
    """List failures, print the leaderboard, write the report and close the sweep run
    (once); return what to show the user and how many configurations finished."""
    from .. import tracking

    if tracking.run_status(uri, run_id) != "RUNNING":
        return "", 0
    runs = tracking.search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration"})
    failed = [{"run_name": r["run_name"], "failure_reason": r["tags"].get("failure_reason", "")}
              for r in runs if r["status"] == "FAILED"]
    if failed_reason:
        failed.append({"run_name": "sweep", "failure_reason": failed_reason})
    lines = [f"  FAILED {f['run_name']}: {f['failure_reason']}" for f in failed]
    try:
        lines += summarise_sweep(uri, sweep_id, report_dir)
    except Exception as err:  # the runs are safe in MLflow: a report problem must not hide them
        log.warning("could not summarise the sweep: %s", err)
    finally:
        tracking.end_sweep(uri, run_id, failed, len(runs))
    lines.append(f"sweep {sweep_id}: {len(runs)} configurations, {len(failed)} failed. "
                 f"Compare them with: {how_to_open(uri)}")
    return "\n".join(lines), sum(r["status"] == "FINISHED" for r in runs)


def summarise_sweep(uri, sweep_id, report_dir) -> list[str]:
    """The leaderboard, and the report written next to the sweep's outputs."""
    from .. import report

    out_dir, board = report.build_report(uri, sweep_id=sweep_id, out_dir=report_dir)
    return [report.format_leaderboard(board), f"report: {out_dir / 'report.html'}"]
