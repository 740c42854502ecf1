"""Platform pushes from the fakes: register a target URL, then send signed pushes for an order.

A fake that pushes (Douyin, Taobao) installs a :class:`PushSender` with its platform's
:class:`PushFormat`; the routes sit under ``/_fake/`` so the fault middleware never touches them:

* ``POST /_fake/webhooks {"url": ...}`` registers a target (loopback only) -> ``{"targets": [...]}``;
  ``GET`` lists the targets, ``DELETE`` forgets them all.
* ``POST /_fake/push {"order_id", "shop_id"?, "events"?, "duplicate"?, "delay_ms"?, "out_of_order"?,
  "sign_method"?, "batch"?}`` sends correctly signed pushes for the order as the platform would:

  - ``events``: ``"latest"`` (default) the order's latest event, ``"all"`` one message per event of
    its life so far (created, paid, shipped, completed, cancelled/closed, refunds, a later change);
  - ``duplicate``: send each push ``n`` more times (same message id: a platform redelivery);
  - ``out_of_order``: send newest first;
  - ``batch``: all messages in one request (both platforms' bodies carry a list); else one each;
  - ``delay_ms``: answer at once and send later, in the background. The messages are rendered
    *now*, so a later push may overtake them: an old state arriving after a newer one.

  Without a delay the answer lists the deliveries (target, message ids, HTTP status, answer);
  with one it is ``{"scheduled": n}``. ``GET /_fake/push`` shows the deliveries so far and how
  many are still pending.

Message ids are deterministic per (shop, order, event), as a platform keeps a message's id when
it redelivers it. The client session is loopback only, created on first use and closed, with
any pending delayed pushes cancelled, when the fake shuts down.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bangfu.enums import OrderStatus, RefundStatus
from bangfu.money import fen_to_yuan_str
from connectors.fakes.protocol import douyin as douyin_protocol
from connectors.fakes.world import FakeOrder, FakeRefund, FakeWorld

if TYPE_CHECKING:
    from connectors.fakes.server import FakePlatform

Record = dict[str, Any]
EventKind = Literal[
    "created", "paid", "cancelled", "shipped", "completed", "closed", "refund_created", "refund_succeeded", "changed"
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
SEND_TIMEOUT = aiohttp.ClientTimeout(total=10.0, sock_connect=3.0)
MAX_DUPLICATES = 20
MAX_DELAY_MS = 60_000
DELIVERY_LOG = 2_000

# --------------------------------------------------------------------------- order events


@dataclass(frozen=True, slots=True)
class PushEvent:
    """One thing that happened to an order, in platform-neutral terms."""

    kind: EventKind
    at: datetime
    status: OrderStatus  # the order's status right after the event
    refund: FakeRefund | None = None


def order_events(order: FakeOrder) -> list[PushEvent]:
    """The order's events so far, oldest first (what a platform would have pushed)."""
    steps: list[tuple[EventKind, datetime | None, OrderStatus]] = [
        ("created", order.created_at, OrderStatus.PENDING_PAYMENT),
        ("paid", order.paid_at, OrderStatus.PAID),
        ("cancelled", order.cancelled_at, OrderStatus.CANCELLED),
        ("shipped", order.shipped_at, OrderStatus.SHIPPED),
        ("completed", order.finished_at, OrderStatus.COMPLETED),
        ("closed", order.closed_at, OrderStatus.CLOSED),
    ]
    events = [PushEvent(kind, at, status) for kind, at, status in steps if at is not None]
    events.sort(key=lambda e: e.at)  # stable: same-second steps keep their lifecycle order

    def status_at(moment: datetime) -> OrderStatus:
        current = OrderStatus.PENDING_PAYMENT
        for event in events:
            if event.at <= moment:
                current = event.status
        return current

    for refund in order.refunds:
        events.append(PushEvent("refund_created", refund.created_at, status_at(refund.created_at), refund))
        if refund.status is RefundStatus.SUCCEEDED and refund.resolved_at is not None:
            events.append(PushEvent("refund_succeeded", refund.resolved_at, status_at(refund.resolved_at), refund))
    events.sort(key=lambda e: e.at)
    if events and order.modified_at > events[-1].at:
        # Modified later without a lifecycle step (the fakes' "touch"): a plain change message.
        events.append(PushEvent("changed", order.modified_at, order.status))
    return events


