"""The target column encoded as the task needs: binary 0/1 (1 = the positive label),
multiclass codes, or regression values; the task inferred when not configured."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .features import canon, check_finite, numeric_column

log = logging.getLogger(__name__)

TASKS = ("binary", "multiclass", "regression")
MAX_CLASSES = 50  # more distinct labels than this is almost surely a continuous target
MAX_INFERRED_CLASSES = 10  # numeric targets with more levels are inferred as regression


def encode_target(raw: pd.Series, opts: dict, path: Path) -> tuple[np.ndarray, str, list[str]]:
    """Encode the target as the task requires; return (y, task, class_names)."""
    column = opts["target"]
    task = opts["task"] or _infer_task(raw, opts)
    if task == "regression":
        return _regression_target(raw, opts, path), task, []
    labels = _mapped_labels(raw, opts, path)
    classes = _sorted_labels(labels.unique())
    if len(classes) < 2:
        what = f"target column {column!r} in {path} has only one class"
        advice = (" after dropping missing targets: a classifier needs at least two. Check "
                  "dataset.target and dataset.label_map.")
        raise DatasetError(f"{what} ({classes[0]!r}){advice}", what + advice)
    if task == "binary":
        return _binary_target(labels, classes, opts, path)
    if len(classes) > MAX_CLASSES:
        raise DatasetError(
            f"target column {column!r} in {path} has {len(classes)} distinct values, more than "
            f"the {MAX_CLASSES} classes a multiclass task allows: set dataset.task=regression if "
            f"it is a measurement, or merge classes with dataset.label_map."
        )
    if opts["positive_label"] is not None:
        raise DatasetError(
            "dataset.positive_label applies to binary tasks: remove it or set dataset.task=binary."
        )
    y = pd.Categorical(labels, categories=classes).codes.astype(np.int64)
    return y, task, classes


def _infer_task(raw: pd.Series, opts: dict) -> str:
    if opts["positive_label"] is not None:
        return "binary"
    labels = raw.map(canon) if opts["label_map"] is None else _mapped_labels(raw, opts, None)
    values = labels.unique()
    numbers = pd.to_numeric(pd.Series(values), errors="coerce")
    numeric = opts["label_map"] is None and numbers.notna().all()
    if numeric and (len(values) > MAX_INFERRED_CLASSES or (numbers % 1 != 0).any()):
        task = "regression"
    else:
        task = "binary" if len(values) <= 2 else "multiclass"
    log.info("dataset.task not set: inferred %s from %d distinct target values", task, len(values))
    return task


def _mapped_labels(raw: pd.Series, opts: dict, path: Path | None) -> pd.Series:
    labels = raw.map(canon)
    if opts["label_map"] is None:
        return labels
    mapping = {canon(k): canon(v) for k, v in opts["label_map"].items()}
    unmapped = sorted(set(labels.unique()) - set(mapping))
    if unmapped:
        what = f"target column {opts['target']!r} in {path} has {len(unmapped)} label(s)"
        advice = " that dataset.label_map does not map: add them to dataset.label_map."
        raise DatasetError(f"{what} {unmapped[:10]}{advice}", what + advice)
    return labels.map(mapping)


def _sorted_labels(values: Sequence[str]) -> list[str]:
    """Numeric labels in numeric order (2 before 10), otherwise alphabetical."""
    numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
    if numbers.notna().all():
        return [v for _, v in sorted(zip(numbers, values, strict=True))]
    return sorted(values)


def _binary_target(labels: pd.Series, classes: list[str], opts: dict, path: Path):
    column = opts["target"]
    if len(classes) > 2:
        what = f"target column {column!r} in {path} has {len(classes)} classes"
        advice = (" but dataset.task is binary: merge them into two with dataset.label_map "
                  "(e.g. {<label>: absent, <label>: present, ...}) or set dataset.task=multiclass"
                  " (or dataset.task=regression for a measurement).")
        shown = f" {classes[:10]}" + (" ..." if len(classes) > 10 else "")
        raise DatasetError(f"{what}{shown}{advice}", what + advice)
    positive = opts["positive_label"]
    if positive is None:
        if set(classes) != {"0", "1"}:
            what = f"target column {column!r} in {path} has two classes"
            advice = ": set dataset.positive_label to the one meaning disease/positive."
            raise DatasetError(f"{what} {classes}{advice}", what + advice)
        positive = "1"
    positive = canon(positive)
    if positive not in classes:
        what = (f"dataset.positive_label={opts['positive_label']!r} is not a class of target "
                f"column {column!r} in {path}")
        advice = ". Set dataset.positive_label to one of its two classes."
        raise DatasetError(f"{what}; its classes are {classes}{advice}", what + advice)
    negative = next(c for c in classes if c != positive)
    y = (labels == positive).to_numpy().astype(np.int64)
    return y, "binary", [negative, positive]


def _regression_target(raw: pd.Series, opts: dict, path: Path) -> np.ndarray:
    if opts["positive_label"] is not None or opts["label_map"] is not None:
        raise DatasetError(
            "dataset.positive_label and dataset.label_map apply to classification: remove them "
            "or set dataset.task to binary or multiclass."
        )
    values = numeric_column(raw, opts["target"], path, "the target", opts)
    check_finite(values, opts["target"], path)
    return values.to_numpy(dtype=np.float64)
