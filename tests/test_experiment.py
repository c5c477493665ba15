"""One configuration end to end with MLflow tracking (issue: runner): runs, learning curves,
metrics, artifacts, the pyfunc round trip, failures, fingerprints and no patient values."""

import io
import logging
import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipeline import tracking
from pipeline.config import ConfigError, validate
from pipeline.data import load_dataset
from pipeline.defaults import option_names
from pipeline.experiment import fit_final_model, ineffective_settings, run_experiment
from pipeline.experiment.details import details_deferred, without_details
from tests.conftest import MLFLOW_ENV, compose_config

FAST = ("optimizer.max_epochs=15", "n_bootstrap=100")
POOLED = ("auroc", "auprc", "log_loss", "brier", "calibration_intercept", "calibration_slope",
          "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "mcc")
TUNED = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "mcc")
PLOTS = ("learning_curves", "roc", "precision_recall", "calibration", "decision_curve",
         "confusion_matrix", "probability_histogram", "feature_importance")


def _tracked_run(compose, tmp_path, *overrides):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = validate(compose(*FAST, f"tracking.uri={uri}", *overrides))
    tracker = tracking.Tracker(uri, "biotab-test", tags={"suite": "pytest"})
    return config, uri, run_experiment(config, tracker)


@pytest.fixture(scope="module")
def breast_cancer_run(tmp_path_factory):
    """The default MLP with 5-fold CV on breast cancer, tracked once for this module."""
    saved = {k: os.environ.pop(k) for k in MLFLOW_ENV if k in os.environ}
    config, uri, result = _tracked_run(compose_config, tmp_path_factory.mktemp("store"))
    yield config, uri, result, MlflowClient(uri)
    os.environ.update(saved)


def _children(client, parent):
    experiment = client.get_run(parent).info.experiment_id
    return client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")


def test_parent_run_with_one_nested_run_per_fold(breast_cancer_run):
    config, uri, result, client = breast_cancer_run
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "mlp[64,32] relu ce adam lr=0.001 l2=0.0001 es"
    folds = _children(client, result.run_id)
    assert sorted(r.data.tags["fold"] for r in folds) == ["0", "1", "2", "3", "4"]
    assert all(r.info.status == "FINISHED" for r in folds)
    assert client.get_experiment(parent.info.experiment_id).name == "biotab-test"


def test_learning_curves_have_one_point_per_epoch(breast_cancer_run):
    """The run's per-epoch metrics are the fold means; each fold's curves are in a table."""
    config, uri, result, client = breast_cancer_run
    longest = max(len(f.history["val_loss"]) for f in result.folds)
    for key in ("train_loss", "val_loss", "val_auroc"):
        curve = client.get_metric_history(result.run_id, f"mean_{key}")
        assert [m.step for m in sorted(curve, key=lambda m: m.step)] == list(range(longest))
    first = [m.value for m in sorted(client.get_metric_history(result.run_id, "mean_val_loss"),
                                     key=lambda m: m.step)][0]
    assert first == pytest.approx(np.mean([f.history["val_loss"][0] for f in result.folds]))
    table = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
        f"{client.get_run(result.run_id).info.artifact_uri}/learning_curves.csv")))
    for fold in result.folds:
        rows = table[table["fold"] == fold.index]
        assert list(rows["epoch"]) == list(range(len(fold.history["train_loss"])))
        for key in ("train_loss", "val_loss", "val_auroc", "learning_rate", "grad_norm"):
            assert list(rows[key]) == pytest.approx(fold.history[key], rel=1e-12)
    for run in _children(client, result.run_id):  # folds: final values only
        assert client.get_metric_history(run.info.run_id, "val_loss") == []
        fold = result.folds[int(run.data.tags["fold"])]
        assert run.data.metrics["n_iter"] == len(fold.history["train_loss"])


def test_every_metric_is_logged_with_confidence_intervals(breast_cancer_run):
    config, uri, result, client = breast_cancer_run
    metrics = client.get_run(result.run_id).data.metrics
    for name in POOLED + tuple(f"{m}_tuned" for m in TUNED):
        for suffix in ("", "_ci_low", "_ci_high", "_mean", "_sd"):
            assert f"{name}{suffix}" in metrics, f"{name}{suffix}"
        if np.isfinite(metrics[name]):
            assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"]
    assert metrics["auroc"] == pytest.approx(result.pooled["auroc"]["value"])
    assert metrics["auroc"] > 0.97
    for run in _children(client, result.run_id):
        assert set(POOLED) <= set(run.data.metrics)


