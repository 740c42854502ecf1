"""Every platform's bill, as its fake serves it and its connector parses it, reconciles clean.

For each platform: a finished order of the fake world, its settlement rows rendered as the fake's
API renders them and parsed by the connector (the same functions sync uses), stored with the
order as the hub stores them. A clean bill, folded into the ledger, is ``matched`` with no
``other`` or ``subsidy`` line; the same bill with one fee field off by a known amount, against
a ledger posted with the clean bill's fees, is flagged with that fee type and amount in fen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import connectors.douyin as douyin
import connectors.jd as jd
import connectors.kuaishou as kuaishou
import connectors.selfmall as selfmall
import connectors.taobao as taobao
import connectors.youzan as youzan
from bangfu.enums import SettlementKind
from bangfu.models import LineAccounting, SettlementLine
from bangfu.records import SettlementLineRecord
from bangfu.store import make_engine
from connectors.fakes.clock import FakeClock
from connectors.fakes.douyin import FakeDouyin
from connectors.fakes.jd import FakeJd
from connectors.fakes.kuaishou import FakeKuaishou
from connectors.fakes.selfmall import bill_view
from connectors.fakes.server import FakePlatform, build_fake
from connectors.fakes.taobao import render_bill as taobao_bill
from connectors.fakes.world import FakeOrder, FakeSettlementLine
from connectors.fakes.youzan import render_bill as youzan_bill
from tests.workers.reports_seed import add_order, base
from workers.reconcile import reconcile

Row = dict[str, Any]
Bump = Callable[[list[Row]], None]  # puts 10.00 yuan more of one fee on the rows


def _rows(fake: FakePlatform, order: FakeOrder, lines: list[FakeSettlementLine]) -> list[Row]:
    """The order's bill rows as the fake's API serves them."""
    match fake.platform:
        case "taobao":
            return [taobao_bill(line, order, frozenset(taobao.BILL_FIELDS)) for line in lines]
        case "jd":
            return [FakeJd.render_bill(line) for line in lines]
        case "kuaishou":
            return [FakeKuaishou.render_bill(line) for line in lines]
        case "youzan":
            return [youzan_bill(line) for line in lines]
        case "selfmall":
            return [bill_view(line) for line in lines]
        case "douyin":
            assert isinstance(fake, FakeDouyin)
            start = min(line.settled_at for line in lines)
            rows = fake._settle_rows(fake.world, start, start + timedelta(days=1), 0)
            return [row for row in rows if row["shop_order_id"] == order.order_id]
    raise AssertionError(fake.platform)


def _parse(platform: str, rows: list[Row]) -> list[SettlementLineRecord]:
    out: list[SettlementLineRecord] = []
    for row in rows:
        match platform:
            case "douyin":
                out += douyin.parse_settlement(row)
            case "kuaishou":
                out += kuaishou.parse_bill(row)
            case "taobao":
                out.append(taobao.parse_bill(row))
            case "jd":
                out.append(jd.parse_bill(row))
            case "youzan":
                out.append(youzan.parse_bill(row))
            case "selfmall":
                out.append(selfmall.parse_bill(row))
    return out


def _first(rows: list[Row], key: str, value: Any) -> Row:
    return next(row for row in rows if str(row[key]) == str(value))


def _yuan_more(text: str) -> str:
    """A signed yuan string 10.00 further from zero on the cost side (``-3.48`` -> ``-13.48``)."""
    from decimal import Decimal

    return f"{Decimal(text) - Decimal('10.00'):.2f}"


def _bump_douyin(rows: list[Row]) -> None:
    row = next(r for r in rows if r["trade_type"] == 0 and r["other_sharing_amount"])
    row["other_sharing_amount"] += 1000  # 其他分成: the payment fee
    row["total_outcome"] += 1000
    row["settle_amount"] -= 1000


def _bump_taobao(rows: list[Row]) -> None:
    _first(rows, "account_id", 2003)["amount"] -= 1000  # 支付宝服务费


def _bump_jd(rows: list[Row]) -> None:
    row = _first(rows, "feeType", "2003")
    row["amount"] = _yuan_more(row["amount"])


def _bump_kuaishou(rows: list[Row]) -> None:
    row = _first(rows, "billType", 4)
    row["amount"] = int(row["amount"]) - 1000


def _bump_youzan(rows: list[Row]) -> None:
    row = _first(rows, "biz_type", "PAY_FEE")
    row["amount"] = _yuan_more(row["amount"])


def _bump_selfmall(rows: list[Row]) -> None:
    row = _first(rows, "kind", "支付手续费")
    amount = selfmall.money_fen(row["amount"]) - 1000
    row["amount"] = f"-¥{-amount / 100:.2f}"


BUMPS: dict[str, Bump] = {
    "douyin": _bump_douyin,
    "taobao": _bump_taobao,
    "jd": _bump_jd,
    "kuaishou": _bump_kuaishou,
    "youzan": _bump_youzan,
    "selfmall": _bump_selfmall,
}


def _finished_order(fake: FakePlatform) -> tuple[FakeOrder, list[FakeSettlementLine]]:
    world = fake.world
    lines = world.settlements(world.anchor - timedelta(days=400), world.anchor + timedelta(days=400))
    by_order: dict[str, list[FakeSettlementLine]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    found: list[tuple[FakeOrder, list[FakeSettlementLine]]] = []
    for order_id, order_lines in sorted(by_order.items()):
        order = world.order(order_id)
        if order is None or order.paid_at is None or any(ln.kind is SettlementKind.REFUND for ln in order_lines):
            continue
        found.append((order, order_lines))
    assert found, f"no finished order without a refund on {fake.platform}"
    # Preferably several lines and a post fee (order-level bill lines spread over the lines).
    return max(found, key=lambda pair: (bool(pair[0].post_fee_fen), len(pair[0].lines), -pair[0].index))


async def _store(
    db_url: str, order: FakeOrder, records: list[SettlementLineRecord], fees: dict[str, int] | None
) -> int:
    """The order and its bill as the hub stores them; ``fees`` None: the ledger folded the bill,
    else the lines are posted with these fees (per fee type, fen, positive) not folded yet."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = (await base(conn))["shop"]
            assert order.paid_at is not None
            number = records[0].platform_order_id  # as the platform names it (Youzan: its tid)
            assert number is not None
            _, line_ids = await add_order(
                conn,
                shop,
                number,
                order.paid_at,
                [line.paid_fen for line in order.lines],
                post_fee=order.post_fee_fen,
            )
            for k, line_id in enumerate(line_ids):
                if fees is None:
                    values: dict[str, Any] = {"fees_source": "bill"}
                else:  # the whole order's fees on its first line's journal
                    legs = {f"fees:shop:{shop}:{fee}": -amount for fee, amount in fees.items()} if k == 0 else {}
                    values = {"fees_source": "estimate", "posted_rev": 1, "desired_legs": legs}
                await conn.execute(insert(LineAccounting).values(order_line_id=line_id, shop_id=shop, **values))
            for record in records:
                await conn.execute(
                    insert(SettlementLine).values(
                        shop_id=shop,
                        platform_bill_id=record.platform_bill_id,
                        platform_order_id=record.platform_order_id,
                        platform_line_id=record.platform_line_id,
                        kind=record.kind,
                        amount_fen=record.amount_fen,
                        settled_at=record.settled_at,
                    )
                )
        return shop
    finally:
        await engine.dispose()


