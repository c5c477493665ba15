"""The Hydra callback that brackets a multirun (``hydra.callbacks.sweep`` in conf/config.yaml)."""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..config import DETAIL_PARTS
from ..errors import Interrupted, killed_reason
from . import signals
from .context import BLAS_THREADS, OPENING, SWEEP_FILE, SWEEP_ID, opened_sweep
from .job import experiment_name
from .plugins import is_joblib
from .sweep import close_sweep, complete_best, open_sweep, reopen_sweep, write_json
from .workers import in_worker, in_workers

log = logging.getLogger("biotab")
OPENING_GRACE = 10.0  # seconds an ending sweep waits for its run being opened, to close it


class SweepCallback(Callback):
    """Brackets a multirun. Before any job runs: one BLAS thread per job, and the MLflow
    store, experiment and sweep run created once (parallel jobs racing to create an empty
    SQLite store fail, and ``set_experiment`` can lose a creation race and log into
    "Default"); the sweep run's id goes into ``<sweep dir>/mlflow_sweep.json`` for the jobs.
    After the jobs: which failed and why, the leaderboard, the report, and the sweep run
    closed. An exit handler closes the sweep run even if the sweep dies.

    Under the joblib launcher this MLflow work runs in the launcher's worker processes,
    which import what the jobs need meanwhile: the launching process never imports mlflow,
    pandas or scikit-learn (~3 s), and the first jobs start warm. The launcher waits only
    until a worker has taken the opening on: Hydra then composes every job's config to
    check it while the sweep run is being opened, and the jobs wait for it
    (:func:`pipeline.launch.context.opened_sweep`). If it cannot be opened, every job stops
    before it starts and the sweep ends with the reason. Other launchers start the jobs
    once the sweep run is open.
    """

    announcing = None  # the thread that waits for the sweep run the workers are opening

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self._start(config)
        except SystemExit:
            raise
        except Exception as err:  # Hydra only warns about a callback's exceptions: stop the jobs
            raise SystemExit(f"error: could not open the sweep: {type(err).__name__}: {err}") from err

    def _start(self, config: DictConfig) -> None:
        signals.install()
        for var in BLAS_THREADS:
            os.environ.setdefault(var, "1")  # inherited by the launcher's worker processes
        self.launcher, self.run_id = config.hydra.launcher, None
        self.tracking = OmegaConf.to_container(config.tracking, resolve=True)
        self.experiment = experiment_name(self.tracking["experiment"], config.dataset)
        sweep_dir = Path(config.hydra.sweep.dir)
        self.report_dir, sweep_file = sweep_dir / "report", sweep_dir / SWEEP_FILE
        self.swept = swept = swept_keys(config)
        try:
            resumed = self._resume(config.get("resume"), sweep_file)
        except Exception as err:
            raise SystemExit(f"error: {err}") from err
        # Before any worker starts: the jobs read it (config key sweep_id).
        self.sweep_id = (resumed["sweep_id"] if resumed else os.environ.get(SWEEP_ID)
                         or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}")
        os.environ[SWEEP_ID] = self.sweep_id
        if resumed or not self.tracking["enabled"]:
            self.opening = Background(in_worker, self.launcher, self.tracking)
            if resumed:
                self._opened(resumed)
                self._close_at_exit()
            return
        write_json(sweep_file, {"status": "queued", "swept": swept})
        self.opening = Background(in_worker, self.launcher, self.tracking, open_sweep, sweep_file,
                                   self.tracking["uri"], self.experiment, self.sweep_id,
                                   " ".join(config.hydra.overrides.task), swept)
        # A joblib worker opening it: the launcher goes on once it has begun (the jobs queue
        # behind it, so they cannot hold every worker waiting). A thread of this process
        # opening it (other launchers): it is waited for, as a job's imports racing the
        # thread's could fail, and the GIL leaves nothing to gain.
        statuses = ("queued",) if is_joblib(self.launcher) else OPENING
        try:
            state = wait_past(sweep_file, statuses, self.opening)
            if state["status"] != "opening":
                state = opened_sweep(sweep_file)  # raises if it failed
        except Exception as err:
            raise SystemExit(f"error: {err}") from err
        if state["status"] == "open":
            self._opened(state)
        else:
            self.announcing = Background(self._announce, sweep_file)
        self._close_at_exit()

    def _close_at_exit(self) -> None:
        signals.on_exit(self._close_if_open)  # a signal, or the launcher raising
        atexit.register(self._close_if_open)  # when the entry point is not pipeline.train

    def _announce(self, sweep_file) -> None:
        """Once the sweep run is open, say where it logs. If the opening ended without a
        word, the sweep file is marked failed so that the jobs stop waiting; raises why."""
        try:
            state = wait_for_sweep_run(sweep_file, self.opening)
        except Exception as err:
            if json.loads(sweep_file.read_text())["status"] in OPENING:
                write_json(sweep_file, {"status": "failed", "swept": self.swept, "error": str(err)})
            raise
        self._opened(state)

    def _resume(self, resume, sweep_file) -> dict | None:
        """Reopen sweep ``resume`` (see :func:`reopen_sweep`); None when not resuming."""
        if not resume:
            return None
        if not self.tracking["enabled"]:
            raise ValueError("resume needs tracking: the finished configurations are found in MLflow")
        state = reopen_sweep(sweep_file, self.tracking["uri"], self.experiment, resume, self.swept)
        print(f"resuming sweep {state['sweep_id']}: {state['n_finished']} configurations finished "
              f"(kept), {state['n_rerun']} to rerun ({state['n_orphans']} orphaned runs marked KILLED)")
        return state

    def _opened(self, state) -> None:
        self.uri, self.run_id = state["tracking_uri"], state["run_id"]
        print(f"sweep {self.sweep_id}: logging to {self.uri}, experiment '{self.experiment}'")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.announcing:
            self.announcing.join()
            if self.announcing.error is not None:  # every job stopped before it started
                raise SystemExit(f"error: {self.announcing.error}")
        self.opening.join()
        if self.opening.error is not None:  # after the sweep opened: it cost only speed
            log.warning("warming up the workers failed: %s", self.opening.error)
        if self.run_id:  # the best configuration's deferred parts at once, one per worker
            completed = in_workers(self.launcher, self.tracking,
                                   *[(complete_best, self.uri, self.experiment, self.sweep_id, (part,))
                                     for part in DETAIL_PARTS])
            summary, n_finished = in_worker(self.launcher, self.tracking,
                                             functools.partial(close_sweep, completed=completed),
                                             self.uri, self.experiment, self.sweep_id, self.run_id,
                                             self.report_dir, self.swept)
            self.run_id = None
            print(summary)
            if not n_finished:  # Hydra only warns about a callback's exceptions, not SystemExit
                raise SystemExit("error: no configuration of the sweep finished (see above)")

    def __getstate__(self):  # Hydra sends its callbacks to every job: the threads stay here
        return {key: value for key, value in self.__dict__.items()
                if key not in ("opening", "announcing")}

    def _close_if_open(self):
        """Registered twice (signals.on_exit and atexit): the first call closes the sweep,
        also one that is being opened as the sweep ends (waited for a while)."""
        if self.announcing:
            self.announcing.join(OPENING_GRACE)
        if self.run_id:  # the sweep process is ending before on_multirun_end ran
            run_id, self.run_id = self.run_id, None
            killed = signals.received and Interrupted(signals.received[-1])
            reason = killed_reason(killed) if killed else "the sweep process ended before the jobs did"
            print(close_sweep(self.uri, self.experiment, self.sweep_id, run_id,
                               self.report_dir, self.swept, reason, killed=bool(killed))[0])


