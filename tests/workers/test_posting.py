"""The posting stage: sale, true-ups, waiting lines, enterprise lines, policy versions, refunds."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import HostKind, JournalKind, SettlementKind
from bangfu.ledger import balances
from bangfu.models import Host, Journal, LineAccounting, RefundPosting, SplitPolicy
from tests.workers.accounting_seed import (
    PAID_AT,
    World,
    add_bill_line,
    add_order,
    add_refund,
    attribute,
    draw,
    rules,
    seed,
)
from workers.posting import PostingStats, post_lines, post_refunds
from workers.verify import verify


async def run(engine: AsyncEngine) -> PostingStats:
    total = PostingStats()
    async with engine.begin() as conn:
        total += await post_lines(conn)
        total += await post_refunds(conn)
    return total


async def world_of(engine: AsyncEngine, **kw: object) -> World:
    async with engine.begin() as conn:
        return await seed(conn, **kw)  # type: ignore[arg-type]


async def state(engine: AsyncEngine, line_id: int) -> LineAccounting:
    async with engine.connect() as conn:
        row = (await conn.execute(select(LineAccounting).where(LineAccounting.order_line_id == line_id))).one()
    return row  # type: ignore[return-value]


async def ledger(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return await balances(conn)


async def journals(engine: AsyncEngine) -> list[tuple[JournalKind, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Journal.kind, Journal.source_event).order_by(Journal.id))
        return [(kind, source) for kind, source in rows]


async def assert_verified(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        report = await verify(conn)
    assert report.ok, report.as_dict()


async def sold_line(engine: AsyncEngine, world: World, paid: int = 10_000, quantity: int = 2) -> tuple[str, int]:
    async with engine.begin() as conn:
        order, (line,) = await add_order(conn, world, [(world.coop_sku, quantity, paid)])
        await run_discovery(conn)
        await attribute(conn, world, line, world.host)
        await draw(conn, line, world.lots[0], quantity)
    return order, line


async def run_discovery(conn: object) -> None:
    from workers.posting import discover

    await discover(conn)  # type: ignore[arg-type]


def named(world: World, figures: dict[str, int], *, host: int | None = None) -> dict[str, int]:
    """Account balances written like a statement: short names (``H1`` is the lifted household
    with 60 units of grade A at 2,000 fen guaranteed, ``H2`` the ordinary one with 30 of B at
    1,500, ``H3`` the monitored one with 10 of C at 0; ``host`` the world's host unless given)
    mapped to the accounts' codes."""
    h1, h2, h3 = world.households
    codes = {
        "receivable": f"receivable:shop:{world.shop}",
        "platform_fee": f"fees:shop:{world.shop}:platform_fee",
        "payment_fee": f"fees:shop:{world.shop}:payment_fee",
        "logistics": f"fees:shop:{world.shop}:logistics",
        "commission": f"payable:host:{host or world.host}:commission",
        "retained": f"cooperative:{world.coop}:retained",
        "collective": f"collective:{world.coop}",
    }
    for name, hid in (("H1", h1), ("H2", h2), ("H3", h3)):
        codes |= {name: f"household:{hid}", f"{name}:advance": f"household:{hid}:advance"}
        codes[f"{name}:bonus"] = f"household:{hid}:bonus"
    return {codes[name]: fen for name, fen in figures.items()}


# A line of 2 units paid 10,000 fen under the seed's policy (retention 8%, collective 5%,
# priority bonus 3%, fee estimates 5% / 0.6% / 8%), drawn from the seed's lot (weights 6000 :
# 2700 : 800 by quantity x grade, guarantees 2,400 / 900 / 0 fen for 2 of its 100 units).
#
# With the world's host (commission 10%): net 10,000 - 500 - 60 - 800 - 1,000 = 7,640; pools
# floor 611 / 382 / 229 / 6,417 (+1 to retention); households 4,052 / 1,823 / 540 of 6,417
# (+2 to retention); bonus 202 / 26 of 229 (+1 to retention): retained 615.
SOLD_WITH_HOST_A = {
    "receivable": 10_000,
    "platform_fee": -500,
    "payment_fee": -60,
    "logistics": -800,
    "commission": -1_000,
    "retained": -615,
    "collective": -382,
    "H1:advance": -2_400,
    "H1": -1_652,
    "H1:bonus": -202,
    "H2:advance": -900,
    "H2": -923,
    "H3": -540,
    "H3:bonus": -26,
}
# With a host on 0% commission: net 8,640; pools floor 691 / 432 / 259 / 7,257 (+1);
# households 4,583 / 2,062 / 611 of 7,257 (+1); bonus 228 / 30 of 259 (+1): retained 694.
SOLD_WITH_HOST_B = {
    "receivable": 10_000,
    "platform_fee": -500,
    "payment_fee": -60,
    "logistics": -800,
    "retained": -694,
    "collective": -432,
    "H1:advance": -2_400,
    "H1": -2_183,
    "H1:bonus": -228,
    "H2:advance": -900,
    "H2": -1_162,
    "H3": -611,
    "H3:bonus": -30,
}


async def unpaid_host(engine: AsyncEngine) -> int:
    """A county official hosting for 0% commission."""
    async with engine.begin() as conn:
        host = await conn.scalar(
            insert(Host)
            .values(name="县长", kind=HostKind.OFFICIAL, platform="douyin", author_id="gov", commission_bp=0)
            .returning(Host.id)
        )
    assert host is not None
    return int(host)


async def test_a_sale_is_posted_once_dated_when_paid(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    _, line = await sold_line(engine, world)
    stats = await run(engine)
    assert (stats.sales, stats.trueups, stats.failed) == (1, 0, 0)
    ((kind, source),) = await journals(engine)
    assert kind is JournalKind.SALE and source == f"order-line:{world.shop}:{line}:v1:sale"
    async with engine.connect() as conn:
        assert await conn.scalar(select(Journal.occurred_at)) == PAID_AT
    balance = await ledger(engine)
    assert balance[f"receivable:shop:{world.shop}"] == 10_000
    assert balance[f"payable:host:{world.host}:commission"] == -1_000
    assert balance[f"fees:shop:{world.shop}:platform_fee"] == -500  # the policy's estimate
    assert (await state(engine, line)).status == "posted"
    again = await run(engine)
    assert (again.examined, again.journals) == (0, 0)
    await assert_verified(engine)


async def test_a_line_waits_for_its_lots_then_posts(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
    stats = await run(engine)
    assert (stats.discovered, stats.waiting_lots, stats.journals) == (1, 1, 0)
    assert (await state(engine, line)).status == "waiting_lots"
    assert (await run(engine)).examined == 0  # waiting without draws is not due
    async with engine.begin() as conn:
        await draw(conn, line, world.lots[0], 1)
    assert (await run(engine)).sales == 1
    assert (await state(engine, line)).status == "posted"
    await assert_verified(engine)


async def test_an_enterprise_line_credits_the_supplier_unsplit(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        _, (line,) = await add_order(conn, world, [(world.enterprise_sku, 1, 3_000)])
    stats = await run(engine)
    assert (stats.sales, stats.not_split) == (1, 1)
    balance = await ledger(engine)
    assert balance[f"supplier:{world.enterprise}"] == -3_000
    assert not any(code.startswith(("household:", "cooperative:")) for code in balance)
    assert (await state(engine, line)).status == "not_split"
    await assert_verified(engine)


async def test_the_bill_trues_up_the_estimated_fees(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        order, (a, b) = await add_order(conn, world, [(world.coop_sku, 1, 3_000), (world.coop_sku, 2, 7_000)])
        await draw(conn, a, world.lots[0], 1)
        await draw(conn, b, world.lots[0], 2)
    assert (await run(engine)).sales == 2
    async with engine.begin() as conn:
        # An order-level platform fee of 1001 fen: spread 300/701 by paid (largest remainder).
        await add_bill_line(conn, world, order, SettlementKind.PLATFORM_FEE, -1_001)
        await add_bill_line(conn, world, order, SettlementKind.LOGISTICS, -400, platform_line_id=f"{order}-1")
    stats = await run(engine)
    assert (stats.bumped, stats.trueups) == (2, 2)
    kinds = [kind for kind, _ in await journals(engine)]
    assert kinds == [JournalKind.SALE, JournalKind.SALE, JournalKind.TRUE_UP, JournalKind.TRUE_UP]
    balance = await ledger(engine)
    assert balance[f"fees:shop:{world.shop}:platform_fee"] == -1_001
    assert balance[f"fees:shop:{world.shop}:logistics"] == -400
    assert f"fees:shop:{world.shop}:payment_fee" not in balance  # the bill has none
    assert (await state(engine, a)).fees_source == "bill"
    async with engine.connect() as conn:
        dated = await conn.scalar(select(func.max(Journal.occurred_at)))
    assert dated == PAID_AT.replace(day=10)  # when the bill line settled
    assert (await run(engine)).journals == 0
    await assert_verified(engine)


async def test_a_fee_given_back_on_a_refund_is_not_taken_twice(db_url: str, engine: AsyncEngine) -> None:
    """The bill gives back 40% of the platform fee with the 40% refund; the refund journal already
    reversed 40% of the line's fees, so the fee left in the ledger is 60% of the fee charged."""
    world = await world_of(engine)
    order, line = await sold_line(engine, world, paid=10_000)
    async with engine.begin() as conn:
        await add_refund(conn, world, order, line, amount=4_000)
        await add_bill_line(conn, world, order, SettlementKind.SALE, 10_000, platform_line_id=f"{order}-1")
        await add_bill_line(conn, world, order, SettlementKind.PLATFORM_FEE, -500, platform_line_id=f"{order}-1")
        await add_bill_line(conn, world, order, SettlementKind.PLATFORM_FEE, 200, platform_line_id=f"{order}-1")
        await add_bill_line(conn, world, order, SettlementKind.REFUND, -4_000, platform_line_id=f"{order}-1")
    await run(engine)
    await run(engine)
    balance = await ledger(engine)
    assert balance[f"receivable:shop:{world.shop}"] == 6_000
    assert balance[f"fees:shop:{world.shop}:platform_fee"] == -300
    assert sum(balance.values()) == 0
    await assert_verified(engine)


async def test_a_paid_amount_changed_after_a_refund_keeps_the_refunded_fen(db_url: str, engine: AsyncEngine) -> None:
    """4,000 fen refunded of 10,000; the line is then corrected to 9,000 paid. The ledger holds
    9,000 - 4,000 on the receivable (not 60% of 9,000), and a full refund of the rest clears it."""
    from bangfu.models import OrderLine

    world = await world_of(engine)
    order, line = await sold_line(engine, world, paid=10_000)
    async with engine.begin() as conn:
        await add_refund(conn, world, order, line, amount=4_000)
    await run(engine)
    assert (await ledger(engine))[f"receivable:shop:{world.shop}"] == 6_000
    async with engine.begin() as conn:
        # What the sync does with a corrected line: new content, a new version.
        await conn.execute(
            update(OrderLine)
            .where(OrderLine.id == line)
            .values(paid_fen=9_000, unit_price_fen=4_500, version=OrderLine.version + 1)
        )
    assert (await run(engine)).trueups == 1
    assert (await ledger(engine))[f"receivable:shop:{world.shop}"] == 5_000
    after = await state(engine, line)
    assert Fraction(after.refunded_num, after.refunded_den) == Fraction(4, 9)
    await assert_verified(engine)
    async with engine.begin() as conn:
        await add_refund(conn, world, order, line, amount=5_000, at=PAID_AT.replace(day=7))
    await run(engine)
    assert await ledger(engine) == {}
    await assert_verified(engine)


async def test_a_new_host_moves_the_commission(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    _, line = await sold_line(engine, world)
    await run(engine)
    assert await ledger(engine) == named(world, SOLD_WITH_HOST_A)
    other = await unpaid_host(engine)
    async with engine.begin() as conn:
        await attribute(conn, world, line, other)
    stats = await run(engine)
    assert stats.trueups == 1
    # The commission goes back to the households and the cooperative, to the fen.
    assert await ledger(engine) == named(world, SOLD_WITH_HOST_B, host=other)
    await assert_verified(engine)


async def test_a_host_going_a_b_a_b_posts_three_true_ups(db_url: str, engine: AsyncEngine) -> None:
    """The line's inputs go A -> B -> A -> B: the third true-up has the first one's inputs, and
    must still post (its key counts the line's journals), leaving the ledger at B to the fen."""
    world = await world_of(engine)
    _, line = await sold_line(engine, world)
    other = await unpaid_host(engine)
    at_a, at_b = named(world, SOLD_WITH_HOST_A), named(world, SOLD_WITH_HOST_B, host=other)
    assert (await run(engine)).sales == 1
    assert await ledger(engine) == at_a
    for host, expected in ((other, at_b), (world.host, at_a), (other, at_b)):
        async with engine.begin() as conn:
            await attribute(conn, world, line, host)
        stats = await run(engine)
        assert (stats.sales, stats.trueups, stats.unchanged, stats.failed) == (0, 1, 0, 0)
        assert await ledger(engine) == expected
        assert (await state(engine, line)).desired_legs == expected
    stem = f"order-line:{world.shop}:{line}:v1"
    kinds, sources = zip(*await journals(engine), strict=True)
    assert kinds == (JournalKind.SALE, JournalKind.TRUE_UP, JournalKind.TRUE_UP, JournalKind.TRUE_UP)
    assert sources[0] == f"{stem}:sale"
    to_b, to_a, to_b_again = (source.removeprefix(f"{stem}:trueup:") for source in sources[1:])
    assert (to_b[:2], to_a[:2], to_b_again[:2]) == ("2.", "3.", "4.")
    assert to_b[2:] == to_b_again[2:] != to_a[2:]  # the same inputs, a different journal
    assert (await state(engine, line)).journal_seq == 4
    await assert_verified(engine)


async def test_the_policy_in_force_when_paid_applies(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(SplitPolicy).values(
                cooperative_id=world.coop,
                version=2,
                effective_from=date(2026, 4, 1),
                patronage_return_bp=6000,
                rules=rules(retention=5000, collective=0, bonus=0),
            )
        )
        _, (before,) = await add_order(conn, world, [(world.coop_sku, 1, 10_000)])
        _, (after,) = await add_order(conn, world, [(world.coop_sku, 1, 10_000)], paid_at=PAID_AT + timedelta(days=40))
        await draw(conn, before, world.lots[0], 1)
        await draw(conn, after, world.lots[0], 1)
    await run(engine)
    a, b = await state(engine, before), await state(engine, after)
    # One unit each, no host: net 10,000 - 500 - 60 - 800 = 8,640 (the estimates of both versions).
    # Version 1 (8% / 5% / 3% bonus): pools floor 691 / 432 / 259 / 7,257 (+1 to retention);
    # households 4,583 / 2,062 / 611 (+1); bonus 228 / 30 (+1); guarantees 1,200 / 450 / 0.
    paid_in_march = {
        "receivable": 10_000,
        "platform_fee": -500,
        "payment_fee": -60,
        "logistics": -800,
        "retained": -694,
        "collective": -432,
        "H1:advance": -1_200,
        "H1": -3_383,
        "H1:bonus": -228,
        "H2:advance": -450,
        "H2": -1_612,
        "H3": -611,
        "H3:bonus": -30,
    }
    # Version 2 (50% retained, nothing else): 4,320 each; households 2,728 / 1,227 / 363 of 4,320
    # (+2 to retention).
    paid_in_april = {
        "receivable": 10_000,
        "platform_fee": -500,
        "payment_fee": -60,
        "logistics": -800,
        "retained": -4_322,
        "H1:advance": -1_200,
        "H1": -1_528,
        "H2:advance": -450,
        "H2": -777,
        "H3": -363,
    }
    assert a.desired_legs == named(world, paid_in_march)
    assert b.desired_legs == named(world, paid_in_april)
    both = {name: paid_in_march.get(name, 0) + paid_in_april.get(name, 0) for name in paid_in_march}
    assert await ledger(engine) == named(world, both)
    await assert_verified(engine)


async def test_refunds_by_quantity_and_amount_reverse_pro_rata_to_zero(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    order, line = await sold_line(engine, world, paid=9_999, quantity=4)
    async with engine.begin() as conn:
        early = await add_refund(conn, world, order, line, quantity=1, at=PAID_AT.replace(day=6))
    before_posting = await ledger(engine)
    assert before_posting == {}
    stats = await run(engine)  # the sale and then the refund, in one pass
    assert (stats.sales, stats.refunds, stats.refund_journals) == (1, 1, 1)
    balance = await ledger(engine)
    assert balance[f"receivable:shop:{world.shop}"] == 9_999 - 2_500  # a quarter of 9999, largest remainder
    async with engine.connect() as conn:
        folded = (await conn.execute(select(RefundPosting.refund_id, RefundPosting.occurred_at))).one()
    assert folded == (early, PAID_AT.replace(day=6))
    async with engine.begin() as conn:
        await add_refund(conn, world, order, line, amount=9_999 - 2_500)
    assert (await run(engine)).refunds == 1
    assert await ledger(engine) == {}  # every account back where it was before the sale
    await assert_verified(engine)


async def test_a_refund_waits_for_its_sale_and_one_beyond_the_line_fails(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        order, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 1_000)])
        await add_refund(conn, world, order, line, amount=600)
    stats = await run(engine)
    assert (stats.waiting_lots, stats.refunds) == (1, 0)  # not posted yet: the refund waits
    async with engine.begin() as conn:
        await draw(conn, line, world.lots[0], 1)
        await add_refund(conn, world, order, line, amount=600, at=PAID_AT.replace(day=7))
    stats = await run(engine)
    assert (stats.sales, stats.refunds, stats.failed) == (1, 1, 1)
    failed = await state(engine, line)
    assert failed.status == "failed" and failed.reason is not None and "within the line" in failed.reason
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(RefundPosting)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_workers_post_each_line_once(db_url: str, engine: AsyncEngine) -> None:
    world = await world_of(engine)
    async with engine.begin() as conn:
        for _ in range(60):
            _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 1_000)])
            await draw(conn, line, world.lots[0], 1)
        await run_discovery(conn)

    async def worker() -> PostingStats:
        async with engine.begin() as conn:
            stats = await post_lines(conn, limit=40)
            await asyncio.sleep(0.2)  # hold the row locks while the other worker runs
            return stats

    first, second = await asyncio.gather(worker(), worker())
    assert first.sales + second.sales == 60
    assert first.sales and second.sales
    rest = await run(engine)
    assert rest.sales == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Journal)) == 60
    await assert_verified(engine)


