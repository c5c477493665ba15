"""External validation (``python -m pipeline.validate``): a logged model applied to another
table, scored against scikit-learn on the model loaded back independently; schema checks with
clear messages; model updating fitted on one part of the new table and scored on the rest;
the validation run linked to its model run; and the report's sections on all of it."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pipeline import PROJECT_ROOT, tracking
from pipeline.config import ConfigError, validate
from pipeline.data import load_dataset
from pipeline.evaluation.schema import check_table, training_schema
from pipeline.experiment import run_experiment
from pipeline.metrics.common import logit
from pipeline.validate import main, parse_args, positive_probability

FAST = ("n_bootstrap=100", "model=logistic", "calibration=platt", "evaluation.importance_repeats=2",
        "evaluation.subgroups=[sex]")


def cohort(rng, n, shift=0.0, age_scale=1.0):
    sex = rng.choice(["female", "male"], n)
    age = rng.uniform(30, 85, n)
    marker = rng.normal(size=n)
    risk = 1.6 * marker + 0.04 * (age - 60) + np.where(sex == "male", 0.5, 0.0) - 0.4 + shift
    y = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
    return pd.DataFrame({"sex": sex, "age": age * age_scale, "marker": marker, "outcome": y})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A model run trained on one cohort, and a second cohort with a higher baseline risk."""
    import os

    from tests.conftest import MLFLOW_ENV, compose_config

    saved = {k: os.environ.pop(k) for k in MLFLOW_ENV if k in os.environ}
    folder = tmp_path_factory.mktemp("validation")
    rng = np.random.default_rng(8)
    cohort(rng, 500).to_csv(folder / "development.csv", index=False)
    cohort(rng, 400, shift=1.0).to_csv(folder / "external.csv", index=False)
    uri = f"sqlite:///{folder}/mlflow.db"
    config = validate(compose_config(*FAST, "dataset=csv", f"dataset.path={folder / 'development.csv'}",
                                     "dataset.target=outcome", f"tracking.uri={uri}"))
    result = run_experiment(config, tracking.Tracker(uri, "development"))
    result.config = config
    yield folder, uri, result
    os.environ.update(saved)


def validate_cli(folder, uri, run_id, *extra, table="external.csv"):
    return main([f"model_run={run_id}", "dataset=csv", f"dataset.path={folder / table}",
                 "dataset.target=outcome", f"uri={uri}", "n_bootstrap=100", *extra])


def validation_runs(uri, run_id):
    return [r for r in tracking.search_runs(uri, tags={"biotab.role": "validation"})
            if r["tags"]["validates"] == run_id]


def validate_dataset_cfg(folder, table="external.csv"):
    from pipeline.launch.compose import compose_config

    overrides = ["dataset=csv", f"dataset.path={folder / table}", "dataset.target=outcome"]
    return compose_config(overrides)["dataset"]


def test_validation_run_scores_the_logged_model_as_scikit_learn_does(store, capsys):
    folder, uri, result = store
    assert validate_cli(folder, uri, result.run_id) == 0
    assert "validation run" in capsys.readouterr().out
    [run] = validation_runs(uri, result.run_id)
    assert run["status"] == "FINISHED" and run["experiment"] == "development"
    external = load_dataset(validate_dataset_cfg(folder))
    # the model loaded back through MLflow's pyfunc flavour, independently of pipeline.validate
    import mlflow

    client = mlflow.MlflowClient(uri)
    [logged] = client.search_logged_models([run["experiment_id"]],
                                           filter_string=f"source_run_id = '{result.run_id}'")
    mlflow.set_tracking_uri(uri)
    try:
        output = mlflow.pyfunc.load_model(f"models:/{logged.model_id}").predict(external.X)
    finally:
        mlflow.set_tracking_uri(None)
    p = np.asarray(output["probability"] if isinstance(output, pd.DataFrame) else output[:, 1], float)
    # the logged model is the recalibrated one (calibration=platt), calibrator included
    from pipeline.experiment import fit_final_model

    refit = fit_final_model(result.config, load_dataset(result.config.dataset))
    assert result.run_name.endswith(" platt") and refit.method == "platt"
    np.testing.assert_allclose(p, refit.predict_proba(external.X)[:, 1], atol=1e-12)
    m = run["metrics"]
    assert m["auroc"] == pytest.approx(roc_auc_score(external.y, p), abs=1e-12)
    offset = brentq(lambda a: np.sum(external.y - 1 / (1 + np.exp(-(a + logit(p))))), -20, 20, xtol=1e-14)
    assert m["calibration_intercept"] == pytest.approx(offset, abs=1e-7)
    assert m["calibration_intercept"] > 0.4  # the new cohort's risk is higher: the shift is seen
    threshold = result.summary["threshold_median"]
    positive = p >= threshold
    assert m["sensitivity_tuned"] == pytest.approx(positive[external.y == 1].mean())
    assert m["auroc_ci_low"] < m["auroc"] < m["auroc_ci_high"]
    (scored,) = client.get_run(run["run_id"]).inputs.dataset_inputs
    assert {(t.key, t.value) for t in scored.tags} == {("mlflow.data.context", "evaluation")}
    assert scored.dataset.digest == external.fingerprint[:16]
    names = {a.path for a in client.list_artifacts(run["run_id"])}
    assert {"schema_check.csv", "validation_predictions.csv", "decision_curve.csv", "subgroups.csv"} <= names
    plots = {a.path for a in client.list_artifacts(run["run_id"], "plots")}
    assert {"plots/calibration.svg", "plots/roc.svg", "plots/decision_curve.svg"} <= plots
    predictions = pd.read_csv(tracking.download_artifact(uri, run["run_id"], "validation_predictions.csv",
                                                         folder / "download"))
    assert list(predictions.columns) == ["row", "probability", "label"]  # no feature values


