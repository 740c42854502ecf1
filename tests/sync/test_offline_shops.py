"""Offline shops (counter, vending machine, ...): added without credentials, never synced, said so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bangfu.cli.app import app
from bangfu.enums import ChannelType, PlatformKind
from bangfu.models import Alert, Region, Shop, SyncRun
from bangfu.store import make_engine, session_factory, upgrade
from sync.engine import SyncEngine


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BANGFU_SECRETS_FILE", str(tmp_path / "secrets.json"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite'}"

    async def county() -> None:
        engine = make_engine(url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as session, session.begin():
                session.add(Region(code="513328", name="甘孜县", level="county", assisted=True))
        finally:
            await engine.dispose()

    asyncio.run(county())
    return url


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--lang", "en", *args])
    return result.exit_code, result.output


async def _shops(url: str) -> list[tuple[str, str, str, str | None, str | None, int | None]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    Shop.platform, Shop.channel_type, Shop.platform_shop_id, Shop.base_url, Shop.credentials_ref,
                    Shop.county_id,
                ).order_by(Shop.id)
            )  # fmt: skip
            return [(str(p.value), str(c.value), code, u, r, county) for p, c, code, u, r, county in rows]
    finally:
        await engine.dispose()


def test_offline_shops_are_added_without_credentials(hub: str, tmp_path: Path) -> None:
    code, out = _cli("shops", "add", "--channel", "vending", "--name", "食堂售货机", "--county", "513328", "--db", hub)
    assert code == 0, out
    assert "added shop #1 (vending)" in out and "bangfu import sales FILE.csv --shop 1" in out
    code, out = _cli(
        "shops", "add", "counter", "--name", "帮扶专柜", "--shop-id", "ZG-01", "--county", "甘孜县", "--db", hub
    )
    assert code == 0, out
    code, out = _cli("shops", "add", "--channel", "832", "--name", "832平台", "--db", hub)
    assert code == 0, out
    shops = asyncio.run(_shops(hub))
    assert [s[:5] for s in shops] == [
        ("vending", "vending", "食堂售货机", None, None),
        ("counter", "counter", "ZG-01", None, None),
        ("832", "832", "832平台", None, None),
    ]
    assert shops[0][5] is not None and shops[0][5] == shops[1][5] and shops[2][5] is None
    assert not (tmp_path / "secrets.json").exists()  # nothing to keep secret
    # the same one again needs --replace, which renames it
    code, out = _cli("shops", "add", "counter", "--name", "专柜", "--shop-id", "ZG-01", "--db", hub)
    assert code == 2 and "exists already" in out and "--replace" in out
    code, out = _cli("shops", "add", "counter", "--name", "大面专柜", "--shop-id", "ZG-01", "--replace", "--db", hub)
    assert code == 0 and "updated shop #2 (counter): 大面专柜" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--channel", "vending", "--name", "机", "--base-url", "http://127.0.0.1:1"], "--base-url not accepted"),
        (["--channel", "vending", "--name", "机", "--app-secret-stdin"], "--app-secret-stdin not accepted"),
        (["vending", "--channel", "counter", "--name", "机"], "a vending shop's channel type is vending"),
        (["--channel", "ecommerce", "--name", "店"], "name the platform"),
        (["--name", "店"], "name the platform"),
        (["jd", "--name", "店", "--app-key", "k"], "a platform shop needs --base-url, --shop-id"),
        (["jd", "--name", "店", "--county", "513328"], "--county is for offline shops"),
        (["--channel", "fair", "--name", "展销会", "--county", "999999"], "no region 999999"),
        (["--channel", "fair", "--name", "展" * 65], "give the shop's (machine's, till's) code with --shop-id"),
    ],
)
def test_what_an_offline_shop_does_not_take_is_refused(hub: str, args: list[str], says: str) -> None:
    code, out = _cli("shops", "add", *args, "--db", hub)
    assert code == 2 and says in " ".join(out.split()), out
    assert asyncio.run(_shops(hub)) == []


def test_sync_skips_offline_shops_and_says_so(hub: str) -> None:
    for kind, name in (("vending", "售货机"), ("counter", "专柜")):
        assert _cli("shops", "add", "--channel", kind, "--name", name, "--db", hub)[0] == 0
    code, out = _cli("sync", "run", "--all", "--db", hub)
    assert code == 0, out
    assert "skipped 2 offline shop(s)" in out and "售货机、专柜" in out
    code, out = _cli("sync", "run", "--shop", "2", "--db", hub)
    assert code == 0 and "skipped 1 offline shop(s)" in out and "专柜" in out

    async def engine_view() -> tuple[list[Shop], int, int, list[int]]:
        from workers.tasks import _active_shop_ids

        engine = make_engine(hub)
        try:
            sync = SyncEngine(engine)
            named = await sync.shops([1, 2])
            offline = Shop(id=1, name="售货机", platform=PlatformKind.VENDING, channel_type=ChannelType.VENDING)
            assert await sync.sync_shop(offline) == []
            async with engine.connect() as conn:
                runs = await conn.scalar(select(func.count()).select_from(SyncRun))
                alerts = await conn.scalar(select(func.count()).select_from(Alert))
            return named, int(runs or 0), int(alerts or 0), await _active_shop_ids(engine)
        finally:
            await engine.dispose()

    named, runs, alerts, scheduled = asyncio.run(engine_view())
    assert named == [] and runs == 0 and alerts == 0  # no failed run, no auth alert
    assert scheduled == []  # the beat neither syncs nor reconciles them
