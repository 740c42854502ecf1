"""Personal data in raw platform payloads (PIPL): which fields, and how they are scrubbed.

The hub keeps each platform's payload beside the normalised record (``orders.raw``,
``refunds.raw``, ``quarantined_records.raw``), so nothing the platform said about the sale is
lost. What it said about the buyer is another matter: before a payload is stored, the fields
named in :data:`PERSONAL_FIELDS` (per platform and stream) are scrubbed:

* ``hashed``: buyer identifiers, which are worth matching (the same buyer's orders): the value
  becomes ``"hmac:" + bangfu.privacy.buyer_ref(namespace, value)``, the keyed hash that
  ``orders.buyer_ref`` holds where the connector took the buyer from that field;
* ``dropped``: everything else personal (nicknames, receiver or consignee name, phone and
  address, identity-card fields, buyer messages that carry them): removed with their subtree.

A path is dotted keys; ``[]`` walks every element of a list (``orders[].buyer_messages``).
Paths a payload does not have are skipped. Scrubbing copies only the containers on a changed
path and never modifies its input; it is idempotent (a hashed value keeps its ``hmac:`` prefix
and is left alone), so scrubbing a stored payload twice changes nothing.

Each platform's table is compiled once into a :class:`ScrubPlan` (a tree of the keys it names,
:func:`plan_for`), which :func:`scrub_raw` applies in one pass over the keys the table names:
no path is split and no payload key is visited per call; :func:`scrub` (any ``PersonalFields``)
compiles its own. A hashed buyer id is the same keyed hash the connector put in ``buyer_ref``
(memoised by :func:`bangfu.privacy.buyer_ref`), so hashing it again costs a cache hit.

The connectors apply it in one place, :meth:`connectors.base.Connector.guard` and the detail
calls, so every record (and every quarantined payload) of every platform reaches the store
scrubbed; migration 0012 applied the same table to what was stored before. A change to this
table needs a migration that scrubs the stored payloads again (``tests/bangfu/test_scrub.py``
compares the migration's frozen copy with it).

Fields are those of PLATFORMS.md and of the real payloads it cites; entries marked [I] are
fields the platforms are known to send in some API versions that our fakes do not model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from bangfu.enums import PlatformKind, SyncStream
from bangfu.privacy import buyer_ref

HASHED_PREFIX = "hmac:"


@dataclass(frozen=True, slots=True)
class PersonalFields:
    """The personal fields of one platform's payloads of one stream."""

    hashed: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlatformPersonalFields:
    namespace: str  # bangfu.privacy.buyer_ref namespace (what the connector hashes buyer_ref with)
    streams: Mapping[SyncStream, PersonalFields]


_ORDERS, _REFUNDS = SyncStream.ORDERS, SyncStream.REFUNDS

_TOP = PlatformPersonalFields(
    "taobao",  # Taobao and Tmall share buyers (connectors.taobao.BUYER_NAMESPACE)
    {
        _ORDERS: PersonalFields(
            hashed=("buyer_open_uid",),
            dropped=(
                "buyer_nick",
                "buyer_email",
                "buyer_alipay_no",
                "buyer_area",
                "buyer_ip",
                "receiver_name",
                "receiver_mobile",
                "receiver_phone",
                "receiver_address",
                "receiver_state",
                "receiver_city",
                "receiver_district",
                "receiver_town",
                "receiver_zip",
                "receiver_country",
                "oaid",  # names the encrypted receiver for the decryption API
            ),
        ),
        _REFUNDS: PersonalFields(hashed=("buyer_open_uid",), dropped=("buyer_nick",)),
    },
)

