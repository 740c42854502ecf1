"""JD JOS pure parsing: field helpers and raw -> record parsers, the exact-decimal body
decoder. No I/O; tested on sample payloads."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bangfu.enums import OrderStatus, SettlementKind
from bangfu.money import MoneyError, split_largest_remainder, yuan_to_fen
from bangfu.records import OrderLineRecord, OrderRecord, ProductRecord, RefundRecord, SettlementLineRecord, SkuRecord
from connectors import fields
from connectors.buyers import buyer_ref
from connectors.jd.tables import CUSTOMER_EXPECT_RETURN, FEE_TYPE, ORDER_STATE, PLATFORM, SERVICE_STATUS, WARE_ON_SALE
from connectors.windows import SHANGHAI, from_epoch_ms

# -- field helpers -----------------------------------------------------------------------------


#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


def fen(value: Any) -> int:
    """A JD money value (yuan string, or a JSON number kept as text/Decimal) in fen."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not a yuan amount: {value!r}")
    if isinstance(value, int | str | Decimal):
        return yuan_to_fen(value)
    raise MoneyError(f"not a yuan amount: {value!r}")


_BEIJING_OFFSET = timedelta(hours=8)
_LOCAL_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)?")


def jd_time(value: Any) -> datetime | None:
    """JD's Beijing ``yyyy-MM-dd HH:mm:ss`` (an optional ``.0`` fraction is dropped) to UTC;
    ``None`` for JD's ``0001-01-01 00:00:00`` "no such time" and for empty values."""
    if (
        type(value) is str
        and len(value) == 19
        and value[4] == value[7] == "-"
        and value[10] == " "
        and value[13] == value[16] == ":"
        and value >= "1992"  # UTC+8 without DST from then on
    ):
        try:
            return (datetime.fromisoformat(value) - _BEIJING_OFFSET).replace(tzinfo=UTC)
        except ValueError:
            pass  # the general path says what is wrong with it
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a JD time: {value!r}")
    match = _LOCAL_TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a JD time: {value!r}")
    if value.startswith("0001-01-01"):
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    value = jd_time(fields.required(raw, key))
    if value is None:
        raise ValueError(f"{key} is JD's empty time")
    return value


def _ms(raw: Mapping[str, Any], key: str) -> datetime:
    return from_epoch_ms(fields.required(raw, key))


def line_id(order_id: str, sku_id: str) -> str:
    """[I] JD order items carry no line id: ``<orderId>-<skuId>`` names one (a SKU appearing
    twice in one order gets ``-2``, ``-3``... on its later lines)."""
    return f"{order_id}-{sku_id}"


def _buyer(raw: Mapping[str, Any]) -> str | None:
    pin = raw.get("pin")
    if not isinstance(pin, str) or not pin.strip():
        return None
    return buyer_ref(PLATFORM, pin.strip())


# -- record parsers ----------------------------------------------------------------------------


def order_status(state: str, paid_at: datetime | None) -> OrderStatus:
    """The hub status of a JD ``orderState``; ``TRADE_CANCELED`` after payment is CLOSED."""
    try:
        status = ORDER_STATE[state]
    except KeyError:
        raise ValueError(f"unknown orderState {state!r}") from None
    if status is OrderStatus.CANCELLED and paid_at is not None:
        return OrderStatus.CLOSED
    return status


#: The ``optional_fields`` of ``pop.order.search`` and ``pop.order.get``: exactly the
#: ``orderInfo`` fields :func:`parse_order` reads (JD refuses the call when the list is missing
#: or empty, and returns only the fields asked for). ``itemInfoList`` comes back whole.
#: Kept beside the parser so the two cannot drift: ``tests/connectors/test_jd.py`` fails when
#: the parser reads a field that is not listed here.
ORDER_FIELDS: tuple[str, ...] = (
    "orderId",
    "orderState",
    "orderStartTime",
    "modified",
    "paymentConfirmTime",
    "orderPayment",
    "freightPrice",
    "sellerDiscount",
    "pin",
    "itemInfoList",
)


