"""``bangfu verify``: the invariants hold after posting, and each one catches its own breakage."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import insert, text, update
from typer.testing import CliRunner

from bangfu.cli.app import app
from bangfu.enums import AccountKind, JournalKind
from bangfu.ledger import journal_uid
from bangfu.models import (
    CooperativeLineFact,
    HouseholdDailyIncome,
    HouseholdMonthlyIncome,
    Journal,
    LedgerAccount,
    LineAccounting,
    Posting,
    SupplyLot,
)
from bangfu.store import make_engine
from tests.workers.accounting_seed import PAID_AT, World, add_order, add_refund, draw, seed
from workers.posting import post_lines, post_refunds
from workers.verify import verify


async def _posted(url: str) -> tuple[World, int]:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            world = await seed(conn)
            order, (line, _other) = await add_order(
                conn, world, [(world.coop_sku, 3, 9_001), (world.enterprise_sku, 1, 2_000)]
            )
            await draw(conn, line, world.lots[0], 3)
            await add_refund(conn, world, order, line, quantity=1)
            await post_lines(conn)
            await post_refunds(conn)
        return world, line
    finally:
        await engine.dispose()


async def _failed(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            report = await verify(conn)
        return {check.name for check in report.checks if not check.ok}
    finally:
        await engine.dispose()


def _verify_cli(url: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", "--db", url, *extra])
    return result.exit_code, result.stdout


def test_a_posted_ledger_verifies(db_url: str) -> None:
    asyncio.run(_posted(db_url))
    code, out = _verify_cli(db_url, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert {c["name"] for c in report["checks"]} >= {
        "journal_chain",
        "adjustments_recorded",
        "journals_balanced",
        "ledger_total_zero",
        "source_events_unique",
        "lines_match_state",
        "lines_match_inputs",
        "lot_remaining",
        "no_negative_remaining",
        "refunds_within_paid",
        "due_lines_queued",
        "cooperative_facts_match_ledger",
        "household_income_matches_ledger",
        "household_monthly_income_matches_ledger",
    }
    assert all(set(c) == {"name", "ok", "count", "details"} for c in report["checks"])
    head = report["head"]
    assert head["journal_id"] > 0 and len(head["hash"]) == 64
    code, out = _verify_cli(db_url)
    assert code == 0 and "账本校验" in out and f"{head['journal_id']}:{head['hash']}" in out


def test_each_breakage_is_caught(db_url: str, owner_db_url: str) -> None:
    """Tampering as the owner (the hub's own role may not disable a trigger): each check catches
    its own breakage, and the hash chain catches the journal written behind the ledger's back."""
    world, line = asyncio.run(_posted(db_url))

    async def tamper() -> None:
        engine = make_engine(owner_db_url)
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
                    await conn.execute(text("ALTER TABLE postings DISABLE TRIGGER postings_checked"))
                    await conn.execute(text("ALTER TABLE journals DISABLE TRIGGER journals_balanced"))
                account = await conn.scalar(
                    insert(LedgerAccount)
                    .values(code="adjust:x", name="x", kind=AccountKind.EXPENSE)
                    .returning(LedgerAccount.id)
                )
                journal = await conn.scalar(
                    insert(Journal)
                    .values(
                        uid=journal_uid("surplus:1:2026"),
                        kind=JournalKind.SURPLUS,
                        source_event="surplus:1:2026",
                        occurred_at=PAID_AT,
                        chain_hash="0" * 64,
                    )
                    .returning(Journal.id)
                )
                await conn.execute(insert(Posting).values(journal_id=journal, account_id=account, amount_fen=5))
                await conn.execute(update(SupplyLot).where(SupplyLot.id == world.lots[0]).values(remaining=1))
                await conn.execute(
                    update(LineAccounting).where(LineAccounting.order_line_id == line).values(refunded_num=0)
                )
                # the pages' pre-aggregates, one fen off the ledger each
                facts = await conn.execute(
                    update(CooperativeLineFact)
                    .where(CooperativeLineFact.order_line_id == line)
                    .values(sales=CooperativeLineFact.sales + 1)
                )
                income = await conn.execute(
                    update(HouseholdDailyIncome).values(trade_fen=HouseholdDailyIncome.trade_fen + 1)
                )
                monthly = await conn.execute(
                    update(HouseholdMonthlyIncome).values(surplus_fen=HouseholdMonthlyIncome.surplus_fen - 1)
                )
                assert facts.rowcount and income.rowcount, "the posted line has no facts or income rows to tamper"
                assert monthly.rowcount, "the posted line has no monthly income rows to tamper"
        finally:
            await engine.dispose()

    asyncio.run(tamper())
    assert asyncio.run(_failed(db_url)) == {
        "journal_chain",
        "journals_balanced",
        "ledger_total_zero",
        "lot_remaining",
        "lines_match_state",
        "cooperative_facts_match_ledger",
        "household_income_matches_ledger",
        "household_monthly_income_matches_ledger",
    }
    code, out = _verify_cli(db_url, "--json")
    assert code == 1 and json.loads(out)["ok"] is False
