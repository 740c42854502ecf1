"""Taobao/Tmall (TOP) pure parsing: the envelope helpers and raw -> record parsers, with the
``fields`` lists each parser reads. No I/O; tested on sample payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.enums import LineRefundState, SettlementKind
from bangfu.records import OrderLineRecord, OrderRecord, ProductRecord, RefundRecord, SettlementLineRecord, SkuRecord
from connectors import fields
from connectors.buyers import buyer_ref
from connectors.taobao.tables import BILL_ACCOUNTS, BUYER_NAMESPACE, LINE_REFUND_STATE, REFUND_STATUS, TRADE_STATUS


def response_key(method: str) -> str:
    """``taobao.trades.sold.increment.get`` -> ``trades_sold_increment_get_response``."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def nested_list(container: Mapping[str, Any], outer: str, inner: str) -> list[Any]:
    """``{"trades": {"trade": [...]}}`` -> the list. ``{}``, ``null`` or a missing key -> ``[]``.

    A lone object where a list belongs (XML-to-JSON of a one-element list) is wrapped.
    """
    wrapper = container.get(outer)
    if not wrapper:
        return []
    if type(wrapper) is not dict and not isinstance(wrapper, Mapping):
        raise ValueError(f"{outer!r} is not an object: {type(wrapper).__name__}")
    items = wrapper.get(inner)
    if items is None:
        return []
    if type(items) is dict or isinstance(items, Mapping):
        return [items]
    if not isinstance(items, list):
        raise ValueError(f"{outer}.{inner} is not a list: {type(items).__name__}")
    return items


# -- field helpers -----------------------------------------------------------------------------

#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


_time = fields.local_time
_opt_time = fields.opt_local_time


