"""One console login per role for the demo county (``bangfu demo`` prints them).

Each picks the busiest subject of its kind, so its pages have figures to show: the host with
the most sessions, the cooperative with the most households, the county the suppliers are in,
the purchasing unit with the largest target. Running the demo again keeps existing users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.accounts import ScopeTarget, add_user
from bangfu.enums import UserRole
from bangfu.models import Cooperative, Household, LiveSession, Region, Supplier, UnitTarget, User

# Obviously a demo password: the demo serves on loopback only.
DEMO_PASSWORD = "bangfu-demo-2026"


@dataclass(frozen=True)
class DemoLogin:
    name: str
    role: UserRole
    scope: str


async def ensure_demo_users(session: AsyncSession) -> list[DemoLogin]:
    host_id = await session.scalar(
        select(LiveSession.host_id)
        .where(LiveSession.host_id.is_not(None))
        .group_by(LiveSession.host_id)
        .order_by(func.count().desc(), LiveSession.host_id)
        .limit(1)
    )
    coop = (
        await session.execute(
            select(Cooperative.id, Supplier.credit_code, Supplier.name, Supplier.county_id)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .join(Household, Household.cooperative_id == Cooperative.id)
            .group_by(Cooperative.id, Supplier.credit_code, Supplier.name, Supplier.county_id)
            .order_by(func.count().desc(), Cooperative.id)
            .limit(1)
        )
    ).first()
    unit_id = await session.scalar(
        select(UnitTarget.unit_id).order_by(UnitTarget.target_fen.desc(), UnitTarget.unit_id).limit(1)
    )
    wanted: list[tuple[str, UserRole, ScopeTarget, str]] = [("admin", UserRole.ADMIN, ScopeTarget(), "")]
    wanted.append(("operator", UserRole.OPERATOR, ScopeTarget(), ""))
    if host_id is not None:
        wanted.append(("host", UserRole.HOST, ScopeTarget(host=host_id), f"host #{host_id}"))
    if coop is not None:
        wanted.append(("coop", UserRole.COOPERATIVE, ScopeTarget(cooperative=coop.credit_code), coop.name))
        region = (await session.execute(select(Region.code, Region.name).where(Region.id == coop.county_id))).first()
        if region is not None:
            wanted.append(("county", UserRole.COUNTY, ScopeTarget(region=region.code), region.name))
    if unit_id is not None:
        wanted.append(("unit", UserRole.UNIT, ScopeTarget(unit=unit_id), f"unit #{unit_id}"))
    logins = []
    for name, role, target, label in wanted:
        if await session.scalar(select(User.id).where(User.name == name)) is None:
            await add_user(session, name, role, DEMO_PASSWORD, target)
        logins.append(DemoLogin(name, role, label))
    return logins
