"""Open unsold (滞销) alerts as a user may see them, the rule in words, and their JSON.

The alerts are written by :func:`workers.alerts.run_unsold` with their figures in
``alerts.detail``; this module reads them back for the county page, the cooperative's page,
``bangfu alerts list`` and ``bangfu report unsold``, so all of them show the same numbers.

Scope: a lot is the county's when its supplier (the cooperative's own supplier row, or the
enterprise) is in the county's region tree, or its cooperative is the county's
(:meth:`bangfu.scope.Scope.cooperatives`); a cooperative sees its own lots; the admin sees all;
everyone else none. Channels are shown as the user may see them: shops, purchasing units and
hosts within the county's scope; a cooperative sees the shops (public storefronts) only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.models import Alert, Cooperative, LiveSession, PurchasingUnit, Shop, Supplier, SupplyLot
from bangfu.money import format_yuan
from bangfu.scope import Scope
from bangfu.unsold import UnsoldRule

KIND = "unsold"
_SUBJECT = re.compile(r"lot:(\d+)")
CHANNEL_KINDS = ("shop", "unit", "host")

MESSAGES.update(
    {
        "unsold.status.at_risk": {"zh": "临期滞销", "en": "At risk"},
        "unsold.status.expired": {"zh": "已过保质期", "en": "Past shelf life"},
        "unsold.message.at_risk": {
            "zh": "批次 {lot}（{product} {sku}）还剩 {remaining} 件，{days_left} 天后（{expires_on}）到保质期末；"
            "按近 {window} 天售出 {sold} 件的速度，{why}到期时仍将剩约 {left} 件（约 {value}）",
            "en": "lot {lot} ({product} {sku}): {remaining} left, shelf life ends in {days_left} days "
            "({expires_on}); at {sold} sold in the last {window} days, {why}about {left} will be left then "
            "(about {value})",
        },
        "unsold.message.expired": {
            "zh": "批次 {lot}（{product} {sku}）已过保质期 {days_over} 天（{expires_on}），"
            "仍有 {remaining} 件（约 {value}）",
            "en": "lot {lot} ({product} {sku}): shelf life ended {days_over} days ago ({expires_on}), "
            "{remaining} still in stock (about {value})",
        },
        "unsold.why.ahead": {
            "zh": "先要卖完更早批次的 {ahead} 件，",
            "en": "after {ahead} units of older lots, ",
        },
        "unsold.channel.shop": {
            "zh": "店铺「{name}」：近 {days} 天售出本规格 {sku_units} 件、同品类 {category_units} 件",
            "en": "shop {name}: {sku_units} of this SKU and {category_units} of the category sold in {days} days",
        },
        "unsold.channel.unit": {
            "zh": "采购单位「{name}」：近 {days} 天购买本规格 {sku_units} 件、同品类 {category_units} 件",
            "en": "purchasing unit {name}: bought {sku_units} of this SKU and {category_units} of the category "
            "in {days} days",
        },
        "unsold.channel.host": {
            "zh": "主播「{name}」：近 {days} 天直播售出本规格 {sku_units} 件、同品类 {category_units} 件",
            "en": "host {name}: {sku_units} of this SKU and {category_units} of the category sold live in {days} days",
        },
        "unsold.channel.kind.shop": {"zh": "店铺", "en": "Shop"},
        "unsold.channel.kind.unit": {"zh": "采购单位", "en": "Purchasing unit"},
        "unsold.channel.kind.host": {"zh": "主播", "en": "Host"},
        "unsold.rule.title": {"zh": "预警规则", "en": "The rule"},
        "unsold.rule.summary": {
            "zh": "只有同时满足以下条件的批次才会预警：批次到保质期末还剩不到 {horizon} 天（或已过保质期），"
            "并且按该规格近 {window} 天在所有渠道的销量、先进先出（先卖完更早的批次），到保质期末这批仍会剩下"
            "至少 {min_units} 件、且不少于本批收购量的 {share}。离保质期末还远的批次卖得再慢也不预警，"
            "进入 {horizon} 天内时再提示，留出调货、促销的时间。",
            "en": "A lot is flagged only when both hold: its shelf life ends within {horizon} days (or has "
            "ended), and at its SKU's sales of the last {window} days on every channel, first in first out "
            "(older lots sell first), at least {min_units} units and at least {share} of the lot's delivered "
            "quantity would still be left when the shelf life ends. A lot further from the end of its shelf "
            "life is not flagged however slowly it sells; it comes up when it is {horizon} days away, in time "
            "to move it.",
        },
        "unsold.rule.formula": {
            "zh": "到期剩余 = 本批剩余 与 (更早批次剩余 + 本批剩余 − 近 {window} 天销量 ÷ {window} × 距到期天数) "
            "中较小者",
            "en": "left at the end = the lesser of the lot's remaining units and "
            "(older lots' remaining + this lot's remaining − units sold in {window} days ÷ {window} × days left)",
        },
        "unsold.rule.shelf": {
            "zh": "保质期（自收购日起，按品类）：{list}；其他品类 {default} 天（易腐产品 {perishable} 天）。",
            "en": "Shelf life (from the day received, by category): {list}; other categories {default} days "
            "({perishable} for perishable products).",
        },
        "unsold.rule.channels": {
            "zh": "可承接渠道：近 {window} 天卖过本规格或同品类的店铺，近 {days} 天买过的采购单位和直播卖过的主播，"
            "按本规格销量、再按同品类销量排序，每类最多 {n} 个。",
            "en": "Channels that could take it: shops that sold this SKU or its category in the last {window} "
            "days, purchasing units that bought it and hosts who sold it live in the last {days} days, ranked "
            "by units of this SKU, then of the category, at most {n} of each kind.",
        },
        "unsold.rule.run": {
            "zh": "每 12 小时自动检查一次（也可运行 bangfu alerts run）：新出现的风险批次开启预警，"
            "不再有风险的（已售出、补足销量）自动解除。",
            "en": "Checked every 12 hours (or by bangfu alerts run): lots newly at risk open an alert, lots no "
            "longer at risk (sold, selling faster) are resolved.",
        },
        "unsold.col.status": {"zh": "状态", "en": "Status"},
        "unsold.col.owner": {"zh": "合作社/企业", "en": "Cooperative or enterprise"},
        "unsold.col.expires_on": {"zh": "保质期末", "en": "Shelf life ends"},
        "unsold.col.days_left": {"zh": "剩余天数", "en": "Days left"},
        "unsold.col.sold": {"zh": "近期销量", "en": "Sold in window"},
        "unsold.col.left_at_end": {"zh": "预计到期剩余", "en": "Left at the end"},
        "unsold.col.value": {"zh": "剩余货值", "en": "Value left"},
        "unsold.col.channels": {"zh": "可承接渠道", "en": "Channels that could take it"},
        "unsold.days": {"zh": "{n} 天", "en": "{n} days"},
        "unsold.none": {"zh": "目前没有滞销预警。", "en": "No unsold alerts at the moment."},
    }
)


def _lot_of(subject: str | None) -> int | None:
    match = _SUBJECT.fullmatch(subject or "")
    return int(match.group(1)) if match else None


def _days_word(days: int) -> str:
    return t("unsold.days", n=days)


def describe(detail: Mapping[str, Any]) -> str:
    """One line for people, in the current language, from an alert's figures."""
    common = {
        "lot": detail["lot"],
        "product": detail["product"],
        "sku": detail["sku"],
        "remaining": detail["remaining"],
        "expires_on": detail["expires_on"],
        "value": format_yuan(int(detail["value_fen"])),
    }
    if detail["status"] == "expired":
        return t("unsold.message.expired", days_over=-int(detail["days_left"]), **common)
    why = t("unsold.why.ahead", ahead=detail["ahead"]) if detail["ahead"] else ""
    return t(
        "unsold.message.at_risk",
        days_left=detail["days_left"],
        window=detail["window_days"],
        sold=detail["sold"],
        why=why,
        left=detail["left_at_end"],
        **common,
    )


