"""Permutation importance on held-out rows: scikit-learn's permutation_importance on the same
fold pipeline and test rows, a hand loop on the same permutations, a brute-force bootstrap with
scikit-learn's weighted AUROC, and one importance per original variable (its one-hot columns
shuffled together); tables name variables, never values."""

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score

from pipeline.config import validate
from pipeline.data import load_dataset
from pipeline.evaluation import importance
from pipeline.evaluation.importance import FoldPermutations, importance_table, permute_and_predict
from pipeline.experiment import run_experiment
from pipeline.experiment.folds import predict
from pipeline.metrics.intervals import INTERVALS
from pipeline.metrics.resampling import resample_counts

FAST = ("tracking=off", "n_bootstrap=60", "model=logistic", "evaluation.importance_repeats=3")


@pytest.fixture(scope="module")
def mixed_table(tmp_path_factory):
    """Two informative numeric variables, an informative categorical one (4 levels), noise."""
    rng = np.random.default_rng(5)
    n = 400
    ward = rng.choice(["north", "south", "east", "west"], n)
    age, marker, noise = rng.normal(60, 10, n), rng.normal(size=n), rng.normal(size=n)
    risk = 0.08 * (age - 60) + 1.5 * marker + np.where(ward == "east", 1.5, 0.0) - 0.5
    frame = pd.DataFrame({"age": age, "marker": marker, "ward": ward, "noise": noise,
                          "outcome": (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)})
    path = tmp_path_factory.mktemp("table") / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def mixed_run(mixed_table):
    from tests.conftest import compose_config

    config = validate(compose_config(*FAST, "dataset=csv", f"dataset.path={mixed_table}",
                                     "dataset.target=outcome", "dataset.categorical=[ward]"))
    return config, load_dataset(config.dataset), run_experiment(config)


def test_one_importance_per_original_variable_in_the_table_order_of_importance(mixed_run):
    config, dataset, result = mixed_run
    table = result.extras.importance
    assert sorted(table["variable"]) == sorted(dataset.X.columns)  # not ward_east, ward_north, ...
    assert any(name.startswith("ward") and name != "ward" for name in result.folds[0].feature_names)
    assert list(table["rank"]) == list(range(1, 5))
    assert table["importance"].is_monotonic_decreasing
    assert set(table.loc[table["importance"] > 0.02, "variable"]) >= {"marker", "ward"}
    noise = table.set_index("variable").loc["noise"]
    assert noise["ci_low"] <= 0 <= noise["ci_high"] or abs(noise["importance"]) < 0.01
    assert (table["ci_low"] <= table["importance"]).all() and (table["importance"] <= table["ci_high"]).all()


def test_each_folds_permutations_are_of_its_test_rows_only(mixed_run):
    _, dataset, result = mixed_run
    for fold in result.folds:
        assert fold.permuted.shape == (dataset.X.shape[1], 3, fold.test_rows.size)


def test_fold_importance_equals_a_hand_loop_with_scikit_learns_auroc(mixed_run):
    """The same permutations, applied by hand to each column of the fold's test rows and scored
    with roc_auc_score: the table's value is the mean over folds of intact minus shuffled."""
    config, dataset, result = mixed_run
    per_fold = []
    for fold in result.folds:
        X, y = dataset.X.iloc[fold.test_rows].reset_index(drop=True), dataset.y[fold.test_rows]
        rng = np.random.default_rng(config.seed + fold.index)
        perms = [rng.permutation(len(X)) for _ in range(3)]
        intact = roc_auc_score(y, fold.model.predict_proba(X)[:, 1])
        drops = {}
        for column in X.columns:
            shuffled = [roc_auc_score(y, fold.model.predict_proba(
                X.assign(**{column: X[column].to_numpy()[p]}))[:, 1]) for p in perms]
            drops[column] = intact - np.mean(shuffled)
        per_fold.append(drops)
    expected = pd.DataFrame(per_fold).mean()
    got = result.extras.importance.set_index("variable")["importance"]
    np.testing.assert_allclose(got[expected.index], expected, atol=1e-12)


