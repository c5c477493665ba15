"""Compare the configuration runs of a sweep (or of a whole experiment) from MLflow.

:func:`leaderboard` gives one row per configuration: per-fold mean and sd, pooled
out-of-fold value and bootstrap 95% CI of the main metrics, ranked by one of them.
:func:`build_report` writes ``report.html`` (self-contained: figures inlined as SVG),
``leaderboard.md`` and ``leaderboard.csv``, and attaches them to the sweep run. The
HTML adds the validation learning curves of every configuration, ROC and calibration
curves of the best ones, a paired bootstrap comparison of the best two on the same
out-of-fold predictions, and a TRIPOD+AI-style summary written from the runs'
parameters and tags. Command line::

    python -m pipeline.report                      # the newest sweep in the store
    python -m pipeline.report --sweep 20260101-120000-ab12cd --metric brier
    python -m pipeline.report --experiment breast_cancer --out reports/bc
    python -m pipeline.report --list               # the sweeps in the store

Only what the runs logged is read: parameters, tags, metrics, per-epoch curves and the
out-of-fold predictions (row index, fold, prediction, label: no feature values).
MLflow is reached through :mod:`pipeline.tracking` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import html
import logging
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import PROJECT_ROOT, metrics, plots, svg, tracking

log = logging.getLogger(__name__)

MAIN_METRICS = {
    "binary": ("auroc", "auprc", "brier", "calibration_slope", "sensitivity", "specificity"),
    "multiclass": ("macro_auroc", "accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae"})
IDEAL_VALUE = {"calibration_slope": 1.0, "calibration_intercept": 0.0}  # ranked by distance
STATISTICS = ("_mean", "_sd", "", "_ci_low", "_ci_high")  # column = metric + suffix, as logged
PAIRED_METRIC = {"binary": "auroc", "multiclass": "macro_auroc"}
IGNORED_PARAMS = ("tracking.", "sweep_id", "debug")  # where runs went, not what they were
REPORTS_DIR = PROJECT_ROOT / "reports"
FILES = ("report.html", "leaderboard.md", "leaderboard.csv")
LIST_HINT = "list the sweeps with: python -m pipeline.report --list"


# --- which runs ----------------------------------------------------------------------


def list_sweeps(uri: str) -> list[dict]:
    """The sweep runs of the store, newest first: ``sweep_id``, ``run_id``, ``run_name``,
    ``status``, ``experiment``, ``started`` (local time) and the job counts when closed."""
    sweeps = tracking.search_runs(uri, tags={"biotab.role": "sweep"})
    return [{"sweep_id": s["tags"].get("sweep_id", "?"), "run_id": s["run_id"],
             "run_name": s["run_name"], "status": s["status"], "experiment": s["experiment"],
             "started": _local_time(s["start_time"]), "n_jobs": s["tags"].get("n_jobs", ""),
             "n_failed": s["tags"].get("n_failed", "")} for s in reversed(sweeps)]


def latest_sweep_id(uri: str) -> str:
    """The ``sweep_id`` of the newest sweep run in the store."""
    sweeps = list_sweeps(uri)
    if not sweeps:
        raise ValueError(f"no sweep in {uri}: run one (python -m pipeline.train -m ... or "
                         "experiment=<file>), or pass --experiment NAME to compare an experiment's runs")
    return sweeps[0]["sweep_id"]


def _configuration_runs(uri: str, sweep_id: str | None, experiment: str | None):
    """Configuration runs of the sweep and/or experiment (the newest sweep when neither
    is given), oldest first, and the sweep id used."""
    if sweep_id is None and experiment is None:
        sweep_id = latest_sweep_id(uri)
    tags = {"biotab.role": "configuration", **({"sweep_id": sweep_id} if sweep_id else {})}
    runs = tracking.search_runs(uri, experiment, tags)
    if not runs:
        if sweep_id and tracking.find_sweep_run(uri, sweep_id) is None:
            known = [s["sweep_id"] for s in list_sweeps(uri)]
            close = difflib.get_close_matches(sweep_id, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"no sweep {sweep_id!r} in {uri}{hint}; {LIST_HINT}")
        if not sweep_id:
            raise ValueError(f"experiment {experiment!r} in {uri} has no configuration runs")
    return runs, sweep_id


# --- the leaderboard ---------------------------------------------------------------


def leaderboard(uri: str, sweep_id: str | None = None, experiment: str | None = None,
                metric: str = "auroc") -> pd.DataFrame:
    """One row per configuration run of a sweep and/or experiment (the newest sweep when
    neither is given).

    FINISHED runs come first, ranked by the pooled out-of-fold ``metric`` (descending;
    ascending for losses; by distance from 1 or 0 for calibration slope or intercept);
    FAILED, KILLED or still RUNNING runs follow with their ``failure_reason``. Columns:
    ``rank``, ``run_name``, ``label`` (the name, made unique with what differs when runs
    share a name), ``run_id``, ``status``, ``failure_reason``, ``note`` (the run's MLflow
    description, e.g. a setting that had no effect), ``experiment``, ``dataset``, ``task``;
    for ``metric`` and the task's main metrics the logged values ``m_mean``, ``m_sd``, ``m``
    (pooled), ``m_ci_low``, ``m_ci_high`` (NaN when not logged); then one column per
    parameter whose value differs between configurations.

    An existing sweep with no configuration runs yet gives an empty frame; an unknown
    sweep id or experiment raises ``ValueError``.
    """
    runs, _ = _configuration_runs(uri, sweep_id, experiment)
    return _leaderboard_frame(runs, metric)


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or metric.endswith("loss")


def _leaderboard_frame(runs: Sequence[dict], metric: str) -> pd.DataFrame:
    _check_metric(metric, [r for r in runs if r["status"] == "FINISHED"])
    names = _metric_names(runs, metric)
    varied = varied_params(runs)
    labels = _labels(runs)
    rows = []
    for run in runs:
        row = {"rank": pd.NA, "run_name": run["run_name"], "label": labels[run["run_id"]],
               "run_id": run["run_id"], "status": run["status"],
               "failure_reason": run["tags"].get("failure_reason", ""),
               "note": run["tags"].get("mlflow.note.content", ""),
               "experiment": run["experiment"], "dataset": run["tags"].get("dataset", ""),
               "task": run["tags"].get("task", "")}
        row.update({name + s: run["metrics"].get(name + s, np.nan) for name in names for s in STATISTICS})
        row.update({key: run["params"].get(key, "") for key in varied})
        rows.append(row)
    columns = (["rank", "run_name", "label", "run_id", "status", "failure_reason", "note",
                "experiment", "dataset", "task"] + [name + s for name in names for s in STATISTICS]
               + varied)
    frame = pd.DataFrame(rows, columns=columns)
    finished = frame[frame["status"] == "FINISHED"]
    ranked = finished.loc[_sort_key(finished[metric], metric).sort_values(
        kind="stable", na_position="last").index].copy()
    ranked["rank"] = range(1, len(ranked) + 1)
    board = pd.concat([ranked, frame[frame["status"] != "FINISHED"]], ignore_index=True)
    board["rank"] = board["rank"].astype("Int64")
    return board


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
    if metric in IDEAL_VALUE:
        return (values - IDEAL_VALUE[metric]).abs()
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
    lines = [f"ranked by pooled out-of-fold {metric} ({direction} is better)",
             f"{'rank':>4}  {'configuration':<{width}}  {metric + ' mean ± sd':>20}  pooled [95% CI]"]
    for _, row in shown.iterrows():
        lines.append(f"{row['rank']:>4}  {_clip(row['label'], width):<{width}}  "
                     f"{_mean_sd(row, metric):>20}  {_pooled_ci(row, metric)}")
    if len(finished) > len(shown):
        lines.append(f"      ... and {len(finished) - len(shown)} more finished configurations")
    for _, row in others.iterrows():
        reason = f": {row['failure_reason']}" if row["failure_reason"] else ""
        lines.append(f"{'-':>4}  {_clip(row['label'], width):<{width}}  {_clip(row['status'] + reason, 80)}")
    return "\n".join(lines)


def _num(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    return f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"


def _mean_sd(row, metric: str) -> str:
    if pd.isna(row[f"{metric}_mean"]):
        return "–"
    return f"{_num(row[f'{metric}_mean'])} ± {_num(row[f'{metric}_sd'])}"


def _pooled_ci(row, metric: str) -> str:
    if pd.isna(row[metric]):
        return "–"
    return f"{_num(row[metric])} [{_num(row[f'{metric}_ci_low'])}, {_num(row[f'{metric}_ci_high'])}]"


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


# --- out-of-fold predictions and the paired comparison ---------------------------------


@dataclasses.dataclass
class OutOfFold:
    """A run's pooled out-of-fold predictions, one entry per dataset row (repeats averaged)."""

    rows: np.ndarray  # (n,) positions in the dataset
    y: np.ndarray  # (n,) labels / outcome values
    prediction: np.ndarray  # (n,) P(y=1) or values, or (n, K) class probabilities


