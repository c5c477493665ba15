"""The leaderboard: one row per configuration, ranked by a pooled out-of-fold metric, as a
frame, a terminal table and a Markdown table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import registry
from .selection import configuration_runs

#: The leaderboard's columns: the task's headline metrics, and for a binary outcome the
#: threshold metrics at each fold's tuned threshold.
MAIN_METRICS = {**registry.MAIN_METRICS,
                "binary": (*registry.MAIN_METRICS["binary"], "sensitivity_tuned", "specificity_tuned")}
STATISTICS = ("_mean", "_sd", "", "_ci_low", "_ci_high")  # column = metric + suffix, as logged
# Where runs went and what they recorded, not what they were:
IGNORED_PARAMS = ("tracking.", "sweep_id", "sweep_details", "debug", "resume")


def leaderboard(uri: str, sweep_id: str | None = None, experiment: str | None = None,
                metric: str = "auroc") -> pd.DataFrame:
    """One row per configuration run of a sweep and/or experiment (the newest sweep when
    neither is given).

    FINISHED runs come first, ranked by the pooled out-of-fold ``metric`` (descending;
    ascending for losses; by distance from 1 or 0 for calibration slope or intercept);
    FAILED, KILLED or still RUNNING runs follow with their ``failure_reason``. Columns:
    ``rank``, ``run_name``, ``label`` (the name, made unique with what differs when runs
    share a name), ``run_id``, ``status``, ``failure_reason``, ``note`` (the run's notes and
    warnings: a setting without effect, folds that did not converge), ``ci_method`` (how
    the intervals were computed), ``experiment``, ``dataset``, ``task``;
    for ``metric`` and the task's main metrics the logged values ``m_mean``, ``m_sd``, ``m``
    (pooled), ``m_ci_low``, ``m_ci_high`` (NaN when not logged); then one column per
    parameter whose value differs between configurations.

    An existing sweep with no configuration runs yet gives an empty frame; an unknown
    sweep id or experiment raises ``ValueError``.
    """
    runs, _ = configuration_runs(uri, sweep_id, experiment)
    return leaderboard_frame(runs, metric)


def lower_is_better(metric: str) -> bool:
    return registry.lower_is_better(metric)


def metric_label(name: str) -> str:
    """A metric's name as a reader sees it: threshold metrics say at which threshold
    (``sensitivity@0.5``; ``sensitivity@tuned``: each fold's own threshold, chosen on its
    validation part)."""
    base = name.removesuffix("_tuned")
    if base not in registry.THRESHOLD_METRICS:
        return name
    return f"{base}@tuned" if name.endswith("_tuned") else f"{base}@0.5"


def leaderboard_frame(runs: Sequence[dict], metric: str) -> pd.DataFrame:
    _check_metric(metric, [r for r in runs if r["status"] == "FINISHED"])
    names = _metric_names(runs, metric)
    varied = varied_params(runs)
    labels = _labels(runs)
    rows = []
    for run in runs:
        row = {"rank": pd.NA, "run_name": run["run_name"], "label": labels[run["run_id"]],
               "run_id": run["run_id"], "status": run["status"],
               "failure_reason": run["tags"].get("failure_reason", ""),
               "note": run["tags"].get("biotab.notes", ""),
               "ci_method": run["tags"].get("ci_method", ""),
               "experiment": run["experiment"], "dataset": run["tags"].get("dataset", ""),
               "task": run["tags"].get("task", "")}
        row.update({name + s: run["metrics"].get(name + s, np.nan) for name in names for s in STATISTICS})
        row.update({key: run["params"].get(key, "") for key in varied})
        rows.append(row)
    columns = (["rank", "run_name", "label", "run_id", "status", "failure_reason", "note", "ci_method",
                "experiment", "dataset", "task"] + [name + s for name in names for s in STATISTICS]
               + varied)
    frame = pd.DataFrame(rows, columns=columns)
    _set_apart_other_data(frame, [run["tags"].get("dataset_fingerprint", "") for run in runs])
    finished = frame[frame["status"] == "FINISHED"]
    ranked = finished.loc[_sort_key(finished[metric], metric).sort_values(
        kind="stable", na_position="last").index].copy()
    ranked["rank"] = range(1, len(ranked) + 1)
    board = pd.concat([ranked, frame[frame["status"] != "FINISHED"]], ignore_index=True)
    board["rank"] = board["rank"].astype("Int64")
    return board


OTHER_DATA = "FINISHED, other data"


def _set_apart_other_data(frame: pd.DataFrame, fingerprints: list[str]) -> None:
    """Finished runs evaluated on another table than most (another dataset fingerprint: two
    cohorts whose files share a name) are never ranked with them: their status becomes
    :data:`OTHER_DATA`, with the reason. Ties go to the newest table."""
    finished = [fp for fp, status in zip(fingerprints, frame["status"]) if status == "FINISHED"]
    if len(set(finished)) < 2:
        return
    counts = Counter(finished)
    main = max(reversed(finished), key=counts.__getitem__)  # runs come oldest first
    for i, fp in enumerate(fingerprints):
        if frame.at[i, "status"] == "FINISHED" and fp != main:
            frame.at[i, "status"] = OTHER_DATA
            frame.at[i, "failure_reason"] = (
                f"evaluated on another table (dataset fingerprint {fp[:12] or 'missing'}, the ranked "
                f"runs' is {main[:12]}): not ranked with them")


def _check_metric(metric: str, finished: Sequence[dict]) -> None:
    """``metric`` must be a pooled metric (logged with a CI) of the finished runs."""
    if not finished:
        return
    pooled = sorted({key for run in finished for key in run["metrics"]
                     if f"{key}_ci_low" in run["metrics"]})
    if metric not in pooled:
        raise ValueError(f"metric {metric!r} was not logged by these configurations; "
                         f"choose one of: {', '.join(pooled) or 'none logged'}")


def _metric_names(runs: Sequence[dict], metric: str) -> list[str]:
    """``metric`` first, then the main metrics of the runs' task(s)."""
    names = [metric]
    for task in dict.fromkeys(r["tags"].get("task") for r in runs):
        names += [m for m in MAIN_METRICS.get(task, ()) if m not in names]
    return names


