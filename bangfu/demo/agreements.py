"""The demo county's procurement agreements (seed 004): units and suppliers, over a year each.

Seed 004 has hospitals, schools and companies sign purchase agreements with suppliers and
execute them through the year. The demo signs six, written as a file with Chinese headers and
loaded by ``bangfu agreements import``'s own path, each over 365 days placed around today so
that the pages show every state: one ahead, three on track, one behind (at risk: an alert is
raised) and one not started yet. The targets are set from what the unit actually bought of the
supplier (the execution as the pages compute it; in a demo too small for the unit to have bought
anything of it, the supplier it bought most of stands in), so the states hold whatever the seed; running
the demo again updates the same agreements (keyed by number) and changes nothing else.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from bangfu import clock
from bangfu.agreements import Cover, execute, schedule
from bangfu.agreements.alerts import run_agreement_alerts
from bangfu.agreements.importing import import_agreements
from bangfu.i18n import MESSAGES, t
from bangfu.models import PurchasingUnit, Supplier
from bangfu.money import fen_to_yuan_str, format_yuan
from bangfu.queries.agreements import unit_orders
from bangfu.reports.base import local_midnight
from bangfu.store import make_engine, open_store

MESSAGES.update(
    {
        "demo.agreements": {
            "zh": "采购协议：{n} 份（目标 {target}，已执行 {executed}），滞后预警 {alerts} 条",
            "en": "Procurement agreements: {n} (target {target}, executed {executed}), {alerts} behind-schedule alerts",
        },
    }
)

HEADER = [
    "协议编号",
    "协议名称",
    "采购单位",
    "供应商",
    "签订日期",
    "开始日期",
    "结束日期",
    "目标金额(元)",
    "协议产品",
    "协议品类",
    "约定单价",
    "折扣(%)",
    "备注",
]


@dataclass(frozen=True)
class Plan:
    number: str
    title: str
    unit: str  # unit code
    supplier: str  # supplier name
    started_days_ago: int  # the period starts this many days before today, lasts 365 days
    rate_over_elapsed: Decimal  # executed / target = elapsed share + this (the state it shows)
    category: str | None = None
    discount: str = ""
    note: str = ""


PLANS = (
    Plan("XY-GH-001", "工会福利茶叶采购协议", "U-UNION-001", "格萨尔茶业有限公司", 150, Decimal("0.20"), discount="5"),
    Plan("XY-GH-002", "工会食堂蔬菜直供协议", "U-UNION-001", "甘孜县查龙乡蔬菜种植专业合作社", 200, Decimal("0")),
    Plan("XY-JD-001", "机关食堂山珍采购协议", "U-GOV-002", "甘孜县拖坝乡野生菌采集专业合作社", 300, Decimal("-0.30")),
    Plan(
        "XY-YY-001",
        "医院膳食中药材采购协议",
        "U-HC-001",
        "甘孜县来马镇中药材种植专业合作社",
        120,
        Decimal("0"),
        category="中药材",
        note="进医院签约仪式",
    ),
    Plan("XY-JG-001", "机关食堂青稞制品采购协议", "U-GOV-001", "甘孜县呷拉乡青稞种植专业合作社", -20, Decimal("0")),
    Plan("XY-XX-001", "学校食堂粮油采购协议", "U-EDU-001", "甘孜县庭卡乡粮油加工专业合作社", 10, Decimal("0")),
)
FALLBACK_TARGET_FEN = 1_000_000  # ¥10,000 when the unit has bought nothing of the supplier yet


def _local_day(moment: datetime) -> date:
    return moment.astimezone(clock.SHANGHAI).date()


async def seed_agreements(url: str) -> tuple[int, int, int, int]:
    """Sign the demo's agreements; returns (agreements, target fen, executed fen, open alerts)."""
    today = clock.utcnow().astimezone(clock.SHANGHAI).date()
    engine = make_engine(url)
    rows: list[list[str]] = []
    used: dict[str, set[int]] = {}  # the suppliers of each unit's agreements
    try:
        async with engine.connect() as conn:
            for plan in PLANS:
                unit_id = await conn.scalar(select(PurchasingUnit.id).where(PurchasingUnit.code == plan.unit))
                supplier_id = await conn.scalar(select(Supplier.id).where(Supplier.name == plan.supplier))
                if unit_id is None or supplier_id is None:
                    continue
                supplier, category = plan.supplier, plan.category
                starts = today - timedelta(days=plan.started_days_ago)
                ends = starts + timedelta(days=364)
                cover = Cover(int(supplier_id), categories=frozenset({plan.category} if plan.category else ()))
                executed = 0
                if starts <= today:
                    orders, lines = await unit_orders(
                        conn, int(unit_id), local_midnight(starts), local_midnight(today + timedelta(days=1))
                    )
                    executed = execute(cover, orders, lines, _local_day).executed_fen
                    if executed <= 0:
                        # A smaller demo where the unit bought nothing of this supplier: the
                        # supplier it bought most of instead (not already in one of its agreements).
                        taken = used.get(plan.unit, set())
                        best = max(
                            (
                                (execute(Cover(s), orders, lines, _local_day).executed_fen, s)
                                for s in {ln.supplier_id for ln in lines if ln.supplier_id is not None} - taken
                            ),
                            default=(0, None),
                        )
                        if best[0] > 0 and best[1] is not None:
                            executed, supplier_id = best
                            supplier = str(await conn.scalar(select(Supplier.name).where(Supplier.id == supplier_id)))
                            category = None
                used.setdefault(plan.unit, set()).add(int(supplier_id))
                share = schedule(starts, ends, today).elapsed_share + plan.rate_over_elapsed
                target = int(executed / share) if executed > 0 and share > 0 else FALLBACK_TARGET_FEN
                rows.append(
                    [
                        plan.number,
                        plan.title,
                        plan.unit,
                        supplier,
                        (starts - timedelta(days=7)).isoformat(),
                        starts.isoformat(),
                        ends.isoformat(),
                        fen_to_yuan_str(max(target, 100)),
                        "",
                        category or "",
                        "",
                        plan.discount,
                        plan.note,
                    ]
                )
        if not rows:
            return 0, 0, 0, 0
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "采购协议.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(HEADER)
                writer.writerows(rows)
            async with open_store(url) as sessions:
                await import_agreements(sessions, path)
        async with engine.begin() as conn:
            now = clock.utcnow()
            result = await run_agreement_alerts(conn, today=today, now=now)
        async with engine.connect() as conn:
            from bangfu.queries.agreements import agreements_overview
            from bangfu.scope import Scope

            overview = await agreements_overview(conn, Scope.admin(), today)
        return len(overview.rows), overview.target_fen, overview.executed_fen, result.open
    finally:
        await engine.dispose()


async def seed_and_describe(url: str) -> str:
    n, target, executed, alerts = await seed_agreements(url)
    return t("demo.agreements", n=n, target=format_yuan(target), executed=format_yuan(executed), alerts=alerts)
