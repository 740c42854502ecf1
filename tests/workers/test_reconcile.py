"""Reconciliation: matched, amount differs (by type), payout missing, pending, unknown order; the
rules that keep a clean bill from being an exception (partly posted orders, refunds waiting for
their bill line, closed orders)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bangfu.enums import OrderStatus
from bangfu.enums import SettlementKind as K
from bangfu.ledger import balances
from bangfu.models import LineAccounting, ReconciliationResult
from bangfu.models import ReconciliationEvent as Event
from bangfu.models import ReconciliationException as Exc
from bangfu.store import make_engine
from tests.workers.accounting_seed import PAID_AT, add_bill_line, draw, seed
from tests.workers.accounting_seed import add_order as add_world_order
from tests.workers.reports_seed import add_bill, add_order, add_refund, at, base
from workers.posting import post_lines
from workers.reconcile import reconcile

NOW = at("2026-11-10T00:00")


async def _seed(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            ids = await base(conn)
            shop = ids["shop"]
            settled = at("2026-10-20T00:00")
            # A: bill folded into the ledger; pays the sale less the bill's fees -> matched.
            _, lines = await add_order(conn, shop, "A", at("2026-10-05T04:00"), [6000, 4000], post_fee=800)
            for line in lines:
                await conn.execute(insert(LineAccounting).values(order_line_id=line, shop_id=shop, fees_source="bill"))
            await add_bill(conn, shop, "A", K.SALE, 10800, settled)
            await add_bill(conn, shop, "A", K.PLATFORM_FEE, -500, settled)
            await add_bill(conn, shop, "A", K.PAYMENT_FEE, -64, settled)
            # B: not posted yet (no policy either): it will post with the bill's fees -> matched.
            await add_order(conn, shop, "B", at("2026-10-06T04:00"), [10000])
            await add_bill(conn, shop, "B", K.SALE, 10000, settled)
            await add_bill(conn, shop, "B", K.PLATFORM_FEE, -500, settled)
            # C: paid 10000 but the platform paid for 9000 -> differs on the sale.
            _, lines = await add_order(conn, shop, "C", at("2026-10-07T04:00"), [10000])
            await conn.execute(insert(LineAccounting).values(order_line_id=lines[0], shop_id=shop, fees_source="bill"))
            await add_bill(conn, shop, "C", K.SALE, 9000, settled)
            # D: paid 40 days before now, no payout -> missing; E: 11 days -> pending.
            await add_order(conn, shop, "D", at("2026-10-01T04:00"), [3000])
            await add_order(conn, shop, "E", at("2026-10-30T04:00"), [3000])
            # F: partly refunded, the bill deducts the refund -> matched.
            _, lines = await add_order(conn, shop, "F", at("2026-10-08T04:00"), [5000])
            await conn.execute(insert(LineAccounting).values(order_line_id=lines[0], shop_id=shop, fees_source="bill"))
            await add_refund(conn, shop, "F", lines[0], 2000, at("2026-10-10T00:00"))
            await add_bill(conn, shop, "F", K.SALE, 5000, settled)
            await add_bill(conn, shop, "F", K.REFUND, -2000, settled)
            # G: fully refunded before payout: nothing due, nothing came -> matched.
            _, lines = await add_order(conn, shop, "G", at("2026-10-02T04:00"), [1000])
            await add_refund(conn, shop, "G", lines[0], 1000, at("2026-10-02T05:00"))
            # An order of another month and a payout for an order the hub never saw.
            await add_order(conn, shop, "Z", at("2026-09-02T04:00"), [1000])
            await add_bill(conn, shop, "X999", K.SALE, 7000, settled)
            await add_bill(conn, shop, "X999", K.PLATFORM_FEE, -350, settled)
            await add_bill(conn, shop, "X998", K.SALE, 100, at("2026-11-02T00:00"))  # settled next month
    finally:
        await engine.dispose()
    return shop


async def _results(url: str) -> dict[str, tuple[str, int | None, int | None, object]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    ReconciliationResult.platform_order_id,
                    ReconciliationResult.kind,
                    ReconciliationResult.expected_fen,
                    ReconciliationResult.actual_fen,
                    ReconciliationResult.differences,
                )
            )
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
    finally:
        await engine.dispose()


async def test_kinds_and_an_idempotent_rerun(db_url: str) -> None:
    shop = await _seed(db_url)
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            summary = await reconcile(conn, shop_id=shop, period="2026-10", now=NOW)
        assert summary.counts() == {
            "matched": 4,
            "amount_differs": 1,
            "payout_missing": 1,
            "unknown_order": 1,
            "pending": 1,
        }
        first = await _results(db_url)
        assert first["A"] == ("matched", 10236, 10236, None)
        assert first["B"] == ("matched", 9500, 9500, None)
        assert first["C"] == ("amount_differs", 10000, 9000, {"sale": -1000})
        assert first["D"][:3] == ("payout_missing", 3000, None)
        assert first["E"][0] == "pending"
        assert first["F"] == ("matched", 3000, 3000, None)
        assert first["G"][0] == "matched"
        assert first["X999"] == ("unknown_order", None, 6650, {"sale": 7000, "platform_fee": -350})
        assert "Z" not in first and "X998" not in first
        async with engine.connect() as conn:
            detected = dict(
                (
                    await conn.execute(select(ReconciliationResult.platform_order_id, ReconciliationResult.detected_at))
                ).all()
            )

        later = at("2026-11-11T00:00")
        async with engine.begin() as conn:
            again = await reconcile(conn, shop_id=shop, period="2026-10", now=later)
        assert again.counts() == summary.counts()
        assert await _results(db_url) == first
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(ReconciliationResult.platform_order_id, ReconciliationResult.detected_at))
            ).all()
        assert dict(rows) == detected  # same verdicts keep their detection time

        # The unknown order is synced after all: its verdict moves to the order's own month.
        async with engine.begin() as conn:
            await add_order(conn, shop, "X999", at("2026-09-28T04:00"), [7000])
            await reconcile(conn, shop_id=shop, period="2026-10", now=later)
        assert "X999" not in await _results(db_url)
        async with engine.begin() as conn:
            await reconcile(conn, shop_id=shop, period="2026-09", now=later)
        # Not posted yet: it will post with the bill's fees, so the bill's platform fee is expected.
        assert (await _results(db_url))["X999"] == ("matched", 6650, 6650, None)
        async with engine.connect() as conn:
            states = dict((await conn.execute(select(Exc.platform_order_id, Exc.state))).all())
            history = (
                await conn.execute(
                    select(Exc.platform_order_id, Event.action, Event.state, Event.user_id, Event.kind)
                    .join(Exc, Exc.id == Event.exception_id)
                    .order_by(Event.id)
                )
            ).all()
        # The run opened one exception per flagged order, once (the rerun changed nothing), and
        # resolved the unknown payout once its order matched.
        assert states == {"C": "open", "D": "open", "X999": "resolved", "Z": "open"}  # Z: September, unpaid
        assert [tuple(h) for h in history if h[0] == "X999"] == [
            ("X999", "opened", "open", None, "unknown_order"),
            ("X999", "resolved", "resolved", None, "matched"),
        ]
        assert sorted(h[0] for h in history if h[1] == "opened") == ["C", "D", "X999", "Z"]
    finally:
        await engine.dispose()


async def test_ledger_basis_uses_the_posted_fees(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            ids = await base(conn)
            shop = ids["shop"]
            _, lines = await add_order(conn, shop, "L", at("2026-10-05T04:00"), [10000])
            legs = {f"receivable:shop:{shop}": 10000, f"fees:shop:{shop}:platform_fee": -200, "household:1": -9800}
            await conn.execute(
                insert(LineAccounting).values(
                    order_line_id=lines[0], shop_id=shop, fees_source="estimate", posted_rev=1, desired_legs=legs
                )
            )
            await add_bill(conn, shop, "L", K.SALE, 10000, at("2026-10-20T00:00"))
            await add_bill(conn, shop, "L", K.PLATFORM_FEE, -500, at("2026-10-20T00:00"))
            summary = await reconcile(conn, shop_id=shop, period="2026-10", now=NOW)
        (verdict,) = summary.verdicts
        assert (verdict.kind, verdict.fee_basis, verdict.differences) == (
            "amount_differs",
            "ledger",
            {"platform_fee": -300},
        )
    finally:
        await engine.dispose()


def test_cli_reconcile_json(db_url: str, tmp_path: Path) -> None:
    import asyncio

    from bangfu.cli.app import app

    shop = asyncio.run(_seed(db_url))
    result = CliRunner().invoke(
        app, ["reconcile", "--shop", str(shop), "--period", "2026-10", "--json", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    payload = orjson.loads(result.stdout)
    assert payload["counts"]["unknown_order"] == 1
    assert {e["platform_order_id"] for e in payload["exceptions"]} >= {"C", "X999"}
    table = CliRunner().invoke(app, ["reconcile", "--shop", str(shop), "--period", "2026-10", "--db", db_url])
    assert table.exit_code == 0, table.output
    assert "未知订单回款" in table.stdout and "一致" in table.stdout
    bad = CliRunner().invoke(app, ["reconcile", "--shop", str(shop), "--period", "2026-13", "--db", db_url])
    assert bad.exit_code == 2


async def test_a_partly_posted_order_expects_the_fees_posting_books(engine: AsyncEngine) -> None:
    """One line posted on the bill's fees, the other waiting for lot stock: the order expects the
    bill's fees (posting will take them for the waiting line too), not the policy's estimates,
    and once the waiting line posts the ledger holds exactly the fees the verdict expected."""
    async with engine.begin() as conn:
        world = await seed(conn)
        order, (a, b) = await add_world_order(conn, world, [(world.coop_sku, 1, 3_000), (world.coop_sku, 2, 7_000)])
        await draw(conn, a, world.lots[0], 1)  # b waits for lot stock
        await add_bill_line(conn, world, order, K.SALE, 10_000)
        await add_bill_line(conn, world, order, K.PLATFORM_FEE, -1_001)  # spread 300 / 701
        await add_bill_line(conn, world, order, K.PAYMENT_FEE, -60)  # no logistics billed
        await post_lines(conn)
    now = PAID_AT + timedelta(days=20)
    period = PAID_AT.strftime("%Y-%m")
    fees = {"platform_fee": -1_001, "payment_fee": -60}
    async with engine.begin() as conn:
        states = dict((await conn.execute(select(LineAccounting.order_line_id, LineAccounting.status))).all())
        assert (states[a], states[b]) == ("posted", "waiting_lots")
        (verdict,) = (await reconcile(conn, shop_id=world.shop, period=period, now=now)).verdicts
    assert (verdict.kind, verdict.fee_basis, verdict.differences) == ("matched", "bill_unposted", None)
    assert verdict.expected_by_type == {"sale": 10_000, **fees}

    async with engine.begin() as conn:
        await draw(conn, b, world.lots[0], 2)
        await post_lines(conn)
        ledger = await balances(conn)
        (verdict,) = (await reconcile(conn, shop_id=world.shop, period=period, now=now)).verdicts
    shop_fees = {
        code.rsplit(":", 1)[1]: amount for code, amount in ledger.items() if code.startswith(f"fees:shop:{world.shop}:")
    }
    assert shop_fees == fees  # what the partly posted order expected
    assert (verdict.kind, verdict.fee_basis, verdict.differences) == ("matched", "bill", None)


async def test_a_refund_waits_for_its_bill_line_within_the_grace_window(db_url: str) -> None:
    """The hub sees a refund succeed a day before the platform's bill deducts it: ``pending``
    within ``refund_grace_days``, an exception after it, matched once the bill line comes."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = (await base(conn))["shop"]
            for number in ("R1", "R2", "R3"):
                _, (line,) = await add_order(conn, shop, number, at("2026-10-05T04:00"), [5000])
                await conn.execute(insert(LineAccounting).values(order_line_id=line, shop_id=shop, fees_source="bill"))
                await add_refund(conn, shop, number, line, 2000, at("2026-11-08T00:00"))
                await add_bill(conn, shop, number, K.SALE, 5000 if number != "R3" else 4000, at("2026-10-20T00:00"))
            # R2: the platform deducts a refund the hub never saw succeed, besides the one it did.
            await add_bill(conn, shop, "R2", K.REFUND, -1500, at("2026-11-09T00:00"))

        async def run(now: datetime) -> dict[str, tuple[str, dict[str, int] | None]]:
            async with engine.begin() as conn:
                summary = await reconcile(conn, shop_id=shop, period="2026-10", now=now)
            return {v.platform_order_id: (v.kind, v.differences) for v in summary.verdicts}

        # Two days after the refund: R1 waits for the refund's bill line; R2's bill deducts
        # 1500 the hub cannot match with its refund; R3's sale differs, its refund just waits.
        assert await run(at("2026-11-10T00:00")) == {
            "R1": ("pending", None),
            "R2": ("amount_differs", {"refund": 500}),
            "R3": ("amount_differs", {"sale": -1000}),
        }
        assert await run(at("2026-11-11T01:00")) == {  # past the 3 days
            "R1": ("amount_differs", {"refund": 2000}),
            "R2": ("amount_differs", {"refund": 500}),
            "R3": ("amount_differs", {"sale": -1000, "refund": 2000}),
        }
        async with engine.begin() as conn:
            await add_bill(conn, shop, "R1", K.REFUND, -2000, at("2026-11-11T00:00"))
        assert (await run(at("2026-11-11T02:00")))["R1"] == ("matched", None)
        async with engine.connect() as conn:
            states = dict((await conn.execute(select(Exc.platform_order_id, Exc.state))).all())
        assert states == {"R1": "resolved", "R2": "open", "R3": "open"}
    finally:
        await engine.dispose()


async def test_a_closed_order_expects_no_payout(db_url: str) -> None:
    """A trade the platform closed (the line refunded before shipping) is never settled: the
    buyer gets the post fee back with the refund, so nothing is missing, however long ago."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = (await base(conn))["shop"]
            for number, status in (("CL", OrderStatus.CLOSED), ("CO", OrderStatus.COMPLETED)):
                _, (line,) = await add_order(
                    conn, shop, number, at("2026-10-02T04:00"), [8000], post_fee=1000, status=status
                )
                await add_refund(conn, shop, number, line, 8000, at("2026-10-03T00:00"))
            summary = await reconcile(conn, shop_id=shop, period="2026-10", now=NOW)
        kinds = {v.platform_order_id: v.kind for v in summary.verdicts}
        assert kinds == {"CL": "matched", "CO": "payout_missing"}  # a completed one still owes the post fee
    finally:
        await engine.dispose()