def _sort_key(values: pd.Series, metric: str) -> pd.Series:
    ideal = registry.info(metric).ideal
    if ideal is not None:
        return (values - ideal).abs()
    return values if lower_is_better(metric) else -values


def varied_params(runs: Sequence[dict]) -> list[str]:
    """Parameters whose values differ between the runs (tracking settings left out).

    A parameter that merely follows a varied group choice is left out too: with
    ``optimizer.name`` varying, ``optimizer.rule`` and ``optimizer.batch_size`` come with
    the chosen option, while an ``optimizer.learning_rate`` swept on top of it stays.
    """
    params = [r["params"] for r in runs if r["params"]]  # an invalid configuration logs none
    keys = sorted({k for p in params for k in p if not k.startswith(IGNORED_PARAMS)})
    varied = [k for k in keys if len({p.get(k) for p in params}) > 1]

    def follows(key: str) -> bool:
        choice = key.split(".")[0] + ".name"
        if choice == key or choice not in varied:
            return False
        seen = {}
        return all(seen.setdefault(p.get(choice), p.get(key)) == p.get(key) for p in params)

    return [k for k in varied if not follows(k)]


def _labels(runs: Sequence[dict]) -> dict[str, str]:
    """Run id -> run name, extended with what differs when several runs share a name
    (a learning rate, a dataset) and with the short run id where that is still not unique."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(run["run_name"], []).append(run)
    labels = {}
    for name, group in groups.items():
        keys = _short_names(varied_params(group) if len(group) > 1 else [])
        for run in group:
            extra = ", ".join(f"{short}={run['params'].get(k, '')}" for k, short in keys.items())
            labels[run["run_id"]] = f"{name} ({extra})" if extra else name
        counts = Counter(labels[r["run_id"]] for r in group)
        for run in group:
            if counts[labels[run["run_id"]]] > 1:
                labels[run["run_id"]] += f" [{run['run_id'][:8]}]"
    return labels


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Key -> its last part (``learning_rate``) where no other key shares that last part."""
    last = Counter(k.rsplit(".", 1)[-1] for k in keys)
    return {k: k.rsplit(".", 1)[-1] if last[k.rsplit(".", 1)[-1]] == 1 else k for k in keys}


