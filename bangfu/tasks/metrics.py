"""The hub figures a task may be bound to: one registry, one function per kind.

A metric kind is an async function ``(conn, params, as_of) -> value | None``: the figure as of
the local date ``as_of`` (from 1 January of that year), a whole number in the kind's unit
(:mod:`bangfu.tasks.units`), or None when there is no figure (a unit without a target has no
rate). Each reads the figure through the query function the hub's own page uses, so a task and
that page can never disagree:

| kind                 | unit       | the figure of                                        | parameter   |
|----------------------|------------|------------------------------------------------------|-------------|
| ``unit_reserved_rate``| percent   | the unit's page and ``reserved-share`` (rate)        | unit code   |
| ``cooperative_sales``| fen        | the cooperative's dashboard (sales, 销售额)           | credit code |
| ``region_households``| households | the county overview (带动户数, distinct, income > 0)  | region code |
| ``region_households_all``| households | the overview's combined 带动 row (each family once) | region code |
| ``agreement_execution``| fen      | the agreement's page (executed, net of refunds)      | agreement number |

``params`` hold the *code* of what the task is bound to (``{"unit": "U001"}``), resolved when
the figure is read, so a ledger survives a database rebuild; :func:`resolve` turns what a file
or a form names (a code or a name) into those params, or a :class:`MetricError` saying what is
wrong. ``historical``: the kind can be read as of a past date (the reserved-share rate cannot:
the report is by whole year, so it is recorded as of the day it is read).

To add a kind: one function decorated with :func:`metric` (and, for a new kind of parameter,
one :class:`Param` in :data:`PARAMS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import Cooperative, PurchasingUnit, Region, Supplier
from bangfu.reports.base import Period, local_midnight

MESSAGES.update(
    {
        "tasks.metric.unit_reserved_rate": {"zh": "采购单位预留份额完成率", "en": "Unit's reserved-share rate"},
        "tasks.metric.cooperative_sales": {"zh": "合作社销售额", "en": "Cooperative's sales"},
        "tasks.metric.region_households": {"zh": "区域带动户数", "en": "Households driven in the region"},
        "tasks.metric.region_households_all": {
            "zh": "区域带动户数（含企业带动，不重复）",
            "en": "Households driven in the region, enterprises' included (distinct)",
        },
        "tasks.metric.agreement_execution": {"zh": "采购协议执行金额", "en": "Agreement's executed amount"},
        "tasks.param.agreement": {"zh": "采购协议", "en": "procurement agreement"},
        "tasks.param.unit": {"zh": "采购单位", "en": "purchasing unit"},
        "tasks.param.cooperative": {"zh": "合作社", "en": "cooperative"},
        "tasks.param.region": {"zh": "区域", "en": "region"},
    }
)

MetricFn = Callable[[AsyncConnection, Mapping[str, Any], date], Awaitable[int | None]]


class MetricError(UserError):
    """A binding that cannot be read: an unknown kind, or a parameter naming nothing."""


@dataclass(frozen=True)
class Param:
    """What a metric's parameter names: found by code (or by exact name), shown by name."""

    name: str
    find: Callable[[AsyncConnection, str], Awaitable[tuple[int, str, str] | None]]  # -> (id, code, label)


@dataclass(frozen=True)
class MetricKind:
    code: str
    unit: str
    param: str
    historical: bool
    read: MetricFn

    @property
    def label(self) -> str:
        return t(f"tasks.metric.{self.code}")


