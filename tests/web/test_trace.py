"""Traceability pages, their QR codes, lot label sheets and session campaign links (issue 16), on
the demo county of tests/web/conftest.py: what the public page shows (and never: a household's
name), 404 for unknown and expired codes, QR codes decoded back to their URL, and who may print
labels or see a session's link."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zxingcpp
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import func, select

from bangfu.models import (
    Certification,
    Household,
    LiveSession,
    LotContribution,
    Product,
    Sku,
    Supplier,
    SupplyLot,
    User,
)
from bangfu.settings import get_settings
from bangfu.store import make_engine
from bangfu.trace import is_trace_code
from bangfu.unsold import SHELF_DAYS
from tests.web.conftest import World, _client, csrf_of, login

PUBLIC = "https://bangfu.example.gov.cn"


@dataclass(frozen=True)
class LotFacts:
    lot_id: int
    trace_code: str
    lot_code: str
    product: str
    receiver: str
    households: int
    names: list[str]  # the delivering households' heads and member numbers
    certified: bool


async def lot_facts(url: str) -> LotFacts:
    """The lot with the most delivering households (ties: the lowest id)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            lot_id, n = (
                await conn.execute(
                    select(LotContribution.lot_id, func.count())
                    .group_by(LotContribution.lot_id)
                    .order_by(func.count().desc(), LotContribution.lot_id)
                    .limit(1)
                )
            ).one()
            row = (
                await conn.execute(
                    select(SupplyLot.trace_code, SupplyLot.lot_code, Product.name, Supplier.name, Product.id)
                    .join(Sku, Sku.id == SupplyLot.sku_id)
                    .join(Product, Product.id == Sku.product_id)
                    .join(Supplier, Supplier.id == SupplyLot.supplier_id)
                    .where(SupplyLot.id == lot_id)
                )
            ).one()
            people = (
                await conn.execute(
                    select(Household.head_name, Household.member_no)
                    .join(LotContribution, LotContribution.household_id == Household.id)
                    .where(LotContribution.lot_id == lot_id)
                )
            ).all()
            certified = await conn.scalar(select(func.count()).where(Certification.product_id == row[4]))
    finally:
        await engine.dispose()
    names = [p[0] for p in people] + [p[1] for p in people]
    return LotFacts(int(lot_id), row[0], row[1], row[2], row[3], int(n), names, bool(certified))


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("BANGFU_PUBLIC_URL", PUBLIC + "/")
    get_settings.cache_clear()
    yield PUBLIC
    get_settings.cache_clear()


