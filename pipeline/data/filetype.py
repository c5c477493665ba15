"""What a file that should be a text table really is, told from its first bytes: a workbook,
a compressed file, UTF-16 text, a web page or another binary format saved under a table's
name gets an error naming what it is and what to do, instead of a parser's complaint."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import DatasetError

SNIFF_BYTES = 4096

# (leading bytes, what the file is, what to do)
MAGIC = [
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx/.ods workbook is one)",
     "export the sheet as CSV (in Excel: File > Save As > CSV UTF-8), or unzip it, and point "
     "dataset.path at the .csv file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Excel workbook (.xls) or another Office file",
     "export the sheet as CSV (File > Save As > CSV UTF-8) and point dataset.path at it"),
    (b"\x1f\x8b", "gzip-compressed",
     "give it a .gz ending (e.g. table.csv.gz: read directly) or decompress it (gunzip)"),
    (b"BZh", "bzip2-compressed", "give it a .bz2 ending or decompress it (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "give it a .xz ending or decompress it (unxz)"),
    (b"(\xb5/\xfd", "zstd-compressed", "give it a .zst ending or decompress it (unzstd)"),
    (b"PAR1", "a Parquet file", "give it a .parquet ending (Parquet tables are read directly)"),
    (b"SQLite format 3\x00", "an SQLite database",
     "export the table as CSV (sqlite3 -header -csv db 'select * from t' > t.csv)"),
    (b"%PDF", "a PDF document", "export the table from its source as CSV"),
    (b"\x89PNG", "a PNG image", "point dataset.path at the table, not at a figure"),
    (b"\xff\xd8\xff", "a JPEG image", "point dataset.path at the table, not at a figure"),
    (b"{\\rtf", "an RTF document", "save the table as plain CSV text"),
]
COMPRESSED_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zip"}


def check_text_table(path: Path, encoding: str) -> None:
    """Refuse a file that is not a text table, naming what it is; compressed files with a
    matching ending (``.csv.gz``) and UTF-16 with ``dataset.encoding=utf-16`` pass."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return  # pandas decompresses by the ending
    for magic, what, todo in MAGIC:
        if head.startswith(magic):
            raise DatasetError(f"{path} is {what}, not a text table: {todo}.")
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if not wide:
        _check_not_wide_text(path, head)
    _check_not_markup(path, head)
    if b"\x00" in head and not wide:
        raise DatasetError(
            f"{path} holds NUL bytes, so it is a binary file, not a text table: export the "
            f"data as CSV text (or, if it is UTF-16/32 text, set dataset.encoding=utf-16)."
        )


def _check_not_wide_text(path: Path, head: bytes) -> None:
    boms = {codecs.BOM_UTF32_LE: "utf-32", codecs.BOM_UTF32_BE: "utf-32",
            codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}
    found = next((name for bom, name in boms.items() if head.startswith(bom)), None)
    # Without a byte-order mark, UTF-16 text of Latin letters has a NUL in every other byte.
    if found is None and len(head) >= 8 and head[1::2].count(0) > 0.4 * len(head[1::2]):
        found = "utf-16-le"
    if found is None and len(head) >= 8 and head[0::2].count(0) > 0.4 * len(head[0::2]):
        found = "utf-16-be"
    if found:
        raise DatasetError(
            f"{path} is {found.upper()} text (as Excel's 'Unicode text' saves it): set "
            f"dataset.encoding={found}, or re-save the file as CSV UTF-8."
        )


def _check_not_markup(path: Path, head: bytes) -> None:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        raise DatasetError(
            f"{path} is an HTML web page, not a text table (a download link saved as a page?): "
            f"download the raw file itself (e.g. the 'Raw' button, or `make data`)."
        )
    if start.startswith(b"<?xml"):
        raise DatasetError(
            f"{path} is an XML document (an Excel 2003 XML sheet?), not a text table: export "
            f"it as CSV and point dataset.path at that file."
        )
