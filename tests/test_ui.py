"""What the MLflow UI shows of a run and a sweep: names, descriptions, interval tags, the
dataset input, named models with metrics, honest fold-mean curves, and the saved view
opened by one link. (tests/test_ui_browser.py opens that link in a real browser.)"""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from pipeline import tracking
from pipeline.config import validate
from pipeline.experiment import run_experiment
from pipeline.experiment.naming import swept_name
from pipeline.experiment.pooling import mean_curves
from pipeline.launch.callback import swept_keys
from pipeline.launch.sweep import sweep_name
from pipeline.report import linked_summary
from pipeline.tracking import ui, views
from tests.conftest import MLFLOW_ENV, compose_config

SWEPT = {"loss": "squared_error", "optimizer.learning_rate": "0.01"}


@pytest.fixture(scope="module")
def swept_run(tmp_path_factory):
    """One configuration of a (pretend) sweep over loss and learning rate, tracked."""
    saved = {k: os.environ.pop(k) for k in MLFLOW_ENV if k in os.environ}
    uri = f"sqlite:///{tmp_path_factory.mktemp('store')}/mlflow.db"
    config = validate(compose_config("optimizer.max_epochs=40", "n_bootstrap=50", "split.n_splits=3",
                                     "loss=squared_error", "optimizer.learning_rate=0.01",
                                     "regularization.patience=3", f"tracking.uri={uri}"))
    result = run_experiment(config, tracking.Tracker(uri, "ui-test"), swept=SWEPT)
    yield uri, result, MlflowClient(uri)
    os.environ.update(saved)


def test_configuration_run_is_named_by_what_was_swept_and_described(swept_run):
    uri, result, client = swept_run
    run = client.get_run(result.run_id)
    assert run.info.run_name == "loss=squared_error lr=0.01"
    assert run.data.tags["biotab.descriptor"].startswith("mlp[64,32] relu se adam lr=0.01")
    auroc = result.pooled["auroc"]
    shown = f"{auroc['value']:.3f} [{auroc['ci_low']:.3f}, {auroc['ci_high']:.3f}]"
    assert run.data.tags["auroc_95ci"] == shown
    description = run.data.tags["mlflow.note.content"]
    assert description.startswith(f"`{run.data.tags['biotab.descriptor']}`")
    assert f"**auroc {shown}**" in description and "calibration_slope" in description


def test_fold_runs_carry_the_swept_parameters_and_their_configuration(swept_run):
    uri, result, client = swept_run
    folds = client.search_runs([client.get_run(result.run_id).info.experiment_id],
                               f"tags.`mlflow.parentRunId` = '{result.run_id}'")
    assert sorted(r.info.run_name for r in folds) == ["fold 0", "fold 1", "fold 2"]
    for fold in folds:
        assert fold.data.params == SWEPT
        assert fold.data.tags["configuration"] == client.get_run(result.run_id).data.tags["biotab.descriptor"]