def message_id(*parts: object) -> str:
    """A stable 19-digit message id for an event (the same event always gets the same id)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return str(10**18 + int.from_bytes(digest[:8], "big") % (9 * 10**18))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(LOCAL_FORMAT)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- formats


@dataclass(frozen=True, slots=True)
class PushFormat:
    """How a platform renders one event as a push message, and signs a request of messages."""

    name: str
    render: Callable[[FakePlatform, FakeWorld, FakeOrder, PushEvent], Record]
    message_key: Callable[[Record], str]
    encode: Callable[[FakePlatform, Sequence[Record], str | None], tuple[bytes, dict[str, str]]]


# Douyin 抖店消息推送 (op.jinritemai.com/docs/message-docs/30/*, message tags as in the public
# SDK zsmhub/doudian-sdk ``message/``): the body is a JSON array of {tag, msg_id, data} where
# ``data`` is a JSON *string*; headers app-id and event-sign (connectors/fakes/protocol/douyin.py).
DOUYIN_TAGS: Mapping[EventKind, str] = {
    "created": "100",  # TradeCreate
    "paid": "101",  # TradePaid
    "shipped": "102",  # TradeSellerShip
    "completed": "103",  # TradeSuccess
    "changed": "105",  # TradeAddressChanged [I: the fakes' "touch" stands for such a change]
    "cancelled": "106",  # TradeCanceled
    "closed": "106",  # [I] a closed (fully refunded) order is announced like a cancelled one
    "refund_created": "200",  # RefundCreated
    "refund_succeeded": "206",  # RefundSuccess
}


def _douyin_render(fake: FakePlatform, world: FakeWorld, order: FakeOrder, event: PushEvent) -> Record:
    from connectors.fakes.douyin import ORDER_CODES

    tag = DOUYIN_TAGS[event.kind]
    data: Record = {"p_id": int(order.order_id), "shop_id": int(world.shop_id)}
    if event.refund is not None:
        refund = event.refund
        data.update(
            aftersale_id=int(refund.refund_id),
            aftersale_status=12 if event.kind == "refund_succeeded" else 6,
            aftersale_type=0 if refund.with_return else 2,
            s_id=int(refund.line_id),
            refund_amount=refund.amount_fen,
            refund_post_amount=0,
            reason_code=0,
            refund_voucher_num=0,
            update_time=_epoch(event.at),
        )
        if event.kind == "refund_succeeded":
            data["success_time"] = _epoch(event.at)
        else:
            data["apply_time"] = _epoch(event.at)
    else:
        data.update(
            s_ids=[int(line.line_id) for line in order.lines],
            order_status=ORDER_CODES[event.status],
            order_type=0,
            biz=2,
        )
        moment = _epoch(event.at)
        data[
            {
                "created": "create_time",
                "paid": "pay_time",
                "completed": "complete_time",
                "cancelled": "cancel_time",
                "closed": "cancel_time",
            }.get(event.kind, "update_time")
        ] = moment
        if event.kind == "paid":
            data.update(pay_amount=order.paid_fen, pay_type=1)
    key = message_id("douyin", world.shop_id, order.order_id, event.kind, event.refund and event.refund.refund_id)
    return {"tag": tag, "msg_id": key, "data": _compact(data)}


def _douyin_encode(
    fake: FakePlatform, messages: Sequence[Record], sign_method: str | None
) -> tuple[bytes, dict[str, str]]:
    body = _compact(list(messages)).encode("utf-8")
    creds = fake.credentials
    headers = {
        "Content-Type": "application/json",
        **douyin_protocol.push_headers(body, app_key=creds.app_key, secret=creds.app_secret, how=sign_method),
    }
    return body, headers


DOUYIN_PUSH = PushFormat("douyin", _douyin_render, lambda m: str(m["msg_id"]), _douyin_encode)


# TOP message service (TMC)-like HTTP push [I throughout: TMC itself delivers over a long-lived
# channel; this is the same message shape POSTed to a URL]:
#   headers  x-top-appkey: <app key>, x-top-sign: base64(HMAC-SHA256(app secret, raw body)),
#            x-top-sign-method: hmac-sha256
#   body     {"messages": [{"id", "topic", "user_id", "user_nick", "pub_app_key", "pub_time",
#             "outgoing_time", "content": "<JSON string>"}]}
#   content  trade topics: tid, oid, seller_nick, buyer_nick, status, payment (yuan), type,
#            modified (Beijing time); refund topics add refund_id, refund_fee, refund_phase.
TMC_APP_KEY_HEADER = "x-top-appkey"
TMC_SIGN_HEADER = "x-top-sign"
TMC_SIGN_METHOD_HEADER = "x-top-sign-method"
TMC_PUBLISHER = "12497914"  # [I] the trade centre's publishing app key as it shows in messages
TAOBAO_TOPICS: Mapping[EventKind, str] = {
    "created": "taobao_trade_TradeCreate",
    "paid": "taobao_trade_TradeBuyerPay",
    "shipped": "taobao_trade_TradeSellerShip",
    "completed": "taobao_trade_TradeSuccess",
    "cancelled": "taobao_trade_TradeClose",
    "closed": "taobao_trade_TradeClose",
    "changed": "taobao_trade_TradeChanged",
    "refund_created": "taobao_refund_RefundCreated",
    "refund_succeeded": "taobao_refund_RefundSuccess",
}


def tmc_sign(body: bytes, secret: str) -> str:
    """The ``x-top-sign`` header of a TMC-like push: base64(HMAC-SHA256(secret, body)) [I]."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _taobao_render(fake: FakePlatform, world: FakeWorld, order: FakeOrder, event: PushEvent) -> Record:
    from connectors.fakes.taobao import SELLER_NICK, TRADE_STATUS

    content: Record = {
        "tid": int(order.order_id),
        "oid": int(order.lines[0].line_id) if order.lines else int(order.order_id),
        "seller_nick": SELLER_NICK + world.shop_id,
        "buyer_nick": order.buyer_nick,
        "status": TRADE_STATUS[event.status],
        "payment": fen_to_yuan_str(order.paid_fen),
        "type": "fixed",
        "modified": _local(event.at),
    }
    if event.refund is not None:
        refund = event.refund
        content.update(
            oid=int(refund.line_id),
            refund_id=int(refund.refund_id),
            refund_fee=fen_to_yuan_str(refund.amount_fen),
            refund_phase="aftersale" if refund.with_return else "onsale",
            bill_type="refund_bill",
        )
    key = message_id("taobao", world.shop_id, order.order_id, event.kind, event.refund and event.refund.refund_id)
    return {
        "id": key,
        "topic": TAOBAO_TOPICS[event.kind],
        "user_id": int(world.shop_id),
        "user_nick": SELLER_NICK + world.shop_id,
        "pub_app_key": TMC_PUBLISHER,
        "pub_time": _local(event.at),
        "outgoing_time": _local(fake.clock.now()),
        "content": _compact(content),
    }


