"""Douyin record parsers (orders, refunds, products, settle bill rows): pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bangfu.enums import (
    LineRefundState,
    OrderStatus,
    SettlementKind,
)
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
from connectors.douyin.tables import (
    CLOSED_AFTER_PAYMENT,
    LINE_CLOSED,
    LINE_REFUND_STATE,
    ORDER_STATUS,
    PLATFORM,
    REFUND_STATUS,
    SETTLE_COST_COLUMNS,
    SETTLE_TRADE_TYPE,
    WITH_RETURN_TYPES,
)
from connectors.windows import from_epoch_s, parse_local

_EPOCH = from_epoch_s(0)


def epoch_time(raw: Mapping[str, Any], key: str) -> datetime:
    """A unix-seconds field to aware UTC."""
    value = raw.get(key)
    if type(value) is not int:
        value = fields.integer(raw, key)
    if value <= 0:
        raise ValueError(f"{key!r} is not a time: {value!r}")
    return _EPOCH + timedelta(seconds=value)  # from_epoch_s(value), inline


def opt_epoch_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    """Optional unix seconds; Douyin sends 0 for "not yet"."""
    value = raw.get(key)
    if value in (None, "", 0, "0"):
        return None
    return epoch_time(raw, key)


def _enum(table: Mapping[int, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = fields.integer(raw, key)
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {key} {value!r}") from None


def list_field(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


def object_field(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_status(raw: Mapping[str, Any]) -> OrderStatus:
    """The hub status of a shop order (4 = cancelled, or closed when it had been paid)."""
    status: OrderStatus = _enum(ORDER_STATUS, raw, "order_status")
    if status is OrderStatus.CANCELLED and opt_epoch_time(raw, "pay_time") is not None:
        return CLOSED_AFTER_PAYMENT
    return status


def line_refund_state(raw: Mapping[str, Any]) -> LineRefundState:
    """A sku order's refund state from ``after_sale_info`` (missing = no after-sale)."""
    info = raw.get("after_sale_info")
    if info is None:
        return LineRefundState.NONE
    info = object_field(raw, "after_sale_info")
    if not info:
        return LineRefundState.NONE
    if info.get("after_sale_status") in (None, ""):
        return LineRefundState.NONE
    state: LineRefundState = _enum(LINE_REFUND_STATE, info, "after_sale_status")
    if state is LineRefundState.PARTIAL and fields.integer(raw, "order_status", 0) == LINE_CLOSED:
        return LineRefundState.FULL
    return state


