"""The demo county's task ledger (调度台账): 22 tasks of 8 departments for this year, some bound
to the hub's live figures (units' reserved-share rates, cooperatives' sales, households driven
in the county on the members' line and on both lines, a procurement agreement's execution),
the others reported by the departments with evidence, with their progress at the past
quarters' ends; some done, some overdue, some at risk.

Deadlines and bound targets are set from today and from the figures the demo county has, so the
ledger shows every status whatever day the demo is built. Safe to run again: a county that has
tasks for the year gets no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import utcnow
from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.models import Agreement, LedgerTask, PurchasingUnit, Region, TaskProgress, UnitTarget
from bangfu.queries.agreements import visible as agreements_visible
from bangfu.scope import Scope, region_and_below
from bangfu.tasks import metrics
from bangfu.tasks.progress import refresh_bound, today
from bangfu.tasks.status import quarter_ends

__all__ = ["TaskSeed", "seed_tasks", "seed_tasks_at"]

MESSAGES.update(
    {
        "demo.tasks": {
            "zh": "调度台账：{tasks} 项任务（绑定中台指标 {bound} 项），进展记录 {entries} 条",
            "en": "Task ledger: {tasks} tasks ({bound} bound to hub figures), {entries} progress entries",
        },
    }
)

# Deadlines: "past" (a few weeks ago: overdue unless done), "soon" (a month from now: most of
# the time gone), "end" (31 December).
# (department, owner, title, unit, target, deadline, reported values as shares of the target, evidence)
HAND: tuple[tuple[str, str, str, str, int, str, tuple[float, ...], str], ...] = (
    ("县发展改革局", "副局长 王建国", "印发年度消费帮扶重点推进工作事项清单，明确任务、责任、时限清单",
     "count", 1, "past", (1.0,), "发改〔{y}〕12号 关于印发消费帮扶重点工作事项的通知.pdf"),
    ("县发展改革局", "农经股 李娜", "每季度对各部门消费帮扶工作开展情况进行调度",
     "count", 4, "end", (0.25, 0.5, 0.75), "第{q}季度调度会议纪要.docx"),
    ("县教育局", "计财股 张敏", "推动学校食堂与合作社签订长期采购协议",
     "count", 10, "soon", (0.2, 0.3, 0.4), "已签协议扫描件（{n}份）.zip"),
    ("县卫生健康局", "规财股 陈晓", "医疗卫生机构与结对帮扶村建立直供直销关系",
     "count", 8, "end", (0.25, 0.5, 1.0), "直供直销关系台账.xlsx"),
    ("县农业农村局", "市场信息股 赵强", "培育特色农副产品区域公用品牌",
     "count", 3, "past", (0.34, 0.67), "品牌认证申报材料.pdf"),
    ("县农业农村局", "产业股 周芳", "新增认定消费帮扶产品",
     "count", 60, "end", (0.2, 0.5, 0.8, 0.95), "第{q}批认定产品名单.xlsx"),
    ("县商务局", "流通股 吴磊", "建设县乡村三级物流配送站点",
     "count", 40, "end", (0.25, 0.55, 0.8), "站点验收照片及清单.zip"),
    ("县商务局", "电商办 郑丽", "产销对接签约履约率",
     "percent", 9000, "soon", (0.3, 0.45, 0.55), "产销对接签约履约统计表.xlsx"),
    ("县商务局", "电商办 郑丽", "电商直播带货销售脱贫地区农产品",
     "fen", 300_000_000, "end", (0.2, 0.45, 0.7, 0.9), "直播销售平台后台截图.png"),
    ("县乡村振兴局", "综合股 孙伟", "建立农产品滞销监测预警和应急处置机制",
     "count", 1, "past", (), ""),
    ("县乡村振兴局", "帮扶股 冯静", "开展消费帮扶进机关、进学校、进医院、进企业、进军营活动",
     "count", 20, "end", (0.2, 0.45, 0.65, 0.85), "“五进”活动简报第{q}期.pdf"),
    ("县总工会", "经审办 何平", "工会会员福利采购脱贫地区农产品",
     "fen", 80_000_000, "soon", (0.15, 0.35, 0.5), "工会福利采购发票汇总.xlsx"),
    ("县总工会", "办公室 高洁", "开展“消费帮扶月”主题活动",
     "count", 1, "end", (1.0,), "活动方案及现场照片.pdf"),
    ("县总工会", "办公室 高洁", "动员职工福利采购参与单位",
     "count", 50, "end", (0.2, 0.5, 0.76, 0.9), "参与单位名单.xlsx"),
)  # fmt: skip


@dataclass(frozen=True)
class TaskSeed:
    tasks: int
    bound: int
    entries: int


def _deadline(kind: str, now: date) -> date:
    end = date(now.year, 12, 31)
    if kind == "past":
        return max(date(now.year, 1, 1), now - timedelta(days=25))
    if kind == "soon":
        return min(end, now + timedelta(days=30))
    return end


def _report_days(now: date) -> list[date]:
    """The past quarters' ends of this year, then today."""
    return [d for d in quarter_ends(now.year) if d < now] + [now]


