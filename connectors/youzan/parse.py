"""Youzan record parsers (orders, refunds, items, bill lines): pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bangfu.enums import (
    LineRefundState,
    OrderStatus,
    RefundStatus,
    SettlementKind,
)
from bangfu.money import split_largest_remainder
from bangfu.records import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
)
from connectors import fields
from connectors.buyers import buyer_ref
from connectors.youzan.tables import (
    BILL_TYPE,
    ORDER_REFUND_STATE_ALL_LINES,
    ORDER_STATUS,
    PLATFORM,
    REFUND_ORDER_STATE,
    REFUND_REASON,
    REFUND_STATUS,
)

# -- field helpers -----------------------------------------------------------------------------


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


_time = fields.local_time
_opt_time = fields.opt_local_time


def bool_field(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def list_field(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_status(status: str, paid: bool) -> OrderStatus:
    """``order_info.status`` -> hub status; TRADE_CLOSED splits on whether it was paid."""
    try:
        mapped = ORDER_STATUS[status]
    except KeyError:
        raise ValueError(f"unknown order status {status!r}") from None
    if mapped is OrderStatus.CLOSED and not paid:
        return OrderStatus.CANCELLED
    return mapped


_LINE_STATE_RANK: Mapping[LineRefundState, int] = {
    LineRefundState.NONE: 0,
    LineRefundState.PARTIAL: 1,
    LineRefundState.IN_PROGRESS: 2,
    LineRefundState.FULL: 3,
}


def line_refund_states(raw: Mapping[str, Any], payments: Mapping[str, int]) -> dict[str, LineRefundState]:
    """Per-line refund state (oid -> state) from trade.get's ``refund_order[]``.

    ``payments`` is each line's paid fen: a succeeded refund covering its lines' whole payment
    makes them FULL, less makes them PARTIAL. A line with several refunds keeps the strongest
    state (FULL > IN_PROGRESS > PARTIAL > NONE).
    """
    out: dict[str, LineRefundState] = {}
    for entry in list_field(raw, "refund_order"):
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise ValueError("refund_order entry is not an object")
        code = fields.integer(entry, "refund_state")
        status = REFUND_ORDER_STATE.get(code)
        if status is None:
            raise ValueError(f"unknown refund_order.refund_state {code!r}")
        oids = [str(oid) for oid in list_field(entry, "oids")]
        if status is RefundStatus.SUCCEEDED:
            covered = sum(payments.get(oid, 0) for oid in oids)
            state = LineRefundState.FULL if fields.yuan(entry, "refund_fee", 0) >= covered else LineRefundState.PARTIAL
        elif status in (RefundStatus.CLOSED, RefundStatus.REFUSED):
            state = LineRefundState.NONE
        else:
            state = LineRefundState.IN_PROGRESS
        for oid in oids:
            current = out.get(oid, LineRefundState.NONE)
            if _LINE_STATE_RANK[state] > _LINE_STATE_RANK[current]:
                out[oid] = state
    return out


def post_fee_shares(entries: Sequence[Mapping[str, Any]], post_fee: int) -> dict[str, int]:
    """Each line's share of the post fee inside its ``orders[].payment`` (oid -> fen).

    Σ orders.payment = pay_info.payment, which includes the post fee (PLATFORMS.md §5), so the
    lines' payments carry the post fee between them. [I] How Youzan spreads it is not
    documented; we take largest-remainder shares in proportion to each line's ``total_fee``
    (what the fake does too). Whatever the real rule, the lines' goods amounts still add up to
    ``payment - post_fee`` exactly; only a fen may move between lines.
    """
    oids = [str(entry.get("oid")) for entry in entries]
    if not post_fee:
        return dict.fromkeys(oids, 0)
    weights = {
        oid: fields.yuan(entry, "total_fee")
        if entry.get("total_fee") not in (None, "")
        else fields.yuan(entry, "payment")
        for oid, entry in zip(oids, entries, strict=True)
    }
    if sum(weights.values()) <= 0:
        return split_largest_remainder(post_fee, dict.fromkeys(oids, 0), leftover_to=oids[0])
    return split_largest_remainder(post_fee, weights)


def parse_order_line(
    raw: Mapping[str, Any],
    refund_state: LineRefundState = LineRefundState.NONE,
    post_fee_share: int = 0,
    payment: int | None = None,
) -> OrderLineRecord:
    """One ``orders[]`` entry. ``payment`` is what the buyer paid for the line after every
    discount, plus its share of the post fee; ``paid_fen`` is the goods part only (the hub keeps
    the post fee on the order). ``payment``, when given, is the entry's ``payment`` in fen
    already read (:func:`parse_order` reads it once per line)."""
    unit_key = "discount_price" if raw.get("discount_price") not in (None, "") else "price"
    paid = (fields.yuan(raw, "payment") if payment is None else payment) - post_fee_share
    if paid < 0:
        raise ValueError(f"line {raw.get('oid')!r}: payment is less than its post-fee share")
    return OrderLineRecord(
        platform_line_id=fields.text_id(raw, "oid"),
        platform_item_id=fields.text_id(raw, "item_id"),
        quantity=fields.integer(raw, "num"),
        unit_price_fen=fields.yuan(raw, unit_key),
        paid_fen=paid,
        title=str(raw.get("title") or ""),
        platform_sku_id=fields.opt_text_id(raw, "sku_id"),
        outer_sku_id=str(raw.get("outer_sku_id") or raw.get("outer_item_id") or "") or None,
        refund_state=refund_state,
        raw=raw,
    )


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``{"full_order_info": {...}}`` (trades.sold.get entry, or trade.get ``data`` with its
    ``refund_order[]``) -> :class:`OrderRecord`."""
    info = _obj(raw, "full_order_info")
    order_info = _obj(info, "order_info")
    pay_info = _obj(info, "pay_info")
    status_text = str(fields.required(order_info, "status"))
    paid_at = _opt_time(order_info, "pay_time")
    tags = order_info.get("order_tags")
    tagged_paid = (type(tags) is dict or isinstance(tags, Mapping)) and bool_field(tags, "is_payed")
    status = order_status(status_text, paid_at is not None or tagged_paid)

    entries = list_field(info, "orders")
    if not entries:
        raise ValueError("order has no lines (orders[] is empty)")
    for entry in entries:
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise ValueError("orders[] entry is not an object")
    post_fee = fields.yuan(pay_info, "post_fee", 0)
    # Each line's id, post-fee share and payment read once, in the order the checks ran before
    # (the shares first, then the payments), and used by the goods, the refund states and the lines.
    oids = [str(e.get("oid")) for e in entries]
    shares = post_fee_shares(entries, post_fee) if post_fee else dict.fromkeys(oids, 0)
    yuan = fields.yuan
    payments = [yuan(e, "payment") for e in entries]
    goods = {oid: paid - shares[oid] for oid, paid in zip(oids, payments, strict=True)}
    per_line = line_refund_states(raw, goods) if "refund_order" in raw else {}
    # Without refund_order[] (list results), only the order-level full states name the lines.
    order_level = LineRefundState.NONE
    if order_info.get("refund_state") not in (None, ""):
        order_level = ORDER_REFUND_STATE_ALL_LINES.get(fields.integer(order_info, "refund_state"), LineRefundState.NONE)
    lines = tuple(
        parse_order_line(e, per_line.get(oid, order_level), shares[oid], paid)
        for e, oid, paid in zip(entries, oids, payments, strict=True)
    )

    total = fields.yuan(pay_info, "total_fee", 0)
    payment = fields.yuan(pay_info, "payment")
    # pay_info.payment = total_fee - (order + item discounts) + adjust_fee + post_fee (FAQ 29773)
    discount = max(0, total + post_fee - payment) if total else 0
    buyer = info.get("buyer_info")
    open_id = buyer.get("yz_open_id") if (type(buyer) is dict or isinstance(buyer, Mapping)) else None
    return OrderRecord(
        platform_order_id=fields.text_id(order_info, "tid"),
        status=status,
        platform_status=status_text,
        created_at=_time(order_info, "created"),
        modified_at=_time(order_info, "update_time"),
        paid_fen=payment if status.is_paid else 0,
        lines=lines,
        paid_at=paid_at,
        post_fee_fen=post_fee,
        discount_fen=discount,
        buyer_ref=buyer_ref(PLATFORM, str(open_id), hash_key) if open_id else None,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A refund from refund.search ``refunds[]`` or refund.get ``data``."""
    status_text = str(fields.required(raw, "status"))
    status = REFUND_STATUS.get(status_text)
    if status is None:
        raise ValueError(f"unknown refund status {status_text!r}")
    reason = raw.get("reason")
    reason_text: str | None
    if isinstance(reason, int) and not isinstance(reason, bool):
        reason_text = REFUND_REASON.get(reason, str(reason))
    else:
        reason_text = str(reason) if reason not in (None, "") else None
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.text_id(raw, "refund_id"),
        platform_order_id=fields.text_id(raw, "tid"),
        status=status,
        platform_status=status_text,
        amount_fen=fields.yuan(raw, "refund_fee"),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        platform_line_id=fields.opt_text_id(raw, "oid"),
        quantity=fields.integer(raw, "num") if num not in (None, "") else None,
        with_return=bool_field(raw, "return_goods"),
        reason=reason_text,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    spec = raw.get("properties_name_json") or raw.get("properties_name")
    return SkuRecord(
        platform_sku_id=fields.text_id(raw, "sku_id"),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        outer_id=str(raw["item_no"]) if raw.get("item_no") else None,
        spec=str(spec) if spec else None,
        modified_at=_opt_time(raw, "modified"),
        raw=raw,
    )


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """item.get ``data.item`` (with ``skus``) -> :class:`ProductRecord`. Prices are fen."""
    modified = _opt_time(raw, "update_time") or _time(raw, "created")
    return ProductRecord(
        platform_item_id=fields.text_id(raw, "item_id"),
        title=str(fields.required(raw, "title")),
        on_sale=bool_field(raw, "is_listing"),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        modified_at=modified,
        outer_id=str(raw["item_no"]) if raw.get("item_no") else None,
        skus=tuple(parse_sku(sku) for sku in list_field(raw, "skus") if isinstance(sku, Mapping)),
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """[I] One line of our assumed bill API: ``amount`` is a signed yuan string."""
    return SettlementLineRecord(
        platform_bill_id=fields.text_id(raw, "bill_no"),
        kind=BILL_TYPE.get(str(raw.get("biz_type")), SettlementKind.OTHER),
        amount_fen=fields.yuan(raw, "amount"),
        settled_at=_time(raw, "settle_time"),
        platform_order_id=fields.opt_text_id(raw, "tid"),
        platform_line_id=fields.opt_text_id(raw, "oid"),
        raw=raw,
    )
