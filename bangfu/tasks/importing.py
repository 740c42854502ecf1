"""``bangfu tasks import FILE``: a county's existing task list (CSV or XLSX), all or nothing.

Headers are Chinese as a real 台账 spells them or English (:class:`TaskRow`); every problem of
the file comes in one report, ``file:row:field: reason``, and nothing is written unless the
whole file is good (:mod:`bangfu.importing`'s rules). The key is the task code: importing the
file again changes nothing, a changed row updates its task (its progress history is kept).

A binding to a hub figure is two columns: the metric kind (its code or label, see
:mod:`bangfu.tasks.metrics`) and what it is of, by code or name (a unit's code, a
cooperative's credit code or name, a region's code or name); the kind's unit must be the task's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import utcnow
from bangfu.importing import FileError, ImportRejected, parse_rows
from bangfu.importing.rows import ImportRow, Opt, OptLongText, RegionCode, Text64, Text128, Whole
from bangfu.models import LedgerTask, Region
from bangfu.tasks import metrics
from bangfu.tasks.units import ValueFormatError, parse_unit, parse_value

_CN_DATE = re.compile(r"([0-9]{4})\s*[年./-]\s*([0-9]{1,2})\s*[月./-]\s*([0-9]{1,2})\s*日?")


def _date(value: Any) -> Any:
    """ISO dates, and 2026年6月30日 / 2026.6.30 / 2026/6/30 as people type them."""
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    match = _CN_DATE.fullmatch(text)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date: {exc}") from None
    return text


class TaskRow(ImportRow):
    HEADERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "code": ("code", "任务编号", "编号"),
        "region": ("region", "region_code", "县区代码", "区县代码", "地区代码"),
        "year": ("year", "年度"),
        "department": ("department", "责任部门", "牵头部门", "牵头单位", "责任单位"),
        "owner": ("owner", "责任人", "责任领导"),
        "title": ("title", "measure", "工作任务", "重点工作事项", "具体举措", "工作任务(举措)"),
        "deadline": ("deadline", "完成时限", "完成时间"),
        "target": ("target", "目标", "目标值"),
        "unit": ("unit", "单位", "计量单位"),
        "metric": ("metric", "绑定指标", "指标类型"),
        "metric_param": ("metric_param", "指标对象", "绑定对象", "指标参数"),
        "note": ("note", "备注"),
    }
    KEY: ClassVar[tuple[str, ...]] = ("code",)

    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z._-]+$")]
    region: RegionCode
    year: Annotated[int, Whole, Field(ge=2015, le=2100)]
    department: Text64
    owner: Text128
    title: Annotated[str, Field(min_length=1, max_length=2000)]
    deadline: Annotated[date, BeforeValidator(_date)]
    target: Annotated[str, Field(min_length=1, max_length=32)]
    unit: Annotated[str, Field(min_length=1, max_length=16)]
    metric: Annotated[Annotated[str, Field(max_length=64)] | None, Opt] = None
    metric_param: Annotated[Annotated[str, Field(max_length=128)] | None, Opt] = None
    note: OptLongText = None

    @model_validator(mode="after")
    def _check(self) -> TaskRow:
        try:
            unit = parse_unit(self.unit)
        except ValueFormatError as exc:
            raise ValueError(f"unit: {exc}") from None
        try:
            target = parse_value(unit, self.target)
        except ValueFormatError as exc:
            raise ValueError(f"target: {exc}") from None
        if target <= 0:
            raise ValueError("target: a target must be above 0")
        if self.deadline < date(self.year, 1, 1):
            raise ValueError(f"deadline: {self.deadline} is before the task's year {self.year}")
        if self.metric_param and not self.metric:
            raise ValueError("metric: a metric parameter needs its metric kind")
        return self

    @property
    def unit_code(self) -> str:
        return parse_unit(self.unit)

    @property
    def target_value(self) -> int:
        return parse_value(self.unit_code, self.target)


@dataclass(frozen=True)
class TaskImport:
    created: int
    updated: int
    unchanged: int


FIELDS = ("region_id", "year", "department", "owner", "title", "deadline", "target", "unit", "metric_kind")


async def import_tasks(conn: AsyncConnection, path: Path) -> TaskImport:
    """Check and load ``path`` on ``conn`` (the caller's transaction: it rolls back on a raise);
    :class:`ImportRejected` lists every problem."""
    name = str(path)
    parsed = parse_rows("tasks", path, row_model=TaskRow)
    errors = list(parsed.errors)
    column = parsed.columns

    def err(row: int, field: str, reason: str) -> None:
        errors.append(FileError(name, row, column.get(field, field), reason))

    rows = [(n, r) for n, r in parsed.rows if isinstance(r, TaskRow)]
    regions = {
        str(code): int(rid)
        for code, rid in await conn.execute(
            select(Region.code, Region.id).where(Region.code.in_({r.region for _, r in rows}))
        )
    }
    wanted: list[tuple[int, TaskRow, dict[str, Any]]] = []
    for number, row in rows:
        values: dict[str, Any] = {
            "region_id": regions.get(row.region),
            "year": row.year,
            "department": row.department,
            "owner": row.owner,
            "title": row.title,
            "deadline": row.deadline,
            "target": row.target_value,
            "unit": row.unit_code,
            "metric_kind": None,
            "metric_params": None,
            "note": row.note,
            "position": number,
        }
        if values["region_id"] is None:
            err(number, "region", f"no region with code {row.region}")
        if row.metric:
            try:
                kind = metrics.kind_of(row.metric)
            except metrics.MetricError as exc:
                err(number, "metric", str(exc))
            else:
                if kind.unit != values["unit"]:
                    err(number, "unit", f"metric {kind.code} counts in {kind.unit}, not {values['unit']}")
                try:
                    _kind, params = await metrics.resolve(conn, kind.code, row.metric_param or "")
                except metrics.MetricError as exc:
                    err(number, "metric_param", str(exc))
                else:
                    values["metric_kind"], values["metric_params"] = kind.code, params
        wanted.append((number, row, values))
    if errors:
        raise ImportRejected(name, errors)

    existing = {
        str(t.code): t
        for t in await conn.execute(select(LedgerTask).where(LedgerTask.code.in_([r.code for _, r, _ in wanted])))
    }
    created = updated = unchanged = 0
    now = utcnow()
    for _number, row, values in wanted:
        task = existing.get(row.code)
        if task is None:
            await conn.execute(insert(LedgerTask).values(code=row.code, created_at=now, updated_at=now, **values))
            created += 1
            continue
        stored = {k: getattr(task, k) for k in (*FIELDS, "metric_params", "note", "position")}
        if stored == values:
            unchanged += 1
            continue
        await conn.execute(update(LedgerTask).where(LedgerTask.id == task.id).values(updated_at=now, **values))
        updated += 1
    return TaskImport(created, updated, unchanged)
