"""Reading a table file: its path, its text cells, its column names, missing-value
markers, the columns the config names, missing targets and patient groups."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError, DatasetFileNotFoundError, did_you_mean
from .downloads import SOURCES
from .filetype import check_text_table
from .options import DATA_DIR_ENV, as_list, data_dir

log = logging.getLogger(__name__)


def resolve_path(opts: dict) -> Path:
    """Resolve ``dataset.path`` against the data directory and check that it exists."""
    directory = data_dir(opts["data_dir"])
    path = Path(str(opts["path"])).expanduser()
    path = path if path.is_absolute() else directory / path
    if path.is_file():
        return path
    if opts["name"] in SOURCES:
        raise DatasetFileNotFoundError(
            f"data file {path} for dataset '{opts['name']}' not found. Run `make data` "
            f"(python -m pipeline.data download {opts['name']}) to fetch it, or copy "
            f"{path.name} into {directory}. To read another directory, set dataset.data_dir "
            f"or the {DATA_DIR_ENV} environment variable."
        )
    raise DatasetFileNotFoundError(
        f"data file {path} not found (from dataset.path={opts['path']!r}; relative paths are "
        f"read from the data directory {directory}). Check dataset.path, or set "
        f"dataset.data_dir / {DATA_DIR_ENV}."
    )


def read_table(path: Path, opts: dict) -> pd.DataFrame:
    """Read the file with checked, unique column names (CSV cells stay strings)."""
    if path.stat().st_size == 0:
        raise DatasetError(
            f"data file {path} is empty (0 bytes): check that it was copied completely."
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = _read_parquet(path)
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


def _read_parquet(path: Path) -> pd.DataFrame:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PAR1":
        raise DatasetError(
            f"{path} is named like a Parquet file but is not one (Parquet files start with "
            f"PAR1): if it is a CSV/TSV text table, give it a .csv or .tsv ending."
        )
    return pd.read_parquet(path)


def _read_delimited(path: Path, opts: dict) -> pd.DataFrame:
    check_text_table(path, opts["encoding"])
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
        given = as_list(opts["column_names"], "column_names")
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
                f"{did_you_mean(str(old), names)}"
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


def clean_cells(frame: pd.DataFrame, opts: dict) -> pd.DataFrame:
    """Strip stray whitespace from text cells and turn missing-value markers into NaN.

    A marker that is a number also matches as a number: ``-999`` marks ``-999.0`` and the
    value -999 of a typed (Parquet) column.
    """
    strip = opts["strip_whitespace"]
    raw_markers = as_list(opts["na_values"], "na_values")
    markers = {m.strip() for m in raw_markers} if strip else set(raw_markers)
    numbers = pd.to_numeric(pd.Series(sorted(markers), dtype=object), errors="coerce").dropna()
    codes = [float(v) for v in numbers if np.isfinite(v)]
    cleaned = {}
    for name in frame.columns:
        cells = frame[name]
        if pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells):
            cleaned[name] = cells.mask(cells.isin(codes)) if codes else cells
            continue
        if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
            cleaned[name] = cells  # typed Parquet column (bool, dates): nothing to strip or mark
            continue
        cells = cells.astype("str")
        if strip:
            cells = cells.str.strip()
        marked = cells.isin(markers)
        if codes:
            marked |= pd.to_numeric(cells, errors="coerce").isin(codes)
        cleaned[name] = cells.where(~marked & frame[name].notna())
    return pd.DataFrame(cleaned, index=frame.index)


def check_referenced_columns(frame: pd.DataFrame, opts: dict, path: Path) -> None:
    """Every column named in the config must exist; suggest close matches."""
    columns = list(frame.columns)
    for key in ("target", "id_column", "group_column"):
        name = opts[key]
        if name is not None and str(name) not in columns:
            what = "target column" if key == "target" else "column"
            raise DatasetError(
                f"{what} {name!r} (dataset.{key}) is not in {path}.{did_you_mean(str(name), columns)} "
                f"Columns: {', '.join(columns)}."
            )
    for key in ("drop", "categorical", "zero_as_missing"):
        for name in as_list(opts[key], key):
            if name not in columns:
                raise DatasetError(
                    f"column {name!r} listed in dataset.{key} is not in {path}."
                    f"{did_you_mean(name, columns)} Remove it from dataset.{key} or fix the name."
                )
    if opts["target"] in as_list(opts["drop"], "drop"):
        raise DatasetError(
            f"dataset.drop removes the target column {opts['target']!r}: remove it from dataset.drop."
        )


def check_unique_ids(frame: pd.DataFrame, opts: dict, path: Path) -> None:
    """Ids in ``dataset.id_column`` must be unique: repeated rows of a patient are what
    ``dataset.group_column`` is for (they would otherwise land in training and test folds)."""
    column = opts["id_column"]
    if column is None or column == opts["group_column"]:
        return
    ids = frame[column]
    repeated = ids.duplicated(keep=False) & ids.notna()
    if not repeated.any():
        return
    lines = line_numbers(np.flatnonzero(repeated.to_numpy()), opts)
    raise DatasetError(
        f"dataset.id_column {column!r} in {path} has {ids[repeated].nunique()} id(s) on more "
        f"than one row ({int(repeated.sum())} rows, lines {lines}): ids must be unique. If a "
        f"patient has several rows (visits, recordings), set dataset.group_column={column} "
        f"instead, so that no patient is in two folds; if the rows are copies, remove them."
    )


def drop_missing_target(frame: pd.DataFrame, opts: dict, path: Path) -> pd.DataFrame:
    missing = frame[opts["target"]].isna().to_numpy()
    if not missing.any():
        return frame
    lines = line_numbers(np.flatnonzero(missing), opts)
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


def line_numbers(rows: np.ndarray, opts: dict, limit: int = 10) -> str:
    """File line numbers of 0-based data rows (header = line 1), abbreviated."""
    offset = 2 if opts["header"] else 1
    shown = ", ".join(str(r + offset) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} in all)" if len(rows) > limit else "")


def patient_groups(frame: pd.DataFrame, opts: dict, path: Path) -> np.ndarray | None:
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
        lines = line_numbers(np.flatnonzero(ids.isna().to_numpy()), opts)
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
        lines = line_numbers(np.flatnonzero(unmatched.to_numpy()), opts)
        raise DatasetError(
            f"dataset.group_pattern={pattern!r} does not match column {opts['group_column']!r} "
            f"of {path} on lines {lines}: fix the pattern or those ids."
        )
    return extracted
