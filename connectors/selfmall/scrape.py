"""Self-built mall extraction: one card or row of an admin or catalogue page -> its fields
(plus the card's HTML), the raw payload the parsers read."""

from __future__ import annotations

from typing import Any

from connectors.selfmall.html import attr, field_text, fields_of, rows_of


def extract_order(card: Any) -> dict[str, Any]:
    lines = []
    for row in rows_of(card, "data-line-id"):
        cells = fields_of(row)
        lines.append(
            {
                "line_id": attr(row, "data-line-id"),
                "item_id": attr(row, "data-item-id"),
                "sku_id": attr(row, "data-sku-id"),
                "sku_code": attr(row, "data-sku-code"),
                "title": field_text(cells, "title"),
                "spec": field_text(cells, "spec"),
                "quantity": field_text(cells, "qty"),
                "unit_price": field_text(cells, "unit-price"),
                "paid": field_text(cells, "line-paid"),
                "refund": field_text(cells, "refund"),
            }
        )
    fields = fields_of(card)
    return {
        "order_id": attr(card, "data-order-id"),
        "status": field_text(fields, "status"),
        "created_at": field_text(fields, "created-at"),
        "paid_at": field_text(fields, "paid-at"),
        "updated_at": field_text(fields, "updated-at"),
        "buyer_id": attr(fields.get("buyer"), "data-buyer-id"),
        "campaign_code": field_text(fields, "campaign-code"),
        "purchasing_unit_code": field_text(fields, "purchasing-unit"),
        "post_fee": field_text(fields, "post-fee"),
        "discount": field_text(fields, "discount"),
        "paid": field_text(fields, "paid"),
        "lines": lines,
    }


def extract_refund(row: Any) -> dict[str, Any]:
    fields = fields_of(row)
    return {
        "refund_id": attr(row, "data-refund-id"),
        "order_id": attr(row, "data-order-id"),
        "line_id": attr(row, "data-line-id"),
        "status": field_text(fields, "status"),
        "amount": field_text(fields, "amount"),
        "quantity": field_text(fields, "qty"),
        "with_return": field_text(fields, "with-return"),
        "reason": field_text(fields, "reason"),
        "created_at": field_text(fields, "created-at"),
        "updated_at": field_text(fields, "updated-at"),
    }


def extract_bill(row: Any) -> dict[str, Any]:
    fields = fields_of(row)
    return {
        "bill_id": attr(row, "data-bill-id"),
        "order_id": attr(row, "data-order-id"),
        "line_id": attr(row, "data-line-id"),
        "kind": field_text(fields, "kind"),
        "amount": field_text(fields, "amount"),
        "settled_at": field_text(fields, "settled-at"),
    }


def extract_broadcast(row: Any) -> dict[str, Any]:
    """A row of the live broadcasts list (``/admin/lives``)."""
    fields = fields_of(row)
    return {
        "broadcast_id": attr(row, "data-broadcast-id"),
        "host_id": attr(row, "data-host-id"),
        "host_name": field_text(fields, "host"),
        "title": field_text(fields, "title"),
        "status": field_text(fields, "status"),
        "started_at": field_text(fields, "started-at"),
        "ended_at": field_text(fields, "ended-at"),
        "campaign_code": field_text(fields, "campaign-code"),
        "link": attr(fields.get("link"), "href"),
        "views": field_text(fields, "views"),
        "unique_viewers": field_text(fields, "unique-viewers"),
        "peak_online": field_text(fields, "peak-online"),
        "updated_at": field_text(fields, "updated-at"),
    }


def extract_product(section: Any) -> dict[str, Any]:
    skus = []
    for row in rows_of(section, "data-sku-id"):
        cells = fields_of(row)
        skus.append(
            {
                "sku_id": attr(row, "data-sku-id"),
                "outer_id": attr(row, "data-outer-id"),
                "spec": field_text(cells, "spec"),
                "price": field_text(cells, "price"),
                "stock": field_text(cells, "stock"),
            }
        )
    fields = fields_of(section)
    return {
        "item_id": attr(section, "data-item-id"),
        "outer_id": attr(section, "data-outer-id"),
        "modified_at": attr(section, "data-modified-at"),
        "title": field_text(fields, "title"),
        "shelf": field_text(fields, "shelf"),
        "skus": skus,
    }