@pytest.fixture
async def sqlite_client(sqlite_world: World) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A client on the SQLite world only, for tests whose point is not the backend."""
    async for c in _client(sqlite_world.url):
        yield c


def decode_qr(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, f"{len(found)} codes in the image"
    return str(found[0].text)


async def test_every_lot_of_the_demo_has_its_own_trace_code(world: World) -> None:
    """Lots made by the import path (the demo loads its lots as ``bangfu import lots`` does)."""
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            codes = list(await conn.scalars(select(SupplyLot.trace_code)))
            inspected = await conn.scalar(select(func.count()).where(SupplyLot.inspection_agency.is_not(None)))
            sessions = list(await conn.scalars(select(LiveSession.campaign_code)))
    finally:
        await engine.dispose()
    assert len(codes) > 50 and len(set(codes)) == len(codes) and all(is_trace_code(c) for c in codes)
    assert 0 < (inspected or 0) < len(codes)  # the demo inspects three lots in four
    assert sessions and None not in sessions and len(set(sessions)) == len(sessions)


async def test_the_public_page_tells_the_lot_without_a_login_and_names_nobody(
    client: TestClient,  # type: ignore[type-arg]
    world: World,
) -> None:
    lot = await lot_facts(world.url)
    response = await client.get(f"/t/{lot.trace_code}", allow_redirects=False)
    body = await response.text()
    assert response.status == 200, body[:300]
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    for shown in (lot.product, lot.lot_code, lot.receiver, "甘孜县", "交售入库日期", "等级"):
        assert shown in body, shown
    assert f"本批次含 {lot.households} 户农户交售的产品" in body
    assert re.search(r"(脱贫户|监测户|一般农户)</span><strong>\d+ 户", body)
    assert ("消费帮扶产品认定" in body) and (("认定编号" in body) == lot.certified)
    leaked = [name for name in lot.names if name in body]
    assert not leaked, f"household names or member numbers on the public page: {leaked}"
    assert "/static/css/trace.css" in body and "console.css" not in body


async def test_unknown_malformed_and_expired_codes_get_a_friendly_404(
    client: TestClient,  # type: ignore[type-arg]
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lot = await lot_facts(world.url)
    for path in (f"/t/{'A' * 22}", "/t/short", f"/t/{lot.trace_code}x", f"/t/{'A' * 22}/qr.png"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404, path
    page = await (await client.get(f"/t/{'B' * 22}")).text()
    assert "未找到溯源信息" in page and "请核对包装上的二维码" in page
    # Expired: a one-day shelf life and no grace, so every lot of the demo (delivered weeks ago)
    # is past it; the page, and its QR codes, answer like an unknown code.
    rule = tmp_path / "rule.json"
    days = {"shelf_days": dict.fromkeys(SHELF_DAYS, 1), "default_shelf_days": 1, "perishable_shelf_days": 1}
    rule.write_text(json.dumps(days))
    monkeypatch.setenv("BANGFU_UNSOLD_RULE", str(rule))
    monkeypatch.setenv("BANGFU_TRACE_GRACE_DAYS", "0")
    get_settings.cache_clear()
    for path in (f"/t/{lot.trace_code}", f"/t/{lot.trace_code}/qr.png", f"/t/{lot.trace_code}/qr.svg"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404, path
    assert "未找到溯源信息" in await (await client.get(f"/t/{lot.trace_code}")).text()
    get_settings.cache_clear()


async def test_the_qr_codes_carry_the_public_url(
    sqlite_client: TestClient,  # type: ignore[type-arg]
    sqlite_world: World,
    public_url: str,
) -> None:
    lot = await lot_facts(sqlite_world.url)
    png = await sqlite_client.get(f"/t/{lot.trace_code}/qr.png")
    assert png.status == 200 and png.content_type == "image/png"
    assert decode_qr(await png.read()) == f"{public_url}/t/{lot.trace_code}"
    svg = await sqlite_client.get(f"/t/{lot.trace_code}/qr.svg")
    assert svg.status == 200 and svg.content_type == "image/svg+xml"
    assert (await svg.text()).lstrip().startswith("<svg")


async def test_label_sheets_are_for_operators_only(
    sqlite_client: TestClient,  # type: ignore[type-arg]
    sqlite_world: World,
    public_url: str,
) -> None:
    """(SQLite only: the isolation matrix asks every role on both backends.)"""
    lot = await lot_facts(sqlite_world.url)
    await login(sqlite_client, "operator")
    lot_page = await sqlite_client.get(f"/lots/{lot.lot_id}")
    assert f'href="/operator/lots/{lot.lot_id}/labels"' in await lot_page.text()
    sheet = await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels?count=7")
    body = await sheet.text()
    assert sheet.status == 200, body[:300]
    assert body.count('<div class="label">') == 7 and body.count("<svg") >= 7
    assert lot.product in body and lot.lot_code in body and lot.receiver in body
    assert f"{public_url}/t/{lot.trace_code}" in body
    assert "@media print" in body
    assert (await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels")).status == 200
    assert (await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels?count=0")).status == 400
    assert (await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels?count=201")).status == 400
    assert (await sqlite_client.get("/operator/lots/999999999/labels")).status == 404
    for role in ("coop", "host", "county", "unit"):
        sqlite_client.session.cookie_jar.clear()
        await login(sqlite_client, role)
        response = await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels?count=abc", allow_redirects=False)
        assert response.status == 404, role
    sqlite_client.session.cookie_jar.clear()
    anonymous = await sqlite_client.get(f"/operator/lots/{lot.lot_id}/labels", allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")


async def test_a_sessions_campaign_link_shows_to_those_who_see_the_session(
    sqlite_client: TestClient,  # type: ignore[type-arg]
    sqlite_world: World,
    public_url: str,
) -> None:
    engine = make_engine(sqlite_world.url)
    try:
        async with engine.connect() as conn:
            host = await conn.scalar(select(User.host_id).where(User.name == "host"))
            own, code = (
                await conn.execute(
                    select(LiveSession.id, LiveSession.campaign_code)
                    .where(LiveSession.host_id == host)
                    .order_by(LiveSession.id)
                    .limit(1)
                )
            ).one()
            other = await conn.scalar(
                select(LiveSession.id).where(LiveSession.host_id.is_distinct_from(host)).order_by(LiveSession.id)
            )
    finally:
        await engine.dispose()
    link = f"{public_url}/mall/?c={code}"
    await login(sqlite_client, "host")
    page = await (await sqlite_client.get(f"/sessions/{own}")).text()
    assert link in page and f'src="/sessions/{own}/campaign.svg"' in page
    png = await sqlite_client.get(f"/sessions/{own}/campaign.png")
    assert png.status == 200 and decode_qr(await png.read()) == link
    assert (await sqlite_client.get(f"/sessions/{own}/campaign.svg")).content_type == "image/svg+xml"
    for path in (f"/sessions/{other}", f"/sessions/{other}/campaign.png", f"/sessions/{other}/campaign.svg"):
        assert (await sqlite_client.get(path)).status == 404, path
    sqlite_client.session.cookie_jar.clear()
    await login(sqlite_client, "coop")
    assert (await sqlite_client.get(f"/sessions/{own}/campaign.png")).status == 404
    sqlite_client.session.cookie_jar.clear()
    await login(sqlite_client, "admin")
    assert link in await (await sqlite_client.get(f"/sessions/{own}")).text()


async def test_a_lot_added_in_the_console_gets_a_trace_page_with_its_inspection(
    sqlite_world: World, tmp_path: Path
) -> None:
    """The operator's lot form: the new lot has its own traceability code and its page shows the
    harvest and the inspection given on the form."""
    import shutil

    target = tmp_path / "world.db"
    shutil.copyfile(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"), target)
    url = f"sqlite+aiosqlite:///{target}"
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            sku_id, sku_code, receiver = (
                await conn.execute(
                    select(Sku.id, Sku.sku_code, Supplier.credit_code)
                    .join(Product, Product.id == Sku.product_id)
                    .join(Supplier, Supplier.id == Product.supplier_id)
                    .where(Supplier.kind == "enterprise")
                    .order_by(Sku.id)
                    .limit(1)
                )
            ).one()
    finally:
        await engine.dispose()
    async for client in _client(url):
        await login(client, "admin")
        csrf = await csrf_of(client, f"/lots/new?sku={sku_id}")
        form = {
            "_csrf": csrf, "lot_code": "WEB-TRACE-1", "receiver": receiver, "received_on": "2026-11-30",
            "harvested_on": "2026-11-27", "inspection_agency": "县农产品质量安全检测站",
            "inspected_on": "2026-11-30", "inspection_result": "合格（农残快检）", "quantity_1": "40",
        }  # fmt: skip
        done = await client.post(f"/lots/new?sku={sku_id}", data=form, allow_redirects=False)
        assert done.status == 303, await done.text()
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                code = await conn.scalar(select(SupplyLot.trace_code).where(SupplyLot.lot_code == "WEB-TRACE-1"))
        finally:
            await engine.dispose()
        assert code is not None and is_trace_code(code)
        client.session.cookie_jar.clear()
        page = await (await client.get(f"/t/{code}")).text()
        for shown in ("WEB-TRACE-1", "2026-11-27", "县农产品质量安全检测站", "合格（农残快检）", "经营主体直接交售"):
            assert shown in page, shown
        assert sku_code not in page  # no internal codes either
