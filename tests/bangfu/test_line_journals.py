"""An order line's journals (the line page, ``bangfu.queries.ledger._line_journals``) are found
by the line id in their source events on PostgreSQL (``ix_journals_order_line``) and among the
journals of the days the line has journals on (``journal_line_days``) on SQLite, not among every
journal since the payment: on the demo county on both backends they are exactly the journals whose
source event names the line, for the lines with refunds and for others, and a true-up posted on
a later day than any of the line's journals is found too."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.ledger import Journal, Posting, household_account, journal_uid, post, receivable_account
from bangfu.models import Household, OrderLine, Refund
from bangfu.models import Journal as JournalRow
from bangfu.queries.ledger import order_line
from bangfu.reports.base import parse_line_event
from bangfu.scope import Scope
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World


async def _by_source(conn: AsyncConnection) -> dict[int, set[int]]:
    """Every journal whose source event names a line, by line (the definition, read whole)."""
    out: dict[int, set[int]] = defaultdict(set)
    for jid, source in await conn.execute(select(JournalRow.id, JournalRow.source_event)):
        line = parse_line_event(source)
        if line is not None:
            out[line].add(int(jid))
    return out


async def _shown(conn: AsyncConnection, line_id: int) -> set[int]:
    view = await order_line(conn, Scope.admin(), line_id)
    assert view is not None
    return {j.id for j in view.journals}


async def test_a_lines_journals_are_those_naming_it(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        refunded = [int(i) for i in await conn.scalars(select(Refund.order_line_id).distinct().limit(40)) if i]
        others = [int(i) for i in await conn.scalars(select(OrderLine.id).order_by(OrderLine.id.desc()).limit(40))]
        assert refunded, "the demo county has refunds (else the check proves less)"
        expected = await _by_source(conn)
        for line in [*refunded, *others]:
            assert await _shown(conn, line) == expected.get(line, set()), line

        # A true-up of a line, posted three days after the line's last journal.
        line = refunded[0]
        shop, last = (
            await conn.execute(
                select(OrderLine.shop_id, func.max(JournalRow.occurred_at))
                .join(JournalRow, JournalRow.id.in_(expected[line]))
                .where(OrderLine.id == line)
                .group_by(OrderLine.shop_id)
            )
        ).one()
        household = await conn.scalar(select(Household.id).limit(1))
        assert household is not None
        event = f"order-line:{shop}:{line}:v97:trueup:test"
        legs = (Posting(receivable_account(int(shop)), 300), Posting(household_account(int(household)), -300))
        try:
            when = last + timedelta(days=3)
            await post(conn, [Journal(journal_uid(event), JournalKind.TRUE_UP, event, when, legs)])
            trueup = await conn.scalar(select(JournalRow.id).where(JournalRow.source_event == event))
            assert trueup is not None
            assert await _shown(conn, line) == expected[line] | {int(trueup)}
        finally:
            await conn.rollback()

    await with_conn(store, check)
