"""Listings (商品对应) in the operator console: unmapped first with suggestions and the sales
waiting on them, map/unmap (the waiting lines flow on), bulk map by file (all or nothing), a
channel price and its push; every route per role and bad input."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select, text, update

from bangfu.models import ChannelPrice, LineChange, Listing, Order, OrderLine, Shop, Sku, User, UserShop
from bangfu.money import format_yuan
from bangfu.store import make_engine
from tests.web.conftest import World, _client, api_token, csrf_of, login

OTHER_ROLES = ("host", "coop", "county", "unit")


async def _run(url: str, *statements: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return [await conn.execute(s) for s in statements]
    finally:
        await engine.dispose()


async def _one(url: str, statement: Any) -> Any:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(statement)).first()
    finally:
        await engine.dispose()


async def _unmap_busiest(url: str) -> Any:
    """Make the listing with the most paid lines unmapped, as a listing whose merchant code
    matches no SKU is: listing and lines without a SKU. Returns its facts."""
    paid = select(OrderLine.shop_id, OrderLine.platform_item_id, OrderLine.platform_sku_id, func.count().label("n"))
    paid = paid.join(Order, Order.id == OrderLine.order_id).where(
        Order.paid_at.is_not(None), OrderLine.sku_id.is_not(None)
    )
    top = await _one(
        url,
        paid.group_by(OrderLine.shop_id, OrderLine.platform_item_id, OrderLine.platform_sku_id).order_by(
            text("n DESC")
        ),
    )
    listing = await _one(
        url,
        select(Listing.id, Listing.sku_id, Listing.title, Sku.sku_code)
        .join(Sku, Sku.id == Listing.sku_id)
        .where(
            Listing.shop_id == top.shop_id,
            Listing.platform_item_id == top.platform_item_id,
            Listing.platform_sku_id == (top.platform_sku_id or ""),
        ),
    )
    of_key = (
        (OrderLine.shop_id == top.shop_id)
        & (OrderLine.platform_item_id == top.platform_item_id)
        & (func.coalesce(OrderLine.platform_sku_id, "") == (top.platform_sku_id or ""))
    )
    await _run(
        url,
        update(Listing).where(Listing.id == listing.id).values(sku_id=None, outer_id="NOT-A-CODE"),
        update(OrderLine).where(of_key).values(sku_id=None),
    )
    money = await _one(
        url,
        select(func.count(), func.sum(OrderLine.paid_fen))
        .join(Order, Order.id == OrderLine.order_id)
        .where(of_key, Order.paid_at.is_not(None), Order.status.not_in(("pending_payment", "cancelled"))),
    )
    every = await _one(url, select(func.count()).where(of_key))
    return {
        "all_lines": every[0],
        "listing_id": listing.id,
        "sku_id": listing.sku_id,
        "sku_code": listing.sku_code,
        "title": listing.title,
        "shop_id": top.shop_id,
        "item": top.platform_item_id,
        "sku": top.platform_sku_id or "",
        "of_key": of_key,
        "lines": money[0],
        "paid_fen": int(money[1]),
    }


async def test_pages_and_api_per_role(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    await login(client, "admin")
    page = await client.get("/operator/listings")
    body = await page.text()
    assert page.status == 200 and "商品对应与价格" in body and 'href="/operator/listings"' in body
    assert 'name="_csrf"' in body and 'enctype="multipart/form-data"' in body
    token = await api_token(world.url, "admin")
    data = await (await client.get("/api/v1/operator/listings", headers={"Authorization": f"Bearer {token}"})).json()
    listings = await _one(world.url, select(func.count()).select_from(Listing))
    assert data["total"] >= listings[0] and data["items"]
    assert {"listing_id", "sku_code", "waiting", "suggestions", "last_price_push"} <= set(data["items"][0])
    for bad in ("status=nope", "shop=abc", "page=0", "q=" + "x" * 101):
        assert (await client.get(f"/operator/listings?{bad}")).status == 400, bad
    assert (await client.get("/operator/listings?shop=99999")).status == 404
    for role in OTHER_ROLES:
        client.session.cookie_jar.clear()
        await login(client, role)
        assert (await client.get("/operator/listings")).status == 404
        other = await api_token(world.url, role)
        answer = await client.get("/api/v1/operator/listings", headers={"Authorization": f"Bearer {other}"})
        assert answer.status == 404 and (await answer.json())["error"]["code"] == "not_found"
        csrf = await csrf_of(client, "/")
        posted = await client.post("/operator/listings/map", data={"_csrf": csrf}, allow_redirects=False)
        assert posted.status == 404


async def test_unmapped_first_with_waiting_sales_then_mapped_lines_flow_on(world_copy: World) -> None:
    facts = await _unmap_busiest(world_copy.url)
    async for client in _client(world_copy.url):
        await login(client, "admin")
        token = await api_token(world_copy.url, "admin")
        data = await (
            await client.get("/api/v1/operator/listings?status=unmapped", headers={"Authorization": f"Bearer {token}"})
        ).json()
        first = data["items"][0]
        assert first["listing_id"] == facts["listing_id"] and first["sku_id"] is None
        assert first["waiting"]["lines"] == facts["lines"] and first["waiting"]["paid_fen"] == facts["paid_fen"]
        assert data["waiting"]["paid_fen"] >= facts["paid_fen"] and data["waiting"]["since"]
        # The title suggests the SKU the listing had (its merchant code matches nothing now).
        assert facts["sku_code"] in [s["sku_code"] for s in first["suggestions"]]
        body = html.unescape(await (await client.get("/operator/listings")).text())
        assert format_yuan(facts["paid_fen"]) in body
        first_row = body.split("<tbody>", 1)[1].split("</tr>", 1)[0]
        assert 'class="unmapped"' in first_row and facts["title"] in first_row, "unmapped first"
        queued_before = await _one(world_copy.url, select(func.count()).select_from(LineChange))
        csrf = await csrf_of(client, "/operator/listings")
        form = {
            "_csrf": csrf,
            "shop_id": str(facts["shop_id"]),
            "platform_item_id": facts["item"],
            "platform_sku_id": facts["sku"],
            "sku_code": facts["sku_code"],
        }
        bad = await client.post("/operator/listings/map", data=form | {"sku_code": "NO-SUCH"}, allow_redirects=False)
        assert bad.status == 400 and "no SKU with code NO-SUCH" in await bad.text()
        assert (await client.post("/operator/listings/map", data=form | {"_csrf": "x"})).status == 403
        done = await client.post("/operator/listings/map", data=form, allow_redirects=False)
        # Every line of the listing gets the SKU (the unpaid ones too, for when they are paid).
        assert done.status == 303 and f"n={facts['all_lines']}" in done.headers["Location"]
        notice = await (await client.get(done.headers["Location"])).text()
        assert f"已对应；{facts['all_lines']} 行待对应销售进入配货和入账" in notice
        row = await _one(
            world_copy.url,
            select(Listing.sku_id, Listing.mapping, Listing.mapped_by).where(Listing.id == facts["listing_id"]),
        )
        admin = await _one(world_copy.url, select(User.id).where(User.name == "admin"))
        assert (row.sku_id, row.mapping, row.mapped_by) == (facts["sku_id"], "manual", admin.id)
        lines = await _one(
            world_copy.url, select(func.count()).where(facts["of_key"], OrderLine.sku_id == facts["sku_id"])
        )
        assert lines[0] >= facts["lines"]
        queued = await _one(world_copy.url, select(func.count()).select_from(LineChange))
        assert queued[0] >= queued_before[0] + facts["lines"], "mapped lines are queued for the stages"
        # Unmap: the listing loses its SKU, its lines keep theirs (never dropped, never moved).
        unmap = await client.post(
            f"/operator/listings/{facts['listing_id']}/unmap", data={"_csrf": csrf}, allow_redirects=False
        )
        assert unmap.status == 303
        row = await _one(
            world_copy.url, select(Listing.sku_id, Listing.mapping).where(Listing.id == facts["listing_id"])
        )
        assert (row.sku_id, row.mapping) == (None, "manual")
        kept = await _one(
            world_copy.url, select(func.count()).where(facts["of_key"], OrderLine.sku_id == facts["sku_id"])
        )
        assert kept[0] == lines[0]
        assert (await client.post("/operator/listings/99999999/unmap", data={"_csrf": csrf})).status == 404


async def test_bulk_map_by_file_is_all_or_nothing(world_copy: World, tmp_path: Path) -> None:
    facts = await _unmap_busiest(world_copy.url)
    shop_name = (await _one(world_copy.url, select(Shop.name).where(Shop.id == facts["shop_id"]))).name
    header = "店铺,平台商品ID,平台SKU ID,SKU编码\n"
    good = f"{shop_name},{facts['item']},{facts['sku']},{facts['sku_code']}\n"
    async for client in _client(world_copy.url):
        await login(client, "admin")
        csrf = await csrf_of(client, "/operator/listings")

        async def upload(name: str, content: str, client: TestClient = client, csrf: str = csrf) -> Any:  # type: ignore[type-arg]
            form = FormData()
            form.add_field("_csrf", csrf)
            form.add_field("file", content.encode(), filename=name, content_type="text/csv")
            return await client.post("/operator/listings/import", data=form, allow_redirects=False)

        bad = await upload(
            "map.csv", header + good + f"{shop_name},{facts['item']},x,NO-SUCH\n99999,1,,{facts['sku_code']}\n"
        )
        body = html.unescape(await bad.text())
        assert bad.status == 400
        assert "map.csv:3:SKU编码: no SKU with code NO-SUCH" in body and "map.csv:4:店铺: no shop 99999" in body
        row = await _one(world_copy.url, select(Listing.sku_id).where(Listing.id == facts["listing_id"]))
        assert row.sku_id is None, "a rejected file writes nothing"
        wrong = await upload("map.txt", header + good)
        assert wrong.status == 400 and "unsupported file type" in await wrong.text()
        empty = await client.post("/operator/listings/import", data={"_csrf": csrf}, allow_redirects=False)
        assert empty.status == 400
        ok = await upload("map.csv", header + good)
        assert ok.status == 303 and "updated=1" in ok.headers["Location"]
        row = await _one(
            world_copy.url, select(Listing.sku_id, Listing.mapping).where(Listing.id == facts["listing_id"])
        )
        assert (row.sku_id, row.mapping) == (facts["sku_id"], "manual")
        waiting = await _one(world_copy.url, select(func.count()).where(facts["of_key"], OrderLine.sku_id.is_(None)))
        assert waiting[0] == 0


async def test_channel_price_and_push_states(world_copy: World) -> None:
    listing = await _one(
        world_copy.url,
        select(Listing.id, Listing.shop_id, Sku.sku_code).join(Sku, Sku.id == Listing.sku_id).order_by(Listing.id),
    )
    operator = await _one(world_copy.url, select(User.id).where(User.name == "operator"))
    other_shop = await _one(world_copy.url, select(Shop.id).where(Shop.id != listing.shop_id))
    # The world's fake platforms are gone: shops without an endpoint are skipped, not failed.
    await _run(
        world_copy.url,
        update(Shop).values(base_url=None),
        insert(UserShop).values(user_id=operator.id, shop_id=listing.shop_id),
    )
    async for client in _client(world_copy.url):
        await login(client, "operator")
        csrf = await csrf_of(client, "/operator/listings")
        form = {"_csrf": csrf, "shop_id": str(listing.shop_id), "sku_code": listing.sku_code, "price": "39.90"}
        for bad, message in (("abc", "price:"), ("0", "price"), ("20000000", "price")):
            answer = await client.post("/operator/prices", data=form | {"price": bad}, allow_redirects=False)
            assert answer.status == 400 and message in await answer.text(), bad
        foreign = await client.post(
            "/operator/prices", data=form | {"shop_id": str(other_shop.id)}, allow_redirects=False
        )
        assert foreign.status == 404
        assert (await client.get(f"/operator/listings?shop={other_shop.id}")).status == 404
        done = await client.post("/operator/prices", data=form, allow_redirects=False)
        assert done.status == 303
        price = await _one(world_copy.url, select(ChannelPrice.price_fen, ChannelPrice.set_by))
        assert (price.price_fen, price.set_by) == (3990, operator.id)
        pushed = await client.post("/operator/prices/push", data={"_csrf": csrf}, allow_redirects=False)
        assert pushed.status == 303 and "skipped=" in pushed.headers["Location"]
        assert "skipped=0" not in pushed.headers["Location"]
        assert (
            await client.post("/operator/prices/push", data={"_csrf": csrf, "shop_id": str(other_shop.id)})
        ).status == 404
        token = await api_token(world_copy.url, "operator")
        data = await (
            # one page holds the shop's listings whichever shop the first listing is in (ids follow
            # the order the shops' products were synced in, concurrently)
            await client.get("/api/v1/operator/listings?size=200", headers={"Authorization": f"Bearer {token}"})
        ).json()
        assert {item["shop_id"] for item in data["items"]} == {listing.shop_id}
        assert data["total"] == len(data["items"]), "the shop's listings fit one page"
        mine = next(item for item in data["items"] if item["listing_id"] == listing.id)
        assert mine["channel_price_fen"] == 3990
        await client.post("/lang", data={"lang": "en", "_csrf": csrf, "next": "/"})
        english = await (await client.get("/operator/listings")).text()
        assert "Listings and prices" in english and "Sales waiting" in english
