"""Performance within subgroups of patients (TRIPOD+AI: fairness across groups), from the
pooled out-of-fold predictions.

``evaluation.subgroups`` names feature columns (``sex``) or bands of a numeric one
(``age_band``, with ``evaluation.bands: {age: [0, 40, 65, 120]}`` giving ``[0, 40)``,
``[40, 65)`` and ``[65, 120]``; values outside the edges form ``outside bands``). Missing
values form a level of their own (``missing``), and levels held by fewer than
:data:`MIN_LEVEL_ROWS` rows are pooled into ``other levels``, so a rare code never becomes a
table row.

A level with at least ``evaluation.min_events`` events and as many non-events is scored:
AUROC, calibration intercept (calibration-in-the-large) and sensitivity and specificity at
each row's fold threshold (chosen on that fold's inner validation part), each with the run's
bootstrap interval (:func:`pipeline.metrics.evaluate_repeats`: repeats averaged, patients
resampled whole when the data have groups). Smaller levels are listed as too small, with
their counts, and not scored.

For each variable, the gap of each metric is the largest minus the smallest scored level,
with a percentile interval from one joint bootstrap of the table (the two levels' rows
resampled together, patients whole).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..errors import ConfigError, did_you_mean
from ..metrics.calibration import calibration_intercept
from ..metrics.intervals import INTERVALS
from ..metrics.ranking import weighted_auroc
from ..metrics.resampling import apply_in_chunks, resample_counts
from ..metrics.thresholds import RATES, confusion

MIN_LEVEL_ROWS = 10  # rarer levels are pooled: their names never reach a table or a figure
BAND_SUFFIX = "_band"
MISSING, OTHER, OUTSIDE = "missing", "other levels", "outside bands"
SCORED = ("auroc", "calibration_intercept", "sensitivity_tuned", "specificity_tuned")


def check_subgroups(evaluation, X: pd.DataFrame, task: str) -> None:
    """``evaluation.subgroups`` and ``evaluation.bands`` against the loaded table; raises
    :class:`ConfigError` naming the key and what to do. Called before any training."""
    if evaluation.min_events < 1:
        raise ConfigError(f"evaluation.min_events must be at least 1, got {evaluation.min_events}.")
    for column, edges in (evaluation.bands or {}).items():
        if column not in X.columns:
            raise ConfigError(f"evaluation.bands names {column!r}, which is not a feature column."
                              f"{did_you_mean(column, list(X.columns))}")
        if not pd.api.types.is_numeric_dtype(X[column]):
            raise ConfigError(f"evaluation.bands.{column}: bands need a numeric column; "
                              f"{column!r} is categorical: name it in evaluation.subgroups directly.")
        values = np.asarray(edges, dtype=float) if isinstance(edges, (list, tuple)) else np.empty(0)
        if values.size < 2 or not np.all(np.diff(values) > 0):
            raise ConfigError(f"evaluation.bands.{column} must be a list of at least two ascending "
                              f"edges, e.g. [0, 40, 65, 120]; got {edges!r}.")
    if evaluation.subgroups and task != "binary":
        raise ConfigError(f"evaluation.subgroups scores binary outcomes; this target is {task}: "
                          "set evaluation.subgroups=[].")
    known = list(X.columns) + [f"{c}{BAND_SUFFIX}" for c in evaluation.bands or {}]
    for name in evaluation.subgroups:
        if name in known:
            continue
        if name.endswith(BAND_SUFFIX) and name.removesuffix(BAND_SUFFIX) in X.columns:
            raise ConfigError(f"evaluation.subgroups names {name!r} but evaluation.bands has no "
                              f"edges for {name.removesuffix(BAND_SUFFIX)!r}: add e.g. "
                              f"evaluation.bands.{name.removesuffix(BAND_SUFFIX)}=[0,40,65,120].")
        raise ConfigError(f"evaluation.subgroups names {name!r}, which is neither a feature "
                          f"column nor a band of evaluation.bands.{did_you_mean(name, known)} "
                          "(id, group, target and dropped columns are not kept).")


def subgroup_levels(name: str, X: pd.DataFrame, bands: dict) -> pd.Series:
    """Each row's level of subgroup variable ``name`` as text (see the module docstring)."""
    if name in X.columns:  # a column's own values: rare ones pooled
        column = X[name]
        text = column.map(_level_text).where(column.notna(), MISSING).astype(str)
        counts = text.value_counts()
        rare = counts.index[(counts < MIN_LEVEL_ROWS) & (counts.index != MISSING)]
        return text.where(~text.isin(rare), OTHER)
    edges = np.asarray(bands[name.removesuffix(BAND_SUFFIX)], dtype=float)
    values = X[name.removesuffix(BAND_SUFFIX)].to_numpy(dtype=float)
    last = edges.size - 2  # bands are [e_i, e_i+1), the last one closed
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = last
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-2], edges[1:-1])]
    labels += [f"[{edges[-2]:g}, {edges[-1]:g}]", OUTSIDE, MISSING]
    index = np.where((index < 0) | (index > last), last + 1, index)
    index[np.isnan(values)] = last + 2
    return pd.Series(np.array(labels, dtype=object)[index], index=X.index, dtype=str)


