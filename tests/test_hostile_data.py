"""A corpus of generated hostile inputs: tables, files and dataset settings a careless (or
hostile) clinical user could hand over. Each case asserts its verdict: either a clear error
that names the file, the column or the config key (and whose stored text quotes no cell),
or a correct parse. Classes: number formats, missing-value codes, text that is not a
category, rare and too many levels, dataset keys and values, files that are not text
tables, leakage hints, and the reference copy of a named dataset."""

from __future__ import annotations

import bz2
import codecs
import dataclasses
import gzip
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data import load_dataset
from pipeline.data.options import TABLE_DEFAULTS
from pipeline.errors import DatasetError
from pipeline.preprocessing import build_preprocessor, feature_names

pytestmark = pytest.mark.usefixtures("clean_data_env")

N = 40  # rows of a generated table


@dataclasses.dataclass
class Case:
    """``content`` (text or bytes, or a callable writing the file) read with ``cfg``;
    ``error`` is a regex the message must match and ``names`` what it must name; otherwise
    ``check`` receives the loaded dataset. ``secrets`` must never reach the stored text."""

    id: str
    content: str | bytes | Callable[[Path], None]
    cfg: dict = dataclasses.field(default_factory=dict)
    error: str | None = None
    names: tuple[str, ...] = ()
    check: Callable | None = None
    secrets: tuple[str, ...] = ()
    file: str = "cohort.csv"
    kind: str = ""


def _csv(columns: dict[str, list], sep: str = ",") -> str:
    frame = pd.DataFrame(columns)
    return frame.to_csv(index=False, sep=sep)


def _outcome(n: int = N) -> list[int]:
    return [i % 2 for i in range(n)]


def _numbers(n: int = N, start: float = 50.0) -> list[float]:
    rng = np.random.default_rng(n)
    return list(np.round(rng.normal(start, 5, n), 1))


def _with(values: list, cells: dict[int, object]) -> list:
    out = list(values)
    for i, cell in cells.items():
        out[i] = cell
    return out


CASES: list[Case] = []


def case(**kw):
    CASES.append(Case(**kw))


