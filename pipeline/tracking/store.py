"""Where runs go: the tracking URI, the store and its experiments."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .. import PROJECT_ROOT

logger = logging.getLogger(__name__)

SERVER_SCHEMES = ("http", "https", "databricks")  # the server picks artifact locations


def resolve_tracking_uri(configured: str | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` > ``configured`` (``tracking.uri``) > the project's SQLite store.

    Relative paths in ``configured`` (``sqlite:///mlflow.db``, ``store/``, ``file:mlruns``)
    are resolved against the project root, never the working directory: Hydra jobs
    may run from a per-job output directory.
    """
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return from_env
    if not configured:
        return f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    if configured.startswith("sqlite:///"):
        path, sep, query = configured.removeprefix("sqlite:///").partition("?")
        return f"sqlite:///{_absolute(path)}{sep}{query}"
    scheme = urlsplit(configured).scheme
    if scheme == "file":
        return _absolute(urlsplit(configured).path).as_uri()
    if not scheme:  # a plain directory: mlflow's file store
        return _absolute(configured).as_uri()
    return configured


def _absolute(path: str) -> Path:
    return (PROJECT_ROOT / Path(path).expanduser()).resolve()


def default_artifact_root() -> Path:
    """Artifacts of the default store: ``mlartifacts/`` at the project root."""
    return PROJECT_ROOT / "mlartifacts"


def _artifact_location(name: str, uri: str) -> str | None:
    """Absolute file URI for a new experiment's artifacts; None lets a tracking server choose.

    Left to itself, mlflow puts artifacts of a database store under ``./mlruns`` of
    whatever the working directory is. A SQLite store keeps them in
    ``mlartifacts/<name>`` next to its database file.
    """
    scheme = urlsplit(uri).scheme
    if scheme in SERVER_SCHEMES:
        return None
    root = default_artifact_root()
    database = sqlite_file(uri)
    if database is not None and database.is_absolute():
        root = database.parent / "mlartifacts"
    return (root / re.sub(r"[^\w.-]+", "_", name)).as_uri()


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store; None for other stores and in-memory ones."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def ensure_experiment(name: str, uri: str) -> str:
    """Create the store and the experiment ``name`` if missing; return its id.

    Call once before parallel jobs start: an empty SQLite store raced by several
    processes fails creating its tables. Losing a creation race for the experiment
    itself is harmless here (the winner's experiment is read back).
    """
    client = open_client(uri)
    experiment = client.get_experiment_by_name(name)
    _write_ahead_log(uri)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=_artifact_location(name, uri))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise ValueError(
            f"MLflow experiment {name!r} in {uri} is deleted. Restore it with "
            f"`mlflow experiments restore --experiment-id {experiment.experiment_id}` "
            "or choose another name with tracking.experiment=..."
        )
    return experiment.experiment_id


def open_client(uri: str) -> MlflowClient:
    """A client of a store that :func:`check_store` accepts. Creating the client creates a
    missing SQLite store: under ``<store>.lock``, since two sweeps started at once on a new
    file otherwise race through MLflow's migrations, and one fails."""
    check_store(uri)
    with _creating(uri):
        return MlflowClient(uri)


@contextlib.contextmanager
def _creating(uri: str):
    """Hold ``<store>.lock`` while a SQLite store may be created."""
    path = sqlite_file(uri)
    if path is None or (path.is_file() and path.stat().st_size):
        yield
        return
    import fcntl

    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _start_from_empty_store(path)
        yield


def _start_from_empty_store(path: Path) -> None:
    """Make a missing (or empty) SQLite store a copy of an empty one that MLflow's own
    migrations built: running its ~60 migrations takes ~1.3 s, the copy milliseconds. The
    empty store is built once per MLflow version and kept in the user's cache directory.
    Best effort: without it, MLflow builds the store itself."""
    if path.is_file() and path.stat().st_size:
        return
    copy = path.with_name(f".{path.name}.{os.getpid()}.copy")
    try:
        shutil.copyfile(_empty_store(), copy)
        os.replace(copy, path)
    except (OSError, sqlite3.Error, MlflowException) as err:
        copy.unlink(missing_ok=True)
        logger.info("building the SQLite store %s with MLflow's migrations: %s", path, err)