def test_agrees_with_scikit_learns_permutation_importance_on_the_same_fold(mixed_run):
    """scikit-learn's permutation_importance of the fold's pipeline on its raw test rows (which
    also shuffles a categorical column whole) estimates the same mean drop: many repeats on
    each side agree within their Monte Carlo error."""
    config, dataset, result = mixed_run
    fold = result.folds[0]
    X, y = dataset.X.iloc[fold.test_rows].reset_index(drop=True), dataset.y[fold.test_rows]
    repeats = 60
    ours = permute_and_predict(lambda frame: predict(fold.model, frame, "binary"), X, repeats,
                               np.random.default_rng(1))
    intact = roc_auc_score(y, predict(fold.model, X, "binary"))
    mine = np.array([[intact - roc_auc_score(y, ours[v, r]) for r in range(repeats)]
                     for v in range(X.shape[1])])
    theirs = permutation_importance(fold.model, X, y, scoring="roc_auc", n_repeats=repeats,
                                    random_state=2).importances
    error = np.sqrt(mine.var(axis=1) / repeats + theirs.var(axis=1) / repeats)
    assert np.all(np.abs(mine.mean(axis=1) - theirs.mean(axis=1)) <= 4 * error + 1e-12)
    assert X.columns[np.argmax(theirs.mean(axis=1))] == X.columns[np.argmax(mine.mean(axis=1))]


def test_interval_is_a_bootstrap_of_the_fold_mean_computed_by_brute_force():
    """Resample rows (the same counts), score each fold's share with scikit-learn's weighted
    roc_auc_score, average over folds, take percentiles: the table's interval."""
    rng = np.random.default_rng(7)
    n, folds = 90, []
    y = np.r_[np.zeros(45, int), np.ones(45, int)]
    rng.shuffle(y)
    rows = np.array_split(rng.permutation(n), 3)
    for fold_rows in rows:
        base = np.clip(0.35 * y[fold_rows] + 0.65 * rng.random(fold_rows.size), 0, 1)
        permuted = np.clip(base[None, None, :] + rng.normal(0, 0.2, (2, 2, fold_rows.size)), 0, 1)
        folds.append(FoldPermutations(fold_rows, base, permuted))
    table = importance_table(folds, ["a", "b"], y, "binary", "auroc", n_boot=40, seed=3)
    [counts] = list(resample_counts(n, 40, 3))
    for v, name in enumerate(["a", "b"]):
        replicates = []
        for w in counts:
            drops = []
            for fold in folds:
                truth, weight = y[fold.rows], w[fold.rows]
                if weight[truth == 1].sum() == 0 or weight[truth == 0].sum() == 0:
                    drops.append(np.nan)
                    continue
                intact = roc_auc_score(truth, fold.prediction, sample_weight=weight)
                drops.append(intact - np.mean([roc_auc_score(truth, fold.permuted[v, r], sample_weight=weight)
                                               for r in range(2)]))
            replicates.append(np.mean(drops))
        row = table.set_index("variable").loc[name]
        point = np.mean([roc_auc_score(y[f.rows], f.prediction)
                         - np.mean([roc_auc_score(y[f.rows], f.permuted[v, r]) for r in range(2)])
                         for f in folds])
        assert row["importance"] == pytest.approx(point, abs=1e-12)
        low, high = INTERVALS["percentile"](np.array(replicates), point, 0.05, None, None)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)


def test_auroc_scored_by_products_or_one_copy_at_a_time_gives_the_same_table(mixed_run, monkeypatch):
    _, dataset, result = mixed_run
    folds = [FoldPermutations(f.test_rows, f.prediction, f.permuted) for f in result.folds]
    variables, y = list(dataset.X.columns), dataset.y
    fast = importance_table(folds, variables, y, "binary", "auroc", n_boot=30, seed=1)
    monkeypatch.setattr(importance, "SMALL_CLASS", 0)  # every fold through weighted_auroc
    slow = importance_table(folds, variables, y, "binary", "auroc", n_boot=30, seed=1)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, atol=1e-12)


def test_a_loss_objective_counts_importance_as_the_rise_of_the_loss():
    y = np.array([0, 1] * 20)
    good = np.where(y == 1, 0.8, 0.2)
    permuted = np.full((1, 1, 40), 0.5)  # shuffling makes the model useless
    table = importance_table([FoldPermutations(np.arange(40), good, permuted)], ["x"], y, "binary",
                             "brier", n_boot=0, seed=0)
    assert table["importance"].iloc[0] == pytest.approx(0.25 - 0.04)


def test_importance_table_and_figure_name_variables_never_values(mixed_run):
    from pipeline.evaluation.figures import importance_chart

    _, _, result = mixed_run
    table = result.extras.importance
    figure = importance_chart(table).to_svg()
    assert set(table["variable"]) == {"age", "marker", "ward", "noise"}
    for level in ("north", "south", "east", "west"):
        assert level not in table.to_csv() and level not in figure
    assert all(name in figure for name in ("age", "marker", "ward", "noise"))


def test_importance_off_leaves_no_table(mixed_table):
    from tests.conftest import compose_config

    config = validate(compose_config(*FAST, "dataset=csv", f"dataset.path={mixed_table}",
                                     "dataset.target=outcome", "evaluation=fast"))
    result = run_experiment(config)
    assert result.extras.importance is None and all(f.permuted is None for f in result.folds)
