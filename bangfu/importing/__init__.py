"""Data in by hand: ``bangfu import KIND FILE`` for cooperatives, households, products, lots, units.

A file is validated row by row (pydantic) and reference by reference in the same pass; if any
row is wrong the whole file is rejected with ``file:row:field: reason`` lines and nothing is
written, so a file is fixed in one round. A good file is upserted idempotently in one
transaction: importing it twice changes nothing.

A blank cell or a missing column means "not given": an existing record keeps what is stored
(a new one takes the default). ``<清空>`` / ``<clear>`` in an optional column clears it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.importing.loaders import LOADERS, LoadResult, RowError
from bangfu.importing.reader import LIMITS, Limits, column_label, read_table
from bangfu.importing.rows import CLEAR_MARKERS, ROW_MODELS, ImportRow, header_index, normalise_header

KINDS = tuple(ROW_MODELS)
# C0 controls but tab and line breaks, and DEL: never typed, refused by PostgreSQL (NUL) or invisible.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FileError:
    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.field}: {self.reason}"


class ImportRejected(UserError):
    """The file has errors; nothing was written. ``errors`` lists each one."""

    def __init__(self, file: str, errors: list[FileError]) -> None:
        self.file = file
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class ParsedFile:
    rows: list[tuple[int, ImportRow]]
    errors: list[FileError]
    columns: dict[str, str]  # field name -> the header as the file spells it


def parse_rows(
    kind: str, path: Path, limits: Limits = LIMITS, *, row_model: type[ImportRow] | None = None
) -> ParsedFile:
    """Validate every row of ``path`` as ``kind``; errors name the header as the file spells it.

    ``row_model``: a kind with an importer of its own (``bangfu tasks import``) passes its model."""
    if row_model is None and kind not in ROW_MODELS:
        raise UserError(f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    model = row_model or ROW_MODELS[kind]
    name = str(path)
    header, data = read_table(path, limits)
    index = header_index(model)
    errors: list[FileError] = []
    column_of: dict[str, str] = {}
    position_of: dict[str, int] = {}
    for position, column in enumerate(header):
        field_name = index.get(normalise_header(column))
        if field_name is None:
            if column:
                errors.append(FileError(name, 1, column, f"unknown column for {kind}"))
            continue
        if field_name in column_of:
            errors.append(FileError(name, 1, column, f"same column as {column_of[field_name]!r}"))
        column_of[field_name] = column
        position_of[field_name] = position
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    chinese = any(not column.isascii() for column in header)
    for field_name in required:
        if field_name not in column_of:
            headers = model.HEADERS[field_name]
            shown = headers[1] if chinese else headers[0]
            others = " / ".join(h for h in headers if h != shown)
            errors.append(FileError(name, 1, shown, f"missing column (also accepted: {others})"))
    for group in getattr(model, "ONE_OF", ()):
        if not any(field_name in column_of for field_name in group):
            shown = " / ".join(model.HEADERS[f][1] if chinese else model.HEADERS[f][0] for f in group)
            errors.append(FileError(name, 1, shown, "missing column: one of these is needed"))
    if errors:
        return ParsedFile([], errors, column_of)

    rows: list[tuple[int, ImportRow]] = []
    seen_keys: dict[tuple[object, ...], int] = {}
    for number, cells in data:
        row_errors = [
            FileError(name, number, column_label(header, i), "a value in a column without a header")
            for i, cell in enumerate(cells)
            if cell and (i >= len(header) or not header[i])
        ]
        values: dict[str, str] = {}
        cleared: list[str] = []
        for field_name, position in position_of.items():
            text = cells[position] if position < len(cells) else ""
            control = _CONTROL.search(text)
            if control:
                reason = f"a control character (U+{ord(control.group()):04X}) is not allowed"
                row_errors.append(FileError(name, number, column_of[field_name], reason))
            elif text.lower() in CLEAR_MARKERS:
                if field_name in required:
                    reason = "a required column cannot be cleared"
                    row_errors.append(FileError(name, number, column_of[field_name], reason))
                else:
                    cleared.append(field_name)
            elif text or field_name in required:
                values[field_name] = text
        try:
            row = model.model_validate(values)
        except ValidationError as exc:
            flagged = {e.field for e in row_errors}
            for problem in exc.errors():
                loc = problem["loc"]
                field_name = str(loc[0]) if loc else _field_from_message(problem["msg"], model)
                column = column_of.get(field_name, field_name)
                if column in flagged:
                    continue  # already said why (a control character, a required column cleared)
                message = problem["msg"].removeprefix("Value error, ")
                message = message.removeprefix(f"{field_name}: ")
                row_errors.append(FileError(name, number, column, message))
        if row_errors:
            errors.extend(row_errors)
            continue
        if cleared:  # cleared fields count as given, with their defaults
            row = row.model_copy(update={f: model.model_fields[f].get_default() for f in cleared})
        key = tuple(getattr(row, k) for k in model.KEY)
        if key in seen_keys:
            errors.append(
                FileError(name, number, column_of.get(model.KEY[0], model.KEY[0]), f"duplicate of row {seen_keys[key]}")
            )
            continue
        seen_keys[key] = number
        rows.append((number, row))
    if not rows and not errors:
        errors.append(FileError(name, 2, "-", "the file has a header but no data rows"))
    return ParsedFile(rows, errors, column_of)


def _field_from_message(message: str, model: type[ImportRow]) -> str:
    """Model-level checks start their message with the field they are about."""
    text = message.removeprefix("Value error, ")
    head = text.split(":", 1)[0]
    return head if head in model.model_fields else "-"


async def import_file(
    sessions: async_sessionmaker[AsyncSession],
    kind: str,
    path: Path,
    limits: Limits = LIMITS,
    *,
    shop_id: int | None = None,
) -> LoadResult:
    """Validate and load one file in one transaction; raise :class:`ImportRejected` on any error.

    References (cooperative codes, SKUs, shops...) of the rows that parsed are checked even when
    other rows did not, so row and reference errors come in one report; then nothing is kept.
    ``shop_id`` is the offline shop a ``sales`` file is for (and only that kind takes one).
    """
    options: dict[str, int] = {}
    if kind == "sales":
        if shop_id is None:
            raise UserError(t("import.sales.shop_needed"))
        from bangfu.importing.sales import sales_shop

        async with sessions() as session:
            await sales_shop(session, shop_id)  # a wrong shop is said before the file is read
        options["shop_id"] = shop_id
    elif shop_id is not None:
        raise UserError(t("import.shop_only_for_sales"))
    parsed = parse_rows(kind, path, limits)
    if not parsed.rows:
        raise ImportRejected(str(path), parsed.errors)
    try:
        async with sessions() as session, session.begin():
            result: LoadResult = await LOADERS[kind](session, parsed.rows, partial=bool(parsed.errors), **options)
            errors = parsed.errors + [
                FileError(str(path), e.row, parsed.columns.get(e.field, e.field), e.reason) for e in result.errors
            ]
            if errors:  # raising inside begin() rolls the transaction back
                raise ImportRejected(str(path), errors)
    except DBAPIError as exc:
        # The last guard: every row was checked against its columns, so this should not happen;
        # if it does, say what the database said, never the statement or its parameters.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else exc.__class__.__name__
        raise UserError(f"{path}: " + t("import.database_refused", error=reason)) from None
    return result


__all__ = ["KINDS", "FileError", "ImportRejected", "LoadResult", "ParsedFile", "RowError", "import_file", "parse_rows"]
