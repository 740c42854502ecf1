"""Traceability pages (``/t/<code>``), lot labels, and session campaign links (:mod:`bangfu.trace`).

The public page of a lot says where the produce came from and that it is what the programme
certified: product, lot number, cooperative (or enterprise) and county, harvest and delivery
dates, grades, the lot's inspection, how many member households' produce is in it and of which
categories (脱贫户, 监测户, 一般农户), and the product's certifications (认定) with their validity.
It never names a household nor shows an id: households are counted, never listed.

Labels (QR codes to print for a lot's packages) are for the admin and for operators who may
see the lot (a SKU their shops sold; :mod:`bangfu.queries.lots`). A session's campaign link is
shown to whoever may see the session (:meth:`bangfu.scope.Scope.sessions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import CertificationStatus, HouseholdCategory, UserRole
from bangfu.models import (
    Certification,
    Household,
    LiveSession,
    LotContribution,
    Product,
    Region,
    Sku,
    Supplier,
    SupplyLot,
)
from bangfu.queries.lots import _sku_visible
from bangfu.scope import Scope
from bangfu.trace import is_campaign_code, is_trace_code, trace_last_day
from bangfu.unsold import UnsoldRule

MAX_LABELS = 200  # labels on one printed sheet request


@dataclass(frozen=True)
class TraceCertification:
    body: str
    number: str
    valid_from: date
    valid_to: date
    status: str  # CertificationStatus value as stored
    in_force: bool  # valid status and today within its validity


@dataclass(frozen=True)
class TracePage:
    code: str
    product: str
    category: str
    spec: str
    lot_code: str
    receiver: str  # the cooperative (or enterprise) that received the lot
    cooperative: bool
    county: str | None
    harvested_on: date | None
    received_on: date
    grades: list[str]  # the grades delivered into the lot, best first
    inspection_agency: str | None
    inspected_on: date | None
    inspection_result: str | None
    households: int
    by_category: list[tuple[str, int]]  # (HouseholdCategory value, households), in enum order
    certifications: list[TraceCertification]
    last_day: date  # the page answers through this day (bangfu.trace, "Expiry")


def _grade_order(grade: str) -> tuple[int, str]:
    order = "特一二三ABCDE"
    return (order.index(grade) if grade in order else len(order), grade)


async def trace_page(
    conn: AsyncConnection, code: str, *, today: date, rule: UnsoldRule, grace_days: int
) -> TracePage | None:
    """The public page of the lot with traceability code ``code``; None when no lot has it or
    its page has expired (both answer the same)."""
    if not is_trace_code(code):
        return None
    county = Region.__table__.alias("county")
    row = (
        await conn.execute(
            select(
                SupplyLot.id,
                SupplyLot.lot_code,
                SupplyLot.cooperative_id,
                SupplyLot.received_on,
                SupplyLot.harvested_on,
                SupplyLot.inspection_agency,
                SupplyLot.inspected_on,
                SupplyLot.inspection_result,
                Product.id.label("product_id"),
                Product.name.label("product"),
                Product.category,
                Product.perishable,
                Sku.spec,
                Supplier.name.label("receiver"),
                func.coalesce(county.c.name, Region.name).label("county"),
            )
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == SupplyLot.supplier_id)
            .outerjoin(Region, Region.id == Supplier.county_id)
            .outerjoin(county, county.c.id == Product.origin_county_id)
            .where(SupplyLot.trace_code == code)
        )
    ).first()
    if row is None:
        return None
    last_day = trace_last_day(row.received_on, rule.shelf_life(row.category, bool(row.perishable)), grace_days)
    if today > last_day:
        return None
    counts = dict(
        (
            await conn.execute(
                select(Household.category, func.count(func.distinct(Household.id)))
                .join(LotContribution, LotContribution.household_id == Household.id)
                .where(LotContribution.lot_id == row.id)
                .group_by(Household.category)
            )
        ).all()
    )
    grades = sorted(
        set(await conn.scalars(select(LotContribution.grade).where(LotContribution.lot_id == row.id))),
        key=_grade_order,
    )
    certifications = [
        TraceCertification(
            body=c.body,
            number=c.number,
            valid_from=c.valid_from,
            valid_to=c.valid_to,
            status=CertificationStatus(c.status).value,
            in_force=CertificationStatus(c.status) is CertificationStatus.VALID and c.valid_from <= today <= c.valid_to,
        )
        for c in await conn.execute(
            select(
                Certification.body,
                Certification.number,
                Certification.valid_from,
                Certification.valid_to,
                Certification.status,
            )
            .where(Certification.product_id == row.product_id)
            .order_by(Certification.valid_to.desc(), Certification.id)
        )
    ]
    by_category = [(c.value, int(counts.get(c, 0))) for c in HouseholdCategory]
    return TracePage(
        code=code,
        product=row.product,
        category=row.category,
        spec=row.spec,
        lot_code=row.lot_code,
        receiver=row.receiver,
        cooperative=row.cooperative_id is not None,
        county=row.county,
        harvested_on=row.harvested_on,
        received_on=row.received_on,
        grades=grades,
        inspection_agency=row.inspection_agency,
        inspected_on=row.inspected_on,
        inspection_result=row.inspection_result,
        households=sum(n for _, n in by_category),
        by_category=[(c, n) for c, n in by_category if n],
        certifications=certifications,
        last_day=last_day,
    )


@dataclass(frozen=True)
class LotLabel:
    lot_id: int
    lot_code: str
    trace_code: str
    product: str
    spec: str
    receiver: str


def prints_labels(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.OPERATOR)


async def lot_label(conn: AsyncConnection, scope: Scope, lot_id: int) -> LotLabel | None:
    """What a lot's labels carry, for the admin or an operator who may see the lot (else None)."""
    if not prints_labels(scope):
        return None
    row = (
        await conn.execute(
            select(SupplyLot.lot_code, SupplyLot.trace_code, Product.name, Sku.spec, Supplier.name.label("receiver"))
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == SupplyLot.supplier_id)
            .where(SupplyLot.id == lot_id, _sku_visible(scope))
        )
    ).first()
    if row is None:
        return None
    return LotLabel(lot_id, row.lot_code, row.trace_code, row.name, row.spec, row.receiver)


async def session_for_campaign(conn: AsyncConnection, code: str) -> int | None:
    """The live session whose campaign code is ``code`` (the mall attributes orders carrying it
    to that session, ``link``); None for an unknown code."""
    if not code or not is_campaign_code(code):
        return None
    found = await conn.scalar(select(LiveSession.id).where(LiveSession.campaign_code == code))
    return None if found is None else int(found)


async def session_campaign(conn: AsyncConnection, scope: Scope, session_id: int) -> str | None:
    """The campaign code of a session the user may see (None otherwise, or without a code)."""
    if not scope.sees_sessions:
        return None
    code = await conn.scalar(select(LiveSession.campaign_code).where(LiveSession.id == session_id, scope.sessions()))
    return None if code is None else str(code)


__all__ = [
    "MAX_LABELS",
    "LotLabel",
    "TraceCertification",
    "TracePage",
    "lot_label",
    "prints_labels",
    "session_campaign",
    "session_for_campaign",
    "trace_page",
]