Binding = tuple[str, str, str, str, dict[str, str], float, str, int | None]  # ..., fixed target


async def _bindings(conn: AsyncConnection, region_id: int, region_code: str, year: int) -> list[Binding]:
    """(department, owner, title, kind, params, target multiplier, deadline, fixed target) from the
    county's figures (a fixed target, such as an agreement's, is taken as it is)."""
    from bangfu.queries.cooperatives import list_cooperatives
    from bangfu.reports.base import Period, local_midnight

    units = [
        (str(code), str(name))
        for code, name in await conn.execute(
            select(PurchasingUnit.code, PurchasingUnit.name)
            .join(UnitTarget, UnitTarget.unit_id == PurchasingUnit.id)
            .where(UnitTarget.year == year, Scope.admin().units(PurchasingUnit.id))
            .order_by(PurchasingUnit.code)
        )
    ]
    period = Period(local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1)), str(year))
    coops = sorted(
        (r for r in await list_cooperatives(conn, Scope.admin(), period) if r.figures.sales > 0),
        key=lambda r: (-r.figures.sales, r.cooperative.id),
    )
    out: list[Binding] = []
    # reserved-share rates: the whole share (100%) by the year's end, in a month, a few weeks ago
    plans = (("县卫生健康局", "规财股 陈晓", 1.0, "end"), ("县教育局", "计财股 张敏", 1.0, "soon"),
             ("县发展改革局", "副局长 王建国", 1.0, "past"))  # fmt: skip
    for (dept, owner, factor, deadline), (code, name) in zip(plans, units, strict=False):
        title = f"督促{name}完成年度预留份额采购"
        out.append((dept, owner, title, "unit_reserved_rate", {"unit": code}, factor, deadline, None))
    for (dept, owner, factor), row in zip(
        (("县农业农村局", "市场信息股 赵强", 1.05), ("县商务局", "流通股 吴磊", 1.6)), coops, strict=False
    ):
        code = await _credit_code(conn, row.cooperative.id)
        title = f"支持{row.cooperative.name}拓展销售渠道，提高销售额"
        out.append((dept, owner, title, "cooperative_sales", {"cooperative": code}, factor, "end", None))
    out.append(
        ("县乡村振兴局", "帮扶股 冯静", "带动脱贫户、监测户通过消费帮扶增收", "region_households",
         {"region": region_code}, 2.0, "end", None)
    )  # fmt: skip
    out.append(
        ("县乡村振兴局", "帮扶股 冯静", "合作社与带动企业合计带动农户（不重复计）", "region_households_all",
         {"region": region_code}, 1.5, "end", None)
    )  # fmt: skip
    # the region's longest-running agreement in force: its own target by its own end
    agreement = (
        await conn.execute(
            select(Agreement.number, Agreement.title, Agreement.target_fen)
            .where(
                agreements_visible(Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region_id))),
                Agreement.starts_on <= today(),
                Agreement.ends_on >= today(),
            )
            .order_by(Agreement.starts_on, Agreement.target_fen.desc(), Agreement.number)
            .limit(1)
        )
    ).first()
    if agreement is not None:
        title = f"推动采购协议{agreement.number}（{agreement.title or agreement.number}）按进度执行"
        out.append(
            ("县财政局", "采购办 刘洋", title, "agreement_execution", {"agreement": str(agreement.number)}, 1.0,
             "end", int(agreement.target_fen))
        )  # fmt: skip
    return out


async def _credit_code(conn: AsyncConnection, cooperative_id: int) -> str:
    from bangfu.models import Cooperative, Supplier

    return str(
        await conn.scalar(
            select(Supplier.credit_code)
            .join(Cooperative, Cooperative.supplier_id == Supplier.id)
            .where(Cooperative.id == cooperative_id)
        )
    )


