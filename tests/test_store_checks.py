"""Tracking stores that would fail or be damaged are refused before any training: a server
that does not answer, a SQLite file of another application, a directory that is missing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from pipeline import tracking
from pipeline.tracking.store import StoreUnusableError
from tests.conftest import MLFLOW_ENV, PROJECT_ROOT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracking_server_that_is_down_fails_the_run_in_seconds_naming_it(tmp_path):
    uri = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.train", f"tracking.uri={uri}"],
                          cwd=PROJECT_ROOT, env=env, text=True, capture_output=True, timeout=120)
    seconds = time.monotonic() - start
    assert done.returncode == 1 and seconds < 15, (seconds, done.stderr[-2000:])
    assert f"the tracking server {uri} does not answer" in done.stderr
    assert "loaded dataset" not in done.stdout + done.stderr  # refused before the data is read
    assert "Retrying" not in done.stderr


def test_a_sqlite_file_of_another_application_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "clinic.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
        db.execute("INSERT INTO patients VALUES (1, 'x')")
    before = path.read_bytes()
    with pytest.raises(StoreUnusableError, match=r"clinic.db is a database of another application \(1 t"):
        tracking.Tracker(f"sqlite:///{path}", "bc")
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("patient notes\n" * 100)
    with pytest.raises(StoreUnusableError, match="notes.db is not a SQLite database"):
        tracking.Tracker(f"sqlite:///{path}", "bc")
    assert path.read_text() == "patient notes\n" * 100


def test_a_store_in_a_missing_directory_is_refused_not_created(tmp_path):
    missing = tmp_path / "typo" / "mlflow.db"
    with pytest.raises(StoreUnusableError, match=f"the directory {missing.parent} does not exist"):
        tracking.Tracker(f"sqlite:///{missing}", "bc")
    assert not missing.parent.exists()


def test_an_mlflow_store_is_accepted(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = tracking.Tracker(uri, "bc").experiment_id
    tracking.store.check_store.cache_clear()  # a second process meets an existing store
    assert tracking.Tracker(uri, "bc").experiment_id == first


def test_two_processes_creating_one_new_store_at_once_both_succeed(tmp_path):
    script = ("import sys; from pipeline import tracking; "
              "print(tracking.ensure_experiment(sys.argv[1], sys.argv[2]))")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    both = [subprocess.Popen([sys.executable, "-c", script, f"e{i}", uri], cwd=PROJECT_ROOT, env=env,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    results = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-1500:] for _, err in results]
