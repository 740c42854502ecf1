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
  layout or CSS classes, on an lxml tree (XPath in C: list pages hold a hundred cards); the
  ``extract_*`` functions take a BeautifulSoup ``Tag`` as well;
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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
from bs4 import BeautifulSoup, Tag

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.money import MoneyError, yuan_to_fen
from bangfu.privacy import buyer_ref
from bangfu.records import (
    LiveSessionRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    Raw,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
    StockPushResult,
)
from connectors.base import Connector, Request, Response
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    TransientError,
    parse_ban_hint,
)
from connectors.http import POOL_LIMIT, POOL_LIMIT_PER_HOST, USER_AGENT, request_timeout
from connectors.paging import NumberedPage, PageNumberUntilStable, UnstableWindow
from connectors.ratelimit import RateLimit
from connectors.windows import parse_local, to_local_str

PLATFORM = "selfmall"
SESSION_COOKIE = "mall_session"
PER_PAGE = 100  # admin lists: per_page <= 100
CATALOGUE_PER_PAGE = 50
#: re-page a window whose total moved while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)
REDIRECTS = frozenset({301, 302, 303, 307, 308})

# -- display words -> hub values: policy as data -----------------------------------------------------

ORDER_STATUS: Mapping[str, OrderStatus] = {
    "待付款": OrderStatus.PENDING_PAYMENT,
    "已取消": OrderStatus.CANCELLED,
    "待发货": OrderStatus.PAID,
    "部分发货": OrderStatus.PART_SHIPPED,
    "已发货": OrderStatus.SHIPPED,
    "已签收": OrderStatus.DELIVERED,
    "已完成": OrderStatus.COMPLETED,
    "已关闭": OrderStatus.CLOSED,  # closed after payment: fully refunded
}
LINE_REFUND: Mapping[str, LineRefundState] = {
    "无": LineRefundState.NONE,
    "": LineRefundState.NONE,
    "退款中": LineRefundState.IN_PROGRESS,
    "部分退款": LineRefundState.PARTIAL,
    "已退款": LineRefundState.FULL,
}
REFUND_STATUS: Mapping[str, RefundStatus] = {
    "待商家处理": RefundStatus.REQUESTED,
    "待买家退货": RefundStatus.AWAITING_RETURN,
    "待商家收货": RefundStatus.AWAITING_CONFIRM,
    "商家已拒绝": RefundStatus.REFUSED,
    "退款成功": RefundStatus.SUCCEEDED,
    "已撤销": RefundStatus.CLOSED,
}
SETTLEMENT_KIND: Mapping[str, SettlementKind] = {
    "货款收入": SettlementKind.SALE,
    "退款支出": SettlementKind.REFUND,
    "平台服务费": SettlementKind.PLATFORM_FEE,
    "主播佣金": SettlementKind.HOST_COMMISSION,
    "支付手续费": SettlementKind.PAYMENT_FEE,
    "物流费": SettlementKind.LOGISTICS,
    "补贴": SettlementKind.SUBSIDY,
}
SHELF: Mapping[str, bool] = {"在售": True, "已下架": False}
YES_NO: Mapping[str, bool] = {"是": True, "否": False}

# -- errors: policy as data ----------------------------------------------------------------------------

_SESSION = ErrorResolution(ErrorClass.AUTH, token_expired=True, message="session expired: log in again")
_CSRF = ErrorResolution(ErrorClass.AUTH, token_expired=True, message="CSRF token refused: log in again")
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="HTTP 429: rate limited")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_AUTH = ErrorResolution(ErrorClass.AUTH)

#: ``data-error`` codes of error pages (4xx) -> what to do.
PAGE_ERRORS: Mapping[str, ErrorResolution] = {
    "csrf": _CSRF,
    "bad_credentials": _AUTH,
    "rate_limited": _LIMIT,
    "bad_time": _BAD,
    "window_too_wide": _BAD,
    "bad_param": _BAD,
    "bad_quantity": _BAD,
    "unknown_sku": _BAD,
    "not_found": _BAD,
}


