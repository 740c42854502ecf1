"""Adding a supply lot from the operator's waiting page (issue 13): the same validation as
``bangfu import lots``, errors named by field with nothing written, the waiting lines drawn
again by the queued pipeline, what the lot filled shown; who may add a lot for which SKU."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bangfu.enums import UserRole
from bangfu.importing import parse_rows
from bangfu.models import Cooperative, Household, LotAllocation, Product, Sku, Supplier, SupplyLot, User
from bangfu.queries.lots import LotSku, parse_lot_form
from tests.web.conftest import World, _client, api_token, csrf_of, login
from tests.web.test_operator import _scalar

OTHER_ROLES = ("host", "county", "unit")


async def _rows(url: str, statement: Any) -> list[Any]:
    from bangfu.store import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


async def _waiting_sku(client: Any, url: str) -> dict[str, Any]:
    """The SKU with the most money waiting, as the operator's API lists it."""
    token = await api_token(url, "operator")
    data = await (await client.get("/api/v1/operator/waiting", headers={"Authorization": f"Bearer {token}"})).json()
    return max(data["items"], key=lambda s: (s["paid_fen"], -s["sku_id"]))


async def _members(url: str, sku_id: int) -> tuple[str, list[str]]:
    """The credit code of the SKU's supplier and, for a cooperative, a few member numbers."""
    supplier_id, code = (
        await _rows(
            url,
            select(Supplier.id, Supplier.credit_code)
            .join(Product, Product.supplier_id == Supplier.id)
            .join(Sku, Sku.product_id == Product.id)
            .where(Sku.id == sku_id),
        )
    )[0]
    members = await _rows(
        url,
        select(Household.member_no)
        .join(Cooperative, Cooperative.id == Household.cooperative_id)
        .where(Cooperative.supplier_id == supplier_id)
        .order_by(Household.member_no)
        .limit(2),
    )
    return str(code), [str(m) for (m,) in members]


def test_a_form_lot_is_exactly_an_imported_lot(tmp_path: Path) -> None:
    sku = LotSku(1, "SKU-QK-500", "500g", "青稞面", "93513328MA6XXXXX0", "合作社", 0, 0, 0, None)
    code = "93513328MA62T4X5XH"
    form = {
        "lot_code": "L-1", "receiver": code, "received_on": "2026-11-30",
        "member_no_1": "M001", "quantity_1": "1,200", "grade_1": "B", "price_1": "3.50",
        "member_no_2": "M002", "quantity_2": "30", "grade_2": "A", "price_2": "",
    }  # fmt: skip
    csv = tmp_path / "lots.csv"
    csv.write_text(
        "批次号,SKU编码,收购主体信用代码,收购日期,成员编号,数量,等级,保底价\n"
        f'L-1,SKU-QK-500,{code},2026-11-30,M001,"1,200",B,3.50\n'
        f"L-1,SKU-QK-500,{code},2026-11-30,M002,30,A,\n",
        encoding="utf-8",
    )
    parsed = parse_rows("lots", csv)
    assert not parsed.errors
    assert parse_lot_form(form, sku, None) == [(i, row) for i, (_, row) in enumerate(parsed.rows, start=1)]


