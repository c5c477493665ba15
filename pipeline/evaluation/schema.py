"""The training table's schema and domain, kept with a configuration run as
``training_schema.json``, and the checks of a new table against it (external validation).

What is kept is safe to store: column names, their kind and dtype, the share of missing
cells, the 0.5th, 50th and 99.5th percentiles of numeric columns (percentiles, never the
extremes, which belong to single patients), and of categorical columns a short hash of each
level held by at least :data:`MIN_LEVEL_ROWS` rows (never the level itself, and rare levels
not at all: they count as unseen in a new table).

The checks (:func:`check_table`) return findings, each an ``error`` (the model cannot be
applied as is: a missing column, a column of another kind, values in other units) or a
``warning`` (levels not seen in training, many values beyond the training range, a column
entirely missing), with a message that names the column and what to do, and counts only.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..errors import did_you_mean

SCHEMA_VERSION = 1
MIN_LEVEL_ROWS = 10
PERCENTILES = (0.5, 50.0, 99.5)
OUTSIDE_WARNING = 0.10  # share of a numeric column beyond the training 0.5-99.5% range


def level_hash(column: str, level) -> str:
    return hashlib.sha256(f"{column}\x00{level}".encode()).hexdigest()[:16]


def training_schema(dataset) -> dict:
    """The schema of ``dataset`` (a :class:`pipeline.data.Dataset`) as a JSON-ready dict."""
    columns = []
    for name in dataset.X.columns:
        values = dataset.X[name]
        entry = {"name": str(name), "kind": "numeric" if name in dataset.numeric else "categorical",
                 "dtype": str(values.dtype), "missing_share": float(values.isna().mean())}
        present = values.dropna()
        if entry["kind"] == "numeric" and len(present):
            entry["percentiles"] = dict(zip(map(str, PERCENTILES),
                                            np.percentile(present.to_numpy(float), PERCENTILES).tolist()))
        elif entry["kind"] == "categorical":
            counts = present.astype(str).value_counts()
            entry["level_hashes"] = sorted(level_hash(name, level)
                                           for level in counts.index[counts >= MIN_LEVEL_ROWS])
        columns.append(entry)
    return {"version": SCHEMA_VERSION, "task": dataset.task, "class_names": list(dataset.class_names),
            "n_rows": int(len(dataset.y)), "columns": columns}


def check_table(schema: dict, X: pd.DataFrame, numeric: list[str]) -> list[dict]:
    """Findings of new table ``X`` (its numeric columns ``numeric``) against ``schema``: dicts
    with ``column``, ``check``, ``severity`` (``error`` or ``warning``) and ``message``."""
    findings = []
    expected = [c["name"] for c in schema["columns"]]
    missing = [c for c in expected if c not in X.columns]
    extra = [c for c in X.columns if c not in expected]
    for column in missing:
        findings.append(_finding(column, "missing column", "error",
                                 f"column {column!r} of the training table is missing here."
                                 f"{did_you_mean(column, extra)} Rename it (dataset.rename) or add it; "
                                 "a variable not measured can be added as an empty column "
                                 "(it is then imputed as in training)."))
    for entry in schema["columns"]:
        name = entry["name"]
        if name in missing:
            continue
        is_numeric = name in numeric
        if entry["kind"] == "numeric" and not is_numeric:
            findings.append(_finding(name, "kind", "error",
                                     f"column {name!r} was numeric in training but holds text here "
                                     f"({X[name].nunique()} distinct values): check its parsing "
                                     "(dataset.na_values, decimal commas, units written in the cells)."))
        elif entry["kind"] == "categorical" and is_numeric:
            findings.append(_finding(name, "kind", "error",
                                     f"column {name!r} was categorical in training but is numeric here: "
                                     f"declare it categorical (dataset.categorical=[..., {name}])."))
        elif entry["kind"] == "numeric":
            findings += _range_findings(entry, X[name])
        elif entry["kind"] == "categorical":  # not "unknown" (a run without its schema file)
            findings += _level_findings(entry, X[name])
        if X[name].isna().all() and len(X):
            findings.append(_finding(name, "missing values", "warning",
                                     f"column {name!r} is empty in every row: the model imputes it "
                                     "for everyone, as it did for missing values in training."))
    return findings


def _range_findings(entry: dict, values: pd.Series) -> list[dict]:
    name, present = entry["name"], values.dropna().to_numpy(dtype=float)
    ranges = entry.get("percentiles")
    if not ranges or not present.size:
        return []
    low, median, high = (ranges[str(q)] for q in PERCENTILES)
    new_median = float(np.median(present))
    if not low <= new_median <= high:
        ratio = new_median / median if median else float("nan")
        hint = f" (median {ratio:.3g} times the training median)" if np.isfinite(ratio) else ""
        return [_finding(name, "units", "error",
                         f"column {name!r}: the median here lies outside the range of 99% of "
                         f"training patients{hint}: other units or another coding? Convert the "
                         "column, or pass schema=warn to validate anyway.")]
    outside = float(np.mean((present < low) | (present > high)))
    if outside > OUTSIDE_WARNING:
        return [_finding(name, "range", "warning",
                         f"column {name!r}: {outside:.0%} of values lie beyond the range of 99% of "
                         "training patients: predictions for them are extrapolations.")]
    return []


def _level_findings(entry: dict, values: pd.Series) -> list[dict]:
    name, present = entry["name"], values.dropna().astype(str)
    known = set(entry.get("level_hashes", []))
    unseen = present[~present.map(lambda level: level_hash(name, level) in known)]
    if unseen.empty:
        return []
    return [_finding(name, "levels", "warning",
                     f"column {name!r}: {len(unseen)} rows ({len(unseen) / len(values):.0%}) hold "
                     f"{unseen.nunique()} level(s) not seen (or rare) in training: the model "
                     "treats them as an unknown level.")]


def _finding(column, check, severity, message) -> dict:
    return {"column": column, "check": check, "severity": severity, "message": message}
