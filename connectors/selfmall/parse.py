"""Self-built mall parsing (strict: extracted fields -> records, pure): display words through
the tables, money text to integer fen through Decimal, Beijing-time text to aware UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bangfu.enums import OrderStatus, SettlementKind
from bangfu.money import MoneyError, plain_yuan_match, yuan_to_fen
from bangfu.privacy import buyer_ref
from bangfu.records import (
    LiveSessionRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
)
from connectors.selfmall.tables import (
    LINE_REFUND,
    ORDER_STATUS,
    PLATFORM,
    REFUND_STATUS,
    SETTLEMENT_KIND,
    SHELF,
    YES_NO,
)
from connectors.windows import parse_local

# -- parsing (strict: fields -> records, pure) ---------------------------------------------------------------


def money_fen(text: Any, name: str = "amount") -> int:
    """``"¥1,234.50"`` / ``"-¥0.07"`` / ``"￥12"`` -> fen, exactly (Decimal, never float)."""
    if type(text) is str and text[:1] == "¥" and plain_yuan_match(text, 1):
        return int(text[1:].replace(".", ""))  # "¥68.00", as the general path reads it
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"missing money field {name!r}")
    cleaned = text.strip().replace("¥", "").replace("￥", "").replace(" ", "")
    try:
        return yuan_to_fen(cleaned)
    except MoneyError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _required(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(f"missing {key!r}")
    return text


def _optional(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _count(raw: Mapping[str, Any], key: str) -> int:
    value = _required(raw, key)
    if not value.isdigit():
        raise ValueError(f"{key!r} is not a whole number: {value!r}")
    return int(value)


def _word(table: Mapping[str, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    found = table.get(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"unknown {key} {value!r}")
    return found


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    return parse_local(_required(raw, key))


def _opt_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = _optional(raw, key)
    return parse_local(value) if value is not None else None


def parse_line(raw: Mapping[str, Any]) -> OrderLineRecord:
    return OrderLineRecord(
        platform_line_id=_required(raw, "line_id"),
        platform_item_id=_required(raw, "item_id"),
        quantity=_count(raw, "quantity"),
        unit_price_fen=money_fen(raw.get("unit_price"), "unit_price"),
        paid_fen=money_fen(raw.get("paid"), "line paid"),
        title=_optional(raw, "title") or "",
        platform_sku_id=_optional(raw, "sku_id"),
        outer_sku_id=_optional(raw, "sku_code"),
        refund_state=_word(LINE_REFUND, raw, "refund"),
        raw=raw,
    )


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    status: OrderStatus = _word(ORDER_STATUS, raw, "status")
    lines_raw = raw.get("lines")
    if not isinstance(lines_raw, list) or not lines_raw:
        raise ValueError("order card has no lines")
    buyer = _optional(raw, "buyer_id")
    paid = money_fen(raw.get("paid"), "paid")
    return OrderRecord(
        platform_order_id=_required(raw, "order_id"),
        status=status,
        platform_status=_required(raw, "status"),
        created_at=_time(raw, "created_at"),
        modified_at=_time(raw, "updated_at"),
        paid_fen=paid if status.is_paid else 0,
        lines=tuple(parse_line(line) for line in lines_raw),
        paid_at=_opt_time(raw, "paid_at"),
        post_fee_fen=money_fen(raw.get("post_fee"), "post_fee") if _optional(raw, "post_fee") else 0,
        discount_fen=money_fen(raw.get("discount"), "discount") if _optional(raw, "discount") else 0,
        buyer_ref=buyer_ref(PLATFORM, buyer, hash_key) if buyer else None,
        campaign_code=_optional(raw, "campaign_code"),
        purchasing_unit_code=_optional(raw, "purchasing_unit_code"),
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    quantity = _optional(raw, "quantity")
    if quantity is not None and not quantity.isdigit():
        raise ValueError(f"refund quantity is not a whole number: {quantity!r}")
    return RefundRecord(
        platform_refund_id=_required(raw, "refund_id"),
        platform_order_id=_required(raw, "order_id"),
        status=_word(REFUND_STATUS, raw, "status"),
        platform_status=_required(raw, "status"),
        amount_fen=money_fen(raw.get("amount"), "amount"),
        created_at=_time(raw, "created_at"),
        modified_at=_time(raw, "updated_at"),
        platform_line_id=_optional(raw, "line_id"),
        quantity=int(quantity) if quantity is not None else None,
        with_return=_word(YES_NO, raw, "with_return"),
        reason=_optional(raw, "reason"),
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    kind_text = _required(raw, "kind")
    return SettlementLineRecord(
        platform_bill_id=_required(raw, "bill_id"),
        kind=SETTLEMENT_KIND.get(kind_text, SettlementKind.OTHER),
        amount_fen=money_fen(raw.get("amount"), "amount"),
        settled_at=_time(raw, "settled_at"),
        platform_order_id=_optional(raw, "order_id"),
        platform_line_id=_optional(raw, "line_id"),
        raw=raw,
    )


def parse_broadcast(raw: Mapping[str, Any]) -> LiveSessionRecord:
    """A live broadcast row -> :class:`LiveSessionRecord` carrying the campaign code it promotes
    (orders placed through that link / QR code are attributed to it with confidence ``link``)."""
    started = _time(raw, "started_at")
    ended = _opt_time(raw, "ended_at")
    if ended is not None and ended < started:
        raise ValueError("the broadcast ends before it starts")
    return LiveSessionRecord(
        room_id=_required(raw, "broadcast_id"),
        author_id=_required(raw, "host_id"),
        started_at=started,
        modified_at=_time(raw, "updated_at"),
        host_name=_optional(raw, "host_name") or "",
        title=_optional(raw, "title") or "",
        ended_at=ended,
        views=_count(raw, "views"),
        unique_viewers=_count(raw, "unique_viewers"),
        peak_online=_count(raw, "peak_online"),
        campaign_code=_optional(raw, "campaign_code"),
        raw=raw,
    )


def parse_product(raw: Mapping[str, Any]) -> ProductRecord:
    skus_raw = raw.get("skus")
    if not isinstance(skus_raw, list) or not skus_raw:
        raise ValueError("product without SKUs")
    skus = tuple(
        SkuRecord(
            platform_sku_id=_required(sku, "sku_id"),
            price_fen=money_fen(sku.get("price"), "price"),
            stock=_count(sku, "stock"),
            outer_id=_optional(sku, "outer_id"),
            spec=_optional(sku, "spec"),
            raw=sku,
        )
        for sku in skus_raw
    )
    return ProductRecord(
        platform_item_id=_required(raw, "item_id"),
        title=_required(raw, "title"),
        on_sale=_word(SHELF, raw, "shelf"),
        price_fen=min(sku.price_fen for sku in skus),
        stock=sum(sku.stock for sku in skus),
        modified_at=_time(raw, "modified_at"),
        outer_id=_optional(raw, "outer_id"),
        skus=skus,
        raw=raw,
    )