def test_every_artifact_is_logged(breast_cancer_run):
    config, uri, result, client = breast_cancer_run
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "oof_predictions.csv", "decision_curve.csv", "feature_names.txt",
            "learning_curves.csv", "feature_importance.csv", "training_schema.json"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {f"plots/{p}.svg" for p in PLOTS}
    for run in _children(client, result.run_id):
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["weights.npz"]
    oof = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
        f"{client.get_run(result.run_id).info.artifact_uri}/oof_predictions.csv")))
    assert list(oof.columns) == ["row", "repeat", "fold", "probability", "threshold", "label"]
    assert sorted(oof["row"]) == list(range(569))
    assert len(client.search_logged_models([client.get_run(result.run_id).info.experiment_id])) == 1


def test_pyfunc_model_reproduces_the_refit_probabilities(breast_cancer_run):
    config, uri, result, client = breast_cancer_run
    experiment = client.get_run(result.run_id).info.experiment_id
    (logged,) = client.search_logged_models([experiment])
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    dataset = load_dataset(config.dataset)
    expected = fit_final_model(config, dataset).predict_proba(dataset.X)
    predicted = loaded.predict(dataset.X)  # with each probability: n_missing, out-of-range
    np.testing.assert_array_equal(predicted["probability"], expected[:, 1])
    assert (predicted["n_missing"] == 0).all()


@pytest.mark.parametrize("sweep_id, overrides, deferred", [
    ("s1", [], True), ("s1", ["sweep_details=all"], False), (None, [], False),
    ("s1", ["tracking=off"], False), ("s1", ["evaluation=fast"], True),
    ("s1", ["evaluation=fast", "tracking.log_model=false"], False)])
def test_only_a_tracked_sweep_with_sweep_details_best_defers_importance_and_model(
        compose, sweep_id, overrides, deferred):
    config = validate(compose(*overrides))
    config.sweep_id = sweep_id
    assert details_deferred(config) is deferred
    running = without_details(config)
    assert (running.evaluation.importance, running.tracking.log_model) == (False, False)
    assert config.sweep_details == ("all" if "sweep_details=all" in overrides else "best")


def test_no_feature_value_is_logged(compose, tmp_path, isolated_mlflow):
    """Distinctive per-patient values (9 decimals, unique ids) must not appear anywhere."""
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({
        "marker_a": np.round(rng.normal(50, 10, n), 9),
        "marker_b": np.round(rng.normal(5, 1, n), 9),
        "outcome": rng.integers(0, 2, n),
    })
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    config, uri, result = _tracked_run(
        compose, tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.target=outcome",
        "preprocess.numeric_imputer=mean")
    needles = {f"{v:.9f}".rstrip("0") for v in frame[["marker_a", "marker_b"]].to_numpy().ravel()}
    haystack = _everything_logged(MlflowClient(uri), result.run_id, tmp_path)
    found = [v for v in needles if v in haystack]
    assert not found, f"feature values logged: {found[:3]}"


def _everything_logged(client, run_id, tmp_path):
    runs = [client.get_run(run_id)] + list(_children(client, run_id))
    parts = []
    for run in runs:
        parts += [str(v) for v in run.data.params.values()]
        parts += [f"{k}={v}" for k, v in run.data.tags.items()]
        parts += list(run.data.metrics)
        local = client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
        for root, _, files in os.walk(local):
            for name in files:
                parts.append(open(os.path.join(root, name), "rb").read().decode("latin-1"))
    return "\n".join(parts)


def test_dataset_fingerprint_follows_the_data(compose, tmp_path, isolated_mlflow):
    path = tmp_path / "cohort.csv"
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.integers(0, 2, 60)})
    frame.to_csv(path, index=False)
    raw = compose("dataset=csv", f"dataset.path={path}", "dataset.target=y")
    first = load_dataset(raw["dataset"]).fingerprint
    assert load_dataset(raw["dataset"]).fingerprint == first
    frame.loc[3, "x"] += 1.0
    frame.to_csv(path, index=False)
    assert load_dataset(raw["dataset"]).fingerprint != first


