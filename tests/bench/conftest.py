"""The web tests' demo county, for the board bench's PostgreSQL smoke test (built once per run)."""

from tests.web.conftest import _pg_world

__all__ = ["_pg_world"]
