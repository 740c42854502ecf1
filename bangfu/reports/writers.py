"""Report output: a rich table, CSV (UTF-8 with BOM so Excel reads Chinese) and XLSX (openpyxl).

Money stays integer fen until here. CSV gets exact yuan strings (``1234.50``); XLSX gets
:class:`~decimal.Decimal` yuan cells (written as exact decimal text, shown ``#,##0.00``), never
a float computed from fen. Ratios are percentages (``12.34%``; XLSX: a ``0.00%`` cell).

Text can come from imports and platforms (names, titles), so every text cell that a spreadsheet
could take for a formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a
leading single quote (OWASP, CSV injection), and XLSX text cells are always strings, never
formulas. Numbers (money, counts, ratios) stay numbers: a negative amount is not text.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from bangfu.i18n import t
from bangfu.money import fen_to_yuan_str, format_yuan
from bangfu.reports.base import Column, Report

PERCENT = Decimal(100)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text that a spreadsheet would run as a formula, quoted so it stays text (a lone ``-`` is safe)."""
    if text.startswith(FORMULA_START) and text != "-":
        return "'" + text
    return text


def yuan(fen: int) -> Decimal:
    """Integer fen as an exact two-decimal Decimal of yuan."""
    return Decimal(fen_to_yuan_str(fen))


def _percent_text(value: Decimal) -> str:
    return f"{(value * PERCENT).quantize(Decimal('0.01'))}%"


def display(col: Column, value: Any) -> str:
    """A cell as text for the terminal."""
    if value is None:
        return "-"
    if col.kind == "money":
        return format_yuan(int(value))
    if col.kind == "ratio":
        return _percent_text(Decimal(value))
    return str(value)


def plain(col: Column, value: Any) -> str:
    """A cell as CSV text: yuan without grouping, percentages with ``%``."""
    if value is None:
        return ""
    if col.kind == "money":
        return fen_to_yuan_str(int(value))
    if col.kind == "ratio":
        return _percent_text(Decimal(value))
    return neutralise(value) if isinstance(value, str) else str(value)


def to_table(report: Report) -> Table:
    table = Table(title=report.title, title_justify="left")
    for col in report.columns:
        table.add_column(col.header, justify="left" if col.kind == "text" else "right")
    for row in report.rows:
        table.add_row(*(display(col, row.get(col.key)) for col in report.columns))
    if report.totals:
        table.add_section()
        table.add_row(
            *(display(col, report.totals.get(col.key)) if col.key in report.totals else "" for col in report.columns)
        )
    return table


def to_csv(report: Report) -> bytes:
    """The report as CSV bytes: UTF-8 with a BOM, headers in the report's language."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(col.header) for col in report.columns])
    for row in report.rows:
        writer.writerow([plain(col, row.get(col.key)) for col in report.columns])
    if report.totals:
        writer.writerow([plain(col, report.totals.get(col.key)) for col in report.columns])
    for line in report.summary:
        writer.writerow([neutralise(line)])
    return out.getvalue().encode("utf-8-sig")


HEADER_ROW = 3  # row 1: the title; row 2: unit, period and currency; row 3: the column headers


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: a CJK (wide) character counts two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def to_xlsx(report: Report, subtitle: str | None = None) -> bytes:
    """The report as an XLSX workbook (one sheet) ready to print and filter.

    Row 1 is the title, row 2 says whose figures, for which period and in what currency (元),
    row 3 holds the headers (frozen, with filters); money cells are exact Decimal yuan; column
    widths fit their widest text, Chinese characters counting double.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = report.name[:31]
    width = max(len(report.columns), 1)
    _append_row(sheet, [report.title])
    _append_row(sheet, [subtitle or t("report.currency_note")])
    sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    sheet.cell(row=2, column=1).font = Font(color="555555")
    for row in (1, 2):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        sheet.cell(row=row, column=1).alignment = Alignment(horizontal="left")
    _append_row(sheet, [col.header for col in report.columns])
    for cell in sheet[HEADER_ROW]:
        cell.font = Font(bold=True)
    widths = [display_width(col.header) for col in report.columns]

    def emit(row: dict[str, Any]) -> None:
        _append_row(sheet, [_xlsx_value(col, row.get(col.key)) for col in report.columns])
        for i, (col, cell) in enumerate(zip(report.columns, sheet[sheet.max_row], strict=True)):
            if col.kind == "money":
                cell.number_format = "#,##0.00"
            elif col.kind == "ratio":
                cell.number_format = "0.00%"
            widths[i] = max(widths[i], display_width(plain(col, row.get(col.key))) + (2 if col.kind == "money" else 0))

    for data_row in report.rows:
        emit(data_row)
    last_data_row = sheet.max_row
    if report.totals:
        emit(report.totals)
    for line in report.summary:
        _append_row(sheet, [line])
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    if report.columns:
        sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(width)}{max(last_data_row, HEADER_ROW)}"
    for i, w in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 6), 60)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _append_row(sheet: Any, values: list[Any]) -> None:
    """Append a row; text cells are neutralised and typed as strings, so none is ever a formula."""
    sheet.append([neutralise(v) if isinstance(v, str) else v for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def _xlsx_value(col: Column, value: Any) -> Any:
    if value is None:
        return None
    if col.kind == "money":
        return yuan(int(value))
    if col.kind in ("ratio", "decimal"):
        return Decimal(value)
    return value


def write(report: Report, fmt: str, out: Path | None, subtitle: str | None = None) -> bytes:
    """CSV or XLSX bytes, also written to ``out`` when given."""
    data = to_csv(report) if fmt == "csv" else to_xlsx(report, subtitle)
    if out is not None:
        out.write_bytes(data)
    return data
