"""Self-built mall (自建商城) connector: no API, so it logs in like an operator and scrapes HTML.

The mall (our fake, ``connectors.fakes.selfmall``, stands for a typical one) has a public
catalogue and an admin area behind a login form with a CSRF token and a session cookie. This
connector:

* logs in (GET ``/login`` for the anonymous session cookie and the form's ``csrf_token``, POST
  the form, keep the rotated ``mall_session`` cookie) before its first admin page, and again once
  when the mall sends it back to the login page (302 to ``/login``, a CSRF refusal, or a login
  page where an admin page was expected); a second refusal is an :class:`AuthError`, as is a
  rejected username/password. The base's token machinery does the "once": the session id is
  kept as the connector's access token and ``refresh_token`` logs in;
* manages the cookie itself (an explicit ``Cookie`` header) and, when it owns its HTTP session,
  uses a cookie jar that stores nothing, so two shops on one host never share a login;
* scrapes through ``data-*`` attributes only (``data-order-id``, ``data-field="paid"``...), never
  layout or CSS classes, on an lxml tree for list pages (an order card read in one walk over its
  elements); the ``extract_*`` functions take a BeautifulSoup ``Tag`` as well, which the detail
  pages and the stock form use (one element a page: leniency over speed);
* turns display text into hub values through tables: Chinese status words -> hub enums, money
  text such as ``¥1,234.50`` / ``-¥0.07`` -> integer fen through :class:`decimal.Decimal`
  (never float), Beijing-time text -> aware UTC;
* keeps as the raw payload of each record the extracted fields plus the card's HTML;
* reads the mall's live broadcasts (``/admin/lives``: WeChat Channels lives, one per campaign,
  promoting its link / QR code) as the ``live_sessions`` stream; each session carries the
  campaign code, so orders placed through that code are attributed to it (confidence ``link``).

Errors are pages too: 302 to the login page (session gone), 403 ``data-error="csrf"``,
429 with ``Retry-After`` (honoured as the ban hint), 400/404 with a ``data-error`` code (our
request was wrong: fatal), 5xx (retried).

Modules: ``tables`` (policy as data), ``html`` (pages, classification, tolerant text helpers),
``scrape`` (cards and rows -> fields), ``parse`` (fields -> records, pure), ``session`` (login
and request hooks), ``pages`` (list windows, catalogue), ``stock`` (the stock form), ``connector``
(:class:`SelfmallConnector`: stream specs and per-window reads).
"""

from connectors.selfmall.connector import SelfmallConnector
from connectors.selfmall.html import HtmlPage, classify_page, csrf_of, read_pager
from connectors.selfmall.parse import (
    money_fen,
    parse_bill,
    parse_broadcast,
    parse_line,
    parse_order,
    parse_product,
    parse_refund,
)
from connectors.selfmall.scrape import extract_bill, extract_broadcast, extract_order, extract_product, extract_refund
from connectors.selfmall.tables import LINE_REFUND, ORDER_STATUS, PAGE_ERRORS, REFUND_STATUS, SETTLEMENT_KIND

__all__ = [
    "LINE_REFUND",
    "ORDER_STATUS",
    "PAGE_ERRORS",
    "REFUND_STATUS",
    "SETTLEMENT_KIND",
    "HtmlPage",
    "SelfmallConnector",
    "classify_page",
    "csrf_of",
    "extract_bill",
    "extract_broadcast",
    "extract_order",
    "extract_product",
    "extract_refund",
    "money_fen",
    "parse_bill",
    "parse_broadcast",
    "parse_line",
    "parse_order",
    "parse_product",
    "parse_refund",
    "read_pager",
]