def _level_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def subgroup_table(levels: dict[str, np.ndarray], y: np.ndarray, predictions: list,
                   thresholds: list, n_boot: int, seed, groups=None,
                   min_events: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores per subgroup level and the gap of each variable.

    Parameters
    ----------
    levels : variable -> (n,) level of each pooled row.
    y : (n,) 0/1 labels; ``predictions``, ``thresholds``: per repeat, (n,) each (the fold
        threshold of every row).
    n_boot, seed, groups : the run's bootstrap (``groups``: patient of each row).

    Returns
    -------
    (subgroups, gaps): one row per level (``variable``, ``level``, ``n``, ``events``,
    ``status``, ``event_rate``, ``mean_risk`` and each scored metric with ``_ci_low`` and
    ``_ci_high``); one row per variable and metric with at least two scored levels
    (``variable``, ``metric``, ``highest``, ``lowest`` levels, ``gap`` and its interval).
    """
    rows, scored = [], {}
    for variable, level_of_row in levels.items():
        level_of_row = np.asarray(level_of_row, dtype=object)
        for level in _ordered(level_of_row):
            mask = level_of_row == level
            rows.append(_level_row(variable, level, mask, y, predictions, thresholds, n_boot, seed,
                                   groups, min_events))
            if rows[-1]["status"] == "scored":
                scored.setdefault(variable, []).append((level, mask))
    table = pd.DataFrame(rows)
    gaps = [gap for variable, masks in scored.items() if len(masks) > 1
            for gap in _gaps(variable, masks, table, y, predictions, thresholds, n_boot, seed, groups)]
    gap_columns = ["variable", "metric", "highest", "lowest", "gap", "ci_low", "ci_high"]
    return table, pd.DataFrame(gaps, columns=gap_columns)


def _ordered(level_of_row) -> list[str]:
    """Levels in a stable reading order: bands and codes as sorted, pooled levels last."""
    special = [MISSING, OUTSIDE, OTHER]
    present = set(level_of_row.tolist())
    return sorted(present - set(special), key=_sort_key) + [s for s in special if s in present]


def _sort_key(level: str):
    number = level.lstrip("[").split(",")[0]
    try:
        return (0, float(number), level)
    except ValueError:
        return (1, 0.0, level)


def _level_row(variable, level, mask, y, predictions, thresholds, n_boot, seed, groups, min_events):
    truth = y[mask]
    events, n = int(truth.sum()), int(mask.sum())
    row = {"variable": variable, "level": level, "n": n, "events": events,
           "n_patients": int(len(np.unique(groups[mask]))) if groups is not None else n,
           "event_rate": events / n, "mean_risk": float(np.mean([p[mask].mean() for p in predictions]))}
    if min(events, n - events) < min_events:
        row["status"] = f"too small (fewer than {min_events} events or non-events)"
        return row
    scores = metrics.evaluate_repeats(
        "binary", truth, [p[mask] for p in predictions], n_boot=n_boot, seed=seed,
        extra_thresholds={"tuned": [t[mask] for t in thresholds]},
        groups=None if groups is None else groups[mask])
    row["status"] = "scored"
    for name in SCORED:
        row.update({name: scores[name]["value"], f"{name}_ci_low": scores[name]["ci_low"],
                    f"{name}_ci_high": scores[name]["ci_high"]})
    return row


def _weighted_scores(y, p, t, w) -> dict[str, np.ndarray]:
    counts = confusion(y, p >= t, w)
    return {"auroc": weighted_auroc(y, p, w), "calibration_intercept": calibration_intercept(y, p, w),
            "sensitivity_tuned": RATES["sensitivity"](counts),
            "specificity_tuned": RATES["specificity"](counts)}


def _gaps(variable, masks, table, y, predictions, thresholds, n_boot, seed, groups) -> list[dict]:
    """Per metric: the highest minus the lowest scored level, and a joint percentile interval."""
    own = table[(table["variable"] == variable) & (table["status"] == "scored")].set_index("level")
    pairs = {name: (own[name].idxmax(), own[name].idxmin()) for name in SCORED
             if own[name].notna().sum() > 1}  # undefined in a level (e.g. separated): no gap
    by_level = dict(masks)

    def stat(w):
        out = {}
        for name, (high, low) in pairs.items():
            values = []
            for level in (high, low):
                m = by_level[level]
                per_repeat = [_weighted_scores(y[m], p[m], t[m], w[:, m])[name]
                              for p, t in zip(predictions, thresholds)]
                values.append(np.mean(per_repeat, axis=0))
            out[name] = values[0] - values[1]
        return out

    replicates = apply_in_chunks(stat, resample_counts(y.size, n_boot, seed, groups)) if n_boot else {}
    rows = []
    for name, (high, low) in pairs.items():
        gap = float(own.loc[high, name] - own.loc[low, name])
        values = replicates.get(name, np.empty(0))
        ci = (INTERVALS["percentile"](values, gap, 0.05, None, None)
              if np.isfinite(values).any() else (np.nan, np.nan))
        rows.append({"variable": variable, "metric": name, "highest": high, "lowest": low,
                     "gap": gap, "ci_low": ci[0], "ci_high": ci[1]})
    return rows


def largest_gap(gaps: pd.DataFrame, metric: str = "auroc") -> dict | None:
    """The variable with the largest gap in ``metric`` (a row of ``gaps`` as a dict), or None."""
    rows = gaps[gaps["metric"] == metric]
    if rows.empty:
        return None
    return rows.loc[rows["gap"].idxmax()].to_dict()
