"""The Hydra entry point: objective returned to sweepers, one-line errors, exit codes,
FAILED runs for bad input."""

import gc
import importlib
import logging
import os
import subprocess
import sys

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from mlflow import MlflowClient
from omegaconf import OmegaConf

from pipeline.config import validate
from pipeline.launch.callback import Background, SweepCallback
from pipeline.launch.workers import lasting_imports
from pipeline.train import main
from tests.conftest import PROJECT_ROOT


def _cli(*overrides, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.train", *overrides], cwd=PROJECT_ROOT, text=True,
        capture_output=True, env={**os.environ, **(env or {})}, timeout=300,
    )


def test_main_returns_the_objective_metric(compose, tmp_path, isolated_mlflow):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    raw = compose("model=logistic", "optimizer.max_epochs=5", "n_bootstrap=20",
                  "objective=brier", f"tracking.uri={uri}")
    value = main(OmegaConf.create(raw))
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("breast_cancer").experiment_id],
                                "tags.`biotab.role` = 'configuration'")
    assert value == run.data.metrics["brier"]
    assert 0.0 < value < 0.25


@pytest.mark.parametrize("override, said", [
    ("optimizer.lerning_rate=0.1", "optimizer.lerning_rate is not a known configuration key. "
                                   "Did you mean 'optimizer.learning_rate'?"),
    ("optimzer.learning_rate=0.1", "optimzer is not a known configuration key. Did you mean 'optimizer'?"),
    ("dataset.targt=y", "dataset.targt is not a known configuration key. Did you mean 'dataset.target'?"),
])
def test_a_misspelt_key_fails_before_training_with_our_did_you_mean(tmp_path, override, said):
    result = _cli(override, f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert result.returncode == 1
    assert f"error: {said}" in result.stderr
    assert "Traceback" not in result.stderr and "To append to your config" not in result.stderr
    assert not (tmp_path / "m.db").exists()  # nothing ran, not even the store


def test_invalid_value_exits_non_zero_and_leaves_a_failed_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    result = _cli("model.activation=gelu", f"tracking.uri={uri}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: ConfigError: model.activation='gelu' is not valid; choose one of")
    assert "Traceback" not in result.stderr
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("breast_cancer").experiment_id])
    assert run.info.status == "FAILED" and run.info.run_name == "invalid configuration"
    assert "model.activation" in run.data.tags["failure_reason"]


def test_missing_data_file_fails_the_run_with_an_actionable_message(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    result = _cli("dataset=pima", f"dataset.data_dir={tmp_path}", f"tracking.uri={uri}",
                  env={"BIOTAB_DATA_DIR": ""})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "pima-indians-diabetes.csv" in last and "make data" in last
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pima").experiment_id])
    assert run.info.status == "FAILED"
    assert "pima-indians-diabetes.csv" in run.data.tags["failure_reason"]


def test_debug_shows_the_traceback(tmp_path):
    result = _cli("model.activation=gelu", "debug=true", "tracking=off")
    assert result.returncode != 0 and "Traceback" in result.stderr


SWEEPS = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", SWEEPS)
def test_every_experiment_file_composes_for_every_swept_value(compose, name):
    """Each sweep file is a multirun whose every swept value gives a valid configuration."""
    text = yaml.safe_load((PROJECT_ROOT / "conf" / "experiment" / f"{name}.yaml").read_text())
    assert text["hydra"]["mode"] == "MULTIRUN"
    parser = OverridesParser.create()
    for key, values in text["hydra"]["sweeper"]["params"].items():
        (override,) = parser.parse_overrides([f"{key}={values}"])
        swept = list(override.sweep_string_iterator())
        assert len(swept) >= 2
        for value in swept:
            validate(compose(f"experiment={name}", f"{key}={value}"))


def test_optuna_search_composes_with_its_search_space(compose):
    raw = compose("hparams_search=optuna", "optimizer.learning_rate=0.01", "regularization.l2=1e-4",
                  "regularization.dropout=0.2", "model.hidden_layer_sizes=[64]")
    assert validate(raw).model.hidden_layer_sizes == [64]


def test_one_experiment_per_dataset_and_per_csv_file(compose):
    from pipeline.launch.job import experiment_name as _experiment_name

    assert _experiment_name(None, compose("dataset=pima")["dataset"]) == "pima"
    assert _experiment_name(None, compose("dataset=csv", "dataset.path=/data/icu_cohort.csv",
                                          "dataset.target=y")["dataset"]) == "icu_cohort"
    assert _experiment_name("mine", compose()["dataset"]) == "mine"


@pytest.mark.parametrize("key", ["optimizer.max_epochs=3", "optimizer.learning_rate=0.01",
                                 "optimizer.batch_size=16", "split.n_splits=3",
                                 "model.hidden_layer_sizes=[8]", "model.activation=tanh",
                                 "regularization.l1=0.001", "regularization.l2=0.001",
                                 "regularization.dropout=0.1", "tracking.uri=sqlite:///x.db",
                                 "tracking.experiment=x", "dataset.data_dir=/tmp"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "pima", "synthetic", "xor"])
def test_documented_keys_override_on_every_dataset(compose, key, dataset):
    config = validate(compose(f"dataset={dataset}", key))
    name, value = key.split("=", 1)
    group, field = name.split(".", 1)
    section = getattr(config, group)
    actual = section[field] if isinstance(section, dict) else getattr(section, field)
    assert str(actual).replace(" ", "") == value or actual == yaml.safe_load(value)


def test_a_failed_worker_warm_up_does_not_fail_the_sweep(caplog):
    """Once the sweep is open, the warm-up's failure (e.g. a worker crash) costs only speed."""
    def crash():
        raise RuntimeError("worker crashed")

    callback = SweepCallback()
    callback.opening, callback.run_id = Background(crash), None
    with caplog.at_level(logging.WARNING, logger="biotab"):
        callback.on_multirun_end(config=None)
    assert "warming up the workers failed: worker crashed" in caplog.text


def test_lasting_imports_freeze_what_an_import_brought_and_nothing_else(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    frozen = gc.get_freeze_count()
    try:
        with lasting_imports():
            assert not gc.isenabled()  # no collections while importing
        assert gc.isenabled() and gc.get_freeze_count() == frozen  # imported nothing: no freeze
        with lasting_imports():
            importlib.import_module("colorsys")
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()


def test_a_sweep_opened_just_as_its_opener_ends_is_found_open(tmp_path):
    """The launcher polls the sweep file while the opening thread writes it: when the thread
    ends between a read ("opening") and the check that it is alive, the file says "open"."""
    from pipeline.launch.callback import wait_for_sweep_run
    from pipeline.launch.sweep import write_json

    sweep_file = tmp_path / "mlflow_sweep.json"
    write_json(sweep_file, {"status": "opening"})

    class EndsAsAsked:
        def is_alive(self):
            write_json(sweep_file, {"status": "open", "run_id": "r1"})
            return False

        def outcome(self):
            return None

    assert wait_for_sweep_run(sweep_file, EndsAsAsked())["run_id"] == "r1"

    class EndsWithoutWriting(EndsAsAsked):
        def is_alive(self):
            return False
    write_json(sweep_file, {"status": "opening"})
    with pytest.raises(RuntimeError, match="ended without opening it .*: see the error logged above, "
                                           "then run the sweep again"):
        wait_for_sweep_run(sweep_file, EndsWithoutWriting())
