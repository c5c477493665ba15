"""MLflow tracking: the only module of biotab that imports mlflow.

Everything goes through an explicit ``MlflowClient(uri)`` and explicit experiment
ids rather than mlflow's fluent API, whose global state bites pipelines:
``mlflow.set_experiment`` exports ``MLFLOW_EXPERIMENT_ID`` to the environment and can
lose a creation race to a parallel job and log into "Default". The store and the
experiment are created once, before a sweep's jobs start (:func:`ensure_experiment`).

A configuration is one run and its folds are nested child runs (the
``mlflow.parentRunId`` tag is what the UI nests by). Per-epoch values are sent with
``log_batch`` (~50x faster than one call per value on SQLite). Raw patient rows are
never logged: models carry a signature built from column names and dtypes, with no
input example.

Importing this module costs about a second (``import mlflow``); the rest of the
project imports it only when tracking is on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import platform
import re
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402  (after the telemetry switch)
import mlflow.sklearn  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunStatus, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.tracking import context as mlflow_context  # noqa: E402
from mlflow.tracking._tracking_service.utils import _use_tracking_uri  # noqa: E402
from mlflow.types import ColSpec, Schema, TensorSpec  # noqa: E402
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID  # noqa: E402
from mlflow.utils.validation import (  # noqa: E402
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from . import PROJECT_ROOT  # noqa: E402

logger = logging.getLogger(__name__)

PACKAGE_DIR = PROJECT_ROOT / "pipeline"
MAX_FAILURE_REASON = 5000
_SERVER_SCHEMES = ("http", "https", "databricks")  # the server picks artifact locations


# --- where runs go ---------------------------------------------------------------


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
    if scheme in _SERVER_SCHEMES:
        return None
    root = default_artifact_root()
    database = _sqlite_file(uri)
    if database is not None and database.is_absolute():
        root = database.parent / "mlartifacts"
    return (root / re.sub(r"[^\w.-]+", "_", name)).as_uri()


def _sqlite_file(uri: str) -> Path | None:
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
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)  # creates a missing store
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
    path = _sqlite_file(uri)
    if path is None:
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=0.1)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        logger.info("the SQLite store %s keeps its journal mode: %s", path, err)


# --- runs -------------------------------------------------------------------------


class Tracker:
    """Opens runs in one experiment of one store; ``tags`` go on every run (sweep id, commit, ...)."""

    def __init__(self, uri: str, experiment: str, tags: Mapping[str, str] | None = None):
        self.uri = uri
        self.experiment = experiment
        self.client = MlflowClient(uri)
        self.experiment_id = ensure_experiment(experiment, uri)
        # mlflow.user / mlflow.source.* as the fluent API would set them (for the UI columns).
        self.tags = {**_context_tags(), **_strings(tags or {})}

    @contextlib.contextmanager
    def run(self, name: str, params: Mapping | None = None, tags: Mapping | None = None,
            parent: RunHandle | str | None = None) -> Iterator[RunHandle]:
        """Open a run, nested under ``parent`` (a handle or a run id, e.g. a sweep's run);
        FINISHED on normal exit, FAILED (with a ``failure_reason`` tag) on an exception,
        KILLED on Ctrl-C. The exception is always re-raised."""
        run_tags = {**self.tags, **_strings(tags or {})}
        if parent is not None:
            run_tags[MLFLOW_PARENT_RUN_ID] = parent if isinstance(parent, str) else parent.run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=run_tags)
        handle = RunHandle(self.client, run.info, self.uri)
        try:
            handle.log_params(params or {})
            yield handle
        except KeyboardInterrupt:
            handle._end(RunStatus.KILLED)
            raise
        except Exception as exc:
            # safe_message: the reason without quoted patient values (see DatasetError).
            handle._end(RunStatus.FAILED, f"{type(exc).__name__}: {getattr(exc, 'safe_message', exc)}")
            raise
        else:
            handle._end(RunStatus.FINISHED)


class RunHandle:
    """What a running configuration or fold records into its MLflow run."""

    def __init__(self, client: MlflowClient, info, uri: str):
        self.client = client
        self.uri = uri
        self.run_id: str = info.run_id
        self.artifact_uri: str = info.artifact_uri
        self.experiment_id: str = info.experiment_id
        self.params: dict[str, str] = {}  # as logged, for the models of this run
        self._staging: Path | None = None  # see artifacts_together

    def log_params(self, params: Mapping) -> None:
        """Flat ``{dotted.key: value}``; values stringified and cut to mlflow's length limit."""
        entries = [Param(str(k), str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()]
        self._batch(params=entries)
        self.params.update((p.key, p.value) for p in entries)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    history: Mapping[str, object] | None = None) -> None:
        """Final ``metrics`` and, optionally, per-epoch ``history`` (lists -> ``step = epoch``;
        entries that are not sequences, e.g. ``best_epoch``, skipped) in one ``log_batch``
        (chunked past 1000): on SQLite a call costs ~3 ms plus ~50 us per value.

        NaN is logged as NaN: an undefined metric (e.g. AUROC of a one-class fold) stays
        visible instead of vanishing.
        """
        now = _now_ms()
        self._batch(metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
                    + _history_metrics(history or {}, now))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._batch(tags=[RunTag(k, v) for k, v in _strings(tags).items()])

    def log_chart(self, chart, name: str) -> None:
        """A :class:`pipeline.svg.Chart` as ``plots/<name>.svg`` (the UI displays SVG)."""
        self.log_text(chart.to_svg(), f"plots/{name}.svg")

    def log_text(self, text: str, name: str) -> None:
        with self._artifact(name) as path:
            path.write_text(text, encoding="utf-8")

    def log_table(self, frame: pd.DataFrame, name: str) -> None:
        """CSV artifact; a default RangeIndex is left out, a meaningful index is kept."""
        keep_index = not isinstance(frame.index, pd.RangeIndex)
        with self._artifact(name) as path:
            frame.to_csv(path, index=keep_index)

    def log_npz(self, arrays: Mapping[str, np.ndarray], name: str) -> None:
        with self._artifact(name) as path:
            np.savez_compressed(path, **arrays)

    def log_model(self, model, feature_dtypes: Mapping[str, str], name: str = "model",
                  proba: bool = True) -> str:
        """Log a fitted sklearn pipeline as an MLflow model; return its ``models:/<id>`` URI.

        The pyfunc flavour predicts probabilities (``predict_proba``) when ``proba``,
        else ``predict``. ``code_paths`` ships the ``pipeline`` package with the model
        so it loads where biotab is not installed; explicit ``pip_requirements`` skip
        mlflow's dependency inference (~1.6 s). The signature comes from
        ``feature_dtypes`` alone: no input example, so no patient row is stored.
        Saved in skops format (mlflow's default: loading runs no code; no pickle warning).

        The model entry is created here, in this run's experiment: left to mlflow, a
        model logged outside a fluent ``start_run`` lands in the "Default" experiment.
        """
        method = "predict_proba" if proba else "predict"
        if not hasattr(model, method):
            raise ValueError(f"log_model(proba={proba}) needs a model with {method}(); "
                             f"got {type(model).__name__}.")
        logged = self.client.create_logged_model(
            self.experiment_id, name=name, source_run_id=self.run_id, params=self.params)
        with _global_tracking_uri(self.uri):  # log_model only talks to the global URI
            info = mlflow.sklearn.log_model(
                model, name=name, model_id=logged.model_id, run_id=self.run_id,
                signature=model_signature(model, feature_dtypes, proba),
                pyfunc_predict_fn=method,
                pip_requirements=_pip_requirements(),
                code_paths=[str(PACKAGE_DIR)],
                skops_trusted_types=_trusted_types(),
            )
        return info.model_uri

    def _end(self, status: RunStatus | int, failure_reason: str | None = None) -> None:
        """Close the run; never raises, so it cannot mask the error being reported."""
        try:
            if failure_reason is not None:
                self.set_tags({"failure_reason": failure_reason[:MAX_FAILURE_REASON]})
            self.client.set_terminated(self.run_id, RunStatus.to_string(status))
        except Exception:
            logger.exception("could not mark MLflow run %s as %s", self.run_id,
                             RunStatus.to_string(status))

    def _batch(self, metrics=(), params=(), tags=()) -> None:
        """``log_batch`` in chunks within mlflow's per-request limits."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + MAX_METRICS_PER_BATCH])
        for i in range(0, len(params), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MAX_PARAMS_TAGS_PER_BATCH])
        for i in range(0, len(tags), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, tags=tags[i:i + MAX_PARAMS_TAGS_PER_BATCH])

    @contextlib.contextmanager
    def artifacts_together(self) -> Iterator[None]:
        """Artifacts logged inside the block are sent in one call when it ends, also when it
        ends with an error (they help explain a failed run). Each call costs ~2 ms (a
        temporary directory, a copy, a store round trip), and a configuration has a dozen."""
        with tempfile.TemporaryDirectory() as tmp:
            self._staging = Path(tmp)
            try:
                yield
            finally:
                self._staging = None
                self.client.log_artifacts(self.run_id, tmp)

    @contextlib.contextmanager
    def _artifact(self, name: str) -> Iterator[Path]:
        """A file to write that becomes artifact ``name`` (``a/b.csv`` -> folder a): logged at
        once, or with the others at the end of :meth:`artifacts_together`."""
        if self._staging is not None:
            path = self._staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            yield path
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            yield path
            folder = Path(name).parent.as_posix()
            self.client.log_artifact(self.run_id, str(path), None if folder == "." else folder)


def _history_metrics(history: Mapping[str, object], now: int) -> list[Metric]:
    return [
        Metric(key, float(value), now, epoch)
        for key, values in history.items() if isinstance(values, (list, tuple, np.ndarray))
        for epoch, value in enumerate(values)
    ]


# --- models -------------------------------------------------------------------------


def model_signature(model, feature_dtypes: Mapping[str, str], proba: bool = True) -> ModelSignature:
    """Input columns by name and type; output float64 probabilities (n, n_classes) or values (n,).

    Every numeric column is declared ``double``, integers included: integer columns
    cannot hold NaN, and a new patient's record may miss any value (mlflow's own
    advice). Pass numeric columns as floats when predicting.
    """
    inputs = Schema([ColSpec(_mlflow_type(dtype, column), column)
                     for column, dtype in feature_dtypes.items()])
    classes = getattr(model, "classes_", None)
    shape = (-1, len(classes) if classes is not None else -1) if proba else (-1,)
    return ModelSignature(inputs=inputs, outputs=Schema([TensorSpec(np.dtype("float64"), shape)]))


def _mlflow_type(dtype: str, column: str) -> str:
    dtype = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "string"
    raise ValueError(f"column {column!r} has dtype {dtype}, which an MLflow signature cannot "
                     "describe: convert it to a number or a string before training.")


def _pip_requirements() -> list[str]:
    import skops

    versions = {"numpy": np.__version__, "pandas": pd.__version__,
                "scikit-learn": sklearn.__version__, "skops": skops.__version__}
    return [f"{name}=={version}" for name, version in versions.items()]


# scikit-learn classes of our preprocessing that skops does not trust by default (the
# iterative imputer is experimental): preprocess=iterative models fail to log without them.
SKLEARN_TYPES_TO_TRUST = ("sklearn.impute._iterative.IterativeImputer",
                          "sklearn.impute._iterative._ImputerTriplet")


@functools.cache
def _trusted_types() -> list[str]:
    """Types the skops loader must be told to trust: every class biotab defines (estimators,
    activations, optimizers, schedules, ...), numpy's dtype and :data:`SKLEARN_TYPES_TO_TRUST`.

    skops, mlflow's safe default format, refuses unknown classes at load time, and mlflow
    loads each model back when saving it: a model holding any other unknown type fails
    loudly at logging time. A fixed list saves asking skops, which serialises the model
    once more (~40 ms).
    """
    import pkgutil

    from . import core, estimators

    modules = [estimators] + [importlib.import_module(f"{core.__name__}.{m.name}")
                              for m in pkgutil.iter_modules(core.__path__)]
    return ["numpy.dtype", *SKLEARN_TYPES_TO_TRUST] + sorted(
        f"{cls.__module__}.{cls.__qualname__}" for module in modules for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__)


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """Point mlflow's global tracking URI at ``uri`` for one call, then put it back.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into os.environ
    (and restoring "unset" deletes it): the variable is restored exactly as it was.
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


