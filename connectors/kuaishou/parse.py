"""Kuaishou record parsers (orders, refunds, items, bill rows): pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bangfu.enums import (
    LineRefundState,
    RefundStatus,
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
from connectors.errors import (
    BadRequestError,
)
from connectors.kuaishou.tables import (
    BILL_TYPES,
    CLOSED_STATUS,
    CLOSED_UNPAID,
    HANDLING_EXCHANGE,
    HANDLING_RETURN_REFUND,
    HANDLING_WAYS,
    ITEM_ONLINE,
    ORDER_STATUS,
    PLATFORM,
    REFUND_STATUS,
)
from connectors.windows import from_epoch_ms

# -- field helpers -----------------------------------------------------------------------------


def _opt_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value in (None, ""):
        return None
    return str(value)


_EPOCH = from_epoch_ms(0)


def ms_time(raw: Mapping[str, Any], key: str) -> datetime:
    value = raw.get(key)
    if type(value) is not int:
        value = fields.integer(raw, key)
    if value <= 0:
        raise ValueError(f"{key!r} is not a time: {value!r}")
    return _EPOCH + timedelta(milliseconds=value)  # from_epoch_ms(value), inline


def opt_ms_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    """An epoch-ms time; Kuaishou sends 0 (or nothing) for "not yet"."""
    if raw.get(key) in (None, "", 0, "0"):
        return None
    return ms_time(raw, key)


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


def list_field(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_items(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The order's items: ``orderItemInfoList`` when present, else the single ``orderItemInfo``."""
    items = list_field(raw, "orderItemInfoList")
    if not items:
        items = [_obj(raw, "orderItemInfo")]
    for item in items:
        if type(item) is not dict and not isinstance(item, Mapping):
            raise ValueError(f"order item is not an object: {type(item).__name__}")
    return items


