"""The demo county's own mall: its shop, and a few orders placed and paid through it (some by
purchasing units, some through live sessions' campaign links), as buyers would have.

Idempotent: a mall that already has orders is left as it is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.i18n import MESSAGES
from bangfu.mall import Buyer, OutOfStock, ensure_mall, mark_paid, place_order
from bangfu.models import LiveSession, MallOrder, PurchasingUnit, Region, Sku
from bangfu.stock_truth import load_stock

__all__ = ["MallSeed", "seed_mall"]

MESSAGES.update(
    {
        "demo.mall": {
            "zh": "县域自营商城：新增 {orders} 笔订单（{linked} 笔来自直播活动链接，"
            "{units} 笔为采购单位下单，{pending} 笔待支付）",
            "en": "County mall: {orders} new orders ({linked} through live session links, {units} by unit staff, "
            "{pending} awaiting payment)",
        },
        "demo.mall_serving": {"zh": "县域自营商城：{url}", "en": "County mall: {url}"},
        "demo.trace_serving": {
            "zh": "溯源页（批次二维码所指）：{url}  二维码：{qr}",
            "en": "Traceability page (where a lot's QR code leads): {url}  QR code: {qr}",
        },
        "demo.pay_serving": {
            "zh": "模拟支付通道（测试密钥）：{url}",
            "en": "Fake payment provider (test keys): {url}",
        },
    }
)

SURNAMES = "王李张刘陈杨赵黄周吴"
STREETS = ("幸福路", "团结街", "格萨尔大道", "康定路", "雅砻江路")


@dataclass(frozen=True, slots=True)
class MallSeed:
    orders: int = 0
    linked: int = 0
    units: int = 0
    pending: int = 0


async def seed_mall(conn: AsyncConnection, *, seed: int, days: int, now: datetime, count: int = 12) -> MallSeed:
    """Create the mall and ``count`` orders over the last ``days`` days (the last two left unpaid)."""
    county = await conn.scalar(
        select(Region.id).where(Region.level == "county").order_by(Region.assisted.desc(), Region.id)
    )
    await ensure_mall(conn, now, county_id=county)
    if await conn.scalar(select(func.count()).select_from(MallOrder)):
        return MallSeed()
    county_name = await conn.scalar(select(Region.name).where(Region.id == county)) if county else "甘孜县"
    rng = random.Random(seed * 7919 + 16)
    codes = list(
        (
            await conn.execute(
                select(LiveSession.campaign_code).where(LiveSession.campaign_code.is_not(None)).order_by(LiveSession.id)
            )
        ).scalars()
    )
    units = list((await conn.execute(select(PurchasingUnit.id).order_by(PurchasingUnit.id).limit(20))).scalars())
    sku_ids = list((await conn.execute(select(Sku.id).where(Sku.active.is_(True)).order_by(Sku.id))).scalars())
    stock = await load_stock(conn, sku_ids)
    offer = [sku for sku in sku_ids if stock[sku].free >= 10]
    if not offer:
        return MallSeed()
    moments = sorted(now - timedelta(days=rng.uniform(0.2, max(days - 1, 1))) for _ in range(max(count - 2, 0)))
    moments += [now - timedelta(minutes=3), now - timedelta(minutes=1)]
    placed = linked = by_units = pending = 0
    for n, moment in enumerate(moments[:count]):
        cart = {sku: rng.choice((1, 1, 2, 3)) for sku in rng.sample(offer, k=min(len(offer), rng.choice((1, 1, 2))))}
        code = rng.choice(codes) if codes and n % 3 == 0 else None
        unit = rng.choice(units) if units and n % 4 == 1 else None
        buyer = Buyer(
            rng.choice(SURNAMES) + rng.choice(("先生", "女士", "老师")),
            f"139{rng.randrange(10**8):08d}",
            f"四川省甘孜州{county_name}{rng.choice(STREETS)}{rng.randint(1, 200)}号",
        )
        try:
            order = await place_order(conn, cart, buyer, now=moment, unit_id=unit, campaign_code=code)
        except OutOfStock:
            continue
        placed += 1
        linked += code is not None
        by_units += unit is not None
        if n >= count - 2:
            pending += 1
            continue
        paid_at = moment + timedelta(minutes=rng.randint(1, 10))
        await mark_paid(
            conn, order.order_no, order.amount_fen, txn_id=f"DEMO{n:04d}", paid_at=paid_at, by="demo", now=paid_at
        )
    return MallSeed(placed, linked, by_units, pending)
