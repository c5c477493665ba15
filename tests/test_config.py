"""pipeline.config: invalid values are refused before any data is read, naming the config key
(not the estimator argument), with "did you mean" for misspelt choices."""

import pytest

from pipeline.config import RANGES, ConfigError, validate


@pytest.fixture
def raw(compose):
    return compose("tracking=off")


@pytest.mark.parametrize("override,message", [
    ("optimizer.learning_rate=-0.1", r"optimizer.learning_rate=-0.1 is out of range: it must be > 0.0"),
    ("optimizer.learning_rate=0", r"optimizer.learning_rate=0.0 is out of range"),
    ("optimizer.batch_size=0", r"optimizer.batch_size=0 is out of range: it must be >= 1"),
    ("optimizer.max_epochs=0", r"optimizer.max_epochs=0 is out of range"),
    ("optimizer.momentum=1.0", r"optimizer.momentum=1.0 is out of range: it must be >= 0.0 and < 1.0"),
    ("optimizer.beta2=1.5", r"optimizer.beta2=1.5 is out of range"),
    ("optimizer.clip_norm=0", r"optimizer.clip_norm=0.0 is out of range"),
    ("optimizer.schedule.factor=2", r"optimizer.schedule.factor=2.0 is out of range"),
    ("regularization.dropout=1.0", r"regularization.dropout=1.0 is out of range: it must be >= 0.0 and < 1"),
    ("regularization.l2=-1e-4", r"regularization.l2=-0.0001 is out of range"),
    ("regularization.l2_grid=[0.1,-1]", r"regularization.l2_grid=-1.0 is out of range"),
    ("regularization.patience=0", r"regularization.patience=0 is out of range"),
    ("model.hidden_layer_sizes=[8,0]", r"model.hidden_layer_sizes=0 is out of range"),
    ("n_bootstrap=-5", r"n_bootstrap=-5 is out of range"),
    ("seed=-1", r"seed=-1 is out of range"),
])
def test_out_of_range_values_name_the_config_key(compose, override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose("tracking=off", override))


@pytest.mark.parametrize("override,message", [
    ("dataset.missing_target=dorp", r"dataset.missing_target='dorp' is not one of .*Did you mean 'drop'"),
    ("dataset.task=binnary", r"dataset.task='binnary' is not one of .*Did you mean 'binary'"),
    ("dataset.decimal=x", r"dataset.decimal='x' is not one of '\.', ','"),
    ("dataset.sentinels=ignore", r"dataset.sentinels='ignore' is not one of 'error', 'missing', 'keep'"),
    ("dataset.encoding=utf-9", r"dataset.encoding='utf-9' is not a known text encoding"),
    ("dataset.delimiter=';;'", r"dataset.delimiter=';;' must be one character"),
    ("dataset.header=maybe", r"dataset.header must be true or false"),
    ("dataset.label_map=[1,2]", r"dataset.label_map must be a mapping"),
    ("preprocess.scaler=minmx", r"preprocess.scaler='minmx' is not one of"),
    ("preprocess.min_category_count=0", r"preprocess.min_category_count=0 must be a whole number >= 1"),
    ("preprocess.max_levels=1", r"preprocess.max_levels=1 must be a whole number >= 2"),
])
def test_dataset_and_preprocess_values_are_checked_before_reading(compose, override, message):
    overrides = ["dataset=csv", "dataset.path=/nonexistent/never_read.csv", "dataset.target=y",
                 "tracking=off", override]
    with pytest.raises(ConfigError, match=message):
        validate(compose(*overrides))  # the file does not exist: nothing was read


def test_thousands_and_decimal_must_differ(compose):
    with pytest.raises(ConfigError, match=r"dataset.thousands and dataset.decimal are both ','"):
        validate(compose("dataset=csv", "dataset.path=x.csv", "dataset.target=y",
                         "dataset.decimal=','", "dataset.thousands=','"))


def test_required_table_keys_are_checked_before_reading(compose):
    with pytest.raises(ConfigError, match=r"dataset.path is required"):
        validate(compose("dataset=csv"))


def test_misspelt_dataset_key_gets_did_you_mean(compose):
    with pytest.raises(ConfigError, match=r"dataset.postive_label .*Did you mean 'dataset.positive_label'"):
        validate(compose("dataset=csv", "dataset.path=x.csv", "dataset.target=y",
                         "+dataset.postive_label=1"))


def test_a_key_of_another_loader_is_refused(compose):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) dataset.n_rows for dataset 'csv'"):
        validate(compose("dataset=csv", "dataset.path=x.csv", "dataset.target=y",
                         "+dataset.n_rows=10"))


def test_valid_boundaries_pass(compose):
    config = validate(compose("tracking=off", "regularization.dropout=0.0", "optimizer.momentum=0",
                              "optimizer.batch_size=1", "n_bootstrap=0", "seed=0"))
    assert config.regularization.dropout == 0.0 and config.optimizer.batch_size == 1
    assert config.tracking.log_models_with_training_rows is False


def test_every_range_names_a_key_of_the_schema(raw):
    from pipeline.config import flatten

    config = validate(raw)
    known = set(flatten(config))
    assert set(RANGES) <= known
