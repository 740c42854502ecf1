"""Platform push messages as values: parsed, keyed and verified, with no I/O.

The parsing half of :mod:`sync.webhooks` (which stores, answers and processes the events): a
Douyin push body or a TMC-like Taobao push body -> :class:`IncomingEvent` values (one per
message, keyed by the platform's message id or a digest of the message), and the TMC signature.
``tests/sync/test_webhook_messages.py`` states the rules as examples.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

KEY_MAX = 128  # webhook_events.event_key
ID_MAX = 64  # webhook_events.platform_order_id

TMC_APP_KEY_HEADER = "x-top-appkey"
TMC_SIGN_HEADER = "x-top-sign"

# The message tags we name (public SDK struct names); 1xx trade and 2xx after-sale messages are
# about an order and are followed by a pull of it [I: others, e.g. product messages, are kept
# and ignored].
DOUYIN_TAG_NAMES: Mapping[str, str] = {
    "100": "TradeCreate",
    "101": "TradePaid",
    "102": "TradeSellerShip",
    "103": "TradeSuccess",
    "105": "TradeAddressChanged",
    "106": "TradeCanceled",
    "200": "RefundCreated",
    "206": "RefundSuccess",
}
TAOBAO_ORDER_TOPICS = ("taobao_trade_", "taobao_refund_")


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One message of a push, as parsed (before the shop is known)."""

    event_key: str
    kind: str
    platform_shop_id: str | None
    platform_order_id: str | None  # None: nothing to pull
    payload: str  # the message as received
    platform_refund_id: str | None = None  # an after-sale message's refund: pulled after the order


# --------------------------------------------------------------------------- parsing


def _id_text(value: Any) -> str | None:
    """A platform id as text: ints and digit strings; anything else is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= ID_MAX:
        return value.strip()
    return None


def _event_key(given: Any, *fallback: str) -> str:
    """The platform's message id, or a digest of the message when it has none [I]."""
    text = str(given).strip() if given is not None else ""
    if text and len(text) <= KEY_MAX:
        return text
    return "sha256:" + hashlib.sha256("\x1f".join((text, *fallback)).encode()).hexdigest()


def _embedded(value: Any) -> dict[str, Any]:
    """A message's embedded JSON document (a string, as both platforms send it, or an object)."""
    if isinstance(value, str) and value:
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def parse_douyin(body: bytes) -> list[IncomingEvent]:
    """A Douyin push body -> its events; ``ValueError`` when it is not a JSON array of messages."""
    messages = orjson.loads(body)
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("a Douyin push is a JSON array of messages")
    events: list[IncomingEvent] = []
    for message in messages:
        tag = str(message.get("tag", "")).strip()
        raw_data = message.get("data")
        data = _embedded(raw_data)
        about_order = len(tag) == 3 and tag[0] in "12"
        about_refund = len(tag) == 3 and tag[0] == "2"  # 2xx: after-sale (refund) messages
        name = DOUYIN_TAG_NAMES.get(tag)
        events.append(
            IncomingEvent(
                event_key=_event_key(message.get("msg_id"), tag, str(raw_data)),
                kind=f"{tag} {name}" if name else f"tag {tag}"[:64],
                platform_shop_id=_id_text(data.get("shop_id")),
                platform_order_id=_id_text(data.get("p_id")) if about_order else None,
                payload=orjson.dumps(message).decode(),
                platform_refund_id=_id_text(data.get("aftersale_id")) if about_refund else None,
            )
        )
    return events


def parse_taobao(body: bytes) -> list[IncomingEvent]:
    """A TMC-like push body -> its events; ``ValueError`` when it is not ``{"messages": [...]}``."""
    document = orjson.loads(body)
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError('a TMC push is {"messages": [...]}')
    events: list[IncomingEvent] = []
    for message in messages:
        topic = str(message.get("topic", "")).strip()
        raw_content = message.get("content")
        content = _embedded(raw_content)
        about_order = topic.startswith(TAOBAO_ORDER_TOPICS)
        events.append(
            IncomingEvent(
                event_key=_event_key(message.get("id"), topic, str(raw_content)),
                kind=topic[:64] or "topic ?",
                platform_shop_id=_id_text(message.get("user_id")),
                platform_order_id=_id_text(content.get("tid")) if about_order else None,
                payload=orjson.dumps(message).decode(),
                platform_refund_id=_id_text(content.get("refund_id")) if topic.startswith("taobao_refund_") else None,
            )
        )
    return events


def tmc_sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)): the ``x-top-sign`` of a TMC-like push [I]."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify_tmc(headers: Mapping[str, str], body: bytes, *, app_key: str, secret: str) -> bool:
    """Whether a TMC-like push is signed by ``app_key``'s secret (constant-time compare)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if lowered.get(TMC_APP_KEY_HEADER, "").strip() != app_key:
        return False
    given = lowered.get(TMC_SIGN_HEADER, "").strip()
    if not given:
        return False
    return hmac.compare_digest(given.encode(), tmc_sign(body, secret).encode())
