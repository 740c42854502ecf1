"""The county's own mall: its shop, checkouts that hold stock, payment and refunds in the store.

**The shop.** The mall is one shop of platform and channel ``selfmall`` with
``settings["own_mall"] = True`` and no ``base_url`` (so the sync never pulls it and the stock
pass never pushes to it; the third-party self-built mall the hub scrapes is another shop). It
lists every active SKU (``listings`` with item id = SPU code, SKU id = SKU code, mapped), so
the stock allocation gives the mall its share like any shop, and its order lines resolve to
their SKU as synced lines do.

**Orders** are written with :func:`bangfu.upsert.upsert_orders` (the sync's own upsert), so
the line queue, attribution, lot draws, ledger, reports and the board take them up: status
``pending_payment`` at checkout, ``paid`` once a verified payment notification or a query of
the provider says so (amount equal to the order's), ``cancelled`` when released unpaid.

**Stock.** A checkout locks its SKUs (the stock pass's per-SKU lock,
:func:`bangfu.stock_truth.lock_skus`), reads the one truth and takes at most what no platform
holds (:attr:`SkuStock.free`); its units are then *held* (``mall_orders.state = 'reserved'``)
and the truth every channel is fed from counts them as gone. Paying turns the hold into a sale
in the same transaction. A hold lapses at ``expires_at`` (:data:`HOLD_MINUTES`, the mall
shop's ``settings["hold_minutes"]``); lapsed holds are released by :func:`release_expired`,
which runs **on read** (before every checkout and every order page of the mall) and
**periodically** (``bangfu mall release``, for a cron or beat schedule). Until it runs a lapsed
hold still counts, which errs on the side of selling less. A payment for a released order is
taken again only if the units are still free; else the order stays cancelled and is logged
``late`` for a refund.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import ChannelType, LineRefundState, OrderStatus, PlatformKind, RefundStatus
from bangfu.models import (
    ChannelPrice,
    Listing,
    MallOrder,
    MallPaymentEvent,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Shop,
    Sku,
)
from bangfu.privacy import buyer_ref
from bangfu.records import OrderLineRecord, OrderRecord, RefundRecord
from bangfu.stock_truth import load_stock, lock_skus
from bangfu.upsert import upsert_orders, upsert_refunds

__all__ = [
    "HOLD_MINUTES",
    "MALL_SHOP_ID",
    "Buyer",
    "CheckoutError",
    "MallOrderView",
    "OutOfStock",
    "PaymentConfig",
    "configure_payment",
    "ensure_mall",
    "mall_shop_id",
    "mark_paid",
    "payment_config",
    "place_order",
    "record_refund",
    "release_expired",
]

MALL_SHOP_ID = "county-mall"  # shops.platform_shop_id of the county's own mall
MALL_NAME = "县域消费帮扶商城"
HOLD_MINUTES = 15
MAX_QUANTITY = 99  # per line

SHOPS: Table = Shop.__table__  # type: ignore[assignment]
LISTINGS: Table = Listing.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
MALL: Table = MallOrder.__table__  # type: ignore[assignment]
EVENTS: Table = MallPaymentEvent.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
PRICES: Table = ChannelPrice.__table__  # type: ignore[assignment]
UNITS: Table = PurchasingUnit.__table__  # type: ignore[assignment]


class CheckoutError(Exception):
    """A checkout the mall refuses (bad cart, bad contact); ``key`` is a message key."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class OutOfStock(CheckoutError):
    def __init__(self, sku_code: str, wanted: int, available: int) -> None:
        super().__init__("mall.out_of_stock", sku=sku_code, wanted=wanted, available=available)
        self.sku_code, self.wanted, self.available = sku_code, wanted, available


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    phone: str
    address: str

    def checked(self) -> Buyer:
        name, phone, address = self.name.strip(), self.phone.strip(), self.address.strip()
        digits = "".join(c for c in phone if c.isdigit())
        if not name or len(name) > 64:
            raise CheckoutError("mall.bad_name")
        if not 7 <= len(digits) <= 15 or len(phone) > 32:
            raise CheckoutError("mall.bad_phone")
        if len(address) < 4 or len(address) > 500:
            raise CheckoutError("mall.bad_address")
        return Buyer(name, phone, address)


@dataclass(frozen=True, slots=True)
class MallOrderView:
    order_no: str
    amount_fen: int
    expires_at: datetime


