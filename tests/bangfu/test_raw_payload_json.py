"""Migration 0051 on PostgreSQL: the platform payloads of orders, refunds and settlement lines go
from ``jsonb`` to ``json`` and back without a payload changing (as parsed JSON), those written
by the hub's orders statement and by its other upserts included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import ChannelType, OrderStatus, PlatformKind, RefundStatus, SettlementKind
from bangfu.models import Order, Refund, SettlementLine, Shop
from bangfu.store import _alembic_config, make_engine, upgrade

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TABLES = ("orders", "refunds", "settlement_lines")

# What jsonb and json keep differently: key order, white space, exact decimals, numbers beyond
# 64 bits, escapes, text outside the BMP, JSON null, empty containers.
PAYLOADS: list[Any] = [
    {"z": 1, "a": {"price": 29.9, "数量": 2, "big": 2**70, "tiny": -1.5e-7}, "memo": '高山土豆 🥔\n"\\/\u2028'},
    {"items": [{"sku": "S1", "price": "29.90"}, [], {}], "flags": [True, False, None], "": 0},
    None,
    {},
]


async def _payloads(conn: AsyncConnection) -> dict[tuple[str, int], Any]:
    """Each row's payload, parsed from PostgreSQL's text of it (not through the driver's codec)."""
    found = {}
    for table in TABLES:
        for row_id, raw in await conn.execute(text(f"SELECT id, raw::text FROM {table} ORDER BY id")):
            found[table, row_id] = None if raw is None else json.loads(raw)
    return found


async def _types(conn: AsyncConnection) -> set[str]:
    rows = await conn.scalars(
        text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attname = 'raw' AND attrelid IN ('orders'::regclass, 'refunds'::regclass,"
            " 'settlement_lines'::regclass)"
        )
    )
    return set(rows)


async def _write(conn: AsyncConnection, shop: int, tag: str) -> None:
    for n, payload in enumerate(PAYLOADS):
        pid = f"{tag}{n}"
        common = {"shop_id": shop, "platform_order_id": pid, "raw": payload}
        await conn.execute(
            insert(Order).values(
                **common,
                status=OrderStatus.PAID,
                status_rank=3,
                platform_status="2",
                created_at=AT,
                modified_at=AT,
                paid_at=AT,
                paid_fen=5980,
            )
        )
        await conn.execute(
            insert(Refund).values(
                **common,
                platform_refund_id=pid,
                status=RefundStatus.SUCCEEDED,
                platform_status="x",
                amount_fen=100,
                created_at=AT,
                modified_at=AT,
            )
        )
        await conn.execute(
            insert(SettlementLine).values(
                **common, platform_bill_id=pid, kind=SettlementKind.SALE, amount_fen=5980, settled_at=AT
            )
        )


def _migrate(connection: Connection, revision: str, down: bool) -> None:
    from alembic import command

    (command.downgrade if down else command.upgrade)(_alembic_config(connection), revision)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_payloads_survive_0051_up_and_down(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, "0050")
        async with engine.begin() as conn:
            shop = (
                await conn.execute(
                    insert(Shop)
                    .values(
                        name="店",
                        platform=PlatformKind.DOUYIN,
                        channel_type=ChannelType.LIVE,
                        platform_shop_id="s",
                        settings={},
                    )
                    .returning(Shop.id)
                )
            ).scalar_one()
            assert await _types(conn) == {"jsonb"}
            await _write(conn, shop, "A")
            before = await _payloads(conn)
        for table in TABLES:
            assert [v for (t, _), v in before.items() if t == table] == PAYLOADS

        await upgrade(engine)
        async with engine.begin() as conn:
            assert await _types(conn) == {"json"}
            assert await _payloads(conn) == before
            await _write(conn, shop, "B")  # written as json: kept as the hub's text
            # A payload the jsonb type would have rewritten: duplicate keys (the last one wins as
            # JSON, and in jsonb), white space.
            await conn.execute(
                text("UPDATE orders SET raw = '{\"k\" : 1,  \"k\": [2]}'::json WHERE platform_order_id = 'B3'")
            )
            after = await _payloads(conn)
        assert len(after) == 2 * len(before)
        assert {k: v for k, v in after.items() if k in before} == before

        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0050", True)
        async with engine.begin() as conn:
            assert await _types(conn) == {"jsonb"}
            assert await _payloads(conn) == after

        await upgrade(engine)
        async with engine.begin() as conn:
            assert await _types(conn) == {"json"}
            assert await _payloads(conn) == after
    finally:
        await engine.dispose()
