"""scrub personal data out of the stored raw platform payloads (PIPL)

Issue 12 item 12: ``orders.raw``, ``refunds.raw`` and ``quarantined_records.raw`` kept buyer ids,
nicks and receiver names, phones and addresses as the platforms sent them. The connectors now
scrub every payload before it is stored (``bangfu.scrub``); this migration applies the same
rules to what was stored before: buyer ids become ``"hmac:" + buyer_ref`` (the keyed hash
``orders.buyer_ref`` holds), the other personal fields are dropped.

The rules and the hash are copied below, frozen, as migrations import nothing of the hub
(``tests/bangfu/test_scrub.py`` checks the copy against ``bangfu.scrub``); only the hash key,
which is configuration, is read from the hub's settings, and only when a row has a buyer id to
hash. Rows are read and written in batches by id; a payload with nothing to scrub is not
written. Scrubbing is idempotent. There is no downgrade: a hash cannot be undone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
HASHED_PREFIX = "hmac:"

_TOP_ORDERS = (
    ("buyer_open_uid",),
    (
        "buyer_nick", "buyer_email", "buyer_alipay_no", "buyer_area", "buyer_ip", "receiver_name",
        "receiver_mobile", "receiver_phone", "receiver_address", "receiver_state", "receiver_city",
        "receiver_district", "receiver_town", "receiver_zip", "receiver_country", "oaid",
    ),
)  # fmt: skip
_TOP = ("taobao", {"orders": _TOP_ORDERS, "refunds": (("buyer_open_uid",), ("buyer_nick",))})

#: platform -> (buyer hash namespace, {stream: (hashed paths, dropped paths)}): bangfu.scrub's table
RULES: dict[str, tuple[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]]] = {
    "taobao": _TOP,
    "tmall": _TOP,
    "jd": (
        "jd",
        {
            "orders": (
                ("pin", "open_id_buyer", "xid_buyer"),
                ("consigneeInfo", "invoiceEasyInfo.invoiceConsigneePhone", "invoiceEasyInfo.invoiceConsigneeEmail"),
            ),
            "refunds": (
                ("customerPin",),
                (
                    "customerName",
                    "customerContactName",
                    "customerTel",
                    "customerMobilePhone",
                    "customerEmail",
                    "customerPostcode",
                    "pickwareAddress",
                    "returnwareAddress",
                ),
            ),
        },
    ),
    "douyin": (
        "douyin",
        {
            "orders": (
                ("doudian_open_id", "open_id"),
                (
                    "post_receiver",
                    "post_tel",
                    "post_addr",
                    "encrypt_post_receiver",
                    "encrypt_post_tel",
                    "mask_post_receiver",
                    "mask_post_tel",
                    "mask_post_addr",
                    "user_id_info",
                ),
            ),
        },
    ),
    "kuaishou": (
        "kuaishou",
        {
            "orders": (
                ("orderBaseInfo.buyerOpenId",),
                ("orderBaseInfo.buyerNick", "orderBaseInfo.buyerImage", "orderAddress"),
            ),
            "refunds": (("buyerOpenId",), ("buyerNick",)),
        },
    ),
    "youzan": (
        "youzan",
        {
            "orders": (
                (
                    "full_order_info.buyer_info.yz_open_id",
                    "full_order_info.buyer_info.buyer_id",
                    "full_order_info.buyer_info.outer_user_id",
                    "full_order_info.buyer_info.fans_id",
                ),
                (
                    "full_order_info.buyer_info.fans_nickname",
                    "full_order_info.buyer_info.buyer_phone",
                    "full_order_info.address_info",
                    "full_order_info.order_info.order_extra.id_card_number",
                    "full_order_info.orders[].buyer_messages",
                    "full_order_info.child_info.child_orders[].receiver_name",
                    "full_order_info.child_info.child_orders[].receiver_tel",
                    "full_order_info.child_info.child_orders[].address_detail",
                ),
            ),
        },
    ),
    "selfmall": ("selfmall", {"orders": (("buyer_id",), ("buyer_nick", "buyer_phone"))}),
}

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_key: list[bytes] = []


def _hash_key() -> bytes:
    if not _key:
        from bangfu.settings import get_settings  # configuration, not code: the hub's hash key

        _key.append(get_settings().resolved_hash_key())
    return _key[0]


def _buyer_ref(namespace: str, value: str) -> str:
    message = f"buyer:{namespace}\x00{value}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()[:32]


def _split(path: str) -> list[str]:
    parts: list[str] = []
    for part in path.split("."):
        parts.extend((part[:-2], "[]") if part.endswith("[]") else (part,))
    return parts


def _apply(node: Any, parts: Sequence[str], change: Callable[[Any], Any] | None) -> Any:
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if not isinstance(node, list):
            return node
        items = [_apply(item, rest, change) for item in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, dict) or head not in node:
        return node
    if not rest:
        if change is None:
            return {k: v for k, v in node.items() if k != head}
        value = change(node[head])
        return node if value is node[head] else {**node, head: value}
    child = _apply(node[head], rest, change)
    return node if child is node[head] else {**node, head: child}


def scrub(platform: str, stream: str, raw: Any) -> Any:
    """``raw`` scrubbed under the frozen rules (``raw`` itself when nothing changes)."""
    entry = RULES.get(platform)
    if entry is None or stream not in entry[1] or not isinstance(raw, dict):
        return raw
    namespace, streams = entry
    hashed, dropped = streams[stream]

    def hash_value(value: Any) -> Any:
        if value is None or value == "" or isinstance(value, bool | dict | list):
            return value
        if isinstance(value, str) and value.startswith(HASHED_PREFIX):
            return value
        return HASHED_PREFIX + _buyer_ref(namespace, str(value))

    out = raw
    for path in hashed:
        out = _apply(out, _split(path), hash_value)
    for path in dropped:
        out = _apply(out, _split(path), None)
    return out


def _scrub_table(name: str, stream: str | None) -> None:
    """Scrub ``name``.raw in id order; ``stream`` None: the row's own ``stream`` column."""
    bind = op.get_bind()
    extra = [] if stream else [sa.column("stream", sa.String)]
    rows_table = sa.table(
        name, sa.column("id", sa.BigInteger), sa.column("shop_id", sa.BigInteger), sa.column("raw", _JSON), *extra
    )
    shops = sa.table("shops", sa.column("id", sa.BigInteger), sa.column("platform", sa.String))
    query = (
        sa.select(rows_table.c.id, rows_table.c.raw, shops.c.platform, *(rows_table.c[c.name] for c in extra))
        .select_from(rows_table.join(shops, shops.c.id == rows_table.c.shop_id))
        .where(shops.c.platform.in_(sorted(RULES)), rows_table.c.raw.is_not(None))
    )
    if stream is None:
        query = query.where(rows_table.c.stream.in_(("orders", "refunds")))
    write = sa.update(rows_table).where(rows_table.c.id == sa.bindparam("row_id")).values(raw=sa.bindparam("clean"))
    after = 0
    while True:
        batch = bind.execute(query.where(rows_table.c.id > after).order_by(rows_table.c.id).limit(BATCH)).all()
        if not batch:
            return
        changed = []
        for row in batch:
            clean = scrub(row.platform, stream or row.stream, row.raw)
            if clean is not row.raw:
                changed.append({"row_id": row.id, "clean": clean})
        if changed:
            bind.execute(write, changed)
        after = batch[-1].id


def upgrade() -> None:
    _scrub_table("orders", "orders")
    _scrub_table("refunds", "refunds")
    _scrub_table("quarantined_records", None)


def downgrade() -> None:
    pass  # a keyed hash cannot be undone; the scrubbed payloads stay scrubbed