def _taobao_encode(
    fake: FakePlatform, messages: Sequence[Record], sign_method: str | None
) -> tuple[bytes, dict[str, str]]:
    body = _compact({"messages": list(messages)}).encode("utf-8")
    creds = fake.credentials
    return body, {
        "Content-Type": "application/json",
        TMC_APP_KEY_HEADER: creds.app_key,
        TMC_SIGN_HEADER: tmc_sign(body, creds.app_secret),
        TMC_SIGN_METHOD_HEADER: "hmac-sha256",
    }


TAOBAO_PUSH = PushFormat("taobao", _taobao_render, lambda m: str(m["id"]), _taobao_encode)


# --------------------------------------------------------------------------- the sender


@dataclass(frozen=True, slots=True)
class PreparedPush:
    """One request as it will be sent: its messages' ids, the signed body and headers."""

    message_ids: tuple[str, ...]
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    message_ids: tuple[str, ...]
    status: int | None  # None: no HTTP answer (connection refused, timeout...)
    answer: str
    at: datetime

    def as_dict(self) -> Record:
        return {
            "url": self.url,
            "message_ids": list(self.message_ids),
            "status": self.status,
            "answer": self.answer,
            "at": self.at.isoformat(),
        }


class PushError(ValueError):
    """A push request the fake cannot honour (unknown order, bad option, non-loopback URL)."""


