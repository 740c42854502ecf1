"""Read a CSV or XLSX table into (row number, cells) pairs, within caps, streaming.

Row numbers are as a spreadsheet shows them: the header is row 1, data starts at row 2.
Blank rows are skipped. Files come from people, so nothing here trusts them:

- CSV is UTF-8 (with or without BOM) or GB18030 (Excel on Chinese Windows saves CSV that way),
  and GB18030 only when the text reads as Chinese: Big5 or Shift-JIS bytes decode as GB18030
  too, into rare characters, kana and symbols, and such a file is refused, not imported as
  mojibake.
- XLSX is a zip: its members' declared sizes are summed before openpyxl opens it (a 575 KB
  workbook can unpack to a 196 MB sheet; zipfile never inflates a member past its declared
  size), then the sheet is streamed in read-only mode with its declared dimension ignored (a
  5 KB file can declare ``A1:XFD1048576``), and rows and columns are counted as they come.
- Every cap (:class:`Limits`) is refused with the file and the cap in the message; a broken
  file is a message, never a traceback.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from bangfu.errors import UserError
from bangfu.i18n import t

Cells = list[str]


@dataclass(frozen=True, slots=True)
class Limits:
    """What an import file may hold; beyond any of these it is refused whole."""

    file_bytes: int = 32 * 2**20
    unpacked_bytes: int = 128 * 2**20  # XLSX: all zip members together, as declared
    rows: int = 100_000  # data rows, header not counted
    columns: int = 200


LIMITS = Limits()

# GB18030 decodes almost any bytes. Real Chinese text is overwhelmingly characters of GB2312
# (hanzi and CJK punctuation); Big5 or Shift-JIS read as GB18030 give rare hanzi, kana, Greek,
# Cyrillic, box drawing and private-use characters instead.
_NOT_CHINESE_BLOCKS = ((0x0370, 0x04FF), (0x2500, 0x257F), (0x3040, 0x30FF), (0xE000, 0xF8FF))
_MOJIBAKE_SHARE = 0.1


def _common_chinese(ch: str) -> bool:
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _NOT_CHINESE_BLOCKS):
        return False
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _reads_as_chinese(text: str) -> bool:
    wide = [ch for ch in text if ord(ch) > 0x7F]
    odd = sum(1 for ch in wide if not _common_chinese(ch))
    return odd <= len(wide) * _MOJIBAKE_SHARE


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _reads_as_chinese(text):
        return text
    raise UserError(f"{path}: " + t("import.bad_encoding"))


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


def _trimmed(cells: Cells) -> Cells:
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _capped(path: Path, rows: Iterator[tuple[int, Cells]], limits: Limits) -> Iterator[tuple[int, Cells]]:
    for number, cells in rows:
        if number > limits.rows + 1:
            raise UserError(f"{path}:{number}:-: " + t("import.too_many_rows", cap=f"{limits.rows:,}"))
        if len(cells) > limits.columns:
            raise UserError(f"{path}:{number}:-: " + t("import.too_many_columns", cap=f"{limits.columns:,}"))
        yield number, cells


def column_label(header: Cells, index: int) -> str:
    """The header of column ``index`` (0-based), or ``column D`` where it has none."""
    if index < len(header) and header[index]:
        return header[index]
    letters, n = "", index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"column {letters}"


def _csv_rows(path: Path, limits: Limits) -> Iterator[tuple[int, Cells]]:
    text = _decode(path, path.read_bytes())
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines)
    header: Cells = []
    number = 0
    while True:
        number += 1
        try:
            record = next(reader, None)
        except csv.Error as exc:  # e.g. a field over csv's 131,072-character limit
            column = column_label(header, _longest_field(text, lines.tell()))
            raise UserError(f"{path}:{number}:{column}: {exc}") from exc
        if record is None:
            return
        cells = _trimmed([cell.strip() for cell in record])
        header = header or cells
        yield number, cells


def _longest_field(text: str, end: int) -> int:
    """The column (0-based) of the longest field on the line that ``csv`` choked on."""
    start = text.rfind("\n", 0, max(end - 1, 0)) + 1
    column, quoted, longest, longest_at, length = 0, False, 0, 0, 0
    for ch in text[start:end]:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            column, length = column + 1, 0
            continue
        length += 1
        if length > longest:
            longest, longest_at = length, column
    return longest_at


def _check_zip(path: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    if unpacked > limits.unpacked_bytes:
        raise UserError(
            f"{path}: " + t("import.too_big_unpacked", size=f"{unpacked:,}", cap=f"{limits.unpacked_bytes:,}")
        )


def _xlsx_rows(path: Path, limits: Limits) -> Iterator[tuple[int, Cells]]:
    from openpyxl import load_workbook

    _check_zip(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # untrusted bytes: any parser failure is the file's fault
        raise UserError(f"{path}: not a readable XLSX workbook ({exc.__class__.__name__}: {exc})") from exc
    number = 1
    try:
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # the declared size is a claim; read the rows that are there
        rows = sheet.iter_rows(values_only=True)
        while True:
            try:
                values = next(rows, None)
            except Exception as exc:  # broken XML, bad shared-string index, truncated member...
                raise UserError(
                    f"{path}:{number}:-: " + t("import.broken_xlsx", error=f"{exc.__class__.__name__}: {exc}")
                ) from exc
            if values is None:
                return
            yield number, _trimmed([_cell_text(v) for v in values])
            number += 1
    finally:
        workbook.close()


def read_table(path: Path, limits: Limits = LIMITS) -> tuple[Cells, Iterator[tuple[int, Cells]]]:
    """The header and the data rows of the first sheet (XLSX) or the file (CSV).

    Data rows are read lazily; a cap or a broken file found on the way raises :class:`UserError`
    from the iterator. Trailing blank cells are dropped from every row.
    """
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise UserError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv or .xlsx")
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise UserError(f"{path}: " + t("import.too_big", size=f"{size:,}", cap=f"{limits.file_bytes:,}"))
    raw = _csv_rows(path, limits) if suffix == ".csv" else _xlsx_rows(path, limits)
    rows = _capped(path, raw, limits)
    first = next(rows, None)
    if first is None or not any(first[1]):
        raise UserError(f"{path}: the file is empty (a header row is needed)")
    header = first[1]

    def data() -> Iterator[tuple[int, Cells]]:
        for number, cells in rows:
            if any(cells):
                yield number, cells

    return header, data()
