"""Overload is a 503 with Retry-After, never a 500: a request that finds no pooled database
connection within the web pool's timeout (web/app.py) is turned away in the one error shape."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.conftest import PG_URL, PgServer
from web.app import MAX_OVERFLOW, POOL_SIZE, POOL_TIMEOUT_S, web_engine
from web.errors import RETRY_AFTER_S, error_middleware
from web.render import STATIC_DIR, setup_templates


async def _busy(_request: web.Request) -> web.StreamResponse:
    raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out")


async def test_pool_timeout_is_503_with_retry_after_as_json_and_as_a_page() -> None:
    app = web.Application(middlewares=[error_middleware])
    setup_templates(app)
    app.router.add_get("/api/v1/busy", _busy)
    app.router.add_get("/busy", _busy)
    app.router.add_static("/static/", STATIC_DIR, name="static")
    async with TestClient(TestServer(app)) as client:
        api = await client.get("/api/v1/busy")
        assert api.status == 503 and api.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert (await api.json())["error"]["code"] == "unavailable"
        page = await client.get("/busy")
        assert page.status == 503 and page.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert page.content_type == "text/html"


async def test_the_web_engine_has_its_own_pool_on_postgresql_only() -> None:
    engine = web_engine("postgresql+asyncpg://127.0.0.1:5432/nowhere")  # never connects
    try:
        pool = engine.sync_engine.pool
        assert pool.size() == POOL_SIZE and pool._max_overflow == MAX_OVERFLOW  # type: ignore[attr-defined]
        assert pool._timeout == POOL_TIMEOUT_S  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_the_web_engine_plans_every_execution_for_its_values(pg_server: PgServer) -> None:
    """The console's connections never fall back to a generic plan (web/app.py: at 1,000,000
    lines one took a page from 0.8 s to 36 s from the sixth request on), and start no parallel
    workers (about 50 ms a session in the sessions comparison at that size)."""
    engine = web_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            assert await conn.scalar(text("SHOW max_parallel_workers_per_gather")) == "0"
            assert await conn.scalar(text("SHOW jit")) == "off"  # make_engine's own setting kept
    finally:
        await engine.dispose()