@pytest.mark.parametrize(
    ("host_id", "policy_version", "draws"),
    [(None, None, {7: 1}), (3, 2, {7: 2, 9: 1}), (3, 1, {9: 5})],
)
def test_the_fingerprint_hashes_the_sorted_json_of_the_inputs(
    host_id: int | None, policy_version: int | None, draws: dict[int, int]
) -> None:
    """The fingerprint assembled with per-batch caching is byte for byte json.dumps(sort_keys=True)."""
    import hashlib
    import json
    from datetime import UTC, datetime
    from fractions import Fraction

    from bangfu.enums import HouseholdCategory, SupplierKind
    from bangfu.split import Contribution, LineFees
    from workers.posting import BatchCache, LineInputs, LineState, fingerprint, fingerprint_doc

    now = datetime(2026, 9, 1, tzinfo=UTC)
    state = LineState(
        la_id=1,
        line_id=2,
        shop_id=3,
        input_rev=1,
        status="pending",
        fingerprint=None,
        desired=None,
        sale_version=None,
        journal_seq=0,
        refunded=Fraction(0),
        line_version=1,
        bill_lines=0,
        version=1,
        order_id=4,
        platform_line_id="A-1",
        sku_id=5,
        quantity=2,
        paid_fen=19_900,
        paid_at=now,
        order_modified_at=now,
        supplier_id=6,
        supplier_kind=SupplierKind.COOPERATIVE,
        cooperative_id=8,
    )
    lots = {
        7: [
            Contribution(11, HouseholdCategory.LIFTED, 30, "一级", 500),
            Contribution(12, HouseholdCategory.ORDINARY, 10, "B"),
        ],
        9: [Contribution(12, HouseholdCategory.ORDINARY, 5, "A", 700)],
    }
    inp = LineInputs(
        host_id=host_id, draws=draws, lots={lot: lots[lot] for lot in draws}, policy_version=policy_version
    )
    fees = LineFees(platform_fee_fen=100, payment_fee_fen=12, host_commission_fen=0, logistics_fen=800)
    doc = fingerprint_doc(state, inp, fees, host_id, "estimate")
    expected = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    cache = BatchCache()
    assert fingerprint(state, inp, fees, host_id, "estimate", cache) == expected
    assert cache.lots_json  # the second time round the draws' part comes from the cache
    assert fingerprint(state, inp, fees, host_id, "estimate", cache) == expected
    assert fingerprint(state, inp, fees, host_id, "estimate") == expected
