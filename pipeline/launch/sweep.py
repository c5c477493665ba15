"""A sweep's own MLflow run: opened before the jobs start, closed after them with the list
of failures, the leaderboard and the report."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from ..config import DETAIL_PARTS, DETAILS_TAG
from .context import split_override
from .job import how_to_open

log = logging.getLogger("biotab")


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` at once: another process may read it at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


def open_sweep(sweep_file, configured_uri, experiment, sweep_id, overrides, swept):
    """Create the store, the experiment and the sweep run, and record them in ``sweep_file``
    (where the jobs and the launching process find them) with the ``swept`` keys.

    The file says "opening" at once (the launcher waits for no more), then "open", or
    "failed" with the reason. A failure is recorded, not raised: in a worker of the joblib
    launcher, an error would shut down the pool the jobs run in."""
    state = {"sweep_id": sweep_id, "experiment": experiment, "swept": swept}
    write_json(sweep_file, {**state, "status": "opening"})
    try:
        from .. import tracking

        uri = tracking.resolve_tracking_uri(configured_uri)
        run_id = tracking.start_sweep(uri, experiment, sweep_id, sweep_name(overrides, swept), overrides)
    except Exception as err:
        write_json(sweep_file, {**state, "status": "failed", "error": f"{type(err).__name__}: {err}"})
        return
    write_json(sweep_file, {**state, "status": "open", "tracking_uri": uri, "run_id": run_id})


def reopen_sweep(sweep_file, configured_uri, experiment, resume, swept) -> dict:
    """Reopen a sweep to rerun what it did not finish (see
    :func:`pipeline.tracking.resume_sweep`), and record it in ``sweep_file`` for the jobs:
    with ``resumed`` set, each skips a configuration the sweep already finished."""
    from .. import tracking

    uri = tracking.resolve_tracking_uri(configured_uri)
    state = {**tracking.resume_sweep(uri, experiment, resume), "experiment": experiment,
             "swept": swept, "status": "open", "tracking_uri": uri, "resumed": True}
    write_json(sweep_file, state)
    return state


def sweep_name(overrides: str, swept=()) -> str:
    """The sweep run's name: its experiment file and the command line's sweep overrides
    (``experiment=loss``, ``loss=cross_entropy,squared_error``); without either, every
    override but the launcher's."""
    keys = {split_override(o)[0]: o for o in overrides.split()}
    named = [o for key, o in keys.items() if key == "experiment" or key in swept]
    return " ".join(named or [o for key, o in keys.items() if not key.startswith("hydra")]) or "sweep"


def close_sweep(uri, experiment, sweep_id, run_id, report_dir, swept=(), failed_reason=None,
                killed=False, completed=None):
    """List failures, print the leaderboard, write the report, name and describe the sweep
    run and close it (once); return what to show the user (ending with the link to the
    sweep's view in the MLflow UI) and how many configurations finished. ``killed``: the
    sweep process was stopped by a signal (``failed_reason`` names it): the run ends KILLED.
    ``completed``: what :func:`complete_best` returned for each part of the best
    configuration's deferred details, added before (else they are added here)."""
    from .. import tracking

    if tracking.run_status(uri, run_id) != "RUNNING":
        return "", 0
    # Every job has returned, or was sent the signal that stops this sweep (its process
    # group's): a run still RUNNING has lost its process.
    tracking.mark_orphans(uri, experiment, sweep_id, "the sweep's summary",
                          failed_reason if killed else None)
    runs = tracking.search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration"})
    failed = [{"run_name": r["run_name"], "failure_reason": r["tags"].get("failure_reason", "")}
              for r in runs if r["status"] == "FAILED"]
    if failed_reason:
        failed.append({"run_name": "sweep", "failure_reason": failed_reason})
    lines = [f"  FAILED {f['run_name']}: {f['failure_reason']}" for f in failed]
    name = f"{tracking.run_name(uri, run_id).split(' · ')[0]} · {len(runs)} configurations"
    description = link = None
    if completed is None and not killed:
        complete_best(uri, experiment, sweep_id)
    elif completed and completed[0] and len(set(completed)) == 1:  # every part, one run
        from ..experiment import mark_completed

        mark_completed(tracking.Tracker(uri, experiment), completed[0])
    try:
        summary, description, link = summarise_sweep(uri, experiment, sweep_id, run_id, report_dir,
                                                     swept, runs)
        lines += summary
    except Exception as err:  # the runs are safe in MLflow: a report problem must not hide them
        log.warning("could not summarise the sweep: %s", err)
    finally:
        tracking.end_sweep(uri, run_id, failed, len(runs), name, description,
                           killed=failed_reason if killed else None)
    lines.append(f"sweep {sweep_id}: {len(runs)} configurations, {len(failed)} failed.")
    lines += compare_lines(uri, link)
    return "\n".join(lines), sum(r["status"] == "FINISHED" for r in runs)


