"""The loaded table: :class:`Dataset`, and its content fingerprint."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded, validated table ready for splitting and preprocessing.

    Attributes
    ----------
    name : str
        Config name of the dataset.
    X : pandas.DataFrame, shape (n_rows, n_features)
        Features only (id, group, target and dropped columns removed), original
        row order. Numeric columns are float64 with NaN for missing; categorical
        columns hold strings (object dtype) with NaN for missing.
    y : numpy.ndarray, shape (n_rows,)
        Binary: int 0/1 (1 = positive/disease); multiclass: int 0..K-1;
        regression: float.
    task : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    class_names : list of str
        Original label of each encoded class (empty for regression).
    groups : numpy.ndarray or None, shape (n_rows,)
        Subject/patient id per row when a group column is configured.
    numeric, categorical : list of str
        Feature columns by type, in table order.
    source : str
        File path or ``"sklearn:load_breast_cancer"``; never data values.
    fingerprint : str
        SHA-256 hex digest of features and target: changes when the data change.
    warnings : tuple of str
        What a reader of results on this table must know (leakage hints, a reference file
        that changed): column names and counts only, safe to store.
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    task: str
    class_names: list[str]
    groups: np.ndarray | None
    numeric: list[str]
    categorical: list[str]
    source: str
    fingerprint: str
    warnings: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Counts only (rows, features, classes) -- safe to log: no patient values."""
        out: dict[str, Any] = {
            "name": self.name,
            "rows": int(len(self.y)),
            "numeric": len(self.numeric),
            "categorical": len(self.categorical),
            "task": self.task,
            "missing_cells": int(self.X.isna().sum().sum()),
        }
        if self.task != "regression":
            counts = np.bincount(self.y, minlength=len(self.class_names))
            out["class_counts"] = dict(zip(self.class_names, counts.tolist(), strict=True))
        if self.groups is not None:
            out["groups"] = int(pd.Series(self.groups).nunique())
        return out


def finish_dataset(name, X, y, task, class_names, groups, source, warnings=()) -> Dataset:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in set(numeric)]
    dataset = Dataset(
        name=name, X=X, y=y, task=task, class_names=list(class_names), groups=groups,
        numeric=numeric, categorical=categorical, source=source,
        fingerprint=fingerprint(X, y), warnings=tuple(warnings),
    )
    log.info("loaded dataset %s", dataset.summary())
    return dataset


def fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    """SHA-256 hex digest of the feature table (names, types, values) and the target.

    Parameters
    ----------
    X : pandas.DataFrame
    y : numpy.ndarray

    Returns
    -------
    str
        64 hex characters; any change of a value, column name or dtype changes it.
    """
    digest = hashlib.sha256()
    for name in X.columns:
        digest.update(f"{name}\x00{X[name].dtype}\x00".encode())
        digest.update(pd.util.hash_pandas_object(X[name], index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()
