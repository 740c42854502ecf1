"""What every report shares: the :class:`Report` value, periods in Asia/Shanghai, SQL helpers.

A report is plain data: a title, typed columns (key, localized header, kind), rows of plain
values (money in integer fen, ratios as :class:`~decimal.Decimal`) and optional totals. The
writers (:mod:`bangfu.reports.writers`) turn money into yuan only at the edge.

Periods are calendar months in the programme's time zone (Asia/Shanghai, fixed UTC+8 since
1991), turned into half-open UTC ranges ``[start, end)`` for SQL. In SQL, a row's local month
or day is computed with :func:`local_day` (PostgreSQL ``AT TIME ZONE``, SQLite ``+8 hours``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, cast, func, literal_column
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI as SHANGHAI  # re-exported: the reports' local time
from bangfu.errors import UserError
from bangfu.i18n import t

ColumnKind = Literal["text", "int", "money", "ratio", "decimal"]


@dataclass(frozen=True)
class Column:
    """``money``: integer fen; ``ratio``: a Decimal fraction shown as a percentage; ``decimal``: a Decimal."""

    key: str
    header: str
    kind: ColumnKind = "text"


@dataclass
class Report:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    summary: list[str] = field(default_factory=list)  # lines printed under the table

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]


def column(key: str, kind: ColumnKind = "text", header_key: str | None = None) -> Column:
    """A column whose header is the i18n message ``report.col.<key>``."""
    return Column(key, t(header_key or f"report.col.{key}"), kind)


@dataclass(frozen=True)
class Period:
    """A half-open UTC range of whole local days; ``label`` names it (``2026-10``, ``2026``...)."""

    start: datetime
    end: datetime
    label: str

    @property
    def first_day(self) -> date:
        return self.start.astimezone(SHANGHAI).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()

    def months(self) -> list[str]:
        """Every local month (``YYYY-MM``) the period touches, in order."""
        out: list[str] = []
        year, month = self.first_day.year, self.first_day.month
        last = self.last_day
        while (year, month) <= (last.year, last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    @property
    def year(self) -> int:
        return self.first_day.year


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"\d{4}")


def month_period(text: str) -> Period:
    """``2026-10`` -> that Asia/Shanghai month as a UTC range; anything else is a UserError."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UserError(t("report.bad_period", value=text))
    year, month = int(match.group(1)), int(match.group(2))
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(local_midnight(date(year, month, 1)), local_midnight(nxt), f"{year:04d}-{month:02d}")


def parse_period(period: str | None, start: str | None = None, end: str | None = None, *, now: datetime) -> Period:
    """``--period 2026-10`` or ``--period 2026`` (a year), or ``--from``/``--to`` local dates (inclusive).

    Without any of them: the current local month.
    """
    if period is not None and (start or end):
        raise UserError(t("report.period_conflict"))
    if period is not None:
        text = period.strip()
        if _YEAR.fullmatch(text):
            year = int(text)
            return Period(local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1)), text)
        return month_period(text)
    if start or end:
        try:
            first = date.fromisoformat(start) if start else None
            last = date.fromisoformat(end) if end else None
        except ValueError as exc:
            raise UserError(t("report.bad_date", value=f"{start} / {end}")) from exc
        local_now = now.astimezone(SHANGHAI).date()
        first = first or date(local_now.year, 1, 1)
        last = last or local_now
        if last < first:
            raise UserError(t("report.bad_range", start=first, end=last))
        return Period(local_midnight(first), local_midnight(last + timedelta(days=1)), f"{first}~{last}")
    local = now.astimezone(SHANGHAI)
    return month_period(f"{local.year:04d}-{local.month:02d}")


def local_day(conn: AsyncConnection, col: Any) -> ColumnElement[str]:
    """SQL: the Asia/Shanghai calendar day (``YYYY-MM-DD``) of a UTC timestamp column."""
    if conn.dialect.name == "postgresql":
        return func.to_char(col.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), "YYYY-MM-DD")
    return cast(func.strftime("%Y-%m-%d", col, "+8 hours"), String)


def whole_days(period: Period) -> tuple[date, date] | None:
    """The local days ``period`` covers (first, last), when it is whole local days, as the
    console's and the reports' periods are; None otherwise. The day-grained pre-aggregates of
    the ledger (``household_daily_income``, ``cooperative_line_facts``) answer only such periods."""
    for bound in (period.start, period.end):
        local = bound.astimezone(SHANGHAI)
        if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
            return None
    return period.first_day, period.last_day


def day_month(conn: AsyncConnection, col: Any) -> ColumnElement[str]:
    """SQL: the month (``YYYY-MM``) of a date column."""
    if conn.dialect.name == "postgresql":
        return func.to_char(col, "YYYY-MM")
    return cast(func.strftime("%Y-%m", col), String)


def local_month(conn: AsyncConnection, col: Any) -> ColumnElement[str]:
    """SQL: the Asia/Shanghai month (``YYYY-MM``) of a UTC timestamp column."""
    if conn.dialect.name == "postgresql":
        return func.to_char(col.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), "YYYY-MM")
    return cast(func.strftime("%Y-%m", col, "+8 hours"), String)


def ratio(part: int, whole: int, places: int = 4) -> Decimal | None:
    """``part / whole`` as a Decimal rounded half up to ``places`` decimals; None when ``whole`` is 0."""
    if not whole:
        return None
    quantum = Decimal(1).scaleb(-places)
    return (Decimal(part) / Decimal(whole)).quantize(quantum, rounding=ROUND_HALF_UP)


def div_round(numerator: int, denominator: int) -> int | None:
    """Integer division rounded half up (away from zero for halves); None when dividing by 0."""
    if not denominator:
        return None
    q, r = divmod(abs(numerator), abs(denominator))
    if 2 * r >= abs(denominator):
        q += 1
    return q if (numerator >= 0) == (denominator > 0) else -q


def parse_line_event(source_event: str) -> int | None:
    """The order-line id of a line journal's source event (``order-line:<shop>:<line>:v<n>:...``)."""
    parts = source_event.split(":")
    if len(parts) < 4 or parts[0] != "order-line":
        return None
    try:
        return int(parts[2])
    except ValueError:
        return None


def totals_of(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, int]:
    return {key: sum(int(row.get(key) or 0) for row in rows) for key in keys}