def parse_order_line(raw: Mapping[str, Any]) -> OrderLineRecord:
    """One ``sku_order_list[]`` item: the line and its live attribution."""
    code = raw.get("code") or raw.get("out_sku_id")
    return OrderLineRecord(
        platform_line_id=fields.numeric_id(raw, "order_id", twin=True),
        platform_item_id=fields.numeric_id(raw, "product_id", twin=True),
        quantity=fields.integer(raw, "item_num"),
        unit_price_fen=fields.fen(raw, "origin_amount"),
        paid_fen=fields.fen(raw, "pay_amount"),
        title=str(raw.get("product_name") or ""),
        platform_sku_id=fields.opt_numeric_id(raw, "sku_id", twin=True),
        outer_sku_id=str(code) if code not in (None, "", 0, "0") else None,
        refund_state=line_refund_state(raw),
        room_id=fields.opt_numeric_id(raw, "room_id", twin=True),
        author_id=fields.opt_numeric_id(raw, "author_id", twin=True),
        raw=raw,
    )


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``shop_order_list[]`` item or a ``shop_order_detail`` -> :class:`OrderRecord`."""
    lines = tuple(parse_order_line(line) for line in list_field(raw, "sku_order_list"))
    if not lines:
        raise ValueError("shop order has no sku orders")
    order_id = fields.numeric_id(raw, "order_id", twin=True)
    for line in lines:
        parent = line.raw.get("parent_order_id")
        if parent not in (None, "") and str(parent) != order_id:
            raise ValueError(f"sku order {line.platform_line_id} belongs to {parent}, not {order_id}")
    live = next((line for line in lines if line.room_id is not None), None)
    buyer = raw.get("doudian_open_id") or raw.get("open_id")
    return OrderRecord(
        platform_order_id=order_id,
        status=order_status(raw),
        platform_status=str(fields.integer(raw, "order_status")),
        created_at=epoch_time(raw, "create_time"),
        modified_at=epoch_time(raw, "update_time"),
        paid_fen=fields.fen(raw, "pay_amount"),
        lines=lines,
        paid_at=opt_epoch_time(raw, "pay_time"),
        post_fee_fen=fields.fen(raw, "post_amount", 0),
        discount_fen=fields.fen(raw, "promotion_amount", 0),
        buyer_ref=buyer_ref(PLATFORM, str(buyer), hash_key) if buyer else None,
        room_id=live.room_id if live is not None else None,
        author_id=live.author_id if live is not None else None,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """An ``afterSale.List`` item (``aftersale_info`` + ``order_info`` + ``text_part``)."""
    info = object_field(raw, "aftersale_info")
    order = object_field(raw, "order_info")
    if not info or not order:
        raise ValueError("after-sale item without aftersale_info/order_info")
    related = list_field(order, "related_order_info")
    line_id = (
        fields.opt_numeric_id(related[0], "sku_order_id", twin=True)
        if related and (type(related[0]) is dict or isinstance(related[0], Mapping))
        else None
    )
    if line_id is None:
        line_id = fields.opt_numeric_id(info, "related_id", twin=True)
    count = fields.integer(info, "aftersale_num", 0)
    reason = str(object_field(raw, "text_part").get("reason_text") or "") or None
    return RefundRecord(
        platform_refund_id=fields.numeric_id(info, "aftersale_id", twin=True),
        platform_order_id=fields.numeric_id(order, "shop_order_id", twin=True),
        status=_enum(REFUND_STATUS, info, "aftersale_status"),
        platform_status=str(fields.integer(info, "aftersale_status")),
        amount_fen=fields.fen(info, "refund_amount"),
        created_at=epoch_time(info, "apply_time") if info.get("apply_time") else epoch_time(info, "create_time"),
        modified_at=epoch_time(info, "update_time"),
        platform_line_id=line_id,
        quantity=count if count > 0 else None,
        with_return=fields.integer(info, "aftersale_type") in WITH_RETURN_TYPES,
        reason=reason,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    """A ``sku.list`` item."""
    specs = [str(raw.get(f"spec_detail_name{k}") or "") for k in (1, 2, 3)]
    code = raw.get("code")
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "id", twin=True),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "stock_num"),
        outer_id=str(code) if code else (str(raw["out_sku_id"]) if raw.get("out_sku_id") else None),
        spec=" ".join(s for s in specs if s) or None,
        modified_at=None,
        raw=raw,
    )


def parse_product(raw: Mapping[str, Any]) -> ProductRecord:
    """``{"product": <product.listV2 item>, "skus": [<sku.list items>]}`` -> ProductRecord.

    On sale means online (``status`` 0) and approved (``check_status`` 3). The item price is the
    lowest SKU price, its stock the SKUs' sum (``discount_price`` is deprecated).
    """
    product = object_field(raw, "product")
    skus = tuple(parse_sku(sku) for sku in list_field(raw, "skus"))
    if not product:
        raise ValueError("no product")
    if not skus:
        raise ValueError("product has no SKUs")
    product_id = fields.numeric_id(product, "product_id", twin=True)
    for sku in skus:
        owner = sku.raw.get("product_id_str") or sku.raw.get("product_id")
        if owner not in (None, "") and str(owner) != product_id:
            raise ValueError(f"sku {sku.platform_sku_id} belongs to product {owner}, not {product_id}")
    outer = product.get("outer_product_id") or product.get("out_product_id")
    return ProductRecord(
        platform_item_id=product_id,
        title=str(fields.required(product, "name")),
        on_sale=fields.integer(product, "status") == 0 and fields.integer(product, "check_status", 3) == 3,
        price_fen=min(sku.price_fen for sku in skus),
        stock=sum(sku.stock for sku in skus),
        modified_at=epoch_time(product, "update_time"),
        outer_id=str(outer) if outer not in (None, "", 0, "0") else None,
        skus=skus,
        raw=raw,
    )


def parse_settlement(raw: Mapping[str, Any]) -> list[SettlementLineRecord]:
    """One ``getSettleBillDetailV3`` row -> its payout lines (sale, fees; or a refund).

    A settled row (``trade_type`` 0) gives ``total_income`` as the sale and one negative line
    per cost column; the lines must add up to ``settle_amount``. A refund row gives one REFUND
    line of ``settle_amount`` (negative). Line ids are ``<request_no>:<column>``.
    """
    request_no = fields.numeric_id(raw, "request_no", twin=True)
    settled_at = parse_local(fields.required(raw, "settle_time"))
    kind = _enum(SETTLE_TRADE_TYPE, raw, "trade_type")
    settle_amount = fields.fen(raw, "settle_amount", signed=True)
    order_id = fields.opt_numeric_id(raw, "shop_order_id", twin=True)
    line_id = fields.opt_numeric_id(raw, "order_id", twin=True)

    def line(column: str, line_kind: SettlementKind, amount: int) -> SettlementLineRecord:
        return SettlementLineRecord(
            platform_bill_id=f"{request_no}:{column}",
            kind=line_kind,
            amount_fen=amount,
            settled_at=settled_at,
            platform_order_id=order_id,
            platform_line_id=line_id,
            raw=raw,
        )

    if kind is not None:
        amount = settle_amount if settle_amount <= 0 or kind is not SettlementKind.REFUND else -settle_amount
        return [line("settle_amount", kind, amount)]
    out = [line("total_income", SettlementKind.SALE, fields.fen(raw, "total_income", signed=True))]
    for column, cost_kind in SETTLE_COST_COLUMNS.items():
        cost = fields.fen(raw, column, 0, signed=True)
        if cost:
            out.append(line(column, cost_kind, -abs(cost)))
    total = sum(item.amount_fen for item in out)
    if total != settle_amount:
        raise ValueError(f"bill {request_no}: lines add up to {total}, settle_amount is {settle_amount}")
    return out