@dataclass
class HtmlPage:
    """A decoded response: status, text, headers (attached by ``resolve``) and a lazy soup."""

    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)
    _soup: BeautifulSoup | None = field(default=None, repr=False)
    _tree: Any = field(default=None, repr=False)

    @property
    def soup(self) -> BeautifulSoup:
        if self._soup is None:
            self._soup = BeautifulSoup(self.text, "lxml")
        return self._soup

    @property
    def tree(self) -> Any:
        """The page as an lxml element tree (what the scraping helpers read)."""
        if self._tree is None:
            self._tree = lxml.etree.fromstring(self.text if self.text.strip() else "<html></html>", _HTML_PARSER)
        return self._tree

    def first(self, xpath: str) -> Any:
        """The first element matching ``xpath`` (absolute, e.g. ``//*[@data-pager]``), or None."""
        found = _xpath(xpath)(self.tree)
        return found[0] if found else None

    @property
    def page_name(self) -> str | None:
        body = self.tree.find("body")  # a child of the root: no search through the page
        return attr(body if body is not None else self.first("//body"), "data-page")

    @property
    def error_code(self) -> str | None:
        return attr(self.first("//*[@data-error]"), "data-error")

    @property
    def complete(self) -> bool:
        """A whole HTML document (a cut connection leaves a page without its end)."""
        return "</html>" in self.text[-200:].lower()

    @property
    def location_path(self) -> str:
        return urlsplit(self.headers.get("Location", "")).path

    def cookie(self, name: str) -> str | None:
        header = self.headers.get("Set-Cookie", "")
        if not header:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None and morsel.value else None


def classify_page(status: int, page: Any) -> ErrorResolution | None:
    """What a response means; ``None`` for success (redirects elsewhere than the login page
    included: the login form answers with one)."""
    if not isinstance(page, HtmlPage):
        return _TRANSIENT.with_details(code=status, message="empty or undecodable response")
    if status in REDIRECTS:
        if page.location_path == "/login":
            return _SESSION.with_details(code="login_redirect")
        return None
    if status == 429:
        return _LIMIT.with_details(code=429, retry_after=parse_ban_hint(page.text, pad=0.0))
    if status >= 500:
        return _TRANSIENT.with_details(code=status, message=f"HTTP {status}")
    if status >= 400:
        code = page.error_code or str(status)
        row = PAGE_ERRORS.get(code, _AUTH if status in (401, 403) else _BAD)
        return row.with_details(code=code, message=f"HTTP {status} {code}")
    if status >= 300:
        return _BAD.with_details(code=status, message=f"unexpected HTTP {status}")
    if not page.complete:
        return _TRANSIENT.with_details(code="truncated", message="truncated HTML page")
    return None


# -- scraping (tolerant: text out of markup) ---------------------------------------------------------------


_HTML_PARSER = lxml.etree.HTMLParser()  # plain elements: no per-element class lookup


@lru_cache(maxsize=64)
def _xpath(expression: str) -> Any:
    return lxml.etree.XPath(expression)


def _get_text(tag: Any) -> str:
    """The element's text, each piece stripped (BeautifulSoup's ``get_text(strip=True)``)."""
    if isinstance(tag, Tag):
        return tag.get_text(strip=True)
    if not len(tag):  # a leaf, the usual data-field
        text: str = tag.text or ""
        return text.strip()
    return "".join(piece.strip() for piece in tag.itertext())


def attr(tag: Any, name: str) -> str | None:
    """An attribute of a BeautifulSoup ``Tag`` or an lxml element (None if absent)."""
    if tag is None:
        return None
    value = tag.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def text_of(tag: Any, field_name: str) -> str | None:
    """The stripped text of the first ``[data-field=...]`` inside ``tag`` (None if absent)."""
    for found in having(tag, "data-field"):
        if attr(found, "data-field") == field_name:
            return _get_text(found)
    return None


def having(tag: Any, attribute: str, name: str | None = None) -> list[Any]:
    """Descendants of ``tag`` (optionally of one element name) that carry ``attribute``."""
    if not isinstance(tag, Tag):  # lxml
        found: list[Any] = _xpath(f".//{name or '*'}[@{attribute}]")(tag)
        return found
    wanted: dict[str, Any] = {attribute: True}
    tags = tag.find_all(name, wanted) if name else tag.find_all(None, wanted)
    return [item for item in tags if isinstance(item, Tag)]


def fields_of(tag: Any) -> dict[str, Any]:
    """Every ``data-field`` inside ``tag``, first occurrence wins (one pass over the tree;
    far cheaper than one CSS query per field on pages with a hundred cards)."""
    out: dict[str, Any] = {}
    for found in having(tag, "data-field"):
        name = attr(found, "data-field")
        if name and name not in out:
            out[name] = found
    return out


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    found = fields.get(name)
    return _get_text(found) if found is not None else None


def _rows(tag: Any, id_attr: str) -> list[Any]:
    return having(tag, id_attr, "tr")


