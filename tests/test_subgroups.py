"""Subgroup performance: a hand-made table with a known gap, scikit-learn's AUROC and hand
counts on subsets, an offset logistic fit solved by root finding, whole patients resampled
when groups exist, and the configuration checks."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score

from pipeline.config import ConfigError, validate
from pipeline.data import load_dataset
from pipeline.evaluation.subgroups import OTHER, largest_gap, subgroup_levels, subgroup_table
from pipeline.experiment import run_experiment
from pipeline.metrics.common import logit

FAST = ("tracking=off", "n_bootstrap=60", "model=logistic", "evaluation=fast")


def offset_intercept(y, p):
    """Calibration-in-the-large by root finding: sum(y - sigmoid(a + logit p)) = 0."""
    return brentq(lambda a: np.sum(y - 1 / (1 + np.exp(-(a + logit(p))))), -20, 20, xtol=1e-14)


@pytest.fixture(scope="module")
def known_gap():
    """Women: events at 0.8, non-events at 0.2 (AUROC 1, sensitivity and specificity 1 at 0.5,
    intercept 0). Men: everyone at 0.5 with 15 events of 40 (AUROC 0.5, sensitivity 1,
    specificity 0, intercept logit(15/40)). Other: 12 rows with 5 events (too small)."""
    y = np.r_[np.repeat([1, 0], 20), np.repeat([1, 0], [15, 25]), np.repeat([1, 0], [5, 7])]
    p = np.r_[np.repeat([0.8, 0.2], 20), np.full(40, 0.5), np.repeat([0.7, 0.3], [5, 7])]
    sex = np.repeat(["F", "M", "X"], [40, 40, 12]).astype(object)
    table, gaps = subgroup_table({"sex": sex}, y, [p], [np.full(y.size, 0.5)], n_boot=200, seed=0)
    return table.set_index("level"), gaps


def test_hand_made_table_gives_the_known_values(known_gap):
    table, _ = known_gap
    women, men, other = table.loc["F"], table.loc["M"], table.loc["X"]
    assert (women["n"], women["events"], men["n"], men["events"]) == (40, 20, 40, 15)
    assert women["auroc"] == pytest.approx(1.0) and men["auroc"] == pytest.approx(0.5)
    assert (women["sensitivity_tuned"], women["specificity_tuned"]) == (1.0, 1.0)
    assert (men["sensitivity_tuned"], men["specificity_tuned"]) == (1.0, 0.0)
    assert women["calibration_intercept"] == pytest.approx(0.0, abs=1e-8)
    assert men["calibration_intercept"] == pytest.approx(np.log(15 / 25), abs=1e-8)
    assert other["status"].startswith("too small") and pd.isna(other["auroc"])
    assert other["n"] == 12 and other["events"] == 5


def test_the_known_gap_is_the_largest_and_has_an_interval(known_gap):
    _, gaps = known_gap
    gap = largest_gap(gaps)
    assert (gap["variable"], gap["highest"], gap["lowest"]) == ("sex", "F", "M")
    assert gap["gap"] == pytest.approx(0.5)
    assert gap["ci_low"] <= 0.5 <= gap["ci_high"] and gap["ci_low"] > 0.2
    specificity = gaps.set_index("metric").loc["specificity_tuned"]
    assert specificity["gap"] == 1.0  # every resample keeps 1 and 0


@pytest.fixture(scope="module")
def random_table():
    rng = np.random.default_rng(11)
    n = 600
    band = rng.integers(0, 3, n)
    y = (rng.random(n) < 0.35).astype(int)
    noise = np.array([0.2, 0.45, 0.7])[band]  # the subgroups' discrimination differs
    p = np.clip(0.15 + 0.5 * y + rng.normal(0, noise), 0.01, 0.99)
    t = rng.choice([0.4, 0.5, 0.6], n)  # each row's fold threshold
    return y, p, t, band


def test_subsets_agree_with_scikit_learn_and_hand_counts(random_table):
    y, p, t, band = random_table
    levels = np.array(["a", "b", "c"], dtype=object)[band]
    table, gaps = subgroup_table({"band": levels}, y, [p], [t], n_boot=50, seed=1)
    for row in table.itertuples():
        m = levels == row.level
        assert row.auroc == pytest.approx(roc_auc_score(y[m], p[m]), abs=1e-12)
        positive = p[m] >= t[m]
        assert row.sensitivity_tuned == pytest.approx(np.mean(positive[y[m] == 1]))
        assert row.specificity_tuned == pytest.approx(np.mean(~positive[y[m] == 0]))
        assert row.calibration_intercept == pytest.approx(offset_intercept(y[m], p[m]), abs=1e-7)
        assert row.auroc_ci_low <= row.auroc <= row.auroc_ci_high
    auroc = table.set_index("level")["auroc"]
    gap = gaps.set_index("metric").loc["auroc"]
    assert gap["gap"] == pytest.approx(auroc.max() - auroc.min())
    assert (gap["highest"], gap["lowest"]) == (auroc.idxmax(), auroc.idxmin())


def test_repeats_are_scored_apart_and_averaged(random_table):
    y, p, t, band = random_table
    levels = np.array(["a", "b", "c"], dtype=object)[band]
    q = np.clip(p + 0.05, 0, 1)
    table, _ = subgroup_table({"band": levels}, y, [p, q], [t, t], n_boot=0, seed=1)
    m = levels == "a"
    expected = (roc_auc_score(y[m], p[m]) + roc_auc_score(y[m], q[m])) / 2
    assert table.set_index("level").loc["a", "auroc"] == pytest.approx(expected)


def test_patients_are_resampled_whole(random_table):
    """Each row copied three times under one patient: the patient bootstrap of the copies gives
    the row bootstrap of the original table (same draws), so the intervals coincide."""
    y, p, t, band = random_table
    levels = np.array(["a", "b", "c"], dtype=object)[band]
    single, single_gaps = subgroup_table({"band": levels}, y, [p], [t], n_boot=100, seed=4)
    copies = np.repeat(np.arange(y.size), 3)
    tripled, tripled_gaps = subgroup_table({"band": levels[copies]}, y[copies], [p[copies]], [t[copies]],
                                           n_boot=100, seed=4, groups=copies)
    columns = [c for c in single.columns if c.endswith(("_ci_low", "_ci_high"))]
    np.testing.assert_allclose(tripled[columns].to_numpy(float), single[columns].to_numpy(float), atol=1e-9)
    np.testing.assert_allclose(tripled_gaps[["ci_low", "ci_high"]].to_numpy(float),
                               single_gaps[["ci_low", "ci_high"]].to_numpy(float), atol=1e-9)
    assert (tripled["n_patients"] * 3 == tripled["n"]).all()


def test_levels_bands_missing_values_and_rare_codes():
    X = pd.DataFrame({"age": [10, 39.9, 40, 64, 65, 120, 130, np.nan] + [50] * 12,
                      "ward": ["A"] * 12 + ["B"] * 3 + [np.nan] + ["C"] * 4})
    bands = {"age": [0, 40, 65, 120]}
    assert subgroup_levels("age_band", X, bands).tolist()[:8] == [
        "[0, 40)", "[0, 40)", "[40, 65)", "[40, 65)", "[65, 120]", "[65, 120]", "outside bands", "missing"]
    wards = subgroup_levels("ward", X, bands)
    assert set(wards) == {"A", OTHER, "missing"}  # B (3 rows) and C (4 rows) never named


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Women's outcomes follow the marker closely, men's loosely: a real gap in AUROC."""
    rng = np.random.default_rng(2)
    n = 700
    sex = rng.choice(["female", "male"], n)
    age = rng.uniform(20, 90, n)
    marker = rng.normal(size=n)
    slope = np.where(sex == "female", 3.0, 0.8)
    y = (rng.random(n) < 1 / (1 + np.exp(-(slope * marker - 0.3)))).astype(int)
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    pd.DataFrame({"sex": sex, "age": age, "marker": marker, "outcome": y}).to_csv(path, index=False)
    return path


