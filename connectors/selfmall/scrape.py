"""Self-built mall extraction: one card or row of an admin or catalogue page -> its fields
(plus the card's HTML), the raw payload the parsers read.

An order card of a list page (an lxml element, :func:`extract_order`) is read in one walk over
its elements: each ``data-field`` (first occurrence wins, as
:func:`~connectors.selfmall.html.fields_of`) and each line row with its own cells. That is
cheaper here than the XPath queries it replaces (one per row, one per card) and a helper call
per field. A BeautifulSoup ``Tag`` (detail pages) takes the general path below.
"""

from __future__ import annotations

from typing import Any

import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
from bs4 import Tag

from connectors.selfmall.html import _get_text, attr, field_text, fields_of, rows_of

_ELEMENT = lxml.etree.Element  # iterdescendants(_ELEMENT): elements only, no comments


def _within(element: Any, row: Any, card: Any) -> bool:
    """Whether ``element`` is inside ``row`` (a cell is usually its child)."""
    parent = element.getparent()
    while parent is not None and parent is not card:
        if parent is row:
            return True
        parent = parent.getparent()
    return False


def _text(found: Any) -> str | None:
    return _get_text(found) if found is not None else None


def _line(row: Any, cells: dict[str, Any]) -> dict[str, Any]:
    get = row.get
    return {
        "line_id": get("data-line-id"),
        "item_id": get("data-item-id"),
        "sku_id": get("data-sku-id"),
        "sku_code": get("data-sku-code"),
        "title": _text(cells.get("title")),
        "spec": _text(cells.get("spec")),
        "quantity": _text(cells.get("qty")),
        "unit_price": _text(cells.get("unit-price")),
        "paid": _text(cells.get("line-paid")),
        "refund": _text(cells.get("refund")),
    }


def _extract_order_lxml(card: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    rows: list[tuple[Any, dict[str, Any]]] = []
    row: Any = None
    cells: dict[str, Any] = {}
    for element in card.iterdescendants(_ELEMENT):
        if row is not None and not _within(element, row, card):
            row = None  # document order: past the row's last descendant, never back in it
        name = element.get("data-field")
        if name:
            if name not in fields:
                fields[name] = element
            if row is not None and name not in cells:
                cells[name] = element
        if element.tag == "tr" and element.get("data-line-id") is not None:
            row, cells = element, {}
            rows.append((row, cells))
    buyer = fields.get("buyer")
    return {
        "order_id": card.get("data-order-id"),
        "status": _text(fields.get("status")),
        "created_at": _text(fields.get("created-at")),
        "paid_at": _text(fields.get("paid-at")),
        "updated_at": _text(fields.get("updated-at")),
        "buyer_id": buyer.get("data-buyer-id") if buyer is not None else None,
        "campaign_code": _text(fields.get("campaign-code")),
        "purchasing_unit_code": _text(fields.get("purchasing-unit")),
        "post_fee": _text(fields.get("post-fee")),
        "discount": _text(fields.get("discount")),
        "paid": _text(fields.get("paid")),
        "lines": [_line(row, cells) for row, cells in rows],
    }


def extract_order(card: Any) -> dict[str, Any]:
    if not isinstance(card, Tag):
        return _extract_order_lxml(card)
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