async def _find_unit(conn: AsyncConnection, text: str) -> tuple[int, str, str] | None:
    row = (
        await conn.execute(
            select(PurchasingUnit.id, PurchasingUnit.code, PurchasingUnit.name)
            .where(or_(PurchasingUnit.code == text, PurchasingUnit.name == text))
            .order_by(PurchasingUnit.code != text, PurchasingUnit.id)
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


async def _find_cooperative(conn: AsyncConnection, text: str) -> tuple[int, str, str] | None:
    row = (
        await conn.execute(
            select(Cooperative.id, Supplier.credit_code, Supplier.name)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(or_(Supplier.credit_code == text.upper(), Supplier.name == text))
            .order_by(Supplier.credit_code != text.upper(), Cooperative.id)
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


async def _find_region(conn: AsyncConnection, text: str) -> tuple[int, str, str] | None:
    row = (
        await conn.execute(
            select(Region.id, Region.code, Region.name)
            .where(or_(Region.code == text, Region.name == text))
            .order_by(Region.code != text, Region.id)
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


async def _find_agreement(conn: AsyncConnection, text: str) -> tuple[int, str, str] | None:
    from bangfu.models import Agreement

    row = (
        await conn.execute(
            select(Agreement.id, Agreement.number, Agreement.title)
            .where(or_(Agreement.number == text, Agreement.title == text))
            .order_by(Agreement.number != text, Agreement.id)
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2] or row[1]))


PARAMS: dict[str, Param] = {
    "unit": Param("unit", _find_unit),
    "cooperative": Param("cooperative", _find_cooperative),
    "region": Param("region", _find_region),
    "agreement": Param("agreement", _find_agreement),
}
METRICS: dict[str, MetricKind] = {}


def metric(code: str, *, unit: str, param: str, historical: bool = True) -> Callable[[MetricFn], MetricFn]:
    """Register ``fn`` as the metric kind ``code`` (its label is ``tasks.metric.<code>``)."""

    def register(fn: MetricFn) -> MetricFn:
        assert param in PARAMS, f"unknown parameter kind {param}"
        METRICS[code] = MetricKind(code, unit, param, historical, fn)
        return fn

    return register


def year_to(as_of: date) -> Period:
    """1 January of ``as_of``'s year to ``as_of``, inclusive (whole local days)."""
    start = date(as_of.year, 1, 1)
    return Period(local_midnight(start), local_midnight(as_of + timedelta(days=1)), f"{start}~{as_of}")


async def _id(conn: AsyncConnection, kind: MetricKind, params: Mapping[str, Any]) -> int:
    code = str(params.get(kind.param) or "")
    found = await PARAMS[kind.param].find(conn, code) if code else None
    if found is None:
        raise MetricError(t("tasks.metric_missing", kind=kind.code, param=t(f"tasks.param.{kind.param}"), code=code))
    return found[0]


# -- the kinds ----------------------------------------------------------------------------------


@metric("unit_reserved_rate", unit="percent", param="unit", historical=False)
async def unit_reserved_rate(conn: AsyncConnection, params: Mapping[str, Any], as_of: date) -> int | None:
    """The unit's reserved-share rate for ``as_of``'s year (the units page's, in 0.01%)."""
    from bangfu.queries.units import units_overview
    from bangfu.scope import Scope

    unit_id = await _id(conn, METRICS["unit_reserved_rate"], params)
    row = next((r for r in await units_overview(conn, Scope.admin(), as_of.year) if r.id == unit_id), None)
    if row is None or row.rate is None:
        return None
    return int(row.rate * 10_000)


@metric("cooperative_sales", unit="fen", param="cooperative")
async def cooperative_sales(conn: AsyncConnection, params: Mapping[str, Any], as_of: date) -> int | None:
    """The cooperative's sales from 1 January to ``as_of`` (its dashboard's 销售额, fen)."""
    from bangfu.queries.cooperatives import list_cooperatives
    from bangfu.scope import Scope

    coop_id = await _id(conn, METRICS["cooperative_sales"], params)
    rows = await list_cooperatives(conn, Scope(UserRole.COOPERATIVE, cooperative_id=coop_id), year_to(as_of))
    return rows[0].figures.sales if rows else None


@metric("region_households", unit="households", param="region")
async def region_households(conn: AsyncConnection, params: Mapping[str, Any], as_of: date) -> int | None:
    """Households driven in the region and below from 1 January to ``as_of`` (the county
    overview's 带动户数: distinct member households with net income > 0)."""
    from bangfu.queries.county import visible_cooperatives
    from bangfu.reports.households import driven, income_by_household, net_by_household
    from bangfu.scope import Scope, region_and_below

    region_id = await _id(conn, METRICS["region_households"], params)
    scope = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region_id))
    coop_ids = await visible_cooperatives(conn, scope)
    income = await income_by_household(conn, year_to(as_of), cooperative_ids=coop_ids)
    return driven(net_by_household(income)).households


@metric("region_households_all", unit="households", param="region")
async def region_households_all(conn: AsyncConnection, params: Mapping[str, Any], as_of: date) -> int | None:
    """Families driven in the region and below from 1 January to ``as_of`` on either line, each
    once: the county overview's combined 带动 row (members with net income > 0 and households an
    enterprise drove, :mod:`bangfu.queries.drives`)."""
    from bangfu.queries import county as qc
    from bangfu.scope import Scope, region_and_below

    region_id = await _id(conn, METRICS["region_households_all"], params)
    scope = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region_id))
    overview = await qc.overview(conn, scope, year_to(as_of))
    return overview.lines.combined if overview.lines is not None else overview.total.households


@metric("agreement_execution", unit="fen", param="agreement")
async def agreement_execution(conn: AsyncConnection, params: Mapping[str, Any], as_of: date) -> int | None:
    """What the agreement's page shows as executed as of ``as_of`` (the unit's orders of the
    agreement's supplier and products in its period, net of refunds, fen)."""
    from bangfu.queries.agreements import agreement_progress
    from bangfu.scope import Scope

    agreement_id = await _id(conn, METRICS["agreement_execution"], params)
    progress = await agreement_progress(conn, Scope.admin(), agreement_id, as_of)
    return None if progress is None else progress.executed_fen


# -- binding and reading ------------------------------------------------------------------------

MESSAGES.update(
    {
        "tasks.metric_unknown": {
            "zh": "未知的指标类型 {kind!r}，可选：{choices}",
            "en": "unknown metric kind {kind!r}; choose one of {choices}",
        },
        "tasks.metric_missing": {
            "zh": "指标 {kind} 的{param} {code!r} 不存在",
            "en": "metric {kind}: no {param} {code!r}",
        },
        "tasks.metric_param_needed": {
            "zh": "指标 {kind} 需要指定{param}（代码或名称）",
            "en": "metric {kind} needs a {param} (its code or name)",
        },
        "tasks.metric_unit": {
            "zh": "指标 {kind} 的单位是 {metric_unit}，与任务单位 {unit} 不符",
            "en": "metric {kind} counts in {metric_unit}, not the task's {unit}",
        },
    }
)


def kind_of(text: str) -> MetricKind:
    """The metric kind a file or form names, by code or by its Chinese or English label."""
    key = text.strip()
    if key in METRICS:
        return METRICS[key]
    for kind in METRICS.values():
        if key in (MESSAGES[f"tasks.metric.{kind.code}"]["zh"], MESSAGES[f"tasks.metric.{kind.code}"]["en"]):
            return kind
    raise MetricError(t("tasks.metric_unknown", kind=text, choices=", ".join(METRICS)))


async def resolve(conn: AsyncConnection, kind_text: str, param_text: str) -> tuple[MetricKind, dict[str, str]]:
    """What a binding names (kind by code or label, parameter by code or name) as stored params."""
    kind = kind_of(kind_text)
    param = PARAMS[kind.param]
    if not param_text.strip():
        raise MetricError(t("tasks.metric_param_needed", kind=kind.code, param=t(f"tasks.param.{kind.param}")))
    found = await param.find(conn, param_text.strip())
    if found is None:
        raise MetricError(
            t("tasks.metric_missing", kind=kind.code, param=t(f"tasks.param.{kind.param}"), code=param_text.strip())
        )
    return kind, {kind.param: found[1]}


async def describe(conn: AsyncConnection, kind_code: str, params: Mapping[str, Any]) -> str:
    """The binding as a page shows it: ``合作社销售额 · 某某合作社``."""
    kind = METRICS.get(kind_code)
    if kind is None:
        return kind_code
    code = str(params.get(kind.param) or "")
    found = await PARAMS[kind.param].find(conn, code) if code else None
    return f"{kind.label} · {found[2] if found else code}"


async def read(conn: AsyncConnection, kind_code: str, params: Mapping[str, Any], as_of: date) -> int | None:
    """The bound figure as of ``as_of`` (a :class:`MetricError` for a binding that names nothing)."""
    kind = METRICS.get(kind_code)
    if kind is None:
        raise MetricError(t("tasks.metric_unknown", kind=kind_code, choices=", ".join(METRICS)))
    return await kind.read(conn, params, as_of)
