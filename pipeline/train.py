"""``python -m pipeline.train``: the Hydra entry point (the only module importing Hydra).

Composes ``conf/``, validates it, runs the experiment with MLflow tracking and
returns the objective metric (for sweepers such as Optuna). Examples::

    python -m pipeline.train                                     # defaults: MLP on breast cancer
    python -m pipeline.train model=logistic split=repeated_kfold
    python -m pipeline.train experiment=lr_vs_mlp hydra/launcher=joblib   # a sweep file
    python -m pipeline.train -m regularization=none,l2,dropout           # an ad-hoc sweep
"""

import atexit
import contextlib
import gc
import importlib
import json
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
SWEEP_ID = "BIOTAB_SWEEP_ID"  # set for a multirun's jobs (config key sweep_id)
SWEEP_FILE = "mlflow_sweep.json"  # in the sweep directory: the sweep run the jobs nest under
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
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
    # Imported here: pandas and scikit-learn are for the jobs, not for the
    # process that launches a sweep.
    with _lasting_imports():
        from .experiment import run_experiment

    try:
        config = validate(raw)
    except ConfigError as err:
        _record_invalid_config(raw, err)
        raise
    tracker, where = _tracker(config.tracking.enabled, config.tracking.uri,
                              _experiment_name(config.tracking.experiment, config.dataset))
    result = run_experiment(config, tracker, parent_run_id=_sweep_run_id())
    _print_summary(result, where)
    return result.objective


def _tracker(enabled, uri, experiment):
    if not enabled:
        return None, None
    with _lasting_imports():
        from . import tracking  # imports mlflow (~1 s): only when tracking is on

        tracking.warm_up(uri)  # the imports its first run would make later, frozen too
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
        with tracker.run("invalid configuration", tags=tags, parent=_sweep_run_id()):
            raise err
    except Exception as recorded:
        if recorded is not err:
            log.warning("could not record the failed configuration in MLflow: %s", recorded)


def _sweep_run_id():
    """The run this job of a sweep nests under: the sweep run that :class:`SweepCallback`
    recorded in the sweep directory (joblib's workers start before it exists, so the
    environment cannot carry it); None outside a sweep."""
    if not _is_multirun():
        return None
    path = Path(HydraConfig.get().sweep.dir) / SWEEP_FILE
    return json.loads(path.read_text()).get("run_id") if path.exists() else None


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
    "Default"); the sweep run's id goes into ``<sweep dir>/mlflow_sweep.json`` for the jobs.
    After the jobs: which failed and why, the leaderboard, the report, and the sweep run
    closed. An exit handler closes the sweep run even if the sweep dies.

    Under the joblib launcher this MLflow work runs in the launcher's worker processes,
    which import what the jobs need meanwhile: the launching process never imports mlflow,
    pandas or scikit-learn (~3 s), and the first jobs start warm.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        for var in BLAS_THREADS:
            os.environ.setdefault(var, "1")  # inherited by the launcher's worker processes
        # Before any worker starts: the jobs read it (config key sweep_id).
        self.sweep_id = os.environ.get(SWEEP_ID) or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        os.environ[SWEEP_ID] = self.sweep_id
        self.launcher, self.run_id = config.hydra.launcher, None
        self.tracking = OmegaConf.to_container(config.tracking, resolve=True)
        if not self.tracking["enabled"]:
            self.opening = _Background(_in_worker, self.launcher, self.tracking)
            return
        self.experiment = _experiment_name(self.tracking["experiment"], config.dataset)
        sweep_dir = Path(config.hydra.sweep.dir)
        self.report_dir, sweep_file = sweep_dir / "report", sweep_dir / SWEEP_FILE
        _write_json(sweep_file, {"status": "opening"})
        # The workers go on importing while Hydra composes every job's config to check it.
        self.opening = _Background(_in_worker, self.launcher, self.tracking, _open_sweep, sweep_file,
                                   self.tracking["uri"], self.experiment, self.sweep_id,
                                   " ".join(config.hydra.overrides.task))
        try:
            state = _wait_for_sweep_run(sweep_file, self.opening)
        except Exception as err:  # Hydra only warns about a callback's exceptions
            raise SystemExit(f"error: {err}") from err
        self.uri, self.run_id = state["tracking_uri"], state["run_id"]
        atexit.register(self._close_if_open)
        print(f"sweep {self.sweep_id}: logging to {self.uri}, experiment '{self.experiment}'")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self.opening.join()
        if self.opening.error is not None:  # after the sweep opened: it cost only speed
            log.warning("warming up the workers failed: %s", self.opening.error)
        if self.run_id:
            summary, n_finished = _in_worker(self.launcher, self.tracking, _close_sweep, self.uri,
                                             self.experiment, self.sweep_id, self.run_id,
                                             self.report_dir)
            self.run_id = None
            print(summary)
            if not n_finished:  # Hydra only warns about a callback's exceptions, not SystemExit
                raise SystemExit("error: no configuration of the sweep finished (see above)")

    def __getstate__(self):  # Hydra sends its callbacks to every job: the thread stays here
        return {key: value for key, value in self.__dict__.items() if key != "opening"}

    def _close_if_open(self):
        if self.run_id:  # the sweep process is ending before on_multirun_end ran
            print(_close_sweep(self.uri, self.experiment, self.sweep_id, self.run_id,
                               self.report_dir, "the sweep process ended before the jobs did")[0])