@pytest.mark.parametrize("platform", sorted(BUMPS))
async def test_a_clean_bill_matches_and_a_fee_off_is_flagged_by_type(db_url: str, platform: str) -> None:
    fake = build_fake(platform, seed=11, orders=40, days=20, clock=FakeClock())
    order, lines = _finished_order(fake)
    rows = _rows(fake, order, lines)
    clean = _parse(platform, rows)
    kinds = {record.kind for record in clean}
    assert SettlementKind.OTHER not in kinds and SettlementKind.SUBSIDY not in kinds
    assert kinds >= {SettlementKind.SALE, SettlementKind.PAYMENT_FEE}
    assert sum(r.amount_fen for r in clean if r.kind is SettlementKind.SALE) == order.paid_fen
    month = order.paid_at.strftime("%Y-%m") if order.paid_at else ""
    now = max(line.settled_at for line in lines) + timedelta(days=1)

    shop = await _store(db_url, order, clean, None)
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            summary = await reconcile(conn, shop_id=shop, period=month, now=now)
        (verdict,) = summary.verdicts
        assert (verdict.kind, verdict.differences, verdict.fee_basis) == ("matched", None, "bill")
        assert verdict.actual_fen == sum(r.amount_fen for r in clean)

        # The ledger posted with the clean bill's fees; the bill charges 10.00 yuan more payment fee.
        fees: dict[str, int] = {}
        for record in clean:
            if record.kind not in (SettlementKind.SALE, SettlementKind.REFUND):
                fees[record.kind.value] = fees.get(record.kind.value, 0) - record.amount_fen
        off = [dict(row) for row in rows]
        BUMPS[platform](off)
        shop = await _store(db_url, order, _parse(platform, off), fees)
        async with engine.begin() as conn:
            summary = await reconcile(conn, shop_id=shop, period=month, now=now)
        (verdict,) = summary.verdicts
        assert (verdict.kind, verdict.fee_basis, verdict.differences) == (
            "amount_differs",
            "ledger",
            {"payment_fee": -1000},
        )
        assert verdict.expected_by_type is not None and verdict.actual_by_type is not None
        assert verdict.actual_by_type["payment_fee"] - verdict.expected_by_type["payment_fee"] == -1000
    finally:
        await engine.dispose()
