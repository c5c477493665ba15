"""The selection-honest estimate of a sweep: what "run this sweep and keep the best" is worth.

Per outer fold, the configuration with the best objective on that fold's inner validation
part is selected (test rows play no part in the choice), and its test predictions for the
fold are kept; pooled over the folds (per repeat, then averaged) they are scored like any
configuration, with a bootstrap CI. This is nested cross-validation of the whole sweep. The
best configuration's own pooled value was chosen on the very predictions it is scored on, so
the difference between the two is the optimism of picking the best.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .. import metrics
from ..metrics.registry import direction
from .comparison import OutOfFold, incomparable, param


@dataclasses.dataclass
class NestedEstimate:
    objective: str
    value: float
    ci_low: float
    ci_high: float
    apparent: float  # the best configuration's pooled value, chosen on the same predictions
    selected: pd.DataFrame  # per fold: the configuration chosen on its validation part

    @property
    def optimism(self) -> float:
        return self.apparent - self.value


def nested_estimate(ranked: list, oof: dict, folds: dict, task: str) -> NestedEstimate | str:
    """The selection-honest estimate over the finished configurations ``ranked`` (best
    first), from their out-of-fold predictions ``oof`` and fold tables ``folds`` (run id ->
    ``folds.csv`` frame); or why it cannot be computed."""
    if not ranked:
        return "no configuration finished"
    best = ranked[0]
    objective = param(best, "objective", "auroc")
    usable = [r for r in ranked if oof.get(r["run_id"]) is not None and folds.get(r["run_id"]) is not None]
    for run in usable[1:]:
        reason = incomparable(best, run, oof[best["run_id"]], oof[run["run_id"]])
        if reason:
            return f"{run['run_name']} and {best['run_name']} cannot be pooled: {reason}"
    if not usable or usable[0] is not best:
        return "the best configuration has no out-of-fold predictions or fold table"
    selected = _select(usable, folds, objective)
    reference = oof[best["run_id"]]
    predictions = [_selected_predictions(reference, oof, selected, repeat)
                   for repeat in range(len(reference.predictions))]
    scores = metrics.evaluate_repeats(task, reference.y, predictions,
                                      n_boot=int(param(best, "n_bootstrap", 1000)),
                                      seed=int(param(best, "seed", 0)), groups=reference.clusters)
    stats = scores[objective]
    return NestedEstimate(objective, stats["value"], stats["ci_low"], stats["ci_high"],
                          best["metrics"].get(objective, np.nan), selected)


def _select(runs: list, folds: dict, objective: str) -> pd.DataFrame:
    """Per (repeat, fold): the run with the best validation objective (ties: the earlier,
    i.e. better-ranked, run)."""
    sign = 1.0 if direction(objective) == "maximize" else -1.0
    table = pd.concat([folds[r["run_id"]].assign(run_id=r["run_id"], order=i)
                       for i, r in enumerate(runs)], ignore_index=True)
    table["score"] = sign * table["val_objective"].astype(float)
    table = table[np.isfinite(table["score"])].sort_values(["fold", "score", "order"],
                                                           ascending=[True, False, True])
    return table.groupby("fold", sort=True).head(1)[["repeat", "fold", "run_id", "val_objective"]]


def _selected_predictions(reference: OutOfFold, oof: dict, selected: pd.DataFrame, repeat: int):
    """Repeat ``repeat``'s pooled predictions taking each fold's rows from the run selected
    for that fold."""
    prediction = np.full_like(reference.predictions[repeat], np.nan, dtype=float)
    for _, choice in selected[selected["repeat"] == repeat].iterrows():
        chosen = oof[choice["run_id"]]
        rows = chosen.folds[repeat] == choice["fold"]
        prediction[rows] = chosen.predictions[repeat][rows]
    if np.isnan(prediction).any():
        raise ValueError(f"repeat {repeat}: some folds have no selectable configuration")
    return prediction
