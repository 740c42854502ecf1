"""Fixtures shared by the tests of bangfu's pre-aggregates and queries."""

from __future__ import annotations

import pytest

from tests.web.conftest import World, _pg_world, _sqlite_world  # noqa: F401  (fixtures: the demo county, built once per run)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> World:
    """The demo county on each backend (PostgreSQL skips, or fails in CI, when it is missing)."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("_pg_world")  # type: ignore[no-any-return]
    return request.getfixturevalue("_sqlite_world")  # type: ignore[no-any-return]
