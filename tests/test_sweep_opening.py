"""A sweep's start and end in the launcher's workers. Its MLflow run is opened by a worker
while Hydra composes the jobs: the launcher waits only until a worker has taken the opening
on, each job waits for the run, and a failure to open it stops every job before it starts.
At its end, two workers add the best configuration's deferred details at once."""

import json
import os
import threading
import time

import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from pipeline.launch import callback as callback_module
from pipeline.launch import signals
from pipeline.launch.callback import Background, SweepCallback
from pipeline.launch.context import BLAS_THREADS, SWEEP_ID, SweepNotOpened, opened_sweep
from pipeline.launch.sweep import open_sweep, write_json
from pipeline.launch.workers import in_workers

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def _config(tmp_path, launcher=JOBLIB):
    return OmegaConf.create({
        "hydra": {"launcher": {"_target_": launcher},
                  "sweep": {"dir": str(tmp_path / "multirun")}, "sweeper": {},
                  "overrides": {"task": ["model=logistic,mlp"]}},
        "tracking": {"enabled": True, "uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "e"},
        "dataset": {"name": "breast_cancer"}, "resume": None})


@pytest.fixture
def quiet_start(monkeypatch):
    """on_multirun_start without touching this process: no signal handlers, and the
    environment variables it sets are restored afterwards."""
    monkeypatch.setattr(signals, "install", lambda: None)
    monkeypatch.setattr(signals, "_closing", [])
    for var in (*BLAS_THREADS, SWEEP_ID):
        monkeypatch.setenv(var, "1" if var != SWEEP_ID else "test-sweep")


@pytest.fixture
def slow_opening(monkeypatch):
    """in_worker replaced by an opening that writes "opening" at once, as open_sweep does,
    and "open" when the test sets the returned event."""
    release = threading.Event()

    def slow_worker(launcher, tracking, task, sweep_file, *args):
        write_json(sweep_file, {"status": "opening", "swept": ["model"]})
        release.wait(30)  # the imports and the store
        write_json(sweep_file, {"status": "open", "swept": ["model"], "tracking_uri": "sqlite:///x.db",
                                "run_id": "r1"})
    monkeypatch.setattr(callback_module, "in_worker", slow_worker)
    yield release
    release.set()


def test_the_joblib_launcher_goes_on_once_a_worker_has_taken_the_opening_on(tmp_path, quiet_start,
                                                                             slow_opening):
    release = slow_opening
    callback, sweep_file = SweepCallback(), tmp_path / "multirun" / "mlflow_sweep.json"
    callback.on_multirun_start(_config(tmp_path))
    try:
        assert callback.run_id is None  # returned before the run is open
        assert callback.announcing.is_alive()
        assert json.loads(sweep_file.read_text())["status"] == "opening"
        release.set()
        callback.announcing.join(10)
        assert callback.run_id == "r1" and callback.uri == "sqlite:///x.db"
    finally:
        callback.run_id = None  # nothing to close at exit


def test_other_launchers_start_the_jobs_once_the_sweep_run_is_open(tmp_path, quiet_start, slow_opening):
    """Their opening runs in a thread of the process that runs the jobs: a job's imports
    racing the thread's could fail."""
    callback = SweepCallback()
    start = threading.Thread(target=callback.on_multirun_start, args=(_config(tmp_path, BASIC),))
    start.start()
    start.join(0.5)
    try:
        assert start.is_alive()  # still waiting for the run
        slow_opening.set()
        start.join(10)
        assert not start.is_alive() and callback.run_id == "r1"
    finally:
        callback.run_id = None


def test_a_job_waits_for_the_sweep_run_then_finds_it(tmp_path):
    sweep_file = tmp_path / "mlflow_sweep.json"
    write_json(sweep_file, {"status": "queued"})

    def open_later():
        time.sleep(0.1)
        write_json(sweep_file, {"status": "opening"})
        time.sleep(0.1)
        write_json(sweep_file, {"status": "open", "run_id": "r1"})
    writer = threading.Thread(target=open_later)
    writer.start()
    state = opened_sweep(sweep_file, timeout=10)
    writer.join()
    assert (state["status"], state["run_id"]) == ("open", "r1")


def test_a_job_stops_with_the_reason_when_the_sweep_could_not_be_opened(tmp_path):
    sweep_file = tmp_path / "mlflow_sweep.json"
    write_json(sweep_file, {"status": "failed", "error": "ValueError: experiment 'e' is deleted"})
    with pytest.raises(SweepNotOpened, match="could not open the sweep in MLflow: ValueError: experiment"):
        opened_sweep(sweep_file)


def test_a_job_stops_waiting_after_the_timeout_naming_the_file(tmp_path):
    sweep_file = tmp_path / "mlflow_sweep.json"
    write_json(sweep_file, {"status": "opening"})
    started = time.monotonic()
    with pytest.raises(SweepNotOpened, match=r"not opened within 0 s \(.*mlflow_sweep.json says 'opening'\)"):
        opened_sweep(sweep_file, timeout=0.1)
    assert time.monotonic() - started < 5


def test_an_opening_that_ends_without_a_word_fails_the_waiting_jobs(tmp_path):
    """A worker that dies while opening leaves "opening" behind: the launcher's announcing
    thread marks the file failed, so the jobs stop waiting, and the sweep ends with why."""
    def crash():
        raise RuntimeError("worker crashed")

    sweep_file = tmp_path / "mlflow_sweep.json"
    write_json(sweep_file, {"status": "opening", "swept": ["model"]})
    callback = SweepCallback()
    callback.swept, callback.opening = ["model"], Background(crash)
    callback.announcing = Background(callback._announce, sweep_file)
    callback.announcing.join(10)
    with pytest.raises(RuntimeError, match="could not open the sweep in MLflow: worker crashed"):
        opened_sweep(sweep_file)
    with pytest.raises(SystemExit, match="error: worker crashed"):
        callback.on_multirun_end(config=None)


def test_open_sweep_records_a_failure_instead_of_raising(tmp_path):
    """In a joblib worker, a raised error would shut down the pool the jobs run in."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    client.delete_experiment(client.create_experiment("e"))
    sweep_file = tmp_path / "mlflow_sweep.json"
    assert open_sweep(sweep_file, uri, "e", "s1", "model=logistic,mlp", ["model"]) is None
    with pytest.raises(RuntimeError, match="could not open the sweep in MLflow: ValueError: .*is deleted"):
        opened_sweep(sweep_file)


def _meet(directory, name):
    """Wait (at most 60 s) until both calls of a pair have arrived: returns this process's id."""
    directory.joinpath(name).write_text("")
    deadline = time.monotonic() + 60
    while len(list(directory.iterdir())) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the other call never ran alongside this one")
        time.sleep(0.01)
    return os.getpid()


def test_the_sweeps_end_runs_its_two_parts_at_once_in_two_workers(tmp_path):
    """The best configuration's importance and model (DETAIL_PARTS) are computed at the
    sweep's end by two calls of in_workers: each waits here for the other, so they finish
    only if they run at the same time, in two processes."""
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

    launcher = OmegaConf.structured(JobLibLauncherConf(n_jobs=2))
    pids = in_workers(launcher, {"enabled": False}, (_meet, tmp_path, "a"), (_meet, tmp_path, "b"))
    assert len(set(pids)) == 2 and os.getpid() not in pids
    basic = OmegaConf.create({"_target_": BASIC})  # other launchers: in turn, in this process
    assert in_workers(basic, {"enabled": False}, (len, "ab"), (len, "abc")) == [2, 3]