# --- provenance and summaries --------------------------------------------------------


def warm_up(configured_uri: str | None = None) -> None:
    """Do the once-per-process work of a job's first run ahead of it: the imports of the
    database store (~0.5 s) and of the first model save (skops, ~0.7 s), and the provenance
    tags. The store itself is not opened: it may not exist yet."""
    import skops.io  # noqa: F401

    if urlsplit(resolve_tracking_uri(configured_uri)).scheme not in (*_SERVER_SCHEMES, "file"):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    _context_tags()
    runtime_tags()


@functools.cache
def _context_tags() -> dict[str, str]:
    """mlflow.user / mlflow.source.* as the fluent API would set them (once per process)."""
    return mlflow_context.registry.resolve_tags()


@functools.cache
def runtime_tags() -> dict[str, str]:
    """Code version, library versions and BLAS kernel: what a result depends on besides config.

    Computed once per process (git subprocesses, BLAS probing): a sweep worker runs many jobs.
    """
    import threadpoolctl

    tags = {
        "git_commit": _git_commit(),
        "version.python": platform.python_version(),
        "version.numpy": np.__version__,
        "version.pandas": pd.__version__,
        "version.scikit-learn": sklearn.__version__,
        "version.mlflow": mlflow.__version__,
    }
    blas = {  # numpy and scipy may each load their own copy
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} threads={i.get('num_threads')}"
        for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"
    }
    if blas:
        tags["blas"] = "; ".join(sorted(blas))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            tags[f"env.{var}"] = os.environ[var]
    if os.environ.get("OPENBLAS_CORETYPE"):  # a forced older kernel costs 30-70% (PERFORMANCE.md)
        logger.warning("OPENBLAS_CORETYPE=%s is set: OpenBLAS may run a slower kernel than this "
                       "CPU supports (%s)", os.environ["OPENBLAS_CORETYPE"], tags.get("blas", "?"))
    return tags