def read_oof(path: str | Path) -> OutOfFold:
    """Read ``oof_predictions.csv``; rows seen more than once (repeated k-fold) are averaged."""
    frame = pd.read_csv(path)
    columns = [c for c in frame.columns if c.startswith("probability")] or ["prediction"]
    missing = {"row", "label", *columns} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)}")
    grouped = frame.groupby("row", sort=True)
    prediction = grouped[columns].mean().to_numpy()
    return OutOfFold(grouped["row"].first().to_numpy(), grouped["label"].first().to_numpy(),
                     prediction[:, 0] if prediction.shape[1] == 1 else prediction)


def incomparable(a: dict, b: dict, oof_a: OutOfFold | None, oof_b: OutOfFold | None) -> str | None:
    """Why runs ``a`` and ``b`` cannot be compared on the same predictions (None if they can)."""
    fp_a, fp_b = a["tags"].get("dataset_fingerprint"), b["tags"].get("dataset_fingerprint")
    if not fp_a or fp_a != fp_b:
        return (f"they were not evaluated on the same data (dataset fingerprints "
                f"{(fp_a or 'missing')[:12]} and {(fp_b or 'missing')[:12]})")
    for run, oof in ((a, oof_a), (b, oof_b)):
        if oof is None:
            return f"{run['run_name']} has no oof_predictions.csv artifact"
    if not np.array_equal(oof_a.rows, oof_b.rows):
        common = np.intersect1d(oof_a.rows, oof_b.rows).size
        return (f"their out-of-fold rows differ ({oof_a.rows.size} and {oof_b.rows.size} rows, "
                f"{common} in common)")
    if not np.array_equal(oof_a.y, oof_b.y):
        return "their labels differ on the same rows"
    return None


