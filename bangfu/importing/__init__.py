"""Data in by hand: ``bangfu import KIND FILE`` for cooperatives, households, products, lots, units.

A file is validated row by row (pydantic) and reference by reference; if any row is wrong the
whole file is rejected with ``file:row:field: reason`` lines and nothing is written. A good file
is upserted idempotently in one transaction: importing it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.errors import UserError
from bangfu.importing.loaders import LOADERS, LoadResult, RowError
from bangfu.importing.reader import read_table
from bangfu.importing.rows import ROW_MODELS, ImportRow, header_index, normalise_header

KINDS = tuple(ROW_MODELS)


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


def parse_rows(kind: str, path: Path) -> ParsedFile:
    """Validate every row of ``path`` as ``kind``; errors name the header as the file spells it."""
    if kind not in ROW_MODELS:
        raise UserError(f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    model = ROW_MODELS[kind]
    name = str(path)
    header, data = read_table(path)
    index = header_index(model)
    errors: list[FileError] = []
    column_of: dict[str, str] = {}
    for column in header:
        field_name = index.get(normalise_header(column))
        if field_name is None:
            if column:
                errors.append(FileError(name, 1, column, f"unknown column for {kind}"))
            continue
        if field_name in column_of:
            errors.append(FileError(name, 1, column, f"same column as {column_of[field_name]!r}"))
        column_of[field_name] = column
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    chinese = any(not column.isascii() for column in header)
    for field_name in required:
        if field_name not in column_of:
            headers = model.HEADERS[field_name]
            shown = headers[1] if chinese else headers[0]
            others = " / ".join(h for h in headers if h != shown)
            errors.append(FileError(name, 1, shown, f"missing column (also accepted: {others})"))
    if errors:
        return ParsedFile([], errors, column_of)

    rows: list[tuple[int, ImportRow]] = []
    seen_keys: dict[tuple[object, ...], int] = {}
    for number, raw in data:
        values = {field_name: raw[column] for field_name, column in column_of.items()}
        values = {k: v for k, v in values.items() if v != "" or k in required}
        try:
            row = model.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors():
                loc = problem["loc"]
                field_name = str(loc[0]) if loc else _field_from_message(problem["msg"], model)
                column = column_of.get(field_name, field_name)
                message = problem["msg"].removeprefix("Value error, ")
                message = message.removeprefix(f"{field_name}: ")
                errors.append(FileError(name, number, column, message))
            continue
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


async def import_file(sessions: async_sessionmaker[AsyncSession], kind: str, path: Path) -> LoadResult:
    """Validate and load one file in one transaction; raise :class:`ImportRejected` on any error."""
    parsed = parse_rows(kind, path)
    if parsed.errors:
        raise ImportRejected(str(path), parsed.errors)
    async with sessions() as session, session.begin():
        result: LoadResult = await LOADERS[kind](session, parsed.rows)
        if result.errors:  # raising inside begin() rolls the transaction back
            raise ImportRejected(
                str(path),
                [FileError(str(path), e.row, parsed.columns.get(e.field, e.field), e.reason) for e in result.errors],
            )
    return result


__all__ = ["KINDS", "FileError", "ImportRejected", "LoadResult", "ParsedFile", "RowError", "import_file", "parse_rows"]