def format_leaderboard(frame: pd.DataFrame, metric: str = "auroc", top: int | None = None) -> str:
    """A compact table for the terminal: rank, configuration, ``metric`` fold mean ± sd,
    pooled value [95% CI]; runs that did not finish listed after with their reason."""
    if frame.empty:
        return "(no configuration runs)"
    if metric not in frame.columns:
        raise ValueError(f"the leaderboard has no column {metric!r}: build it with metric={metric!r}")
    finished = frame[frame["status"] == "FINISHED"]
    others = frame[frame["status"] != "FINISHED"]
    shown = finished if top is None else finished.head(top)
    width = min(max([len("configuration"), *map(len, frame["label"])]), 72)
    direction = "lower" if lower_is_better(metric) else "higher"
    label = metric_label(metric)
    lines = [f"ranked by pooled out-of-fold {label} ({direction} is better)",
             f"{'rank':>4}  {'configuration':<{width}}  {label + ' mean ± sd':>20}  pooled [95% CI]"]
    for _, row in shown.iterrows():
        lines.append(f"{row['rank']:>4}  {clip(row['label'], width):<{width}}  "
                     f"{mean_sd(row, metric):>20}  {pooled_ci(row, metric)}")
    if len(finished) > len(shown):
        lines.append(f"      ... and {len(finished) - len(shown)} more finished configurations")
    for _, row in others.iterrows():
        reason = f": {row['failure_reason']}" if row["failure_reason"] else ""
        lines.append(f"{'-':>4}  {clip(row['label'], width):<{width}}  {clip(row['status'] + reason, 80)}")
    return "\n".join(lines)


def num(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    return f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"


def mean_sd(row, metric: str) -> str:
    if pd.isna(row[f"{metric}_mean"]):
        return "–"
    return f"{num(row[f'{metric}_mean'])} ± {num(row[f'{metric}_sd'])}"


def pooled_ci(row, metric: str) -> str:
    if pd.isna(row[metric]):
        return "–"
    return f"{num(row[metric])} [{num(row[f'{metric}_ci_low'])}, {num(row[f'{metric}_ci_high'])}]"


def clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def markdown_leaderboard(board: pd.DataFrame, metric: str, title: str = "Leaderboard") -> str:
    """The leaderboard as a Markdown table (pooled value [95% CI] and fold mean ± sd of each
    metric), with the runs that did not finish listed below it."""
    names = board_metrics(board)
    varied = board_varied(board)
    header = (["rank", "configuration"] + [f"{metric_label(m)} pooled [95% CI]" for m in names]
              + [f"{metric_label(m)} mean ± sd" for m in names] + varied + ["run id"])
    lines = [f"# {title}", "",
             f"Ranked by pooled out-of-fold {metric_label(metric)} "
             f"({'lower' if lower_is_better(metric) else 'higher'}"
             f" is better); 95% CI: {ci_method(board)} of the pooled out-of-fold predictions;"
             " mean ± sd over folds.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board[board["status"] == "FINISHED"].iterrows():
        configuration = row["label"] + (f" ({row['note']})" if row["note"] else "")
        cells = ([str(row["rank"]), configuration] + [pooled_ci(row, m) for m in names]
                 + [mean_sd(row, m) for m in names] + [str(row[k]) for k in varied] + [row["run_id"]])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    others = board[board["status"] != "FINISHED"]
    if len(others):
        lines += ["", "## Configurations that did not finish", ""]
        lines += [f"- **{row['label']}** ({row['status']}, run {row['run_id']}): "
                  f"{row['failure_reason'] or 'no reason recorded'}" for _, row in others.iterrows()]
    return "\n".join(lines) + "\n"


def linked_summary(board: pd.DataFrame, metric: str, run_url, header: Sequence[str] = ()) -> str:
    """The sweep run's description (Markdown, shown by the MLflow UI): ``header`` lines, then
    each configuration linked to its run (``run_url(run_id)``) with the pooled ``metric``
    [95% CI] and its notes; runs that did not finish after, with their reason."""
    label = metric_label(metric)
    lines = [*header, "", f"| rank | configuration | {label} pooled [95% CI] | notes |", "|---|---|---|---|"]
    for _, row in board.iterrows():
        rank = str(row["rank"]) if row["status"] == "FINISHED" else row["status"]
        note = row["note"] if row["status"] == "FINISHED" else row["failure_reason"]
        cells = [rank, f"[{row['label']}]({run_url(row['run_id'])})", pooled_ci(row, metric),
                 clip(note, 200)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def ci_method(board: pd.DataFrame) -> str:
    """How the runs' intervals were computed (their ``ci_method`` tag), e.g. "bca bootstrap"."""
    methods = sorted({m.split(",")[0] for m in board.get("ci_method", pd.Series(dtype=str)) if m})
    return " / ".join(methods) or "bootstrap"


def board_metrics(board: pd.DataFrame) -> list[str]:
    return [c.removesuffix("_ci_low") for c in board.columns if c.endswith("_ci_low")]


def board_varied(board: pd.DataFrame) -> list[str]:
    return list(board.columns[board.columns.get_loc(f"{board_metrics(board)[-1]}_ci_high") + 1:])