def channel_text(channel: Mapping[str, Any]) -> str:
    return t(
        f"unsold.channel.{channel['kind']}",
        name=channel["name"],
        days=channel["days"],
        sku_units=channel["sku_units"],
        category_units=channel["category_units"],
    )


def rule_lines(rule: UnsoldRule) -> list[str]:
    """The rule in the current language, with its parameters, as the page and the CLI show it."""
    share = f"{rule.min_share_bp / 100:g}%"
    shelf = "、" if t("unsold.days", n=0).endswith("天") else ", "
    listing = shelf.join(f"{c} {_days_word(d)}" for c, d in sorted(rule.shelf_days.items(), key=lambda kv: -kv[1]))
    return [
        t(
            "unsold.rule.summary",
            horizon=rule.horizon_days,
            window=rule.window_days,
            min_units=rule.min_units,
            share=share,
        ),
        t("unsold.rule.formula", window=rule.window_days),
        t(
            "unsold.rule.shelf",
            list=listing,
            default=rule.default_shelf_days,
            perishable=rule.perishable_shelf_days,
        ),
        t("unsold.rule.channels", window=rule.window_days, days=rule.channel_days, n=rule.channels_per_kind),
        t("unsold.rule.run"),
    ]


@dataclass(frozen=True)
class UnsoldAlert:
    id: int
    severity: str
    created_at: datetime
    detail: Mapping[str, Any]
    owner: str  # the cooperative's or the enterprise's name
    channels: Sequence[Mapping[str, Any]]  # as the user may see them

    @property
    def status(self) -> str:
        return str(self.detail["status"])

    @property
    def message(self) -> str:
        return describe(self.detail)