def loopback_url(url: str) -> str:
    """``url`` if it is an http(s) URL on a loopback host; else :class:`PushError`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"not an http URL: {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise PushError(f"the fakes push to loopback addresses only, not {host}")
        except ValueError:
            raise PushError(f"the fakes push to loopback addresses only, not {host}") from None
    return url.strip()


class PushSender:
    """Targets, rendering, signing and sending of one fake platform's pushes."""

    def __init__(self, fake: FakePlatform, fmt: PushFormat) -> None:
        self.fake = fake
        self.format = fmt
        self.targets: list[str] = []
        self.deliveries: deque[Delivery] = deque(maxlen=DELIVERY_LOG)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[list[Delivery]]] = set()
        self._closed = False

    # ----------------------------------------------------------------- targets and pushes

    def register(self, url: str) -> list[str]:
        url = loopback_url(url)
        if url not in self.targets:
            self.targets.append(url)
        return list(self.targets)

    def prepare(
        self,
        order_id: str,
        *,
        shop_id: str | None = None,
        events: Literal["latest", "all"] = "latest",
        duplicate: int = 0,
        out_of_order: bool = False,
        batch: bool = False,
        sign_method: str | None = None,
    ) -> list[PreparedPush]:
        """The requests a push of ``order_id`` sends, rendered and signed now."""
        if not 0 <= duplicate <= MAX_DUPLICATES:
            raise PushError(f"duplicate must be between 0 and {MAX_DUPLICATES}")
        world = self.fake.world_for(shop_id)
        if world is None:
            raise PushError(f"unknown shop {shop_id!r}")
        order = world.order(str(order_id))
        if order is None:
            raise PushError(f"unknown order {order_id!r} in shop {world.shop_id}")
        timeline = order_events(order)
        chosen = timeline if events == "all" else timeline[-1:]
        messages = [self.format.render(self.fake, world, order, event) for event in chosen]
        if out_of_order:
            messages.reverse()
        groups = [messages] if batch else [[m] for m in messages]
        requests: list[PreparedPush] = []
        for group in groups:
            body, headers = self.format.encode(self.fake, group, sign_method)
            push = PreparedPush(tuple(self.format.message_key(m) for m in group), body, headers)
            requests.extend([push] * (1 + duplicate))
        return requests

    async def deliver(self, pushes: Sequence[PreparedPush], *, delay: float = 0.0) -> list[Delivery]:
        """Send each push to every target, in order, after ``delay`` seconds."""
        if delay > 0:
            await asyncio.sleep(delay)  # cancelled by close() when the fake shuts down
        done: list[Delivery] = []
        for push in pushes:
            for url in list(self.targets):
                if self._closed:
                    return done
                done.append(await self._send(url, push))
        return done

    def schedule(self, pushes: Sequence[PreparedPush], *, delay: float) -> asyncio.Task[list[Delivery]]:
        """Deliver in the background (tracked; cancelled if the fake shuts down first)."""
        task = asyncio.create_task(self.deliver(pushes, delay=delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every scheduled push (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _send(self, url: str, push: PreparedPush) -> Delivery:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=SEND_TIMEOUT)
        status: int | None = None
        try:
            async with self._session.post(url, data=push.body, headers=dict(push.headers)) as response:
                status = response.status
                answer = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer = f"{exc.__class__.__name__}: {exc}"
        delivery = Delivery(url, push.message_ids, status, answer, self.fake.clock.now())
        self.deliveries.append(delivery)
        return delivery

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----------------------------------------------------------------- routes

    def install(self, app: web.Application) -> None:
        app.router.add_route("*", "/_fake/webhooks", self._webhooks)
        app.router.add_route("*", "/_fake/push", self._push)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close()

    async def _webhooks(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            payload = await _json_object(request)
            try:
                self.register(str(payload.get("url") or ""))
            except PushError as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None
        elif request.method == "DELETE":
            self.targets.clear()
        elif request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST", "DELETE"])
        return web.json_response({"targets": self.targets})

    async def _push(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response({"deliveries": [d.as_dict() for d in self.deliveries], "pending": self.pending})
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        payload = await _json_object(request)
        try:
            events = str(payload.get("events") or "latest")
            if events not in ("latest", "all"):
                raise PushError("events must be 'latest' or 'all'")
            delay_ms = int(payload.get("delay_ms") or 0)
            if not 0 <= delay_ms <= MAX_DELAY_MS:
                raise PushError(f"delay_ms must be between 0 and {MAX_DELAY_MS}")
            if not self.targets:
                raise PushError('no target registered: POST /_fake/webhooks {"url": ...} first')
            sign_method = payload.get("sign_method")
            pushes = self.prepare(
                str(payload.get("order_id") or ""),
                shop_id=str(payload["shop_id"]) if payload.get("shop_id") else None,
                events="all" if events == "all" else "latest",
                duplicate=int(payload.get("duplicate") or 0),
                out_of_order=bool(payload.get("out_of_order")),
                batch=bool(payload.get("batch")),
                sign_method=str(sign_method) if sign_method else None,
            )
        except (PushError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad push request: {exc}") from None
        if delay_ms:
            self.schedule(pushes, delay=delay_ms / 1000)
            return web.json_response({"scheduled": len(pushes) * len(self.targets)})
        delivered = await self.deliver(pushes)
        return web.json_response({"sent": [d.as_dict() for d in delivered]})


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return payload
