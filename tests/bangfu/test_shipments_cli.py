"""``bangfu shipments add`` / ``import``: a shipment recorded by platform order id; a file is all
or nothing and a bad row is named file:row:field; the Celery task pushes the due shipments
(none here: an own-mall order is local)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bangfu.enums import ChannelType, OrderStatus, PlatformKind, ShipmentState
from bangfu.models import Order, Shipment, Shop
from bangfu.store import make_engine, session_factory
from tests.bangfu.test_cli_users import Ran
from workers.tasks import push_shipments

AT = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


def bangfu(*args: str) -> Ran:
    """``bangfu ...`` in-process."""
    from typer.testing import CliRunner

    from bangfu.cli.app import app

    result = CliRunner().invoke(app, list(args))
    return Ran(result.exit_code, result.stdout, result.stderr)


async def _seed(url: str) -> None:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            shop = Shop(
                name="县自营商城",
                platform=PlatformKind.SELFMALL,
                channel_type=ChannelType.SELFMALL,
                platform_shop_id="mall",
                settings={},
            )
            session.add(shop)
            await session.flush()
            for number in ("M001", "M002", "M003"):
                session.add(
                    Order(
                        shop_id=shop.id,
                        platform_order_id=number,
                        status=OrderStatus.PAID,
                        status_rank=OrderStatus.PAID.rank,
                        platform_status="paid",
                        created_at=AT,
                        paid_at=AT,
                        modified_at=AT,
                        paid_fen=100,
                    )
                )
    finally:
        await engine.dispose()


async def _shipments(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Order.platform_order_id, Shipment.tracking_no, Shipment.push_state)
                .join(Order, Order.id == Shipment.order_id)
                .order_by(Order.platform_order_id)
            )
            return [(r[0], r[1], ShipmentState(r[2]).value) for r in rows]
    finally:
        await engine.dispose()


def test_add_and_import(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/h.db"
    assert bangfu("db", "upgrade", "--db", url).returncode == 0
    asyncio.run(_seed(url))
    added = bangfu(
        "--lang", "en", "shipments", "add", "M001", "--carrier", "ems", "--tracking", "EMS123456789", "--db", url
    )
    assert added.returncode == 0, added.stderr
    assert "EMS EMS123456789" in added.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("订单号,快递公司,运单号\nM002,SF,SF1234567890\nM003,UPS,1Z123456789\n", encoding="utf-8")
    refused = bangfu("--lang", "en", "shipments", "import", str(bad), "--db", url)
    assert refused.returncode == 2
    assert f"{bad}:3:carrier" in refused.stderr and "unknown carrier" in refused.stderr
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("order,carrier,tracking\nM404,SF,SF1234567890\n", encoding="utf-8")
    assert f"{unknown}:2:order: no order M404" in bangfu("shipments", "import", str(unknown), "--db", url).stderr
    assert asyncio.run(_shipments(url)) == [("M001", "EMS123456789", "local")]  # nothing of the bad files
    good = tmp_path / "good.csv"
    good.write_text("order,carrier,tracking\nM002,SF,SF1234567890\nM003,zto,ZT1234567890\n", encoding="utf-8")
    imported = bangfu("--lang", "en", "shipments", "import", str(good), "--db", url)
    assert imported.returncode == 0, imported.stderr
    assert "2 shipments recorded" in imported.stdout
    assert asyncio.run(_shipments(url)) == [
        ("M001", "EMS123456789", "local"),
        ("M002", "SF1234567890", "local"),
        ("M003", "ZT1234567890", "local"),
    ]
    assert push_shipments(database_url=url) == {}
