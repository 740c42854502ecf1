"""The certified catalogue (消费帮扶产品目录) as a page: certificates, states, alerts, sales split.

Who sees what (:mod:`bangfu.scope`, ``Scope.suppliers``): the county office the certificates of
the suppliers in its region (enterprises included: they have no login), a cooperative those of
its own supplier and its products; every other role nothing (the page is a 404).

- *State* of a certificate today (:func:`bangfu.certification.state_of`): valid, expiring (ends
  within the ``within`` days asked, 60 by default), pending (not begun), expired, revoked.
- *Counts* are over every certificate the user sees, whatever the filter.
- *Sales by month*: net sales (gross in the paid month, refunds in the refund's month, as the
  sales ledger) split by the certified-at-sale rule; for the county over the shops of its
  region (the overview's and the product pivot's figures), for a cooperative over the sales of
  its own products on every channel.
- *Alerts*: the open ``cert.expiry`` alerts (60 and 30 days) of the certificates the user sees.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import sales_days
from bangfu.certification import KIND, parse_subject, state_of, with_certified
from bangfu.enums import UserRole
from bangfu.models import (
    Alert,
    Certification,
    Product,
    Supplier,
    SupplierCertification,
)
from bangfu.reports.base import Period, day_month
from bangfu.scope import Scope

STATES = ("valid", "expiring", "pending", "expired", "revoked")
HOLDERS = ("product", "supplier")


@dataclass(frozen=True)
class CertRow:
    holder: str  # product | supplier
    id: int
    product_id: int | None
    product: str  # "" for a supplier's certificate
    spu_code: str
    supplier_id: int
    supplier: str
    number: str
    body: str
    batch: str
    valid_from: date
    valid_to: date
    status: str  # as stored
    state: str  # today (STATES)
    days_left: int  # valid_to - today (negative once ended)


@dataclass(frozen=True)
class Counts:
    valid: int  # in force today and not within 60 days of its end
    expiring_30: int  # in force, ends within 30 days
    expiring_60: int  # in force, ends within 60 days (the 30 included)
    pending: int
    expired: int
    revoked: int
    uncertified_products: int  # products with no certificate in force today

    @property
    def in_force(self) -> int:
        return self.valid + self.expiring_60


@dataclass(frozen=True)
class ExpiryAlert:
    id: int
    severity: str
    threshold: int
    holder: str
    certificate_id: int
    message: str
    created_at: datetime


@dataclass
class Catalogue:
    today: date
    rows: list[CertRow]  # after the filters
    total: int  # every certificate the user sees
    counts: Counts
    suppliers: list[tuple[int, str]]  # for the filter
    alerts: list[ExpiryAlert]
    months: list[str]
    certified: list[int]  # net 帮扶 sales per month
    uncertified: list[int]


def _state(row: Any, today: date, within: int) -> str:
    return state_of(row.status, row.valid_from, row.valid_to, today, within)


async def certificates(conn: AsyncConnection, scope: Scope, today: date, within: int = 60) -> list[CertRow]:
    """Every certificate (product and supplier) the user sees, suppliers then numbers in order."""
    product_rows = await conn.execute(
        select(
            Certification.id,
            Certification.product_id,
            Product.name,
            Product.spu_code,
            Supplier.id.label("supplier_id"),
            Supplier.name.label("supplier"),
            Certification.number,
            Certification.body,
            Certification.batch,
            Certification.valid_from,
            Certification.valid_to,
            Certification.status,
        )
        .join(Product, Product.id == Certification.product_id)
        .join(Supplier, Supplier.id == Product.supplier_id)
        .where(scope.suppliers(Supplier.id))
    )
    supplier_rows = await conn.execute(
        select(
            SupplierCertification.id,
            Supplier.id.label("supplier_id"),
            Supplier.name.label("supplier"),
            SupplierCertification.number,
            SupplierCertification.body,
            SupplierCertification.batch,
            SupplierCertification.valid_from,
            SupplierCertification.valid_to,
            SupplierCertification.status,
        )
        .join(Supplier, Supplier.id == SupplierCertification.supplier_id)
        .where(scope.suppliers(Supplier.id))
    )
    out = [
        CertRow(
            "product",
            int(r.id),
            int(r.product_id),
            str(r.name),
            str(r.spu_code),
            int(r.supplier_id),
            str(r.supplier),
            str(r.number),
            str(r.body),
            str(r.batch or ""),
            r.valid_from,
            r.valid_to,
            str(getattr(r.status, "value", r.status)),
            _state(r, today, within),
            (r.valid_to - today).days,
        )
        for r in product_rows
    ]
    out += [
        CertRow(
            "supplier",
            int(r.id),
            None,
            "",
            "",
            int(r.supplier_id),
            str(r.supplier),
            str(r.number),
            str(r.body),
            str(r.batch or ""),
            r.valid_from,
            r.valid_to,
            str(getattr(r.status, "value", r.status)),
            _state(r, today, within),
            (r.valid_to - today).days,
        )
        for r in supplier_rows
    ]
    out.sort(key=lambda r: (r.supplier, r.holder != "supplier", r.product, r.number))
    return out


def _counts(rows: list[CertRow], today: date, uncertified: int) -> Counts:
    tally: dict[str, int] = defaultdict(int)
    for r in rows:
        state = state_of(r.status, r.valid_from, r.valid_to, today, 60)
        if state == "expiring":
            tally["expiring_60"] += 1
            if r.days_left <= 30:
                tally["expiring_30"] += 1
        else:
            tally[state] += 1
    return Counts(
        valid=tally["valid"],
        expiring_30=tally["expiring_30"],
        expiring_60=tally["expiring_60"],
        pending=tally["pending"],
        expired=tally["expired"],
        revoked=tally["revoked"],
        uncertified_products=uncertified,
    )


async def uncertified_products(conn: AsyncConnection, scope: Scope, today: date) -> int:
    """Products the user sees with no certificate in force today."""
    in_force = select(Certification.product_id).where(
        Certification.status != "revoked", Certification.valid_from <= today, Certification.valid_to >= today
    )
    return int(
        await conn.scalar(
            select(func.count())
            .select_from(Product)
            .where(scope.suppliers(Product.supplier_id), Product.id.not_in(in_force))
        )
        or 0
    )


async def expiry_alerts(conn: AsyncConnection, scope: Scope, rows: list[CertRow] | None = None) -> list[ExpiryAlert]:
    """Open expiry alerts of the certificates the user sees, the 30-day ones first."""
    seen = {(r.holder, r.id) for r in rows} if rows is not None else None
    out: list[ExpiryAlert] = []
    for alert in await conn.execute(
        select(Alert.id, Alert.severity, Alert.subject, Alert.message, Alert.created_at).where(
            Alert.kind == KIND, Alert.resolved_at.is_(None)
        )
    ):
        parsed = parse_subject(alert.subject)
        if parsed is None or (seen is not None and (parsed[0], parsed[1]) not in seen):
            continue
        out.append(
            ExpiryAlert(
                int(alert.id),
                str(alert.severity),
                parsed[2],
                parsed[0],
                parsed[1],
                str(alert.message),
                alert.created_at,
            )
        )
    out.sort(key=lambda a: (a.threshold, a.message))
    return out


async def monthly_sales(
    conn: AsyncConnection, scope: Scope, period: Period, *, stored: bool = True
) -> tuple[list[str], list[int], list[int]]:
    """(months, 帮扶 net per month, uncertified net per month) over the user's sales: the county's
    are those of its region's shops (as the overview), a cooperative's those of its own products
    on every channel."""
    # Summed per month, product and sale day first, the certificate looked up per such group (as
    # the county overview's sales do), from the sales per day (bangfu.sales_days, ``stored``).
    county = scope.role in (UserRole.ADMIN, UserRole.COUNTY)
    marked = await sales_days.read_marked_days(conn, period, stored=stored)
    sold = sales_days.gross_rows(conn, period, stored=stored, marked_days=marked)
    paid_month = day_month(conn, sold.c.day)
    gross = (
        select(
            paid_month.label("month"),
            sold.c.product_id.label("product_id"),
            sold.c.day.label("day"),
            func.sum(sold.c.fen).label("amount"),
        )
        .where(scope.shops(sold.c.shop_id) if county else scope.suppliers(sold.c.supplier_id))
        .group_by(paid_month, sold.c.product_id, sold.c.day)
    )
    refunded = sales_days.refund_rows(conn, period, stored=stored, marked_days=marked)
    refund_month = day_month(conn, refunded.c.day)
    refunds = (
        select(
            refund_month.label("month"),
            refunded.c.product_id.label("product_id"),
            refunded.c.sale_day.label("day"),
            func.sum(-refunded.c.fen).label("amount"),
        )
        .where(scope.shops(refunded.c.shop_id) if county else scope.suppliers(refunded.c.supplier_id))
        .group_by(refund_month, refunded.c.product_id, refunded.c.sale_day)
    )
    months = period.months()
    certified: dict[str, int] = defaultdict(int)
    other: dict[str, int] = defaultdict(int)
    for lines in (gross, refunds):
        sub = with_certified(lines.subquery())
        for month, flag, amount in await conn.execute(
            select(sub.c.month, sub.c.certified, func.sum(sub.c.amount)).group_by(sub.c.month, sub.c.certified)
        ):
            (certified if flag else other)[str(month)] += int(amount)
    return months, [certified.get(m, 0) for m in months], [other.get(m, 0) for m in months]


async def catalogue(
    conn: AsyncConnection,
    scope: Scope,
    *,
    today: date,
    period: Period,
    search: str | None = None,
    supplier_id: int | None = None,
    state: str | None = None,
    within: int | None = None,
    holder: str | None = None,
) -> Catalogue:
    """The page: filters ``search`` (product, supplier or number), ``supplier_id``, ``state``
    (STATES), ``within`` (ends within N days, still in force), ``holder`` (product | supplier)."""
    every = await certificates(conn, scope, today, within or 60)
    rows = every
    if search:
        needle = search.strip().lower()
        rows = [
            r for r in rows if needle in r.product.lower() or needle in r.supplier.lower() or needle in r.number.lower()
        ]
    if supplier_id is not None:
        rows = [r for r in rows if r.supplier_id == supplier_id]
    if state:
        rows = [r for r in rows if r.state == state]
    if within is not None:
        rows = [r for r in rows if r.state in ("expiring", "valid") and 0 <= r.days_left <= within]
    if holder:
        rows = [r for r in rows if r.holder == holder]
    suppliers = [
        (int(i), str(n))
        for i, n in await conn.execute(
            select(Supplier.id, Supplier.name).where(scope.suppliers(Supplier.id)).order_by(Supplier.name)
        )
    ]
    months, certified, uncertified = await monthly_sales(conn, scope, period)
    return Catalogue(
        today=today,
        rows=rows,
        total=len(every),
        counts=_counts(every, today, await uncertified_products(conn, scope, today)),
        suppliers=suppliers,
        alerts=await expiry_alerts(conn, scope, every),
        months=months,
        certified=certified,
        uncertified=uncertified,
    )


async def card(conn: AsyncConnection, scope: Scope, today: date) -> Counts | None:
    """The county overview's card: the counts, or None when the user sees no certificate."""
    rows = await certificates(conn, scope, today)
    if not rows:
        return None
    return _counts(rows, today, await uncertified_products(conn, scope, today))