def test_a_run_scores_its_pooled_predictions_by_subgroup(cohort):
    from tests.conftest import compose_config

    config = validate(compose_config(*FAST, "dataset=csv", f"dataset.path={cohort}", "dataset.target=outcome",
                                     "evaluation.subgroups=[sex,age_band]",
                                     "evaluation.bands={age:[0,50,70,100]}"))
    result = run_experiment(config)
    dataset = load_dataset(config.dataset)
    p, t = np.empty(len(dataset.y)), np.empty(len(dataset.y))
    for fold in result.folds:
        p[fold.test_rows], t[fold.test_rows] = fold.prediction, fold.threshold
    table = result.extras.subgroups.set_index(["variable", "level"])
    for level in ("female", "male"):
        m = (dataset.X["sex"] == level).to_numpy()
        row = table.loc[("sex", level)]
        assert row["auroc"] == pytest.approx(roc_auc_score(dataset.y[m], p[m]), abs=1e-12)
        events = m & (dataset.y == 1)
        assert row["sensitivity_tuned"] == pytest.approx(np.mean(p[events] >= t[events]))
    assert set(table.loc["age_band"].index) == {"[0, 50)", "[50, 70)", "[70, 100]"}
    assert table.loc[("sex", "female"), "auroc"] - table.loc[("sex", "male"), "auroc"] > 0.1
    gap = largest_gap(result.extras.gaps)
    assert gap["variable"] == "sex" and result.summary["subgroup_auroc_gap"] == gap["gap"]
    assert gap["ci_low"] > 0


@pytest.mark.parametrize("overrides,message", [
    (("evaluation.subgroups=[sx]",), r"names 'sx', which is neither .* Did you mean 'sex'"),
    (("evaluation.subgroups=[age_band]",), r"evaluation.bands has no edges for 'age'"),
    (("evaluation.subgroups=[age_band]", "evaluation.bands={age:[50,10]}"), "ascending edges"),
    (("evaluation.bands={sex:[0,1]}",), "bands need a numeric column"),
    (("evaluation.bands={weight:[0,1]}",), "'weight', which is not a feature column"),
])
def test_settings_that_cannot_be_scored_fail_before_training(cohort, overrides, message):
    from tests.conftest import compose_config

    config = validate(compose_config(*FAST, "dataset=csv", f"dataset.path={cohort}",
                                     "dataset.target=outcome", *overrides))
    with pytest.raises(ConfigError, match=message):
        run_experiment(config)


@pytest.mark.parametrize("key", ["evaluation.min_events", "evaluation.importance_repeats"])
def test_counts_below_one_are_refused_naming_the_key(key):
    from tests.conftest import compose_config

    with pytest.raises(ConfigError, match=rf"{key}=0 is out of range: it must be >= 1"):
        validate(compose_config(f"{key}=0"))