def paired_comparison(a: dict, b: dict, oof_a: OutOfFold | None, oof_b: OutOfFold | None,
                      task: str) -> dict:
    """Paired bootstrap difference ``metric(a) - metric(b)`` (AUROC, macro AUROC for
    multiclass) on the rows both runs predicted, with the runs' bootstrap size and seed.

    Returns ``{"skipped": reason}`` when the runs cannot be compared, else the result of
    :func:`metrics.paired_bootstrap_difference` plus ``metric``, ``n``, ``n_boot``.
    """
    if task not in PAIRED_METRIC:
        return {"skipped": f"a paired AUROC comparison needs a classification task (this one: {task})"}
    reason = incomparable(a, b, oof_a, oof_b)
    if reason:
        return {"skipped": reason}
    n_boot = int(_param(a, "n_bootstrap", 1000))
    seed = int(_param(a, "seed", 0))
    metric = PAIRED_METRIC[task]
    result = metrics.paired_bootstrap_difference(oof_a.y, oof_a.prediction, oof_b.prediction,
                                                 metric, n_boot=max(n_boot, 1), seed=seed)
    return {**result, "metric": metric, "n": int(oof_a.y.size), "n_boot": n_boot}


def _param(run: dict, key: str, default):
    value = run["params"].get(key)
    return default if value in (None, "None", "") else value


# --- the report ----------------------------------------------------------------------------