def _git_commit() -> str:
    """Short sha of HEAD, ``-dirty`` if the tree differs from it (untracked files included)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        sha = git("rev-parse", "--short", "HEAD")
        return f"{sha}-dirty" if git("status", "--porcelain") else sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- sweeps ---------------------------------------------------------------------------


def start_sweep(uri: str, experiment: str, sweep_id: str, name: str, overrides: str) -> str:
    """Open the sweep-level run that groups a multirun's configuration runs; return its id.

    It stays RUNNING while the jobs log (possibly from other processes or machines) and is
    closed by :func:`end_sweep`.
    """
    client = MlflowClient(uri)
    tags = {**_context_tags(), **runtime_tags(),
            "sweep_id": sweep_id, "biotab.role": "sweep", "overrides": overrides}
    run = client.create_run(ensure_experiment(experiment, uri), run_name=name, tags=_strings(tags))
    return run.info.run_id


def end_sweep(uri: str, run_id: str, failed: list[dict], n_jobs: int) -> None:
    """Close the sweep run: FINISHED unless every job failed; failures listed in tags."""
    client = MlflowClient(uri)
    summary = "; ".join(f"{f['run_name']}: {f['failure_reason']}" for f in failed)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in _strings({
        "n_jobs": n_jobs, "n_failed": len(failed), "failed_jobs": summary or "none"}).items()])
    status = "FAILED" if failed and len(failed) >= n_jobs else "FINISHED"
    client.set_terminated(run_id, status)


def log_sweep_artifacts(uri: str, run_id: str, directory: Path) -> None:
    """Attach a directory's files (the sweep report) to the sweep run."""
    MlflowClient(uri).log_artifacts(run_id, str(directory), "report")