def extract_order(card: Any) -> dict[str, Any]:
    lines = []
    for row in _rows(card, "data-line-id"):
        cells = fields_of(row)
        lines.append(
            {
                "line_id": attr(row, "data-line-id"),
                "item_id": attr(row, "data-item-id"),
                "sku_id": attr(row, "data-sku-id"),
                "sku_code": attr(row, "data-sku-code"),
                "title": _text(cells, "title"),
                "spec": _text(cells, "spec"),
                "quantity": _text(cells, "qty"),
                "unit_price": _text(cells, "unit-price"),
                "paid": _text(cells, "line-paid"),
                "refund": _text(cells, "refund"),
            }
        )
    fields = fields_of(card)
    return {
        "order_id": attr(card, "data-order-id"),
        "status": _text(fields, "status"),
        "created_at": _text(fields, "created-at"),
        "paid_at": _text(fields, "paid-at"),
        "updated_at": _text(fields, "updated-at"),
        "buyer_id": attr(fields.get("buyer"), "data-buyer-id"),
        "campaign_code": _text(fields, "campaign-code"),
        "purchasing_unit_code": _text(fields, "purchasing-unit"),
        "post_fee": _text(fields, "post-fee"),
        "discount": _text(fields, "discount"),
        "paid": _text(fields, "paid"),
        "lines": lines,
    }


def extract_refund(row: Any) -> dict[str, Any]:
    fields = fields_of(row)
    return {
        "refund_id": attr(row, "data-refund-id"),
        "order_id": attr(row, "data-order-id"),
        "line_id": attr(row, "data-line-id"),
        "status": _text(fields, "status"),
        "amount": _text(fields, "amount"),
        "quantity": _text(fields, "qty"),
        "with_return": _text(fields, "with-return"),
        "reason": _text(fields, "reason"),
        "created_at": _text(fields, "created-at"),
        "updated_at": _text(fields, "updated-at"),
    }


def extract_bill(row: Any) -> dict[str, Any]:
    fields = fields_of(row)
    return {
        "bill_id": attr(row, "data-bill-id"),
        "order_id": attr(row, "data-order-id"),
        "line_id": attr(row, "data-line-id"),
        "kind": _text(fields, "kind"),
        "amount": _text(fields, "amount"),
        "settled_at": _text(fields, "settled-at"),
    }


def extract_broadcast(row: Any) -> dict[str, Any]:
    """A row of the live broadcasts list (``/admin/lives``)."""
    fields = fields_of(row)
    return {
        "broadcast_id": attr(row, "data-broadcast-id"),
        "host_id": attr(row, "data-host-id"),
        "host_name": _text(fields, "host"),
        "title": _text(fields, "title"),
        "status": _text(fields, "status"),
        "started_at": _text(fields, "started-at"),
        "ended_at": _text(fields, "ended-at"),
        "campaign_code": _text(fields, "campaign-code"),
        "link": attr(fields.get("link"), "href"),
        "views": _text(fields, "views"),
        "unique_viewers": _text(fields, "unique-viewers"),
        "peak_online": _text(fields, "peak-online"),
        "updated_at": _text(fields, "updated-at"),
    }


def extract_product(section: Any) -> dict[str, Any]:
    skus = []
    for row in _rows(section, "data-sku-id"):
        cells = fields_of(row)
        skus.append(
            {
                "sku_id": attr(row, "data-sku-id"),
                "outer_id": attr(row, "data-outer-id"),
                "spec": _text(cells, "spec"),
                "price": _text(cells, "price"),
                "stock": _text(cells, "stock"),
            }
        )
    fields = fields_of(section)
    return {
        "item_id": attr(section, "data-item-id"),
        "outer_id": attr(section, "data-outer-id"),
        "modified_at": attr(section, "data-modified-at"),
        "title": _text(fields, "title"),
        "shelf": _text(fields, "shelf"),
        "skus": skus,
    }


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int


def read_pager(page: HtmlPage) -> Pager:
    nav = page.first("//*[@data-pager]")
    if nav is None:
        raise TransientError(PLATFORM, "no_pager", "list page without its pager")
    try:
        return Pager(
            int(attr(nav, "data-page") or ""), int(attr(nav, "data-pages") or ""), int(attr(nav, "data-total") or "")
        )
    except ValueError:
        raise TransientError(PLATFORM, "bad_pager", "pager numbers are not integers") from None