def build_report(uri: str, sweep_id: str | None = None, experiment: str | None = None,
                 metric: str = "auroc", out_dir: str | Path | None = None,
                 top: int = 3) -> tuple[Path, pd.DataFrame]:
    """Write ``report.html``, ``leaderboard.md`` and ``leaderboard.csv`` into ``out_dir``
    (default ``reports/<sweep id or experiment>`` at the project root) and attach them to
    the sweep run, under ``report/``, when there is one; return ``out_dir`` and the
    :func:`leaderboard`.

    ``top``: how many of the best configurations get ROC and calibration curves.
    """
    if not (isinstance(top, int) and top >= 1):
        raise ValueError(f"top must be a positive integer, got {top!r}")
    runs, sweep_id = _configuration_runs(uri, sweep_id, experiment)
    if not runs:
        raise ValueError(f"sweep {sweep_id!r} has no configuration runs yet; nothing to report")
    board = _leaderboard_frame(runs, metric)
    out_dir = Path(out_dir) if out_dir else REPORTS_DIR / _safe_name(sweep_id or experiment)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {r["run_id"]: r for r in runs}
    ranked = [by_id[i] for i in board.loc[board["status"] == "FINISHED", "run_id"]]
    with tempfile.TemporaryDirectory() as tmp:
        oof = {run["run_id"]: _download_oof(uri, run["run_id"], tmp) for run in ranked[:max(top, 2)]}
    context = _Context(uri, sweep_id, experiment, metric, top, board, runs, ranked, oof)
    (out_dir / "leaderboard.csv").write_text(board.to_csv(index=False))
    (out_dir / "leaderboard.md").write_text(markdown_leaderboard(board, metric, context.title))
    (out_dir / "report.html").write_text(_html(context))
    sweep_run = tracking.find_sweep_run(uri, sweep_id) if sweep_id else None
    if sweep_run:
        with tempfile.TemporaryDirectory() as tmp:  # only our files, whatever else out_dir holds
            for name in FILES:
                shutil.copy(out_dir / name, Path(tmp) / name)
            tracking.log_sweep_artifacts(uri, sweep_run["run_id"], Path(tmp))
    return out_dir, board


@dataclasses.dataclass
class _Context:
    uri: str
    sweep_id: str | None
    experiment: str | None
    metric: str
    top: int
    board: pd.DataFrame
    runs: list
    ranked: list  # finished runs, best first
    oof: dict  # run id -> OutOfFold | None, for the best ones

    @property
    def title(self) -> str:
        scope = [f"sweep {self.sweep_id}"] if self.sweep_id else []
        scope += [f"experiment {self.experiment}"] if self.experiment else []
        return "biotab comparison: " + ", ".join(scope)

    @property
    def task(self) -> str:
        tasks = [r["tags"].get("task") for r in self.ranked] or [r["tags"].get("task") for r in self.runs]
        return next((t for t in tasks if t), "unknown")


def _download_oof(uri, run_id, tmp) -> OutOfFold | None:
    try:
        return read_oof(tracking.download_artifact(uri, run_id, "oof_predictions.csv", Path(tmp) / run_id))
    except (FileNotFoundError, ValueError) as err:
        log.warning("no out-of-fold predictions for run %s: %s", run_id, err)
        return None


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "report"