def swept_keys(config: DictConfig) -> list[str]:
    """What the sweep varies: the sweeper's parameters (an experiment file's, Optuna's) and
    the command line's sweep overrides (``loss=a,b``, ``lr=range(..)``), as job overrides
    spell their keys."""
    params = config.hydra.sweeper.get("params")  # None for the basic sweeper without a file
    params = OmegaConf.to_container(params, resolve=False) if params else {}
    overrides = [*(f"{key}={value}" for key, value in params.items()), *config.hydra.overrides.task]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return list(dict.fromkeys(o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()))


class Background(threading.Thread):
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


def wait_for_sweep_run(sweep_file: Path, opening: Background) -> dict:
    """The sweep file's state once the sweep run is open; raises if opening it failed."""
    wait_past(sweep_file, OPENING, opening)
    return opened_sweep(sweep_file)


def wait_past(sweep_file: Path, statuses, opening: Background) -> dict:
    """The sweep file's state once its status is none of ``statuses``; raises if the
    ``opening`` thread ended before writing another."""
    while (state := json.loads(sweep_file.read_text()))["status"] in statuses:
        if not opening.is_alive():
            opening.outcome()  # raises what stopped it before the file was written
            state = json.loads(sweep_file.read_text())  # it may have been written since the read
            if state["status"] in statuses:
                raise RuntimeError(f"the sweep's MLflow set-up ended without opening it "
                                   f"({sweep_file}): see the error logged above, then run the "
                                   f"sweep again")
            break
        time.sleep(0.02)
    return state
