"""Comparing configurations on the same patients: their out-of-fold predictions and the
paired bootstrap difference of a metric."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics

PAIRED_METRIC = {"binary": "auroc", "multiclass": "macro_auroc"}


@dataclasses.dataclass
class OutOfFold:
    """A run's pooled out-of-fold predictions, one entry per dataset row (repeats averaged)."""

    rows: np.ndarray  # (n,) positions in the dataset
    y: np.ndarray  # (n,) labels / outcome values
    prediction: np.ndarray  # (n,) P(y=1) or values, or (n, K) class probabilities


def read_oof(path: str | Path) -> OutOfFold:
    """Read ``oof_predictions.csv``; rows seen more than once (repeated k-fold) are averaged."""
    frame = pd.read_csv(path)
    columns = [c for c in frame.columns if c.startswith("probability")] or ["prediction"]
    missing = {"row", "label", *columns} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)}")
    grouped = frame.groupby("row", sort=True)
    prediction = grouped[columns].mean().to_numpy()
    return OutOfFold(grouped["row"].first().to_numpy(), grouped["label"].first().to_numpy(),
                     prediction[:, 0] if prediction.shape[1] == 1 else prediction)


def incomparable(a: dict, b: dict, oof_a: OutOfFold | None, oof_b: OutOfFold | None) -> str | None:
    """Why runs ``a`` and ``b`` cannot be compared on the same predictions (None if they can)."""
    fp_a, fp_b = a["tags"].get("dataset_fingerprint"), b["tags"].get("dataset_fingerprint")
    if not fp_a or fp_a != fp_b:
        return (f"they were not evaluated on the same data (dataset fingerprints "
                f"{(fp_a or 'missing')[:12]} and {(fp_b or 'missing')[:12]})")
    for run, oof in ((a, oof_a), (b, oof_b)):
        if oof is None:
            return f"{run['run_name']} has no oof_predictions.csv artifact"
    if not np.array_equal(oof_a.rows, oof_b.rows):
        common = np.intersect1d(oof_a.rows, oof_b.rows).size
        return (f"their out-of-fold rows differ ({oof_a.rows.size} and {oof_b.rows.size} rows, "
                f"{common} in common)")
    if not np.array_equal(oof_a.y, oof_b.y):
        return "their labels differ on the same rows"
    return None


def paired_comparison(a: dict, b: dict, oof_a: OutOfFold | None, oof_b: OutOfFold | None,
                      task: str) -> dict:
    """Paired bootstrap difference ``metric(a) - metric(b)`` (AUROC, macro AUROC for
    multiclass) on the rows both runs predicted, with the runs' bootstrap size and seed.

    Returns ``{"skipped": reason}`` when the runs cannot be compared, else the result of
    :func:`metrics.paired_bootstrap_difference` plus ``metric``, ``n``, ``n_boot``.
    """
    if task not in PAIRED_METRIC:
        return {"skipped": f"a paired AUROC comparison needs a classification task (this one: {task})"}
    reason = incomparable(a, b, oof_a, oof_b)
    if reason:
        return {"skipped": reason}
    n_boot = int(param(a, "n_bootstrap", 1000))
    seed = int(param(a, "seed", 0))
    metric = PAIRED_METRIC[task]
    result = metrics.paired_bootstrap_difference(oof_a.y, oof_a.prediction, oof_b.prediction,
                                                 metric, n_boot=max(n_boot, 1), seed=seed)
    return {**result, "metric": metric, "n": int(oof_a.y.size), "n_boot": n_boot}


def param(run: dict, key: str, default):
    value = run["params"].get(key)
    return default if value in (None, "None", "") else value


def paired_sentence(result: dict, a: str, b: str) -> str:
    return (f"{result['metric']} of {a} minus {b}: {result['difference']:+.4f} (95% CI "
            f"{result['ci_low']:+.4f} to {result['ci_high']:+.4f}; bootstrap p = {result['p_value']:.3f}), "
            f"paired bootstrap with {result['n_boot']} resamples of the same {result['n']} out-of-fold "
            "predictions. An interval containing 0 means the data do not separate the two.")
