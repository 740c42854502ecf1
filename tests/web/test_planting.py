"""Order planting in the console: the county's planning page and the cooperatives' pages on the
demo county (imported history, a seasonal forecast, a plan, a contract with lots delivered against
it), accepting a plan as a contract (CSRF, validation, scope), the XLSX exports, the history
import's errors, and the 404s of everyone outside the scope."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bangfu.importing import ImportRejected
from bangfu.models import Cooperative, PlantingContract, PlantingHistory, Sku, SupplyLot, User
from bangfu.planting.history import import_history
from bangfu.planting.seasons import Season
from bangfu.store import make_engine, open_store
from tests.web.conftest import World, _client, csrf_of, login


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


def _copy(world: World, tmp_path: Path) -> str:
    target = tmp_path / "world.db"
    shutil.copyfile(world.url.removeprefix("sqlite+aiosqlite:///"), target)
    return f"sqlite+aiosqlite:///{target}"


async def test_planning_pages_contracts_and_scope(world: World) -> None:
    [(coop_id,)] = await _rows(world.url, select(User.cooperative_id).where(User.name == "coop"))
    [(other,)] = await _rows(world.url, select(func.min(Cooperative.id)).where(Cooperative.id != coop_id))
    [contract] = await _rows(world.url, select(PlantingContract))
    season = Season.parse(contract.season)
    [(delivered,)] = await _rows(
        world.url,
        select(func.sum(SupplyLot.quantity))
        .join(Sku, Sku.id == SupplyLot.sku_id)
        .where(
            SupplyLot.cooperative_id == contract.cooperative_id,
            Sku.product_id == contract.product_id,
            SupplyLot.received_on.between(season.first_day, season.last_day),
        ),
    )
    assert 0 < delivered < contract.quantity, "the demo contract is short of what it contracted"
    async for client in _client(world.url):
        await login(client, "county")
        page = await client.get("/county/planting")
        text = await page.text()
        assert page.status == 200
        assert text.count('data-model="ets_ana"') >= 4, "the main products' forecasts use a seasonal model"
        assert "ETS(A,N,A)" in text and "80% 区间" in text and "echarts" in text
        assert f'data-contract="{contract.id}" data-delivered="{delivered}"' in text
        assert f'data-shortfall="{contract.quantity - delivered}" data-excess="0"' in text
        assert f"/cooperatives/{coop_id}/planting" in text
        overview = await (await client.get("/county")).text()
        assert 'id="planting"' in overview and 'href="/county/planting"' in overview
        assert (await client.get(f"/cooperatives/{coop_id}/planting")).status == 200
    async for client in _client(world.url):
        await login(client, "coop")
        own = await client.get(f"/cooperatives/{coop_id}/planting")
        text = await own.text()
        assert own.status == 200 and 'name="price"' in text and 'name="_csrf"' in text
        assert f'data-contract="{contract.id}"' in text
        assert (await client.get(f"/cooperatives/{other}/planting")).status == 404
        assert (await client.get("/county/planting")).status == 404
    for role in ("operator", "host", "unit"):
        async for client in _client(world.url):
            await login(client, role)
            assert (await client.get("/county/planting")).status == 404
            assert (await client.get(f"/cooperatives/{coop_id}/planting")).status == 404


def _sheet(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_plan_and_contracts_export(sqlite_world: World) -> None:
    async for client in _client(sqlite_world.url):
        await login(client, "admin")
        plan = await client.get("/county/planting?format=xlsx&table=plan")
        assert plan.status == 200 and plan.content_type.endswith("spreadsheetml.sheet")
        rows = _sheet(await plan.read())
        assert rows[0][0] == "订单种植建议计划"
        header = rows[1] if rows[1][0] == "商品" else rows[2]
        assert header[:6] == ["商品", "商品编码", "季度", "预测模型", "历史季数", "预测销量"]
        body = [r for r in rows if r[0] not in (None, "订单种植建议计划") and r != header]
        assert any(str(r[3]).startswith("ETS(A,N,A)") for r in body)
        for r in body:  # the 80% interval holds the point, the 95% interval holds the 80%
            if r[6] is not None:
                assert r[8] <= r[6] <= r[5] <= r[7] <= r[9]
        contracts = _sheet(await (await client.get("/county/planting?format=xlsx&table=contracts")).read())
        assert contracts[0][0] == "订单收购合同执行" and any("合同量" in str(c) for r in contracts for c in r)
        history = _sheet(await (await client.get("/county/planting?format=xlsx&table=history")).read())
        assert history[0][0] == "分季度分渠道销量"
        sources = {r[6] for r in history if r[0] not in (None, "分季度分渠道销量", "商品") and r[6] is not None}
        assert sources == {"导入", "本系统订单"}, "imported seasons and the hub's own orders, by channel"
        assert {r[3] for r in history if r[6] == "导入"} >= {"电商", "直播"}
        assert (await client.get("/county/planting?format=pdf")).status == 400


async def test_accepting_a_plan_as_a_contract(sqlite_world: World, tmp_path: Path) -> None:
    url = _copy(sqlite_world, tmp_path)
    [(coop_id,)] = await _rows(url, select(User.cooperative_id).where(User.name == "coop"))
    [(other,)] = await _rows(url, select(func.min(Cooperative.id)).where(Cooperative.id != coop_id))
    before = len(await _rows(url, select(PlantingContract.id)))
    async for client in _client(url):
        await login(client, "coop")
        page = await (await client.get(f"/cooperatives/{coop_id}/planting")).text()
        product = int(page.split('name="product" value="', 1)[1].split('"', 1)[0])
        planned = int(page.split(f'data-coop="{coop_id}" data-planned="', 1)[1].split('"', 1)[0])
        token = await csrf_of(client, f"/cooperatives/{coop_id}/planting")
        path = f"/cooperatives/{coop_id}/planting/accept"
        no_csrf = await client.post(path, data={"product": str(product), "price": "12.50"}, allow_redirects=False)
        assert no_csrf.status == 403
        for price in ("", "0", "-3", "abc", "12.345", "99999999"):
            bad = await client.post(path, data={"product": str(product), "price": price, "_csrf": token})
            assert bad.status == 400, price
            assert "保底价须为大于 0 的金额" in await bad.text()
        for foreign in (f"/cooperatives/{other}/planting/accept", "/cooperatives/999999999/planting/accept"):
            response = await client.post(foreign, data={"product": str(product), "price": "12.50", "_csrf": token})
            assert response.status == 404
        for wrong in ("999999999", "abc", ""):
            response = await client.post(path, data={"product": wrong, "price": "12.50", "_csrf": token})
            assert response.status == 404
        good = await client.post(
            path, data={"product": str(product), "price": "12.50", "_csrf": token}, allow_redirects=False
        )
        assert good.status == 303 and "accepted=1" in good.headers["Location"]
        again = await client.post(path, data={"product": str(product), "price": "13", "_csrf": token})
        assert again.status == 400 and "合同已签订" in await again.text()
        shown = await (await client.get(f"/cooperatives/{coop_id}/planting")).text()
        assert "已签订" in shown and "¥12.50" in shown
    async for client in _client(url):
        await login(client, "county")
        token = await csrf_of(client, "/county/planting")
        response = await client.post(
            f"/cooperatives/{coop_id}/planting/accept", data={"product": str(product), "price": "9", "_csrf": token}
        )
        assert response.status == 404, "only the cooperative itself accepts its plan"
    contracts = await _rows(url, select(PlantingContract).order_by(PlantingContract.id))
    assert len(contracts) == before + 1
    made = contracts[-1]
    assert (made.cooperative_id, made.product_id, made.quantity, made.price_fen) == (coop_id, product, planned, 1250)
    assert made.forecast_model == "ets_ana" and made.forecast_units >= planned


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_history_import_is_all_or_nothing_with_errors_by_row_and_field(
    sqlite_world: World, tmp_path: Path
) -> None:
    url = _copy(sqlite_world, tmp_path)
    [(spu,)] = await _rows(url, select(func.min(Sku.sku_code)))
    code = spu.rsplit("-", 1)[0]
    before = len(await _rows(url, select(PlantingHistory.id)))
    bad = _write(
        tmp_path / "bad.csv",
        "商品编码,季度,渠道,销量,销售额\n"
        f"{code},2023Q1,电商,10,100.00\n"
        "NO-SUCH,2023Q2,电商,10,100.00\n"
        f"{code},2023Q5,电商,10,100.00\n"
        f"{code},2023Q3,卫星,10,100.00\n"
        f"{code},2023Q4,live,-4,100.00\n"
        f"{code},2099Q1,live,4,100.00\n"
        f"{code},2023Q1,ecommerce,10,100.00\n",
    )
    async with open_store(url) as sessions:
        with pytest.raises(ImportRejected) as rejected:
            await import_history(sessions, bad)
    messages = [str(e) for e in rejected.value.errors]
    assert any(m.startswith(f"{bad}:3:商品编码: no product") for m in messages)
    assert any(m.startswith(f"{bad}:4:季度:") and "2023Q5" in m for m in messages)
    assert any(m.startswith(f"{bad}:5:渠道:") for m in messages)
    assert any(m.startswith(f"{bad}:6:销量:") for m in messages)
    assert any(m.startswith(f"{bad}:7:季度:") and "not over yet" in m for m in messages)
    assert any(m.startswith(f"{bad}:8:") and "duplicate of row 2" in m for m in messages)
    assert len(await _rows(url, select(PlantingHistory.id))) == before, "nothing written"

    good = _write(
        tmp_path / "good.csv",
        f'spu_code,season,channel,units,amount\n{code},2023Q1,ecommerce,10,100.00\n{code},2023Q2,直播,7,"1,070.50"\n',
    )
    async with open_store(url) as sessions:
        first = await import_history(sessions, good)
        second = await import_history(sessions, good)
    assert (first.created, second.unchanged) == (2, 2)
    cells = await _rows(url, select(PlantingHistory.season, PlantingHistory.channel, PlantingHistory.amount_fen)
                        .where(PlantingHistory.season.in_(["2023Q1", "2023Q2"])))  # fmt: skip
    assert sorted((str(s), str(c), int(a)) for s, c, a in cells) == [
        ("2023Q1", "ecommerce", 10000),
        ("2023Q2", "live", 107050),
    ]


def test_cli_prints_and_exports_the_plan_and_imports_history(sqlite_world: World, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bangfu.cli.app import app

    url = _copy(sqlite_world, tmp_path)
    runner = CliRunner()
    shown = runner.invoke(app, ["planting", "forecast", "--db", url])
    assert shown.exit_code == 0, shown.stderr
    assert "计划季度" in shown.stdout and "ETS(A,N,A)" in shown.stdout
    out = tmp_path / "plan.xlsx"
    written = runner.invoke(app, ["planting", "forecast", "--format", "xlsx", "--out", str(out), "--db", url])
    assert written.exit_code == 0, written.stderr
    assert _sheet(out.read_bytes())[0][0] == "订单种植建议计划"
    contracts = runner.invoke(app, ["planting", "forecast", "--contracts", "--format", "csv", "--db", url])
    assert contracts.exit_code == 0 and "合同量" in contracts.stdout
    bad = _write(tmp_path / "bad.csv", "商品编码,季度,渠道,销量,销售额\nNO-SUCH,2023Q1,电商,1,1.00\n")
    refused = runner.invoke(app, ["planting", "history", "import", str(bad), "--db", url])
    assert refused.exit_code != 0 and f"{bad}:2:商品编码: no product with SPU code NO-SUCH" in refused.stderr
