"""A household's statement and its paged journals against the ledger, journal by journal.

The statement is summed in SQL and the journals page reads one page with the count and totals of
every page summed apart; here both are checked against the household's postings booked one by one
in Python, on both backends.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.models import Household, Journal, LedgerAccount, OrderLine, Posting, Product, Sku
from bangfu.queries import households as qh
from bangfu.reports.base import SHANGHAI, Period, local_month, parse_line_event, parse_period
from bangfu.reports.households import INCOME_JOURNALS
from bangfu.scope import Scope
from bangfu.store import make_engine
from tests.web.conftest import World


def _period() -> Period:
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    start, end = (today - timedelta(days=40)).isoformat(), today.isoformat()
    return parse_period(None, start, end, now=datetime.now(UTC))


async def _ledger(conn: AsyncConnection, household_id: int, period: Period) -> list[dict[str, Any]]:
    """The household's income journals in ``period`` from its postings, booked one leg at a time."""
    codes = [f"household:{household_id}", f"household:{household_id}:bonus", f"household:{household_id}:advance"]
    rows = await conn.execute(
        select(
            Journal.id,
            Journal.kind,
            Journal.occurred_at,
            Journal.source_event,
            local_month(conn, Journal.occurred_at),
            LedgerAccount.code,
            Posting.amount_fen,
        )
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.code.in_(codes),
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
    )
    found: dict[int, dict[str, Any]] = {}
    for jid, kind_of, at, source, month, code, amount in rows:
        kind = kind_of.value if isinstance(kind_of, JournalKind) else str(kind_of)
        e = found.setdefault(int(jid), {"id": int(jid), "kind": kind, "at": at, "source": source, "month": month})
        legs = e.setdefault("legs", qh.Legs())
        income = -int(amount)
        if kind == JournalKind.REFUND.value:
            legs.refunds += income
        elif kind == JournalKind.SURPLUS.value:
            legs.surplus += income
        elif code.endswith(":advance"):
            legs.guaranteed += income
        elif code.endswith(":bonus"):
            legs.bonus += income
        else:
            legs.rebate += income
    names = {
        int(lid): pname or title
        for lid, pname, title in await conn.execute(
            select(OrderLine.id, Product.name, OrderLine.title)
            .outerjoin(Sku, Sku.id == OrderLine.sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
        )
    }
    for e in found.values():
        line = parse_line_event(e["source"])
        e["product"] = names.get(line, "") if line is not None else ""
    return sorted(found.values(), key=lambda e: (e["at"], e["id"]))


async def test_statement_and_journal_pages_equal_the_ledger(world: World) -> None:
    period = _period()
    scope = Scope.admin()
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            busiest = (
                await conn.execute(
                    select(LedgerAccount.owner_id)
                    .join(Posting, Posting.account_id == LedgerAccount.id)
                    .where(LedgerAccount.owner_type == "household")
                    .group_by(LedgerAccount.owner_id)
                    .order_by(func.count().desc(), LedgerAccount.owner_id)
                    .limit(3)
                )
            ).all()
            quiet = await conn.scalar(
                select(Household.id).where(
                    Household.id.notin_(select(LedgerAccount.owner_id).where(LedgerAccount.owner_type == "household"))
                )
            )
            households = [int(h) for (h,) in busiest if h is not None] + ([int(quiet)] if quiet is not None else [])
            longest = 0
            for household_id in households:
                ledger = await _ledger(conn, household_id, period)
                longest = max(longest, len(ledger))
                totals = qh.Legs()
                groups: dict[tuple[str, str], tuple[qh.Legs, list[int]]] = {}
                for e in ledger:
                    totals.add(e["legs"])
                    legs, ids = groups.setdefault((str(e["month"]), e["product"]), (qh.Legs(), []))
                    legs.add(e["legs"])
                    ids.append(e["id"])

                s = await qh.statement(conn, scope, household_id, period)
                assert s is not None
                assert s.totals == totals
                assert [(r.month, r.product, r.legs, r.journals) for r in s.rows] == [
                    (m, p, legs, len(ids)) for (m, p), (legs, ids) in sorted(groups.items())
                ]
                months: dict[str, qh.Legs] = defaultdict(qh.Legs)
                for e in ledger:
                    months[str(e["month"])].add(e["legs"])
                assert s.months == sorted(months.items())

                whole = await qh.household_journals(conn, scope, household_id, period, offset=0, limit=10**9)
                assert whole is not None
                assert [(j.journal_id, j.kind, j.product, j.legs) for j in whole.rows] == [
                    (e["id"], e["kind"], e["product"], e["legs"]) for e in ledger
                ]
                assert (whole.matched, whole.totals) == (len(ledger), totals)
                paged = []
                for offset in range(0, len(ledger) + 3, 3):
                    page = await qh.household_journals(conn, scope, household_id, period, offset=offset, limit=3)
                    assert page is not None
                    assert (page.matched, page.totals) == (len(ledger), totals)  # every page's count and sums
                    paged += page.rows
                assert [j.journal_id for j in paged] == [e["id"] for e in ledger]
            assert longest > 3  # more than one page
    finally:
        await engine.dispose()