def row_json(r: CertRow) -> dict[str, Any]:
    return {
        "holder": r.holder,
        "id": r.id,
        "product_id": r.product_id,
        "product": r.product or None,
        "product_code": r.spu_code or None,
        "supplier_id": r.supplier_id,
        "supplier": r.supplier,
        "number": r.number,
        "body": r.body,
        "batch": r.batch or None,
        "valid_from": r.valid_from.isoformat(),
        "valid_to": r.valid_to.isoformat(),
        "status": r.status,
        "state": r.state,
        "days_left": r.days_left,
    }


def catalogue_json(c: Catalogue) -> dict[str, Any]:
    k = c.counts
    return {
        "today": c.today.isoformat(),
        "total": c.total,
        "counts": {
            "valid": k.valid,
            "expiring_30": k.expiring_30,
            "expiring_60": k.expiring_60,
            "pending": k.pending,
            "expired": k.expired,
            "revoked": k.revoked,
            "uncertified_products": k.uncertified_products,
        },
        "items": [row_json(r) for r in c.rows],
        "alerts": [
            {
                "id": a.id,
                "severity": a.severity,
                "threshold": a.threshold,
                "holder": a.holder,
                "certificate_id": a.certificate_id,
                "message": a.message,
            }
            for a in c.alerts
        ],
        "monthly": [
            {"month": m, "certified_net_fen": a, "uncertified_net_fen": b}
            for m, a, b in zip(c.months, c.certified, c.uncertified, strict=True)
        ],
    }


__all__ = ["HOLDERS", "STATES", "Catalogue", "CertRow", "Counts", "card", "catalogue", "catalogue_json"]
