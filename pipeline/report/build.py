"""Writing a report: ``report.html``, ``leaderboard.md`` and ``leaderboard.csv`` of a sweep or
an experiment, attached to the sweep run when there is one."""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from .. import PROJECT_ROOT, tracking
from ..config import ExperimentConfig, validate
from ..errors import ConfigError
from .clinical import Clinical, read_clinical
from .comparison import OutOfFold, read_oof
from .html import render_html
from .leaderboard import leaderboard_frame, markdown_leaderboard
from .nested import NestedEstimate, nested_estimate
from .selection import configuration_runs

log = logging.getLogger(__name__)

REPORTS_DIR = PROJECT_ROOT / "reports"
FILES = ("report.html", "leaderboard.md", "leaderboard.csv")


def build_report(uri: str, sweep_id: str | None = None, experiment: str | None = None,
                 metric: str = "auroc", out_dir: str | Path | None = None,
                 top: int = 3) -> tuple[Path, pd.DataFrame]:
    """Write ``report.html``, ``leaderboard.md`` and ``leaderboard.csv`` into ``out_dir``
    (default ``reports/<sweep id or experiment>`` at the project root) and attach them to
    the sweep run, under ``report/``, when there is one; return ``out_dir`` and the
    leaderboard.

    ``top``: how many of the best configurations get ROC and calibration curves.
    """
    if not (isinstance(top, int) and top >= 1):
        raise ValueError(f"top must be a positive integer, got {top!r}")
    runs, sweep_id = configuration_runs(uri, sweep_id, experiment)
    if not runs:
        raise ValueError(f"sweep {sweep_id!r} has no configuration runs yet; nothing to report")
    board = leaderboard_frame(runs, metric)
    out_dir = Path(out_dir) if out_dir else REPORTS_DIR / _safe_name(sweep_id or experiment)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {r["run_id"]: r for r in runs}
    ranked = [by_id[i] for i in board.loc[board["status"] == "FINISHED", "run_id"]]
    with tempfile.TemporaryDirectory() as tmp:
        oof = {run["run_id"]: _download_oof(uri, run["run_id"], tmp) for run in ranked}
        folds = {run["run_id"]: _download_folds(uri, run["run_id"], tmp) for run in ranked}
        best_config = read_config(uri, ranked[0]["run_id"], tmp) if ranked else None
        clinical = read_clinical(uri, ranked, runs, tmp)
    nested = nested_estimate(ranked, oof, folds, _task(ranked or runs))
    context = ReportContext(uri, sweep_id, experiment, metric, top, board, runs, ranked, oof,
                            best_config, nested, clinical)
    (out_dir / "leaderboard.csv").write_text(board.to_csv(index=False))
    (out_dir / "leaderboard.md").write_text(markdown_leaderboard(board, metric, context.title))
    (out_dir / "report.html").write_text(render_html(context))
    sweep_run = tracking.find_sweep_run(uri, sweep_id) if sweep_id else None
    if sweep_run and isinstance(nested, NestedEstimate):
        name = f"nested_{nested.objective}"
        tracking.log_run_metrics(uri, sweep_run["run_id"], {
            name: nested.value, f"{name}_ci_low": nested.ci_low, f"{name}_ci_high": nested.ci_high,
            f"best_{nested.objective}": nested.apparent, "selection_optimism": nested.optimism})
    if sweep_run:
        with tempfile.TemporaryDirectory() as tmp:  # only our files, whatever else out_dir holds
            for name in FILES:
                shutil.copy(out_dir / name, Path(tmp) / name)
            tracking.log_sweep_artifacts(uri, sweep_run["run_id"], Path(tmp))
    return out_dir, board


@dataclasses.dataclass
class ReportContext:
    """What the sections of a report are written from."""

    uri: str
    sweep_id: str | None
    experiment: str | None
    metric: str
    top: int
    board: pd.DataFrame
    runs: list
    ranked: list  # finished runs, best first
    oof: dict  # run id -> OutOfFold | None, for every finished run
    best_config: ExperimentConfig | None  # the best run's settings, typed
    nested: NestedEstimate | str  # the selection-honest estimate, or why there is none
    clinical: Clinical | None = None  # importance, subgroups, external validations

    @property
    def title(self) -> str:
        scope = [f"sweep {self.sweep_id}"] if self.sweep_id else []
        scope += [f"experiment {self.experiment}"] if self.experiment else []
        return "biotab comparison: " + ", ".join(scope)

    @property
    def task(self) -> str:
        return _task(self.ranked or self.runs)


def _task(runs) -> str:
    return next((t for t in (r["tags"].get("task") for r in runs) if t), "unknown")


def _download_oof(uri, run_id, tmp) -> OutOfFold | None:
    try:
        return read_oof(tracking.download_artifact(uri, run_id, "oof_predictions.csv", Path(tmp) / run_id))
    except (FileNotFoundError, ValueError) as err:
        log.warning("no out-of-fold predictions for run %s: %s", run_id, err)
        return None


def _download_folds(uri, run_id, tmp) -> pd.DataFrame | None:
    """The run's ``folds.csv`` (per-fold validation objective, threshold, convergence)."""
    try:
        path = tracking.download_artifact(uri, run_id, "folds.csv", Path(tmp) / f"{run_id}-folds")
        return pd.read_csv(path)
    except (FileNotFoundError, ValueError) as err:
        log.warning("no fold table for run %s: %s", run_id, err)
        return None


def read_config(uri, run_id, tmp) -> ExperimentConfig | None:
    """The run's resolved configuration (its ``config.yaml`` artifact, downloaded into
    ``tmp``), typed; None, with a warning, when it cannot be read."""
    try:
        path = tracking.download_artifact(uri, run_id, "config.yaml", Path(tmp) / f"{run_id}-config")
        return validate(yaml.safe_load(path.read_text()))
    except (FileNotFoundError, ConfigError, yaml.YAMLError) as err:
        log.warning("the configuration of run %s cannot be read: %s", run_id, err)
        return None


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "report"