def line_refund_state(line_paid_fen: int, refunds: Sequence[Mapping[str, Any]]) -> LineRefundState:
    """A line's refund state from the refunds that name it (``orderRefundList`` entries).

    Succeeded refunds give PARTIAL or FULL by amount; open ones IN_PROGRESS; closed and refused
    ones leave the line as it was.
    """
    refunded = 0
    open_refund = False
    for refund in refunds:
        status = REFUND_STATUS.get(fields.integer(refund, "refundStatus"))
        if status is None:
            raise ValueError(f"unknown refundStatus {refund.get('refundStatus')!r}")
        if status is RefundStatus.SUCCEEDED:
            refunded += fields.fen(refund, "refundFee", 0)
        elif status not in (RefundStatus.CLOSED, RefundStatus.REFUSED):
            open_refund = True
    if refunded:
        return LineRefundState.FULL if refunded >= line_paid_fen else LineRefundState.PARTIAL
    return LineRefundState.IN_PROGRESS if open_refund else LineRefundState.NONE


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """An order from ``open.order.cursor.list`` / ``open.order.detail`` -> :class:`OrderRecord`."""
    base = _obj(raw, "orderBaseInfo")
    oid = fields.numeric_id(base, "oid")
    code = fields.integer(base, "status")
    paid_at = opt_ms_time(base, "payTime")
    if code == CLOSED_STATUS and paid_at is None:
        status = CLOSED_UNPAID
    else:
        try:
            status = ORDER_STATUS[code]
        except KeyError:
            raise ValueError(f"unknown order status {code!r}") from None
    items = order_items(raw)
    refunds = [r for r in list_field(raw, "orderRefundList") if (type(r) is dict or isinstance(r, Mapping))]
    total_fee = fields.fen(base, "totalFee")
    express_fee = fields.fen(base, "expressFee", 0)
    single = len(items) == 1
    lines: list[OrderLineRecord] = []
    for item in items:
        line_id = fields.opt_numeric_id(item, "orderItemId") or oid
        num = fields.integer(item, "num")
        if num <= 0:
            raise ValueError(f"item num must be positive, got {num}")
        price = fields.fen(item, "price")
        if item.get("discountFee") not in (None, "") or not single:
            paid = price * num - fields.fen(item, "discountFee", 0)
        else:
            paid = total_fee - express_fee  # one item: what the buyer paid for it
        if paid < 0:
            raise ValueError(f"item {line_id} paid amount is negative: {paid}")
        mine = [r for r in refunds if single or str(r.get("orderItemId") or "") in ("", line_id)]
        lines.append(
            OrderLineRecord(
                platform_line_id=line_id,
                platform_item_id=fields.numeric_id(item, "itemId"),
                quantity=num,
                unit_price_fen=price,
                paid_fen=paid,
                title=str(item.get("itemTitle") or ""),
                platform_sku_id=fields.opt_numeric_id(item, "skuId"),
                outer_sku_id=_opt_text(item, "skuNick"),
                refund_state=line_refund_state(paid, mine),
                room_id=_opt_text(item, "liveStreamId"),
                author_id=_opt_text(item, "distributorId"),
                raw=item,
            )
        )
    cps = raw.get("orderCpsInfo")
    cps = cps if (type(cps) is dict or isinstance(cps, Mapping)) else {}
    room = _opt_text(cps, "liveStreamId") or next((ln.room_id for ln in lines if ln.room_id), None)
    author = _opt_text(cps, "distributorId") or next((ln.author_id for ln in lines if ln.author_id), None)
    buyer = base.get("buyerOpenId")
    return OrderRecord(
        platform_order_id=oid,
        status=status,
        platform_status=str(code),
        created_at=ms_time(base, "createTime"),
        modified_at=ms_time(base, "updateTime"),
        # totalFee is the order's amount whether or not it has been paid yet (``status``
        # says which); totals over paid orders filter on ``status.is_paid``.
        paid_fen=total_fee,
        lines=tuple(lines),
        paid_at=paid_at,
        post_fee_fen=express_fee,
        discount_fen=fields.fen(base, "discountFee", 0),
        buyer_ref=buyer_ref(PLATFORM, str(buyer), hash_key) if buyer not in (None, "") else None,
        room_id=room,
        author_id=author,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A refund from ``open.seller.order.refund.pcursor.list`` / ``.detail``."""
    code = fields.integer(raw, "status")
    try:
        status = REFUND_STATUS[code]
    except KeyError:
        raise ValueError(f"unknown refund status {code!r}") from None
    handling = fields.integer(raw, "handlingWay")
    if handling not in HANDLING_WAYS:
        raise ValueError(f"unknown handlingWay {handling!r}")
    exchange = handling == HANDLING_EXCHANGE
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.numeric_id(raw, "refundId"),
        platform_order_id=fields.numeric_id(raw, "oid"),
        status=status,
        platform_status=str(code),
        # An exchange moves goods, never money: its amount is 0 whatever refundFee says.
        amount_fen=0 if exchange else fields.fen(raw, "refundFee"),
        created_at=ms_time(raw, "createTime"),
        modified_at=ms_time(raw, "updateTime"),
        platform_line_id=fields.opt_numeric_id(raw, "orderItemId"),
        quantity=fields.integer(raw, "num") if num not in (None, "", 0) else None,
        with_return=handling in (HANDLING_RETURN_REFUND, HANDLING_EXCHANGE),
        reason=_opt_text(raw, "refundReasonDesc") or ("换货" if exchange else None),
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "kwaiSkuId"),
        price_fen=fields.fen(raw, "skuSalePrice"),
        stock=fields.integer(raw, "skuStock"),
        outer_id=_opt_text(raw, "skuNick"),
        spec=_opt_text(raw, "specification"),
        modified_at=opt_ms_time(raw, "updateTime"),
        raw=raw,
    )


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """An item from ``open.item.list.get`` / ``open.item.get`` (with ``skuInfos``)."""
    skus = tuple(parse_sku(sku) for sku in list_field(raw, "skuInfos"))
    return ProductRecord(
        platform_item_id=fields.numeric_id(raw, "kwaiItemId"),
        title=str(fields.required(raw, "title")),
        on_sale=fields.integer(raw, "onOfflineStatus", 0) == ITEM_ONLINE,
        price_fen=fields.fen(raw, "price"),
        stock=sum(sku.stock for sku in skus) if skus else fields.integer(raw, "stock", 0),
        modified_at=ms_time(raw, "updateTime"),
        outer_id=_opt_text(raw, "itemCode"),
        skus=skus,
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> list[SettlementLineRecord]:
    """A settlement-bill row -> one :class:`SettlementLineRecord` (signed fen)."""
    amount = fields.integer(raw, "amount")
    return [
        SettlementLineRecord(
            platform_bill_id=fields.numeric_id(raw, "billId"),
            kind=BILL_TYPES.get(fields.integer(raw, "billType"), SettlementKind.OTHER),
            amount_fen=amount,
            settled_at=ms_time(raw, "settlementTime"),
            platform_order_id=fields.opt_numeric_id(raw, "oid"),
            platform_line_id=fields.opt_numeric_id(raw, "orderItemId"),
            raw=raw,
        )
    ]


def numeric_param(value: str, what: str) -> int:
    """A platform id we send back as the Long Kuaishou expects; anything else is our bug."""
    text = str(value).strip()
    if not text.isdigit():
        raise BadRequestError(PLATFORM, "bad_id", f"{what} is not numeric: {value!r}")
    return int(text)
