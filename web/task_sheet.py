"""The task ledger as a county 台账 sheet (XLSX): a title, a subtitle, a two-row header with
merged cells (序号, 责任部门, 工作任务, 责任人, 完成时限, 目标 each over both rows; 季度进展 over
Q1..Q4), one row per task, each department's cells merged down its tasks, thin borders and
wrapped text, ready to print on A4 landscape."""

from __future__ import annotations

import io
from collections.abc import Callable

from bangfu.i18n import t
from bangfu.queries.tasks import Ledger, TaskRow

TITLE_ROW, SUBTITLE_ROW, HEAD_ROW, SUBHEAD_ROW = 1, 2, 3, 4
FIRST_DATA_ROW = 5
#: (header key, width) of the columns before the quarters, then after them
BEFORE = (("no", 6), ("department", 16), ("title", 40), ("owner", 16), ("deadline", 12), ("target", 16))
AFTER = (("status", 10), ("note", 30))
QUARTERS = 4


def ledger_sheet(book: Ledger, subtitle: str, fmt: Callable[[str, int | None], str]) -> bytes:
    """``fmt(unit, value)``: a value as the sheet writes it (``¥1,234.50``, ``45.00%``, ``81 户``)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = t("tasks.sheet.name", year=book.year)[:31]
    width = len(BEFORE) + QUARTERS + len(AFTER)
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    wrap = Alignment(vertical="center", wrap_text=True)
    head_fill = PatternFill("solid", fgColor="E8F0EA")

    sheet.cell(TITLE_ROW, 1, t("tasks.sheet.title", year=book.year)).font = Font(bold=True, size=16)
    sheet.cell(TITLE_ROW, 1).alignment = Alignment(horizontal="center", vertical="center")
    sheet.merge_cells(start_row=TITLE_ROW, start_column=1, end_row=TITLE_ROW, end_column=width)
    sheet.row_dimensions[TITLE_ROW].height = 30
    sheet.cell(SUBTITLE_ROW, 1, subtitle).font = Font(color="555555")
    sheet.merge_cells(start_row=SUBTITLE_ROW, start_column=1, end_row=SUBTITLE_ROW, end_column=width)

    def head(row: int, col: int, text: str) -> None:
        cell = sheet.cell(row, col, text)
        cell.font = Font(bold=True)
        cell.alignment = center
        cell.fill = head_fill

    col = 1
    for key, w in BEFORE:
        head(HEAD_ROW, col, t(f"tasks.col.{key}"))
        sheet.merge_cells(start_row=HEAD_ROW, start_column=col, end_row=SUBHEAD_ROW, end_column=col)
        sheet.column_dimensions[get_column_letter(col)].width = w
        col += 1
    head(HEAD_ROW, col, t("tasks.col.quarters"))
    sheet.merge_cells(start_row=HEAD_ROW, start_column=col, end_row=HEAD_ROW, end_column=col + QUARTERS - 1)
    for q in range(QUARTERS):
        head(SUBHEAD_ROW, col + q, t("tasks.col.quarter", q=q + 1))
        sheet.column_dimensions[get_column_letter(col + q)].width = 14
    col += QUARTERS
    for key, w in AFTER:
        head(HEAD_ROW, col, t(f"tasks.col.{key}"))
        sheet.merge_cells(start_row=HEAD_ROW, start_column=col, end_row=SUBHEAD_ROW, end_column=col)
        sheet.column_dimensions[get_column_letter(col)].width = w
        col += 1

    row_no = FIRST_DATA_ROW
    number = 0
    for department, rows in book.departments:
        first = row_no
        for task in rows:
            number += 1
            _task_row(sheet, row_no, number, department, task, fmt)
            row_no += 1
        if row_no - first > 1:
            sheet.merge_cells(start_row=first, start_column=2, end_row=row_no - 1, end_column=2)
    for r in range(HEAD_ROW, row_no):
        for c in range(1, width + 1):
            framed = sheet.cell(r, c)
            framed.border = border
            if r >= FIRST_DATA_ROW:
                framed.alignment = center if c in (1, 2, 5) else wrap
    sheet.freeze_panes = "C5"  # the headers and the department column stay in view
    sheet.print_title_rows = f"{HEAD_ROW}:{SUBHEAD_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    if sheet.sheet_properties.pageSetUpPr is not None:
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _task_row(sheet: object, row: int, number: int, department: str, task: TaskRow, fmt: Callable[..., str]) -> None:
    values: list[object] = [
        number,
        department,
        task.title,
        task.owner,
        task.deadline.isoformat(),
        fmt(task.unit, task.target),
        *[fmt(task.unit, v) if v is not None else "" for v in task.quarters],
        t(f"tasks.status.{task.status}"),
        "；".join(x for x in (task.note or "", t("tasks.sheet.auto") if task.bound else "") if x),
    ]
    for col, value in enumerate(values, start=1):
        sheet.cell(row, col, value)  # type: ignore[attr-defined]
