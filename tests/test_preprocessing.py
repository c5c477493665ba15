"""pipeline.preprocessing: fitted on training rows only, every option, feature names, oversampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone

from pipeline.defaults import option, option_names
from pipeline.preprocessing import DEFAULTS, build_preprocessor, feature_names, oversample

CONF = Path(__file__).resolve().parent.parent / "conf" / "preprocess"


@pytest.fixture
def table():
    """40 training rows, then 5 test rows with extreme values and unseen categories."""
    rng = np.random.default_rng(0)
    n = 45
    frame = pd.DataFrame({
        "age": rng.normal(60, 10, n),
        "bmi": rng.normal(27, 4, n),
        "sex": rng.choice(["f", "m"], n).astype(object),
        "smoker": rng.choice(["no", "yes", "former"], n).astype(object),
    })
    frame.loc[[3, 7, 11], "age"] = np.nan
    frame.loc[[5, 9], "smoker"] = np.nan
    frame.loc[40:, "age"] = 1e6  # a test fold with absurd values ...
    frame.loc[40:, "bmi"] = np.nan  # ... and gaps ...
    frame.loc[40:, "smoker"] = "unseen"  # ... and a category no training row has
    y = np.r_[np.tile([0, 1], 20), np.zeros(5, dtype=int)]
    return frame, y, np.arange(40), np.arange(40, 45)


NUMERIC, CATEGORICAL = ["age", "bmi"], ["sex", "smoker"]


def test_statistics_come_from_training_rows_only(table):
    frame, _, train, test = table
    pre = build_preprocessor({}, NUMERIC, CATEGORICAL).fit(frame.iloc[train])
    numeric = pre.named_transformers_["num"]
    medians = frame.iloc[train][NUMERIC].median().to_numpy()
    np.testing.assert_allclose(numeric.named_steps["impute"].statistics_, medians)
    imputed = frame.iloc[train][NUMERIC].fillna(dict(zip(NUMERIC, medians, strict=True)))
    np.testing.assert_allclose(numeric.named_steps["scale"].mean_, imputed.mean().to_numpy())
    np.testing.assert_allclose(numeric.named_steps["scale"].scale_, imputed.std(ddof=0).to_numpy())

    # Fitting on everything would have moved them: the checks above have teeth.
    leaky = build_preprocessor({}, NUMERIC, CATEGORICAL).fit(frame)
    assert leaky.named_transformers_["num"].named_steps["scale"].mean_[0] > 1e5


@pytest.mark.parametrize("name", option_names("preprocess"))
def test_a_test_row_is_transformed_alone(table, name):
    """Transforming a test row uses training statistics only, never its fellow test rows: each
    row of the test block transforms exactly as it does on its own (an imputer or scaler that
    looked at the test batch would fail this)."""
    frame, _, train, test = table
    pre = build_preprocessor(option("preprocess", name), NUMERIC, CATEGORICAL).fit(frame.iloc[train])
    block = pre.transform(frame.iloc[test])
    for i, row in enumerate(test):
        np.testing.assert_array_equal(block[i], pre.transform(frame.iloc[[row]])[0])


def test_test_rows_are_transformed_with_training_statistics(table):
    frame, _, train, test = table
    pre = build_preprocessor({}, NUMERIC, CATEGORICAL).fit(frame.iloc[train])
    out = pre.transform(frame.iloc[test])
    names = feature_names(pre)
    bmi = out[:, names.index("bmi")]
    train_bmi = frame.iloc[train]["bmi"]
    expected = (train_bmi.median() - train_bmi.mean()) / train_bmi.std(ddof=0)
    np.testing.assert_allclose(bmi, expected)  # missing test BMI -> training median, scaled
    smoker = [i for i, n in enumerate(names) if n.startswith("smoker_")]
    assert (out[:, smoker] == 0).all()  # unseen category ignored, not an error


@pytest.mark.parametrize("imputer", ["mean", "median", "most_frequent", "constant", "knn",
                                     "iterative"])
def test_every_numeric_imputer_fills_gaps(table, imputer):
    frame, _, train, test = table
    pre = build_preprocessor({"numeric_imputer": imputer}, NUMERIC, CATEGORICAL)
    out = pre.fit(frame.iloc[train]).transform(frame)
    assert np.isfinite(out).all() and out.shape[1] == len(feature_names(pre))


def test_missing_indicators_are_named_and_unscaled(table):
    frame, _, train, _ = table
    pre = build_preprocessor({"add_indicator": True}, NUMERIC, CATEGORICAL).fit(frame.iloc[train])
    names = feature_names(pre)
    assert names[-2:] == ["age_missing", "smoker_missing"]  # bmi has no gaps in training
    out = pre.transform(frame.iloc[train])
    assert set(np.unique(out[:, -2:])) == {0.0, 1.0}
    assert out[:, -2].sum() == 3


@pytest.mark.parametrize("scaler,check", [
    # minmax maps the 0.5th and 99.5th training percentiles (not the extremes) to 0 and 1
    ("minmax", lambda col: np.allclose(np.percentile(col, [0.5, 99.5]), [0, 1])
     and col.min() < 0 and col.max() > 1),
    ("robust", lambda col: abs(np.median(col)) < 1e-12),
    ("none", lambda col: col.mean() > 20),
])
def test_scalers(table, scaler, check):
    frame, _, train, _ = table
    pre = build_preprocessor({"scaler": scaler}, NUMERIC, []).fit(frame.iloc[train])
    assert check(pre.transform(frame.iloc[train])[:, 1])


def test_ordinal_encoder_marks_unknown(table):
    frame, _, train, test = table
    pre = build_preprocessor({"encoder": "ordinal"}, [], CATEGORICAL).fit(frame.iloc[train])
    assert feature_names(pre) == ["sex", "smoker"]
    assert (pre.transform(frame.iloc[test])[:, 1] == -1).all()


def test_polynomial_feature_map(table):
    frame, _, train, _ = table
    full = build_preprocessor({"polynomial_degree": 2}, NUMERIC, []).fit(frame.iloc[train])
    assert feature_names(full) == ["age", "bmi", "age^2", "age bmi", "bmi^2"]
    pairs = build_preprocessor({"polynomial_degree": 2, "interaction_only": True}, NUMERIC, [])
    assert feature_names(pairs.fit(frame.iloc[train])) == ["age", "bmi", "age bmi"]
    out = full.transform(frame.iloc[train])
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)  # rescaled after the products


def test_variance_filter_drops_constant_columns(table):
    frame, _, train, _ = table
    frame = frame.assign(ward="A")
    pre = build_preprocessor({"variance_threshold": 0.0}, NUMERIC, ["sex", "ward"])
    assert "ward_A" not in feature_names(pre.fit(frame.iloc[train]))


def test_preprocessor_can_be_cloned(table):
    frame, _, train, _ = table
    pre = build_preprocessor({"polynomial_degree": 2, "add_indicator": True}, NUMERIC, CATEGORICAL)
    copy = clone(pre).fit(frame.iloc[train])
    np.testing.assert_array_equal(copy.transform(frame), pre.fit(frame.iloc[train]).transform(frame))


@pytest.mark.parametrize("cfg,message", [
    ({"scaler": "zscore"}, r"preprocess.scaler='zscore' is not one of standard, minmax"),
    ({"numeric_imputer": "mice"}, r"preprocess.numeric_imputer='mice' is not one of"),
    ({"polynomial_degree": 3}, r"polynomial_degree=3 must be 1 \(off\) or 2"),
    ({"scalr": "standard"}, r"unknown preprocess key\(s\) \['scalr'\]. Did you mean 'scaler'"),
    ({"imbalance": "smote"}, r"preprocess.imbalance='smote' is not one of none, class_weight"),
])
def test_invalid_options(cfg, message):
    with pytest.raises(ValueError, match=message):
        build_preprocessor(cfg, ["a"], [])


def test_no_columns():
    with pytest.raises(ValueError, match="at least one numeric or categorical column"):
        build_preprocessor({}, [], [])


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preprocess_yaml_is_commented_and_repeats_no_default(path):
    keyed = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert all("#" in line for line in keyed if line != "defaults:"), "every key needs a comment"
    if path.stem.startswith("_"):
        return
    own, base = yaml.safe_load(path.read_text()), option("preprocess", "_base")
    assert own["name"] == path.stem
    assert not {k for k, v in own.items() if k in base and base[k] == v}, "repeats _base.yaml"


@pytest.mark.parametrize("name", option_names("preprocess"))
def test_every_preprocess_option_builds_and_fits(name, table):
    cfg = option("preprocess", name)
    assert set(cfg) == set(DEFAULTS)
    frame, _, train, _ = table
    pre = build_preprocessor(cfg, NUMERIC, CATEGORICAL).fit(frame.iloc[train])
    out = pre.transform(frame)
    assert np.isfinite(out).all() and out.shape[1] == len(feature_names(pre))


# --------------------------------------------------------------------------- #
# Oversampling
# --------------------------------------------------------------------------- #


def test_oversample_balances_with_duplicates_of_minority_rows():
    X = pd.DataFrame({"a": np.arange(10.0), "b": list("abcdefghij")})
    y = np.array([0] * 7 + [1] * 3)
    X_new, y_new = oversample(X, y, np.random.default_rng(0))
    assert np.bincount(y_new).tolist() == [7, 7]
    pd.testing.assert_frame_equal(X_new.iloc[:10], X)  # originals first, in order
    assert set(X_new["a"].iloc[10:]) <= {7.0, 8.0, 9.0}  # extras copy minority rows
    assert (y_new[10:] == 1).all()


def test_oversample_is_reproducible_and_handles_arrays_and_multiclass():
    X = np.arange(12.0).reshape(12, 1)
    y = np.array([0] * 6 + [1] * 4 + [2] * 2)
    a = oversample(X, y, np.random.default_rng(5))
    b = oversample(X, y, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    assert np.bincount(a[1]).tolist() == [6, 6, 6] and isinstance(a[0], np.ndarray)


def test_oversample_checks_lengths():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        oversample(np.zeros((3, 1)), np.array([0, 1]), np.random.default_rng(0))
