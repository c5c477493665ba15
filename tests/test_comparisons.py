"""Trustworthy comparisons at the experiment level: a converged logistic baseline, each fold's
threshold on its own rows, repeats scored one by one, the penalty chosen inside each fold,
and every fit's convergence on record. References: scikit-learn and brute-force loops."""

import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pipeline import metrics, tracking
from pipeline.config import validate
from pipeline.data import load_dataset
from pipeline.experiment import run_experiment
from pipeline.report import leaderboard

FAST = ("n_bootstrap=50", "tracking=off")


def _fold_design(result, config, k):
    """The preprocessed rows fold ``k``'s network was fitted on, and their labels."""
    from pipeline.experiment.folds import inner_split
    from pipeline.splits import outer_splits

    dataset = load_dataset(config.dataset)
    train, _ = outer_splits(config.split, dataset.y, dataset.groups, config.seed)[k]
    fit_rows, _ = inner_split(config, dataset, train, config.seed + k)
    X = result.folds[k].model.named_steps["preprocess"].transform(dataset.X.iloc[fit_rows])
    return X, dataset.y[fit_rows]


def test_default_logistic_regression_reaches_the_penalised_optimum(compose):
    """model=logistic is fitted by lbfgs to scikit-learn's solution in every fold."""
    config = validate(compose("model=logistic", *FAST))
    assert config.optimizer.rule == "lbfgs" and not config.regularization.early_stopping
    result = run_experiment(config)
    for k in (0, 3):
        X, y = _fold_design(result, config, k)
        reference = LogisticRegression(C=1 / (len(y) * config.regularization.l2), tol=1e-10,
                                       max_iter=10000).fit(X, y)
        model = result.folds[k].model.named_steps["model"]
        ours = np.r_[model.coefs_[0][:, 0], model.intercepts_[0]]
        theirs = np.r_[reference.coef_[0], reference.intercept_]
        assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 1e-5
        assert result.folds[k].diagnostics["converged"] == 1
    assert result.warnings == []


def test_unconverged_folds_are_flagged_on_the_run_its_description_and_the_leaderboard(
        compose, tmp_path, isolated_mlflow):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = validate(compose("model=logistic", "optimizer.max_epochs=3", "n_bootstrap=20",
                              f"tracking.uri={uri}", "sweep_id=conv"))
    result = run_experiment(config, tracking.Tracker(uri, "conv"))
    run = MlflowClient(uri).get_run(result.run_id)
    warning = run.data.tags["warning.convergence"]
    assert "did not converge in 5 of 5 folds (stopped by max_epochs)" in warning
    assert "did not converge" in run.data.tags["mlflow.note.content"]
    assert run.data.metrics["n_unconverged"] == 5
    folds = MlflowClient(uri).search_runs([run.info.experiment_id], "tags.`biotab.role` = 'fold'")
    for fold in folds:
        assert fold.data.metrics["converged"] == 0 and fold.data.metrics["n_iter"] == 3
        assert fold.data.metrics["final_grad_norm"] > 0 and fold.data.tags["stop_reason"] == "max_epochs"
    board = leaderboard(uri, sweep_id="conv")
    assert "did not converge" in board.loc[0, "note"]


def test_each_folds_threshold_is_chosen_on_its_validation_part_and_applied_to_its_rows(compose):
    result = run_experiment(validate(compose("model=logistic", *FAST)))
    y = load_dataset(validate(compose()).dataset).y
    tp = fn = tn = fp = 0
    for fold in result.folds:
        positive = fold.prediction >= fold.threshold
        truth = y[fold.test_rows] == 1
        tp, fn = tp + (positive & truth).sum(), fn + (~positive & truth).sum()
        tn, fp = tn + (~positive & ~truth).sum(), fp + (positive & ~truth).sum()
    assert result.pooled["sensitivity_tuned"]["value"] == pytest.approx(tp / (tp + fn), abs=1e-15)
    assert result.pooled["specificity_tuned"]["value"] == pytest.approx(tn / (tn + fp), abs=1e-15)
    thresholds = [f.threshold for f in result.folds]
    assert result.summary["threshold_median"] == np.median(thresholds)
    spread = (result.summary["threshold_min"], result.summary["threshold_max"])
    assert spread == (min(thresholds), max(thresholds))


def test_repeated_kfold_scores_each_repeat_and_averages(compose):
    result = run_experiment(validate(compose("model=logistic", "split=repeated_kfold", *FAST)))
    y = load_dataset(validate(compose()).dataset).y
    per_repeat = []
    for repeat in range(3):
        folds = [f for f in result.folds if f.repeat == repeat]
        rows = np.concatenate([f.test_rows for f in folds])
        assert sorted(rows) == list(range(len(y)))  # each repeat predicts every patient once
        per_repeat.append(roc_auc_score(y[rows], np.concatenate([f.prediction for f in folds])))
    assert result.pooled["auroc"]["value"] == pytest.approx(np.mean(per_repeat), abs=1e-12)


def test_the_penalty_is_chosen_inside_each_fold_on_its_validation_part(compose):
    """Reference: for one fold, fit every l2 of the grid by hand on the same rows and pick
    the best validation AUROC (ties to the larger penalty)."""
    grid = [1e-4, 1e-2, 1.0, 30.0]
    config = validate(compose("model=logistic", f"regularization.l2_grid=[{','.join(map(str, grid))}]",
                              *FAST))
    result = run_experiment(config)
    chosen = [f.diagnostics["l2"] for f in result.folds]
    assert set(chosen) <= set(grid)
    from pipeline.experiment.folds import fit_pipeline, inner_split
    from pipeline.splits import outer_splits

    dataset = load_dataset(config.dataset)
    train, _ = outer_splits(config.split, dataset.y, None, config.seed)[1]
    fit_rows, val_rows = inner_split(config, dataset, train, config.seed + 1)
    scores = {}
    for l2 in grid:
        single = validate(compose("model=logistic", f"regularization.l2={l2}", *FAST))
        fitted = fit_pipeline(single, dataset, fit_rows, val_rows, config.seed + 1)
        scores[l2] = metrics.auroc(dataset.y[val_rows], fitted.val_prediction)
    best = max(scores.values())
    assert chosen[1] == max(l2 for l2, s in scores.items() if s == best)
    assert result.folds[1].val_objective == best