def parse_order(raw: Mapping[str, Any]) -> OrderRecord:
    """One ``orderInfo`` (search list item or ``pop.order.get``) as an :class:`OrderRecord`.

    ``orderPayment`` is what the buyer pays (goods - discounts + freight); line paid amounts
    are the line totals less their share of ``sellerDiscount``, split by line total with
    largest remainders [I: JD puts no per-line paid amount on itemInfoList].
    """
    order_id = fields.text_id(raw, "orderId")
    state = str(fields.required(raw, "orderState"))
    paid_at = jd_time(raw.get("paymentConfirmTime"))
    items = raw.get("itemInfoList")
    if not isinstance(items, list) or not items:
        raise ValueError("itemInfoList is missing or empty")
    totals: dict[int, int] = {}
    parsed: list[tuple[str, str, int, int, Mapping[str, Any]]] = []
    for index, item in enumerate(items):
        if type(item) is not dict and not isinstance(item, Mapping):
            raise ValueError(f"itemInfoList[{index}] is not an object")
        sku_id = fields.text_id(item, "skuId")
        ware_id = fields.text_id(item, "wareId")
        quantity = fields.integer(item, "itemTotal")
        unit = fields.yuan(item, "jdPrice")
        if quantity <= 0 or unit < 0:
            raise ValueError(f"itemInfoList[{index}]: quantity {quantity}, price {unit}")
        totals[index] = unit * quantity
        parsed.append((sku_id, ware_id, quantity, unit, item))
    discount = fields.yuan(raw, "sellerDiscount", 0)
    if discount < 0 or discount > sum(totals.values()):
        raise ValueError(f"sellerDiscount {discount} does not fit the items")
    shares = split_largest_remainder(discount, totals) if discount else dict.fromkeys(totals, 0)
    lines: list[OrderLineRecord] = []
    used: dict[str, int] = {}
    for index, (sku_id, ware_id, quantity, unit, item) in enumerate(parsed):
        used[sku_id] = used.get(sku_id, 0) + 1
        suffix = "" if used[sku_id] == 1 else f"-{used[sku_id]}"
        outer = item.get("outerSkuId")
        lines.append(
            OrderLineRecord(
                platform_line_id=line_id(order_id, sku_id) + suffix,
                platform_item_id=ware_id,
                quantity=quantity,
                unit_price_fen=unit,
                paid_fen=totals[index] - shares[index],
                title=str(item.get("skuName") or ""),
                platform_sku_id=sku_id,
                outer_sku_id=str(outer) if outer not in (None, "") else None,
                raw=item,
            )
        )
    return OrderRecord(
        platform_order_id=order_id,
        status=order_status(state, paid_at),
        platform_status=state,
        created_at=_time(raw, "orderStartTime"),
        modified_at=_time(raw, "modified"),
        paid_fen=fields.yuan(raw, "orderPayment"),
        lines=tuple(lines),
        paid_at=paid_at,
        post_fee_fen=fields.yuan(raw, "freightPrice", 0),
        discount_fen=discount,
        buyer_ref=_buyer(raw),
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """One after-sales service (``asc.query.list`` item) as a :class:`RefundRecord`.

    ``refundAmount`` is [I]: the asc list documents ``actualPayPrice`` (what the buyer paid
    for the SKU) but no refund amount; the fake serves the refund amount under this name.
    """
    order_id = fields.text_id(raw, "orderId")
    status_code = fields.integer(raw, "serviceStatus")
    try:
        status = SERVICE_STATUS[status_code]
    except KeyError:
        raise ValueError(f"unknown serviceStatus {status_code}") from None
    sku = raw.get("skuId")
    count = raw.get("serviceCount")
    reason = raw.get("questionDesc") or raw.get("customerExpectName")
    return RefundRecord(
        platform_refund_id=fields.text_id(raw, "serviceId"),
        platform_order_id=order_id,
        status=status,
        platform_status=str(raw.get("serviceStatusName") or status_code),
        amount_fen=fields.yuan(raw, "refundAmount"),
        created_at=_ms(raw, "applyTime"),
        modified_at=_ms(raw, "updateDate"),
        platform_line_id=line_id(order_id, str(sku)) if sku not in (None, "") else None,
        quantity=fields.integer(raw, "serviceCount") if count not in (None, "") else None,
        with_return=raw.get("customerExpect") in (CUSTOMER_EXPECT_RETURN, str(CUSTOMER_EXPECT_RETURN)),
        reason=str(reason) if reason else None,
        raw=raw,
    )


def _sku_spec(raw: Mapping[str, Any]) -> str | None:
    attrs = raw.get("saleAttrs")
    if isinstance(attrs, list):
        names: list[str] = []
        for attr in attrs:
            values = attr.get("attrValueAlias") if (type(attr) is dict or isinstance(attr, Mapping)) else None
            if isinstance(values, list):
                names.extend(str(v) for v in values if v)
        if names:
            return " ".join(names)
    name = raw.get("skuName")
    return str(name) if name else None


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    modified = raw.get("modified")
    outer = raw.get("outerId")
    return SkuRecord(
        platform_sku_id=fields.text_id(raw, "skuId"),
        price_fen=fields.yuan(raw, "jdPrice"),
        stock=fields.integer(raw, "stockNum"),
        outer_id=str(outer) if outer not in (None, "") else None,
        spec=_sku_spec(raw),
        modified_at=from_epoch_ms(modified) if modified not in (None, "") else None,
        raw=raw,
    )


def parse_ware(raw: Mapping[str, Any]) -> ProductRecord:
    """A ware with its SKUs under ``skus`` (the connector joins searchSkuList into it)."""
    skus_raw = raw.get("skus", [])
    if not isinstance(skus_raw, list):
        raise ValueError("skus is not a list")
    skus = tuple(parse_sku(sku) for sku in skus_raw if (type(sku) is dict or isinstance(sku, Mapping)))
    outer = raw.get("outerId")
    return ProductRecord(
        platform_item_id=fields.text_id(raw, "wareId"),
        title=str(fields.required(raw, "title")),
        on_sale=fields.integer(raw, "wareStatus") == WARE_ON_SALE,
        price_fen=fields.yuan(raw, "jdPrice"),
        stock=fields.integer(raw, "stockNum"),
        modified_at=_ms(raw, "modified"),
        outer_id=str(outer) if outer not in (None, "") else None,
        skus=skus,
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """One [I] ``billDetailList`` row: signed yuan ``amount`` (+ adds to the payout)."""
    fee_type = str(fields.required(raw, "feeType"))
    order_id = raw.get("orderId")
    sku = raw.get("skuId")
    order = str(order_id) if order_id not in (None, "") else None
    return SettlementLineRecord(
        platform_bill_id=fields.text_id(raw, "billId"),
        kind=FEE_TYPE.get(fee_type, SettlementKind.OTHER),
        amount_fen=fields.yuan(raw, "amount"),
        settled_at=_time(raw, "settleTime"),
        platform_order_id=order,
        platform_line_id=line_id(order, str(sku)) if order and sku not in (None, "") else None,
        raw=raw,
    )


def decode_body(raw: bytes) -> Any:
    """JSON with JSON numbers that have a fraction kept as their exact text (never float)."""
    return json.loads(raw, parse_float=str)
