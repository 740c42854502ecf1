"""Fixtures shared by the tests of bangfu's pre-aggregates and queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.store import make_engine
from tests.web.conftest import World, _pg_world, _sqlite_world  # noqa: F401  (fixtures: the demo county, built once per run)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> World:
    """The demo county on each backend (PostgreSQL skips, or fails in CI, when it is missing)."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("_pg_world")  # type: ignore[no-any-return]
    return request.getfixturevalue("_sqlite_world")  # type: ignore[no-any-return]


async def with_conn(world: World, check: Callable[[AsyncConnection], Awaitable[None]]) -> None:
    """Run ``check`` on one connection to the world's store (it commits or rolls back itself)."""
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            await check(conn)
    finally:
        await engine.dispose()