def test_a_failing_run_is_failed_in_mlflow_with_its_reason(compose, tmp_path, isolated_mlflow):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(FileNotFoundError):
        _tracked_run(compose, tmp_path, "dataset=csv", f"dataset.path={missing}", "dataset.target=y")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("biotab-test").experiment_id])
    assert run.info.status == "FAILED"
    assert "nowhere.csv" in run.data.tags["failure_reason"]


def test_dropout_without_hidden_units_is_flagged_where_its_identical_result_is_read(
        compose, tmp_path, isolated_mlflow, caplog):
    with caplog.at_level(logging.WARNING, logger="biotab"):
        _, uri, result = _tracked_run(compose, tmp_path, "model=logistic", "regularization=dropout")
    tags = MlflowClient(uri).get_run(result.run_id).data.tags
    said = ineffective_settings(validate(compose("model=logistic", "regularization=dropout")))
    assert said[0].startswith("regularization.dropout=0.2 has no effect")
    assert tags["biotab.notes"].startswith(said[0]) and said[0] in caplog.text
    assert said[0] in tags["mlflow.note.content"]  # the description, under the results
    assert ineffective_settings(validate(compose("model=mlp", "regularization=dropout"))) == []
    assert ineffective_settings(validate(compose("model=logistic", "regularization=l2"))) == []


def test_misspelt_key_is_rejected_before_training(compose):
    raw = compose("+optimizer.lerning_rate=0.1")
    with pytest.raises(ConfigError, match=r"optimizer.lerning_rate .*Did you mean 'optimizer.learning_rate'"):
        validate(raw)


@pytest.mark.parametrize("override,message", [
    ("model.activation=gelu", r"model.activation='gelu' is not valid; choose one of \['identity'"),
    ("optimizer.batch_size=big", r"optimizer.batch_size must be of type int"),
    ("objective=accuracy_score", r"objective='accuracy_score' is not valid"),
    ("optimizer.schedule.name=warmup", r"optimizer.schedule.name='warmup' is not valid"),
    ("+model.depth=3", r"model.depth is not a known configuration key"),
    ("+dataset.targett=y", r"dataset.targett is not a known configuration key"),
    ("+split.n_split=3", r"Did you mean 'split.n_splits'"),
])
def test_invalid_values_name_the_key_and_the_choices(compose, override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose(override))


def test_every_option_of_every_group_composes_and_validates(compose):
    for group in ("dataset", "preprocess", "split", "model", "loss", "optimizer",
                  "regularization", "tracking", "calibration", "evaluation"):
        for option in option_names(group):
            overrides = [f"{group}={option}"]
            if option == "csv":
                overrides += ["dataset.path=x.csv", "dataset.target=y"]
            validate(compose(*overrides))


@pytest.mark.parametrize("overrides,message", [
    ((), r"objective=auroc is not a regression metric; .*\['rmse', 'mae', 'r2'\]"),
    (("objective=r2",), r"loss=cross_entropy needs a classification target"),
])
def test_settings_that_do_not_fit_the_target_fail_before_training(compose, tmp_path, overrides, message):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=50), "length_of_stay": rng.gamma(2.0, 3.0, 50)})
    path = tmp_path / "stay.csv"
    frame.to_csv(path, index=False)
    config = validate(compose("dataset=csv", f"dataset.path={path}", "dataset.target=length_of_stay",
                              "tracking=off", *overrides))
    with pytest.raises(ConfigError, match=message):
        run_experiment(config)


def test_regression_and_multiclass_tables_run_end_to_end(compose, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "stay": 3 + 2 * x[:, 0] + rng.normal(0, 0.1, 150),
                          "stage": np.digitize(x[:, 1], [-0.5, 0.5])})
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    common = ("dataset=csv", f"dataset.path={path}", "tracking=off", "n_bootstrap=50",
              "optimizer.learning_rate=0.01")
    regression = run_experiment(validate(compose(*common, "dataset.target=stay", "dataset.drop=[stage]",
                                                 "loss=squared_error", "objective=r2")))
    assert regression.task == "regression" and regression.objective > 0.9
    multiclass = run_experiment(validate(compose(*common, "dataset.target=stage", "dataset.drop=[stay]",
                                                 "dataset.task=multiclass", "objective=macro_auroc")))
    assert multiclass.task == "multiclass" and multiclass.objective > 0.9


