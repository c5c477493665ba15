"""Permutation importance on held-out rows: how much the run's objective worsens on an outer
fold's test part when one variable's values are shuffled among its rows.

A variable is a column of the table as loaded, before preprocessing: shuffling it moves
every feature made from it at once (all one-hot columns of a categorical variable, its
missing-value indicator), so a variable's importance is never split over its encodings.
Each fold's own model (preprocessing, network and calibrator) is scored on its own test
rows only; training rows never enter. Every variable is shuffled with the same
``n_repeats`` permutations of a fold (common random numbers: differences between variables
are not permutation noise).

Importance of variable ``v`` on fold ``f`` is the objective on the intact rows minus its mean
over the shuffles (the other way round for a loss), so that a larger value means a more
important variable; scikit-learn's ``permutation_importance`` on the same pipeline and rows
computes the same quantity. The reported value is the mean over all folds (of every repeat
of repeated k-fold). Its 95% interval is a percentile bootstrap of that mean: the
predicted rows (whole patients, when the data have groups) are resampled once, and each fold
is rescored on its share of the resample, permutations held fixed; the interval describes
the test rows' sampling, not the refitting of the models.

Tables and figures name variables, never their values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..metrics.intervals import INTERVALS
from ..metrics.ranking import auroc_of_many, weighted_auroc
from ..metrics.registry import direction
from ..metrics.resampling import apply_in_chunks, resample_counts
from ..metrics.scores import metric_table

SMALL_CLASS = 256  # auroc_of_many's products beat one sort per copy below this (measured 2x at 250)
WINS_CELLS = 4_000_000  # copies scored together: their (copies, P, N) comparisons fit in 32 MB


@dataclasses.dataclass
class FoldPermutations:
    """One outer fold's test predictions, intact and with each variable shuffled."""

    rows: np.ndarray  # (n,) the fold's test rows (positions in the table)
    prediction: np.ndarray  # (n,) or (n, K): the fold's model on its intact test rows
    permuted: np.ndarray  # (V, R, n) or (V, R, n, K): variable v shuffled by permutation r


def permute_and_predict(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame,
                        n_repeats: int, rng: np.random.Generator) -> np.ndarray:
    """Predictions of ``predict`` on ``X`` (a fold's test rows, all variables) with each
    column shuffled in turn, ``n_repeats`` times: shape (V, R, n) (or (V, R, n, K)).

    The permutations are drawn once and shared by every column; a column is shuffled as a
    whole, so the features made from it move together.
    """
    if n_repeats < 1:
        raise ValueError(f"evaluation.importance_repeats must be at least 1, got {n_repeats}")
    n = len(X)
    permutations = [rng.permutation(n) for _ in range(n_repeats)]
    # One prediction call on every shuffled copy at once: preprocessing and the network
    # cost far less per row on one large frame than on V * R small ones.
    shuffled = np.concatenate(permutations)  # (R * n,) rows of X, one permutation after another
    stacked = X.iloc[np.tile(np.arange(n), X.shape[1] * n_repeats)].reset_index(drop=True)
    for j, column in enumerate(X.columns):  # block j: column j shuffled, the others intact
        stacked.iloc[j * shuffled.size:(j + 1) * shuffled.size, j] = X[column].to_numpy()[shuffled]
    prediction = np.asarray(predict(stacked))
    return prediction.reshape(X.shape[1], n_repeats, n, *prediction.shape[1:])


def importance_table(folds: list[FoldPermutations], variables: list[str], y: np.ndarray,
                     task: str, objective: str, n_boot: int, seed, groups=None,
                     alpha: float = 0.05) -> pd.DataFrame:
    """The mean importance of each variable over ``folds``, with a bootstrap interval.

    Parameters
    ----------
    folds : one :class:`FoldPermutations` per outer fold.
    variables : the V column names, in the order of the permuted axis.
    y : (n_rows,) labels of the whole table (indexed by each fold's ``rows``).
    task, objective : the run's task and objective (a metric of :mod:`pipeline.metrics`).
    n_boot, seed : bootstrap resamples of the table's rows (``groups``: of whole patients).

    Returns
    -------
    DataFrame sorted by importance (largest first) with ``rank``, ``variable``,
    ``importance``, ``ci_low``, ``ci_high``, ``fold_sd`` (spread over folds), ``n_folds``,
    ``metric`` and ``n_degenerate`` (resamples where a fold's metric was undefined).
    """
    fn = metric_table(task)[objective]
    sign = 1.0 if direction(objective) == "maximize" else -1.0
    n_variables = len(variables)

    def per_fold(w_all):
        """(folds, V, b) importances under row weights ``w_all`` (b, n_rows)."""
        out = []
        for fold in folds:
            w, truth = w_all[:, fold.rows], y[fold.rows]
            intact = fn(truth, fold.prediction, w)
            shuffled = _scores(fn, truth, fold.permuted, w)  # (V, R, b)
            out.append(sign * (intact[None, :] - shuffled.mean(axis=1)))
        return np.array(out)

    point = per_fold(np.ones((1, y.size)))[:, :, 0]  # (folds, V)

    def stat(w):
        with np.errstate(invalid="ignore"):
            mean = per_fold(w).mean(axis=0)  # a fold undefined on a resample makes it nan
        return {str(v): mean[v] for v in range(n_variables)}

    replicates = (apply_in_chunks(stat, resample_counts(y.size, n_boot, seed, groups))
                  if n_boot else {})
    rows = []
    for v, name in enumerate(variables):
        value = float(point[:, v].mean())
        values = replicates.get(str(v), np.empty(0))
        low, high = (INTERVALS["percentile"](values, value, alpha, None, None)
                     if np.isfinite(values).any() else (np.nan, np.nan))
        rows.append({"variable": name, "importance": value, "ci_low": low, "ci_high": high,
                     "fold_sd": float(point[:, v].std(ddof=1)) if len(folds) > 1 else 0.0,
                     "n_folds": len(folds), "metric": objective,
                     "n_degenerate": int(values.size - np.isfinite(values).sum())})
    table = pd.DataFrame(rows).sort_values("importance", ascending=False, kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def _scores(fn, truth: np.ndarray, permuted: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``fn`` of every shuffled copy (V, R, n) of a fold under weights ``w`` (b, n): (V, R, b).
    AUROC (the usual objective) scores all copies in one product while the smaller class
    is small; otherwise one call per copy."""
    n_variables, n_repeats = permuted.shape[:2]
    n_pos = int(truth.sum())
    if fn is weighted_auroc and min(n_pos, truth.size - n_pos) <= SMALL_CLASS:
        copies = permuted.reshape(n_variables * n_repeats, -1)
        group = max(1, WINS_CELLS // max(1, n_pos * (truth.size - n_pos)))  # bounds its memory
        flat = np.concatenate([auroc_of_many(truth, copies[start:start + group], w)
                               for start in range(0, len(copies), group)])
        return flat.reshape(n_variables, n_repeats, -1)
    return np.array([[fn(truth, permuted[v, r], w) for r in range(n_repeats)]
                     for v in range(n_variables)])
