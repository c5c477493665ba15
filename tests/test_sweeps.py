"""Real multiruns (slow): joblib, a local MLflow server, submitit, Optuna with a diverging
trial. Each sweep logs into its own fresh store and must lose no run."""

import contextlib
import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from tests.conftest import MLFLOW_ENV, PROJECT_ROOT

pytestmark = pytest.mark.slow
FAST = ["optimizer.max_epochs=3", "n_bootstrap=20", "tracking.log_plots=false"]
GRID = ["model=logistic,mlp", "loss=cross_entropy,squared_error", "regularization=none,l2"]


def _sweep(tmp_path, *overrides, uri=None, env=None, returncode=0):
    uri = uri or f"sqlite:///{tmp_path}/mlflow.db"
    clean = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *overrides, *FAST,
         f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/multirun"],
        cwd=PROJECT_ROOT, text=True, capture_output=True, timeout=900,
        env={**clean, **(env or {})},
    )
    assert result.returncode == returncode, result.stderr[-3000:]
    return MlflowClient(uri), result


def _runs(client, experiment="breast_cancer"):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=1000)


def _assert_grouped_and_finished(client, n_configurations, experiment="breast_cancer"):
    runs = _runs(client, experiment)
    (sweep,) = [r for r in runs if r.data.tags.get("biotab.role") == "sweep"]
    configurations = [r for r in runs if r.data.tags.get("biotab.role") == "configuration"]
    folds = [r for r in runs if r.data.tags.get("biotab.role") == "fold"]
    assert len(configurations) == n_configurations
    assert len(folds) == 5 * n_configurations
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["mlflow.parentRunId"] for r in configurations} == {sweep.info.run_id}
    assert {r.data.tags["sweep_id"] for r in configurations + folds} == {sweep.data.tags["sweep_id"]}
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])
    return sweep, configurations


def test_joblib_sweep_logs_every_run_into_one_store(tmp_path):
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *GRID)
    sweep, configurations = _assert_grouped_and_finished(client, 8)
    assert sweep.data.tags["n_failed"] == "0"
    assert len({r.info.run_name for r in configurations}) == 8
    assert "8 configurations, 0 failed" in result.stdout
    recorded = json.loads((tmp_path / "multirun" / "mlflow_sweep.json").read_text())
    assert (recorded["status"], recorded["run_id"]) == ("open", sweep.info.run_id)


def test_joblib_sweep_without_tracking_runs_every_job(tmp_path):
    """The workers warm up while the jobs are launched: nothing waits for a store."""
    _, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "model=logistic,mlp", "loss=cross_entropy,squared_error", "tracking=off")
    assert result.stdout.count("done: ") == 4
    assert "logging to" not in result.stdout
    assert not (tmp_path / "multirun" / "mlflow_sweep.json").exists()


def test_a_store_that_cannot_take_the_sweep_stops_every_job_before_it_starts(tmp_path):
    """A worker opens the sweep run while the jobs are launched: each job waits for it and,
    when it cannot be opened, stops with the reason; the sweep exits with it too."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    client.delete_experiment(client.create_experiment("breast_cancer"))
    _, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "model=logistic,mlp", returncode=1)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not open the sweep in MLflow") and "is deleted" in last
    output = result.stdout + result.stderr
    assert output.count("error: SweepNotOpened: could not open the sweep in MLflow") == 2  # each job
    assert output.count("job not started: SweepNotOpened: could not open") == 2
    assert "the sweep goes on" not in output
    assert "done: " not in result.stdout
    assert not client.search_runs([client.get_experiment_by_name("breast_cancer").experiment_id],
                                  run_view_type=3)  # no run at all, deleted or not


def test_a_sweep_in_which_every_job_fails_exits_non_zero(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "dataset=pima", "model=logistic,mlp", returncode=1,
                            env={"BIOTAB_DATA_DIR": str(empty)})
    assert "no configuration of the sweep finished" in result.stderr
    assert "2 configurations, 2 failed" in result.stdout
    (sweep,) = [r for r in _runs(client, "pima") if r.data.tags.get("biotab.role") == "sweep"]
    assert sweep.info.status == "FAILED"


def test_a_failing_job_loses_no_other_run_and_is_reported(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "dataset=breast_cancer,pima", "model=logistic,mlp",
                            "tracking.experiment=mixed", env={"BIOTAB_DATA_DIR": str(empty)})
    runs = _runs(client, "mixed")
    configurations = [r for r in runs if r.data.tags.get("biotab.role") == "configuration"]
    status = sorted((r.data.params["dataset.name"], r.info.status) for r in configurations)
    assert status == [("breast_cancer", "FINISHED")] * 2 + [("pima", "FAILED")] * 2
    (sweep,) = [r for r in runs if r.data.tags.get("biotab.role") == "sweep"]
    assert sweep.info.status == "FINISHED" and sweep.data.tags["n_failed"] == "2"
    assert "pima-indians-diabetes.csv" in sweep.data.tags["failed_jobs"]
    assert result.stdout.count("FAILED") >= 2


def test_sweep_through_a_local_mlflow_server(tmp_path, mlflow_server):
    client, _ = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *GRID,
                       uri=mlflow_server)
    _assert_grouped_and_finished(client, 8)


def test_submitit_local_runs_a_two_job_sweep(tmp_path):
    client, _ = _sweep(tmp_path, "hydra/launcher=local_processes", "model=logistic,mlp")
    _assert_grouped_and_finished(client, 2)


DIVERGING_SEARCH = """# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /hydra/sweeper/sampler: random
hydra:
  mode: MULTIRUN
  sweeper:
    direction: maximize
    n_trials: 4
    n_jobs: 2
    sampler:
      seed: 0              # draws 1e300, 0.1, 1e300, 1e300
    params:
      optimizer.learning_rate: choice(0.1, 1e300)
