"""Shared fixtures: a migrated database on SQLite and on PostgreSQL for each test.

PostgreSQL comes from ``BANGFU_TEST_PG_URL`` (default: ``postgresql+asyncpg://127.0.0.1:5432/test``,
the OS user, trust auth). Where it cannot be reached the PostgreSQL variants are skipped with
a message saying so, except in CI (``CI=true``), where a missing service is a failure.
Each test gets its own database, cloned from a migrated template (made ahead, while the previous
test ran, and dropped after it on a thread: ``PgServer.fresh_clone``, ``_Dropper``), so tests never
see each other's rows and nothing needs cleaning.

Two roles on PostgreSQL, as in production (README "Running against PostgreSQL and Redis"): the
migrations run as the owner (the ``BANGFU_TEST_PG_URL`` user), and the hub runs as an application
role (``BANGFU_TEST_APP_ROLE``, default ``bangfu_test_app``: a plain LOGIN role, created once if
missing and never dropped, as other test sessions may share it) given ``bangfu db grant``'s
privileges on the template. So ``db_url`` connects as the application role; a test that needs
the owner's rights (tampering as the owner, migrations, creating schemas) takes ``owner_db_url``
(the same database as the owner), ``empty_db_url`` (owner) or ``PgServer.url`` (owner;
``PgServer.app_url`` is the application role's). On SQLite both are the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
from argon2 import PasswordHasher
from hypothesis import settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bangfu import accounts
from bangfu.store import make_engine, session_factory, upgrade

ROOT = Path(__file__).resolve().parent.parent
# The hub's own packages, which the tests' subprocesses (the ``bangfu`` command, benches, Celery
# workers) import again each time.
PACKAGES = ("bangfu", "connectors", "sync", "workers", "web", "bench")


# Passwords: production hashes with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB,
# 3 passes, 4 lanes), 0.1-0.4 s of CPU a hash or a check here by design, and every login of the
# web tests checked one (the demo logins' hashes carry those parameters, and a check costs what the
# stored hash says). In this process the hub hashes with the cheapest parameters argon2 takes, so
# the worlds' logins are cheap to check. Everything else about passwords is the same code;
# ``production_argon2`` gives a test the production hasher back (tests/bangfu/test_passwords.py
# checks its parameters and that a login rehashes a cheaper hash to them), and the processes the
# tests start (the ``bangfu`` command, benches, Celery) hash as production does.
# Hypothesis: no per-example deadline anywhere. Its default (200 ms an example) is a timed
# assertion, which the suite does not make (speed is measured in bench/): under a loaded machine
# one example of tests/bangfu/test_ledger.py's pure-Python property went over it and failed
# the run. Tests that set their own settings keep them; the profile fills what they leave out.
settings.register_profile("bangfu", deadline=None)
settings.load_profile("bangfu")

PRODUCTION_HASHER = accounts._hasher
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def pytest_configure(config: pytest.Config) -> None:
    """Compile the hub's packages once, in the controlling process, before any test: where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on these machines) nothing else writes their bytecode,
    and every subprocess the tests start would compile them again (~0.2 s of each CLI run).

    The test modules likewise: pytest caches the assertion-rewritten code of each test module
    in its ``__pycache__`` only where bytecode may be written, so with the variable set every
    xdist worker parsed and rewrote all of them again on every run (collecting cost 21 s of CPU
    per worker instead of 8.5 s). Only this process stops honouring it; the subprocesses the
    tests start inherit the variable and read the bytecode compiled here."""
    accounts._hasher = TEST_HASHER
    sys.dont_write_bytecode = False
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    import compileall

    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=2, workers=1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker how the controller distributes (a worker's own ``--dist`` is "no")."""
    node.workerinput["dist"] = node.config.getoption("dist")


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, put the ``slow`` tests at the head of each worker's first share.

    The suite runs with ``--dist worksteal`` (pyproject.toml): the controller first splits the
    collection into one contiguous share per worker (the first worker ``n // workers`` of ``n``,
    the next that of what is left, ...), each worker runs its share from the head, and a worker
    with nothing left takes half of what another has not started, from its tail. In collection
    order the long tests (Celery, concurrent posting, the ledger's properties: tests/workers/)
    came last, so a run could end with one worker on a minute-long test and the other idle.
    Here the slow tests are dealt out in turn to the heads of the shares, so they start first,
    spread over the workers, and what is left at the end is short tests either worker can take.
    Every worker computes the same order (xdist checks that the collections agree)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or workerinput.get("dist") != "worksteal":
        return
    workers = int(workerinput["workercount"])
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if workers < 2 or not slow:
        return
    fast = iter([item for item in items if item.get_closest_marker("slow") is None])
    ordered: list[pytest.Item] = []
    left = len(items)
    for k in range(workers):
        share = left // (workers - k)
        left -= share
        head = slow[k::workers]
        ordered += head
        ordered += [item for _, item in zip(range(share - len(head)), fast, strict=False)]
    ordered += list(fast)
    assert len(ordered) == len(items)
    items[:] = ordered


PG_URL = os.environ.get("BANGFU_TEST_PG_URL", "postgresql+asyncpg://127.0.0.1:5432/test")
APP_ROLE = os.environ.get("BANGFU_TEST_APP_ROLE", "bangfu_test_app")
# A database number of its own: tests flush it, so it must not be one anything else uses.
REDIS_URL = os.environ.get("BANGFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _per_worker_redis(url: str) -> str:
    """Each pytest-xdist worker flushes a Redis database of its own (gw0 the given one, gw1 the
    next, ...), so parallel workers never flush each other's broker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + int(worker[2:])}"))


REDIS_URL = _per_worker_redis(REDIS_URL)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def production_argon2(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """The hub's own password hasher for this test (see ``PRODUCTION_HASHER``)."""
    monkeypatch.setattr(accounts, "_hasher", PRODUCTION_HASHER)
    return PRODUCTION_HASHER


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs with its own data directory, a fixed hash key and the default language;
    no user state (nor a language chosen by an earlier in-process CLI call) leaks in."""
    from bangfu.i18n import _override
    from bangfu.settings import get_settings

    _override.set(None)

    monkeypatch.setenv("BANGFU_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("BANGFU_HASH_KEY", "test-hash-key-not-a-secret")
    monkeypatch.delenv("BANGFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("BANGFU_LANG", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _pg_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    await conn.close()
    return None


# Throw-away databases do not wait for the WAL to reach the disk at commit: a test never crashes
# the PostgreSQL server (the crash tests kill the hub's processes), and on a shared CI disk the
# flush was most of a small transaction's time. A per-database setting: clones do not inherit it.
NO_COMMIT_WAIT = 'ALTER DATABASE "{name}" SET synchronous_commit = off'


class _Dropper:
    """Drops a worker's finished databases on a thread of its own, off the tests' path.

    ``DROP DATABASE`` makes the server take a checkpoint and waits for it (PostgreSQL 15): every
    dirty page of every database on the server is written first, which took 1-5 s a drop on a
    busy 2-core machine, once per PostgreSQL test. Here a test's teardown only queues the name;
    the thread drops what has queued up, all at once on parallel connections, so the server
    takes one checkpoint for several drops (concurrent requests share the next checkpoint) and no
    test waits for it. ``close`` (the end of the session) waits for every drop, and fails the
    session if one failed."""

    BATCH = 8  # drops at once: one checkpoint for all of them
    # At the end, what is still queued goes in bigger batches: no test needs the server's
    # connections any more on this worker, and each batch waits a checkpoint (1.5-3 s a drop on a
    # busy machine; draining a backlog 8 by 8 took 64-69 s at the end of a loaded run).
    CLOSING_BATCH = 32

    def __init__(self, admin: Callable[[str], Awaitable[None]]) -> None:
        self._admin = admin
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._batch = self.BATCH
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="pg-dropper", daemon=True)
        self._thread.start()

    def put(self, name: str) -> None:
        self._queue.put(name)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < self._batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            names = [name for name in batch if name is not None]
            stop = len(names) < len(batch)
            if names:
                results = asyncio.run(self._drop_all(names))
                self.errors += [f"{name}: {exc!r}" for name, exc in zip(names, results, strict=True) if exc]

    async def _drop_all(self, names: list[str]) -> list[BaseException | None]:
        return await asyncio.gather(*(self._admin(DROP.format(name=n)) for n in names), return_exceptions=True)

    def close(self) -> None:
        self._batch = self.CLOSING_BATCH
        self._queue.put(None)
        self._thread.join()


DROP = 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


class PgServer:
    """Creates and drops throw-away databases on the test server."""

    def __init__(self) -> None:
        self.template = f"bangfu_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.dropped: set[str] = set()
        self._dropper: _Dropper | None = None
        self._maker: ThreadPoolExecutor | None = None
        self._spare: Future[str] | None = None

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def url(self, database: str) -> str:
        """The owner's URL of ``database`` (migrations, DDL, tampering in tests)."""
        return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)

    owner_url = url

    def app_url(self, database: str) -> str:
        """The application role's URL of ``database``: what the hub connects as."""
        return (
            make_url(PG_URL)
            .set(database=database, username=APP_ROLE, password=None)
            .render_as_string(hide_password=False)
        )

    async def ensure_app_role(self) -> None:
        # Concurrent sessions may race to create it: either error means it is there.
        await self._admin(
            f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )

    async def create(self, template: str | None = None) -> str:
        name = f"bangfu_t_{uuid.uuid4().hex[:12]}"
        suffix = f' TEMPLATE "{template}"' if template else ""
        await self._admin(f'CREATE DATABASE "{name}"{suffix}')
        self.created.append(name)
        await self._admin(NO_COMMIT_WAIT.format(name=name))
        return name

    async def analyze(self, name: str) -> None:
        """``ANALYZE`` ``name`` as its owner, as autovacuum would in time (the application role
        may not, so a store it built has no planner statistics and gets naive plans)."""
        conn = await asyncpg.connect(_asyncpg_dsn(self.url(name)), timeout=5)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    async def exists(self, name: str) -> bool:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    async def drop(self, name: str) -> None:
        await self._admin(DROP.format(name=name))
        self.dropped.add(name)

    def drop_later(self, name: str) -> None:
        """Drop ``name`` soon, on the dropper's thread (see :class:`_Dropper`): for a test's own
        database at its teardown, which nothing uses any more."""
        if self._dropper is None:
            self._dropper = _Dropper(self._admin)
        self._dropper.put(name)
        self.dropped.add(name)

    def fresh_clone(self) -> str:
        """A new clone of the template for a test, made on a thread of its own while the
        previous test ran: each call takes the clone made ahead and orders the next one, so a
        test does not wait for its ``CREATE DATABASE`` (0.2 s, more on a busy server)."""
        if self._maker is None:
            self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-clone")
        taken = self._spare or self._maker.submit(self._clone)
        self._spare = self._maker.submit(self._clone)
        return taken.result()

    def _clone(self) -> str:
        return asyncio.run(self.create(template=self.template))

    def close(self) -> list[str]:
        """Drop the clone made ahead, wait for the queued drops; the ones that failed."""
        if self._maker is not None:
            if self._spare is not None:
                with contextlib.suppress(Exception):  # a clone that failed is no database to drop
                    self.drop_later(self._spare.result())
            self._maker.shutdown()
        if self._dropper is None:
            return []
        self._dropper.close()
        return self._dropper.errors


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    problem = asyncio.run(_pg_reachable())
    if problem is not None:
        message = (
            f"PostgreSQL is not reachable at {make_url(PG_URL).render_as_string(hide_password=True)} "
            f"({problem}); set BANGFU_TEST_PG_URL to a server where the user may create databases"
        )
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    server = PgServer()

    async def make_template() -> None:
        from bangfu.grants import grant

        await server.ensure_app_role()
        await server._admin(f'CREATE DATABASE "{server.template}"')
        await server._admin(NO_COMMIT_WAIT.format(name=server.template))
        engine = make_engine(server.url(server.template))
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                await grant(conn, APP_ROLE)  # what `bangfu db grant` does; clones keep it
        finally:
            await engine.dispose()

    asyncio.run(make_template())
    yield server

    failed = server.close()

    async def cleanup() -> list[BaseException | None]:
        # All at once, as the dropper does: one checkpoint for all of them, not one each (the
        # template and the session's shared copies, dropped one by one, took 20-26 s at the
        # end of each worker on a busy machine).
        names = [*(n for n in server.created if n not in server.dropped), server.template]
        return await asyncio.gather(*(server.drop(name) for name in names), return_exceptions=True)

    failed += [repr(exc) for exc in asyncio.run(cleanup()) if exc is not None]
    assert not failed, f"test databases that could not be dropped: {failed}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"

    async def make() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(make())
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql":
        request.applymarker(pytest.mark.postgres)
    return name


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of the test's backend, as the hub connects to it: on
    PostgreSQL as the application role, with ``bangfu db grant``'s privileges only."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "hub.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.fresh_clone()
    yield server.app_url(name)
    server.drop_later(name)


@pytest.fixture
def owner_db_url(db_url: str, backend: str) -> str:
    """The database of ``db_url`` as its owner (PostgreSQL; the same file on SQLite)."""
    if backend == "sqlite":
        return db_url
    database = make_url(db_url).database
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, to test migrations themselves (the owner's URL)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = asyncio.run(server.create())
    yield server.url(name)
    server.drop_later(name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database of the test's backend."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def owner_sessions(owner_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database as its owner (to test what guards hold even for the owner)."""
    engine = make_engine(owner_db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A flushed Redis database for a test that needs a real broker (``BANGFU_TEST_REDIS_URL``).

    Skipped where Redis is not reachable, except in CI (``CI=true``), where that is a failure.
    """
    import redis

    request.applymarker(pytest.mark.redis)
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        message = f"Redis is not reachable at {REDIS_URL} ({exc}); set BANGFU_TEST_REDIS_URL to a Redis server"
        client.close()
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
