"""The connector base class: one request loop, small hooks, windowed streams, quarantine.

A platform connector subclasses :class:`Connector`, sets the class variables, and overrides
hooks (singer-sdk ``RESTStream`` style; behaviour changes by overriding a hook, not by flags):

=====================================  ====================================================
hook                                   what it does
=====================================  ====================================================
``prepare(request) -> Request``        sign: add system params, timestamp, token, ``sign``;
                                       may set ``content`` (exact body bytes) and headers.
                                       Called afresh for every attempt (new timestamp,
                                       refreshed token). Default: ``params = sign(params)``.
``sign(params) -> params``             the simple case of ``prepare`` (query params only)
``classify(http_status, body)``        ``ErrorResolution`` or ``None`` for success; look codes
                                       up in the module's ``ERRORS`` table (policy as data).
                                       Default: 429 rate limit, 5xx transient, 401/403 auth,
                                       other 4xx bad request, an undecodable 2xx transient.
``unwrap(request, body) -> Any``       strip the success envelope (default: identity)
``decode(status, content_type, raw)``  bytes -> JSON (orjson); text when not JSON
``parse_order(raw) -> OrderRecord``    pure normalisation, no I/O (same for parse_refund,
                                       parse_product, parse_live_session; parse_settlement
                                       returns a sequence: one bill row can be many lines)
``_orders_window(start, end)``         async iterator of raw orders modified in [start, end)
                                       for ONE window (the base splits ranges; see below);
                                       likewise ``_refunds_window``, ``_settlements_window``,
                                       ``_live_sessions_window``, and ``_products_pages()``
``_order_detail_raw(order_id) -> Raw`` one raw order by id (detail API), same shape that
                                       ``parse_order`` takes; ``_refund_detail_raw`` likewise
``refresh_token()``                    where ``token_refresh = True``: call the token API with
                                       ``authenticated=False`` and ``self.set_tokens(...)``
``push_stock(...)``                    where the platform supports it
``_stock_delta(...)``, ``read_stock``  the platform's incremental stock API and stock read
                                       (default: read-then-set; see ``push_stock_delta``)
``_ship(order_id, code, tracking)``    the platform's ship API (``ship`` maps the carrier,
                                       checks the tracking number, makes a re-push of the
                                       same tracking a success: see connectors.shipping)
=====================================  ====================================================

The request loop, :meth:`Connector.call`::

    for attempt in RetryPolicy:                        (RetriableError only; ban hints honoured)
        refresh the token if it expires within refresh_margin (5 min)
        await rate limiter (platform, app_key)         (shared per process; bans pause all)
        request = prepare(Request(...))                (sign)
        send with ClientTimeout(total, sock_read)      (aiohttp errors -> TransientError)
        body = decode(...)
        resolution = classify(status, body)            (None -> return unwrap(request, body))
        raise error_for(resolution)                    (AuthError with token_expired ->
                                                        refresh once and resend)

Streams: ``orders(start, end)`` splits ``[start, end)`` into windows no wider than
``window_for(stream)`` (``min(stream_windows.get(stream, window_advised), window_max)``), calls
``_orders_window`` per window, and passes each raw record through :meth:`Connector.guard`:
a record whose parse raises is yielded as ``Quarantined(stream, id, error, raw)``, then the
base fetches the detail once (``_order_detail_raw``) and yields it if it parses. Paging never
stops because of one bad record. Streams not in ``streams`` raise :class:`UnsupportedStream`.

Three policies hold for every connector, here and nowhere else:

* look-back: a range starting before ``earliest_start(stream)`` (the platform's look-back from
  ``stream_lookback``, less ``lookback_margin`` for clock skew) is cut to start there, so a first
  sync never asks for what the platform refuses;
* unstable windows: a window whose records kept moving while paged (the connector raises
  :class:`WindowUnstable` after its own rescans) is read again ``unstable_retries`` times, then
  the error propagates: sync keeps the cursor before that window and reports the run failed;
* personal data (PIPL): every record :meth:`Connector.guard` and the detail calls yield, and
  every quarantined payload, has its raw payload scrubbed after parsing (:meth:`scrub_raw`,
  the per-platform table ``bangfu.scrub.PERSONAL_FIELDS``): no raw buyer id, nick, receiver
  name, phone or address reaches the store.

Paging within a window is platform-specific; :meth:`Connector.paginate` runs the common loop
(``fetch(token) -> Page(items, next)`` until ``next is None``, refusing a repeated token)::

    async def _orders_window(self, start, end):
        async def fetch(page_no):
            body = await self.call("orders.list", params={**self.window_params(start, end),
                                                           "page": page_no})
            items = body["orders"]
            return Page(items, next=page_no + 1 if len(items) == self.page_size else None)
        async for raw in self.paginate(fetch, 1):
            yield raw
"""

from __future__ import annotations

from connectors.core import Clock, ConnectorCore
from connectors.prices import PriceWrites
from connectors.request_loop import DEFAULT_HTTP_ERRORS, RequestLoop
from connectors.shipping import ShipConflict, ShipResult, ShipWrites
from connectors.stock import StockWrites
from connectors.streams import StreamDriver
from connectors.tokens import TokenRefresh
from connectors.values import (
    MAX_PRICE_FEN,
    ConnectorStats,
    Page,
    PricePushResult,
    Request,
    Response,
    ShopConfig,
    StockDeltaResult,
    StockPushUncertain,
    Tokens,
    WindowLog,
)

__all__ = [
    "DEFAULT_HTTP_ERRORS",
    "MAX_PRICE_FEN",
    "Clock",
    "Connector",
    "ConnectorCore",
    "ConnectorStats",
    "Page",
    "PricePushResult",
    "Request",
    "RequestLoop",
    "Response",
    "ShipConflict",
    "ShipResult",
    "ShipWrites",
    "ShopConfig",
    "StockDeltaResult",
    "StockPushUncertain",
    "StockWrites",
    "StreamDriver",
    "TokenRefresh",
    "Tokens",
    "WindowLog",
]


class Connector(ShipWrites, PriceWrites):
    """Base of every platform connector; see the module docstring for the hooks.

    The layers, each in its own module: :class:`ConnectorCore` (class variables, identity),
    :class:`TokenRefresh`, :class:`RequestLoop`, :class:`StreamDriver` (windows, paging,
    quarantine, public streams), :class:`StockWrites`, :class:`ShipWrites` (shipments) and :class:`PriceWrites`.
    """
