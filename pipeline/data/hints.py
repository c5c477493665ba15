"""Warnings about a loaded table that a reader of its results must see: leakage hints (a
record number, a single feature that separates the outcome) and a named dataset whose file
is not the copy its config was tested with. Each is text built from column names and
counts only, safe to store as a tag."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .downloads import SOURCES

log = logging.getLogger(__name__)

MIN_ROWS = 20  # fewer rows: distinct integers and perfect separation happen by chance
SEPARATING_AUROC = 0.99
POOLED_BELOW = 10  # category levels held by fewer rows are pooled before scoring (as encoded)


def table_warnings(X: pd.DataFrame, y: np.ndarray, task: str, numeric: list[str],
                   path: Path | None = None, name: str | None = None) -> list[str]:
    """Every warning about this table, each logged once."""
    found = [*_record_numbers(X, numeric)]
    if task == "binary":
        found += _separating_features(X, y, numeric)
    if path is not None and name in SOURCES:
        found += _reference_copy(path, name)
    for warning in found:
        log.warning("%s", warning)
    return found


def _record_numbers(X: pd.DataFrame, numeric: list[str]) -> list[str]:
    """A numeric feature holding a different whole number on every row: a record number
    (which carries the order the file was sorted in, e.g. by outcome) or an id."""
    found = []
    for name in numeric:
        values = X[name]
        if len(values) < MIN_ROWS or values.isna().any():
            continue
        whole = np.all(np.mod(values.to_numpy(), 1) == 0)
        if whole and values.nunique() == len(values):
            found.append(
                f"column {name!r} holds a different whole number on every row, like a record "
                f"number or an id: if it is one, declare it as dataset.id_column or add it to "
                f"dataset.drop (a file sorted by outcome makes a record number predict it)."
            )
    return found


def _separating_features(X: pd.DataFrame, y: np.ndarray, numeric: list[str]) -> list[str]:
    """A single feature whose values alone rank the outcome almost perfectly (AUROC > 0.99,
    either direction), computed on all rows: a measurement taken after, or because of, the
    outcome?"""
    found = []
    for name in X.columns:
        score = X[name] if name in numeric else _level_rates(X[name], y)
        present = score.notna().to_numpy()
        labels = y[present]
        positives = int(labels.sum())
        if present.sum() < MIN_ROWS or min(positives, len(labels) - positives) < 5:
            continue
        auc = _auroc(score[present].to_numpy(dtype=float), labels)
        if max(auc, 1 - auc) > SEPARATING_AUROC:
            found.append(
                f"column {name!r} alone separates the outcome (AUROC {max(auc, 1 - auc):.3f} "
                f"on its own): check that it is not recorded after, or because of, the "
                f"outcome (leakage); if it is, add it to dataset.drop."
            )
    return found


def _level_rates(cells: pd.Series, y: np.ndarray) -> pd.Series:
    """Each row's category scored by its level's share of positives (rare levels pooled)."""
    counts = cells.map(cells.value_counts())
    pooled = cells.where(counts >= POOLED_BELOW, "__pooled__").where(cells.notna())
    rates = pd.Series(y, index=cells.index, dtype=float).groupby(pooled).mean()
    return pooled.map(rates).astype(float)


def _auroc(score: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUROC with average ranks for ties."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _reference_copy(path: Path, name: str) -> list[str]:
    """A named UCI table whose file differs from the copy its config was written for."""
    source = SOURCES[name]
    if path.name != source.file:
        return []
    found = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    if found == source.md5:
        return []
    return [f"data file {path} for dataset '{name}' is not the copy this config was tested "
            f"with (MD5 {found}, expected {source.md5}): results may differ from the "
            f"reference ones. Re-fetch it with `python -m pipeline.data download {name} "
            f"--force`, or use dataset=csv for a different table."]
