"""消费帮扶产品认定: the certified-at-sale rule, certificate states and the expiry alerts.

**The rule** (one place, :func:`certified_at_sale`): a sale counts as a 帮扶 sale when the
product of its line had, on the day the order was paid (Asia/Shanghai), a certificate whose
status is not ``revoked`` and whose ``valid_from <= day <= valid_to``. ``expired`` is what a
certificate becomes after its last day: it still covers the days it was valid, so marking it
expired never rewrites a past month. ``revoked`` voids the certificate for every day (the list
names no revocation date). A line without a mapped SKU has no product and is not certified.
A refund follows the sale it reverses: it is certified when its order line's sale was.

Every figure the hub calls 帮扶 sales uses it (the sales ledger, the county overview, the
product pivot, the public board, the certified catalogue page, the purchasing units' reserved
share and its ranking through :mod:`bangfu.unit_purchases`): ``docs/certification.md``.

**Expiry alerts** (:func:`run_expiry_alerts`, the beat's ``bangfu.certificate_expiry`` task and
``bangfu certificates alerts``): one alert per certificate and threshold (60 and 30 days before
its last day), kind ``cert.expiry``, subject ``product:<id>:60`` or ``supplier:<id>:30``. It opens
when the certificate is not revoked and ends within the threshold (not when it had already ended
when first seen: a list imported with long-ended certificates raises nothing), and stays open
after the last day while nothing replaces it; it is resolved when the certificate is renewed (its own end
moved beyond the threshold by a re-import, or another unrevoked certificate of the same product
or supplier runs beyond it) or revoked. A resolved alert that applies again is reopened, never
duplicated. The same run marks ``valid`` certificates past their last day ``expired``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, Subquery, and_, case, cast, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI, utcnow
from bangfu.enums import CertificationStatus
from bangfu.i18n import MESSAGES
from bangfu.models import Alert, Certification, Product, Supplier, SupplierCertification
from bangfu.reports.base import local_day

MESSAGES.update(
    {
        "cert.line.certified": {"zh": "帮扶销售（认定产品）", "en": "Assistance sales (certified products)"},
        "cert.line.uncertified": {"zh": "未认定产品销售", "en": "Sales of uncertified products"},
        "cert.ledger_summary": {
            "zh": "帮扶销售（销售当天认定有效的产品）净额 {certified}；未认定产品销售净额 {uncertified}",
            "en": "Assistance sales (products certified on the day of sale), net {certified}; "
            "sales of uncertified products, net {uncertified}",
        },
        "cert.col.certified_net": {"zh": "帮扶销售（净额）", "en": "Assistance sales (net)"},
        "cert.col.uncertified_net": {"zh": "未认定（净额）", "en": "Uncertified (net)"},
    }
)

KIND = "cert.expiry"
THRESHOLDS = (60, 30)
COUNTS = (CertificationStatus.VALID, CertificationStatus.EXPIRED)  # statuses that cover their days
_SUBJECT = re.compile(r"(product|supplier):(\d+):(\d+)")
_LOCK_KEY = 0x62616E67_63657274  # "bang" "cert"


def sale_day(conn: AsyncConnection, paid_at: Any) -> ColumnElement[Any]:
    """SQL: the Asia/Shanghai day of a UTC timestamp, comparable with a ``Date`` column."""
    if conn.dialect.name == "postgresql":
        return cast(paid_at.op("AT TIME ZONE")(text("'Asia/Shanghai'")), Date)
    return local_day(conn, paid_at)  # SQLite keeps dates as YYYY-MM-DD text


def certified_at_sale(conn: AsyncConnection, product_id: Any, paid_at: Any) -> ColumnElement[bool]:
    """SQL: the product had a certificate covering the sale's local day (the module's rule)."""
    return certified_on(product_id, sale_day(conn, paid_at))


def certified_on(product_id: Any, day: Any) -> ColumnElement[bool]:
    """SQL: the product had a certificate covering ``day`` (a :func:`sale_day` expression or
    column): :func:`certified_at_sale` for rows already grouped by product and day."""
    return exists().where(
        Certification.product_id == product_id,
        Certification.status.in_(COUNTS),
        Certification.valid_from <= day,
        Certification.valid_to >= day,
    )


def with_certified(groups: Subquery, product_id: str = "product_id", day: str = "day") -> Subquery:
    """``groups`` (rows unique by their columns: a ``GROUP BY``'s result, by product and day among
    its keys) with a ``certified`` column, 1 or 0: :func:`certified_on` for each row, as a join.

    The same rule as :func:`certified_on`, for thousands of groups at once: a correlated
    ``EXISTS`` per group ran a scan of the certificates per row (4,838 of them for the refunds
    of two months at 1,000,000 lines, 22 of the query's 36 ms). Joined to
    :func:`certified_spans` (each product's certificates merged once into disjoint spans), a
    row meets at most one span, so a day two certificates of the product cover still counts
    once, without grouping the rows back (that grouping sorted every row by all its columns)."""
    spans = certified_spans()
    covered = and_(
        spans.c.product_id == groups.c[product_id],
        spans.c.first_day <= groups.c[day],
        spans.c.last_day >= groups.c[day],
    )
    return (
        select(*groups.c, case((spans.c.product_id.is_not(None), 1), else_=0).label("certified"))
        .select_from(groups.outerjoin(spans, covered))
        .subquery("certified_groups")
    )


def certified_spans() -> Subquery:
    """Subquery (product_id, first_day, last_day): the days each product's certificates cover by
    :func:`certified_on`'s rule, overlapping certificates merged, so the spans of a product are
    disjoint: a row of (product, day) joins at most one span, and is certified when it joins one.

    The one form of the rule for rows in bulk: :func:`with_certified` joins it to rows grouped by
    product and day, and readers that sum rows by something else (the county overview's sales per
    channel) join it directly, with a range condition: the certificates merged once and hashed,
    no per-row lookup. Sorted by ``valid_from``, a certificate starts a new span when it starts
    after every earlier one of the product has ended; a span runs from its first certificate's
    ``valid_from`` to the latest ``valid_to`` among its certificates (a certificate ending before
    it starts covers no day and never widens a span)."""
    order = (Certification.valid_from, Certification.valid_to, Certification.id)
    reach = (
        func.max(Certification.valid_to)
        .over(partition_by=Certification.product_id, order_by=order, rows=(None, -1))
        .label("reach")
    )
    ordered = (
        select(Certification.product_id, Certification.valid_from, Certification.valid_to, Certification.id, reach)
        .where(Certification.status.in_(COUNTS))
        .subquery("certificates")
    )
    starts = case((or_(ordered.c.reach.is_(None), ordered.c.valid_from > ordered.c.reach), 1), else_=0)
    numbered = select(
        ordered.c.product_id,
        ordered.c.valid_from,
        ordered.c.valid_to,
        func.sum(starts)
        .over(
            partition_by=ordered.c.product_id,
            order_by=(ordered.c.valid_from, ordered.c.valid_to, ordered.c.id),
            rows=(None, 0),
        )
        .label("span"),
    ).subquery("numbered")
    return (
        select(
            numbered.c.product_id,
            func.min(numbered.c.valid_from).label("first_day"),
            func.max(numbered.c.valid_to).label("last_day"),
        )
        .group_by(numbered.c.product_id, numbered.c.span)
        .subquery("certified_spans")
    )


def in_force(status: CertificationStatus | str, valid_from: date, valid_to: date, day: date) -> bool:
    """The same rule in Python, for one certificate and one day."""
    return CertificationStatus(status) in COUNTS and valid_from <= day <= valid_to


def state_of(status: CertificationStatus | str, valid_from: date, valid_to: date, today: date, within: int = 60) -> str:
    """What the catalogue shows: ``revoked``, ``expired``, ``pending`` (not begun), ``expiring``
    (ends within ``within`` days) or ``valid``."""
    status = CertificationStatus(status)
    if status is CertificationStatus.REVOKED:
        return "revoked"
    if valid_to < today:
        return "expired"
    if valid_from > today:
        return "pending"
    if (valid_to - today).days <= within:
        return "expiring"
    return "valid"


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


def subject(holder: str, cert_id: int, threshold: int) -> str:
    return f"{holder}:{cert_id}:{threshold}"


def parse_subject(text_: str | None) -> tuple[str, int, int] | None:
    match = _SUBJECT.fullmatch(text_ or "")
    return (match.group(1), int(match.group(2)), int(match.group(3))) if match else None


@dataclass(frozen=True)
class Held:
    """One certificate as the alert run sees it."""

    holder: str  # product | supplier
    id: int
    owner_id: int  # the product or the supplier
    supplier_id: int
    name: str  # the product's or supplier's name
    number: str
    valid_to: date
    status: CertificationStatus


@dataclass(frozen=True)
class ExpiryRun:
    checked: int
    opened: int
    resolved: int
    expired: int  # certificates marked expired
    open: int

    def as_dict(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "opened": self.opened,
            "resolved": self.resolved,
            "expired": self.expired,
            "open": self.open,
        }


async def _held(conn: AsyncConnection) -> list[Held]:
    out = [
        Held("product", int(i), int(p), int(s), str(n), str(num), to, CertificationStatus(st))
        for i, p, s, n, num, to, st in await conn.execute(
            select(
                Certification.id,
                Certification.product_id,
                Product.supplier_id,
                Product.name,
                Certification.number,
                Certification.valid_to,
                Certification.status,
            ).join(Product, Product.id == Certification.product_id)
        )
    ]
    out += [
        Held("supplier", int(i), int(s), int(s), str(n), str(num), to, CertificationStatus(st))
        for i, s, n, num, to, st in await conn.execute(
            select(
                SupplierCertification.id,
                SupplierCertification.supplier_id,
                Supplier.name,
                SupplierCertification.number,
                SupplierCertification.valid_to,
                SupplierCertification.status,
            ).join(Supplier, Supplier.id == SupplierCertification.supplier_id)
        )
    ]
    return out


def _message(cert: Held, threshold: int, today: date) -> str:
    left = (cert.valid_to - today).days
    what = "产品" if cert.holder == "product" else "经营主体"
    if left < 0:
        return f"{what}认定 {cert.number}（{cert.name}）已于 {cert.valid_to.isoformat()} 到期，尚未续期"
    ends = cert.valid_to.isoformat()
    return f"{what}认定 {cert.number}（{cert.name}）将于 {ends} 到期，剩余 {left} 天（{threshold} 天预警）"


async def run_expiry_alerts(conn: AsyncConnection, *, now: datetime | None = None) -> ExpiryRun:
    """Open, reopen and resolve ``cert.expiry`` alerts, in the caller's transaction."""
    now = now or utcnow()
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    today = local_today(now)
    expired = 0
    for model in (Certification, SupplierCertification):
        result = await conn.execute(
            update(model)
            .where(model.status == CertificationStatus.VALID, model.valid_to < today)
            .values(status=CertificationStatus.EXPIRED)
        )
        expired += int(result.rowcount or 0)
    held = await _held(conn)
    # The furthest end of any unrevoked certificate per holder: a renewal reaches beyond.
    furthest: dict[tuple[str, int], date] = defaultdict(lambda: date.min)
    for c in held:
        if c.status is not CertificationStatus.REVOKED:
            owner = (c.holder, c.owner_id)
            furthest[owner] = max(furthest[owner], c.valid_to)
    existing = {
        str(s): (int(i), r)
        for i, s, r in await conn.execute(select(Alert.id, Alert.subject, Alert.resolved_at).where(Alert.kind == KIND))
    }
    wanted: dict[str, tuple[Held, int]] = {}
    for c in held:
        if c.status is CertificationStatus.REVOKED or furthest[(c.holder, c.owner_id)] > c.valid_to:
            continue  # revoked, or renewed: something of the same holder runs beyond it
        for threshold in THRESHOLDS:
            key = subject(c.holder, c.id, threshold)
            if c.valid_to > today + timedelta(days=threshold):
                continue
            # Raised before the end; one raised stays open past the end until renewed. A
            # certificate first seen already ended (imported so) raises nothing new.
            if c.valid_to >= today or (key in existing and existing[key][1] is None):
                wanted[key] = (c, threshold)
    opened = resolved = 0
    for key, (cert, threshold) in wanted.items():
        detail = json.dumps(
            {
                "holder": cert.holder,
                "certificate_id": cert.id,
                "owner_id": cert.owner_id,
                "supplier_id": cert.supplier_id,
                "threshold": threshold,
                "valid_to": cert.valid_to.isoformat(),
            },
            ensure_ascii=False,
        )
        found = existing.get(key)
        if found is None:
            await conn.execute(
                insert(Alert).values(
                    kind=KIND,
                    severity="warning" if threshold == 60 else "error",
                    subject=key,
                    message=_message(cert, threshold, today),
                    detail=detail,
                    created_at=now,
                )
            )
            opened += 1
        elif found[1] is not None:
            await conn.execute(
                update(Alert)
                .where(Alert.id == found[0])
                .values(resolved_at=None, created_at=now, message=_message(cert, threshold, today), detail=detail)
            )
            opened += 1
        else:
            await conn.execute(
                update(Alert)
                .where(Alert.id == found[0])
                .values(message=_message(cert, threshold, today), detail=detail)
            )
    for key, (alert_id, resolved_at) in existing.items():
        if key not in wanted and resolved_at is None:
            await conn.execute(update(Alert).where(Alert.id == alert_id).values(resolved_at=now))
            resolved += 1
    return ExpiryRun(len(held), opened, resolved, expired, len(wanted))