def complete_best(uri, experiment, sweep_id, parts=None) -> str | None:
    """The details the sweep's jobs deferred (``sweep_details=best``: permutation importance
    and the deployable model; ``parts``: one of them, else both), added to the run of its
    best finished configuration (the report's) before the report reads them. Returns that
    run's id, or None when there was nothing to add, or adding it failed (which costs only
    those details)."""
    from .. import report, tracking
    from ..experiment import complete_run

    parts = parts or DETAIL_PARTS
    try:
        runs = tracking.search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration"})
        board = report.leaderboard_frame(runs, ranking_metric(runs))
        ranked = board.loc[board["status"] == "FINISHED", "run_id"].tolist()
        best = next((r for r in runs if ranked and r["run_id"] == ranked[0]), None)
        if best is None or best["tags"].get(DETAILS_TAG) != "deferred":
            return None
        with tempfile.TemporaryDirectory() as tmp:
            config = report.read_config(uri, best["run_id"], tmp)
        if config is None:  # said why
            return None
        print(f"best configuration {best['run_name']}: computing its {' and '.join(parts)}")
        complete_run(config, tracking.Tracker(uri, experiment), best["run_id"], best["run_name"],
                     best["metrics"], parts)
        return best["run_id"]
    except Exception as err:
        log.warning("could not add the best configuration's %s (%s): rerun it alone, or the "
                    "sweep with sweep_details=all", " and ".join(parts), err)
        return None


def summarise_sweep(uri, experiment, sweep_id, run_id, report_dir, swept, runs):
    """The leaderboard and report lines, the sweep run's description (a linked leaderboard)
    and the link to the sweep's view in the MLflow UI (of ``runs``, its configurations)."""
    from .. import report, tracking

    metric = ranking_metric(runs)
    out_dir, board = report.build_report(uri, sweep_id=sweep_id, metric=metric, out_dir=report_dir)
    eid = tracking.experiment_id(uri, experiment)
    task = next((t for t in board["task"] if t), "binary")
    link = tracking.sweep_link(uri, eid, sweep_id, task, swept,
                               metric_keys={key for r in runs for key in r["metrics"]})
    report_link = tracking.artifact_link(uri, eid, run_id, "report/report.html")
    description = report.linked_summary(
        board, metric, lambda rid: tracking.run_link(uri, eid, rid),
        [f"**[Learning curves and metrics of every configuration]({link})** · "
         f"[HTML report]({report_link})"])
    return [report.format_leaderboard(board, metric), f"report: {out_dir / 'report.html'}"], \
        description, link


def ranking_metric(runs) -> str:
    """What the sweep's leaderboard, report and best configuration go by: the main metric
    of its runs' task (auroc for a binary outcome, macro_auroc for classes, rmse for a
    continuous one)."""
    from ..metrics.registry import MAIN_METRICS

    task = next((r["tags"]["task"] for r in runs if r["tags"].get("task") in MAIN_METRICS), "binary")
    return MAIN_METRICS[task][0]


def compare_lines(uri, link) -> list[str]:
    """How to see the runs in the MLflow UI: the link, and the command serving it."""
    if link is None:
        return [f"Compare them with: {how_to_open(uri)}"]
    lines = [f"Compare every configuration's learning curves: {link}"]
    if not uri.startswith("http"):
        lines.append(f"  (serve the UI first: {how_to_open(uri)})")
    return lines
