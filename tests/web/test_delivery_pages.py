"""Delivery batches in the console (/delivery): the demo county's unit orders in batches; the
packing list and delivery note as print pages and as XLSX (read back with openpyxl); marking a
batch shipped records each order's tracking number (a missing one is a 400 naming the order);
a unit sees its own batches only, another unit's is a 404, as is every page for other roles."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select

from bangfu.models import DeliveryBatch, DeliveryBatchOrder, Shipment, User
from bangfu.store import make_engine
from tests.web.conftest import World, _client, csrf_of, login


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


def _sheet(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_delivery_pages_documents_shipping_and_scope(sqlite_world: World, tmp_path: Path) -> None:
    target = tmp_path / "world.db"
    shutil.copyfile(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"), target)
    url = f"sqlite+aiosqlite:///{target}"
    [(unit_id,)] = await _rows(url, select(User.unit_id).where(User.name == "unit"))
    batches = await _rows(
        url,
        select(DeliveryBatch.id, DeliveryBatch.unit_id, DeliveryBatch.status, func.count(DeliveryBatchOrder.id))
        .join(DeliveryBatchOrder, DeliveryBatchOrder.batch_id == DeliveryBatch.id)
        .group_by(DeliveryBatch.id, DeliveryBatch.unit_id, DeliveryBatch.status)
        .order_by(DeliveryBatch.id),
    )
    assert {b.status for b in batches} == {"open", "shipped"}, "the demo has open and shipped batches"
    shipped = next(b for b in batches if b.status == "shipped")
    open_ids = [b.id for b in batches if b.status == "open"]
    async for client in _client(url):
        await login(client, "admin")
        listing = await client.get("/delivery")
        text = await listing.text()
        assert listing.status == 200 and "统一配送批次" in text
        assert f'href="/delivery/{shipped.id}"' in text

        packing = await client.get(f"/delivery/{shipped.id}/packing?format=xlsx")
        assert packing.status == 200 and packing.content_type.endswith("spreadsheetml.sheet")
        rows = _sheet(await packing.read())
        assert rows[0][0] == "配货单（拣货汇总）" and "配送日期" in str(rows[1][0])
        assert rows[2][:5] == ["SKU编码", "商品", "规格", "单位", "数量"]
        data = [r for r in rows[3:] if r[0] not in (None, "合计") and not str(r[0]).startswith("送货地址")]
        total = next(r for r in rows if r[0] == "合计")
        assert data and sum(int(r[4]) for r in data) == total[4] > 0
        assert total[5] == shipped[3]  # every order of the batch

        note = await client.get(f"/delivery/{shipped.id}/note?format=xlsx")
        rows = _sheet(await note.read())
        assert rows[0][0] == "送货单" and rows[2][0] == "订单号"
        cells = [str(r[0]) for r in rows if r[0] is not None]
        assert any(c.startswith("送货地址：") and "后勤收货处" in c for c in cells)
        assert any(c.startswith("送货人签字") for c in cells) and any(c.startswith("收货单位签收") for c in cells)
        html = await (await client.get(f"/delivery/{shipped.id}/note")).text()
        assert "送货单" in html and "收货单位签收（盖章）" in html and "@media print" in html

        # Shipping an open batch: every order waiting needs a tracking number.
        batch_id = None
        waiting: list[str] = []
        for candidate in open_ids:
            page = await (await client.get(f"/delivery/{candidate}")).text()
            waiting = re.findall(r'name="(tracking_\d+)"', page)
            if waiting:
                batch_id = candidate
                break
        assert batch_id is not None and waiting, "an open batch with orders to ship"
        csrf = await csrf_of(client, f"/delivery/{batch_id}")
        missing = await client.post(f"/delivery/{batch_id}/ship", data={"_csrf": csrf, "carrier": "EMS"})
        assert missing.status == 400 and "no tracking number" in await missing.text()
        form = {"_csrf": csrf, "carrier": "EMS"} | {name: f"EMS{n:09d}" for n, name in enumerate(waiting, 1)}
        done = await client.post(f"/delivery/{batch_id}/ship", data=form, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == f"/delivery/{batch_id}?shipped={len(waiting)}"
        ids = [int(name.removeprefix("tracking_")) for name in waiting]
        recorded = await _rows(url, select(Shipment.carrier, Shipment.recorded_via).where(Shipment.order_id.in_(ids)))
        assert sorted(recorded) == [("EMS", "batch")] * len(ids)
        page = await (await client.get(f"/delivery/{batch_id}")).text()
        assert "中国邮政EMS EMS000000001" in page and 'name="tracking_' not in page
        assert (await client.post("/delivery/assign", data={"_csrf": csrf}, allow_redirects=False)).status == 303

        # A unit: its own batches, read only; another unit's is a 404.
        await client.post("/logout", data={"_csrf": csrf})
        await login(client, "unit")
        own = [b.id for b in batches if b.unit_id == unit_id]
        foreign = next(b.id for b in batches if b.unit_id != unit_id)
        mine = await (await client.get("/delivery")).text()
        assert f'href="/delivery/{foreign}"' not in mine
        for batch in own[:1]:
            answer = await client.get(f"/delivery/{batch}")
            assert answer.status == 200 and 'action="/delivery/' not in await answer.text()
            assert (await client.get(f"/delivery/{batch}/note")).status == 200
        for path in (f"/delivery/{foreign}", f"/delivery/{foreign}/packing", f"/delivery/{foreign}/note?format=xlsx"):
            assert (await client.get(path)).status == 404, path
        csrf = await csrf_of(client, "/delivery")
        assert (await client.post("/delivery/assign", data={"_csrf": csrf})).status == 404
        target_batch = own[0] if own else foreign
        assert (
            await client.post(f"/delivery/{target_batch}/ship", data={"_csrf": csrf, "carrier": "SF"})
        ).status == 404
        await client.post("/logout", data={"_csrf": csrf})
        await login(client, "host")
        assert (await client.get("/delivery")).status == 404
        assert (await client.get(f"/delivery/{shipped.id}/note")).status == 404