def run_status(uri: str, run_id: str) -> str:
    return MlflowClient(uri).get_run(run_id).info.status


def _strings(tags: Mapping) -> dict[str, str]:
    return {str(k): str(v)[:MAX_TAG_VAL_LENGTH] for k, v in tags.items()}


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- reading runs back (report) -----------------------------------------------------

_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def store_exists(uri: str) -> bool:
    """False when ``uri`` names a local SQLite file or file store that does not exist.

    Opening a missing SQLite store with a client creates it (and runs the migrations), so a
    reader should check first rather than leave an empty ``mlflow.db`` behind a typo.
    """
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        path = _sqlite_file(uri)
        return path is None or path.is_file()
    if scheme == "file":
        return Path(urlsplit(uri).path).is_dir()
    return True  # a server or database: ask it


def search_runs(uri: str, experiment: str | None = None,
                tags: Mapping[str, str] | None = None) -> list[dict]:
    """Active runs of ``experiment`` (every active experiment when None) that carry all
    ``tags``, oldest first, as plain dicts.

    Each dict has ``run_id``, ``run_name``, ``status``, ``start_time`` and ``end_time``
    (ms since the epoch; ``end_time`` None while running), ``experiment_id``,
    ``experiment`` (its name), ``parent_run_id`` (or None), and the ``params``,
    ``metrics`` (latest value of each key) and ``tags`` dicts.

    Raises ``ValueError`` for an unknown experiment name (listing the known ones).
    """
    client = MlflowClient(uri)
    experiments = _experiment_names(client)
    if experiment is not None:
        ids = [i for i, name in experiments.items() if name == experiment]
        if not ids:
            raise ValueError(f"no experiment named {experiment!r} in {uri}; experiments there: "
                             f"{', '.join(sorted(experiments.values())) or 'none'}")
    else:
        ids = list(experiments)
    if not ids:
        return []
    query = " and ".join(f"tags.`{key}` = '{_filter_value(value)}'"
                         for key, value in _strings(tags or {}).items())
    runs, token = [], None
    while True:
        page = client.search_runs(ids, query, order_by=["attributes.start_time ASC"],
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    return [_run_dict(run, experiments) for run in runs]


def metric_history(uri: str, run_id: str, key: str) -> list[float]:
    """Values of metric ``key`` of a run ordered by step (the last value logged for a step
    wins); empty when the run never logged ``key``."""
    history = MlflowClient(uri).get_metric_history(run_id, key)
    by_step = {m.step: m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))}
    return [float(by_step[step]) for step in sorted(by_step)]


