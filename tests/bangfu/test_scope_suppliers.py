"""Scope.suppliers on the demo county: admin sees every supplier, a cooperative its own supplier,
a county the suppliers of its region, the other roles none."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bangfu.enums import UserRole
from bangfu.models import Cooperative, Supplier
from bangfu.scope import Scope, region_and_below
from bangfu.store import make_engine
from tests.web import conftest as web
from tests.web.conftest import World

_sqlite_world = web._sqlite_world


async def test_suppliers_follow_the_cooperatives_column(_sqlite_world: World) -> None:
    engine = make_engine(_sqlite_world.url)
    try:
        async with engine.connect() as conn:
            every = {int(i) for i in await conn.scalars(select(Supplier.id))}
            coop_id, coop_supplier = (await conn.execute(select(Cooperative.id, Cooperative.supplier_id))).first()  # type: ignore[misc]
            county_of = {int(i): int(c) for i, c in await conn.execute(select(Supplier.id, Supplier.county_id))}
            region = county_of[int(coop_supplier)]

            async def seen(scope: Scope) -> set[int]:
                return {int(i) for i in await conn.scalars(select(Supplier.id).where(scope.suppliers(Supplier.id)))}

            assert len(every) > 1
            assert await seen(Scope.admin()) == every
            assert await seen(Scope(UserRole.COOPERATIVE, cooperative_id=int(coop_id))) == {int(coop_supplier)}
            county = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region))
            assert await seen(county) == {s for s, c in county_of.items() if c in county.region_ids}
            assert int(coop_supplier) in await seen(county)
            assert await seen(Scope(UserRole.COUNTY, region_ids=frozenset({-1}))) == set()
            for role in (UserRole.UNIT, UserRole.HOST, UserRole.OPERATOR):
                assert await seen(Scope(role, unit_id=1, host_id=1)) == set()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("role", list(UserRole))
def test_sees_suppliers_matches_sees_cooperatives(role: UserRole) -> None:
    assert Scope(role).sees_suppliers == Scope(role).sees_cooperatives