def markdown_leaderboard(board: pd.DataFrame, metric: str, title: str = "Leaderboard") -> str:
    """The leaderboard as a Markdown table (pooled value [95% CI] and fold mean ± sd of each
    metric), with the runs that did not finish listed below it."""
    names = _board_metrics(board)
    varied = _board_varied(board)
    header = (["rank", "configuration"] + [f"{m} pooled [95% CI]" for m in names]
              + [f"{m} mean ± sd" for m in names] + varied + ["run id"])
    lines = [f"# {title}", "",
             f"Ranked by pooled out-of-fold {metric} ({'lower' if lower_is_better(metric) else 'higher'}"
             " is better); 95% CI: bootstrap of the pooled out-of-fold predictions; mean ± sd over folds.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board[board["status"] == "FINISHED"].iterrows():
        configuration = row["label"] + (f" ({row['note']})" if row["note"] else "")
        cells = ([str(row["rank"]), configuration] + [_pooled_ci(row, m) for m in names]
                 + [_mean_sd(row, m) for m in names] + [str(row[k]) for k in varied] + [row["run_id"]])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    others = board[board["status"] != "FINISHED"]
    if len(others):
        lines += ["", "## Configurations that did not finish", ""]
        lines += [f"- **{row['label']}** ({row['status']}, run {row['run_id']}): "
                  f"{row['failure_reason'] or 'no reason recorded'}" for _, row in others.iterrows()]
    return "\n".join(lines) + "\n"


def _board_metrics(board: pd.DataFrame) -> list[str]:
    return [c.removesuffix("_ci_low") for c in board.columns if c.endswith("_ci_low")]


def _board_varied(board: pd.DataFrame) -> list[str]:
    return list(board.columns[board.columns.get_loc(f"{_board_metrics(board)[-1]}_ci_high") + 1:])


# --- HTML -------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; white-space: nowrap; }
tr.best td { background: #eef7ee; } .meta, small { color: #666; }
figure { margin: 1em 0; } figure > svg { max-width: 100%; height: auto; }
.note { background: #fff8e5; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _html(c: _Context) -> str:
    e = html.escape
    finished, failed = len(c.ranked), len(c.runs) - len(c.ranked)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(c.title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{e(c.title)}</h1>",
             f"<p class='meta'>Store <code>{e(c.uri)}</code>; experiment(s) "
             f"{e(', '.join(sorted({str(r['experiment']) for r in c.runs})))}; "
             f"{len(c.runs)} configurations ({finished} finished, {failed} did not); "
             f"generated {e(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>",
             "<h2>Leaderboard</h2>", _html_leaderboard(c), "<h2>Validation learning curves</h2>",
             _html_learning_curves(c),
             f"<h2>ROC and calibration of the best {min(c.top, len(c.ranked))}</h2>",
             _html_curves(c), "<h2>Paired comparison of the best two</h2>", _html_paired(c),
             "<h2>TRIPOD+AI-style summary</h2>"]
    for heading, sentences in tripod_summary(c):
        parts.append(f"<h3>{e(heading)}</h3>" + "".join(f"<p>{e(s)}</p>" for s in sentences))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_leaderboard(c: _Context) -> str:
    e, board = html.escape, c.board
    names, varied = _board_metrics(board), _board_varied(board)
    direction = "lower" if lower_is_better(c.metric) else "higher"
    head = "".join(f"<th>{e(h)}</th>" for h in ["rank", "configuration", "status", *names, *varied, "run id"])
    rows = []
    for _, row in board.iterrows():
        configuration = e(row["label"]) + (f"<br><small>{e(row['note'])}</small>" if row["note"] else "")
        cells = [str(row["rank"]) if row["status"] == "FINISHED" else "–", configuration,
                 e(row["status"]) + (f"<br><small>{e(row['failure_reason'])}</small>"
                                     if row["failure_reason"] else "")]
        cells += [f"{_pooled_ci(row, m)}<br><small>{_mean_sd(row, m)}</small>" for m in names]
        cells += [e(str(row[k])) for k in varied] + [f"<code>{e(row['run_id'])}</code>"]
        numeric = {3 + i for i in range(len(names))}
        tds = "".join(f"<td class='num'>{x}</td>" if i in numeric else f"<td>{x}</td>"
                      for i, x in enumerate(cells))
        best = row["status"] == "FINISHED" and row["rank"] == 1
        rows.append(f"<tr{' class=best' if best else ''}>{tds}</tr>")
    return (f"<p>Ranked by pooled out-of-fold <b>{e(c.metric)}</b> ({direction} is better). "
            "Each cell: pooled out-of-fold value [bootstrap 95% CI], below it the mean ± sd "
            f"over folds.</p><table><tr>{head}</tr>{''.join(rows)}</table>")


def _html_learning_curves(c: _Context) -> str:
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    curves = {labels[r["run_id"]]: {key: tracking.metric_history(c.uri, r["run_id"], key)
                                    for key in ("mean_val_loss", "mean_val_auroc")}
              for r in c.ranked}
    if not any(v for curve in curves.values() for v in curve.values()):
        return "<p>No configuration logged validation learning curves.</p>"
    best = [labels[r["run_id"]] for r in c.ranked[:c.top]]
    return (_figure(plots.validation_curves(curves, best))
            + "<p><small>Mean over folds of the loss on each fold's inner validation part; curves end "
            "early where early stopping ended every fold.</small></p>")


def _figure(chart: svg.Chart) -> str:
    """The chart's SVG markup, inline: the page stays one self-contained file."""
    return f"<figure>{chart.to_svg()}</figure>"


def _html_curves(c: _Context) -> str:
    if c.task != "binary":
        return ("<p>ROC and calibration curves are drawn for binary outcomes "
                f"(this task: {html.escape(c.task)}).</p>")
    if not c.ranked or c.oof.get(c.ranked[0]["run_id"]) is None:
        return "<p>Skipped: the best configuration has no out-of-fold predictions.</p>"
    best = c.ranked[0]
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    shown, notes = {labels[best["run_id"]]: c.oof[best["run_id"]].prediction}, []
    for run in c.ranked[1:c.top]:
        reason = incomparable(best, run, c.oof[best["run_id"]], c.oof.get(run["run_id"]))
        if reason:
            notes.append(f"{labels[run['run_id']]} left out: {reason}.")
        else:
            shown[labels[run["run_id"]]] = c.oof[run["run_id"]].prediction
    y = c.oof[best["run_id"]].y
    figures = _figure(plots.roc_curve(y, shown)) + _figure(plots.calibration_curve(y, shown))
    return figures + "".join(f"<p><small>{html.escape(n)}</small></p>" for n in notes) + (
        "<p><small>Pooled out-of-fold predictions (averaged over repeats per patient).</small></p>")


def _html_paired(c: _Context) -> str:
    e = html.escape
    if len(c.ranked) < 2:
        return "<p>Skipped: fewer than two configurations finished.</p>"
    a, b = c.ranked[:2]
    result = paired_comparison(a, b, c.oof.get(a["run_id"]), c.oof.get(b["run_id"]), c.task)
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    if "skipped" in result:
        return (f"<p>Skipped for {e(labels[a['run_id']])} vs {e(labels[b['run_id']])}: "
                f"{e(result['skipped'])}.</p>")
    return f"<p>{e(_paired_sentence(result, labels[a['run_id']], labels[b['run_id']]))}</p>"


def _paired_sentence(result: dict, a: str, b: str) -> str:
    return (f"{result['metric']} of {a} minus {b}: {result['difference']:+.4f} (95% CI "
            f"{result['ci_low']:+.4f} to {result['ci_high']:+.4f}; bootstrap p = {result['p_value']:.3f}), "
            f"paired bootstrap with {result['n_boot']} resamples of the same {result['n']} out-of-fold "
            "predictions. An interval containing 0 means the data do not separate the two.")


# --- TRIPOD+AI-style summary ---------------------------------------------------------------


def tripod_summary(c: _Context) -> list[tuple[str, list[str]]]:
    """Headed paragraphs (data, missing data, model and tuning, internal validation,
    performance) written from the runs' parameters and tags, describing the best
    configuration and what varied across the others."""
    if not c.ranked:
        return [("Summary", ["No configuration finished, so there is nothing to summarise."])]
    best = c.ranked[0]
    varied = varied_params(c.runs)
    return [
        ("Data and outcome", _data_text(c, best)),
        ("Missing data", _missing_text(best, varied)),
        ("Model and tuning", _model_text(c, best, varied)),
        ("Internal validation", _validation_text(best, c.task)),
        ("Performance", _performance_text(c, best)),
    ]


def _p(run: dict, key: str, default: str = "not recorded") -> str:
    return str(_param(run, key, default))


def _data_text(c: _Context, best: dict) -> list[str]:
    datasets = {r["tags"].get("dataset", "?"): r["tags"].get("n_rows", "?") for r in c.ranked}
    if len(datasets) > 1:
        listed = ", ".join(f"{name} ({rows} rows)" for name, rows in datasets.items())
        text = [f"Datasets: {listed}. Rankings across different datasets do not compare like with like."]
    else:
        fp = best["tags"].get("dataset_fingerprint", "")
        path = _param(best, "dataset.path", None)
        source = f" (file {Path(path).name})" if path else ""
        text = [f"Dataset: {best['tags'].get('dataset', '?')}{source}, {best['tags'].get('n_rows', '?')} "
                "rows" + (f"; content fingerprint {fp[:12]}." if fp else ".")]
    if _param(best, "dataset.target", None):
        positive = _param(best, "dataset.positive_label", None)
        text.append(f"Outcome column: {_p(best, 'dataset.target')}"
                    + (f", positive label {positive}." if positive else "."))
    text.append(f"Task: {best['tags'].get('task', '?')}." + _balance(c.task, c.oof.get(best["run_id"])))
    if _param(best, "dataset.group_column", None):
        text.append(f"Rows are grouped by {_p(best, 'dataset.group_column')} (patient/subject).")
    if _param(best, "dataset.missing_target", None):
        text.append(f"Rows with a missing outcome: {_p(best, 'dataset.missing_target')}.")
    return text


def _balance(task: str, oof: OutOfFold | None) -> str:
    if oof is None or task not in ("binary", "multiclass"):
        return ""
    codes, counts = np.unique(oof.y, return_counts=True)
    if task == "binary":
        positive = int(counts[codes == 1].sum())
        return (f" Class balance: {positive} of {oof.y.size} patients positive "
                f"({positive / oof.y.size:.1%}).")
    return " Class counts: " + ", ".join(f"class {k}: {n}" for k, n in zip(codes, counts)) + "."


def _missing_text(best: dict, varied: list[str]) -> list[str]:
    imputer = _p(best, "preprocess.numeric_imputer")
    detail = {"constant": f" (fill value {_p(best, 'preprocess.fill_value')})",
              "knn": f" ({_p(best, 'preprocess.knn_neighbors')} neighbours)",
              "iterative": f" ({_p(best, 'preprocess.iterative_max_iter')} rounds)"}.get(imputer, "")
    indicator = _p(best, "preprocess.add_indicator") == "True"
    text = [f"Numeric predictors: {imputer} imputation{detail}; categorical predictors: "
            f"{_p(best, 'preprocess.categorical_imputer')} imputation; "
            + ("a missing-value indicator is added for each predictor with gaps in training."
               if indicator else "no missing-value indicators."),
            "Imputation is fitted on the training part of each fold only."]
    zeros = _param(best, "dataset.zero_as_missing", "[]")
    if zeros not in ("[]", "None"):
        text.append(f"Zeros are treated as missing in {zeros}.")
    swept = [k for k in varied if k.startswith("preprocess.")]
    if swept:
        text.append(f"Preprocessing settings that varied across configurations: {', '.join(swept)}.")
    return text


def _model_text(c: _Context, best: dict, varied: list[str]) -> list[str]:
    label = c.board.loc[c.board["run_id"] == best["run_id"], "label"].iloc[0]
    if _p(best, "model.name") == "logistic":
        family = "logistic regression (a network with no hidden layer)"
    else:
        family = (f"multilayer perceptron, hidden layers {_p(best, 'model.hidden_layer_sizes')}, "
                  f"{_p(best, 'model.activation')} activation")
    batch = best["params"].get("optimizer.batch_size")
    batch = "full batch" if batch == "None" else f"batch size {batch or 'not recorded'}"
    text = [f"Best configuration: {label} — {family}.",
            f"Loss {_p(best, 'loss.name')}; optimizer {_p(best, 'optimizer.name')} (update rule "
            f"{_p(best, 'optimizer.rule')}, learning rate {_p(best, 'optimizer.learning_rate')}, {batch}, "
            f"up to {_p(best, 'optimizer.max_epochs')} epochs, {_p(best, 'optimizer.schedule.name')} "
            "schedule).",
            f"Regularization: L1 {_p(best, 'regularization.l1')}, L2 {_p(best, 'regularization.l2')}, "
            f"dropout {_p(best, 'regularization.dropout')}, early stopping "
            + (f"on the inner validation loss (patience {_p(best, 'regularization.patience')})."
               if _p(best, "regularization.early_stopping") == "True" else "off."),
            f"Preprocessing: {_p(best, 'preprocess.scaler')} scaling, {_p(best, 'preprocess.encoder')} "
            f"encoding, polynomial degree {_p(best, 'preprocess.polynomial_degree')}, class imbalance "
            f"handling {_p(best, 'preprocess.imbalance')}."]
    failed = len(c.runs) - len(c.ranked)
    tuning = f"{len(c.runs)} configurations were compared ({len(c.ranked)} finished, {failed} did not)."
    if varied:
        values = {k: list(dict.fromkeys(r["params"].get(k, "") for r in c.runs if r["params"]))
                  for k in varied}
        tuning += " What varied: " + "; ".join(f"{k} ∈ {{{', '.join(v)}}}" for k, v in values.items()) + "."
    if len(c.ranked) > 1:
        tuning += (f" The best was chosen by pooled out-of-fold {c.metric} on the same folds that "
                   "estimate its performance (no nested cross-validation), so its estimate is "
                   "optimistic.")
    return text + [tuning]


def _validation_text(best: dict, task: str) -> list[str]:
    split, k = _p(best, "split.name"), _p(best, "split.n_splits")
    stratified = "stratified " if task in ("binary", "multiclass") else ""
    protocol = {
        "kfold": f"{stratified}{k}-fold cross-validation",
        "repeated_kfold": f"{stratified}{k}-fold cross-validation repeated {_p(best, 'split.n_repeats')} "
                          "times (out-of-fold predictions averaged over repeats per patient)",
        "group_kfold": f"{stratified}grouped {k}-fold cross-validation (no subject in two folds)",
        "holdout": f"one {stratified}hold-out test set ({_p(best, 'split.test_fraction')} of the rows)",
    }.get(split, f"split protocol {split}")
    uses = "early stopping, learning curves" + (", threshold choice" if task == "binary" else "")
    return [f"Outer validation: {protocol}, seed {_p(best, 'seed')}.",
            f"A share of {_p(best, 'split.validation_fraction')} of each training part is held out as "
            f"an inner validation set ({uses}); preprocessing is fitted on the training part only.",
            f"95% confidence intervals: percentile bootstrap ({_p(best, 'n_bootstrap')} resamples) of "
            "the pooled out-of-fold predictions; mean ± sd across folds is also reported."]


def _performance_text(c: _Context, best: dict) -> list[str]:
    row = c.board[c.board["run_id"] == best["run_id"]].iloc[0]
    text = [f"{m}: {_num(row[m])} (95% CI {_num(row[f'{m}_ci_low'])} to {_num(row[f'{m}_ci_high'])}); "
            f"fold mean {_mean_sd(row, m)}" for m in _board_metrics(c.board)]
    tuned = [m for m in ("sensitivity_tuned", "specificity_tuned") if m in best["metrics"]]
    if tuned:
        text.append("At the threshold chosen on the inner validation parts: " + ", ".join(
            f"{m.removesuffix('_tuned')} {_num(best['metrics'][m])} (95% CI "
            f"{_num(best['metrics'].get(m + '_ci_low'))} to {_num(best['metrics'].get(m + '_ci_high'))})"
            for m in tuned) + ".")
    text.append("This is internal validation only: development and evaluation used the same data "
                "source. Performance in other hospitals, populations or periods (external "
                "validation), and clinical usefulness, are not established by this report.")
    return text


# --- command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.report``: write the report of a sweep or an experiment."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=(
        "Compare the configurations of a sweep (default: the newest) or of an experiment."))
    parser.add_argument("--sweep", help="sweep id (see --list)")
    parser.add_argument("--experiment", help="MLflow experiment name (default: the dataset's name)")
    parser.add_argument("--metric", default="auroc", help="pooled metric to rank by (default: auroc)")
    parser.add_argument("--out", help="output directory (default: reports/<sweep id or experiment>)")
    parser.add_argument("--uri", help="tracking URI (default: $MLFLOW_TRACKING_URI, else the "
                        "project's mlflow.db)")
    parser.add_argument("--top", type=int, default=3, help="configurations with ROC/calibration curves")
    parser.add_argument("--list", action="store_true", help="list the sweeps in the store and exit")
    parser.add_argument("--debug", action="store_true", help="full traceback on errors")
    args = parser.parse_args(argv)
    uri = args.uri or tracking.resolve_tracking_uri()
    try:
        if not tracking.store_exists(uri):
            raise FileNotFoundError(f"no MLflow store at {uri}: run an experiment first (make run), "
                                    "or point --uri or MLFLOW_TRACKING_URI at your store")
        if args.list:
            print(_format_sweeps(list_sweeps(uri)))
            return 0
        out_dir, board = build_report(uri, args.sweep, args.experiment, args.metric, args.out, args.top)
    except Exception as err:  # one readable line; the traceback only with --debug
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_leaderboard(board, args.metric))
    print(f"\nreport: {out_dir / 'report.html'}")
    return 0


def _format_sweeps(sweeps: list[dict]) -> str:
    if not sweeps:
        return "(no sweeps in this store)"
    lines = [f"{'sweep id':<24} {'started':<19} {'status':<9} {'jobs':>4} {'failed':>6}  experiment / name"]
    lines += [f"{s['sweep_id']:<24} {s['started']:<19} {s['status']:<9} {s['n_jobs']:>4} "
              f"{s['n_failed']:>6}  {s['experiment']} / {s['run_name']}" for s in sweeps]
    return "\n".join(lines)


def _local_time(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


if __name__ == "__main__":
    sys.exit(main())