"""


def test_optuna_search_survives_a_diverging_trial(tmp_path):
    """The project's search file composes with the optuna sweeper (tests/test_train.py); here
    a search space with a learning rate that overflows: its trials fail, the study finishes."""
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    (tmp_path / "conf" / "hparams_search" / "diverging.yaml").write_text(DIVERGING_SEARCH)
    client, result = _sweep(tmp_path, "--config-dir", str(tmp_path / "conf"),
                            "hparams_search=diverging", "optimizer=gd")
    runs = _runs(client)
    configurations = [r for r in runs if r.data.tags.get("biotab.role") == "configuration"]
    assert len(configurations) == 4
    failed = [r for r in configurations if r.info.status == "FAILED"]
    assert failed and all("diverged" in r.data.tags["failure_reason"] for r in failed)
    assert any(r.info.status == "FINISHED" for r in configurations)
    best = (tmp_path / "multirun" / "optimization_results.yaml").read_text()
    assert "best_value" in best and "learning_rate: 0.1" in best


def test_sweep_report_is_written_next_to_the_sweep_and_attached(tmp_path):
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "model=logistic,mlp")
    report = tmp_path / "multirun" / "report"
    assert {"report.html", "leaderboard.md", "leaderboard.csv"} <= {p.name for p in report.iterdir()}
    sweep, configurations = _assert_grouped_and_finished(client, 2)
    attached = {a.path for a in client.list_artifacts(sweep.info.run_id, "report")}
    assert "report/report.html" in attached
    for run in configurations:
        assert run.info.run_name in (report / "leaderboard.md").read_text()


def test_a_best_configuration_whose_model_cannot_be_logged_keeps_its_importance_and_stays_deferred(
        tmp_path):
    """The sweep's end adds the best configuration's two deferred parts in two workers and
    marks the run completed only once both are in. Here the model cannot be stored (the
    experiment's folder for logged models is a file): the importance is still added, the
    run stays "deferred" with a warning that says what to do, and the sweep ends well."""
    from pipeline import report

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "models").write_text("not a folder")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.create_experiment("breast_cancer", artifact_location=artifacts.as_uri())
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "model=logistic,mlp")
    sweep, configurations = _assert_grouped_and_finished(client, 2)
    assert [r.data.tags["biotab.details"] for r in configurations] == ["deferred", "deferred"]
    board = report.leaderboard(f"sqlite:///{tmp_path}/mlflow.db", sweep.data.tags["sweep_id"])
    best_id = board.loc[0, "run_id"]
    assert "feature_importance.csv" in {a.path for a in client.list_artifacts(best_id)}
    (model,) = client.search_logged_models([experiment_id])  # MLflow records the attempt
    assert (model.source_run_id, model.status) == (best_id, LoggedModelStatus.FAILED)
    output = result.stdout + result.stderr
    assert "could not add the best configuration's model" in output
    assert "rerun it alone, or the sweep with sweep_details=all" in output
    assert "2 configurations, 0 failed" in result.stdout


def test_the_best_configuration_alone_gets_importance_and_model_at_the_sweeps_end(tmp_path, compose):
    """sweep_details=best (the default): the jobs skip permutation importance and the model;
    the sweep's end adds both to the leaderboard's best run, equal to what a single run of
    that configuration computes (its folds trained again give the same numbers)."""
    from pipeline import report
    from pipeline.config import validate
    from pipeline.data import load_dataset
    from pipeline.experiment import fit_final_model, run_experiment
    from pipeline.tracking.lookup import load_model

    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "model=logistic,mlp")
    sweep, configurations = _assert_grouped_and_finished(client, 2)
    board = report.leaderboard(f"sqlite:///{tmp_path}/mlflow.db", sweep.data.tags["sweep_id"])
    best_id = board.loc[0, "run_id"]
    (best,) = [r for r in configurations if r.info.run_id == best_id]
    (other,) = [r for r in configurations if r.info.run_id != best_id]
    assert (best.data.tags["biotab.details"], other.data.tags["biotab.details"]) == ("completed", "deferred")
    assert "feature_importance.csv" in {a.path for a in client.list_artifacts(best_id)}
    assert "feature_importance.csv" not in {a.path for a in client.list_artifacts(other.info.run_id)}
    (model,) = client.search_logged_models([best.info.experiment_id])
    assert model.source_run_id == best_id and model.name == best.info.run_name
    assert "auroc_ci_low" in {m.key for m in model.metrics}
    with pytest.raises(ValueError, match="other than its best.*rerun this configuration alone"):
        load_model(f"sqlite:///{tmp_path}/mlflow.db", other.info.run_id)

    model_name = best.data.params["model.name"]
    config = validate(compose("model=" + model_name, *FAST, "tracking=off"))
    alone = run_experiment(config)
    logged = client.download_artifacts(best_id, "feature_importance.csv", str(tmp_path))
    importance = pd.read_csv(logged).set_index("variable")
    expected = alone.extras.importance.set_index("variable")
    np.testing.assert_allclose(importance.loc[expected.index, ["importance", "ci_low", "ci_high"]],
                               expected[["importance", "ci_low", "ci_high"]], rtol=0, atol=1e-12)
    dataset = load_dataset(config.dataset)
    with mlflow_uri(f"sqlite:///{tmp_path}/mlflow.db"):
        loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    # To rounding: the sweep's workers run one BLAS thread, this process several.
    np.testing.assert_allclose(loaded.predict(dataset.X)["probability"],
                               fit_final_model(config, dataset).predict_proba(dataset.X)[:, 1],
                               rtol=1e-12, atol=0)
    # The two parts at once, one per worker (in_workers: see test_sweep_opening.py).
    assert "computing its importance" in result.stdout and "computing its model" in result.stdout
    with pytest.raises(ValueError, match=r"its best configuration only \(sweep_details=best\)"):
        load_model(f"sqlite:///{tmp_path}/mlflow.db", other.info.run_id)


def test_a_regression_sweep_is_ranked_by_rmse_and_its_best_gets_importance_and_model(tmp_path):
    """The leaderboard, the report and the sweep-end details go by the task's main metric:
    rmse (lower is better) for a continuous outcome, where auroc was never logged."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "stay": 3 + 2 * x[:, 0] + rng.normal(0, 0.1, 150)}
                 ).to_csv(tmp_path / "cohort.csv", index=False)
    client, result = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                            "dataset=csv", f"dataset.path={tmp_path / 'cohort.csv'}",
                            "dataset.target=stay", "loss=squared_error", "objective=r2",
                            "model=logistic,mlp", "optimizer.max_epochs=20")
    assert "ranked by pooled out-of-fold rmse (lower is better)" in result.stdout
    assert (tmp_path / "multirun" / "report" / "report.html").exists()
    runs = [r for r in _runs(client, "cohort") if r.data.tags.get("biotab.role") == "configuration"]
    (best,) = [r for r in runs if r.data.tags["biotab.details"] == "completed"]
    assert best.data.metrics["rmse"] == min(r.data.metrics["rmse"] for r in runs)
    assert "feature_importance.csv" in {a.path for a in client.list_artifacts(best.info.run_id)}
    (model,) = client.search_logged_models([best.info.experiment_id])
    assert model.source_run_id == best.info.run_id