def _rounded_target(unit: str, value: int) -> int:
    """A target as an office would set it: percent to whole points, money to 10,000 yuan."""
    step = {"percent": 100, "fen": 1_000_000, "households": 10, "count": 1}[unit]
    return max(step, -(-value // step) * step)


async def seed_tasks(
    conn: AsyncConnection, region_code: str, *, now: date | None = None, who: str = "county"
) -> TaskSeed:
    """The county's ledger for this year (nothing when it has one)."""
    day = now or today()
    region_id = await conn.scalar(select(Region.id).where(Region.code == region_code))
    if region_id is None:
        return TaskSeed(0, 0, 0)
    have = await conn.scalar(
        select(func.count())
        .select_from(LedgerTask)
        .where(LedgerTask.region_id == region_id, LedgerTask.year == day.year)
    )
    if have:
        return TaskSeed(int(have), 0, 0)
    stamp = utcnow()
    days = _report_days(day)
    bindings = await _bindings(conn, int(region_id), region_code, day.year)
    rows: list[dict[str, object]] = []
    for dept, owner, title, unit, target, deadline, shares, evidence in HAND:
        rows.append(
            {
                "department": dept,
                "owner": owner,
                "title": title,
                "unit": unit,
                "target": target,
                "deadline": _deadline(deadline, day),
                "shares": shares,
                "evidence": evidence,
            }
        )
    for dept, owner, title, kind_code, params, factor, deadline, fixed in bindings:
        kind = metrics.METRICS[kind_code]
        live = await kind.read(conn, params, day) or 0
        rows.append(
            {
                "department": dept,
                "owner": owner,
                "title": title,
                "unit": kind.unit,
                "target": fixed
                if fixed is not None
                else 10_000
                if kind.unit == "percent"
                else _rounded_target(kind.unit, int(live * factor)),
                "deadline": _deadline(deadline, day),
                "metric_kind": kind_code,
                "metric_params": params,
            }
        )
    order = list(dict.fromkeys(str(r["department"]) for r in rows))
    rows.sort(key=lambda r: order.index(str(r["department"])))
    entries = 0
    for position, row in enumerate(rows, start=1):
        task_id = await conn.scalar(
            insert(LedgerTask)
            .values(
                code=f"XFBF-{day.year}-{position:02d}",
                region_id=region_id,
                year=day.year,
                department=row["department"],
                owner=row["owner"],
                title=row["title"],
                deadline=row["deadline"],
                target=row["target"],
                unit=row["unit"],
                metric_kind=row.get("metric_kind"),
                metric_params=row.get("metric_params"),
                note=None,
                position=position,
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(LedgerTask.id)
        )
        if row.get("metric_kind"):
            kind = metrics.METRICS[str(row["metric_kind"])]
            if kind.historical:  # the figure at the past quarters' ends; today's comes from the refresh
                for as_of in days[:-1]:
                    value = await kind.read(conn, row["metric_params"], as_of)  # type: ignore[arg-type]
                    if value is not None:
                        await conn.execute(
                            insert(TaskProgress).values(
                                task_id=task_id, as_of=as_of, value=value, who="metric", recorded_at=stamp
                            )
                        )
                        entries += 1
            continue
        reported: tuple[float, ...] = row["shares"]  # type: ignore[assignment]
        n = min(len(reported), len(days))
        pairs = list(zip(days[len(days) - n :], reported[len(reported) - n :], strict=True))
        for as_of, part in pairs:
            q = (as_of.month - 1) // 3 + 1
            value = round(int(row["target"]) * part)  # type: ignore[call-overload]
            await conn.execute(
                insert(TaskProgress).values(
                    task_id=task_id,
                    as_of=as_of,
                    value=value,
                    note=t("demo.tasks_note", q=q),
                    evidence=str(row["evidence"]).format(y=day.year, q=q, n=value),
                    who=who,
                    recorded_at=stamp,
                )
            )
            entries += 1
    refreshed = await refresh_bound(conn, on=day)
    return TaskSeed(len(rows), len(bindings), entries + refreshed.appended)


MESSAGES.update({"demo.tasks_note": {"zh": "第{q}季度进展", "en": "Progress in Q{q}"}})


async def seed_tasks_at(url: str) -> str:
    """:func:`seed_tasks` for the demo county at ``url``, then the line the demo prints about it."""
    from bangfu.demo.scenario import COUNTY_CODE
    from bangfu.store import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            done = await seed_tasks(conn, COUNTY_CODE)
    finally:
        await engine.dispose()
    return t("demo.tasks", **vars(done))
