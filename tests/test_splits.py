"""pipeline.splits: seeded outer splits, grouped folds without shared subjects, inner validation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.model_selection import RepeatedStratifiedKFold

from pipeline.data import dataset_config, load_dataset
from pipeline.defaults import option
from pipeline.errors import DatasetError
from pipeline.splits import DEFAULTS, outer_splits, validation_split

CONF = Path(__file__).resolve().parent.parent / "conf" / "split"


@pytest.fixture
def y():
    return np.array([0] * 70 + [1] * 30)


@pytest.fixture
def groups():
    """40 subjects with 2-3 rows each; the label is a property of the subject."""
    rng = np.random.default_rng(1)
    subjects = np.repeat(np.arange(40), rng.integers(2, 4, 40))
    return np.array([f"S{s:02d}" for s in subjects]), (subjects % 3 == 0).astype(int)


def assert_partition(folds, n_rows):
    tests = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tests), np.arange(n_rows))
    for train, test in folds:
        assert not np.intersect1d(train, test).size
        assert len(train) + len(test) == n_rows


def test_kfold_is_stratified_and_covers_every_row(y):
    folds = outer_splits({"name": "kfold"}, y, None, seed=0)
    assert len(folds) == 5
    assert_partition(folds, len(y))
    assert all(y[test].sum() == 6 for _, test in folds)


def test_splits_are_reproducible_and_seeded(y):
    cfg = {"name": "kfold", "n_splits": 4}
    a, b = outer_splits(cfg, y, None, 3), outer_splits(cfg, y, None, 3)
    c = outer_splits(cfg, y, None, 4)
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(a, b, strict=True))
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(a, c, strict=True))


def test_repeated_kfold_matches_the_reference_protocol(y):
    folds = outer_splits({"name": "repeated_kfold"}, y, None, seed=0)
    reference = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=0).split(y, y)
    assert len(folds) == 15
    for (_, test), (_, ref_test) in zip(folds, reference, strict=True):
        assert np.array_equal(test, np.sort(ref_test))
    for r in range(3):
        assert_partition(folds[5 * r: 5 * r + 5], len(y))


@pytest.mark.parametrize("cfg", [{"name": "group_kfold"}, {"name": "kfold"},
                                 {"name": "repeated_kfold", "n_repeats": 2},
                                 {"name": "holdout"}])
def test_grouped_splits_put_no_subject_in_two_folds(cfg, groups):
    ids, labels = groups
    folds = outer_splits(cfg, labels, ids, seed=0)
    for train, test in folds:
        assert not set(ids[train]) & set(ids[test])
    if cfg["name"] != "holdout":
        per_repeat = len(folds) // cfg.get("n_repeats", 1)
        first = folds[:per_repeat]
        assert_partition(first, len(ids))
        owner = {}
        for k, (_, test) in enumerate(first):
            for subject in set(ids[test]):
                assert owner.setdefault(subject, k) == k


def test_parkinsons_subjects_never_straddle_folds(shared_datasets_dir):
    ds = load_dataset(dataset_config("parkinsons", data_dir=str(shared_datasets_dir)))
    for train, test in outer_splits({"name": "repeated_kfold"}, ds.y, ds.groups, seed=0):
        assert not set(ds.groups[train]) & set(ds.groups[test])
        assert set(ds.y[test]) == {0, 1}


def test_respect_groups_false_is_leaky_and_warns(groups, caplog):
    ids, labels = groups
    with caplog.at_level(logging.WARNING, logger="pipeline.splits"):
        folds = outer_splits({"name": "kfold", "respect_groups": False}, labels, ids, seed=0)
    assert "respect_groups=false" in caplog.text
    assert any(set(ids[train]) & set(ids[test]) for train, test in folds)


def test_holdout_is_stratified_with_the_test_fraction(y):
    [(train, test)] = outer_splits({"name": "holdout", "test_fraction": 0.25}, y, None, seed=0)
    assert len(test) == 25 and y[test].sum() in (7, 8)
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(len(y)))


def test_validation_split_is_stratified_and_relative(y):
    train = np.arange(20, 100)  # 50 negatives, 30 positives
    fit, val = validation_split(y[train], None, 0.25, seed=0)
    assert len(val) == 20 and len(fit) == 60
    assert fit.max() < len(train) and not np.intersect1d(fit, val).size
    again = validation_split(y[train], None, 0.25, seed=0)
    assert np.array_equal(val, again[1])
    # Stratified: 30 x 0.25 = 7.5 positives, so 7 or 8 in every validation part; unstratified
    # 20-row draws would give 4 to 11 over these seeds.
    positives = {int(y[train][validation_split(y[train], None, 0.25, seed=s)[1]].sum())
                 for s in range(40)}
    assert positives <= {7, 8}
    rng = np.random.default_rng(0)
    unstratified = {int(y[train][rng.choice(80, 20, replace=False)].sum()) for _ in range(40)}
    assert not unstratified <= {7, 8}


def test_validation_split_keeps_subjects_whole(groups):
    ids, labels = groups
    fit, val = validation_split(labels, ids, 0.2, seed=0)
    assert not set(ids[fit]) & set(ids[val])
    assert 0.1 < len(val) / len(ids) < 0.3


def test_regression_targets_get_plain_folds():
    y = np.linspace(0.0, 1.0, 23)
    folds = outer_splits({"name": "kfold"}, y, None, seed=0)
    assert_partition(folds, 23)
    fit, val = validation_split(y, None, 0.2, seed=0)
    assert len(val) == 5


def test_fewer_rows_per_class_than_folds(y):
    tiny = np.array([0] * 20 + [1] * 3)
    with pytest.raises(DatasetError, match=r"too few rows per class for split.n_splits=5: class 1 "
                                           r"has 3 row\(s\), fewer than 5. Lower split.n_splits"):
        outer_splits({"name": "kfold"}, tiny, None, seed=0)


def test_validation_split_needs_two_rows_per_class():
    with pytest.raises(DatasetError, match=r"split.validation_fraction=0.2 .*class 1 has 1 row"):
        validation_split(np.array([0] * 10 + [1]), None, 0.2, seed=0)


def test_group_kfold_needs_groups(y):
    with pytest.raises(DatasetError, match=r"split=group_kfold needs a group column: set "
                                           r"dataset.group_column"):
        outer_splits({"name": "group_kfold"}, y, None, seed=0)


def test_fewer_subjects_than_folds():
    ids = np.array(["a", "a", "b", "b", "c", "c"])
    with pytest.raises(DatasetError, match=r"only 3 subjects .* for 5 folds"):
        outer_splits({"name": "group_kfold"}, np.array([0, 0, 1, 1, 0, 1]), ids, seed=0)


@pytest.mark.parametrize("cfg,message", [
    ({"name": "loo"}, r"split.name='loo' is not one of group_kfold, holdout, kfold"),
    ({"name": "kfold", "n_split": 5}, r"unknown key\(s\) \['n_split'\] for split 'kfold'"),
    ({"name": "holdout", "test_fraction": 1.5}, r"split.test_fraction=1.5 must be between 0 and 1"),
])
def test_invalid_split_config(cfg, message, y):
    with pytest.raises(ValueError, match=message):
        outer_splits(cfg, y, None, seed=0)


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_split_yaml(path, groups):
    keyed = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert all("#" in line for line in keyed if line != "defaults:"), "every key needs a comment"
    if path.stem.startswith("_"):
        return
    cfg = option("split", path.stem)
    assert cfg["name"] == path.stem
    assert set(cfg) - {"name"} == set(DEFAULTS[cfg["name"]])
    assert {"validation_fraction"} <= set(cfg)
    ids, labels = groups
    assert outer_splits(cfg, labels, ids, seed=0)


def test_kfold_yaml_keeps_the_agreed_key_names():
    assert yaml.safe_load((CONF / "kfold.yaml").read_text())["n_splits"] == 5
    assert yaml.safe_load((CONF / "holdout.yaml").read_text())["test_fraction"] == 0.2