@functools.cache
def _empty_store() -> Path:
    """``<cache>/biotab/mlflow-<version>-empty.db``: MLflow's schema and no experiment. MLflow
    adds the Default experiment when it opens a store without one, with the artifact location
    of that store (not of the place the empty store was built)."""
    import mlflow
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "biotab"
    empty = cache / f"mlflow-{mlflow.__version__}-empty.db"
    if empty.is_file():
        return empty
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        built = Path(tmp) / "empty.db"
        SqlAlchemyStore(f"sqlite:///{built}", tmp).engine.dispose()
        with contextlib.closing(sqlite3.connect(built)) as db, db:
            db.execute("DELETE FROM experiment_tags")
            db.execute("DELETE FROM experiments")
        os.replace(built, empty)  # atomic: a process building it at the same time wrote the same
    return empty


class StoreUnusableError(RuntimeError):
    """The tracking store cannot or must not be used (a server that does not answer, a
    SQLite file of another application, a directory that does not exist)."""


HEALTH_TIMEOUT_S = 5.0


@functools.cache  # once per process and store
def check_store(uri: str) -> None:
    """Refuse, before any training and without modifying anything, a store that would fail
    (or be damaged) later: a tracking server that does not answer ``/health`` within
    :data:`HEALTH_TIMEOUT_S`; a SQLite file whose directory does not exist (MLflow would
    create it); a SQLite file of another application (MLflow would add its tables to it
    and switch its journal mode)."""
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        _check_server(uri)
    path = sqlite_file(uri) if scheme == "sqlite" else None
    if path is None:
        return
    if not path.parent.is_dir():
        raise StoreUnusableError(
            f"tracking store {uri}: the directory {path.parent} does not exist. Create it, or "
            "set tracking.uri (or MLFLOW_TRACKING_URI) to a file in an existing directory.")
    if path.is_file() and path.stat().st_size:
        tables = _sqlite_tables(path, uri)
        if tables and not {"experiments", "runs", "alembic_version"} <= tables:
            raise StoreUnusableError(
                f"tracking store {uri}: {path.name} is a database of another application "
                f"({len(tables)} tables, no MLflow tables); biotab leaves it untouched. Point "
                "tracking.uri at a new file, e.g. sqlite:///mlflow.db.")


def _check_server(uri: str) -> None:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S).close()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise StoreUnusableError(
            f"the tracking server {uri} does not answer ({reason}). Start it (make server), "
            "or set tracking.uri / MLFLOW_TRACKING_URI to one that runs.") from None


def _sqlite_tables(path: Path, uri: str) -> set[str]:
    """The table names of a SQLite file, read-only; refuse a file that is not SQLite."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        raise StoreUnusableError(f"tracking store {uri}: {path.name} is not a SQLite database "
                                 f"({err}); biotab leaves it untouched. Point tracking.uri "
                                 "at a new file.") from None


@functools.cache  # once per process and store: the file keeps the mode
def _write_ahead_log(uri: str) -> None:
    """Put a local SQLite store in write-ahead-log mode, which the file keeps.

    A sweep's parallel jobs then commit with one fsync instead of three, and readers (the
    UI) no longer block their writes: a 16-configuration sweep on this 2-core machine had
    0.04 s less overhead per configuration, and steadier (7 paired runs). Best effort: a
    store busy elsewhere keeps its mode. While anything has the store open, recent
    commits may live in ``mlflow.db-wal``: copy it with ``sqlite3 mlflow.db ".backup
    copy.db"``, not ``cp``.
    """
    path = sqlite_file(uri)
    if path is None:
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=0.1)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        logger.info("the SQLite store %s keeps its journal mode: %s", path, err)


def store_exists(uri: str) -> bool:
    """False when ``uri`` names a local SQLite file or file store that does not exist.

    Opening a missing SQLite store with a client creates it (and runs the migrations), so a
    reader should check first rather than leave an empty ``mlflow.db`` behind a typo.
    """
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        path = sqlite_file(uri)
        return path is None or path.is_file()
    if scheme == "file":
        return Path(urlsplit(uri).path).is_dir()
    return True  # a server or database: ask it