@contextlib.contextmanager
def mlflow_uri(uri):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]


EXPERIMENTS = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "experiment").glob("*.yaml"))
TINY = ["optimizer.max_epochs=2", "split=holdout", "tracking.log_model=false"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_file_runs_as_a_real_multirun(tmp_path, experiment, shared_datasets_dir):
    """Each sweep file of conf/experiment/ runs as written (tiny epochs, one hold-out fold):
    every configuration it defines is a FINISHED run of its sweep (the optimizer sweep's
    deliberately large learning rates may diverge: those are FAILED, saying so)."""
    env = {"BIOTAB_DATA_DIR": str(shared_datasets_dir)}  # the datasets sweep reads every table
    client, result = _sweep(tmp_path, f"experiment={experiment}", "hydra/launcher=joblib",
                            "hydra.launcher.n_jobs=2", *TINY, env=env)
    sweeps = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
              if r.data.tags.get("biotab.role") == "sweep"]
    assert len(sweeps) == 1
    sweep_id = sweeps[0].data.tags["sweep_id"]
    runs = [r for e in client.search_experiments() for r in client.search_runs(
        [e.experiment_id], f"tags.sweep_id = '{sweep_id}' and tags.`biotab.role` = 'configuration'",
        max_results=1000)]
    configured = yaml.safe_load((PROJECT_ROOT / "conf" / "experiment" / f"{experiment}.yaml").read_text())
    expected = 1
    for values in configured["hydra"]["sweeper"]["params"].values():
        expected *= len(str(values).split(",")) if not str(values).startswith("[") else len(
            str(values).split("],["))
    assert len(runs) == expected, result.stdout[-2000:]
    for run in runs:
        diverged = "TrainingDivergedError" in run.data.tags.get("failure_reason", "")
        assert run.info.status == "FINISHED" or (experiment == "optimizer" and diverged), (
            run.info.run_name, run.data.tags.get("failure_reason"))