def test_intercept_update_is_fitted_on_one_part_and_scored_on_the_other(store):
    folder, uri, result = store
    assert validate_cli(folder, uri, result.run_id, "update=intercept", "update_fraction=0.4") == 0
    run = [r for r in validation_runs(uri, result.run_id) if r["tags"]["update"] == "intercept"][-1]
    frame = pd.read_csv(tracking.download_artifact(uri, run["run_id"], "validation_predictions.csv",
                                                   folder / "intercept"))
    external = load_dataset(validate_dataset_cfg(folder))
    evaluated = frame["row"].to_numpy()
    update = np.setdiff1d(np.arange(len(external.y)), evaluated)
    assert len(update) == pytest.approx(0.4 * len(external.y), abs=3)
    assert abs(external.y[update].mean() - external.y[evaluated].mean()) < 0.03  # stratified
    from pipeline.tracking.lookup import load_model

    p = positive_probability(load_model(uri, result.run_id), external.X)
    a = brentq(lambda c: np.sum(external.y[update] - 1 / (1 + np.exp(-(c + logit(p[update]))))), -20, 20,
               xtol=1e-14)
    expected = 1 / (1 + np.exp(-(a + logit(p[evaluated]))))
    np.testing.assert_allclose(frame["probability"], expected, atol=1e-9)
    np.testing.assert_allclose(frame["probability_original"], p[evaluated], atol=1e-12)
    m = run["metrics"]
    assert abs(m["calibration_intercept"]) < abs(m["original_calibration_intercept"])
    assert m["auroc"] == pytest.approx(m["original_auroc"])  # a monotone update keeps the ranking


def test_logistic_update_matches_scikit_learn_on_the_updating_part(store):
    folder, uri, result = store
    assert validate_cli(folder, uri, result.run_id, "update=logistic") == 0
    run = [r for r in validation_runs(uri, result.run_id) if r["tags"]["update"] == "logistic"][-1]
    frame = pd.read_csv(tracking.download_artifact(uri, run["run_id"], "validation_predictions.csv",
                                                   folder / "logistic"))
    external = load_dataset(validate_dataset_cfg(folder))
    update = np.setdiff1d(np.arange(len(external.y)), frame["row"])
    from pipeline.tracking.lookup import load_model

    p = positive_probability(load_model(uri, result.run_id), external.X)
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        logit(p[update])[:, None], external.y[update])
    expected = reference.predict_proba(logit(frame["probability_original"].to_numpy())[:, None])[:, 1]
    np.testing.assert_allclose(frame["probability"], expected, atol=1e-6)


def test_the_report_gains_recalibration_importance_subgroup_and_validation_sections(store):
    from pipeline.report import build_report

    folder, uri, result = store
    if not validation_runs(uri, result.run_id):
        assert validate_cli(folder, uri, result.run_id) == 0
    out, _ = build_report(uri, experiment="development", out_dir=folder / "report")
    page = (out / "report.html").read_text()
    for heading in ("Recalibration", "Permutation importance of the best configuration",
                    "Subgroups of the best configuration", "External validation"):
        assert f"<h2>{heading}</h2>" in page
    for heading in ("Recalibration", "Feature importance", "Performance in subgroups", "External validation"):
        assert f"<h3>{heading}</h3>" in page
    assert "Largest AUROC gap between subgroups: sex" in page
    assert "external validation on other tables follows below" in page
    assert "internal validation only" not in page


# --- schema checks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(store):
    folder, _, _ = store
    return training_schema(load_dataset(validate_dataset_cfg(folder, "development.csv")))


