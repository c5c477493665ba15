"""MLflow tracking layer: every test logs to its own temporary SQLite store.

Creating a SQLite store runs mlflow's migrations (~4 s), so one empty store is made
per session and each test gets a fresh copy of it.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import site
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import mlflow
import mlflow.utils.environment
import mlflow.utils.requirements_utils
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pipeline import PROJECT_ROOT, plots, tracking
from pipeline.estimators import NeuralNetClassifier
from pipeline.tracking import provenance, store

MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
              "MLFLOW_ALLOW_PICKLE_DESERIALIZATION")


@pytest.fixture(autouse=True)
def clean_mlflow_env(monkeypatch):
    """A developer's MLFLOW_* variables must not redirect the runs under test."""
    for name in MLFLOW_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates the tables
    return path


def _store_in(directory: Path, empty_store: Path) -> str:
    shutil.copy(empty_store, directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


@pytest.fixture
def uri(tmp_path, empty_store) -> str:
    return _store_in(tmp_path, empty_store)


@pytest.fixture
def tracker(uri) -> tracking.Tracker:
    return tracking.Tracker(uri, "unit", tags={"sweep_id": "s1"})


# --- where runs go ------------------------------------------------------------------


def test_resolve_tracking_uri_precedence_and_paths(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    root = PROJECT_ROOT
    assert tracking.resolve_tracking_uri() == f"sqlite:///{root}/mlflow.db"
    assert tracking.resolve_tracking_uri(None) == f"sqlite:///{root}/mlflow.db"
    assert tracking.resolve_tracking_uri("sqlite:///store/x.db") == f"sqlite:///{root}/store/x.db"
    assert tracking.resolve_tracking_uri("sqlite:////abs/x.db?timeout=30") == "sqlite:////abs/x.db?timeout=30"
    assert tracking.resolve_tracking_uri("mlruns") == (root / "mlruns").as_uri()
    assert tracking.resolve_tracking_uri("file:store") == (root / "store").as_uri()
    assert tracking.resolve_tracking_uri("file:///abs/store") == "file:///abs/store"
    assert tracking.resolve_tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    assert tracking.resolve_tracking_uri("sqlite:///store/x.db") == "http://team-server:5000"
    assert tracking.default_artifact_root() == root / "mlartifacts"


def test_ensure_experiment_is_idempotent_and_runs_land_in_it(uri, tmp_path):
    experiment_id = tracking.ensure_experiment("heart disease", uri)
    assert tracking.ensure_experiment("heart disease", uri) == experiment_id
    client = MlflowClient(uri)
    experiment = client.get_experiment(experiment_id)
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "heart_disease").as_uri()

    with tracking.Tracker(uri, "heart disease").run("config") as run:
        pass
    assert client.get_run(run.run_id).info.experiment_id == experiment_id
    assert run.artifact_uri.startswith(experiment.artifact_location)
    default = client.get_experiment_by_name("Default").experiment_id
    assert client.search_runs([default]) == []


def _journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_local_sqlite_store_is_put_in_write_ahead_log_mode(uri, tmp_path):
    store = tmp_path / "mlflow.db"
    assert _journal_mode(store) == "delete"  # as mlflow creates it
    tracking.ensure_experiment("wal", uri)
    assert _journal_mode(store) == "wal"  # the file keeps it: every later connection
    with tracking.Tracker(uri, "wal").run("config") as run:
        run.log_metrics({"auroc": 0.8})
    assert MlflowClient(uri).get_run(run.run_id).data.metrics == {"auroc": 0.8}


@pytest.mark.parametrize("lock", ["BEGIN", "BEGIN IMMEDIATE"], ids=["reading", "writing"])
def test_a_store_in_use_elsewhere_keeps_its_journal_mode_and_still_works(uri, tmp_path, lock):
    MlflowClient(uri).create_experiment("busy")  # before another process holds the store
    store = tmp_path / "mlflow.db"
    with closing(sqlite3.connect(store, isolation_level=None)) as db:
        db.execute(lock)  # e.g. the UI mid-read, or another job mid-write
        db.execute("SELECT count(*) FROM experiments").fetchall()
        start = time.perf_counter()
        experiment_id = tracking.ensure_experiment("busy", uri)
        assert time.perf_counter() - start < 5  # gave up on the mode, did not wait for it
        db.execute("ROLLBACK")
    assert _journal_mode(store) == "delete"
    assert MlflowClient(uri).get_experiment(experiment_id).name == "busy"


def test_artifact_location_follows_the_store(tmp_path):
    assert store._artifact_location("a b", f"sqlite:///{tmp_path}/x.db") == (
        tmp_path / "mlartifacts" / "a_b").as_uri()
    assert store._artifact_location("a", "http://server:5000") is None  # the server decides
    assert store._artifact_location("a", "postgresql://db/mlflow") == (
        tracking.default_artifact_root() / "a").as_uri()


def test_ensure_experiment_survives_a_lost_creation_race(uri, monkeypatch):
    experiment_id = tracking.ensure_experiment("raced", uri)
    real = MlflowClient.get_experiment_by_name
    calls = []

    def stale_first_read(self, name):  # another job creates it right after our first look
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", stale_first_read)
    assert tracking.ensure_experiment("raced", uri) == experiment_id
    assert len(calls) == 2


def test_env_is_left_untouched(uri):
    import os

    tracker = tracking.Tracker(uri, "unit")
    with tracker.run("config") as run:
        run.log_metrics({"auroc": 0.5})
    assert not any(name in os.environ for name in MLFLOW_ENV[:4])


# --- runs ---------------------------------------------------------------------------


def test_nested_fold_runs_carry_the_parent_tag(tracker):
    with tracker.run("config", params={"model.hidden": (8,)}, tags={"kind": "config"}) as parent:
        children = []
        for k in range(2):
            with tracker.run(f"config fold {k}", tags={"fold": k}, parent=parent) as child:
                children.append(child.run_id)
    client = tracker.client
    for k, run_id in enumerate(children):
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent.run_id
        assert run.data.tags["fold"] == str(k)
        assert run.data.tags["sweep_id"] == "s1"  # tracker-wide tags on every run
        assert run.info.run_name == f"config fold {k}"
        assert run.info.status == "FINISHED"
    top = client.get_run(parent.run_id)
    assert top.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in top.data.tags
    assert top.data.params == {"model.hidden": "(8,)"}


def test_runs_logging_one_new_dataset_at_once_all_record_it(mlflow_server):
    """A sweep's runs log the same dataset together; on a server the first inserts race into a
    unique-key violation (seen in CI: a configuration FAILED). Every run must end with it."""
    tracker = tracking.Tracker(mlflow_server, "race")
    for trial in range(6):
        handles = [tracker.client.create_run(tracker.experiment_id) for _ in range(8)]
        handles = [tracking.RunHandle(tracker.client, run.info, mlflow_server) for run in handles]
        start = threading.Barrier(len(handles))

        def log(handle, start=start, digest=f"fingerprint{trial}"):
            start.wait()
            handle.log_dataset("table", digest, "table.csv", {"age": "double"}, {"num_rows": 3})
        threads = [threading.Thread(target=log, args=(handle,)) for handle in handles]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for handle in handles:
            assert handle.dataset == ("table", f"fingerprint{trial}")
            (recorded,) = tracker.client.get_run(handle.run_id).inputs.dataset_inputs
            assert recorded.dataset.digest == f"fingerprint{trial}"


def test_history_gives_one_point_per_epoch(tracker):
    history = {"train_loss": [0.9, 0.7, 0.5, 0.4, 0.35], "val_loss": np.linspace(1, 0.5, 5),
               "val_auroc": [0.6, 0.7], "best_epoch": 4}
    with tracker.run("curves") as run:
        run.log_metrics({"auroc": 0.8, "threshold": float("nan")}, history=history)
    client = tracker.client
    points = client.get_metric_history(run.run_id, "train_loss")
    assert [p.step for p in points] == [0, 1, 2, 3, 4]
    assert [p.value for p in points] == history["train_loss"]
    assert len(client.get_metric_history(run.run_id, "val_loss")) == 5
    assert [p.step for p in client.get_metric_history(run.run_id, "val_auroc")] == [0, 1]
    metrics = client.get_run(run.run_id).data.metrics
    assert "best_epoch" not in metrics
    assert np.isnan(metrics["threshold"])  # logged, not dropped


def test_many_and_long_params_are_batched_and_truncated(tracker):
    params = {f"grid.p{i}": i for i in range(250)} | {"notes": "x" * 10_000}
    with tracker.run("wide", params=params) as run:
        pass
    logged = tracker.client.get_run(run.run_id).data.params
    assert len(logged) == 251
    assert logged["grid.p249"] == "249"
    assert 0 < len(logged["notes"]) < 10_000


def test_parameters_metrics_and_tags_share_batches_within_mlflows_limits(tracker, monkeypatch):
    """The run's 150 parameters go with its first record (120 tags): two log_batch calls, not
    four; every call within mlflow's limits (100 parameters, 100 tags, 1,000 entries)."""
    calls = []
    real = tracker.client.log_batch

    def counted(run_id, metrics=(), params=(), tags=()):
        calls.append((len(metrics), len(params), len(tags)))
        return real(run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(tracker.client, "log_batch", counted)
    with tracker.run("wide", params={f"p{i}": i for i in range(150)}) as run:
        assert calls == []  # the parameters wait for the first record
        run.set_tags({f"t{i}": i for i in range(120)})
        run.log_metrics({}, history={"loss": np.arange(2500.0)})
    assert calls[:3] == [(0, 100, 100), (0, 50, 20), (1000, 0, 0)]
    assert all(m + p + t <= 1000 and p <= 100 and t <= 100 for m, p, t in calls)
    logged = tracker.client.get_run(run.run_id).data
    assert len(logged.params) == 150 and {f"t{i}" for i in range(120)} <= set(logged.tags)
    assert [p.value for p in tracker.client.get_metric_history(run.run_id, "loss")] == list(range(2500))


def test_exception_marks_the_run_failed_and_is_reraised(tracker):
    with pytest.raises(ValueError, match="column 'age'"):
        with tracker.run("broken config"):
            raise ValueError("column 'age' is missing")
    with pytest.raises(KeyboardInterrupt):
        with tracker.run("interrupted"):
            raise KeyboardInterrupt
    runs = {r.info.run_name: r for r in tracker.client.search_runs([tracker.experiment_id])}
    assert runs["broken config"].info.status == "FAILED"
    assert runs["broken config"].data.tags["failure_reason"] == "ValueError: column 'age' is missing"
    assert runs["interrupted"].info.status == "KILLED"


def test_a_run_the_store_refuses_to_create_raises_the_stores_error(tracker, monkeypatch):
    def refuse(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("the store is read-only")
    monkeypatch.setattr(tracker.client, "create_run", refuse)
    with pytest.raises(mlflow.exceptions.MlflowException, match="read-only"):
        with tracker.run("config"):
            pass


def test_failure_reason_is_truncated(tracker):
    with pytest.raises(RuntimeError):
        with tracker.run("verbose"):
            raise RuntimeError("x" * 20_000)
    [failed] = tracking.search_runs(tracker.uri, "unit")
    assert failed["status"] == "FAILED"
    assert len(failed["tags"]["failure_reason"]) == tracking.MAX_FAILURE_REASON


def test_artifacts(tracker, tmp_path):
    chart = plots.roc_curve(np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.4, 0.6]))
    oof = pd.DataFrame({"row": [3, 1], "fold": [0, 1], "probability": [0.2, 0.9], "label": [0, 1]})
    weights = {"coef_0": np.arange(6.0).reshape(2, 3), "intercept_0": np.zeros(3)}
    with tracker.run("artifacts") as run:
        run.log_text("seed: 0\n", "config.yaml")
        run.log_table(oof, "oof_predictions.csv")
        run.log_npz(weights, "weights.npz")
        run.log_chart(chart, "roc")
        run.log_chart(chart, "calibration")
    client = tracker.client
    assert {a.path for a in client.list_artifacts(run.run_id)} == {
        "config.yaml", "oof_predictions.csv", "weights.npz", "plots"}
    assert {a.path for a in client.list_artifacts(run.run_id, "plots")} == {
        "plots/roc.svg", "plots/calibration.svg"}

    local = Path(mlflow.artifacts.download_artifacts(run_id=run.run_id, dst_path=str(tmp_path / "dl"),
                                                     tracking_uri=tracker.uri))
    pd.testing.assert_frame_equal(pd.read_csv(local / "oof_predictions.csv"), oof)
    with np.load(local / "weights.npz") as loaded:
        np.testing.assert_array_equal(loaded["coef_0"], weights["coef_0"])
    assert (local / "config.yaml").read_text() == "seed: 0\n"
    assert (local / "plots" / "roc.svg").read_text() == chart.to_svg()


def test_artifacts_together_are_sent_in_one_call_at_the_end(tracker, monkeypatch):
    calls = []
    with tracker.run("together") as run:
        store = run._artifact_store  # the run's artifact repository, found once
        for method in ("log_artifact", "log_artifacts"):
            original = getattr(store, method)
            monkeypatch.setattr(store, method,
                                lambda *a, _original=original, _m=method: calls.append(_m) or _original(*a))
        with run.artifacts_together():
            run.log_text("seed: 0\n", "config.yaml")
            run.log_table(pd.DataFrame({"a": [1]}), "tables/a.csv")
            run.log_chart(plots.roc_curve(np.array([0, 1]), np.array([0.2, 0.7])), "roc")
            assert calls == [] and tracker.client.list_artifacts(run.run_id) == []
        run.log_text("after\n", "after.txt")  # outside the block: logged at once again
    assert calls == ["log_artifacts", "log_artifact"]
    listed = {a.path for a in tracker.client.list_artifacts(run.run_id)}
    assert listed == {"config.yaml", "tables", "plots", "after.txt"}
    assert [a.path for a in tracker.client.list_artifacts(run.run_id, "tables")] == ["tables/a.csv"]


def test_artifacts_written_before_an_error_are_kept(tracker):
    with pytest.raises(RuntimeError, match="plot failed"):
        with tracker.run("fails") as run:
            with run.artifacts_together():
                run.log_text("seed: 0\n", "config.yaml")
                raise RuntimeError("plot failed")
    assert [a.path for a in tracker.client.list_artifacts(run.run_id)] == ["config.yaml"]
    assert tracker.client.get_run(run.run_id).info.status == "FAILED"


# --- models ---------------------------------------------------------------------------


def test_signature_types():
    sig = tracking.model_signature(None, {"age": "int64", "bmi": "float32", "sex": "str",
                                          "smoker": "bool", "site": "category", "ward": "object"})
    assert {c.name: c.type.name for c in sig.inputs.inputs} == {
        "age": "double", "bmi": "double", "sex": "string", "smoker": "boolean",
        "site": "string", "ward": "string"}
    assert sig.outputs.inputs[0].shape == (-1, -1)
    assert tracking.model_signature(None, {"a": "float64"}, proba=False).outputs.inputs[0].shape == (-1,)
    with pytest.raises(ValueError, match="'span'"):
        tracking.model_signature(None, {"span": "timedelta64[ns]"})


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory, empty_store):
    """A small preprocessing + network pipeline logged once for the model tests."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["age", "bmi", "glucose"])
    y = (frame["glucose"] + 0.5 * frame["age"] > 0).astype(int).to_numpy()
    model = Pipeline([
        ("impute", SimpleImputer()),
        ("scale", StandardScaler()),
        ("model", NeuralNetClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)),
    ]).fit(frame, y)
    uri = _store_in(tmp_path_factory.mktemp("model_store"), empty_store)
    with pytest.MonkeyPatch.context() as mp:
        for name in MLFLOW_ENV:
            mp.delenv(name, raising=False)
        tracker = tracking.Tracker(uri, "models")
        with tracker.run("final", params={"model.hidden_layer_sizes": "(8,)"}) as run:
            run.log_metrics({"auroc": 0.9})
            model_uri = run.log_model(model, {c: str(t) for c, t in frame.dtypes.items()})
            leaked = "MLFLOW_TRACKING_URI" in __import__("os").environ
    return {"uri": uri, "model_uri": model_uri, "run": run, "model": model, "frame": frame,
            "leaked": leaked, "client": tracker.client, "experiment_id": tracker.experiment_id}


def test_log_model_round_trip(logged_model, monkeypatch):
    assert not logged_model["leaked"]  # log_model borrows mlflow's global URI, then restores it
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading prepends the model's code dir
    monkeypatch.setenv("MLFLOW_TRACKING_URI", logged_model["uri"])
    frame, model = logged_model["frame"], logged_model["model"]
    loaded = mlflow.pyfunc.load_model(logged_model["model_uri"])
    np.testing.assert_allclose(loaded.predict(frame), model.predict_proba(frame), rtol=0, atol=1e-12)

    with_gaps = frame.copy()
    with_gaps.loc[[0, 5], "bmi"] = np.nan  # new patients may miss values: the signature allows it
    np.testing.assert_allclose(loaded.predict(with_gaps), model.predict_proba(with_gaps), atol=1e-12)

    by_run = mlflow.pyfunc.load_model(f"runs:/{logged_model['run'].run_id}/model")
    np.testing.assert_allclose(by_run.predict(frame), model.predict_proba(frame), atol=1e-12)


def test_logged_model_metadata(logged_model):
    client, run = logged_model["client"], logged_model["run"]
    model_id = logged_model["model_uri"].removeprefix("models:/")
    info = client.get_logged_model(model_id)
    assert info.experiment_id == logged_model["experiment_id"]  # not "Default"
    assert info.source_run_id == run.run_id
    assert str(info.status) == "READY"
    assert info.params == {"model.hidden_layer_sizes": "(8,)"}
    directory = Path(info.artifact_location.removeprefix("file://"))
    names = {p.relative_to(directory).as_posix() for p in directory.rglob("*")}
    assert "code/pipeline/estimators.py" in names
    assert not any("example" in name for name in names)  # no patient rows stored with the model
    assert "requirements.txt" in names
    requirements = (directory / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} == {
        "mlflow", "numpy", "pandas", "scikit-learn", "skops"}
    # Exactly the installed versions: why MLflow's mismatch check can be skipped.
    assert all(importlib.metadata.version(name) == version
               for name, version in (r.split("==") for r in requirements))
    mlmodel = (directory / "MLmodel").read_text()
    assert "predict_fn: predict_proba" in mlmodel
    signature = json.loads(mlflow.models.Model.load(directory).to_dict()["signature"]["inputs"])
    assert [c["name"] for c in signature] == ["age", "bmi", "glucose"]


def test_mlflows_requirement_check_is_skipped_for_one_call_only(monkeypatch):
    warnings = []
    monkeypatch.setattr(mlflow.utils.requirements_utils._logger, "warning", warnings.append)
    with pytest.raises(RuntimeError), tracking.private.requirements_unchecked():
        mlflow.utils.environment.warn_dependency_requirement_mismatches(["numpy==0"])
        raise RuntimeError("a failed save")
    assert warnings == []
    mlflow.utils.environment.warn_dependency_requirement_mismatches(["numpy==0"])
    assert "numpy (current: " in warnings[0]


def test_logged_model_loads_without_biotab_installed(logged_model, tmp_path):
    """Only mlflow and its dependencies on the path: the model brings its own ``pipeline`` code."""
    info = logged_model["client"].get_logged_model(logged_model["model_uri"].removeprefix("models:/"))
    frame = logged_model["frame"]
    frame.to_csv(tmp_path / "patients.csv", index=False)
    np.save(tmp_path / "expected.npy", logged_model["model"].predict_proba(frame))
    script = textwrap.dedent(f"""
        import sys
        sys.path[:] = [p for p in sys.path if p and p != {str(PROJECT_ROOT)!r}]
        sys.path.extend({site.getsitepackages()!r})  # without their .pth files: no editable biotab
        try:
            import pipeline
            raise SystemExit("biotab should not be importable here")
        except ImportError:
            pass
        import numpy as np, pandas as pd, mlflow.pyfunc
        model = mlflow.pyfunc.load_model({info.artifact_location!r})
        got = model.predict(pd.read_csv("patients.csv"))
        print(np.abs(got - np.load("expected.npy")).max())
    """)
    done = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"MLFLOW_DISABLE_TELEMETRY": "true", "PATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.strip().splitlines()[-1]) <= 1e-12


def test_model_with_the_iterative_imputer_logs_and_loads(tracker, monkeypatch):
    """skops does not trust scikit-learn's experimental imputer by default (preprocess=iterative)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["age", "bmi", "glucose"])
    frame.loc[::7, "bmi"] = np.nan
    y = (frame["glucose"] > 0).astype(int).to_numpy()
    model = Pipeline([("impute", IterativeImputer(random_state=0)),
                      ("model", NeuralNetClassifier(hidden_layer_sizes=(4,), max_epochs=3, random_state=0))])
    model.fit(frame, y)
    with tracker.run("iterative") as run:
        model_uri = run.log_model(model, {c: str(t) for c, t in frame.dtypes.items()})
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.uri)
    loaded = mlflow.pyfunc.load_model(model_uri)
    np.testing.assert_allclose(loaded.predict(frame), model.predict_proba(frame), atol=1e-12)