async def test_operator_adds_a_lot_and_the_waiting_lines_draw_from_it(world_copy: World) -> None:
    url = world_copy.url
    async for client in _client(url):
        await login(client, "operator")
        sku = await _waiting_sku(client, url)
        sku_id = sku["sku_id"]
        waiting = await client.get("/operator/waiting")
        assert f'href="/lots/new?sku={sku_id}"' in await waiting.text()
        page = await client.get(f"/lots/new?sku={sku_id}")
        body = await page.text()
        assert page.status == 200 and sku["sku_code"] in body and 'name="_csrf"' in body
        assert (await client.get("/lots/new?sku=abc")).status == 400
        assert (await client.get("/lots/new?sku=99999999")).status == 404
        picker = await (await client.get("/lots/new")).text()
        assert f'href="/lots/new?sku={sku_id}"' in picker

        receiver, members = await _members(url, sku_id)
        lots_before = await _scalar(url, select(func.count()).select_from(SupplyLot))
        units = sku["units"] + 5
        good: dict[str, str] = {"lot_code": f"WEB-{sku_id}", "receiver": receiver, "received_on": "2026-11-30"}
        if members:
            good |= {"member_no_1": members[0], "quantity_1": str(units - 2), "grade_1": "A", "price_1": "2.50"}
            good |= {"member_no_2": members[-1] if len(members) > 1 else "", "quantity_2": "2", "grade_2": "B"}
            if len(members) < 2:
                good["quantity_1"] = str(units)
                del good["quantity_2"]
        else:
            good |= {"quantity_1": str(units)}

        denied = await client.post(f"/lots/new?sku={sku_id}", data=good, allow_redirects=False)
        assert denied.status == 403
        csrf = await csrf_of(client, f"/lots/new?sku={sku_id}")
        tomorrow2 = (date.today() + timedelta(days=3)).isoformat()
        bad = good | {
            "_csrf": csrf, "received_on": tomorrow2, "quantity_1": "12a", "price_1": "1.234",
            "member_no_3": "NO-SUCH", "quantity_3": "1",
        }  # fmt: skip
        refused = await client.post(f"/lots/new?sku={sku_id}", data=bad, allow_redirects=False)
        text = await refused.text()
        assert refused.status == 400
        assert 'id="err-received_on"' in text and "is in the future" in text
        assert 'id="err-quantity_1"' in text and "is not a whole number" in text
        assert 'id="err-price_1"' in text
        assert 'value="NO-SUCH"' in text  # the form comes back as typed
        assert await _scalar(url, select(func.count()).select_from(SupplyLot)) == lots_before
        unknown = good | {"_csrf": csrf, "member_no_3": "NO-SUCH", "quantity_3": "1"}
        refused = await client.post(f"/lots/new?sku={sku_id}", data=unknown, allow_redirects=False)
        text = await refused.text()
        assert refused.status == 400 and 'id="err-member_no_3"' in text
        assert "no member NO-SUCH" in text or "has no members" in text
        assert await _scalar(url, select(func.count()).select_from(SupplyLot)) == lots_before
        empty = {"_csrf": csrf, "lot_code": "X", "receiver": receiver, "received_on": "2026-11-30"}
        refused = await client.post(f"/lots/new?sku={sku_id}", data=empty, allow_redirects=False)
        assert refused.status == 400 and 'id="err-quantity_1"' in await refused.text()

        # A good lot: stored, the pipeline (eager here) draws the waiting lines from it.
        done = await client.post(f"/lots/new?sku={sku_id}", data=good | {"_csrf": csrf}, allow_redirects=False)
        assert done.status == 303, await done.text()
        location = done.headers["Location"]
        assert location.startswith("/lots/") and location.endswith("?stored=1")
        lot_id = int(location.split("/")[2].split("?")[0])
        lot = (await _rows(url, select(SupplyLot).where(SupplyLot.id == lot_id)))[0]
        assert (lot.lot_code, lot.sku_id, lot.quantity) == (f"WEB-{sku_id}", sku_id, units)
        drawn = await _rows(url, select(LotAllocation.order_line_id).where(LotAllocation.lot_id == lot_id).distinct())
        assert len(drawn) == sku["lines"]  # every waiting line of the SKU drew (there are units enough)
        shown = await (await client.get(location)).text()
        assert "批次已保存" in shown
        assert f'id="filled-lines">{sku["lines"]}<' in shown
        from bangfu.money import format_yuan

        assert format_yuan(sku["paid_fen"]) in shown
        after = await _waiting_sku_or_none(client, url, sku_id)
        assert after is None  # no longer waiting
        again = await client.post(f"/lots/new?sku={sku_id}", data=good | {"_csrf": csrf}, allow_redirects=False)
        assert again.status == 400 and "exists already" in await again.text()

        # Other roles: not found, whatever they ask.
        for role in OTHER_ROLES:
            client.session.cookie_jar.clear()
            await login(client, role)
            assert (await client.get(f"/lots/new?sku={sku_id}")).status == 404, role
            assert (await client.get("/lots/new")).status == 404, role
            assert (await client.get(f"/lots/{lot_id}")).status == 404, role
            csrf = await csrf_of(client, "/login")
            response = await client.post(f"/lots/new?sku={sku_id}", data=good | {"_csrf": csrf, "lot_code": "Z"})
            assert response.status == 404, role


async def _waiting_sku_or_none(client: Any, url: str, sku_id: int) -> dict[str, Any] | None:
    token = await api_token(url, "operator")
    data = await (await client.get("/api/v1/operator/waiting", headers={"Authorization": f"Bearer {token}"})).json()
    return next((s for s in data["items"] if s["sku_id"] == sku_id), None)


async def test_a_cooperative_adds_lots_of_its_own_products_only(world: World) -> None:
    url = world.url
    coop_id, supplier_id, code = (
        await _rows(
            url,
            select(User.cooperative_id, Cooperative.supplier_id, Supplier.credit_code)
            .join(Cooperative, Cooperative.id == User.cooperative_id)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(User.name == "coop"),
        )
    )[0]
    own = await _rows(url, select(Sku.id).join(Product).where(Product.supplier_id == supplier_id).limit(1))
    other = await _rows(url, select(Sku.id).join(Product).where(Product.supplier_id != supplier_id).limit(1))
    assert own and other
    async for client in _client(url):
        await login(client, "coop")
        home = await (await client.get("/lots/new")).text()
        assert f'href="/lots/new?sku={own[0][0]}"' in home and f'href="/lots/new?sku={other[0][0]}"' not in home
        page = await client.get(f"/lots/new?sku={own[0][0]}")
        body = await page.text()
        assert page.status == 200 and f'name="receiver" value="{code}"' in body  # received by itself
        assert (await client.get(f"/lots/new?sku={other[0][0]}")).status == 404
        csrf = await csrf_of(client, f"/lots/new?sku={own[0][0]}")
        elsewhere = await _rows(url, select(Supplier.credit_code).where(Supplier.id != supplier_id).limit(1))
        form = {
            "_csrf": csrf, "lot_code": "COOP-X", "receiver": elsewhere[0][0], "received_on": "2026-11-30",
            "quantity_1": "5",
        }  # fmt: skip
        refused = await client.post(f"/lots/new?sku={own[0][0]}", data=form, allow_redirects=False)
        assert refused.status == 400 and 'id="err-receiver"' in await refused.text()
        lots = await _rows(url, select(SupplyLot.id, SupplyLot.sku_id, SupplyLot.cooperative_id))
        theirs = [lot for lot, _, c in lots if c == coop_id]
        others = [lot for lot, s, c in lots if c != coop_id and s not in {k for (k,) in own}]
        if theirs:
            assert (await client.get(f"/lots/{theirs[0]}")).status == 200
        if others:
            assert (await client.get(f"/lots/{others[0]}")).status == 404
        assert (await client.get("/lots/99999999")).status == 404
        assert UserRole.COOPERATIVE.value == "cooperative"
