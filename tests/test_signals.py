"""SIGTERM, SIGHUP and SIGINT (a time limit, a closed terminal, Ctrl-C) close the open fold,
configuration and sweep runs as KILLED with the signal named, and exit with 128 + signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from tests.conftest import MLFLOW_ENV, PROJECT_ROOT

pytestmark = pytest.mark.slow
LONG = ["optimizer.max_epochs=3000", "regularization=none", "n_bootstrap=20", "tracking.log_plots=false"]


def _start(tmp_path, *overrides):
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.train", *overrides, *LONG,
         f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.sweep.dir={tmp_path}/multirun"],
        cwd=PROJECT_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)


def _runs(client):
    if not os.path.exists(client.tracking_uri.removeprefix("sqlite:///")):
        return []  # the run creates the store
    found = client.get_experiment_by_name("breast_cancer")
    return client.search_runs([found.experiment_id]) if found else []


def _signal_once_a_fold_runs(process, client, signum, group=False):
    deadline = time.monotonic() + 120
    while not any(r.data.tags.get("biotab.role") == "fold" for r in _runs(client)):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no fold run started within 120 s"
        time.sleep(0.1)
    (os.killpg if group else os.kill)(process.pid, signum)
    return process.communicate(timeout=120)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signalled_run_is_killed_with_the_signal_named_and_exit_128_plus_signal(tmp_path, signum):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    _, stderr = _signal_once_a_fold_runs(_start(tmp_path), client, signum)
    name = signal.Signals(signum).name
    runs = _runs(client)
    # A fold's run is written when its training ends: the folds done are FINISHED, one being
    # written KILLED, the configuration KILLED.
    (configuration,) = [r for r in runs if r.data.tags["biotab.role"] == "configuration"]
    assert configuration.info.status == "KILLED"
    assert configuration.data.tags["failure_reason"] == f"killed by {name}"
    assert {r.info.status for r in runs if r.data.tags["biotab.role"] == "fold"} <= {"FINISHED", "KILLED"}
    assert f"killed by {name}: the open runs were closed as KILLED" in stderr


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_signalled_sweep_closes_its_sweep_run_killed(tmp_path, launcher):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    process = _start(tmp_path, "-m", "loss=cross_entropy,squared_error", f"hydra/launcher={launcher}")
    _signal_once_a_fold_runs(process, client, signal.SIGTERM, group=True)  # as SLURM signals a job
    assert process.returncode == 128 + signal.SIGTERM
    runs = _runs(client)
    (sweep,) = [r for r in runs if r.data.tags.get("biotab.role") == "sweep"]
    assert sweep.info.status == "KILLED" and sweep.data.tags["failure_reason"] == "killed by SIGTERM"
    assert not [r for r in runs if r.info.status == "RUNNING"]
    killed = [r for r in runs
              if r.data.tags.get("biotab.role") == "configuration" and r.info.status == "KILLED"]
    assert killed and all(r.data.tags["failure_reason"] == "killed by SIGTERM" for r in killed)


@pytest.fixture
def signals_installed():
    """biotab's handlers in this (the main) thread, pytest's restored afterwards."""
    from pipeline.launch import signals

    saved = {signum: signal.getsignal(signum) for signum in signals.HANDLED}
    signals.install()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("moment", ["create_run", "set_terminated"])
def test_a_signal_while_a_run_is_created_or_closed_still_leaves_it_closed(tmp_path, monkeypatch,
                                                                          signals_installed, moment):
    """The lock-step folds' runs are written one after another, so a signal often lands in
    MLflow's calls that create or close one: the run must not be left RUNNING."""
    from pipeline import tracking
    from pipeline.errors import Interrupted

    tracker = tracking.Tracker(f"sqlite:///{tmp_path}/mlflow.db", "signals")
    original = getattr(tracker.client, moment)

    def signalled(*args, **kwargs):
        if moment == "set_terminated":  # the signal arrives as the run is being closed
            os.kill(os.getpid(), signal.SIGTERM)
        result = original(*args, **kwargs)
        if moment == "create_run":  # the run is stored, its id not yet returned
            os.kill(os.getpid(), signal.SIGTERM)
        return result
    monkeypatch.setattr(tracker.client, moment, signalled)
    with pytest.raises(Interrupted):
        with tracker.run("fold 0"):
            pass
    (run,) = tracker.client.search_runs([tracker.experiment_id])
    expected = "KILLED" if moment == "create_run" else "FINISHED"
    assert run.info.status == expected
    if expected == "KILLED":
        assert run.data.tags["failure_reason"] == "killed by SIGTERM"


def test_a_held_signal_is_raised_once_at_the_outermost_blocks_end_even_after_an_error():
    from pipeline.errors import Interrupted, interrupt, uninterrupted

    reached = False
    with pytest.raises(Interrupted) as raised:
        with uninterrupted():
            with uninterrupted():
                interrupt(signal.SIGHUP)  # as the handler does: held, not raised
            reached = True  # the inner block's end did not raise: still inside the outer one
            raise ValueError("the store failed meanwhile")
    assert reached
    assert raised.value.signum == signal.SIGHUP
    with uninterrupted():  # not raised a second time
        pass
    with pytest.raises(Interrupted):
        interrupt(signal.SIGTERM)  # outside any block: at once
