"""Tracking stores that would fail or be damaged are refused before any training: a server
that does not answer, a SQLite file of another application, a directory that is missing."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow import MlflowClient

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


def _schema(path) -> set:
    """Every table, index and trigger with its definition (lines sorted: MLflow's migrations
    do not fix the order of constraints), and the schema revision."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        objects = {(kind, name, tuple(sorted((sql or "").splitlines())))
                   for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master")}
        return objects | set(db.execute("SELECT version_num FROM alembic_version"))


def _experiments(uri):
    return sorted((e.experiment_id, e.name, e.artifact_location)
                  for e in MlflowClient(uri).search_experiments())


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """``$XDG_CACHE_HOME`` of this test alone; the other tests find the usual one again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tracking.store._empty_store.cache_clear()
    yield tmp_path / "cache"
    tracking.store._empty_store.cache_clear()


def test_a_new_sqlite_store_is_a_copy_of_the_empty_store_mlflows_migrations_built(tmp_path, cache_home):
    reference, ours, again = (tmp_path / name / "mlflow.db" for name in ("reference", "ours", "again"))
    for path in (reference, ours, again):
        path.parent.mkdir()
    MlflowClient(f"sqlite:///{reference}").search_experiments()  # built by mlflow alone

    assert tracking.ensure_experiment("bc", f"sqlite:///{ours}") == "1"
    empty = cache_home / "biotab" / f"mlflow-{mlflow.__version__}-empty.db"
    built_at = empty.stat().st_mtime_ns
    tracking.store._empty_store.cache_clear()  # as a new process: the cached file is reused
    assert tracking.ensure_experiment("bc", f"sqlite:///{again}") == "1"

    assert empty.stat().st_mtime_ns == built_at
    assert _schema(ours) == _schema(again) == _schema(reference)
    default = _experiments(f"sqlite:///{reference}")[0]
    assert default[:2] == ("0", "Default")
    for path in (ours, again):  # MLflow's own Default experiment, with this store's location
        assert _experiments(f"sqlite:///{path}") == [
            default, ("1", "bc", f"{(path.parent / 'mlartifacts' / 'bc').as_uri()}")]
    with tracking.Tracker(f"sqlite:///{again}", "bc").run("r") as run:
        run.log_metrics({"auroc": 0.9})
    assert MlflowClient(f"sqlite:///{again}").get_run(run.run_id).data.metrics == {"auroc": 0.9}


def test_a_new_sqlite_store_is_built_by_mlflow_when_no_empty_store_can_be_kept(tmp_path, cache_home, caplog):
    cache_home.write_text("a file where the cache directory would be")
    with caplog.at_level(logging.INFO, "pipeline.tracking.store"):
        assert tracking.ensure_experiment("bc", f"sqlite:///{tmp_path}/mlflow.db") == "1"
    assert "building the SQLite store" in caplog.text
    assert [e.name for e in MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_experiments()] == [
        "bc", "Default"]