def test_dataset_input_and_named_model_with_metrics(swept_run):
    uri, result, client = swept_run
    run = client.get_run(result.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "breast_cancer"
    assert dataset_input.dataset.digest == run.data.tags["dataset_fingerprint"][:16]
    profile = pd.Series(eval(dataset_input.dataset.profile))  # noqa: S307 - our own JSON numbers
    assert profile["num_rows"] == 569 and profile["num_features"] == 30 and profile["num_events"] == 212
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert model.name == "loss=squared_error lr=0_01"
    values = {m.key: m.value for m in model.metrics}
    assert values["auroc"] == pytest.approx(result.pooled["auroc"]["value"])
    assert values["auroc_ci_low"] == pytest.approx(result.pooled["auroc"]["ci_low"])


def test_fold_mean_curves_hold_each_folds_kept_epoch(swept_run):
    uri, result, client = swept_run
    lengths = [len(f.history["val_loss"]) for f in result.folds]
    assert len(set(lengths)) > 1, "early stopping should end the folds at different epochs"
    history = {key: [m.value for m in sorted(client.get_metric_history(result.run_id, key),
                                              key=lambda m: m.step)]
               for key in ("mean_val_loss", "n_folds_active", "best_val_loss")}
    longest = max(lengths)
    expected = np.mean([np.concatenate([f.history["val_loss"], np.full(
        longest - len(f.history["val_loss"]), f.history["val_loss"][f.diagnostics["best_epoch"]])])
        for f in result.folds], axis=0)
    np.testing.assert_allclose(history["mean_val_loss"], expected)
    assert history["n_folds_active"] == [sum(n > e for n in lengths) for e in range(longest)]
    assert history["best_val_loss"] == [pytest.approx(np.mean([min(f.history["val_loss"])
                                                                for f in result.folds]))]


def test_mean_curves_of_folds_without_early_stopping_hold_their_last_epoch():
    class Fold:
        def __init__(self, losses):
            self.history = {"train_loss": losses, "val_loss": losses}
            self.diagnostics = {"best_epoch": -1}

    curves = mean_curves([Fold([3.0, 2.0, 1.0]), Fold([5.0, 4.0])])
    assert curves["mean_val_loss"] == [4.0, 3.0, 2.5]
    assert curves["n_folds_active"] == [2, 2, 1]


def test_saved_view_of_a_sweep_decodes_to_its_runs_curves_and_columns(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    eid = MlflowClient(uri).create_experiment("views")
    link = ui.sweep_link(uri, eid, "s-1", "binary", swept=["loss", "optimizer.learning_rate"])
    tags = MlflowClient(uri).get_experiment(eid).tags
    (key,) = [k for k in tags if k.startswith(views.TAG_PREFIX)]
    assert link == (f"http://127.0.0.1:5000/#/experiments/{eid}/runs?workflowType=machine_learning"
                    f"&viewStateShareKey={key.removeprefix(views.TAG_PREFIX)}&compareRunsMode=CHART")
    state = views.decode_view_state(tags[key])
    assert state["searchFilter"] == "tags.sweep_id = 's-1' and tags.`biotab.role` = 'configuration'"
    assert state["runsHiddenMode"] == "SHOW_ALL"  # not the UI's first 10 runs
    sections = [s["name"] for s in state["compareRunSections"]]
    assert sections == ["Learning curves", "Pooled metrics"]
    charted = [(c["type"], c.get("metricKey") or c.get("selectedMetricKeys", [None])[0])
               for c in state["compareRunCharts"] if not c.get("deleted")]
    assert charted[:3] == [("LINE", "mean_val_loss"), ("LINE", "mean_train_loss"), ("LINE", "mean_val_auroc")]
    assert [m for _, m in charted[3:]] == ["auroc", "auprc", "brier", "calibration_slope", "ici"]
    assert state["selectedColumns"] == ["params.`loss.name`", "params.`optimizer.learning_rate`",
                                        "tags.`auroc_95ci`", "tags.`auprc_95ci`"]
    again = ui.sweep_link(uri, eid, "s-1", "binary")
    assert again == link and len(MlflowClient(uri).get_experiment(eid).tags) == len(tags)


def test_another_mlflow_version_gets_a_filter_link_and_no_tag(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    eid = MlflowClient(uri).create_experiment("views")
    monkeypatch.setattr(mlflow, "__version__", "3.18.0")
    link = ui.sweep_link(uri, eid, "s-1", "binary")
    assert "searchFilter=tags.sweep_id" in link and "viewStateShareKey" not in link
    assert not any(k.startswith(views.TAG_PREFIX) for k in MlflowClient(uri).get_experiment(eid).tags)


def test_swept_keys_come_from_sweeper_params_and_sweep_overrides():
    config = OmegaConf.create({"hydra": {
        "sweeper": {"params": {"model": "logistic,mlp", "seed": "3",
                               "optimizer.learning_rate": "tag(log, interval(1e-4, 1e-1))"}},
        "overrides": {"task": ["experiment=lr_vs_mlp", "loss=cross_entropy,squared_error",
                               "model.hidden_layer_sizes=[64,32]", "+regularization.l1=range(0,2)"]}}})
    assert swept_keys(config) == ["model", "optimizer.learning_rate", "loss", "regularization.l1"]
    ad_hoc = OmegaConf.create({"hydra": {"sweeper": {"params": None},
                                         "overrides": {"task": ["loss=a,b", "seed=range(0,3)"]}}})
    assert swept_keys(ad_hoc) == ["loss", "seed"]


def test_names_say_what_was_swept():
    swept = {"loss": "squared_error", "optimizer.learning_rate": "0.01"}
    assert swept_name(swept) == "loss=squared_error lr=0.01"
    assert swept_name({"model.name": "mlp", "loss.name": "x"}) == "model.name=mlp loss.name=x"
    assert sweep_name("experiment=loss hydra/launcher=joblib tracking.uri=x", ()) == "experiment=loss"
    assert sweep_name("loss=a,b split.n_splits=3", ["loss"]) == "loss=a,b"
    assert sweep_name("hydra/launcher=joblib seed=1", ()) == "seed=1"


def test_sweep_description_links_every_configuration():
    board = pd.DataFrame({"rank": [1, pd.NA], "label": ["loss=a", "loss=b"], "run_id": ["r1", "r2"],
                          "status": ["FINISHED", "FAILED"], "note": ["", ""],
                          "failure_reason": ["", "diverged"], "auroc": [0.9, np.nan],
                          "auroc_ci_low": [0.8, np.nan], "auroc_ci_high": [0.95, np.nan]})
    text = linked_summary(board, "auroc", lambda rid: f"http://ui/{rid}", ["head"])
    assert text.splitlines()[0] == "head"
    assert "| 1 | [loss=a](http://ui/r1) | 0.900 [0.800, 0.950] |  |" in text
    assert "| FAILED | [loss=b](http://ui/r2) | – | diverged |" in text