async def mall_shop_id(conn: AsyncConnection) -> int | None:
    return await conn.scalar(
        select(SHOPS.c.id).where(SHOPS.c.platform == PlatformKind.SELFMALL, SHOPS.c.platform_shop_id == MALL_SHOP_ID)
    )


async def ensure_mall(conn: AsyncConnection, now: datetime, *, county_id: int | None = None) -> int:
    """The mall's shop id, creating the shop and a listing of every active SKU it lacks."""
    shop_id = await mall_shop_id(conn)
    if shop_id is None:
        # Two first checkouts at once may both get here: the second insert does nothing and
        # both read the one shop (the unique (platform, platform_shop_id)), never a 500.
        await conn.execute(
            _insert(conn, SHOPS)
            .values(
                name=MALL_NAME,
                platform=PlatformKind.SELFMALL,
                channel_type=ChannelType.SELFMALL,
                platform_shop_id=MALL_SHOP_ID,
                county_id=county_id,
                active=True,
                settings={"own_mall": True, "hold_minutes": HOLD_MINUTES},
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["platform", "platform_shop_id"])
        )
        shop_id = await mall_shop_id(conn)
        assert shop_id is not None
    listed = set((await conn.execute(select(LISTINGS.c.sku_id).where(LISTINGS.c.shop_id == shop_id))).scalars())
    rows = await conn.execute(
        select(SKUS.c.id, SKUS.c.sku_code, SKUS.c.spec, SKUS.c.retail_price_fen, PRODUCTS.c.spu_code, PRODUCTS.c.name)
        .join(PRODUCTS, PRODUCTS.c.id == SKUS.c.product_id)
        .where(SKUS.c.active.is_(True))
        .order_by(SKUS.c.id)
    )
    new = [
        {
            "shop_id": shop_id,
            "sku_id": r.id,
            "platform_item_id": r.spu_code,
            "platform_sku_id": r.sku_code,
            "outer_id": r.sku_code,
            "title": f"{r.name} {r.spec}"[:255],
            "price_fen": r.retail_price_fen,
            "allocated_stock": 0,
            "on_sale": True,
            "content_hash": "",
            "mapping": "auto",
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
        if r.id not in listed
    ]
    if new:
        await conn.execute(
            _insert(conn, LISTINGS).on_conflict_do_nothing(
                index_elements=["shop_id", "platform_item_id", "platform_sku_id"]
            ),
            new,
        )
    return int(shop_id)


def _insert(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


async def hold_minutes(conn: AsyncConnection, shop_id: int) -> int:
    settings = await conn.scalar(select(SHOPS.c.settings).where(SHOPS.c.id == shop_id)) or {}
    value = settings.get("hold_minutes", HOLD_MINUTES)
    return int(value) if isinstance(value, int) and value > 0 else HOLD_MINUTES


async def mall_prices(conn: AsyncConnection, shop_id: int, sku_ids: Sequence[int]) -> dict[int, int]:
    """The mall's price of each SKU (fen): its channel price, else the promotion, else retail."""
    if not sku_ids:
        return {}
    rows = await conn.execute(
        select(SKUS.c.id, SKUS.c.retail_price_fen, SKUS.c.promo_price_fen, PRICES.c.price_fen)
        .outerjoin(PRICES, (PRICES.c.sku_id == SKUS.c.id) & (PRICES.c.shop_id == shop_id))
        .where(SKUS.c.id.in_(sorted(set(sku_ids))))
    )
    return {r.id: int(r.price_fen or r.promo_price_fen or r.retail_price_fen) for r in rows}


def new_order_no(now: datetime) -> str:
    return f"BFM{now:%Y%m%d%H%M%S}{secrets.token_hex(4).upper()}"


async def place_order(
    conn: AsyncConnection,
    cart: dict[int, int],
    buyer: Buyer,
    *,
    now: datetime,
    unit_id: int | None = None,
    staff_user_id: int | None = None,
    campaign_code: str | None = None,
) -> MallOrderView:
    """Check out ``cart`` (SKU id -> quantity) in the caller's transaction: hold the units
    (:class:`OutOfStock` when any is not free) and store the order ``pending_payment``."""
    buyer = buyer.checked()
    cart = {sku: qty for sku, qty in cart.items() if qty > 0}
    if not cart:
        raise CheckoutError("mall.empty_cart")
    if any(qty > MAX_QUANTITY for qty in cart.values()):
        raise CheckoutError("mall.too_many", most=MAX_QUANTITY)
    shop_id = await ensure_mall(conn, now)
    await release_expired(conn, now)
    await lock_skus(conn, cart)
    skus = {
        r.id: r
        for r in await conn.execute(
            select(SKUS.c.id, SKUS.c.sku_code, SKUS.c.spec, SKUS.c.active, PRODUCTS.c.spu_code, PRODUCTS.c.name)
            .join(PRODUCTS, PRODUCTS.c.id == SKUS.c.product_id)
            .where(SKUS.c.id.in_(sorted(cart)))
        )
    }
    if set(skus) != set(cart) or not all(r.active for r in skus.values()):
        raise CheckoutError("mall.unknown_sku")
    stock = await load_stock(conn, list(cart))
    for sku_id in sorted(cart):
        free = stock[sku_id].free
        if cart[sku_id] > free:
            raise OutOfStock(skus[sku_id].sku_code, cart[sku_id], free)
    prices = await mall_prices(conn, shop_id, list(cart))
    unit_code = None
    if unit_id is not None:
        unit_code = await conn.scalar(select(UNITS.c.code).where(UNITS.c.id == unit_id))
    order_no = new_order_no(now)
    lines = tuple(
        OrderLineRecord(
            platform_line_id=f"{order_no}-{n}",
            platform_item_id=skus[sku_id].spu_code,
            platform_sku_id=skus[sku_id].sku_code,
            outer_sku_id=skus[sku_id].sku_code,
            title=f"{skus[sku_id].name} {skus[sku_id].spec}",
            quantity=qty,
            unit_price_fen=prices[sku_id],
            paid_fen=prices[sku_id] * qty,
        )
        for n, (sku_id, qty) in enumerate(sorted(cart.items()), start=1)
    )
    amount = sum(line.paid_fen for line in lines)
    record = OrderRecord(
        platform_order_id=order_no,
        status=OrderStatus.PENDING_PAYMENT,
        platform_status="WAIT_BUYER_PAY",
        created_at=now,
        modified_at=now,
        paid_fen=amount,
        lines=lines,
        # a unit's staff member is one buyer whatever number they give (staff participation)
        buyer_ref=buyer_ref(
            PlatformKind.SELFMALL.value, f"staff:{staff_user_id}" if staff_user_id is not None else buyer.phone
        ),
        campaign_code=campaign_code or None,
        purchasing_unit_code=unit_code,
    )
    await upsert_orders(conn, shop_id, [record], now=now)
    order_id = await conn.scalar(
        select(ORDERS.c.id).where(ORDERS.c.shop_id == shop_id, ORDERS.c.platform_order_id == order_no)
    )
    expires = now + timedelta(minutes=await hold_minutes(conn, shop_id))
    await conn.execute(
        MALL.insert().values(
            order_no=order_no,
            order_id=order_id,
            shop_id=shop_id,
            state="reserved",
            amount_fen=amount,
            buyer_name=buyer.name,
            buyer_phone=buyer.phone,
            buyer_address=buyer.address,
            purchasing_unit_id=unit_id,
            staff_user_id=staff_user_id,
            campaign_code=campaign_code or None,
            created_at=now,
            expires_at=expires,
            provider="fakepay",
            refunded_fen=0,
        )
    )
    return MallOrderView(order_no, amount, expires)


async def _record_of(conn: AsyncConnection, order_id: int) -> OrderRecord:
    """The stored order as a record, to be written again with a new status."""
    order = (await conn.execute(select(ORDERS).where(ORDERS.c.id == order_id))).one()
    unit_code = None
    if order.purchasing_unit_id is not None:
        unit_code = await conn.scalar(select(UNITS.c.code).where(UNITS.c.id == order.purchasing_unit_id))
    lines = await conn.execute(select(LINES).where(LINES.c.order_id == order_id).order_by(LINES.c.id))
    return OrderRecord(
        platform_order_id=order.platform_order_id,
        status=OrderStatus(order.status),
        platform_status=order.platform_status,
        created_at=order.created_at,
        modified_at=order.modified_at,
        paid_fen=order.paid_fen,
        paid_at=order.paid_at,
        buyer_ref=order.buyer_ref,
        campaign_code=order.campaign_code,
        purchasing_unit_code=unit_code,
        lines=tuple(
            OrderLineRecord(
                platform_line_id=line.platform_line_id,
                platform_item_id=line.platform_item_id,
                platform_sku_id=line.platform_sku_id,
                outer_sku_id=line.outer_sku_id,
                title=line.title,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                paid_fen=line.paid_fen,
                refund_state=LineRefundState(line.refund_state),
            )
            for line in lines
        ),
    )


def _later(record: OrderRecord, now: datetime) -> datetime:
    """A modified time after the stored one (the upsert keeps only newer versions)."""
    return max(now, record.modified_at + timedelta(microseconds=1))


async def _log(
    conn: AsyncConnection,
    order_no: str | None,
    kind: str,
    outcome: str,
    event_id: str | None = None,
    detail: str | None = None,
    *,
    now: datetime,
) -> None:
    await conn.execute(
        EVENTS.insert().values(
            order_no=order_no, kind=kind, event_id=event_id, outcome=outcome, detail=detail, created_at=now
        )
    )


async def log_event(
    conn: AsyncConnection,
    order_no: str | None,
    kind: str,
    outcome: str,
    *,
    now: datetime,
    event_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Log a payment message about an order (refused ones too)."""
    await _log(conn, order_no, kind, outcome, event_id, detail, now=now)


async def _lock_order(conn: AsyncConnection, order_no: str) -> Any:
    query = select(MALL).where(MALL.c.order_no == order_no)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    else:  # SQLite: take the writer lock first, so the state read is the one we act on
        await conn.execute(update(MALL).where(MALL.c.id == -1).values(state=MALL.c.state))
    return (await conn.execute(query)).one_or_none()


async def mark_paid(
    conn: AsyncConnection,
    order_no: str,
    amount_fen: int,
    *,
    txn_id: str,
    paid_at: datetime,
    by: str,
    now: datetime,
    event_id: str | None = None,
) -> str:
    """A verified payment of ``amount_fen`` for ``order_no`` (``by``: notify | query).

    Returns the outcome, also logged: ``paid``; ``duplicate`` (already paid: nothing changes);
    ``unknown`` (no such order); ``mismatch`` (the amount differs: not paid); ``late`` (the
    hold was released and the units are gone: left cancelled, to be refunded).
    """
    mall = await _lock_order(conn, order_no)
    if mall is None:
        outcome = "unknown"
    elif mall.state == "paid":
        outcome = "duplicate"
    elif amount_fen != mall.amount_fen:
        outcome = "mismatch"
    else:
        outcome = "paid"
        record = await _record_of(conn, mall.order_id)
        if mall.state == "released":
            cart: dict[int, int] = {}
            for sku_id, qty in await conn.execute(
                select(LINES.c.sku_id, LINES.c.quantity).where(LINES.c.order_id == mall.order_id)
            ):
                cart[sku_id] = cart.get(sku_id, 0) + qty
            await lock_skus(conn, cart)
            stock = await load_stock(conn, list(cart))
            if any(stock[sku].free < qty for sku, qty in cart.items()):
                outcome = "late"
        if outcome == "paid":
            status = OrderStatus.PAID
            if mall.state == "released":  # a cancelled order cannot move to paid through the guard's rank:
                await conn.execute(  # it is taken back explicitly (same row, new version)
                    update(ORDERS)
                    .where(ORDERS.c.id == mall.order_id)
                    .values(status=OrderStatus.PENDING_PAYMENT, status_rank=OrderStatus.PENDING_PAYMENT.rank)
                )
            paid = replace(
                record,
                status=status,
                platform_status="TRADE_SUCCESS",
                paid_at=paid_at,
                modified_at=_later(record, now),
            )
            await upsert_orders(conn, mall.shop_id, [paid], now=now)
            await conn.execute(
                update(MALL)
                .where(MALL.c.id == mall.id)
                .values(state="paid", paid_at=paid_at, paid_by=by, provider_txn_id=txn_id, released_at=None)
            )
    await _log(conn, order_no, by, outcome, event_id, f"amount={amount_fen} txn={txn_id}", now=now)
    return outcome


async def release_expired(conn: AsyncConnection, now: datetime) -> int:
    """Release every hold whose time is up: the order is cancelled and its units free again."""
    due = (
        await conn.execute(
            select(MALL.c.id, MALL.c.order_no, MALL.c.order_id, MALL.c.shop_id).where(
                MALL.c.state == "reserved", MALL.c.expires_at <= now
            )
        )
    ).all()
    released = 0
    for row in due:
        changed = await conn.execute(
            update(MALL)
            .where(MALL.c.id == row.id, MALL.c.state == "reserved")
            .values(state="released", released_at=now)
        )
        if not changed.rowcount:
            continue  # paid or released meanwhile
        record = await _record_of(conn, row.order_id)
        cancelled = replace(
            record,
            status=OrderStatus.CANCELLED,
            platform_status="TRADE_CLOSED_BY_TIMEOUT",
            modified_at=_later(record, now),
        )
        await upsert_orders(conn, row.shop_id, [cancelled], now=now)
        await _log(conn, row.order_no, "release", "released", now=now)
        released += 1
    return released


async def record_refund(conn: AsyncConnection, order_no: str, refund_no: str, *, reason: str, now: datetime) -> int:
    """The provider refunded what is left of ``order_no``: one refund record per line (as the
    platforms report them, so the ledger reverses each line) and the order closed. Returns the
    fen refunded; 0 when nothing was left (a repeat)."""
    mall = await _lock_order(conn, order_no)
    if mall is None or mall.state != "paid" or mall.refunded_fen >= mall.amount_fen:
        return 0
    record = await _record_of(conn, mall.order_id)
    refunds = [
        RefundRecord(
            platform_refund_id=f"{refund_no}-{n}",
            platform_order_id=order_no,
            platform_line_id=line.platform_line_id,
            status=RefundStatus.SUCCEEDED,
            platform_status="SUCCESS",
            amount_fen=line.paid_fen,
            quantity=line.quantity,
            reason=reason,
            created_at=now,
            modified_at=now,
        )
        for n, line in enumerate(record.lines, start=1)
        if line.refund_state is not LineRefundState.FULL
    ]
    await upsert_refunds(conn, mall.shop_id, refunds, now=now)
    closed = replace(
        record,
        status=OrderStatus.CLOSED,
        platform_status="TRADE_CLOSED",
        modified_at=_later(record, now),
        lines=tuple(replace(line, refund_state=LineRefundState.FULL) for line in record.lines),
    )
    await upsert_orders(conn, mall.shop_id, [closed], now=now)
    amount = int(mall.amount_fen - mall.refunded_fen)
    await conn.execute(update(MALL).where(MALL.c.id == mall.id).values(refunded_fen=mall.amount_fen))
    await _log(conn, order_no, "refund", "refunded", refund_no, f"amount={amount}", now=now)
    return amount


@dataclass(frozen=True, slots=True)
class PaymentConfig:
    """The mall's payment provider: its name, API base URL and the secrets entry of its
    merchant id and key (``SecretStore``; never in the database)."""

    provider: str
    base_url: str
    credentials_ref: str


async def configure_payment(conn: AsyncConnection, config: PaymentConfig, now: datetime) -> int:
    """Point the mall (created if need be) at a payment provider."""
    shop_id = await ensure_mall(conn, now)
    settings = dict(await conn.scalar(select(SHOPS.c.settings).where(SHOPS.c.id == shop_id)) or {})
    settings["pay"] = {"provider": config.provider, "base_url": config.base_url}
    await conn.execute(
        update(SHOPS)
        .where(SHOPS.c.id == shop_id)
        .values(settings=settings, credentials_ref=config.credentials_ref, updated_at=now)
    )
    return shop_id


async def payment_config(conn: AsyncConnection) -> PaymentConfig | None:
    row = (
        await conn.execute(
            select(SHOPS.c.settings, SHOPS.c.credentials_ref).where(
                SHOPS.c.platform == PlatformKind.SELFMALL, SHOPS.c.platform_shop_id == MALL_SHOP_ID
            )
        )
    ).one_or_none()
    if row is None or not row.credentials_ref:
        return None
    pay = (row.settings or {}).get("pay") or {}
    if not pay.get("provider") or not pay.get("base_url"):
        return None
    return PaymentConfig(str(pay["provider"]), str(pay["base_url"]), str(row.credentials_ref))


async def paid_order(conn: AsyncConnection, order_no: str) -> tuple[int, int] | None:
    """``(amount, refunded)`` of a paid mall order, or None."""
    row = (
        await conn.execute(
            select(MALL.c.amount_fen, MALL.c.refunded_fen).where(MALL.c.order_no == order_no, MALL.c.state == "paid")
        )
    ).one_or_none()
    return None if row is None else (int(row.amount_fen), int(row.refunded_fen))