def test_regressor_model_predicts_values(tracker, monkeypatch):
    """Also a model holding core objects as parameters, which skops must be told to trust."""
    from pipeline.core.activations import LeakyReLU
    from pipeline.core.optimizers import Nesterov
    from pipeline.core.schedules import Cosine
    from pipeline.estimators import NeuralNetRegressor

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["age", "creatinine"])
    network = NeuralNetRegressor(hidden_layer_sizes=(4,), activation=LeakyReLU(0.1),
                                 optimizer=Nesterov(), learning_rate=Cosine(0.01, 5),
                                 max_epochs=5, random_state=0)
    model = Pipeline([("scale", StandardScaler()), ("model", network)])
    model.fit(frame, frame["age"] - frame["creatinine"])
    with tracker.run("regression") as run:
        model_uri = run.log_model(model, {c: str(t) for c, t in frame.dtypes.items()}, proba=False)
        with pytest.raises(ValueError, match="predict_proba"):
            run.log_model(model, {c: str(t) for c, t in frame.dtypes.items()}, proba=True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.uri)
    loaded = mlflow.pyfunc.load_model(model_uri)
    assert loaded.metadata.signature.outputs.inputs[0].shape == (-1,)
    np.testing.assert_allclose(np.ravel(loaded.predict(frame)), model.predict(frame), atol=1e-12)


# --- provenance -------------------------------------------------------------------------


def test_runtime_tags():
    tags = tracking.runtime_tags()
    assert tags["git_commit"] == "unknown" or tags["git_commit"].split("-")[0].isalnum()
    for name in ("python", "numpy", "pandas", "scikit-learn", "mlflow"):
        assert tags[f"version.{name}"]
    assert all(isinstance(v, str) for v in tags.values())


def test_git_commit_outside_git(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    assert provenance._git_commit() == "unknown"
