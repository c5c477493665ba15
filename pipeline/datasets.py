"""Datasets: load a table from its config, validate it, and say clearly what is wrong.

Every loader takes the ``dataset`` config group as a plain dict and returns a
:class:`Dataset`. ``cfg["name"]`` selects the loader:

* ``breast_cancer`` -- scikit-learn's bundled Wisconsin diagnostic set (offline).
* ``csv`` -- any CSV/TSV/Parquet file described by a schema in the config.
* ``pima``, ``heart_cleveland``, ``ckd``, ``ilpd``, ``hepatitis``, ``parkinsons``,
  ``cervical``, ``wdbc`` -- public UCI tables, read through the ``csv`` loader
  from the data directory (``conf/dataset/<name>.yaml`` holds each schema).
* ``synthetic`` -- a seeded generated cohort (:func:`make_synthetic`).

Problems with the user's data or config raise :class:`DatasetError`, whose
message names the file, column or config key and says what to do. Messages
never quote patient values, except up to three example junk values of a
column the user must fix.

``python -m pipeline.datasets download`` fetches the UCI files (``make data``; see
``downloads.py``).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import logging
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import PROJECT_ROOT
from .downloads import SOURCES, DownloadError, download

log = logging.getLogger(__name__)

CONF_DIR = PROJECT_ROOT / "conf"
DATA_DIR_ENV = "BIOTAB_DATA_DIR"
REQUIRED = "???"  # Hydra's marker for a value the user must set
TASKS = ("binary", "multiclass", "regression")
MAX_CLASSES = 50  # more distinct labels than this is almost surely a continuous target
MAX_INFERRED_CLASSES = 10  # numeric targets with more levels are inferred as regression
MAX_EXAMPLES = 3  # junk values quoted in an error message


class DatasetError(ValueError):
    """A problem with the user's data or dataset config; message says what/where/what to do.

    ``safe_message`` is the message without quoted cell values: what may be written to
    MLflow and log files, which never receive patient data.
    """

    def __init__(self, message: str, safe_message: str | None = None):
        super().__init__(message)
        self.safe_message = safe_message or message


class DatasetFileNotFoundError(DatasetError, FileNotFoundError):
    """The configured data file does not exist (also a ``FileNotFoundError``)."""


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


# --------------------------------------------------------------------------- #
# Config handling
# --------------------------------------------------------------------------- #

#: Keys of the ``csv`` loader and of every named UCI table, with their defaults.
TABLE_DEFAULTS: dict[str, Any] = {
    "name": "csv",
    "path": REQUIRED,
    "data_dir": "data/raw",
    "delimiter": None,
    "encoding": "utf-8-sig",
    "header": True,
    "column_names": None,
    "rename": None,
    "strip_whitespace": True,
    "na_values": ["", "NA", "NaN", "?"],
    "target": REQUIRED,
    "task": None,
    "positive_label": None,
    "label_map": None,
    "missing_target": "drop",
    "id_column": None,
    "group_column": None,
    "group_pattern": None,
    "categorical": None,
    "drop": [],
    "zero_as_missing": [],
}

SYNTHETIC_DEFAULTS: dict[str, Any] = {
    "name": "synthetic",
    "data_dir": "data/raw",
    "n_rows": 2000,
    "n_numeric": 8,
    "n_categorical": 2,
    "n_levels": 4,
    "missing_rate": 0.1,
    "positive_rate": 0.3,
    "interaction": 2.0,
    "seed": 0,
}

# Generated and bundled tables read no file, but accept ``data_dir`` so that
# ``dataset.data_dir=...`` is a valid override whatever the dataset (as sweeps need).
BREAST_CANCER_DEFAULTS: dict[str, Any] = {"name": "breast_cancer", "data_dir": "data/raw"}

XOR_DEFAULTS: dict[str, Any] = {"name": "xor", "data_dir": "data/raw", "n_rows": 400,
                                "label_noise": 0.05, "seed": 0}

#: Every key any dataset loader reads (config schema checks); each loader checks its own.
KNOWN_KEYS = frozenset(TABLE_DEFAULTS) | frozenset(SYNTHETIC_DEFAULTS) | frozenset(XOR_DEFAULTS)


def _plain(value: Any) -> Any:
    """Turn config containers (e.g. OmegaConf's) into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _suggest(word: str, choices: Sequence[str]) -> str:
    """' Did you mean ...?' for a misspelt name, or '' when nothing is close."""
    lowered = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


def _with_defaults(cfg: Mapping, defaults: Mapping, required: Sequence[str] = ()) -> dict:
    """Merge ``cfg`` over ``defaults``; unknown keys and unset required keys are errors.

    Unknown keys are refused so that a typo (``postive_label``) is not silently
    ignored in favour of the default.
    """
    cfg = _plain(cfg)
    unknown = sorted(set(cfg) - set(defaults))
    if unknown:
        hints = "".join(_suggest(k, list(defaults)) for k in unknown)
        raise DatasetError(
            f"unknown key(s) {', '.join(f'dataset.{k}' for k in unknown)} for dataset "
            f"'{cfg.get('name')}'.{hints} Valid keys: {', '.join(sorted(defaults))}."
        )
    opts = {**_plain(defaults), **cfg}
    for key in required:
        if opts[key] is None or opts[key] == REQUIRED:
            raise DatasetError(
                f"dataset.{key} is required for dataset '{opts['name']}': "
                f"set it in the config or on the command line (dataset.{key}=...)."
            )
    return opts


def _as_list(value: Any, key: str) -> list[str]:
    """A config value that should be a list of column names (a single name is accepted)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise DatasetError(f"dataset.{key} must be a list of column names, got {type(value).__name__}.")


def dataset_config(name: str, **overrides: Any) -> dict[str, Any]:
    """Read ``conf/dataset/<name>.yaml`` as a plain dict, with ``overrides`` applied.

    A convenience for scripts, tests and the command line; the experiment runner
    composes the same files through Hydra instead.

    Parameters
    ----------
    name : str
        File stem in ``conf/dataset/`` (e.g. ``"pima"``).
    **overrides
        Keys to replace, e.g. ``data_dir="../shared/datasets"``.

    Returns
    -------
    dict
    """
    import yaml  # PyYAML ships with Hydra's OmegaConf; imported lazily for a fast import

    path = CONF_DIR / "dataset" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
        raise DatasetError(
            f"no dataset config {path}.{_suggest(name, known)} Known: {', '.join(known)}."
        )
    cfg = yaml.safe_load(path.read_text()) or {}
    cfg.update(overrides)
    return cfg


# --------------------------------------------------------------------------- #
# Public entry points
# --------------------------------------------------------------------------- #


def load_dataset(cfg: Mapping) -> Dataset:
    """Load and validate the dataset described by the ``dataset`` config group.

    Parameters
    ----------
    cfg : Mapping
        The ``dataset`` config group as a plain dict; ``cfg["name"]`` selects the
        loader (``breast_cancer``, ``csv``, ``synthetic`` or a named UCI table).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        When the file, the config or the data are unusable; the message says
        what is wrong, where, and what to do.
    """
    name = cfg.get("name") if isinstance(cfg, Mapping) else None
    if name not in LOADERS:
        raise DatasetError(
            f"dataset.name={name!r} is not a known dataset.{_suggest(str(name), list(LOADERS))} "
            f"Choose one of: {', '.join(sorted(LOADERS))}."
        )
    return LOADERS[name](cfg)


def make_synthetic(
    n_rows: int = 2000,
    n_numeric: int = 8,
    n_categorical: int = 2,
    n_levels: int = 4,
    missing_rate: float = 0.1,
    positive_rate: float = 0.3,
    interaction: float = 2.0,
    seed: int = 0,
) -> Dataset:
    """Generate a seeded binary cohort with a nonlinear signal.

    The log-odds are linear in most features plus ``interaction * x0 * x1``: a
    product of two centred features, which no linear model can represent, so an
    MLP beats logistic regression when ``interaction`` is large. Cells are then
    blanked completely at random (a special case of missing-at-random) with
    probability ``missing_rate``. Vectorised, so millions of rows take seconds.

    Parameters
    ----------
    n_rows : int
        Number of rows (patients).
    n_numeric, n_categorical : int
        Feature counts; the interaction needs ``n_numeric >= 2``.
    n_levels : int
        Levels of each categorical feature.
    missing_rate : float in [0, 1)
        Probability that a feature cell is missing.
    positive_rate : float in (0, 1)
        Expected share of positive rows (class imbalance).
    interaction : float
        Weight of the ``x0 * x1`` term in the log-odds.
    seed : int
        Seed of the one random generator used; same seed = same cohort.

    Returns
    -------
    Dataset
        ``task="binary"``, ``class_names=["negative", "positive"]``.
    """
    _check_synthetic_args(n_rows, n_numeric, n_categorical, n_levels, missing_rate, positive_rate)
    rng = np.random.default_rng(seed)
    numeric = rng.standard_normal((n_rows, n_numeric))
    codes = rng.integers(0, n_levels, size=(n_rows, n_categorical))
    logit = _synthetic_logit(numeric, codes, n_levels, interaction, rng)
    logit += _intercept_for_rate(logit, positive_rate)
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    frame = {f"num_{j}": numeric[:, j] for j in range(n_numeric)}
    labels = np.array([f"level_{k}" for k in range(n_levels)], dtype=object)
    frame |= {f"cat_{j}": labels[codes[:, j]] for j in range(n_categorical)}
    X = pd.DataFrame(frame)
    if missing_rate > 0:
        X = X.mask(rng.random(X.shape) < missing_rate)
    return _finish(
        "synthetic", X, y, "binary", ["negative", "positive"], None,
        source=f"synthetic(seed={seed})",
    )


# --------------------------------------------------------------------------- #
# Built-in and synthetic loaders
# --------------------------------------------------------------------------- #


def _load_breast_cancer(cfg: Mapping) -> Dataset:
    """scikit-learn's Wisconsin diagnostic set, relabelled so malignant = 1."""
    from sklearn.datasets import load_breast_cancer

    _with_defaults(cfg, BREAST_CANCER_DEFAULTS)
    bunch = load_breast_cancer(as_frame=True)
    # scikit-learn codes malignant as 0; clinical convention is positive = disease.
    y = (bunch.target.to_numpy() == 0).astype(np.int64)
    X = bunch.data.astype("float64").reset_index(drop=True)
    return _finish(
        "breast_cancer", X, y, "binary", ["benign", "malignant"], None,
        source="sklearn:load_breast_cancer",
    )


def make_xor(n_rows: int = 400, label_noise: float = 0.05, seed: int = 0) -> Dataset:
    """The lecture's XOR as a noisy cohort: x1, x2 ~ U(-1, 1), y = [x1 > 0] xor [x2 > 0].

    No linear model separates it; logistic regression on the feature map
    (x1, x2, x1 x2) does, and so does an MLP. ``label_noise`` flips that share of labels.
    """
    if int(n_rows) < 20 or not 0.0 <= label_noise < 0.5:
        raise DatasetError("dataset.n_rows must be >= 20 and dataset.label_noise in [0, 0.5).")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(int(n_rows), 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    y ^= (rng.random(len(y)) < label_noise).astype(np.int64)
    X = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    return _finish("xor", X, y, "binary", ["same sign", "opposite signs"], None,
                   source=f"xor(seed={seed})")


def _load_xor(cfg: Mapping) -> Dataset:
    opts = _with_defaults(cfg, XOR_DEFAULTS)
    del opts["name"], opts["data_dir"]
    return make_xor(**opts)


def _load_synthetic(cfg: Mapping) -> Dataset:
    opts = _with_defaults(cfg, SYNTHETIC_DEFAULTS)
    del opts["name"], opts["data_dir"]
    return make_synthetic(**opts)


def _check_synthetic_args(n_rows, n_numeric, n_categorical, n_levels, missing_rate, positive_rate):
    checks = [
        (n_rows >= 10, "dataset.n_rows must be at least 10"),
        (n_numeric >= 2, "dataset.n_numeric must be at least 2 (the interaction uses two)"),
        (n_categorical >= 0, "dataset.n_categorical must be >= 0"),
        (n_levels >= 2, "dataset.n_levels must be at least 2"),
        (0 <= missing_rate < 1, "dataset.missing_rate must be in [0, 1)"),
        (0 < positive_rate < 1, "dataset.positive_rate must be in (0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise DatasetError(message + ".")


def _synthetic_logit(numeric, codes, n_levels, interaction, rng) -> np.ndarray:
    """Log-odds: decaying linear weights, one product term, categorical level effects."""
    weights = 1.0 / np.arange(1, numeric.shape[1] + 1)
    weights[:2] = 0.5  # x0 and x1 act mainly through their product
    logit = numeric @ weights + interaction * numeric[:, 0] * numeric[:, 1]
    for j in range(codes.shape[1]):
        logit += rng.normal(0.0, 0.7, size=n_levels)[codes[:, j]]
    return logit


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """Intercept b with mean(sigmoid(logit + b)) = rate, by bisection (monotone in b)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# --------------------------------------------------------------------------- #
# Table loader (csv and the named UCI sets)
# --------------------------------------------------------------------------- #


def load_table(cfg: Mapping) -> Dataset:
    """Load a CSV/TSV/Parquet file described by a ``csv``-style config (``conf/dataset/csv.yaml``).

    Parameters
    ----------
    cfg : Mapping
        Keys as in :data:`TABLE_DEFAULTS`; ``path`` and ``target`` are required.

    Returns
    -------
    Dataset
    """
    opts = _with_defaults(cfg, TABLE_DEFAULTS, required=("path", "target"))
    _check_option_values(opts)
    path = _resolve_path(opts)
    frame = _read_table(path, opts)
    frame = _clean_cells(frame, opts)
    _check_referenced_columns(frame, opts, path)

    frame = _drop_missing_target(frame, opts, path)
    groups = _groups(frame, opts, path)
    y, task, class_names = _encode_target(frame[opts["target"]], opts, path)
    X = _features(frame, opts, path)
    return _finish(opts["name"], X, y, task, class_names, groups, source=str(path))


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


def data_dir(cfg_value: str | os.PathLike | None = "data/raw") -> Path:
    """The data directory: ``$BIOTAB_DATA_DIR`` if set, else ``cfg_value``.

    Relative paths are resolved against the project root (the parent of the
    ``pipeline`` package), never the working directory, because Hydra may run
    each job in its own directory.
    """
    chosen = os.environ.get(DATA_DIR_ENV) or cfg_value or "data/raw"
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _resolve_path(opts: dict) -> Path:
    """Resolve ``dataset.path`` against the data directory and check that it exists."""
    directory = data_dir(opts["data_dir"])
    path = Path(str(opts["path"])).expanduser()
    path = path if path.is_absolute() else directory / path
    if path.is_file():
        return path
    if opts["name"] in SOURCES:
        raise DatasetFileNotFoundError(
            f"data file {path} for dataset '{opts['name']}' not found. Run `make data` "
            f"(python -m pipeline.datasets download {opts['name']}) to fetch it, or copy "
            f"{path.name} into {directory}. To read another directory, set dataset.data_dir "
            f"or the {DATA_DIR_ENV} environment variable."
        )
    raise DatasetFileNotFoundError(
        f"data file {path} not found (from dataset.path={opts['path']!r}; relative paths are "
        f"read from the data directory {directory}). Check dataset.path, or set "
        f"dataset.data_dir / {DATA_DIR_ENV}."
    )


# ---- reading -------------------------------------------------------------- #


def _read_table(path: Path, opts: dict) -> pd.DataFrame:
    """Read the file with checked, unique column names (CSV cells stay strings)."""
    if path.stat().st_size == 0:
        raise DatasetError(
            f"data file {path} is empty (0 bytes): check that it was copied completely."
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        header: list[str] | None = [str(c) for c in frame.columns]
        frame.columns = range(frame.shape[1])
    else:
        frame = _read_delimited(path, opts)
        header = None
        if opts["header"]:
            header = ["" if pd.isna(v) else str(v) for v in frame.iloc[0]]
            frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns = _column_names(header, frame.shape[1], opts, path)
    frame = _drop_blank_named_columns(frame, path)
    _check_duplicate_columns(list(frame.columns), path)
    if frame.empty:
        raise DatasetError(f"data file {path} has a header but no data rows.")
    return frame


def _read_delimited(path: Path, opts: dict) -> pd.DataFrame:
    delimiter = opts["delimiter"] or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    try:
        # Everything as strings, no NA guessing: markers, stripping and numeric
        # parsing are done explicitly so that nothing is converted silently.
        return pd.read_csv(
            path, sep=delimiter, header=None, dtype=str, keep_default_na=False,
            na_filter=False, encoding=opts["encoding"], skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise DatasetError(f"data file {path} is empty (no header, no rows).") from None
    except pd.errors.ParserError as err:
        detail = str(err).strip().removeprefix("Error tokenizing data. C error: ")
        raise DatasetError(
            f"cannot parse {path} with delimiter {delimiter!r}: {detail}. Check dataset.delimiter "
            f"and that text fields containing the delimiter are quoted."
        ) from None
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path} is not valid {opts['encoding']} text ({err.reason} at byte {err.start}): "
            f"set dataset.encoding (e.g. latin-1 or cp1252)."
        ) from None


def _column_names(header: list[str] | None, n_columns: int, opts: dict, path: Path) -> list[str]:
    """Header names, stripped, replaced by ``column_names`` and then ``rename``."""
    names = list(header) if header is not None else [f"column_{i + 1}" for i in range(n_columns)]
    if opts["strip_whitespace"]:
        names = [n.strip() for n in names]
    if opts["column_names"] is not None:
        given = _as_list(opts["column_names"], "column_names")
        if len(given) != n_columns:
            raise DatasetError(
                f"dataset.column_names lists {len(given)} names but {path} has {n_columns} "
                f"columns: give exactly one name per column, in file order."
            )
        names = given
    for old, new in (opts["rename"] or {}).items():
        if str(old) not in names:
            raise DatasetError(
                f"dataset.rename refers to column {old!r}, which is not in {path}."
                f"{_suggest(str(old), names)}"
            )
        names = [str(new) if n == str(old) else n for n in names]
    return names


def _drop_blank_named_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A column with an empty header (e.g. a trailing delimiter) is dropped only when empty."""
    blank = [i for i, name in enumerate(frame.columns) if name == ""]
    for i in blank:
        cells = frame.iloc[:, i]
        if cells.fillna("").astype(str).str.strip().ne("").any():
            raise DatasetError(
                f"column {i + 1} of {path} has no header name but holds data: name it in the "
                f"file's header row or with dataset.column_names."
            )
    if blank:
        log.info("%s: ignoring %d empty column(s) with no header name", path.name, len(blank))
        frame = frame.drop(columns=frame.columns[blank])
    return frame


def _check_duplicate_columns(names: list[str], path: Path) -> None:
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i + 1)
    dupes = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dupes:
        listed = "; ".join(f"{n!r} at positions {pos}" for n, pos in dupes.items())
        raise DatasetError(
            f"duplicate column names in {path}: {listed}. Give every column a distinct name "
            f"in the file's header or with dataset.column_names (one name per column, in order)."
        )


def _clean_cells(frame: pd.DataFrame, opts: dict) -> pd.DataFrame:
    """Strip stray whitespace from text cells and turn missing-value markers into NaN."""
    strip = opts["strip_whitespace"]
    raw_markers = _as_list(opts["na_values"], "na_values")
    markers = {m.strip() for m in raw_markers} if strip else set(raw_markers)
    cleaned = {}
    for name in frame.columns:
        cells = frame[name]
        if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
            cleaned[name] = cells  # typed Parquet column: nothing to strip or mark
            continue
        cells = cells.astype("str")
        if strip:
            cells = cells.str.strip()
        cleaned[name] = cells.where(~cells.isin(markers) & frame[name].notna())
    return pd.DataFrame(cleaned, index=frame.index)


def _check_referenced_columns(frame: pd.DataFrame, opts: dict, path: Path) -> None:
    """Every column named in the config must exist; suggest close matches."""
    columns = list(frame.columns)
    for key in ("target", "id_column", "group_column"):
        name = opts[key]
        if name is not None and str(name) not in columns:
            what = "target column" if key == "target" else "column"
            raise DatasetError(
                f"{what} {name!r} (dataset.{key}) is not in {path}.{_suggest(str(name), columns)} "
                f"Columns: {', '.join(columns)}."
            )
    for key in ("drop", "categorical", "zero_as_missing"):
        for name in _as_list(opts[key], key):
            if name not in columns:
                raise DatasetError(
                    f"column {name!r} listed in dataset.{key} is not in {path}."
                    f"{_suggest(name, columns)} Remove it from dataset.{key} or fix the name."
                )
    if opts["target"] in _as_list(opts["drop"], "drop"):
        raise DatasetError(
            f"dataset.drop removes the target column {opts['target']!r}: remove it from dataset.drop."
        )


def _drop_missing_target(frame: pd.DataFrame, opts: dict, path: Path) -> pd.DataFrame:
    missing = frame[opts["target"]].isna().to_numpy()
    if not missing.any():
        return frame
    lines = _line_numbers(np.flatnonzero(missing), opts)
    if opts["missing_target"] == "error":
        raise DatasetError(
            f"target column {opts['target']!r} in {path} is missing on {missing.sum()} row(s) "
            f"(lines {lines}): fill them in, or set dataset.missing_target=drop to drop those rows."
        )
    log.warning(
        "%s: dropped %d row(s) with a missing target %r (lines %s); set "
        "dataset.missing_target=error to refuse instead",
        path.name, missing.sum(), opts["target"], lines,
    )
    return frame.loc[~missing].reset_index(drop=True)


def _line_numbers(rows: np.ndarray, opts: dict, limit: int = 10) -> str:
    """File line numbers of 0-based data rows (header = line 1), abbreviated."""
    offset = 2 if opts["header"] else 1
    shown = ", ".join(str(r + offset) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} in all)" if len(rows) > limit else "")


def _groups(frame: pd.DataFrame, opts: dict, path: Path) -> np.ndarray | None:
    """Subject id per row, optionally extracted from another column by a regex."""
    column = opts["group_column"]
    if column is None:
        if opts["group_pattern"] is not None:
            raise DatasetError(
                "dataset.group_pattern is set but dataset.group_column is not: set both."
            )
        return None
    ids = frame[column]
    if opts["group_pattern"] is not None:
        ids = _extract_group(ids.astype("str"), opts, path)
    if ids.isna().any():
        lines = _line_numbers(np.flatnonzero(ids.isna().to_numpy()), opts)
        raise DatasetError(
            f"group column {column!r} in {path} is missing on lines {lines}: every row needs a "
            f"subject id for grouped splits. Fill them in or drop those rows."
        )
    return ids.astype(str).to_numpy(dtype=object)


def _extract_group(ids: pd.Series, opts: dict, path: Path) -> pd.Series:
    pattern = opts["group_pattern"]
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise DatasetError(
            f"dataset.group_pattern={pattern!r} is not a valid regex: {err}."
        ) from None
    if compiled.groups != 1:
        raise DatasetError(
            f"dataset.group_pattern={pattern!r} must have exactly one capture group "
            f"(the subject id), e.g. '_(S\\d+)_'."
        )
    extracted = ids.str.extract(compiled, expand=False)
    unmatched = extracted.isna() & ids.notna()
    if unmatched.any():
        lines = _line_numbers(np.flatnonzero(unmatched.to_numpy()), opts)
        raise DatasetError(
            f"dataset.group_pattern={pattern!r} does not match column {opts['group_column']!r} "
            f"of {path} on lines {lines}: fix the pattern or those ids."
        )
    return extracted


# ---- target --------------------------------------------------------------- #


_INTEGRAL_DECIMAL = re.compile(r"^([+-]?\d+)\.0*$")


def _canon(value: Any) -> str:
    """Canonical text of a label or code: 1, 1.0 and '1.0' all become '1'.

    Only a zero fraction is removed; '007' stays '007' because leading zeros can
    be meaningful in codes.
    """
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return str(int(number)) if math.isfinite(number) and number.is_integer() else str(value)
    text = str(value).strip()
    match = _INTEGRAL_DECIMAL.match(text)
    return match.group(1) if match else text


def _encode_target(raw: pd.Series, opts: dict, path: Path) -> tuple[np.ndarray, str, list[str]]:
    """Encode the target as the task requires; return (y, task, class_names)."""
    column = opts["target"]
    task = opts["task"] or _infer_task(raw, opts)
    if task == "regression":
        return _regression_target(raw, opts, path), task, []
    labels = _mapped_labels(raw, opts, path)
    classes = _sorted_labels(labels.unique())
    if len(classes) < 2:
        raise DatasetError(
            f"target column {column!r} in {path} has only one class ({classes[0]!r}) after "
            f"dropping missing targets: a classifier needs at least two. Check dataset.target "
            f"and dataset.label_map."
        )
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
    labels = raw.map(_canon) if opts["label_map"] is None else _mapped_labels(raw, opts, None)
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
    labels = raw.map(_canon)
    if opts["label_map"] is None:
        return labels
    mapping = {_canon(k): _canon(v) for k, v in opts["label_map"].items()}
    unmapped = sorted(set(labels.unique()) - set(mapping))
    if unmapped:
        raise DatasetError(
            f"target column {opts['target']!r} in {path} has label(s) {unmapped} that "
            f"dataset.label_map does not map: add them to dataset.label_map."
        )
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
        raise DatasetError(
            f"target column {column!r} in {path} has {len(classes)} classes {classes} but "
            f"dataset.task is binary: merge them into two with dataset.label_map "
            f"(e.g. {{{classes[0]}: absent, {classes[1]}: present, ...}}) or set "
            f"dataset.task=multiclass."
        )
    positive = opts["positive_label"]
    if positive is None:
        if set(classes) != {"0", "1"}:
            raise DatasetError(
                f"target column {column!r} in {path} has classes {classes}: set "
                f"dataset.positive_label to the one meaning disease/positive."
            )
        positive = "1"
    positive = _canon(positive)
    if positive not in classes:
        raise DatasetError(
            f"dataset.positive_label={opts['positive_label']!r} is not a class of target column "
            f"{column!r} in {path}; its classes are {classes}. Set dataset.positive_label to one "
            f"of them."
        )
    negative = next(c for c in classes if c != positive)
    y = (labels == positive).to_numpy().astype(np.int64)
    return y, "binary", [negative, positive]


def _regression_target(raw: pd.Series, opts: dict, path: Path) -> np.ndarray:
    if opts["positive_label"] is not None or opts["label_map"] is not None:
        raise DatasetError(
            "dataset.positive_label and dataset.label_map apply to classification: remove them "
            "or set dataset.task to binary or multiclass."
        )
    values = _numeric_column(raw, opts["target"], path, "the target")
    _check_finite(values, opts["target"], path)
    return values.to_numpy(dtype=np.float64)


# ---- features ------------------------------------------------------------- #


def _features(frame: pd.DataFrame, opts: dict, path: Path) -> pd.DataFrame:
    """Remove non-features, type each column, apply zero-as-missing; validate values."""
    removed = {opts["target"], opts["id_column"], opts["group_column"]}
    removed |= set(_as_list(opts["drop"], "drop"))
    names = [c for c in frame.columns if c not in removed]
    if not names:
        raise DatasetError(
            f"no feature columns are left in {path} after removing the target, id and group "
            f"columns and dataset.drop: check dataset.drop."
        )
    declared = None
    if opts["categorical"] is not None:
        declared = set(_as_list(opts["categorical"], "categorical"))
    zeros = set(_as_list(opts["zero_as_missing"], "zero_as_missing"))
    columns = {}
    for name in names:
        if _is_categorical(frame[name], name, declared, path):
            columns[name] = _categorical_column(frame[name], name, zeros, path)
            _warn_if_identifier(columns[name], name, path)
        else:
            values = _numeric_column(frame[name], name, path, "numeric feature")
            _check_finite(values, name, path)
            columns[name] = _zero_as_missing(values, name, zeros, path)
    return pd.DataFrame(columns)


def _is_categorical(cells: pd.Series, name: str, declared: set[str] | None, path: Path) -> bool:
    """Declared list wins; otherwise text columns are categorical, numbers numeric."""
    if declared is not None:
        return name in declared
    if pd.api.types.is_numeric_dtype(cells) or pd.api.types.is_bool_dtype(cells):
        return False
    present = cells.dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    if parsed.notna().all():
        return False
    # Mostly numbers with a few words is a numeric column with junk markers, not a category.
    if len(present) and parsed.notna().mean() >= 0.5:
        _numeric_column(cells, name, path, "numeric-looking column")
    return True


def _numeric_column(cells: pd.Series, name: str, path: Path, role: str) -> pd.Series:
    """Parse to float64; junk (text in a numeric column) is an error quoting examples."""
    if pd.api.types.is_bool_dtype(cells):
        return cells.astype("float64")
    if pd.api.types.is_numeric_dtype(cells):
        return cells.astype("float64")
    parsed = pd.to_numeric(cells, errors="coerce")
    junk = parsed.isna() & cells.notna()
    if junk.any():
        examples = list(dict.fromkeys(cells[junk].tolist()))[:MAX_EXAMPLES]
        what = f"column {name!r} in {path} ({role}) has {int(junk.sum())} non-numeric value(s)"
        advice = ("If these mark missing values add them to dataset.na_values; if the column "
                  "is categorical list it in dataset.categorical; otherwise fix the file.")
        raise DatasetError(f"{what}, e.g. {examples}. {advice}", f"{what}. {advice}")
    return parsed.astype("float64")


def _check_finite(values: pd.Series, name: str, path: Path) -> None:
    infinite = np.isinf(values.to_numpy(dtype=np.float64))
    if infinite.any():
        raise DatasetError(
            f"column {name!r} in {path} has {int(infinite.sum())} infinite value(s) "
            f"(data rows {np.flatnonzero(infinite)[:10].tolist()}): replace them with finite "
            f"numbers, or add their spelling (e.g. 'inf') to dataset.na_values to treat them "
            f"as missing."
        )


def _zero_as_missing(values: pd.Series, name: str, zeros: set[str], path: Path) -> pd.Series:
    if name not in zeros:
        return values
    is_zero = values.eq(0)
    if is_zero.any():
        log.info(
            "%s: %d zero(s) in %r treated as missing (dataset.zero_as_missing)",
            path.name, is_zero.sum(), name,
        )
    return values.mask(is_zero)


def _categorical_column(cells: pd.Series, name: str, zeros: set[str], path: Path) -> pd.Series:
    """Strings with canonical numeric codes ('1.0' -> '1'), NaN for missing, object dtype."""
    if name in zeros:
        raise DatasetError(
            f"column {name!r} in {path} is listed in dataset.zero_as_missing but is categorical: "
            f"add the code to dataset.na_values instead, or remove it from dataset.categorical."
        )
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    canonical = np.array([_canon(u) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(canonical[codes], name=name, dtype=object)


def _warn_if_identifier(cells: pd.Series, name: str, path: Path) -> None:
    present = cells.dropna()
    if len(cells) >= 10 and len(present) == len(cells) and present.nunique() == len(cells):
        log.warning(
            "column %r in %s has a different text value on every row, so it looks like an "
            "identifier, not a feature: declare it as dataset.id_column (or dataset.group_column) "
            "or add it to dataset.drop", name, path,
        )


# ---- finishing ------------------------------------------------------------ #


def _finish(name, X, y, task, class_names, groups, source) -> Dataset:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in set(numeric)]
    dataset = Dataset(
        name=name, X=X, y=y, task=task, class_names=list(class_names), groups=groups,
        numeric=numeric, categorical=categorical, source=source,
        fingerprint=fingerprint(X, y),
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


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.datasets {download,info} ...``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.datasets", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch UCI datasets into the data directory")
    fetch.add_argument("names", nargs="*", help=f"datasets (default: all of {', '.join(SOURCES)})")
    fetch.add_argument("--data-dir", help=f"target directory (default ${DATA_DIR_ENV} or data/raw)")
    fetch.add_argument("--mirror", help="base URL serving the reference copies by file name")
    fetch.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    fetch.add_argument("--force", action="store_true", help="re-fetch existing files")
    info = commands.add_parser("info", help="load a dataset config and print counts (no values)")
    info.add_argument("name", help="config name in conf/dataset/")
    info.add_argument("--data-dir", help="data directory override")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "download":
            directory = Path(args.data_dir) if args.data_dir else data_dir()
            download(args.names, directory, args.mirror, args.timeout, args.force)
        else:
            overrides = {"data_dir": args.data_dir} if args.data_dir else {}
            dataset = load_dataset(dataset_config(args.name, **overrides))
            for key, value in dataset.summary().items():
                log.info("%-12s %s", key, value)
    except (DatasetError, DownloadError) as err:
        if args.debug:
            raise
        log.error("error: %s", err)
        return 1
    return 0


LOADERS = {
    "breast_cancer": _load_breast_cancer,
    "csv": load_table,
    "synthetic": _load_synthetic,
    "xor": _load_xor,
    **{name: load_table for name in SOURCES},
}


if __name__ == "__main__":
    sys.exit(main())