# --- number formats ---------------------------------------------------------------------
FORMATTED = {  # kind: (cells of a lab column, pattern the error names)
    "decimal_comma": (["4,7", "2,25", "3,75", "12,8"], r"a comma in a number"),
    "thousands_comma": (["4,321", "12,700", "2,900", "3,456"], r"a comma in a number"),
    "thousands_dot": (["4.321.765", "2.345.678", "7.000.001", "3.100.200"], r"thousands separators"),
    "thousands_space": (["4 321", "12 700", "2 900", "3 456"], r"thousands separators"),
    "percent": (["47%", "12 %", "99.7%", "3%"], r"a percent sign"),
    "unit_years": (["67.5 y", "71 y", "41 y", "55.2 y"], r"a unit after the number"),
    "unit_mmhg": (["128 mmHg", "135mmHg", "91 mmHg", "117 mmHg"], r"a unit after the number"),
    "unit_celsius": (["37.3°C", "38.6°C", "36.8°C", "39.2°C"], r"a unit after the number"),
    "unit_mg_dl": (["6 mg/dL", "7.5 mg/dL", "13 mg/dL", "4 mg/dL"], r"a unit after the number"),
    "comparison": (["<7", ">93", "<=4", ">= 101"], r"a comparison"),
    "range": (["11-21", "6-8", "31 - 41", "2-3"], r"a range"),
}
for kind, (cells, pattern) in FORMATTED.items():
    for how, extra in (("inferred", {}), ("declared_numeric", {"categorical": []})):
        # Mostly numbers, every tenth row formatted: a lab column that used to become 40 one-hot
        # levels. The error names the column, counts by kind, and says what to set.
        lab = _with(_numbers(), {i: cells[(i // 10) % len(cells)] for i in range(0, N, 10)})
        lab = [cells[i % len(cells)] for i in range(N)] if how == "declared_numeric" else lab
        case(id=f"format-{kind}-{how}", kind="number formats",
             content=_csv({"age": _numbers(), "lab": lab, "outcome": _outcome()}), cfg=extra,
             error=rf"column 'lab' in .*cohort.csv .*non-numeric value\(s\).*{pattern}",
             names=("'lab'", "cohort.csv"), secrets=tuple(cells))


def _values(column, expected):
    def check(ds):
        np.testing.assert_allclose(ds.X[column].to_numpy()[: len(expected)], expected)
        assert column in ds.numeric
    return check


PARSED = {  # id: (cells, decimal, thousands, sep, expected floats)
    "decimal_comma": (["1,5", "2,25", "-0,5", "12"], ",", None, ";", [1.5, 2.25, -0.5, 12.0]),
    "european_both": (["1.234,5", "2,5", "10.000", "-3,25"], ",", ".", ";", [1234.5, 2.5, 10000.0, -3.25]),
    "thousands_comma": (["1,234", "12,500.5", "7", "-2,000"], ".", ",", ",", [1234.0, 12500.5, 7.0, -2000.0]),
    "thousands_space": (["1 234", "7", "12 500", "3,5"], ",", " ", ";", [1234.0, 7.0, 12500.0, 3.5]),
    "thousands_apostrophe": (["1'234", "7.5", "12'500", "3"], ".", "'", ",", [1234.0, 7.5, 12500.0, 3.0]),
}
for name, (cells, decimal, thousands, sep, expected) in PARSED.items():
    lab = [cells[i % len(cells)] for i in range(N)]
    case(id=f"parse-{name}", kind="number formats",
         content=_csv({"age": list(range(N)), "lab": lab, "outcome": _outcome()}, sep=sep)
         .replace("\n", "\n"), cfg={"decimal": decimal, "thousands": thousands, "delimiter": sep},
         check=_values("lab", expected))

case(id="format-dot-in-decimal-comma-file", kind="number formats",
     content=_csv({"lab": ["1,5", "2.5", "3,5", "4,0"] * 10, "outcome": _outcome()}, sep=";"),
     cfg={"decimal": ",", "delimiter": ";"},
     error=r"column 'lab'.*a dot in a number written with decimal commas", names=("'lab'",),
     secrets=("2.5",))
case(id="format-decimal-comma-in-target", kind="number formats",
     content=_csv({"x": _numbers(), "stay": [f"{i},5" for i in range(N)]}, sep=";"),
     cfg={"target": "stay", "task": "regression", "delimiter": ";"},
     error=r"column 'stay' .*\(the target\).*a comma in a number.*dataset.decimal", names=("'stay'",))
case(id="parse-decimal-comma-target", kind="number formats",
     content=_csv({"x": list(range(N)), "stay": [f"{i},5" for i in range(N)]}, sep=";"),
     cfg={"target": "stay", "task": "regression", "delimiter": ";", "decimal": ","},
     check=lambda ds: np.testing.assert_allclose(ds.y[:3], [0.5, 1.5, 2.5]))

# --- missing-value codes ----------------------------------------------------------------
for code in (-99999, -9999, -999, -99, 999, 9999, 99999, 8888):
    age = _with(_numbers(start=60), {3: code, 17: code, 29: code})
    case(id=f"sentinel-{code}", kind="missing-value codes",
         content=_csv({"age": age, "outcome": _outcome()}),
         error=rf"column 'age' in .*cohort.csv holds {code} on 3 rows.*dataset.na_values",
         names=("'age'", "dataset.sentinels"))
case(id="sentinel-as-missing", kind="missing-value codes",
     content=_csv({"age": _with(_numbers(start=60), {3: -999, 17: -999}), "outcome": _outcome()}),
     cfg={"sentinels": "missing"}, check=lambda ds: ds.X["age"].isna().sum() == 2 or pytest.fail())
case(id="sentinel-kept-on-purpose", kind="missing-value codes",
     content=_csv({"age": _with(_numbers(start=60), {3: -999, 17: -999}), "outcome": _outcome()}),
     cfg={"sentinels": "keep"}, check=lambda ds: (ds.X["age"] == -999).sum() == 2 or pytest.fail())
case(id="sentinel-declared-in-na-values", kind="missing-value codes",
     content=_csv({"age": _with(_numbers(start=60), {3: "-999", 17: "-999.0", 20: "-999.00"}),
                   "outcome": _outcome()}),
     cfg={"na_values": ["", "NA", "-999"]}, check=lambda ds: ds.X["age"].isna().sum() == 3 or pytest.fail())
case(id="sentinel-once-is-a-value", kind="missing-value codes",
     content=_csv({"age": _with(_numbers(start=60), {3: 999}), "outcome": _outcome()}),
     check=lambda ds: ds.X["age"].max() == 999 or pytest.fail())
case(id="sentinel-inside-the-range-is-a-value", kind="missing-value codes",
     content=_csv({"platelets": [500 + 25 * i for i in range(N)], "outcome": _outcome()}),
     check=lambda ds: ds.X["platelets"].notna().all() or pytest.fail())


def _parquet_with_code(path: Path) -> None:
    pd.DataFrame({"age": _with(_numbers(start=60), {1: -999.0, 2: -999.0}),
                  "outcome": _outcome()}).to_parquet(path)


case(id="sentinel-in-typed-parquet", kind="missing-value codes", content=_parquet_with_code,
     file="cohort.parquet", error=r"column 'age' in .*cohort.parquet holds -999 on 2 rows")
case(id="sentinel-in-typed-parquet-declared", kind="missing-value codes",
     content=_parquet_with_code, file="cohort.parquet", cfg={"na_values": ["-999"]},
     check=lambda ds: ds.X["age"].isna().sum() == 2 or pytest.fail())
for marker in ("?", "NA", "NaN", ""):
    case(id=f"marker-default-{marker or 'blank'}", kind="missing-value codes",
         content=_csv({"age": _with(_numbers(), {4: marker, 9: marker}), "outcome": _outcome()}),
         check=lambda ds: ds.X["age"].isna().sum() == 2 or pytest.fail())
for marker in ("N/A", "missing", "unknown", "-", "."):
    case(id=f"marker-undeclared-{marker}", kind="missing-value codes",
         content=_csv({"age": _with(_numbers(), {4: marker, 9: marker}), "outcome": _outcome()}),
         error=r"column 'age' in .*2 non-numeric value\(s\).*dataset.na_values", names=("'age'",))

# --- text that is not a category ----------------------------------------------------------
SENTENCES = [f"Patient {name} seen at {i} Oak Street, complains of chest pain since Monday"
             for i, name in enumerate(["Ann Smith", "Bo Jones", "Cy Brown", "Di Green"] * 10)]
TEXT = {
    "notes": (SENTENCES, r"free text \(long strings\)"),
    "iso_dates": ([f"2021-03-{1 + i % 28:02d}" for i in range(N)], r"dates or times"),
    "day_month_year": ([f"{1 + i % 28:02d}/04/2020" for i in range(N)], r"dates or times"),
    "datetimes": ([f"2021-03-04 {i % 24:02d}:30" for i in range(N)], r"dates or times"),
    "identifier": ([f"P-{i:04d}" for i in range(N)], r"an identifier \(a different value on every row\)"),
    "many_distinct": ([f"code{i % 30}" for i in range(N)], r"free text \(a different value on most rows\)"),
}
for kind, (cells, pattern) in TEXT.items():
    case(id=f"text-{kind}", kind="text columns",
         content=_csv({"age": _numbers(), "remark": cells, "outcome": _outcome()}),
         error=rf"column 'remark' in .*cohort.csv looks like {pattern}: \d+ distinct values in {N} rows",
         names=("'remark'", "dataset.drop", "dataset.id_column", "dataset.categorical"),
         secrets=tuple(cells[:3]))


def _pooled(column, hidden):
    """The dataset loads; preprocessing pools the rare levels: no feature name and no byte of
    the fitted preprocessor holds them."""
    def check(ds):
        pre = build_preprocessor({}, ds.numeric, ds.categorical).fit(ds.X)
        names = feature_names(pre)
        assert f"{column}_infrequent" in names
        blob = pickle.dumps(pre)
        for secret in hidden:
            assert all(secret not in name for name in names)
            assert secret.encode() not in blob
    return check


case(id="levels-declared-notes-are-pooled", kind="rare levels",
     content=_csv({"age": _numbers(), "remark": SENTENCES, "outcome": _outcome()}),
     cfg={"categorical": ["remark"]}, check=_pooled("remark", SENTENCES[:4]))
case(id="levels-rare-ward-is-pooled", kind="rare levels",
     content=_csv({"age": _numbers(), "ward": ["A"] * 20 + ["B"] * 17 + ["Ward Zeta-7"] * 3,
                   "outcome": _outcome()}), check=_pooled("ward", ["Ward Zeta-7"]))
case(id="levels-rare-sex-code-is-pooled", kind="rare levels",
     content=_csv({"age": _numbers(), "sex": ["f"] * 19 + ["m"] * 20 + ["x9"], "outcome": _outcome()}),
     check=_pooled("sex", ["x9"]))


def _too_many_levels(ds):
    with pytest.raises(DatasetError, match=r"categorical column 'clinic' has 60 distinct values in "
                                           r"the training part, more than preprocess.max_levels=50"):
        build_preprocessor({}, ds.numeric, ds.categorical).fit(ds.X)


case(id="levels-more-than-max-levels", kind="rare levels",
     content=_csv({"age": _numbers(120), "clinic": [f"c{i % 60}" for i in range(120)],
                   "outcome": _outcome(120)}), cfg={"categorical": ["clinic"]}, check=_too_many_levels)

# --- dataset keys and values ----------------------------------------------------------------
for key in sorted(TABLE_DEFAULTS):
    if len(key) < 5:
        continue
    i = next(i for i in range(2, len(key) - 1) if key[i] != key[i + 1])
    typo = key[:i] + key[i + 1] + key[i] + key[i + 2:]  # two letters swapped, as fingers do
    case(id=f"key-typo-{key}", kind="dataset keys", content=_csv({"x": _numbers(), "outcome": _outcome()}),
         cfg={typo: TABLE_DEFAULTS[key]},
         error=rf"unknown key\(s\) dataset.{typo} .*Did you mean '{key}'", names=(f"dataset.{typo}",))
BAD_VALUES = {
    "task": ("binnary", r"dataset.task='binnary' is not one of .*Did you mean 'binary'"),
    "missing_target": ("skip", r"dataset.missing_target='skip' is not one of 'drop', 'error'"),
    "decimal": (";", r"dataset.decimal=';' is not one of"),
    "thousands": ("#", r"dataset.thousands='#' is not one of"),
    "sentinels": ("ignore", r"dataset.sentinels='ignore' is not one of"),
    "encoding": ("utf8-bom", r"dataset.encoding='utf8-bom' is not a known text encoding"),
    "delimiter": ("||", r"dataset.delimiter='\|\|' must be one character"),
    "header": ("yes", r"dataset.header must be true or false"),
    "label_map": (["a", "b"], r"dataset.label_map must be a mapping"),
}
for key, (value, pattern) in BAD_VALUES.items():
    case(id=f"value-{key}", kind="dataset keys", content=_csv({"x": _numbers(), "outcome": _outcome()}),
         cfg={key: value}, error=pattern, names=(f"dataset.{key}",))
for key, wrong, right in (("target", "Outcome ", "outcome"), ("id_column", "patiend_id", "patient_id"),
                          ("drop", ["ag"], "age"), ("categorical", ["sexx"], "sex")):
    cfg = {key: wrong} if key != "target" else {"target": wrong}
    case(id=f"column-typo-{key}", kind="dataset keys",
         content=_csv({"patient_id": [f"p{i}" for i in range(N)], "age": _numbers(),
                       "sex": ["f", "m"] * (N // 2), "outcome": _outcome()}),
         cfg=cfg, error=rf"dataset.{key}.*Did you mean '{right}'", names=(f"dataset.{key}",))

# --- files that are not text tables --------------------------------------------------------
PLAIN = _csv({"age": _numbers(), "outcome": _outcome()})


def _xlsx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")


NOT_TEXT = {
    "xlsx-renamed": (_xlsx, r"is a ZIP archive \(an Excel .xlsx/.ods workbook is one\).*CSV UTF-8"),
    "xls-renamed": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), r"old-style Excel workbook"),
    "gzip-without-ending": (gzip.compress(PLAIN.encode()), r"is gzip-compressed.*\.gz ending"),
    "bzip2-without-ending": (bz2.compress(PLAIN.encode()), r"is bzip2-compressed"),
    "utf16-le-bom": (codecs.BOM_UTF16_LE + PLAIN.encode("utf-16-le"),
                     r"is UTF-16 text.*dataset.encoding=utf-16"),
    "utf16-be-bom": (codecs.BOM_UTF16_BE + PLAIN.encode("utf-16-be"), r"is UTF-16 text"),
    "utf16-no-bom": (PLAIN.encode("utf-16-le"), r"is UTF-16-LE text"),
    "html-page": (b"<!DOCTYPE html>\n<html><head><title>cohort.csv</title></head><body>x</body></html>",
                  r"is an HTML web page.*download the raw file"),
    "xml-sheet": (b'<?xml version="1.0"?>\n<Workbook></Workbook>', r"is an XML document"),
    "pdf": (b"%PDF-1.7\n" + bytes(100), r"is a PDF document"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(100), r"is a PNG image"),
    "sqlite": (b"SQLite format 3\x00" + bytes(100), r"is an SQLite database"),
    "parquet-named-csv": (lambda p: pd.DataFrame({"age": [1.0], "outcome": [1]}).to_parquet(p),
                          r"is a Parquet file.*\.parquet ending"),
    "binary-with-nuls": (b"age,outcome\n1\x00\x00\x002,0\n", r"holds NUL bytes"),
    "empty": (b"", r"is empty \(0 bytes\)"),
    "header-only": (b"age,outcome\n", r"has a header but no data rows"),
    "latin1": ("age,sex,outcome\n1,f\xe9minin,0\n2,m,1\n".encode("latin-1"),
               r"is not valid utf-8-sig text.*dataset.encoding"),
}
for name, (content, pattern) in NOT_TEXT.items():
    case(id=f"file-{name}", kind="not text tables", content=content, error=pattern, names=("cohort.csv",))
case(id="file-csv-named-parquet", kind="not text tables", content=PLAIN, file="cohort.parquet",
     error=r"cohort.parquet is named like a Parquet file but is not one", names=("cohort.parquet",))
case(id="file-gzip-with-ending", kind="not text tables", content=gzip.compress(PLAIN.encode()),
     file="cohort.csv.gz", check=lambda ds: len(ds.y) == N or pytest.fail())
case(id="file-utf16-declared", kind="not text tables",
     content=codecs.BOM_UTF16_LE + PLAIN.encode("utf-16-le"), cfg={"encoding": "utf-16"},
     check=lambda ds: len(ds.y) == N or pytest.fail())

# --- leakage hints -------------------------------------------------------------------------
case(id="leak-duplicate-ids", kind="leakage",
     content=_csv({"adm": [f"A{i % 30}" for i in range(N)], "age": _numbers(), "outcome": _outcome()}),
     cfg={"id_column": "adm"},
     error=r"dataset.id_column 'adm' in .*cohort.csv has 10 id\(s\) on more than one row \(20 rows.*"
           r"dataset.group_column=adm", names=("'adm'",), secrets=("A1", "A2"))


def _warns(pattern):
    def check(ds):
        assert any(__import__("re").search(pattern, w) for w in ds.warnings), ds.warnings
    return check


case(id="leak-record-number", kind="leakage",
     content=_csv({"rec": list(range(1001, 1001 + N)), "age": _numbers(),
                   "outcome": sorted(_outcome())}),
     check=_warns(r"column 'rec' holds a different whole number on every row.*dataset.id_column"))
case(id="leak-separating-feature", kind="leakage",
     content=_csv({"age": _numbers(), "biopsy_result": [2.0 * y + 0.01 * i for i, y in enumerate(_outcome())],
                   "outcome": _outcome()}),
     check=_warns(r"column 'biopsy_result' alone separates the outcome \(AUROC 1.000"))
case(id="leak-separating-category", kind="leakage",
     content=_csv({"age": _numbers(), "test": ["pos" if y else "neg" for y in _outcome()],
                   "outcome": _outcome()}),
     check=_warns(r"column 'test' alone separates the outcome"))
case(id="leak-none-on-a-clean-table", kind="leakage",
     content=_csv({"age": _numbers(), "bmi": _numbers(start=27), "outcome": _outcome()}),
     check=lambda ds: ds.warnings == () or pytest.fail(str(ds.warnings)))


def _write(case_: Case, directory: Path) -> Path:
    path = directory / case_.file
    if callable(case_.content):
        case_.content(path)
    elif isinstance(case_.content, bytes):
        path.write_bytes(case_.content)
    else:
        path.write_text(case_.content, encoding="utf-8")
    return path


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input(hostile: Case, tmp_path):
    path = _write(hostile, tmp_path)
    cfg = {"name": "csv", "path": str(path), "target": "outcome", **hostile.cfg}
    if hostile.error is None:
        dataset = load_dataset(cfg)
        result = hostile.check(dataset)
        assert result is None or bool(result)
        return
    with pytest.raises(DatasetError) as info:
        load_dataset(cfg)
    message = str(info.value)
    assert __import__("re").search(hostile.error, message, __import__("re").S), message
    for name in hostile.names:
        assert name in message, f"{name} not named in: {message}"
    stored = getattr(info.value, "safe_message", message)
    for secret in hostile.secrets:
        assert secret not in stored, f"{secret!r} would be stored: {stored}"


def test_the_corpus_is_large_and_covers_every_class():
    kinds = {c.kind for c in CASES}
    assert len(CASES) >= 60
    assert {"number formats", "missing-value codes", "text columns", "rare levels",
            "dataset keys", "not text tables", "leakage"} <= kinds
    assert len({c.id for c in CASES}) == len(CASES)


def test_named_dataset_whose_file_changed_is_flagged(tmp_path, shared_datasets_dir):
    from pipeline.data import dataset_config

    original = (shared_datasets_dir / "pima-indians-diabetes.csv").read_bytes()
    (tmp_path / "pima-indians-diabetes.csv").write_bytes(original)
    same = load_dataset(dataset_config("pima", data_dir=str(tmp_path)))
    assert not any("MD5" in w for w in same.warnings)
    (tmp_path / "pima-indians-diabetes.csv").write_bytes(original.replace(b"\n6,148,", b"\n6,149,", 1))
    changed = load_dataset(dataset_config("pima", data_dir=str(tmp_path)))
    (warning,) = [w for w in changed.warnings if "MD5" in w]
    assert "pima-indians-diabetes.csv" in warning and "not the copy this config was tested with" in warning
    assert io is not None  # (io imported for file builders)


# --- deployment: new patients scored by the logged model ------------------------------------


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A model trained on a table with whole-number ages, logged and loaded back as pyfunc."""
    import os

    import mlflow

    from pipeline import tracking
    from pipeline.config import validate
    from pipeline.experiment import run_experiment
    from tests.conftest import MLFLOW_ENV, compose_config

    directory = tmp_path_factory.mktemp("deployed")
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({"age": rng.integers(30, 90, n).astype(float), "crp": rng.gamma(2, 5, n),
                          "sex": rng.choice(["f", "m"], n), "outcome": rng.integers(0, 2, n)})
    frame.to_csv(directory / "cohort.csv", index=False)
    uri = f"sqlite:///{directory}/mlflow.db"
    saved = {k: os.environ.pop(k) for k in MLFLOW_ENV if k in os.environ}
    try:
        config = validate(compose_config(
            "dataset=csv", f"dataset.path={directory / 'cohort.csv'}", "dataset.target=outcome",
            "model=logistic", "split=holdout", "n_bootstrap=10", f"tracking.uri={uri}"))
        tracker = tracking.Tracker(uri, "deployed")
        run_experiment(config, tracker)
        (logged,) = tracker.client.search_logged_models([tracker.experiment_id])
        os.environ["MLFLOW_TRACKING_URI"] = uri
        model = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.update(saved)
    return model, frame


NEW_PATIENTS = {  # id: (rows, expected n_missing, expected out_of_range names, error regex)
    "whole-number-ages": ({"age": [67, 45], "crp": [3.5, 12.0], "sex": ["f", "m"]}, [0, 0], ["", ""],
                          None),
    "every-value-missing": ({"age": [np.nan], "crp": [np.nan], "sex": [np.nan]}, [3], [""], None),
    "age-minus-500": ({"age": [-500], "crp": [4.0], "sex": ["f"]}, [0], ["age"], None),
    "two-extrapolations": ({"age": [150], "crp": [1e4], "sex": ["m"]}, [0], ["age, crp"], None),
    "numbers-as-text": ({"age": ["67", "70.5"], "crp": ["3", None], "sex": ["f", "m"]}, [0, 1], ["", ""],
                        None),
    "unseen-sex-code": ({"age": [50], "crp": [5.0], "sex": ["unknown-code"]}, [0], [""], None),
    "missing-column": ({"age": [50], "sex": ["f"]}, None, None,
                       r"needs the column\(s\) \['crp'\], which the input lacks"),
    "words-in-a-number-column": ({"age": ["sixty-seven"], "crp": [3.0], "sex": ["f"]}, None, None,
                                 r"column 'age' must hold numbers; 1 row\(s\) hold something else"),
}


@pytest.mark.parametrize("name", NEW_PATIENTS)
def test_new_patients_scored_with_their_checks(deployed, name):
    model, _ = deployed
    rows, n_missing, outside, error = NEW_PATIENTS[name]
    patients = pd.DataFrame(rows)
    if error is not None:
        with pytest.raises(Exception, match=error) as info:
            model.predict(patients)
        assert "sixty-seven" not in str(info.value)  # names the column, never the rows
        return
    out = model.predict(patients)
    assert list(out.columns) == ["probability", "n_missing", "n_out_of_range", "out_of_range"]
    assert out["probability"].between(0, 1).all()
    assert out["n_missing"].tolist() == n_missing
    assert out["out_of_range"].tolist() == outside
    assert out["n_out_of_range"].tolist() == [len(o.split(", ")) if o else 0 for o in outside]


def test_training_range_is_percentiles_not_extremes(deployed):
    model, frame = deployed
    at_extremes = frame[["age", "crp", "sex"]].iloc[[frame["crp"].idxmax()]]
    out = model.predict(at_extremes)
    assert out["out_of_range"].iloc[0] == "crp"  # the largest training value lies beyond 99.5%
