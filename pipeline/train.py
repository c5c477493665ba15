"""``python -m pipeline.train``: the Hydra entry point (the only module importing Hydra).

Composes ``conf/``, validates it, runs the experiment with MLflow tracking and
returns the objective metric (for sweepers such as Optuna). Examples::

    python -m pipeline.train                                     # defaults: MLP on breast cancer
    python -m pipeline.train model=logistic split=repeated_kfold
    python -m pipeline.train experiment=lr_vs_mlp hydra/launcher=joblib   # a sweep file
    python -m pipeline.train -m regularization=none,l2,dropout           # an ad-hoc sweep
"""

import atexit
import importlib
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import PROJECT_ROOT
from .config import ConfigError, validate

log = logging.getLogger("biotab")
HEADLINE = ("auroc", "auprc", "brier", "calibration_slope", "sensitivity", "specificity",
            "macro_auroc", "accuracy", "rmse", "r2")
SWEEP_ID, SWEEP_RUN_ID = "BIOTAB_SWEEP_ID", "BIOTAB_SWEEP_RUN_ID"  # set for a multirun's jobs
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one configuration and return its objective.

    A failed job of a sweep returns None instead of raising, so the other jobs go on
    (Hydra's basic sweeper stops at a raising job); Optuna records it as a failed trial.
    """
    debug = bool(cfg.get("debug", False))
    raw = OmegaConf.to_container(cfg, resolve=True)
    try:
        return _run(raw)
    except Exception as err:  # one readable line; the traceback only with debug=true
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        if _is_multirun():
            log.error("job failed (the sweep goes on): %s", getattr(err, "safe_message", err))
            return None
        sys.exit(1)


def _run(raw):
    # Imported here: pandas, scikit-learn and matplotlib are for the jobs, not for the
    # process that launches a sweep.
    from .experiment import run_experiment

    try:
        config = validate(raw)
    except ConfigError as err:
        _record_invalid_config(raw, err)
        raise
    tracker, where = _tracker(config.tracking.enabled, config.tracking.uri,
                              _experiment_name(config.tracking.experiment, config.dataset))
    result = run_experiment(config, tracker, parent_run_id=os.environ.get(SWEEP_RUN_ID))
    _print_summary(result, where)
    return result.objective


def _tracker(enabled, uri, experiment):
    if not enabled:
        return None, None
    from . import tracking  # imports mlflow (~1 s): only when tracking is on

    uri = tracking.resolve_tracking_uri(uri)
    return tracking.Tracker(uri, experiment, tags=tracking.runtime_tags()), (uri, experiment)


def _experiment_name(configured, dataset):
    """``tracking.experiment``, else one experiment per dataset: its config name, or the
    file name for a ``csv`` table (every user table would otherwise share "csv")."""
    if configured:
        return configured
    name = dataset.get("name") or "biotab"
    path = dataset.get("path")
    if name == "csv" and path and path != "???":
        return Path(str(path)).stem
    return name


def _record_invalid_config(raw, err):
    """An invalid configuration still leaves a FAILED run with the reason (best effort:
    the tracking settings themselves may be what is invalid)."""
    tracking_cfg, dataset = raw.get("tracking") or {}, raw.get("dataset") or {}
    try:
        tracker, _ = _tracker(tracking_cfg.get("enabled", True), tracking_cfg.get("uri"),
                              _experiment_name(tracking_cfg.get("experiment"), dataset))
        if tracker is None:
            return
        tags = {"biotab.role": "configuration", "overrides": " ".join(_overrides())}
        if raw.get("sweep_id"):
            tags["sweep_id"] = raw["sweep_id"]
        with tracker.run("invalid configuration", tags=tags, parent=os.environ.get(SWEEP_RUN_ID)):
            raise err
    except Exception as recorded:
        if recorded is not err:
            log.warning("could not record the failed configuration in MLflow: %s", recorded)


def _print_summary(result, where):
    if _is_multirun():  # one line per job; the sweep's leaderboard follows at the end
        stats = result.pooled.get("auroc") or next(iter(result.pooled.values()))
        print(f"done: {result.run_name}: {stats['value']:.3f} "
              f"[{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]")
        return
    print(f"\n{result.run_name}  ({result.task}, {len(result.folds)} folds)")
    for name in HEADLINE:
        if name in result.pooled:
            stats = result.pooled[name]
            print(f"  {name:<18} {stats['value']:.3f}  "
                  f"(95% CI {stats['ci_low']:.3f}-{stats['ci_high']:.3f})")
    if where:
        uri, experiment = where
        print(f"\nlogged to {uri}, experiment '{experiment}', run {result.run_id}")
        print(f"open it with: {_how_to_open(uri)}")


def _how_to_open(uri):
    """The command that shows ``uri`` in the MLflow UI."""
    if uri.startswith("http"):
        return uri
    if uri == f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}":
        return "make ui   (then http://127.0.0.1:5000)"
    return f".venv/bin/mlflow ui --host 127.0.0.1 --backend-store-uri {uri}"


def _is_multirun():
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not running under Hydra (e.g. called from a test)
        return False


def _overrides():
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


class SweepCallback(Callback):
    """Brackets a multirun. Before any job starts: one BLAS thread per job, and the MLflow
    store, experiment and sweep run created once (parallel jobs racing to create an empty
    SQLite store fail, and ``set_experiment`` can lose a creation race and log into
    "Default"). After the jobs: which failed and why, the leaderboard, the report, and the
    sweep run closed. An exit handler closes the sweep run even if the sweep dies."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        for var in BLAS_THREADS:
            os.environ.setdefault(var, "1")  # inherited by the launcher's worker processes
        self.run_id = None
        if not config.tracking.enabled:
            return
        from . import tracking

        self.uri = tracking.resolve_tracking_uri(config.tracking.uri)
        self.experiment = _experiment_name(config.tracking.experiment, config.dataset)
        self.sweep_id = os.environ.get(SWEEP_ID) or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.report_dir = Path(config.hydra.sweep.dir) / "report"
        overrides = " ".join(config.hydra.overrides.task)
        self.run_id = tracking.start_sweep(self.uri, self.experiment, self.sweep_id,
                                           f"sweep {overrides}".strip(), overrides)
        os.environ[SWEEP_ID], os.environ[SWEEP_RUN_ID] = self.sweep_id, self.run_id
        atexit.register(self._close, failed_reason="the sweep process ended before the jobs did")
        # Import the report's dependencies (pandas, matplotlib: ~2 s) while the jobs run.
        threading.Thread(target=importlib.import_module, args=("pipeline.report",), daemon=True).start()
        print(f"sweep {self.sweep_id}: logging to {self.uri}, experiment '{self.experiment}'")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.run_id:
            self._close()

    def _close(self, failed_reason=None):
        """Summarise and close the sweep run (once)."""
        from . import tracking

        if tracking.run_status(self.uri, self.run_id) != "RUNNING":
            return
        failed = tracking.failed_runs(self.uri, self.experiment,
                                      {"sweep_id": self.sweep_id, "biotab.role": "configuration"})
        if failed_reason:
            failed.append({"run_name": "sweep", "failure_reason": failed_reason})
        n_runs = len(tracking.search_runs(self.uri, self.experiment, {
            "sweep_id": self.sweep_id, "biotab.role": "configuration"}))
        try:
            _summarise_sweep(self.uri, self.sweep_id, failed, self.report_dir)
        except Exception as err:  # the runs are safe in MLflow: a report problem must not hide them
            log.warning("could not summarise the sweep: %s", err)
        finally:
            tracking.end_sweep(self.uri, self.run_id, failed, n_runs)
        print(f"sweep {self.sweep_id}: {n_runs} configurations, {len(failed)} failed. "
              f"Compare them with: {_how_to_open(self.uri)}")


def _summarise_sweep(uri, sweep_id, failed, report_dir):
    """Print the failures and the leaderboard, and write the report next to the sweep's outputs."""
    from . import report

    for f in failed:
        print(f"  FAILED {f['run_name']}: {f['failure_reason']}")
    print(report.format_leaderboard(report.leaderboard(uri, sweep_id=sweep_id)))
    print(f"report: {report.build_report(uri, sweep_id=sweep_id, out_dir=report_dir) / 'report.html'}")


if __name__ == "__main__":
    main()
