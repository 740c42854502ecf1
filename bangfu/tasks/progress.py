"""Appending progress to a task: a report by hand (with evidence), and the bound tasks' refresh.

Progress is append-only: a report never edits or removes an earlier one; a correction is a new
report. The refresh (:func:`refresh_bound`, run by the ``bangfu.refresh_task_metrics`` beat task
and ``bangfu tasks refresh``) reads every bound task's figure as of today (the task's year's last
day for a past year) and appends an entry, ``who = "metric"``, only when the figure differs from
the task's latest entry, so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI, utcnow
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import LedgerTask, TaskProgress
from bangfu.tasks import metrics
from bangfu.tasks.status import Entry, latest
from bangfu.tasks.units import ValueFormatError, parse_value

MESSAGES.update(
    {
        "tasks.err.value": {"zh": "请填写进展数值", "en": "Enter the progress value"},
        "tasks.err.as_of": {"zh": "日期应为 YYYY-MM-DD", "en": "The date is YYYY-MM-DD"},
        "tasks.err.as_of_future": {"zh": "日期不能晚于今天", "en": "The date cannot be after today"},
        "tasks.err.as_of_year": {
            "zh": "日期应在任务年度 {year} 内",
            "en": "The date must be in the task's year {year}",
        },
        "tasks.err.evidence": {
            "zh": "请填写佐证材料（说明、链接或文件名）",
            "en": "Give the evidence (a description, a link or a file name)",
        },
        "tasks.err.bound": {
            "zh": "该任务已绑定中台指标，进展自动更新，不能手工填报",
            "en": "This task is bound to a hub figure: its progress updates itself",
        },
        "tasks.err.too_long": {"zh": "内容过长（最多 {n} 字）", "en": "Too long (at most {n} characters)"},
    }
)

NOTE_MAX = 2000
EVIDENCE_MAX = 2000


class ProgressError(UserError):
    """A hand report that cannot be taken; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def today() -> date:
    """Today in the programmes' time zone, by the hub's clock."""
    return utcnow().astimezone(SHANGHAI).date()


def check_report(task: Any, form: dict[str, str], now: date) -> tuple[date, int, str | None, str]:
    """A hand report's date, value, note and evidence, or :class:`ProgressError` naming each field."""
    errors: dict[str, str] = {}
    if task.metric_kind:
        raise ProgressError({"value": t("tasks.err.bound")})
    as_of: date | None = None
    try:
        as_of = date.fromisoformat(form.get("as_of", "").strip() or now.isoformat())
    except ValueError:
        errors["as_of"] = t("tasks.err.as_of")
    if as_of is not None and as_of > now:
        errors["as_of"] = t("tasks.err.as_of_future")
    elif as_of is not None and as_of.year != task.year:
        errors["as_of"] = t("tasks.err.as_of_year", year=task.year)
    value = 0
    raw = form.get("value", "").strip()
    if not raw:
        errors["value"] = t("tasks.err.value")
    else:
        try:
            value = parse_value(task.unit, raw)
        except ValueFormatError as exc:
            errors["value"] = str(exc)
    note = form.get("note", "").strip() or None
    evidence = form.get("evidence", "").strip()
    if not evidence:
        errors["evidence"] = t("tasks.err.evidence")
    elif len(evidence) > EVIDENCE_MAX:
        errors["evidence"] = t("tasks.err.too_long", n=EVIDENCE_MAX)
    if note is not None and len(note) > NOTE_MAX:
        errors["note"] = t("tasks.err.too_long", n=NOTE_MAX)
    if errors:
        raise ProgressError(errors)
    assert as_of is not None
    return as_of, value, note, evidence


async def report_progress(
    conn: AsyncConnection, task: Any, form: dict[str, str], *, who: str, user_id: int | None
) -> int:
    """Append a hand report (checked by :func:`check_report`); returns the entry's id."""
    as_of, value, note, evidence = check_report(task, form, today())
    inserted = await conn.execute(
        insert(TaskProgress)
        .values(
            task_id=task.id,
            as_of=as_of,
            value=value,
            note=note,
            evidence=evidence,
            who=who[:64],
            recorded_by=user_id,
            recorded_at=utcnow(),
        )
        .returning(TaskProgress.id)
    )
    return int(inserted.scalar_one())


async def entries_of(conn: AsyncConnection, task_ids: list[int]) -> dict[int, list[Entry]]:
    out: dict[int, list[Entry]] = {tid: [] for tid in task_ids}
    for task_id, as_of, value, eid in await conn.execute(
        select(TaskProgress.task_id, TaskProgress.as_of, TaskProgress.value, TaskProgress.id).where(
            TaskProgress.task_id.in_(task_ids)
        )
    ):
        out[int(task_id)].append(Entry(as_of, int(value), int(eid)))
    return out


@dataclass(frozen=True)
class RefreshResult:
    checked: int
    appended: int
    failed: list[tuple[str, str]]  # (task code, why): a binding that names nothing any more


async def refresh_bound(conn: AsyncConnection, *, on: date | None = None, now: datetime | None = None) -> RefreshResult:
    """Append the figure of every bound task of this year and before whose value changed."""
    day = on or today()
    tasks = (
        await conn.execute(
            select(LedgerTask.id, LedgerTask.code, LedgerTask.year, LedgerTask.metric_kind, LedgerTask.metric_params)
            .where(LedgerTask.metric_kind.is_not(None), LedgerTask.year <= day.year)
            .order_by(LedgerTask.id)
        )
    ).all()
    entries = await entries_of(conn, [int(r.id) for r in tasks])
    appended = 0
    failed: list[tuple[str, str]] = []
    for task in tasks:
        as_of = min(day, date(task.year, 12, 31))
        last = latest(entries[int(task.id)])
        if last is not None and last.as_of >= as_of and task.year < day.year:
            continue  # a past year's figure was recorded at its end: it is final
        try:
            value = await metrics.read(conn, str(task.metric_kind), task.metric_params or {}, as_of)
        except metrics.MetricError as exc:
            failed.append((str(task.code), str(exc)))
            continue
        if value is None or (last is not None and last.value == value):
            continue
        await conn.execute(
            insert(TaskProgress).values(
                task_id=task.id, as_of=as_of, value=value, who="metric", recorded_at=now or utcnow()
            )
        )
        appended += 1
    return RefreshResult(len(tasks), appended, failed)
