"""The loader of every table read from a file: ``dataset=csv`` and the named UCI tables."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import DatasetError
from .dataset import Dataset, finish_dataset
from .features import feature_columns
from .options import TABLE_DEFAULTS, with_defaults
from .reading import (
    check_referenced_columns,
    clean_cells,
    drop_missing_target,
    patient_groups,
    read_table,
    resolve_path,
)
from .target import TASKS, encode_target


def load_table(cfg: Mapping) -> Dataset:
    """Load a CSV/TSV/Parquet file described by a table config (``conf/dataset/_table.yaml``).

    Parameters
    ----------
    cfg : Mapping
        Keys as in :data:`TABLE_DEFAULTS`; ``path`` and ``target`` are required.

    Returns
    -------
    Dataset
    """
    opts = with_defaults(cfg, TABLE_DEFAULTS, required=("path", "target"))
    _check_option_values(opts)
    path = resolve_path(opts)
    frame = clean_cells(read_table(path, opts), opts)
    check_referenced_columns(frame, opts, path)
    frame = drop_missing_target(frame, opts, path)
    groups = patient_groups(frame, opts, path)
    y, task, class_names = encode_target(frame[opts["target"]], opts, path)
    X = feature_columns(frame, opts, path)
    return finish_dataset(opts["name"], X, y, task, class_names, groups, source=str(path))


def _check_option_values(opts: dict) -> None:
    if opts["task"] is not None and opts["task"] not in TASKS:
        raise DatasetError(
            f"dataset.task={opts['task']!r} is not one of {', '.join(TASKS)} (or null to infer it)."
        )
    if opts["missing_target"] not in ("drop", "error"):
        raise DatasetError(
            f"dataset.missing_target={opts['missing_target']!r} must be 'drop' or 'error'."
        )
    if opts["label_map"] is not None and not isinstance(opts["label_map"], dict):
        raise DatasetError("dataset.label_map must be a mapping {raw label: class name}.")
    if opts["rename"] is not None and not isinstance(opts["rename"], dict):
        raise DatasetError("dataset.rename must be a mapping {column in file: new name}.")