def test_the_kept_schema_holds_percentiles_and_hashed_levels_only(schema, store):
    folder, _, _ = store
    text = json.dumps(schema)
    assert "female" not in text and "male" not in text
    development = pd.read_csv(folder / "development.csv")
    age = next(c for c in schema["columns"] if c["name"] == "age")
    assert age["percentiles"]["0.5"] > development["age"].min()  # never the extremes
    assert age["percentiles"]["99.5"] < development["age"].max()


def test_a_missing_column_is_an_error_with_a_suggestion(schema, store):
    folder, _, _ = store
    X = load_dataset(validate_dataset_cfg(folder)).X.rename(columns={"marker": "markers"})
    [finding] = [f for f in check_table(schema, X, ["age", "markers"]) if f["severity"] == "error"]
    assert finding["check"] == "missing column"
    assert "'marker'" in finding["message"] and "Did you mean 'markers'" in finding["message"]


def test_other_units_are_an_error_and_new_levels_a_warning(schema, store):
    folder, _, _ = store
    X = load_dataset(validate_dataset_cfg(folder)).X
    X = X.assign(age=X["age"] * 12, sex=X["sex"].replace({"male": "M"}))  # months; a new code
    findings = {f["check"]: f for f in check_table(schema, X, ["age", "marker"])}
    assert findings["units"]["severity"] == "error"
    assert re.search(r"median 1[12]\.\d times the training median", findings["units"]["message"])
    assert findings["levels"]["severity"] == "warning"
    message = findings["levels"]["message"]
    assert "1 level(s) not seen" in message and "'M'" not in message


def test_a_numeric_column_read_as_text_is_an_error(schema, store):
    folder, _, _ = store
    X = load_dataset(validate_dataset_cfg(folder)).X
    X = X.assign(age=X["age"].map(lambda v: f"{v:.1f} y"))
    [finding] = [f for f in check_table(schema, X, ["marker"]) if f["severity"] == "error"]
    assert finding["check"] == "kind" and "holds text" in finding["message"]


def test_schema_errors_stop_the_command_unless_told_to_warn(store, capsys, tmp_path):
    folder, uri, result = store
    months = pd.read_csv(folder / "external.csv").assign(age=lambda f: f["age"] * 12)
    months.to_csv(folder / "months.csv", index=False)
    before = len(validation_runs(uri, result.run_id))
    assert validate_cli(folder, uri, result.run_id, table="months.csv") == 1
    assert "other units or another coding" in capsys.readouterr().err
    assert len(validation_runs(uri, result.run_id)) == before
    assert validate_cli(folder, uri, result.run_id, "schema=warn", table="months.csv") == 0
    assert len(validation_runs(uri, result.run_id)) == before + 1


def test_a_run_without_its_schema_file_is_checked_for_its_columns_only():
    """Older runs keep no training_schema.json: their columns' kinds are unknown, so a column
    is neither range- nor level-checked (no false 'levels not seen in training')."""
    schema = {"columns": [{"name": "age", "kind": "unknown"}, {"name": "sex", "kind": "unknown"}]}
    X = pd.DataFrame({"age": [61.0, 70.0], "sex": ["f", "m"]})
    assert check_table(schema, X, ["age"]) == []
    assert [f["column"] for f in check_table(schema, X[["age"]], ["age"])] == ["sex"]  # missing


@pytest.mark.parametrize("argv,message", [
    (["dataset=pima"], "model_run=<run id> is required"),
    (["model_run=abc"], "dataset=<name> is required"),
    (["model_run=abc", "dataset=pima", "update=slope"], "update='slope' is not valid"),
    (["model_run=abc", "dataset=pima", "updte=none"], "Did you mean 'update'"),
    (["model_run=abc", "dataset=pima", "update=intercept", "update_fraction=1"], "strictly between"),
    (["model_run", "dataset=pima"], "is not key=value"),
    (["model_run=abc", "dataset=pima", "update_fraction=half"], r"update_fraction='half' is not a number"),
    (["model_run=abc", "dataset=pima", "seed=1.5"], r"seed='1.5' is not a whole number; e.g. seed=0"),
])
def test_arguments_are_checked_with_a_clear_message(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_args(argv)


def test_an_unknown_run_or_a_fold_run_is_named(store, capsys):
    folder, uri, result = store
    assert validate_cli(folder, uri, "0" * 32) == 1
    assert "no run '00000000000000000000000000000000'" in capsys.readouterr().err
    fold = tracking.search_runs(uri, tags={"biotab.role": "fold"})[0]
    assert validate_cli(folder, uri, fold["run_id"]) == 1
    assert "is a fold run" in capsys.readouterr().err


def test_make_validate_passes_run_dataset_and_update():
    dry = subprocess.run(["make", "-n", "validate", "RUN=abc", "DATASET=pima", "UPDATE=intercept",
                          "ARGS=dataset.data_dir=/tmp"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert ("-m pipeline.validate model_run=abc dataset=pima update=intercept dataset.data_dir=/tmp"
            in dry.stdout)
