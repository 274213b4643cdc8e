"""Spreadsheets in and out: reading an uploaded CSV/XLSX within limits, and writing exports that no
spreadsheet program turns into formulas.

Reading (``read_rows``) streams: an XLSX is a zip whose parts are checked from the zip directory before
anything is inflated (number of parts, total inflated size), its declared dimension is checked before the
first row, and rows are read one at a time with limits on rows, columns and cell length; a CSV is decoded
and parsed line by line with the same limits. The first limit reached ends the read with a clear
``DomainError`` — a small file that declares a full-size sheet, or a sheet far larger than any import, costs
no more memory or time than its first rows.

Writing: text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what Excel,
LibreOffice and WPS read as a formula (``=HYPERLINK(...)`` in a name becomes a live link; DDE formulas run
commands). In CSV (``safe_cell``) such a cell gets a leading apostrophe, the spreadsheet programs' own mark
for "text, not a formula" (OWASP, CSV injection); in XLSX (``append_xlsx_row``) every text cell is typed as
text and such a cell carries the quote prefix.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from app.core.errors import DomainError

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """An export cell: numbers, dates and booleans as they are; text that a spreadsheet would run as a
    formula prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def safe_row(values: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def append_xlsx_row(ws: Any, values: list[Any]) -> None:
    """Append a row to an openpyxl worksheet. openpyxl stores a string that starts with ``=`` as a formula;
    here every text cell is stored as text, and one that begins like a formula carries the quote-prefix
    style (what Excel sets when a person types ``'=…``): shown as typed, still text when edited."""
    ws.append(["" if v is None else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if cell.value.startswith(FORMULA_LEADS):
                cell.quotePrefix = True


@dataclass(frozen=True)
class TableLimits:
    max_bytes: int
    max_rows: int  # including the header row
    max_columns: int
    max_cell_chars: int
    max_inflated_bytes: int = 32 * 1024 * 1024  # the XML parts of an XLSX, all together
    max_zip_parts: int = 200


def _too(message: str) -> DomainError:
    return DomainError(message, code="file_too_large")


def read_rows(filename: str, data: bytes, limits: TableLimits) -> Iterator[list[str]]:
    """Rows of cells as stripped text (the first row is the header), within ``limits``."""
    if len(data) > limits.max_bytes:
        raise _too(_("The file is larger than %(kib)d KiB.", kib=limits.max_bytes >> 10))
    rows = _xlsx_rows(data, limits) if filename.lower().endswith(".xlsx") else _csv_rows(data, limits)
    for count, row in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise _too(_("The sheet has more than %(n)d rows.", n=limits.max_rows - 1))
        if len(row) > limits.max_columns:
            while row and row[-1] == "":  # trailing empty cells are not columns
                row.pop()
            if len(row) > limits.max_columns:
                raise _too(_("Row %(line)d has more than %(n)d columns.", line=count, n=limits.max_columns))
        for cell in row:
            if len(cell) > limits.max_cell_chars:
                message = _("A cell in row %(line)d is longer than %(n)d characters.")
                raise _too(message % {"line": count, "n": limits.max_cell_chars})
        yield row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_zip(data: bytes, limits: TableLimits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise DomainError(_("This is not a readable XLSX file.")) from err
    if len(parts) > limits.max_zip_parts:
        raise _too(_("This XLSX file has too many parts to be a simple table."))
    inflated = sum(p.file_size for p in parts)
    if inflated > limits.max_inflated_bytes:
        message = _("This XLSX file unpacks to %(mib)d MiB; at most %(max)d MiB.")
        raise _too(message % {"mib": inflated >> 20, "max": limits.max_inflated_bytes >> 20})


def _xlsx_rows(data: bytes, limits: TableLimits) -> Iterator[list[str]]:
    import openpyxl

    _check_zip(data, limits)  # before openpyxl inflates anything (it reads shared strings whole)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises several kinds for a broken file
        raise DomainError(_("This is not a readable XLSX file.")) from err
    try:
        if not wb.worksheets:
            return
        ws = wb.worksheets[0]
        # The <dimension> the file declares (a read-only sheet takes it as its size).
        rows, cols = getattr(ws, "max_row", None) or 0, getattr(ws, "max_column", None) or 0
        if rows > limits.max_rows or cols > limits.max_columns:
            message = _(
                "The sheet declares %(rows)d rows and %(cols)d columns; at most %(max_rows)d rows and "
                "%(max_cols)d columns are read."
            )
            most = {"max_rows": limits.max_rows - 1, "max_cols": limits.max_columns}
            raise _too(message % {"rows": rows, "cols": cols, **most})
        # Read by the cells present, not by the declared dimension (openpyxl pads every row to it).
        ws.reset_dimensions()
        try:
            for values in ws.iter_rows(values_only=True):
                yield [_cell(v) for v in values]
        except DomainError:
            raise
        except Exception as err:  # a broken sheet part
            raise DomainError(_("This is not a readable XLSX file.")) from err
    finally:
        wb.close()


def _csv_rows(data: bytes, limits: TableLimits) -> Iterator[list[str]]:
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=True)
    except UnicodeDecodeError:
        encoding = "gb18030"
        try:
            codecs.getincrementaldecoder("gb18030")().decode(data, final=True)
        except UnicodeDecodeError as err:
            raise DomainError(_("Save the CSV file as UTF-8.")) from err
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    reader = csv.reader(_bounded_lines(text, limits))
    try:
        for row in reader:
            yield [c.strip() for c in row]
    except csv.Error as err:
        raise DomainError(_("This CSV file cannot be read: %(reason)s", reason=str(err))) from err


def _bounded_lines(text: io.TextIOWrapper, limits: TableLimits) -> Iterator[str]:
    """Lines of at most a row's worth of characters (a file without line breaks is not read whole)."""
    longest = limits.max_columns * (limits.max_cell_chars + 3) + 2
    while True:
        line = text.readline(longest + 1)
        if not line:
            return
        if len(line) > longest:
            raise _too(_("A line of the file is longer than any row of this table can be."))
        yield line
