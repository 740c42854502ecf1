"""Drill-down into the ledger: one journal with its postings, one order line with what made it.

A user sees a journal when it posts to an account of a cooperative in their scope or of one of
its member households; an order line when it drew on such a cooperative's lots (or lots its
households delivered to), or sells such a cooperative's product. Anything else is None (the web
answers 404 as for an id that does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from bangfu.day_marks import as_date
from bangfu.enums import JournalKind, UserRole
from bangfu.ledger import journal_uid, sale_event_key
from bangfu.models import (
    Cooperative,
    Host,
    Household,
    Journal,
    JournalLineDay,
    LedgerAccount,
    LineAccounting,
    LineAttribution,
    LiveSession,
    LotAllocation,
    LotContribution,
    Order,
    OrderLine,
    Posting,
    Product,
    Refund,
    RefundPosting,
    Shop,
    Sku,
    SplitPolicy,
    Supplier,
    SupplyLot,
)
from bangfu.queries.cooperatives import indexed_line_id
from bangfu.reports.base import SHANGHAI, local_midnight, parse_line_event
from bangfu.reports.households import category_label
from bangfu.scope import Scope
from bangfu.store import among


def _enum(value: Any) -> str:
    return str(value.value) if hasattr(value, "value") else str(value)


# -- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountLabel:
    """An account as people read it: its role (``receivable``, ``platform_fee``, ``retention``,
    ``rebate``...) and whose it is; the page turns the role into words, never shows the code."""

    code: str
    role: str
    owner: str  # the shop, host, cooperative or household (masked as the scope requires)
    owner_kind: str
    owner_id: int | None
    link: str | None = None


def account_role(code: str) -> str:
    parts = code.split(":")
    head = parts[0]
    if head == "receivable":
        return "receivable"
    if head == "fees":
        return parts[-1] if parts[-1] in ("platform_fee", "payment_fee", "logistics") else "fee"
    if head == "payable":
        return "commission"
    if head == "cooperative":
        return "retention"
    if head == "collective":
        return "collective"
    if head == "supplier":
        return "supplier"
    if head == "household":
        if len(parts) == 3 and parts[2] == "bonus":
            return "bonus"
        if len(parts) == 3 and parts[2] == "advance":
            return "guaranteed"
        return "rebate"
    return "other"


async def account_labels(
    conn: AsyncConnection, scope: Scope, accounts: list[tuple[str, str | None, int | None]]
) -> dict[str, AccountLabel]:
    """Labels of accounts given as (code, owner type, owner id): one lookup per kind of owner."""
    ids: dict[str, set[int]] = {}
    for _code, kind, oid in accounts:
        if kind and oid is not None:
            ids.setdefault(kind, set()).add(int(oid))
    names: dict[tuple[str, int], tuple[str, str | None]] = {}
    if ids.get("shop"):
        for sid, name in await conn.execute(
            select(Shop.id, Shop.name).where(among(conn, Shop.id, sorted(ids["shop"])))
        ):
            names[("shop", int(sid))] = (name, None)
    if ids.get("host"):
        for hid, name in await conn.execute(
            select(Host.id, Host.name).where(among(conn, Host.id, sorted(ids["host"])))
        ):
            names[("host", int(hid))] = (name, None)
    if ids.get("cooperative"):
        coops = await conn.execute(
            select(Cooperative.id, Supplier.name, scope.cooperatives(Cooperative.id))
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(among(conn, Cooperative.id, sorted(ids["cooperative"])))
        )
        for cid, name, visible in coops:
            names[("cooperative", int(cid))] = (name, f"/cooperatives/{cid}" if visible else None)
    if ids.get("supplier"):
        suppliers = await conn.execute(
            select(Supplier.id, Supplier.name).where(among(conn, Supplier.id, sorted(ids["supplier"])))
        )
        for sid, name in suppliers:
            names[("supplier", int(sid))] = (name, None)
    if ids.get("household"):
        members = await conn.execute(
            select(
                Household.id,
                Household.head_name,
                Household.member_no,
                Household.cooperative_id,
                scope.cooperatives(Household.cooperative_id),
            ).where(among(conn, Household.id, sorted(ids["household"])))
        )
        for hid, name, member_no, coop, visible in members:
            shown = f"{scope.household_name(name, int(coop))} ({member_no})"
            names[("household", int(hid))] = (shown, f"/households/{hid}" if visible else None)
    out: dict[str, AccountLabel] = {}
    for code, kind, oid in accounts:
        owner, link = names.get((kind or "", int(oid) if oid is not None else -1), ("", None))
        out[code] = AccountLabel(code, account_role(code), owner, kind or "", oid, link)
    return out


# -- journals -----------------------------------------------------------------------------------


def visible_journal(scope: Scope, journal_id: Any) -> Any:
    """SQL: the journal posts to an account of a visible cooperative or of one of its households
    (an administrator sees every journal, enterprise suppliers' sales included)."""
    if scope.role == UserRole.ADMIN:
        return true()
    coop_account = and_(LedgerAccount.owner_type == "cooperative", scope.cooperatives(LedgerAccount.owner_id))
    household_account = and_(
        LedgerAccount.owner_type == "household",
        LedgerAccount.owner_id.in_(select(Household.id).where(scope.cooperatives(Household.cooperative_id))),
    )
    return exists(
        select(Posting.journal_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(Posting.journal_id == journal_id, or_(coop_account, household_account))
    )


@dataclass(frozen=True)
class PostingView:
    account: AccountLabel
    amount_fen: int  # debit positive, credit negative

    @property
    def debit_fen(self) -> int:
        return self.amount_fen if self.amount_fen > 0 else 0

    @property
    def credit_fen(self) -> int:
        return -self.amount_fen if self.amount_fen < 0 else 0


@dataclass
class JournalView:
    id: int
    uid: str
    kind: str
    source_event: str
    occurred_at: datetime
    posted_at: datetime
    memo: str | None
    reverses_id: int | None
    line_id: int | None
    line_visible: bool
    postings: list[PostingView]
    surplus: tuple[int, int] | None = None  # (cooperative, year) of a surplus journal

    @property
    def debits_fen(self) -> int:
        return sum(p.debit_fen for p in self.postings)

    @property
    def credits_fen(self) -> int:
        return sum(p.credit_fen for p in self.postings)


_ROLE_ORDER = {
    r: i
    for i, r in enumerate(
        [
            "receivable",
            "platform_fee",
            "payment_fee",
            "logistics",
            "fee",
            "commission",
            "retention",
            "collective",
            "guaranteed",
            "rebate",
            "bonus",
            "supplier",
            "other",
        ]
    )
}


async def journal(conn: AsyncConnection, scope: Scope, journal_id: int) -> JournalView | None:
    row = (
        await conn.execute(
            select(
                Journal.id,
                Journal.uid,
                Journal.kind,
                Journal.source_event,
                Journal.occurred_at,
                Journal.posted_at,
                Journal.memo,
                Journal.reverses_id,
            ).where(Journal.id == journal_id, visible_journal(scope, Journal.id))
        )
    ).first()
    if row is None:
        return None
    legs = [
        (code, kind, oid, int(amount))
        for code, kind, oid, amount in await conn.execute(
            select(LedgerAccount.code, LedgerAccount.owner_type, LedgerAccount.owner_id, Posting.amount_fen)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(Posting.journal_id == journal_id)
        )
    ]
    labels = await account_labels(conn, scope, [(c, k, o) for c, k, o, _ in legs])
    postings = [PostingView(labels[c], a) for c, _k, _o, a in legs]
    postings.sort(key=lambda p: (_ROLE_ORDER.get(p.account.role, 99), p.account.owner, p.account.code))
    kind = _enum(row[2])
    line_id = parse_line_event(row[3])
    line_visible = (
        line_id is not None
        and await conn.scalar(select(OrderLine.id).where(OrderLine.id == line_id, visible_line(scope, OrderLine.id)))
        is not None
    )
    surplus = None
    if kind == JournalKind.SURPLUS.value:
        parts = str(row[3]).split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            surplus = (int(parts[1]), int(parts[2]))
    return JournalView(
        int(row[0]), row[1], kind, row[3], row[4], row[5], row[6], row[7], line_id, line_visible, postings, surplus
    )


# -- order lines --------------------------------------------------------------------------------


def visible_line(scope: Scope, line_id: Any) -> Any:
    """SQL: the line drew on a visible cooperative's lot (or a lot its households delivered to),
    or sells a visible cooperative's product (an administrator sees every line)."""
    if scope.role == UserRole.ADMIN:
        return true()
    own_lot = exists(
        select(LotAllocation.id)
        .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
        .where(LotAllocation.order_line_id == line_id, scope.cooperatives(SupplyLot.cooperative_id))
    )
    delivered = exists(
        select(LotAllocation.id)
        .join(LotContribution, LotContribution.lot_id == LotAllocation.lot_id)
        .join(Household, Household.id == LotContribution.household_id)
        .where(LotAllocation.order_line_id == line_id, scope.cooperatives(Household.cooperative_id))
    )
    line = aliased(OrderLine)
    product = exists(
        select(line.id)
        .join(Sku, Sku.id == line.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Cooperative, Cooperative.supplier_id == Product.supplier_id)
        .where(line.id == line_id, scope.cooperatives(Cooperative.id))
    )
    return or_(own_lot, delivered, product)


@dataclass(frozen=True)
class Contributor:
    household_id: int
    member_no: str
    name: str
    category: str
    quantity: int
    grade: str
    guaranteed_price_fen: int
    visible: bool


@dataclass
class LotDraw:
    lot_id: int
    lot_code: str
    received_on: date
    cooperative_id: int | None
    cooperative: str
    units: int  # drawn by the line (returns are listed apart)
    returned: int
    contributors: list[Contributor] = field(default_factory=list)


@dataclass(frozen=True)
class RefundView:
    id: int
    platform_refund_id: str
    status: str
    amount_fen: int
    occurred_at: datetime
    journal_id: int | None


@dataclass(frozen=True)
class LineJournal:
    id: int
    kind: str
    occurred_at: datetime
    source_event: str
    receivable_fen: int


@dataclass
class LineView:
    id: int
    order_id: int
    platform_order_id: str
    platform_line_id: str
    shop: str
    platform: str
    channel: str
    order_status: str
    paid_at: datetime | None
    title: str
    product: str | None
    sku: str | None
    quantity: int
    unit_price_fen: int
    paid_fen: int
    refund_state: str
    version: int
    status: str | None  # where posting stands (posted, waiting_lots...)
    session_id: int | None
    session: str | None
    session_link: str | None
    host: str | None
    confidence: str | None
    rule: str | None
    cooperative_id: int | None
    cooperative: str | None
    policy_version: int | None
    policy_link: str | None
    draws: list[LotDraw]
    refunds: list[RefundView]
    journals: list[LineJournal]


def policy_in_force(versions: list[tuple[date, int]], on: date) -> int | None:
    """The version with the latest ``effective_from`` on or before ``on`` (ties: highest version),
    the rule posting uses (``workers.posting.policy_in_force``)."""
    candidates = [v for v in versions if v[0] <= on]
    return max(candidates)[1] if candidates else None


async def order_line(conn: AsyncConnection, scope: Scope, line_id: int) -> LineView | None:
    row = (
        await conn.execute(
            select(
                OrderLine.id,
                Order.id,
                Order.platform_order_id,
                OrderLine.platform_line_id,
                Shop.name,
                Shop.platform,
                Shop.channel_type,
                Order.status,
                Order.paid_at,
                OrderLine.title,
                Product.name,
                Sku.spec,
                OrderLine.quantity,
                OrderLine.unit_price_fen,
                OrderLine.paid_fen,
                OrderLine.refund_state,
                OrderLine.version,
                OrderLine.shop_id,
                Product.supplier_id,
            )
            .join(Order, Order.id == OrderLine.order_id)
            .join(Shop, Shop.id == OrderLine.shop_id)
            .outerjoin(Sku, Sku.id == OrderLine.sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
            .where(OrderLine.id == line_id, visible_line(scope, OrderLine.id))
        )
    ).first()
    if row is None:
        return None
    shop_id, supplier_id, paid_at = int(row[17]), row[18], row[8]

    accounting = (
        await conn.execute(
            select(LineAccounting.status, LineAccounting.sale_version).where(LineAccounting.order_line_id == line_id)
        )
    ).first()

    attribution = (
        await conn.execute(
            select(
                LiveSession.id,
                LiveSession.title,
                LiveSession.room_id,
                LiveSession.started_at,
                Host.name,
                LineAttribution.confidence,
                LineAttribution.rule,
                scope.sessions() if scope.sees_sessions else LiveSession.id.is_(None),
            )
            .select_from(LineAttribution)
            .outerjoin(LiveSession, LiveSession.id == LineAttribution.session_id)
            .outerjoin(Host, Host.id == LineAttribution.host_id)
            .where(LineAttribution.order_line_id == line_id)
        )
    ).first()
    session_id = session = session_link = host = confidence = rule = None
    if attribution is not None:
        sid, stitle, room, started, host_name, conf, rule_name, can_see = attribution
        confidence, rule, host = _enum(conf), rule_name, host_name
        if sid is not None:
            session_id = int(sid)
            session = f"{stitle or room}" + (f" ({started.astimezone(SHANGHAI):%Y-%m-%d %H:%M})" if started else "")
            if scope.sees_sessions and can_see:
                session_link = f"/sessions/{sid}"

    coop = None
    if supplier_id is not None:
        coop = (
            await conn.execute(
                select(Cooperative.id, Supplier.name, scope.cooperatives(Cooperative.id))
                .join(Supplier, Supplier.id == Cooperative.supplier_id)
                .where(Cooperative.supplier_id == supplier_id)
            )
        ).first()
    cooperative_id = int(coop[0]) if coop is not None else None
    policy_version = policy_link = None
    if cooperative_id is not None and paid_at is not None:
        versions = [
            (f, int(v))
            for f, v in await conn.execute(
                select(SplitPolicy.effective_from, SplitPolicy.version).where(
                    SplitPolicy.cooperative_id == cooperative_id
                )
            )
        ]
        policy_version = policy_in_force(versions, paid_at.astimezone(SHANGHAI).date())
        if policy_version is not None and coop is not None and coop[2]:
            policy_link = f"/cooperatives/{cooperative_id}/policies/{policy_version}"

    draws = await _draws(conn, scope, line_id)
    refunds = [
        RefundView(int(i), pid, _enum(status), int(amount), modified, journal_id)
        for i, pid, status, amount, modified, journal_id in await conn.execute(
            select(
                Refund.id,
                Refund.platform_refund_id,
                Refund.status,
                Refund.amount_fen,
                Refund.modified_at,
                RefundPosting.journal_id,
            )
            .outerjoin(RefundPosting, RefundPosting.refund_id == Refund.id)
            .where(Refund.order_line_id == line_id)
            .order_by(Refund.modified_at, Refund.id)
        )
    ]
    journals = await _line_journals(conn, shop_id, line_id, paid_at, accounting[1] if accounting else None, refunds)
    return LineView(
        int(row[0]),
        int(row[1]),
        row[2],
        row[3],
        row[4],
        _enum(row[5]),
        _enum(row[6]),
        _enum(row[7]),
        paid_at,
        row[9],
        row[10],
        row[11],
        int(row[12]),
        int(row[13]),
        int(row[14]),
        _enum(row[15]),
        int(row[16]),
        accounting[0] if accounting else None,
        session_id,
        session,
        session_link,
        host,
        confidence,
        rule,
        cooperative_id,
        coop[1] if coop is not None else None,
        policy_version,
        policy_link,
        draws,
        refunds,
        journals,
    )


async def _draws(conn: AsyncConnection, scope: Scope, line_id: int) -> list[LotDraw]:
    rows = await conn.execute(
        select(
            SupplyLot.id,
            SupplyLot.lot_code,
            SupplyLot.received_on,
            SupplyLot.cooperative_id,
            Supplier.name,
            LotAllocation.quantity,
        )
        .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
        .outerjoin(Cooperative, Cooperative.id == SupplyLot.cooperative_id)
        .outerjoin(Supplier, Supplier.id == Cooperative.supplier_id)
        .where(LotAllocation.order_line_id == line_id)
        .order_by(SupplyLot.id)
    )
    lots: dict[int, LotDraw] = {}
    for lot_id, code, received, coop_id, coop_name, qty in rows:
        draw = lots.setdefault(int(lot_id), LotDraw(int(lot_id), code, received, coop_id, coop_name or "", 0, 0))
        if qty > 0:
            draw.units += int(qty)
        else:
            draw.returned -= int(qty)
    if lots:
        people = await conn.execute(
            select(
                LotContribution.lot_id,
                Household.id,
                Household.member_no,
                Household.head_name,
                Household.category,
                Household.cooperative_id,
                LotContribution.quantity,
                LotContribution.grade,
                LotContribution.guaranteed_price_fen,
                scope.cooperatives(Household.cooperative_id),
            )
            .join(Household, Household.id == LotContribution.household_id)
            .where(among(conn, LotContribution.lot_id, sorted(lots)))
            .order_by(LotContribution.lot_id, Household.member_no)
        )
        for lot_id, hid, member_no, name, category, coop, qty, grade, price, visible in people:
            lots[int(lot_id)].contributors.append(
                Contributor(
                    int(hid),
                    member_no,
                    scope.household_name(name, int(coop)),
                    category_label(category),
                    int(qty),
                    grade,
                    int(price),
                    bool(visible),
                )
            )
    return list(lots.values())


async def _line_journals(
    conn: AsyncConnection,
    shop_id: int,
    line_id: int,
    paid_at: datetime | None,
    sale_version: int | None,
    refunds: list[RefundView],
) -> list[LineJournal]:
    """The line's journals: found by their source events (``order-line:<shop>:<line>:...``).

    The sale's and the refunds' are found by key; true-ups by the prefix of their source event.
    PostgreSQL finds them by the line id in it (``ix_journals_order_line``, migration 0050: a
    few index entries). SQLite looks among the journals of the days the line has journals on
    (``journal_line_days``, written with every sale, refund and true-up journal, the only kinds
    whose source events name a line: migration 0039), from the payment on (they are never dated
    earlier). Not among every journal since the payment: at 1,000,000 lines that scanned most of
    the ledger (109 ms a line); and not the days' journals on PostgreSQL either, where a day holds
    about 17,000 at that size (10-125 ms a line, the slower when the day is not in memory).
    """
    prefix = f"order-line:{shop_id}:{line_id}:"
    of_line = Journal.source_event.like(prefix.replace("_", r"\_") + "%", escape="\\")
    ids: set[int] = set()
    if conn.dialect.name == "postgresql":
        ids = set(
            await conn.scalars(select(Journal.id).where(indexed_line_id(Journal.source_event) == line_id, of_line))
        )
    else:
        days = [
            as_date(d)
            for d in await conn.scalars(select(JournalLineDay.day).where(JournalLineDay.order_line_id == line_id))
        ]
        conditions: list[Any] = [
            of_line,
            or_(
                false(),
                *(
                    and_(
                        Journal.occurred_at >= local_midnight(d),
                        Journal.occurred_at < local_midnight(d + timedelta(days=1)),
                    )
                    for d in sorted(set(days))
                ),
            ),
        ]
        if paid_at is not None:
            conditions.append(Journal.occurred_at >= paid_at)
        if days:
            ids = set(await conn.scalars(select(Journal.id).where(*conditions)))
    if sale_version is not None:
        ids |= set(
            await conn.scalars(
                select(Journal.id).where(Journal.uid == journal_uid(sale_event_key(shop_id, line_id, sale_version)))
            )
        )
    ids |= {r.journal_id for r in refunds if r.journal_id is not None}
    if not ids:
        return []
    out = []
    found = await conn.execute(
        select(Journal.id, Journal.kind, Journal.occurred_at, Journal.source_event)
        .where(among(conn, Journal.id, sorted(ids)))
        .order_by(Journal.occurred_at, Journal.id)
    )
    receivable = {
        int(jid): int(amount)
        for jid, amount in await conn.execute(
            select(Posting.journal_id, Posting.amount_fen)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(among(conn, Posting.journal_id, sorted(ids)), LedgerAccount.code == f"receivable:shop:{shop_id}")
        )
    }
    for jid, kind, occurred, source in found:
        out.append(LineJournal(int(jid), _enum(kind), occurred, source, receivable.get(int(jid), 0)))
    return out
