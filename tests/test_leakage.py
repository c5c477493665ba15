"""Leakage at the experiment level: what a fold is fitted on never includes its test rows."""

import numpy as np
import pandas as pd

from pipeline.config import validate
from pipeline.experiment import run_experiment
from pipeline.splits import outer_splits


def _fitted_state(fold):
    """Everything a fold learned: the network's weights and the preprocessing statistics."""
    pipeline = fold.model
    columns = pipeline.named_steps["preprocess"]
    numeric = columns.named_transformers_["num"]
    return ([*pipeline.named_steps["model"].coefs_, *pipeline.named_steps["model"].intercepts_,
             numeric.named_steps["impute"].statistics_, numeric.named_steps["scale"].mean_,
             numeric.named_steps["scale"].scale_],
            columns.named_transformers_["cat"].named_steps["encode"].categories_)


def test_changing_one_folds_test_rows_changes_nothing_that_fold_learned(compose, tmp_path):
    """Fold 0's test rows get other features (never other labels: they decide the folds).
    Fold 0's model and preprocessing stay bit-identical; every other fold, which trains on
    those rows, changes: the check has teeth."""
    rng = np.random.default_rng(5)
    n = 200
    frame = pd.DataFrame({"age": rng.normal(60, 10, n), "bmi": rng.normal(27, 4, n),
                          "ward": rng.choice(["a", "b", "c"], n)})
    frame.loc[rng.random(n) < 0.1, "bmi"] = np.nan
    frame["outcome"] = (rng.random(n) < 1 / (1 + np.exp(-(frame["age"] - 60) / 10))).astype(int)
    overrides = ("dataset=csv", "dataset.target=outcome", "tracking=off", "model=mlp",
                 "model.hidden_layer_sizes=[4]", "optimizer.max_epochs=5", "n_bootstrap=0")
    original, altered = tmp_path / "original.csv", tmp_path / "altered.csv"
    frame.to_csv(original, index=False)
    config = validate(compose(*overrides, f"dataset.path={original}"))
    [(_, test), *_] = outer_splits(config.split, frame["outcome"].to_numpy(), None, config.seed)
    changed = frame.copy()
    changed.loc[test, ["age", "bmi"]] = rng.normal(1000, 50, (len(test), 2))
    changed.loc[test, "ward"] = "a new ward"
    changed.to_csv(altered, index=False)

    before = run_experiment(config)
    after = run_experiment(validate(compose(*overrides, f"dataset.path={altered}")))
    assert np.array_equal(before.folds[0].test_rows, test)
    arrays, categories = _fitted_state(before.folds[0])
    arrays_after, categories_after = _fitted_state(after.folds[0])
    for a, b in zip(arrays, arrays_after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [list(c) for c in categories] == [list(c) for c in categories_after]
    for k in range(1, len(before.folds)):
        a, b = _fitted_state(before.folds[k])[0][0], _fitted_state(after.folds[k])[0][0]
        assert not np.array_equal(a, b)
