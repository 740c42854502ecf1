"""Purchasing units: the unit's own progress, the county's and admin's list, isolation, API."""

from __future__ import annotations

import io
import re
from datetime import date

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from bangfu.models import PurchasingUnit, User
from bangfu.reports.base import parse_period
from bangfu.reports.reserved import reserved_share
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, login

YEAR = 2026


async def _ids(world: World) -> tuple[int, int, dict[str, object]]:
    """The unit user's unit, another unit, and the report's row for the unit user's unit."""
    from datetime import UTC, datetime

    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            own = await conn.scalar(select(User.unit_id).where(User.name == "unit"))
            other = await conn.scalar(select(PurchasingUnit.id).where(PurchasingUnit.id != own).limit(1))
            code = await conn.scalar(select(PurchasingUnit.code).where(PurchasingUnit.id == own))
            report = await reserved_share(conn, parse_period(str(YEAR), now=datetime.now(UTC)))
    finally:
        await engine.dispose()
    row = next(r for r in report.rows if r["code"] == code)
    assert own is not None and other is not None
    return int(own), int(other), row


async def test_unit_sees_its_progress_as_the_report_says(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    own, other, row = await _ids(world)
    await login(client, "unit")
    page = await client.get(f"/units/{own}?year={YEAR}")
    text = await page.text()
    assert page.status == 200 and "预留份额" in text
    from bangfu.money import format_yuan

    assert format_yuan(int(row["target"])) in text  # type: ignore[call-overload]
    assert format_yuan(int(row["executed"])) in text  # type: ignore[call-overload]
    assert (await client.get(f"/units/{other}")).status == 404
    assert (await client.get("/units")).status == 404
    assert (await client.get("/units/99999999")).status == 404
    assert (await client.get(f"/units/{own}?year=abc")).status == 400
    token = await api_token(world.url, "unit")
    headers = {"Authorization": f"Bearer {token}"}
    data = await (await client.get(f"/api/v1/units/{own}?year={YEAR}", headers=headers)).json()
    assert data["executed_fen"] == row["executed"] and data["target_fen"] == row["target"]
    assert sum(m["executed_fen"] for m in data["monthly"]) == row["executed"]
    missing = await client.get(f"/api/v1/units/{other}", headers=headers)
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"


async def test_county_and_admin_list_units_and_export(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    own, _, row = await _ids(world)
    await login(client, "admin")
    page = await client.get(f"/units?year={YEAR}")
    assert page.status == 200 and str(row["unit"]) in await page.text()
    # The county office sees the units of its own region only: the demo's buyers are elsewhere
    # (donor cities), so the unit user's unit is not on its list, and its page is a 404.
    client.session.cookie_jar.clear()
    await login(client, "county")
    page = await client.get(f"/units?year={YEAR}")
    assert page.status == 200 and str(row["unit"]) not in await page.text()
    assert (await client.get(f"/units/{own}")).status == 404
    client.session.cookie_jar.clear()
    await login(client, "admin")
    export = await client.get(f"/units?year={YEAR}&format=xlsx")
    assert export.status == 200
    sheet = load_workbook(io.BytesIO(await export.read())).active
    assert sheet is not None and "预留份额" in str(sheet["A1"].value) and sheet.freeze_panes == "A4"
    assert (await client.get(f"/units?year={YEAR}&format=pdf")).status == 400
    for name in ("host", "coop", "operator"):
        client.session.cookie_jar.clear()
        await login(client, name)
        assert (await client.get("/units")).status == 404
        assert (await client.get(f"/units/{own}")).status == 404


async def test_only_certified_lines_count_and_the_parts_add_up(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    """Executed is the 帮扶 part (products certified on the day of sale); uncertified lines and
    shipping are on their own lines, and the three add up to the orders' paid net of refunds."""
    from sqlalchemy import func

    from bangfu.enums import RefundStatus
    from bangfu.models import Order, Refund
    from bangfu.queries.units import unit_progress
    from bangfu.reports.base import local_midnight
    from bangfu.scope import Scope

    own, _, row = await _ids(world)
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            report = await reserved_share(conn, parse_period(str(YEAR), now=local_midnight(date(YEAR, 6, 1))))
            start, end = local_midnight(date(YEAR, 1, 1)), local_midnight(date(YEAR + 1, 1, 1))
            in_year = (Order.paid_at >= start, Order.paid_at < end, Order.purchasing_unit_id.is_not(None))
            paid = await conn.scalar(select(func.sum(Order.paid_fen)).where(*in_year))
            refunded = await conn.scalar(
                select(func.coalesce(func.sum(Refund.amount_fen), 0))
                .join(Order, (Refund.shop_id == Order.shop_id) & (Refund.platform_order_id == Order.platform_order_id))
                .where(*in_year, Refund.status == RefundStatus.SUCCEEDED)
            )
            progress = await unit_progress(conn, Scope.admin(), own, YEAR, limit=100_000)
            page2 = await unit_progress(conn, Scope.admin(), own, YEAR, offset=3, limit=4)
            newest_first = [
                (int(oid), int(fen))
                for oid, fen in await conn.execute(
                    select(Order.id, Order.paid_fen)
                    .where(*in_year, Order.purchasing_unit_id == own)
                    .order_by(Order.paid_at.desc(), Order.id.desc())
                )
            ]
    finally:
        await engine.dispose()
    for r in report.rows:
        assert r["executed"] + r["uncertified"] + r["order_level"] == r["purchases"], r
    totals = report.totals
    assert totals is not None and paid is not None and refunded is not None
    # Every unit's purchases are the orders' paid net of refunds (what executed was before the rule) ...
    assert totals["purchases"] == int(paid) - int(refunded)
    # ... and the demo's unit orders carry uncertified products, so the rule changes the figure.
    assert totals["uncertified"] > 0 and 0 < totals["executed"] < totals["purchases"]
    assert progress is not None and progress.unit.executed_fen == row["executed"]
    assert sum(o.certified_fen for o in progress.orders) == row["executed"]
    assert sum(fen for _, fen in progress.monthly) == row["executed"]
    # The order list: every order of the unit's year, newest first, paged.
    assert progress.orders_total == len(newest_first) == len(progress.orders) > 7
    assert [(o.order_id, o.paid_fen) for o in progress.orders] == newest_first
    assert page2 is not None and page2.orders_total == len(newest_first)
    assert [o.order_id for o in page2.orders] == [oid for oid, _ in newest_first[3:7]]

    await login(client, "unit")
    text = await (await client.get(f"/units/{own}?year={YEAR}")).text()
    parts = {k: int(v) for k, v in re.findall(r'data-part="(\w+)" data-fen="(-?\d+)"', text)}
    assert parts == {
        "certified": row["executed"],
        "uncertified": row["uncertified"],
        "order_level": row["order_level"],
        "purchases": row["purchases"],
    }
    token = await api_token(world.url, "unit")
    data = await (
        await client.get(f"/api/v1/units/{own}?year={YEAR}", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert data["executed_fen"] + data["uncertified_fen"] + data["order_level_fen"] == data["purchases_fen"]
    assert data["purchases_fen"] == row["purchases"]