PERSONAL_FIELDS: Mapping[PlatformKind, PlatformPersonalFields] = MappingProxyType(
    {
        PlatformKind.TAOBAO: _TOP,
        PlatformKind.TMALL: _TOP,
        PlatformKind.JD: PlatformPersonalFields(
            "jd",
            {
                _ORDERS: PersonalFields(
                    hashed=("pin", "open_id_buyer", "xid_buyer"),  # the last two [I]: JD's pin successors
                    dropped=(
                        "consigneeInfo",
                        "invoiceEasyInfo.invoiceConsigneePhone",  # [I]
                        "invoiceEasyInfo.invoiceConsigneeEmail",  # [I]
                    ),
                ),
                _REFUNDS: PersonalFields(
                    hashed=("customerPin",),
                    dropped=(  # [I] the asc service's customer contact fields
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
        PlatformKind.DOUYIN: PlatformPersonalFields(
            "douyin",
            {
                _ORDERS: PersonalFields(
                    hashed=("doudian_open_id", "open_id"),
                    dropped=(
                        "post_receiver",
                        "post_tel",
                        "post_addr",
                        "encrypt_post_receiver",
                        "encrypt_post_tel",
                        "mask_post_receiver",
                        "mask_post_tel",
                        "mask_post_addr",
                        "user_id_info",  # identity card of cross-border buyers
                    ),
                ),
            },
        ),
        PlatformKind.KUAISHOU: PlatformPersonalFields(
            "kuaishou",
            {
                _ORDERS: PersonalFields(
                    hashed=("orderBaseInfo.buyerOpenId",),
                    dropped=("orderBaseInfo.buyerNick", "orderBaseInfo.buyerImage", "orderAddress"),
                ),
                _REFUNDS: PersonalFields(hashed=("buyerOpenId",), dropped=("buyerNick",)),  # [I]
            },
        ),
        PlatformKind.YOUZAN: PlatformPersonalFields(
            "youzan",
            {
                _ORDERS: PersonalFields(
                    hashed=(
                        "full_order_info.buyer_info.yz_open_id",
                        "full_order_info.buyer_info.buyer_id",
                        "full_order_info.buyer_info.outer_user_id",
                        "full_order_info.buyer_info.fans_id",
                    ),
                    dropped=(
                        "full_order_info.buyer_info.fans_nickname",
                        "full_order_info.buyer_info.buyer_phone",
                        "full_order_info.address_info",
                        "full_order_info.order_info.order_extra.id_card_number",
                        "full_order_info.orders[].buyer_messages",  # buyers' form answers (ID numbers...)
                        "full_order_info.child_info.child_orders[].receiver_name",  # gift orders [I]
                        "full_order_info.child_info.child_orders[].receiver_tel",
                        "full_order_info.child_info.child_orders[].address_detail",
                    ),
                ),
            },
        ),
        PlatformKind.SELFMALL: PlatformPersonalFields(
            "selfmall",
            {_ORDERS: PersonalFields(hashed=("buyer_id",), dropped=("buyer_nick", "buyer_phone"))},
        ),
    }
)

Hasher = Callable[[str], str]


def personal_fields(platform: PlatformKind | str, stream: SyncStream) -> tuple[str, PersonalFields] | None:
    """The buyer-hash namespace and the personal fields of ``platform``'s ``stream``, if any."""
    try:
        entry = PERSONAL_FIELDS.get(PlatformKind(platform))
    except ValueError:
        return None
    if entry is None or stream not in entry.streams:
        return None
    return entry.namespace, entry.streams[stream]


class ScrubPlan:
    """One level of a compiled :class:`PersonalFields`: which keys of an object to hash, drop,
    descend into (an object) or walk (a list of objects). Built once per table by
    :meth:`compile`; :meth:`apply` visits only the keys it names."""

    __slots__ = ("drop", "each", "hash", "sub")

    def __init__(self) -> None:
        self.hash: tuple[str, ...] = ()
        self.drop: frozenset[str] = frozenset()
        self.sub: tuple[tuple[str, ScrubPlan], ...] = ()
        self.each: tuple[tuple[str, ScrubPlan], ...] = ()

    @classmethod
    def compile(cls, fields: PersonalFields) -> ScrubPlan | None:
        """The plan of ``fields``, or ``None`` for a table a tree cannot express exactly (a key
        both hashed and walked into, a path starting or ending with ``[]``): :func:`scrub` then
        takes the path-by-path walk. Dropping wins over anything below the dropped key, as in
        the walk (which hashes first, then drops)."""
        tree: dict[str, Any] = {}
        for action, paths in (("hash", fields.hashed), ("drop", fields.dropped)):
            for path in paths:
                if not _place(tree, _split(path), action):
                    return None
        return cls._build(tree)

    @classmethod
    def _build(cls, tree: Mapping[str, Any]) -> ScrubPlan:
        plan = cls()
        plan.hash = tuple(key for key, value in tree.items() if value == "hash")
        plan.drop = frozenset(key for key, value in tree.items() if value == "drop")
        plan.sub = tuple((key, cls._build(v[1])) for key, v in tree.items() if isinstance(v, tuple) and v[0] == "sub")
        plan.each = tuple((key, cls._build(v[1])) for key, v in tree.items() if isinstance(v, tuple) and v[0] == "each")
        return plan

    def apply(self, node: Any, hasher: Hasher) -> Any:
        """``node`` scrubbed (``node`` itself when nothing changed; copies only changed objects)."""
        if type(node) is not dict and not isinstance(node, Mapping):  # dict: no ABC check
            return node
        changed: dict[str, Any] | None = None
        for key in self.hash:
            if key in node:
                value = node[key]
                new = _hashed(value, hasher)
                if new is not value:
                    if changed is None:
                        changed = {}
                    changed[key] = new
        for key, plan in self.sub:
            if key in node:
                child = node[key]
                new = plan.apply(child, hasher)
                if new is not child:
                    if changed is None:
                        changed = {}
                    changed[key] = new
        for key, plan in self.each:
            child = node.get(key)
            if isinstance(child, list):
                items = [plan.apply(item, hasher) for item in child]
                if any(a is not b for a, b in zip(items, child, strict=True)):
                    if changed is None:
                        changed = {}
                    changed[key] = items
        drop = self.drop
        dropped = drop.intersection(node) if drop else None  # in C, over the payload's keys
        if changed is None and not dropped:
            return node
        # A copy (in C, keys in order) less the few dropped keys: not a comprehension over the
        # payload's forty-odd keys in Python. The keys left keep their order either way.
        out = dict(node)
        if dropped:
            for key in dropped:
                del out[key]
        if changed:
            for key, value in changed.items():
                if key not in drop:
                    out[key] = value
        return out


def _place(tree: dict[str, Any], parts: Sequence[str], action: str) -> bool:
    """Put ``action`` (``"hash"`` or ``"drop"``) at ``parts`` in ``tree`` (key -> action, or
    ``("sub" | "each", subtree)``); ``False`` when the tree cannot say it exactly."""
    if parts[0] == "[]" or parts[-1] == "[]" or any(a == b == "[]" for a, b in pairwise(parts)):
        return False  # a list at the top, a list of values, or a list of lists
    node = tree
    for index, part in enumerate(parts):
        if part == "[]":
            continue
        if index == len(parts) - 1:
            current = node.get(part)
            if current is not None and current != action and action != "drop":
                return False  # hashed where something is walked into
            node[part] = action  # a drop replaces whatever was below
            return True
        kind = "each" if parts[index + 1] == "[]" else "sub"
        current = node.get(part)
        if current == "drop":
            return True  # dropped whole: nothing below it matters
        if current is None:
            current = node[part] = (kind, {})
        elif not isinstance(current, tuple) or current[0] != kind:
            return False  # walked into a hashed value, or as an object and as a list
        node = current[1]
    return True


Plan = tuple[str, PersonalFields, ScrubPlan | None]


@lru_cache(maxsize=64)
def plan_for(platform: PlatformKind | str, stream: SyncStream | str) -> Plan | None:
    """The namespace, table and compiled plan of ``platform``'s ``stream`` (compiled once)."""
    found = personal_fields(platform, SyncStream(stream))
    if found is None:
        return None
    namespace, fields = found
    return namespace, fields, ScrubPlan.compile(fields)


Scrubber = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def scrubber(platform: PlatformKind | str, stream: SyncStream | str, *, key: bytes | None = None) -> Scrubber:
    """:func:`scrub_raw` for one platform and stream, with the table looked up and compiled once
    (what a connector keeps per stream)."""
    found = plan_for(platform, SyncStream(stream))
    if found is None:
        return _unchanged
    namespace, fields, plan = found

    def hasher(value: str) -> str:
        return HASHED_PREFIX + buyer_ref(namespace, value, key)

    if plan is None:
        return lambda raw: _scrub_by_path(raw, fields, hasher) if isinstance(raw, Mapping) else raw
    return partial(plan.apply, hasher=hasher)  # no Python frame of its own per payload


def _unchanged(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    return raw


def scrub_raw(
    platform: PlatformKind | str, stream: SyncStream | str, raw: Mapping[str, Any], *, key: bytes | None = None
) -> Mapping[str, Any]:
    """``raw`` without the personal fields of ``platform``'s ``stream`` (``raw`` itself when
    there is nothing to scrub); ``key`` is the hash key (default: the hub's)."""
    if not isinstance(raw, Mapping):
        return raw
    return scrubber(platform, stream, key=key)(raw)


def scrub(raw: Mapping[str, Any], fields: PersonalFields, hasher: Hasher) -> Mapping[str, Any]:
    """Apply ``fields`` to ``raw`` with ``hasher`` for the hashed ones (copy-on-write)."""
    plan = ScrubPlan.compile(fields)
    if plan is None:
        return _scrub_by_path(raw, fields, hasher)
    return plan.apply(raw, hasher)  # type: ignore[no-any-return]


def _scrub_by_path(raw: Mapping[str, Any], fields: PersonalFields, hasher: Hasher) -> Mapping[str, Any]:
    """The path-by-path walk: each hashed path, then each dropped one (what a plan computes)."""
    out: Any = raw
    for path in fields.hashed:
        out = _apply(out, _split(path), lambda value: _hashed(value, hasher))
    for path in fields.dropped:
        out = _apply(out, _split(path), None)
    return out  # type: ignore[no-any-return]


def _split(path: str) -> Sequence[str]:
    parts: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            parts.extend((part[:-2], "[]"))
        else:
            parts.append(part)
    return parts


def _hashed(value: Any, hasher: Hasher) -> Any:
    if type(value) is str:  # the usual buyer id: no ABC check
        return value if not value or value.startswith(HASHED_PREFIX) else hasher(value)
    if value is None or value == "" or isinstance(value, bool | Mapping | list):
        return value  # nothing personal, or not an identifier
    if isinstance(value, str) and value.startswith(HASHED_PREFIX):
        return value  # scrubbed before
    return hasher(str(value))


def _apply(node: Any, parts: Sequence[str], change: Callable[[Any], Any] | None) -> Any:
    """``node`` with the value at ``parts`` changed (``change``) or dropped (``None``)."""
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if not isinstance(node, list):
            return node
        items = [_apply(item, rest, change) for item in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, Mapping) or head not in node:
        return node
    if not rest:
        if change is None:
            return {k: v for k, v in node.items() if k != head}
        value = change(node[head])
        return node if value is node[head] else {**node, head: value}
    child = _apply(node[head], rest, change)
    return node if child is node[head] else {**node, head: child}