def lot_condition(scope: Scope) -> ColumnElement[bool]:
    """The supply lots the user may see (module docstring)."""
    match scope.role:
        case UserRole.ADMIN:
            return true()
        case UserRole.COOPERATIVE:
            return SupplyLot.cooperative_id == scope.cooperative_id
        case UserRole.COUNTY:
            suppliers = select(Supplier.id).where(Supplier.county_id.in_(sorted(scope.region_ids)))
            return or_(SupplyLot.supplier_id.in_(suppliers), scope.cooperatives(SupplyLot.cooperative_id))
    return false()


async def _visible_channels(conn: AsyncConnection, scope: Scope) -> dict[str, set[int] | None]:
    """Channel ids per kind the user may see; None: every one."""
    if scope.role == UserRole.ADMIN:
        return {"shop": None, "unit": None, "host": None}
    if scope.role == UserRole.COOPERATIVE:
        return {"shop": None, "unit": set(), "host": set()}
    shops = {int(s) for s in await conn.scalars(select(Shop.id).where(scope.shops(Shop.id)))}
    units = {int(u) for u in await conn.scalars(select(PurchasingUnit.id).where(scope.units(PurchasingUnit.id)))}
    hosts = {
        int(h)
        for h in await conn.scalars(
            select(LiveSession.host_id).where(scope.sessions(), LiveSession.host_id.is_not(None)).distinct()
        )
        if h is not None
    }
    return {"shop": shops, "unit": units, "host": hosts}


def _order(alert: UnsoldAlert) -> tuple[int, int, int]:
    d = alert.detail
    # Lots one can still save first, soonest end of shelf life first; then past shelf life, largest first.
    if d["status"] == "at_risk":
        return (0, int(d["days_left"]), alert.id)
    return (1, -int(d["value_fen"]), alert.id)


async def unsold_alerts(conn: AsyncConnection, scope: Scope, cooperative_id: int | None = None) -> list[UnsoldAlert]:
    """Open unsold alerts on lots in the user's scope (one cooperative's, when given)."""
    alerts = (
        await conn.execute(
            select(Alert.id, Alert.subject, Alert.severity, Alert.created_at, Alert.detail).where(
                Alert.kind == KIND, Alert.resolved_at.is_(None), Alert.detail.is_not(None)
            )
        )
    ).all()
    by_lot = {lot: a for a in alerts if (lot := _lot_of(a.subject)) is not None}
    if not by_lot:
        return []
    query = (
        select(SupplyLot.id, Supplier.name)
        .outerjoin(Cooperative, Cooperative.id == SupplyLot.cooperative_id)
        .join(Supplier, Supplier.id == func.coalesce(Cooperative.supplier_id, SupplyLot.supplier_id))
        .where(SupplyLot.id.in_(sorted(by_lot)), lot_condition(scope))
    )
    if cooperative_id is not None:
        query = query.where(SupplyLot.cooperative_id == cooperative_id)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    visible = await _visible_channels(conn, scope)
    out: list[UnsoldAlert] = []
    for lot_id, owner in rows:
        alert = by_lot[int(lot_id)]
        detail = json.loads(alert.detail)
        channels = [
            c
            for c in detail.get("channels", [])
            if c["kind"] in visible and ((ids := visible[c["kind"]]) is None or int(c["id"]) in ids)
        ]
        out.append(UnsoldAlert(int(alert.id), alert.severity, alert.created_at, detail, owner, channels))
    return sorted(out, key=_order)


def alert_json(a: UnsoldAlert) -> dict[str, Any]:
    d = a.detail
    return {
        "id": a.id,
        "severity": a.severity,
        "status": a.status,
        "since": a.created_at.isoformat(),
        "message": a.message,
        "lot_id": d["lot_id"],
        "lot": d["lot"],
        "sku": d["sku"],
        "product": d["product"],
        "category": d["category"],
        "owner": a.owner,
        "cooperative_id": d["cooperative_id"],
        "received_on": d["received_on"],
        "shelf_days": d["shelf_days"],
        "expires_on": d["expires_on"],
        "days_left": d["days_left"],
        "quantity": d["quantity"],
        "remaining": d["remaining"],
        "ahead": d["ahead"],
        "sold_in_window": d["sold"],
        "window_days": d["window_days"],
        "left_at_end": d["left_at_end"],
        "days_to_clear": d["days_to_clear"],
        "value_fen": d["value_fen"],
        "channels": [{**dict(c), "reason": channel_text(c)} for c in a.channels],
    }


def rule_json(rule: UnsoldRule) -> dict[str, Any]:
    return {"parameters": rule.as_dict(), "explanation": rule_lines(rule)}


async def cooperative_unsold(
    conn: AsyncConnection, scope: Scope, cooperative_id: int
) -> tuple[str, list[UnsoldAlert]] | None:
    """One cooperative's name and open unsold alerts, or None when it is outside the scope."""
    name = await conn.scalar(
        select(Supplier.name)
        .join(Cooperative, Cooperative.supplier_id == Supplier.id)
        .where(Cooperative.id == cooperative_id, scope.cooperatives(Cooperative.id))
    )
    if name is None:
        return None
    return str(name), await unsold_alerts(conn, scope, cooperative_id)
