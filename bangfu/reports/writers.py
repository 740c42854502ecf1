"""Report output: a rich table, CSV (UTF-8 with BOM so Excel reads Chinese) and XLSX (openpyxl).

Money stays integer fen until here. CSV gets exact yuan strings (``1234.50``); XLSX gets
:class:`~decimal.Decimal` yuan cells (written as exact decimal text, shown ``#,##0.00``), never
a float computed from fen. Ratios are percentages (``12.34%``; XLSX: a ``0.00%`` cell).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from bangfu.money import fen_to_yuan_str, format_yuan
from bangfu.reports.base import Column, Report

PERCENT = Decimal(100)


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
    return str(value)


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
    writer.writerow([col.header for col in report.columns])
    for row in report.rows:
        writer.writerow([plain(col, row.get(col.key)) for col in report.columns])
    if report.totals:
        writer.writerow([plain(col, report.totals.get(col.key)) for col in report.columns])
    for line in report.summary:
        writer.writerow([line])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report) -> bytes:
    """The report as an XLSX workbook (one sheet); money cells are exact Decimal yuan."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = report.name[:31]
    sheet.append([col.header for col in report.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)

    def emit(row: dict[str, Any]) -> None:
        sheet.append([_xlsx_value(col, row.get(col.key)) for col in report.columns])
        for col, cell in zip(report.columns, sheet[sheet.max_row], strict=True):
            if col.kind == "money":
                cell.number_format = "#,##0.00"
            elif col.kind == "ratio":
                cell.number_format = "0.00%"

    for row in report.rows:
        emit(row)
    if report.totals:
        emit(report.totals)
    for line in report.summary:
        sheet.append([line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_value(col: Column, value: Any) -> Any:
    if value is None:
        return None
    if col.kind == "money":
        return yuan(int(value))
    if col.kind in ("ratio", "decimal"):
        return Decimal(value)
    return value


def write(report: Report, fmt: str, out: Path | None) -> bytes:
    """CSV or XLSX bytes, also written to ``out`` when given."""
    data = to_csv(report) if fmt == "csv" else to_xlsx(report)
    if out is not None:
        out.write_bytes(data)
    return data
