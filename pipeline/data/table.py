"""The loader of every table read from a file: ``dataset=csv`` and the named UCI tables."""

from __future__ import annotations

import codecs
from collections.abc import Mapping

from ..errors import DatasetError, did_you_mean
from .dataset import Dataset, finish_dataset
from .features import feature_columns
from .hints import table_warnings
from .numbers import DECIMALS, THOUSANDS
from .options import TABLE_DEFAULTS, with_defaults
from .reading import (
    check_referenced_columns,
    check_unique_ids,
    clean_cells,
    drop_missing_target,
    patient_groups,
    read_table,
    resolve_path,
)
from .target import TASKS, encode_target

SENTINEL_CHOICES = ("error", "missing", "keep")


def load_table(cfg: Mapping) -> Dataset:
    """Load a CSV/TSV/Parquet file described by a table config (``conf/dataset/_table.yaml``).

    Parameters
    ----------
    cfg : Mapping
        Keys as in :data:`TABLE_DEFAULTS`; ``path`` and ``target`` are required.

    Returns
    -------
    Dataset
        With ``warnings``: leakage hints and a changed reference file, if any.
    """
    opts = table_options(cfg)
    path = resolve_path(opts)
    frame = clean_cells(read_table(path, opts), opts)
    check_referenced_columns(frame, opts, path)
    check_unique_ids(frame, opts, path)
    frame = drop_missing_target(frame, opts, path)
    groups = patient_groups(frame, opts, path)
    y, task, class_names = encode_target(frame[opts["target"]], opts, path)
    X = feature_columns(frame, opts, path)
    numeric = [c for c in X.columns if X[c].dtype.kind == "f"]
    warnings = table_warnings(X, y, task, numeric, path, opts["name"])
    return finish_dataset(opts["name"], X, y, task, class_names, groups, source=str(path),
                          warnings=warnings)


def table_options(cfg: Mapping) -> dict:
    """``cfg`` merged over the table defaults, every value checked: no file is read."""
    opts = with_defaults(cfg, TABLE_DEFAULTS, required=("path", "target"))
    choices = {"task": (None, *TASKS), "missing_target": ("drop", "error"),
               "decimal": DECIMALS, "thousands": THOUSANDS, "sentinels": SENTINEL_CHOICES}
    for key, valid in choices.items():
        if opts[key] not in valid:
            shown = ", ".join("null" if v is None else repr(v) for v in valid)
            raise DatasetError(f"dataset.{key}={opts[key]!r} is not one of {shown}."
                               f"{did_you_mean(opts[key], [v for v in valid if v])}")
    if opts["thousands"] is not None and opts["thousands"] == opts["decimal"]:
        raise DatasetError(f"dataset.thousands and dataset.decimal are both {opts['decimal']!r}: "
                           f"a number needs two different marks (e.g. decimal ',' thousands '.').")
    for key in ("label_map", "rename"):
        if opts[key] is not None and not isinstance(opts[key], dict):
            raise DatasetError(f"dataset.{key} must be a mapping {{name in file: new name}}, "
                               f"got {type(opts[key]).__name__}.")
    for key in ("header", "strip_whitespace"):
        if not isinstance(opts[key], bool):
            raise DatasetError(f"dataset.{key} must be true or false, got {opts[key]!r}.")
    if opts["delimiter"] is not None and len(str(opts["delimiter"])) != 1:
        raise DatasetError(f"dataset.delimiter={opts['delimiter']!r} must be one character "
                           f"(e.g. ',' ';' or '\\t'), or null to choose by the file's ending.")
    try:
        codecs.lookup(str(opts["encoding"]))
    except LookupError:
        raise DatasetError(f"dataset.encoding={opts['encoding']!r} is not a known text encoding: "
                           f"use e.g. utf-8, utf-8-sig, latin-1, cp1252 or utf-16.") from None
    return opts
