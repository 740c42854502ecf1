"""Web fixtures: one small demo county per backend, built once per test run, and clients.

``world_url`` is a store built the way ``bangfu demo`` builds one (scenario, fake platforms on
loopback, sync, attribution, lot draws, ledger), small enough to build in seconds, with one
login per role (``bangfu.demo.users``; password ``DEMO_PASSWORD``). Tests read it; a test that
changes users makes its own, and nothing changes money. ``client`` serves ``web.create_app`` on
it through aiohttp's test server. The world is reconciled with a short payout deadline so that it
has open reconciliation exceptions (payout_missing) in every shop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bangfu.demo.users import DEMO_PASSWORD
from bangfu.store import make_engine, session_factory
from tests.conftest import PgServer

WORLD = {"seed": 7, "households": 120, "orders": 150, "days": 10}
ROLES = ("admin", "operator", "host", "coop", "county", "unit")
RECON_MISSING_AFTER_DAYS = 8  # the world's payout deadline for reconciliation (see _build)


@dataclass(frozen=True)
class World:
    url: str
    backend: str


def _build(url: str, data_dir: Path) -> None:
    """Build the demo county at ``url`` with the test hash key, outside any test's settings."""
    from bangfu.settings import get_settings

    saved = {k: os.environ.get(k) for k in ("BANGFU_DATA_DIR", "BANGFU_HASH_KEY", "BANGFU_DATABASE_URL")}
    os.environ["BANGFU_DATA_DIR"] = str(data_dir)
    os.environ["BANGFU_HASH_KEY"] = "test-hash-key-not-a-secret"
    os.environ.pop("BANGFU_DATABASE_URL", None)
    get_settings.cache_clear()
    try:
        from bangfu.cli.demo import _demo, _demo_logins, reconcile_shops

        async def build() -> None:
            import connectors.http

            try:
                await _demo(url, WORLD["seed"], WORLD["households"], WORLD["orders"], WORLD["days"], serve=False)
                await _demo_logins(url)
                # The demo reconciled with the usual 15-day payout deadline: the fakes' bills are
                # clean and come within 13 days, so nothing is flagged. Again with 8 days, orders of
                # the world's first days still unsettled are flagged payout_missing: open exceptions
                # in every shop for the operator's reconciliation pages (~60, about a second).
                await reconcile_shops(url, missing_after_days=RECON_MISSING_AFTER_DAYS)
            finally:
                await connectors.http.close_session()

        asyncio.run(build())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def _shared(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A folder every xdist worker of this run shares, held under an exclusive lock: the first
    worker to come builds a world there, the others wait and then take a copy of it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder = root / name
    folder.mkdir(exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def _sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once per run (the first worker to need it), then copied into each worker's own folder."""
    with _shared(tmp_path_factory, "world-sqlite") as shared:
        built = shared / "world.db"
        if not (shared / "built").exists():
            _build(f"sqlite+aiosqlite:///{built}", shared)
            (shared / "built").touch()
        folder = tmp_path_factory.mktemp("world-sqlite")
        shutil.copyfile(built, folder / "world.db")
    return World(f"sqlite+aiosqlite:///{folder / 'world.db'}", "sqlite")


@pytest.fixture(scope="session")
def _pg_world(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once per run in a database of its own, then cloned (``CREATE DATABASE ... TEMPLATE``)
    for each worker. The hub runs as the application role (bangfu db grant), as in production.
    The worker that built it drops it when it ends; a worker that comes later builds it again."""
    with _shared(tmp_path_factory, "world-pg") as shared:
        marker = shared / "database"
        template = marker.read_text() if marker.exists() else None
        if template is None or not asyncio.run(pg_server.exists(template)):
            template = asyncio.run(pg_server.create(template=pg_server.template))
            _build(pg_server.app_url(template), shared)
            asyncio.run(pg_server.analyze(template))
            marker.write_text(template)
        name = asyncio.run(pg_server.create(template=template))
    return World(pg_server.app_url(name), "postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> World:
    """The demo county on each backend (PostgreSQL skips, or fails in CI, when it is missing)."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("_pg_world")  # type: ignore[no-any-return]
    return request.getfixturevalue("_sqlite_world")  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_world(_sqlite_world: World) -> World:
    """The demo county on SQLite only (for tests whose point is not the backend)."""
    return _sqlite_world


@pytest.fixture
def world_copy(world: World, tmp_path: Path, pg_server_or_none: PgServer | None) -> Iterator[World]:
    """A private copy of the world, for a test that writes (SQLite file copy or a PG clone)."""
    if world.backend == "sqlite":
        source = Path(world.url.removeprefix("sqlite+aiosqlite:///"))
        target = tmp_path / "world.db"
        shutil.copyfile(source, target)
        yield World(f"sqlite+aiosqlite:///{target}", "sqlite")
        return
    assert pg_server_or_none is not None
    template = world.url.rsplit("/", 1)[1]
    name = asyncio.run(pg_server_or_none.create(template=template))
    yield World(pg_server_or_none.app_url(name), "postgresql")
    pg_server_or_none.drop_later(name)


@pytest.fixture
def pg_server_or_none(request: pytest.FixtureRequest, world: World) -> PgServer | None:
    return request.getfixturevalue("pg_server") if world.backend == "postgresql" else None


async def _client(url: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    from web import create_app

    engine = make_engine(url)
    app = create_app(engine=engine)
    async with TestClient(TestServer(app)) as client:
        yield client
    await engine.dispose()


@pytest.fixture
async def client(world: World) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A test client of the console on the world (each backend)."""
    async for c in _client(world.url):
        yield c


async def csrf_of(client: TestClient, path: str = "/login") -> str:  # type: ignore[type-arg]
    """The CSRF token a page's forms carry (and so the cookie the client now holds)."""
    page = await client.get(path)
    match = re.search(r'name="_csrf" value="([^"]+)"', await page.text())
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def login(client: TestClient, name: str, password: str = DEMO_PASSWORD) -> None:  # type: ignore[type-arg]
    """Sign in as ``name`` (one of ROLES in the world); fails the test if it does not work."""
    token = await csrf_of(client)
    response = await client.post(
        "/login", data={"name": name, "password": password, "_csrf": token}, allow_redirects=False
    )
    assert response.status == 302, f"login as {name}: {response.status} {await response.text()}"


async def api_token(url: str, name: str) -> str:
    """A new API token for ``name`` (``bangfu users token``)."""
    from bangfu.accounts import issue_token

    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await issue_token(session, name)
    finally:
        await engine.dispose()
