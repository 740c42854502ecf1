"""The department task ledger's pages: the quarterly ledger by department, the overdue and
at-risk lists, one task with its progress history, and the county overview's card.

Admin sees every county's ledger, a county user its region's (and the regions below it); no
other role sees any (:func:`sees_tasks`). Where a task stands is :mod:`bangfu.tasks.status`'s
rule, on the day given (the hub's clock in the views).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, false, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.models import LedgerTask, Region, TaskProgress
from bangfu.scope import Scope
from bangfu.tasks import metrics
from bangfu.tasks.progress import entries_of
from bangfu.tasks.status import STATUSES, elapsed_share, latest, quarter_values, share, status


def sees_tasks(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.COUNTY)


def visible(scope: Scope) -> ColumnElement[bool]:
    """Tasks of the county's region (and below); every task for the admin."""
    if scope.role == UserRole.ADMIN:
        return true()
    if scope.role == UserRole.COUNTY:
        return LedgerTask.region_id.in_(sorted(scope.region_ids))
    return false()


@dataclass(frozen=True)
class TaskRow:
    id: int
    code: str
    region: str
    department: str
    owner: str
    title: str
    deadline: date
    year: int
    target: int
    unit: str
    metric_kind: str | None
    metric_params: dict[str, Any] | None
    note: str | None
    value: int | None  # the latest progress
    as_of: date | None
    quarters: list[int | None]
    status: str
    share: Decimal
    elapsed: Decimal

    @property
    def bound(self) -> bool:
        return self.metric_kind is not None


@dataclass
class Ledger:
    year: int
    today: date
    rows: list[TaskRow]
    years: list[int]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def departments(self) -> list[tuple[str, list[TaskRow]]]:
        out: dict[str, list[TaskRow]] = {}
        for row in self.rows:
            out.setdefault(row.department, []).append(row)
        return list(out.items())

    def with_status(self, wanted: str) -> list[TaskRow]:
        return [r for r in self.rows if r.status == wanted]


async def _rows(conn: AsyncConnection, where: list[ColumnElement[bool]], today: date) -> list[TaskRow]:
    tasks = (
        await conn.execute(
            select(LedgerTask, Region.name.label("region"))
            .join(Region, Region.id == LedgerTask.region_id)
            .where(*where)
            .order_by(LedgerTask.region_id, LedgerTask.position, LedgerTask.code)
        )
    ).all()
    entries = await entries_of(conn, [int(r.id) for r in tasks])
    rows = []
    for task in tasks:
        mine = entries[int(task.id)]
        last = latest(mine)
        value = None if last is None else last.value
        rows.append(
            TaskRow(
                id=int(task.id),
                code=task.code,
                region=str(task.region),
                department=task.department,
                owner=task.owner,
                title=task.title,
                deadline=task.deadline,
                year=task.year,
                target=int(task.target),
                unit=task.unit,
                metric_kind=task.metric_kind,
                metric_params=task.metric_params,
                note=task.note,
                value=value,
                as_of=None if last is None else last.as_of,
                quarters=quarter_values(mine, task.year, today),
                status=status(value, int(task.target), task.year, task.deadline, today),
                share=share(value, int(task.target)),
                elapsed=elapsed_share(task.year, task.deadline, today),
            )
        )
    return rows


async def ledger(conn: AsyncConnection, scope: Scope, year: int, today: date) -> Ledger:
    """The year's tasks in scope, in ledger order (department by department, as imported)."""
    rows = await _rows(conn, [visible(scope), LedgerTask.year == year], today)
    years = sorted(
        {int(y) for y in await conn.scalars(select(LedgerTask.year).where(visible(scope)).distinct())} | {year}
    )
    # departments in the order they first appear
    first: dict[str, int] = {}
    for index, row in enumerate(rows):
        first.setdefault(row.department, index)
    rows.sort(key=lambda r: first[r.department])
    return Ledger(year, today, rows, years, Counter(r.status for r in rows))


@dataclass(frozen=True)
class ProgressEntry:
    id: int
    as_of: date
    value: int
    note: str | None
    evidence: str | None
    who: str
    recorded_at: datetime


@dataclass
class TaskDetail:
    row: TaskRow
    entries: list[ProgressEntry]  # oldest first
    binding: str | None  # the bound figure, as the page names it
    live: int | None  # the bound figure read now
    live_error: str | None  # why it cannot be read (a binding naming nothing any more)


async def task_detail(conn: AsyncConnection, scope: Scope, task_id: int, today: date) -> TaskDetail | None:
    """One task with its history; None when it does not exist or is outside the scope."""
    rows = await _rows(conn, [visible(scope), LedgerTask.id == task_id], today)
    if not rows:
        return None
    row = rows[0]
    entries = [
        ProgressEntry(int(e.id), e.as_of, int(e.value), e.note, e.evidence, e.who, e.recorded_at)
        for e in await conn.execute(
            select(TaskProgress).where(TaskProgress.task_id == task_id).order_by(TaskProgress.as_of, TaskProgress.id)
        )
    ]
    binding = live = live_error = None
    if row.metric_kind:
        params = row.metric_params or {}
        binding = await metrics.describe(conn, row.metric_kind, params)
        try:
            live = await metrics.read(conn, row.metric_kind, params, min(today, date(row.year, 12, 31)))
        except metrics.MetricError as exc:
            live_error = str(exc)
    return TaskDetail(row, entries, binding, live, live_error)


async def task_of(conn: AsyncConnection, scope: Scope, task_id: int) -> Row[Any] | None:
    """The task's row (for a report by hand), when in scope."""
    return (await conn.execute(select(LedgerTask).where(visible(scope), LedgerTask.id == task_id))).first()


@dataclass(frozen=True)
class Card:
    """The county overview's card: the year's tasks by status."""

    year: int
    total: int
    counts: dict[str, int]


async def county_card(conn: AsyncConnection, scope: Scope, year: int, today: date) -> Card:
    book = await ledger(conn, scope, year, today)
    return Card(year, len(book.rows), {s: book.counts.get(s, 0) for s in STATUSES})


def row_json(row: TaskRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "department": row.department,
        "owner": row.owner,
        "title": row.title,
        "deadline": row.deadline.isoformat(),
        "year": row.year,
        "target": row.target,
        "unit": row.unit,
        "metric_kind": row.metric_kind,
        "value": row.value,
        "as_of": None if row.as_of is None else row.as_of.isoformat(),
        "quarters": row.quarters,
        "status": row.status,
    }