def csrf_of(page: HtmlPage) -> str | None:
    """The CSRF token of an admin page (``<meta name="csrf-token">``) or of its form."""
    token = attr(page.first('//meta[@name="csrf-token"]'), "content")
    if token:
        return token
    return attr(page.first('//input[@name="csrf_token"]'), "value") or None


# -- parsing (strict: fields -> records, pure) ---------------------------------------------------------------


def money_fen(text: Any, name: str = "amount") -> int:
    """``"¥1,234.50"`` / ``"-¥0.07"`` / ``"￥12"`` -> fen, exactly (Decimal, never float)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"missing money field {name!r}")
    cleaned = text.strip().replace("¥", "").replace("￥", "").replace(" ", "")
    try:
        return yuan_to_fen(cleaned)
    except MoneyError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _required(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing {key!r}")
    return value.strip()


def _optional(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _count(raw: Mapping[str, Any], key: str) -> int:
    value = _required(raw, key)
    if not value.isdigit():
        raise ValueError(f"{key!r} is not a whole number: {value!r}")
    return int(value)


def _word(table: Mapping[str, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, str) or value.strip() not in table:
        raise ValueError(f"unknown {key} {value!r}")
    return table[value.strip()]


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


# -- the connector ---------------------------------------------------------------------------------------


def _ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


class SelfmallConnector(Connector):
    """A self-built mall: ``base_url`` is the mall, ``app_key``/``app_secret`` the operator's
    username/password (``extra["username"]``/``extra["password"]`` override them), ``shop_id``
    the mall's shop id (for the public catalogue)."""

    platform: ClassVar[PlatformKind] = PlatformKind.SELFMALL
    # [I] the mall's filters refuse more than 31 days; one day keeps a window to a page or two.
    window_max: ClassVar[timedelta] = timedelta(days=31)
    window_advised: ClassVar[timedelta] = timedelta(days=1)
    page_size: ClassVar[int] = PER_PAGE
    # [I] a small self-hosted site: be gentle.
    rate: ClassVar[RateLimit] = RateLimit(per_second=30.0, burst=10)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS, SyncStream.LIVE_SESSIONS}
    )
    # [I] a handful of broadcasts a week: one page per week-wide window.
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = MappingProxyType(
        {SyncStream.LIVE_SESSIONS: timedelta(days=7)}
    )
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "order_id",
        SyncStream.REFUNDS: "refund_id",
        SyncStream.PRODUCTS: "item_id",
        SyncStream.LIVE_SESSIONS: "broadcast_id",
    }
    token_refresh: ClassVar[bool] = True  # the "token" is the login session

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._own_session: aiohttp.ClientSession | None = None
        self._csrf: str | None = None
        if not self.tokens.access_token:
            # Not logged in yet: make the base log in before the first admin page.
            self.tokens.expires_at = datetime(1970, 1, 1, tzinfo=UTC)

    # ------------------------------------------------------------------ HTTP session
    @property
    def session(self) -> aiohttp.ClientSession:
        """The injected session, else one of our own whose cookie jar stores nothing (the
        login cookie is ours to send, never shared with another shop on the same host)."""
        if self._session is not None:
            return self._session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_LIMIT, limit_per_host=POOL_LIMIT_PER_HOST),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=request_timeout(self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._own_session

    async def aclose(self) -> None:
        if self._own_session is not None and not self._own_session.closed:
            await self._own_session.close()
        await super().aclose()

    @property
    def username(self) -> str:
        return self.config.extra.get("username") or self.config.app_key

    @property
    def password(self) -> str:
        return self.config.extra.get("password") or self.config.app_secret

    # ------------------------------------------------------------------ request hooks
    def prepare(self, request: Request) -> Request:
        if request.authenticated:
            if not self.tokens.access_token:
                raise AuthError(PLATFORM, "no_session", "not logged in", token_expired=True)
            request.headers["Cookie"] = f"{SESSION_COOKIE}={self.tokens.access_token}"
            if request.data is not None and "csrf_token" in request.data and self._csrf:
                request.data["csrf_token"] = self._csrf  # the current session's token
        return request

    def decode(self, status: int, content_type: str, raw: bytes) -> Any:
        return HtmlPage(status, raw.decode("utf-8", errors="replace"))

    def resolve(self, response: Response) -> ErrorResolution | None:
        if isinstance(response.body, HtmlPage):
            response.body.headers = MappingProxyType(dict(response.headers))
        return super().resolve(response)

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        return classify_page(http_status, body)

    async def page(self, op: str, path: str, *, expect: str, params: Mapping[str, Any] | None = None) -> HtmlPage:
        """GET an admin page; a login page where ``expect`` was due means the session is gone:
        log in again once, then it is an :class:`AuthError`."""
        for attempt in range(2):
            page = await self.call(op, method="GET", path=path, params=params)
            if not isinstance(page, HtmlPage):
                raise TransientError(PLATFORM, "garbled", f"{op}: not a page")
            name = page.page_name
            if name == expect:
                return page
            if name != "login":
                raise TransientError(PLATFORM, "unexpected_page", f"{op}: expected {expect!r}, got {name!r}")
            if attempt == 0:
                await self._refresh(stale=self.tokens.access_token)
        raise AuthError(PLATFORM, "login_loop", f"{op}: still at the login page after logging in again")

    # ------------------------------------------------------------------ login ("token refresh")
    async def refresh_token(self) -> None:
        form = await self.call("login.form", method="GET", path="/login", authenticated=False)
        if not isinstance(form, HtmlPage) or form.page_name != "login":
            raise TransientError(PLATFORM, "no_login_form", "GET /login did not answer the login form")
        anonymous = form.cookie(SESSION_COOKIE)
        token = attr(form.first('//form[@data-form="login"]//input[@name="csrf_token"]'), "value")
        if not anonymous or not token:
            raise TransientError(PLATFORM, "no_login_form", "login form without session cookie or CSRF token")
        result = await self.call(
            "login.submit",
            method="POST",
            path="/login",
            data={"csrf_token": token, "username": self.username, "password": self.password, "next": "/admin/stock"},
            headers={"Cookie": f"{SESSION_COOKIE}={anonymous}"},
            authenticated=False,
        )
        if not isinstance(result, HtmlPage) or result.status not in REDIRECTS:
            code = result.error_code if isinstance(result, HtmlPage) else None
            raise AuthError(PLATFORM, code or "login_refused", "the mall refused the login")
        sid = result.cookie(SESSION_COOKIE)
        if not sid:
            raise AuthError(PLATFORM, "no_session_cookie", "login answered without a session cookie")
        landing = await self.call(
            "login.landing",
            method="GET",
            path="/admin/stock",
            headers={"Cookie": f"{SESSION_COOKIE}={sid}"},
            authenticated=False,
        )
        self._csrf = csrf_of(landing) if isinstance(landing, HtmlPage) else None
        self.set_tokens(sid, None, None)

    # ------------------------------------------------------------------ parse hooks
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_product(raw)

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        return parse_broadcast(raw)

    # ------------------------------------------------------------------ windows
    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "orders.list",
            "/admin/orders",
            "orders",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-order-id",
            extract=extract_order,
            ident=_order_ident,
        )

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        page = await self.page("orders.detail", f"/admin/orders/{platform_order_id}", expect="order")
        card = page.soup.select_one("article[data-order-id]")
        if card is None:
            raise TransientError(PLATFORM, "garbled", "order page without its order card")
        return extract_order(card)

    def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "refunds.list",
            "/admin/refunds",
            "refunds",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-refund-id",
            extract=extract_refund,
            ident=_refund_ident,
        )

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        page = await self.page("refunds.detail", f"/admin/refunds/{platform_refund_id}", expect="refund")
        row = page.soup.select_one("tr[data-refund-id]")
        if row is None:
            raise TransientError(PLATFORM, "garbled", "refund page without its refund row")
        return extract_refund(row)

    def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "settlements.list",
            "/admin/settlements",
            "settlements",
            "settled_from",
            "settled_to",
            start,
            end,
            marker="data-bill-id",
            extract=extract_bill,
            ident=lambda raw: (str(raw.get("bill_id")), ""),
        )

    def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        """The mall's live broadcasts (WeChat Channels lives promoting a campaign link / QR code)
        updated in the window: the end once ended, the last minute of stats while live."""
        return self._list_window(
            "lives.list",
            "/admin/lives",
            "lives",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-broadcast-id",
            extract=extract_broadcast,
            ident=lambda raw: (str(raw.get("broadcast_id")), str(raw.get("updated_at"))),
        )

    async def _list_window(
        self,
        op: str,
        path: str,
        expect: str,
        from_key: str,
        to_key: str,
        start: datetime,
        end: datetime,
        *,
        marker: str,
        extract: Callable[[Any], dict[str, Any]],
        ident: Callable[[Mapping[str, Any]], tuple[str, str]],
    ) -> AsyncIterator[Raw]:
        """Every row of a half-open ``[from, to)`` window (second resolution), page by page.

        The list is live: a record changed while we page moves to the end or out of the window
        and shifts the rest, so a row can slip between two pages. A pass counts only if the
        total held still and we saw as many distinct rows as it says; otherwise the window is
        paged again (up to ``UNSTABLE_WINDOW.rescans`` times, then :class:`WindowUnstable`) without yielding
        a row twice.
        """
        first, stop = _ceil_second(start), _ceil_second(end)
        if first >= stop:
            return
        window = {from_key: to_local_str(first), to_key: to_local_str(stop), "per_page": PER_PAGE}

        async def fetch(number: int) -> NumberedPage:
            page = await self.page(op, path, expect=expect, params={**window, "page": number})
            pager = read_pager(page)
            self.stats.pages += 1
            items = [extract(tag) for tag in having(page.tree, marker)]
            return NumberedPage(items, pager.total, more=number < pager.pages)

        paging = PageNumberUntilStable(UNSTABLE_WINDOW, ident, platform=PLATFORM)
        async for raw in paging.walk(fetch, what=f"{op}: the total", start=start, end=end):
            yield raw

    # ------------------------------------------------------------------ products and stock
    async def _products_pages(self) -> AsyncIterator[Raw]:
        number = 1
        while True:
            page = await self.call(
                "catalogue",
                method="GET",
                path="/catalogue",
                params={"shop": self.config.shop_id, "page": number, "per_page": CATALOGUE_PER_PAGE},
                authenticated=False,
            )
            if not isinstance(page, HtmlPage) or page.page_name != "catalogue":
                raise TransientError(PLATFORM, "unexpected_page", "the catalogue did not answer a catalogue page")
            pager = read_pager(page)
            self.stats.pages += 1
            for section in having(page.tree, "data-item-id", "section"):
                yield extract_product(section)
            if number >= pager.pages:
                return
            number += 1

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set a SKU's stock through the admin stock form (GET the form, POST it with the
        session's CSRF token). A full update: repeating it is harmless, so the mall needs no
        idempotency key and ``idempotency_key`` is not sent."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadRequestError(PLATFORM, "bad_quantity", f"stock must be an int >= 0: {quantity!r}")
        sku = platform_sku_id or ""
        form = await self.page(
            "stock.form", "/admin/stock", expect="stock", params={"item_id": platform_item_id, "sku_id": sku}
        )
        self._csrf = csrf_of(form) or self._csrf
        if not self._csrf:
            raise TransientError(PLATFORM, "no_csrf", "stock form without a CSRF token")
        result = await self.call(
            "stock.update",
            method="POST",
            path="/admin/stock",
            data={"csrf_token": self._csrf, "item_id": platform_item_id, "sku_id": sku, "quantity": quantity},
        )
        if not isinstance(result, HtmlPage) or result.page_name != "stock":
            raise TransientError(PLATFORM, "unexpected_page", "stock update did not answer the stock page")
        if result.soup.select_one('[data-result="ok"]') is None:
            raise TransientError(PLATFORM, "not_confirmed", "stock update not confirmed")
        output = result.soup.select_one('output[data-field="stock"]')
        text = output.get_text(strip=True) if output is not None else ""
        if not text.isdigit():
            raise TransientError(PLATFORM, "not_confirmed", f"stock after update unreadable: {text!r}")
        return StockPushResult(platform_item_id, platform_sku_id, int(text))

    #: The mall sets stock only in full, so a delta is read-then-set (``Connector._stock_delta``):
    #: a sale between the read and the set is overwritten (one round trip of exposure).
    cheap_stock_read: ClassVar[bool] = True  # the stock form of one SKU

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """The current stock the admin stock form shows for an item/SKU."""
        form = await self.page(
            "stock.form",
            "/admin/stock",
            expect="stock",
            params={"item_id": platform_item_id, "sku_id": platform_sku_id or ""},
        )
        output = form.soup.select_one('output[data-field="stock"]')
        text = output.get_text(strip=True) if output is not None else ""
        if not text.isdigit():
            raise BadRequestError(PLATFORM, "stock", f"no stock shown for {platform_item_id}/{platform_sku_id}")
        sku_id = output.get("data-sku-id") if output is not None else None
        return (str(sku_id) if sku_id else platform_sku_id), int(text)


def _order_ident(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("order_id")), str(raw.get("updated_at")))


def _refund_ident(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("refund_id")), str(raw.get("updated_at")))


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
