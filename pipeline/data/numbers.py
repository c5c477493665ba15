"""Numbers written as text: parsed as ``dataset.decimal`` and ``dataset.thousands`` say, and
every other spelling (a decimal comma nobody declared, a unit, a percent sign, a date)
counted by kind, so an error names what was found without quoting a cell."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

DECIMALS = (".", ",")
THOUSANDS = (None, ",", ".", " ", "'", "_")

_NUMBER = r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)"
#: Kinds of cell that are not plain numbers, checked in this order (first match wins).
KINDS = {
    "a comma in a number (a decimal comma, 1,5, or a thousands separator, 1,234)":
        re.compile(r"[+-]?\d*,\d+"),
    "thousands separators (1.234.567, 1 234, 1'234)":
        re.compile(r"[+-]?\d{1,3}(?:[.' ]\d{3})+(?:,\d+)?|[+-]?\d{1,3}(?:,\d{3})+\.\d+"),
    "a dot in a number written with decimal commas": re.compile(r"[+-]?\d*\.\d+"),
    "a percent sign (45%)": re.compile(_NUMBER + r"\s*%"),
    "a date or time (2021-03-04, 04/03/2021, 12:30)":
        re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[ T].*)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
                   r"|\d{1,2}:\d{2}(?::\d{2})?"),
    "a range (10-20)": re.compile(_NUMBER + r"\s*-\s*" + _NUMBER),
    "a comparison (<5, >90)": re.compile(r"(?:[<>]=?|≤|≥)\s*" + _NUMBER),
    "a unit after the number (63.5 y, 120 mmHg)": re.compile(_NUMBER + r"\s*[^\d\s.,%+-][^\d]*"),
}
NUMERIC_KINDS = [k for k in KINDS if not k.startswith("a date")]
OTHER = "other text (words, codes)"


def parse_numbers(cells: pd.Series, decimal: str = ".", thousands: str | None = None) -> pd.Series:
    """Cells as float64; NaN where a cell is missing or not a number in the declared format.

    With ``decimal=","`` a cell holding a dot (other than a declared thousands separator) is
    not parsed: a dot in a decimal-comma file is ambiguous (1.234 = 1234 or 1.234?).
    """
    if pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
        return cells.astype("float64")
    text = cells.astype("string").str.strip()
    if thousands is not None:
        grouped = text.str.fullmatch(_grouping(decimal, thousands)).fillna(False)
        text = text.mask(grouped, text.str.replace(thousands, "", regex=False))
    if decimal == ",":
        text = text.mask(text.str.contains(".", regex=False).fillna(False), pd.NA)
        text = text.str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(text.astype(object).where(text.notna(), None), errors="coerce")
    return pd.Series(parsed, index=cells.index, dtype="float64")


def _grouping(decimal: str, thousands: str) -> str:
    sep, dec = re.escape(thousands), re.escape(decimal)
    return rf"[+-]?\d{{1,3}}(?:{sep}\d{{3}})+(?:{dec}\d+)?"


def kind_of(text: str) -> str:
    """The first kind in :data:`KINDS` whose pattern matches the whole (stripped) cell."""
    text = text.strip()
    return next((kind for kind, pattern in KINDS.items() if pattern.fullmatch(text)), OTHER)


def kinds_found(cells: pd.Series) -> dict[str, int]:
    """How many cells of each kind (most frequent first): counts, never values."""
    counts = pd.Series([kind_of(str(c)) for c in cells]).value_counts()
    return {str(kind): int(n) for kind, n in counts.items()}


def describe_kinds(counts: dict[str, int]) -> str:
    return "; ".join(f"{n} with {kind}" if kind != OTHER else f"{n} {kind}"
                     for kind, n in counts.items())


def advice_for(counts: dict[str, int]) -> str:
    """What to set or fix for the kinds found."""
    advice = []
    if any(k.startswith(("a comma", "thousands", "a dot")) for k in counts):
        advice.append("say how numbers are written with dataset.decimal (',' for 1,5) and "
                      "dataset.thousands (e.g. ',' for 1,234 or '.' for 1.234,5)")
    if any(k.startswith(("a percent", "a unit", "a range", "a comparison")) for k in counts):
        advice.append("write plain numbers in the file (the unit belongs in the column's name; "
                      "a censored value such as <5 needs a decision: a number or missing)")
    if any(k.startswith("a date") for k in counts):
        advice.append("dates are not features: derive a number (e.g. days since admission) "
                      "or add the column to dataset.drop")
    if OTHER in counts:
        advice.append("if the words mark missing values add them to dataset.na_values")
    advice.append("if the column is a category, list it in dataset.categorical")
    text = "; ".join(advice)
    return text[0].upper() + text[1:] + "."


def looks_numeric(cells: pd.Series) -> bool:
    """Most present cells are numbers once formatting (commas, units, %) is set aside."""
    present = cells.dropna().astype(str)
    if present.empty:
        return False
    plain = pd.to_numeric(present, errors="coerce").notna()
    sample = present[~plain]
    if len(sample) > 2000:  # patterns are per cell in Python: a sample tells the share
        sample = sample.sample(2000, random_state=0)
    formatted = np.mean([kind_of(c) in NUMERIC_KINDS for c in sample]) if len(sample) else 0.0
    share = plain.mean() + (1 - plain.mean()) * formatted
    return bool(share >= 0.5)
