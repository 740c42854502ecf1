"""What every request pays stays small without changing what it answers: static URLs keep
aiohttp's content version, computed once per file version; the web pool pings only connections
that idled, and still replaces one the server closed."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from bangfu.i18n import MESSAGES, Lang, _override, t
from tests.conftest import PG_URL, PgServer
from web import app as app_module
from web import render
from web.app import web_engine
from web.render import STATIC_DIR, STATIC_PREFIX, static_url

REFERENCED = ("favicon.svg", "css/console.css", "css/mall.css", "vendor/echarts/echarts.min.js", "js/charts.js")


@pytest.mark.parametrize("filename", REFERENCED)
def test_static_url_is_aiohttps_versioned_url(filename: str) -> None:
    app = web.Application()
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="static", append_version=True)
    assert static_url(filename) == str(app.router["static"].url_for(filename=filename))


def test_static_url_reads_a_file_once_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR / "css", static / "css")
    monkeypatch.setattr(render, "STATIC_DIR", static)
    render._versioned_url.cache_clear()
    reads: list[Path] = []
    real = Path.read_bytes

    def counted(path: Path) -> bytes:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    first = static_url("css/console.css")
    assert static_url("css/console.css") == first and len(reads) == 1
    target = static / "css/console.css"
    target.write_text(target.read_text() + "\n/* changed */\n")
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = static_url("css/console.css")
    assert second != first and second.startswith("/static/css/console.css?v=") and len(reads) == 2
    assert static_url("css/missing.css") == "/static/css/missing.css"
    render._versioned_url.cache_clear()


async def test_a_pooled_connection_is_pinged_only_after_idling(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pre-ping round trips on a busy pool (three per checkout before), a ping after
    PING_IDLE_S idle, as pool_pre_ping would."""
    pings: list[object] = []
    real: Any = AsyncAdapt_asyncpg_connection.ping

    def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(self)
        real(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    engine = web_engine(PG_URL)
    try:
        for _ in range(3):
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
        assert pings == []
        monkeypatch.setattr(app_module, "PING_IDLE_S", 0.0)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
        assert len(pings) == 1
    finally:
        await engine.dispose()


async def test_a_connection_the_server_closed_is_replaced_at_checkout(pg_server: PgServer) -> None:
    """Without a pre-ping: a pooled connection whose backend was terminated (a restart, an
    administrator) is replaced when checked out, and the request never sees the error."""
    engine = web_engine(PG_URL)
    try:
        async with engine.connect() as other:
            async with engine.connect() as conn:
                pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            assert await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.3)  # the event loop reads the end of the terminated socket
        async with engine.connect() as first, engine.connect() as second:  # both pooled ones
            pids = {await first.scalar(text("SELECT pg_backend_pid()")), await second.scalar(text("SELECT 1"))}
            assert pid not in pids
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_t_without_values_is_the_messages_format(lang: Lang) -> None:
    """t() skips str.format for a message without braces; every message reads as before."""
    import web.app  # noqa: F401  # every surface's messages registered

    token = _override.set(lang)
    try:
        for key, entry in MESSAGES.items():
            try:
                expected: object = entry[lang].format()
            except (KeyError, IndexError, ValueError) as exc:
                expected = type(exc)
            try:
                got: object = t(key)
            except (KeyError, IndexError, ValueError) as exc:
                got = type(exc)
            assert got == expected, key
    finally:
        _override.reset(token)
