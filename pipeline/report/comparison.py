"""Comparing configurations on the same patients: their out-of-fold predictions, and the
paired bootstrap difference of each configuration from the best one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics

PAIRED_METRIC = {"binary": "auroc", "multiclass": "macro_auroc"}


@dataclasses.dataclass
class OutOfFold:
    """A run's out-of-fold predictions, one set per repeat, aligned by dataset row."""

    rows: np.ndarray  # (n,) positions in the dataset, sorted
    y: np.ndarray  # (n,) labels / outcome values
    predictions: list  # per repeat: (n,) P(y=1) or values, or (n, K) class probabilities
    folds: list  # per repeat: (n,) the fold that predicted each row
    clusters: np.ndarray | None  # (n,) patient cluster codes when the data have groups

    @property
    def prediction(self) -> np.ndarray:
        """The first repeat's predictions: one set of fitted models (for figures)."""
        return self.predictions[0]


def read_oof(path: str | Path) -> OutOfFold:
    """Read ``oof_predictions.csv`` (one block per repeat; a file without a ``repeat``
    column is one repeat)."""
    frame = pd.read_csv(path)
    columns = [c for c in frame.columns if c.startswith("probability")] or ["prediction"]
    missing = {"row", "label", *columns} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)}")
    if "repeat" not in frame:
        frame["repeat"] = 0
    blocks = [block.sort_values("row", kind="stable") for _, block in frame.groupby("repeat")]
    rows = blocks[0]["row"].to_numpy()
    if any(not np.array_equal(block["row"].to_numpy(), rows) for block in blocks):
        raise ValueError(f"{path}: the repeats do not predict the same rows")
    predictions = [block[columns].to_numpy() for block in blocks]
    return OutOfFold(rows, blocks[0]["label"].to_numpy(),
                     [p[:, 0] if p.shape[1] == 1 else p for p in predictions],
                     [block["fold"].to_numpy() if "fold" in block else np.zeros(len(rows), int)
                      for block in blocks],
                     blocks[0]["cluster"].to_numpy() if "cluster" in blocks[0] else None)


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
    if len(oof_a.predictions) != len(oof_b.predictions):
        return "they were cross-validated with different numbers of repeats"
    return None


def paired_comparison(a: dict, b: dict, oof_a: OutOfFold | None, oof_b: OutOfFold | None,
                      task: str) -> dict:
    """Paired bootstrap difference ``metric(a) - metric(b)`` (AUROC, macro AUROC for
    multiclass) on the rows both runs predicted, with the runs' bootstrap size and seed;
    whole patients are resampled when the data have groups, and repeated cross-validation
    is scored repeat by repeat on one shared resample.

    Returns ``{"skipped": reason}`` when the runs cannot be compared, else the result of
    :func:`metrics.paired_bootstrap_difference` plus ``metric``, ``n``, ``n_boot``,
    ``grouped``.
    """
    if task not in PAIRED_METRIC:
        return {"skipped": f"a paired AUROC comparison needs a classification task (this one: {task})"}
    reason = incomparable(a, b, oof_a, oof_b)
    if reason:
        return {"skipped": reason}
    n_boot = int(param(a, "n_bootstrap", 1000))
    seed = int(param(a, "seed", 0))
    metric = PAIRED_METRIC[task]
    single = len(oof_a.predictions) == 1
    result = metrics.paired_bootstrap_difference(
        oof_a.y, oof_a.predictions[0] if single else oof_a.predictions,
        oof_b.predictions[0] if single else oof_b.predictions, metric, n_boot=max(n_boot, 1),
        seed=seed, groups=oof_a.clusters)
    return {**result, "metric": metric, "n": int(oof_a.y.size), "n_boot": n_boot,
            "grouped": oof_a.clusters is not None}


def compare_with_best(ranked: list, oof: dict, task: str) -> list[dict]:
    """The paired difference of every other finished configuration from the best one."""
    if len(ranked) < 2:
        return []
    best = ranked[0]
    return [{"run": run, **paired_comparison(best, run, oof.get(best["run_id"]), oof.get(run["run_id"]),
                                             task)}
            for run in ranked[1:]]


def param(run: dict, key: str, default):
    value = run["params"].get(key)
    return default if value in (None, "None", "") else value


def paired_sentence(result: dict, a: str, b: str) -> str:
    unit = "patients" if result.get("grouped") else "out-of-fold predictions"
    return (f"{result['metric']} of {a} minus {b}: {result['difference']:+.4f} (95% CI "
            f"{result['ci_low']:+.4f} to {result['ci_high']:+.4f}; bootstrap p = {result['p_value']:.3f}), "
            f"paired bootstrap with {result['n_boot']} resamples of the same {result['n']} {unit}. "
            "An interval containing 0 means the data do not separate the two.")
