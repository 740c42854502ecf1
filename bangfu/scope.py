"""What one console or API user may see: their :class:`Scope`, applied as SQL conditions.

Every query function the console and the API call takes a ``Scope`` and filters with the
conditions here, so visibility is decided in this one module and never per view. Something
outside a user's scope is simply not found (the web answers 404, exactly as for an id that does
not exist), so a guessed id tells nothing.

| role        | live sessions                 | cooperatives (households, lots, journals) | units     |
|-------------|-------------------------------|-------------------------------------------|-----------|
| admin       | all                           | all                                       | all       |
| operator    | of their shops (or all shops) | none                                      | none      |
| host        | their own                     | none                                      | none      |
| cooperative | none                          | their own                                 | none      |
| county      | of shops in their region      | whose supplier is in their region         | in region |
| unit        | none                          | none                                      | their own |

*Suppliers* (经营主体: cooperatives and enterprises) follow the cooperatives' column: admin sees
all, a cooperative its own supplier, a county the suppliers registered in its region
(:meth:`Scope.suppliers`). Enterprises have no console login of their own: the county office
keeps their records (certificates, agreements, households they drive).

Names of member households are shown in full only to their own cooperative (it pays them);
everyone else sees them masked. Identity numbers are never shown (only their hashes are kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.models import Cooperative, LiveSession, PurchasingUnit, Region, Shop, Supplier, User, UserShop
from bangfu.privacy import mask_name


@dataclass(frozen=True)
class Scope:
    role: UserRole
    user_id: int | None = None
    cooperative_id: int | None = None
    host_id: int | None = None
    region_ids: frozenset[int] = frozenset()  # the user's region and every region under it
    unit_id: int | None = None
    shop_ids: frozenset[int] | None = None  # an operator's shops; None: every shop

    @classmethod
    def admin(cls) -> Scope:
        return cls(UserRole.ADMIN)

    # -- what kinds of things the role sees at all (the console's menu follows these) ----------
    @property
    def sees_sessions(self) -> bool:
        return self.role in (UserRole.ADMIN, UserRole.OPERATOR, UserRole.HOST, UserRole.COUNTY)

    @property
    def sees_cooperatives(self) -> bool:
        return self.role in (UserRole.ADMIN, UserRole.COOPERATIVE, UserRole.COUNTY)

    @property
    def sees_units(self) -> bool:
        return self.role in (UserRole.ADMIN, UserRole.COUNTY, UserRole.UNIT)

    # -- SQL conditions -------------------------------------------------------------------------
    def shops(self, shop_id: ColumnElement[int] | object) -> ColumnElement[bool]:
        """Shops whose sales the user may see (sessions, orders, channels)."""
        col: ColumnElement[int] = shop_id  # type: ignore[assignment]
        match self.role:
            case UserRole.ADMIN:
                return true()
            case UserRole.OPERATOR:
                return true() if self.shop_ids is None else col.in_(sorted(self.shop_ids))
            case UserRole.COUNTY:
                return col.in_(select(Shop.id).where(Shop.county_id.in_(sorted(self.region_ids))))
        return false()

    def sessions(self) -> ColumnElement[bool]:
        """Live sessions the user may see."""
        if self.role == UserRole.HOST:
            return LiveSession.host_id == self.host_id
        return self.shops(LiveSession.shop_id)

    def cooperatives(self, cooperative_id: ColumnElement[int] | object) -> ColumnElement[bool]:
        """Cooperatives (and so their households, lots, journals and income) the user may see."""
        col: ColumnElement[int] = cooperative_id  # type: ignore[assignment]
        match self.role:
            case UserRole.ADMIN:
                return true()
            case UserRole.COOPERATIVE:
                return col == self.cooperative_id
            case UserRole.COUNTY:
                in_region = (
                    select(Cooperative.id)
                    .join(Supplier, Supplier.id == Cooperative.supplier_id)
                    .where(Supplier.county_id.in_(sorted(self.region_ids)))
                )
                return col.in_(in_region)
        return false()

    @property
    def sees_suppliers(self) -> bool:
        return self.sees_cooperatives

    def suppliers(self, supplier_id: ColumnElement[int] | object) -> ColumnElement[bool]:
        """Suppliers (cooperatives and enterprises) whose programme records the user may see."""
        col: ColumnElement[int] = supplier_id  # type: ignore[assignment]
        match self.role:
            case UserRole.ADMIN:
                return true()
            case UserRole.COOPERATIVE:
                return col.in_(select(Cooperative.supplier_id).where(Cooperative.id == self.cooperative_id))
            case UserRole.COUNTY:
                return col.in_(select(Supplier.id).where(Supplier.county_id.in_(sorted(self.region_ids))))
        return false()

    def units(self, unit_id: ColumnElement[int] | object) -> ColumnElement[bool]:
        col: ColumnElement[int] = unit_id  # type: ignore[assignment]
        match self.role:
            case UserRole.ADMIN:
                return true()
            case UserRole.UNIT:
                return col == self.unit_id
            case UserRole.COUNTY:
                return col.in_(select(PurchasingUnit.id).where(PurchasingUnit.region_id.in_(sorted(self.region_ids))))
        return false()

    # -- personal data --------------------------------------------------------------------------
    def household_name(self, name: str, cooperative_id: int) -> str:
        """A member's name as this user may see it: in full for their own cooperative, else masked."""
        if self.role == UserRole.COOPERATIVE and cooperative_id == self.cooperative_id:
            return name
        return mask_name(name)


async def region_and_below(conn: AsyncConnection, region_id: int) -> frozenset[int]:
    """The region and every region under it (the tree is small: walked in memory)."""
    children: dict[int, list[int]] = {}
    for rid, parent in await conn.execute(select(Region.id, Region.parent_id)):
        if parent is not None:
            children.setdefault(int(parent), []).append(int(rid))
    out: set[int] = set()
    stack = [region_id]
    while stack:
        rid = stack.pop()
        if rid not in out:
            out.add(rid)
            stack.extend(children.get(rid, ()))
    return frozenset(out)


async def scope_of(conn: AsyncConnection, user: User) -> Scope:
    """The scope of a (loaded) user."""
    role = UserRole(user.role)
    shop_ids: frozenset[int] | None = None
    if role == UserRole.OPERATOR:
        named = frozenset(
            int(s) for s in await conn.scalars(select(UserShop.shop_id).where(UserShop.user_id == user.id))
        )
        shop_ids = named or None
    regions = (
        await region_and_below(conn, user.region_id) if role == UserRole.COUNTY and user.region_id else frozenset()
    )
    return Scope(
        role=role,
        user_id=user.id,
        cooperative_id=user.cooperative_id,
        host_id=user.host_id,
        region_ids=regions,
        unit_id=user.unit_id,
        shop_ids=shop_ids,
    )
