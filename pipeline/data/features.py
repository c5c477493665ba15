"""Feature columns: what is not a feature is removed, each column typed numeric or
categorical, numbers parsed in the declared format and checked, missing-value codes
applied; text that is not a category (free text, dates, identifiers) refused."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DatasetError, examples
from .numbers import KINDS, advice_for, describe_kinds, kinds_found, looks_numeric, parse_numbers
from .options import as_list

log = logging.getLogger(__name__)

_INTEGRAL_DECIMAL = re.compile(r"^([+-]?\d+)\.0*$")

#: Numbers that data-entry systems use for "missing" (a value repeated far outside the rest).
SENTINEL_CODES = (-99999, -9999, -999, -99, 999, 9999, 99999, 8888, 88888)
MANY_LEVELS = 20  # more distinct texts than this, and on most rows: free text, not a category
LONG_TEXT = 40  # characters; or five words or more: a sentence, not a category level


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
    """Remove non-features, type each column, apply missing-value codes; validate values."""
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
        if _is_categorical(frame[name], name, declared, opts):
            columns[name] = _categorical_column(frame[name], name, zeros, path)
            if declared is None:
                check_not_text(columns[name], name, path)
        else:
            values = numeric_column(frame[name], name, path, "numeric feature", opts)
            check_finite(values, name, path)
            values = _sentinel_codes(values, name, opts, path)
            columns[name] = _zero_as_missing(values, name, zeros, path)
    return pd.DataFrame(columns)


def _is_categorical(cells: pd.Series, name: str, declared: set[str] | None, opts: dict) -> bool:
    """Declared list wins; otherwise text columns are categorical, numbers numeric, and
    a column that is mostly numbers once formatting is set aside is numeric (and then
    parsed, or refused naming what stands in the way)."""
    if declared is not None:
        return name in declared
    if pd.api.types.is_numeric_dtype(cells) or pd.api.types.is_bool_dtype(cells):
        return False
    present = cells.dropna()
    parsed = parse_numbers(present, opts["decimal"], opts["thousands"])
    return not (parsed.notna().all() or looks_numeric(present))


def numeric_column(cells: pd.Series, name: str, path: Path, role: str,
                   opts: dict | None = None) -> pd.Series:
    """Parse to float64 in the declared number format; anything else is an error that
    counts what was found by kind (a decimal comma, a unit, ...) and quotes a few examples
    on the terminal only."""
    opts = opts or {}
    parsed = parse_numbers(cells, opts.get("decimal", "."), opts.get("thousands"))
    junk = parsed.isna() & cells.notna()
    if junk.any():
        bad = cells[junk].astype(str)
        counts = kinds_found(bad)
        what = f"column {name!r} in {path} ({role}) has {int(junk.sum())} non-numeric value(s)"
        found = f" ({describe_kinds(counts)})"
        advice = advice_for(counts)
        raise DatasetError(f"{what}{examples(bad)}{found}. {advice}", f"{what}{found}. {advice}")
    return parsed


def check_finite(values: pd.Series, name: str, path: Path) -> None:
    infinite = np.isinf(values.to_numpy(dtype=np.float64))
    if infinite.any():
        raise DatasetError(
            f"column {name!r} in {path} has {int(infinite.sum())} infinite value(s) "
            f"(data rows {np.flatnonzero(infinite)[:10].tolist()}): replace them with finite "
            f"numbers, or add their spelling (e.g. 'inf') to dataset.na_values to treat them "
            f"as missing."
        )


def _sentinel_codes(values: pd.Series, name: str, opts: dict, path: Path) -> pd.Series:
    """A code of :data:`SENTINEL_CODES` on two rows or more, further from the column's other
    values than half their spread, is a missing-value code: stop (``dataset.sentinels``
    = error), treat it as missing (``missing``) or keep it (``keep``)."""
    if opts.get("sentinels", "error") == "keep":
        return values
    present = values.dropna()
    others = present[~present.isin(SENTINEL_CODES)]
    if others.empty:
        return values
    low, high = float(others.min()), float(others.max())
    margin = 0.5 * (high - low)
    found = {code: int(present.eq(code).sum()) for code in SENTINEL_CODES
             if present.eq(code).sum() >= 2 and (code < low - margin or code > high + margin)}
    if not found:
        return values
    listing = ", ".join(f"{code} on {n} rows" for code, n in found.items())
    if opts.get("sentinels", "error") == "missing":
        log.info("%s: column %r: code(s) %s treated as missing (dataset.sentinels=missing)",
                 path.name, name, listing)
        return values.mask(values.isin(list(found)))
    raise DatasetError(
        f"column {name!r} in {path} holds {listing}, far outside its other values: codes like "
        f"these usually mean 'missing', and used as numbers they distort the model. Add them "
        f"to dataset.na_values, or set dataset.sentinels=missing (such codes become missing) "
        f"or dataset.sentinels=keep (they are real measurements)."
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


def check_not_text(cells: pd.Series, name: str, path: Path) -> None:
    """Refuse a text column that is not a category: dates, sentences, or a different value on
    most rows (an identifier, free text). Encoded, each value would become a feature, and a
    patient's text a feature name stored with the model."""
    present = cells.dropna().astype(str)
    n, distinct = len(present), present.nunique()
    if n == 0:
        return
    date = KINDS["a date or time (2021-03-04, 04/03/2021, 12:30)"]
    words = present.str.split().str.len()
    if present.map(lambda text: bool(date.fullmatch(text))).mean() >= 0.8:
        what = "dates or times"
    elif ((present.str.len() > LONG_TEXT) | (words >= 5)).mean() >= 0.2:
        what = "free text (long strings)"
    elif n >= 10 and distinct == n:
        what = "an identifier (a different value on every row)"
    elif distinct > MANY_LEVELS and distinct > 0.5 * n:
        what = "free text (a different value on most rows)"
    else:
        return
    raise DatasetError(
        f"column {name!r} in {path} looks like {what}: {distinct} distinct values in {n} rows. "
        f"It is not encoded (each value would become a feature, and a patient's text a "
        f"feature name). Add it to dataset.drop; or declare it as dataset.id_column if it "
        f"identifies rows; or, if it is a category, list it in dataset.categorical (levels "
        f"held by fewer than preprocess.min_category_count rows are then pooled, and more "
        f"than preprocess.max_levels levels stop the run)."
    )
