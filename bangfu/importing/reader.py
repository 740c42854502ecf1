"""Read a CSV or XLSX table into (row number, {header: text}) pairs.

Row numbers are as a spreadsheet shows them: the header is row 1, data starts at row 2.
CSV is read as UTF-8 (with or without BOM) and, failing that, GB18030 (Excel on Chinese
Windows saves CSV that way). Blank rows are skipped.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from bangfu.errors import UserError

Row = dict[str, str]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # openpyxl gives floats for numeric cells; repr is the shortest exact decimal form.
        text = repr(value)
        return str(Decimal(text).normalize()) if "e" in text.lower() else text.removesuffix(".0")
    return str(value).strip()


def _read_csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""))]
    raise UserError(f"{path}: not UTF-8 or GB18030 text")


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = workbook.worksheets[0]
        return [[_cell_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """The header and the data rows of the first sheet (XLSX) or the file (CSV)."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(path)
    else:
        raise UserError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv or .xlsx")
    if not rows or not any(rows[0]):
        raise UserError(f"{path}: the file is empty (a header row is needed)")
    header = [cell.strip() for cell in rows[0]]
    while header and not header[-1]:
        header.pop()

    def data() -> Iterator[tuple[int, Row]]:
        for number, cells in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in cells):
                continue
            yield number, {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}

    return header, data()