def download_artifact(uri: str, run_id: str, path: str, dst_dir: str | Path) -> Path:
    """Copy artifact ``path`` (a file or folder) of a run into ``dst_dir``; return the local path.

    Raises ``FileNotFoundError`` when the run has no such artifact.
    """
    Path(dst_dir).mkdir(parents=True, exist_ok=True)
    saved = os.environ.get(_PROGRESS_BAR)
    os.environ[_PROGRESS_BAR] = "false"  # mlflow draws a bar per file on stderr otherwise
    try:
        local = MlflowClient(uri).download_artifacts(run_id, path, str(dst_dir))
    except (MlflowException, OSError) as err:
        raise FileNotFoundError(f"run {run_id} has no artifact {path!r} ({err})") from None
    finally:
        if saved is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = saved
    return Path(local)


def find_sweep_run(uri: str, sweep_id: str) -> dict | None:
    """The sweep-level run (``biotab.role=sweep``) of ``sweep_id`` as a :func:`search_runs`
    dict; the newest one if there are several; None if there is none."""
    runs = search_runs(uri, tags={"biotab.role": "sweep", "sweep_id": sweep_id})
    return runs[-1] if runs else None


def _experiment_names(client: MlflowClient) -> dict[str, str]:
    """Id -> name of the store's active experiments."""
    names, token = {}, None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        names.update({e.experiment_id: e.name for e in page})
        token = page.token
        if not token:
            return names


def _filter_value(value: str) -> str:
    if "'" in value:  # mlflow's filter grammar has no escape for a quote inside a value
        raise ValueError(f"cannot search for a tag value containing a quote: {value!r}")
    return value


def _run_dict(run, experiments: Mapping[str, str]) -> dict:
    info, data = run.info, run.data
    return {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "start_time": info.start_time, "end_time": info.end_time,
        "experiment_id": info.experiment_id, "experiment": experiments.get(info.experiment_id),
        "parent_run_id": data.tags.get(MLFLOW_PARENT_RUN_ID),
        "params": dict(data.params), "metrics": dict(data.metrics), "tags": dict(data.tags),
    }