class _Background(threading.Thread):
    """``function(*args)`` in a thread; :meth:`outcome` waits and returns or raises its result."""

    def __init__(self, function, *args):
        super().__init__(daemon=True)
        self.function, self.args, self.error = function, args, None
        self.start()

    def run(self):
        try:
            self.result = self.function(*self.args)
        except BaseException as err:  # handed to whoever asks for the outcome
            self.error = err

    def outcome(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.result


def _wait_for_sweep_run(sweep_file: Path, opening: _Background) -> dict:
    """The sweep file's state once the sweep run is open; raises if opening it failed."""
    while (state := json.loads(sweep_file.read_text()))["status"] == "opening":
        if not opening.is_alive():
            opening.outcome()  # raises what stopped it before the file was written
            raise RuntimeError(f"the sweep's MLflow set-up ended without opening it ({sweep_file})")
        time.sleep(0.02)
    if state["status"] == "failed":
        raise RuntimeError(f"could not open the sweep in MLflow: {state['error']}")
    return state


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` at once: another process may read it at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


def _in_worker(launcher: DictConfig, tracking: dict, task=None, *args):
    """``task(*args)`` in a worker of the joblib launcher, every worker warming up for the
    jobs meanwhile (see :func:`_warm_up`); in this process for other launchers.

    joblib keeps its loky worker pool alive between ``Parallel`` calls made with the same
    arguments, so the launcher's own call then reuses these warm workers.
    """
    if not str(launcher.get("_target_", "")).endswith("JoblibLauncher"):
        return task(*args) if task else None
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel, delayed, effective_n_jobs

    arguments = {k: v for k, v in OmegaConf.to_container(launcher, resolve=True).items()
                 if k != "_target_"}
    arguments["backend"] = "loky"  # exactly as the launcher builds its Parallel
    process_joblib_cfg(arguments)
    n_workers = effective_n_jobs(arguments["n_jobs"])
    calls = [delayed(_warm_up)(tracking, task, *args)]
    calls += [delayed(_warm_up)(tracking) for _ in range(n_workers - 1)]
    return Parallel(**arguments)(calls)[0]


def _warm_up(tracking: dict, task=None, *args):
    """Run ``task(*args)`` (if any), then do the once-per-process work of a job's first run
    (imports: ~3 s); return the task's result. ``tracking``: the config's tracking block."""
    with _lasting_imports():
        result = task(*args) if task else None
        importlib.import_module("pipeline.experiment")
        if tracking["enabled"]:
            importlib.import_module("pipeline.tracking").warm_up(tracking["uri"])
    return result


@contextlib.contextmanager
def _lasting_imports():
    """For heavy imports, whose ~340,000 objects (pandas, scikit-learn, mlflow) live as long
    as the process: no garbage collection while they run (~0.7 s of ~3.5 s, freeing
    nothing), and what they created frozen before collections resume, so that no later
    collection sweeps it again (a single run spent 0.8 s of its 4.8 s so; loky, without
    psutil, collects fully after every job: ~0.17 s each). A block that imported nothing
    freezes nothing: that would keep a job's own objects alive for good.
    """
    enabled, n_modules = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
        if len(sys.modules) > n_modules:
            gc.freeze()  # no gc.collect() first: it took 0.25 s to find about ten objects
    finally:
        if enabled:
            gc.enable()


def _open_sweep(sweep_file, configured_uri, experiment, sweep_id, overrides):
    """Create the store, the experiment and the sweep run, and record them in ``sweep_file``
    (where the jobs and the launching process find them)."""
    from . import tracking

    state = {"sweep_id": sweep_id, "experiment": experiment}
    try:
        uri = tracking.resolve_tracking_uri(configured_uri)
        run_id = tracking.start_sweep(uri, experiment, sweep_id, f"sweep {overrides}".strip(), overrides)
    except Exception as err:
        _write_json(sweep_file, {**state, "status": "failed", "error": f"{type(err).__name__}: {err}"})
        raise
    _write_json(sweep_file, {**state, "status": "open", "tracking_uri": uri, "run_id": run_id})


def _close_sweep(uri, experiment, sweep_id, run_id, report_dir, failed_reason=None):
    """List failures, print the leaderboard, write the report and close the sweep run
    (once); return what to show the user and how many configurations finished."""
    from . import tracking

    if tracking.run_status(uri, run_id) != "RUNNING":
        return "", 0
    runs = tracking.search_runs(uri, experiment, {"sweep_id": sweep_id, "biotab.role": "configuration"})
    failed = [{"run_name": r["run_name"], "failure_reason": r["tags"].get("failure_reason", "")}
              for r in runs if r["status"] == "FAILED"]
    if failed_reason:
        failed.append({"run_name": "sweep", "failure_reason": failed_reason})
    lines = [f"  FAILED {f['run_name']}: {f['failure_reason']}" for f in failed]
    try:
        lines += _summarise_sweep(uri, sweep_id, report_dir)
    except Exception as err:  # the runs are safe in MLflow: a report problem must not hide them
        log.warning("could not summarise the sweep: %s", err)
    finally:
        tracking.end_sweep(uri, run_id, failed, len(runs))
    lines.append(f"sweep {sweep_id}: {len(runs)} configurations, {len(failed)} failed. "
                 f"Compare them with: {_how_to_open(uri)}")
    return "\n".join(lines), sum(r["status"] == "FINISHED" for r in runs)


def _summarise_sweep(uri, sweep_id, report_dir) -> list[str]:
    """The leaderboard, and the report written next to the sweep's outputs."""
    from . import report

    out_dir, board = report.build_report(uri, sweep_id=sweep_id, out_dir=report_dir)
    return [report.format_leaderboard(board), f"report: {out_dir / 'report.html'}"]


if __name__ == "__main__":
    # The imported module's main, not this __main__ copy's: the joblib launcher sends the
    # task function to a worker with every job, and functions of __main__ travel by value
    # (their code and globals pickled and rebuilt each time) instead of by name.
    from pipeline.train import main as imported_main

    imported_main()
