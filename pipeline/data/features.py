"""Feature columns: what is not a feature is removed, each column typed numeric or
categorical, numbers parsed and checked, zero-as-missing codes applied."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .options import as_list

log = logging.getLogger(__name__)

MAX_EXAMPLES = 3  # junk values quoted in an error message (shown on the terminal only)


_INTEGRAL_DECIMAL = re.compile(r"^([+-]?\d+)\.0*$")


def canon(value: Any) -> str:
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


def feature_columns(frame: pd.DataFrame, opts: dict, path: Path) -> pd.DataFrame:
    """Remove non-features, type each column, apply zero-as-missing; validate values."""
    removed = {opts["target"], opts["id_column"], opts["group_column"]}
    removed |= set(as_list(opts["drop"], "drop"))
    names = [c for c in frame.columns if c not in removed]
    if not names:
        raise DatasetError(
            f"no feature columns are left in {path} after removing the target, id and group "
            f"columns and dataset.drop: check dataset.drop."
        )
    declared = None
    if opts["categorical"] is not None:
        declared = set(as_list(opts["categorical"], "categorical"))
    zeros = set(as_list(opts["zero_as_missing"], "zero_as_missing"))
    columns = {}
    for name in names:
        if _is_categorical(frame[name], name, declared, path):
            columns[name] = _categorical_column(frame[name], name, zeros, path)
            _warn_if_identifier(columns[name], name, path)
        else:
            values = numeric_column(frame[name], name, path, "numeric feature")
            check_finite(values, name, path)
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
        numeric_column(cells, name, path, "numeric-looking column")
    return True


def numeric_column(cells: pd.Series, name: str, path: Path, role: str) -> pd.Series:
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


def check_finite(values: pd.Series, name: str, path: Path) -> None:
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
    canonical = np.array([canon(u) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(canonical[codes], name=name, dtype=object)


def _warn_if_identifier(cells: pd.Series, name: str, path: Path) -> None:
    present = cells.dropna()
    if len(cells) >= 10 and len(present) == len(cells) and present.nunique() == len(cells):
        log.warning(
            "column %r in %s has a different text value on every row, so it looks like an "
            "identifier, not a feature: declare it as dataset.id_column (or dataset.group_column) "
            "or add it to dataset.drop", name, path,
        )