def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _enum(table: Mapping[str, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    found = table.get(value) if type(value) is str else None
    if found is not None:
        return found
    value = fields.required(raw, key)
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {key} {value!r}") from None


# -- record parsers (pure) ---------------------------------------------------------------------


def parse_order_line(raw: Mapping[str, Any]) -> OrderLineRecord:
    """One sub-order (``orders.order[]``) of a trade."""
    get = raw.get
    refund_state = LINE_REFUND_STATE.get(str(get("refund_status") or "NO_REFUND"))
    if refund_state is None:
        raise ValueError(f"unknown refund_status {get('refund_status')!r}")
    if refund_state is LineRefundState.PARTIAL and get("status") == "TRADE_CLOSED":
        refund_state = LineRefundState.FULL
    # divide_order_fee is the payment after shop-level discounts were spread over the lines;
    # payment is the sub-order's own paid amount. They are equal without shop discounts.
    paid_key = "divide_order_fee" if get("divide_order_fee") not in (None, "") else "payment"
    num = get("num")
    sku_id = get("sku_id")
    return OrderLineRecord(
        platform_line_id=fields.numeric_id(raw, "oid", twin=True),
        platform_item_id=fields.numeric_id(raw, "num_iid"),
        quantity=num if type(num) is int else fields.integer(raw, "num"),
        unit_price_fen=fields.yuan(raw, "price"),
        paid_fen=fields.yuan(raw, paid_key),
        title=str(get("title") or ""),
        platform_sku_id=str(sku_id) if sku_id not in (None, "") else None,
        outer_sku_id=str(get("outer_sku_id") or get("outer_iid") or "") or None,
        refund_state=refund_state,
        raw=raw,
    )


#: The ``fields`` of trades.sold.increment.get and trade.fullinfo.get (TOP requires the list and
#: returns only the fields it names). ``orders`` brings the sub-orders back whole, so
#: :func:`parse_order_line` needs no list of its own. Every trade field :func:`parse_trade` reads
#: is listed (``tests/connectors/test_taobao.py`` fails otherwise); the others are kept for the
#: stored raw payload.
TRADE_FIELDS: tuple[str, ...] = (
    "tid", "tid_str", "status", "type", "created", "modified", "pay_time", "consign_time", "end_time",
    "payment", "total_fee", "post_fee", "discount_fee", "adjust_fee", "received_payment",
    "num", "num_iid", "buyer_nick", "buyer_open_uid", "seller_nick", "trade_from", "orders",
)  # fmt: skip


def parse_trade(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``trade`` from trades.sold.increment.get or trade.fullinfo.get -> :class:`OrderRecord`."""
    status = _enum(TRADE_STATUS, raw, "status")
    lines = tuple(parse_order_line(line) for line in nested_list(raw, "orders", "order"))
    if not lines:
        raise ValueError("trade has no sub-orders")
    buyer = raw.get("buyer_open_uid") or raw.get("buyer_nick")
    return OrderRecord(
        platform_order_id=fields.numeric_id(raw, "tid", twin=True),
        status=status,
        platform_status=str(raw["status"]),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        # TOP's payment is what the buyer pays, already before payment; status says if he did.
        paid_fen=fields.yuan(raw, "payment"),
        lines=lines,
        paid_at=_opt_time(raw, "pay_time"),
        post_fee_fen=fields.yuan(raw, "post_fee", 0),
        discount_fen=fields.yuan(raw, "discount_fee", 0),
        buyer_ref=buyer_ref(BUYER_NAMESPACE, str(buyer), hash_key) if buyer else None,
        raw=raw,
    )


#: The ``fields`` of refunds.receive.get and refund.get: every field :func:`parse_refund` reads
#: (checked by a test), plus a few kept for the stored raw payload.
REFUND_FIELDS: tuple[str, ...] = (
    "refund_id", "tid", "oid", "title", "buyer_nick", "total_fee", "status", "created", "refund_fee",
    "good_status", "has_good_return", "payment", "reason", "desc", "modified", "order_status",
    "refund_phase", "num", "outer_id", "sku",
)  # fmt: skip


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A ``refund`` from refunds.receive.get -> :class:`RefundRecord`."""
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.numeric_id(raw, "refund_id"),
        platform_order_id=fields.numeric_id(raw, "tid"),
        status=_enum(REFUND_STATUS, raw, "status"),
        platform_status=str(raw["status"]),
        amount_fen=fields.yuan(raw, "refund_fee"),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        platform_line_id=fields.opt_numeric_id(raw, "oid"),
        quantity=fields.integer(raw, "num") if num not in (None, "") else None,
        with_return=_bool(raw, "has_good_return"),
        reason=str(raw["reason"]) if raw.get("reason") else None,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "sku_id"),
        price_fen=fields.yuan(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        outer_id=str(raw["outer_id"]) if raw.get("outer_id") else None,
        spec=str(raw.get("properties_name") or raw.get("properties") or "") or None,
        modified_at=_opt_time(raw, "modified"),
        raw=raw,
    )


#: The ``fields`` of items.onsale.get and items.inventory.get: every field :func:`parse_item`
#: reads (checked by a test); ``sku`` brings the SKUs back whole under ``skus``.
ITEM_FIELDS: tuple[str, ...] = (
    "num_iid", "title", "approve_status", "num", "price", "outer_id", "modified", "list_time",
    "delist_time", "cid", "sku",
)  # fmt: skip
#: Requested field -> the key it comes back under, where the two differ.
ITEM_FIELD_KEYS: Mapping[str, str] = {"sku": "skus"}
#: The stock of one item: ``taobao.item.seller.get`` (the seller's view of an item, its ``num``
#: and each SKU's ``quantity``), with the fields the read needs.
STOCK_READ_METHOD = "taobao.item.seller.get"
STOCK_READ_FIELDS: tuple[str, ...] = ("num_iid", "num", "modified", "sku")


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """An ``item`` from items.onsale.get (with ``skus``) -> :class:`ProductRecord`."""
    return ProductRecord(
        platform_item_id=fields.numeric_id(raw, "num_iid"),
        title=str(fields.required(raw, "title")),
        on_sale=raw.get("approve_status", "onsale") == "onsale",
        price_fen=fields.yuan(raw, "price"),
        stock=fields.integer(raw, "num"),
        modified_at=_time(raw, "modified"),
        outer_id=str(raw["outer_id"]) if raw.get("outer_id") else None,
        skus=tuple(parse_sku(sku) for sku in nested_list(raw, "skus", "sku")),
        raw=raw,
    )


#: The ``fields`` of bill.bills.get and bill.bill.get (TOP requires the list; at most 20 names):
#: every field :func:`parse_bill` reads (checked by a test), plus a few for the raw payload.
BILL_FIELDS: tuple[str, ...] = (
    "bid", "account_id", "trade_id", "order_id", "num_iid", "amount", "total_amount", "status",
    "biz_time", "pay_time", "book_time",
)  # fmt: skip


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """A ``bill`` from bill.bills.get -> :class:`SettlementLineRecord`.

    [I] ``amount`` is taken as integer fen (PLATFORMS.md: the unit is not stated, int64 makes
    fen the plausible reading), signed as the payout sees it: negative for refunds and fees.
    """
    amount = raw.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | str):
        raise ValueError(f"bill amount is not an integer: {amount!r}")
    settled = _opt_time(raw, "pay_time") or _opt_time(raw, "book_time") or _time(raw, "biz_time")
    return SettlementLineRecord(
        platform_bill_id=fields.numeric_id(raw, "bid"),
        kind=BILL_ACCOUNTS.get(str(raw.get("account_id")), SettlementKind.OTHER),
        amount_fen=fields.integer(raw, "amount"),
        settled_at=settled,
        platform_order_id=fields.opt_numeric_id(raw, "trade_id"),
        platform_line_id=fields.opt_numeric_id(raw, "order_id"),
        raw=raw,
    )