def test_failure_reason_in_mlflow_names_the_column_but_not_patient_values(compose, tmp_path,
                                                                         isolated_mlflow):
    path = tmp_path / "cohort.csv"
    path.write_text("age,outcome\n61,1\n72,0\nseventy-one,1\n55,0\n")
    with pytest.raises(ValueError, match=r"e\.g\. \['seventy-one'\]"):  # the terminal shows it
        _tracked_run(compose, tmp_path, "dataset=csv", f"dataset.path={path}",
                     "dataset.target=outcome", "dataset.categorical=[]")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("biotab-test").experiment_id])
    reason = run.data.tags["failure_reason"]
    assert "column 'age'" in reason and "non-numeric" in reason
    assert "seventy-one" not in reason


def test_data_warnings_reach_the_run_and_another_cohort_of_the_same_name_is_flagged(
        compose, tmp_path, isolated_mlflow):
    rng = np.random.default_rng(0)
    for cohort in ("a", "b"):
        (tmp_path / cohort).mkdir()
        x = rng.normal(size=(300, 2))
        y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
        frame = pd.DataFrame({"record": np.arange(300) * 7 + 3, "x1": x[:, 0], "x2": x[:, 1], "y": y})
        frame.sort_values("y").to_csv(tmp_path / cohort / "cohort.csv", index=False)
    tags = []
    for cohort in ("a", "b"):
        _, uri, result = _tracked_run(compose, tmp_path, "dataset=csv", "dataset.target=y",
                                      f"dataset.path={tmp_path / cohort}/cohort.csv",
                                      "model=logistic", "evaluation=fast")
        tags.append(MlflowClient(uri).get_run(result.run_id).data.tags)
    assert "column 'record' holds a different whole number on every row" in tags[0]["warning.data"]
    assert "other data" not in tags[0]["warning.data"]
    assert ("already holds runs of dataset 'csv' on other data (1 other fingerprint(s))"
            in tags[1]["warning.data"])
    assert "**Warning:** data: column 'record'" in tags[1]["mlflow.note.content"]


@pytest.mark.parametrize("overrides", [(), ("model=logistic",), ("regularization=dropout",),
                                       ("preprocess.imbalance=oversample", "regularization=l1")])
def test_folds_trained_in_lock_step_equal_each_fold_fitted_alone(compose, overrides):
    from pipeline.experiment.estimator import build_estimator
    from pipeline.experiment.folds import inner_split
    from pipeline.preprocessing import build_preprocessor, oversample
    from pipeline.splits import outer_splits

    config = validate(compose("optimizer.max_epochs=20", "n_bootstrap=0", "split.n_splits=3",
                              "tracking.enabled=false", "evaluation=fast", *overrides))
    dataset = load_dataset(config.dataset)
    result = run_experiment(config, None)
    splits = outer_splits(config.split, dataset.y, dataset.groups, config.seed)
    for fold, (train, test) in zip(result.folds, splits, strict=True):
        seed = config.seed + fold.index
        fit_rows, val_rows = inner_split(config, dataset, train, seed)
        pre = build_preprocessor(config.preprocess, dataset.numeric, dataset.categorical)
        X_fit, y_fit = pre.fit_transform(dataset.X.iloc[fit_rows]), dataset.y[fit_rows]
        if config.preprocess.get("imbalance") == "oversample":
            X_fit, y_fit = oversample(X_fit, y_fit, np.random.default_rng(seed))
        alone = build_estimator(config, dataset.task, seed).fit(
            X_fit, y_fit, validation_data=(pre.transform(dataset.X.iloc[val_rows]), dataset.y[val_rows]))
        np.testing.assert_array_equal(fold.prediction,
                                      alone.predict_proba(pre.transform(dataset.X.iloc[test]))[:, 1])
        assert fold.history["val_loss"] == alone.history_["val_loss"]
