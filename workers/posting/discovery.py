"""Posting's discovery: state rows for paid lines, and lines made due by new inputs.

Reads the change queue (:mod:`workers.changes`) with set-based statements; see
:func:`discover`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import (
    LineAccounting,
    LineChange,
    Order,
    OrderLine,
    SettlementLine,
    order_is_paid,
)
from bangfu.store import among
from workers import changes
from workers.posting.rules import PENDING


async def discover(conn: AsyncConnection, *, shop_id: int | None = None, chunk: int = 20_000) -> tuple[int, int]:
    """Create state rows for paid lines without one; make lines with new inputs due.

    Reads the lines that the change queue (:mod:`workers.changes`) holds for posting, ``chunk``
    queue rows at a time, with three set-based statements per chunk; a queue row is settled
    once its line needs no discovery. Returns (rows created, lines bumped).
    """
    created = bumped = 0
    after = 0
    while True:
        queued = await changes.take(conn, changes.POST, shop_id=shop_id, limit=chunk, after=after)
        if not queued:
            break
        after = queued[-1][0]
        made, moved = await _discover_lines(conn, sorted({line_id for _row, line_id in queued}))
        created += made
        bumped += moved
        await changes.settle(conn, changes.POST, [row for row, _line_id in queued], _discovery_due())
        if len(queued) < chunk:
            break
    return created, bumped


def _bill_count() -> Any:
    """Settlement lines of the line's order (correlated to ``Order``)."""
    return (
        select(func.count(SettlementLine.id))
        .where(SettlementLine.shop_id == Order.shop_id, SettlementLine.platform_order_id == Order.platform_order_id)
        .scalar_subquery()
    )


def discovery_due() -> Any:
    """``SELECT`` of the lines discovery would act on: paid, and without a state row, or with a
    newer version or more settlement lines than their state row has seen."""
    return (
        select(OrderLine.id)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(LineAccounting, LineAccounting.order_line_id == OrderLine.id)
        .where(
            order_is_paid(),
            or_(
                LineAccounting.id.is_(None),
                OrderLine.version > LineAccounting.line_version,
                _bill_count() > LineAccounting.bill_lines,
            ),
        )
    )


def _discovery_due() -> Any:
    return exists(discovery_due().where(OrderLine.id == LineChange.order_line_id))


async def _discover_lines(conn: AsyncConnection, line_ids: Sequence[int]) -> tuple[int, int]:
    """Discovery for the lines ``line_ids``: three set-based statements."""
    now = datetime.now(UTC)
    paid = select(
        OrderLine.id,
        OrderLine.shop_id,
        OrderLine.version,
        literal(1),
        literal(0),
        literal(PENDING),
        literal(0),
        literal(now, LineAccounting.updated_at.type),
        literal(0),
        literal(0),
        literal(1),
        literal(0),
    ).join(Order, Order.id == OrderLine.order_id)
    paid = paid.where(
        among(conn, OrderLine.id, line_ids),
        order_is_paid(),
        ~exists().where(LineAccounting.order_line_id == OrderLine.id),
    )
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    created = await conn.execute(
        dialect_insert(LineAccounting)
        .from_select(
            [
                "order_line_id",
                "shop_id",
                "line_version",
                "input_rev",
                "posted_rev",
                "status",
                "bill_lines",
                "updated_at",
                "journal_seq",
                "refunded_num",
                "refunded_den",
                "checked_rev",
            ],
            paid.order_by(OrderLine.id),
        )
        .on_conflict_do_nothing(index_elements=["order_line_id"])
    )
    pg = conn.dialect.name == "postgresql"

    # A newer line version (paid amount, SKU, refund state changed).
    stale = select(LineAccounting.id).join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
    stale = stale.where(
        among(conn, LineAccounting.order_line_id, line_ids), OrderLine.version > LineAccounting.line_version
    ).correlate(None)
    if pg:
        stale = stale.with_for_update(skip_locked=True, of=LineAccounting)
    newer = select(OrderLine.version).where(OrderLine.id == LineAccounting.order_line_id).scalar_subquery()
    bumped_version = await conn.execute(
        update(LineAccounting)
        .where(LineAccounting.id.in_(stale.scalar_subquery()))
        .values(input_rev=LineAccounting.input_rev + 1, line_version=newer, updated_at=now)
        .execution_options(synchronize_session=False)
    )

    # More settlement lines for the line's order than the line has seen.
    counts = (
        select(OrderLine.id.label("line_id"), func.count(SettlementLine.id).label("n"))
        .join(Order, Order.id == OrderLine.order_id)
        .join(
            SettlementLine,
            and_(SettlementLine.shop_id == Order.shop_id, SettlementLine.platform_order_id == Order.platform_order_id),
        )
        .where(among(conn, OrderLine.id, line_ids))
        .group_by(OrderLine.id)
    )
    bills = counts.subquery()
    unseen = select(LineAccounting.id).join(bills, bills.c.line_id == LineAccounting.order_line_id)
    unseen = unseen.where(bills.c.n > LineAccounting.bill_lines).correlate(None)
    if pg:
        unseen = unseen.with_for_update(skip_locked=True, of=LineAccounting)
    seen = select(bills.c.n).where(bills.c.line_id == LineAccounting.order_line_id).scalar_subquery()
    bumped_bills = await conn.execute(
        update(LineAccounting)
        .where(LineAccounting.id.in_(unseen.scalar_subquery()))
        .values(input_rev=LineAccounting.input_rev + 1, bill_lines=seen, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return created.rowcount or 0, (bumped_version.rowcount or 0) + (bumped_bills.rowcount or 0)
