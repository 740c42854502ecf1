"""One fake shop's canonical data, generated deterministically from a seed.

A :class:`FakeWorld` is what a platform fake renders: products, orders with their refunds,
settlement lines and live sessions, all in the hub's canonical form (integer fen, aware UTC
datetimes, statuses as :mod:`bangfu.enums`). Platform fakes translate canonical statuses to
their own enums with a table, money to yuan strings where the platform uses them, and times to
Asia/Shanghai text or epoch numbers as the platform does.

Generation (same ``seed``/``platform``/``shop_id``/``anchor`` -> same data):

* the shop lists a subset of the catalogue (30-80 SKUs grouped into items by ``spu_code``);
  item and SKU ids are numeric strings; a SKU's outer id is its catalogue ``sku_code``;
* ``orders`` orders are created over ``[anchor - days, anchor]`` (``anchor`` = ``clock.now()``
  at construction, to the second), except orders placed during live sessions: sessions run from
  the evening of the day of ``anchor - (days + 1)``, so those reach back up to ``days + 1`` days
  and a few hours (a sync that must see every order looks back ``days + 2`` days); order ids
  are numeric strings increasing with creation time;
* each order follows a timeline drawn from its own RNG: ~5% never paid (cancelled 30 min after
  creation); paid 1-10 min after creation; shipped 4-48 h later; finished 3-10 days later;
  ~10% of paid orders have one refund on one line (full, by quantity, or a partial amount),
  requested between payment and finish + 7 days, resolved 1-3 days later: 80% succeeded,
  otherwise closed or refused. Shipping waits for a refund requested before it; a single-line
  order fully refunded before shipping becomes ``closed``. 1-3 lines, quantity 1-3, catalogue
  price or promo price, an order coupon split over the lines exactly, a post fee sometimes;
* with ``live=True`` (Douyin, Kuaishou) there is a session most evenings around
  19:00-21:30 Asia/Shanghai; ~30% of orders are placed during sessions, and ~60% of the lines of
  such orders carry the session's ``room_id``/``author_id`` and the SKU being explained;
* platform ``selfmall`` orders sometimes carry a ``campaign_code`` and a
  ``purchasing_unit_code`` (from :data:`PURCHASING_UNITS`);
* settlement lines appear one day after an order finishes (sale per line and for the post fee,
  platform fee, host commission on live lines, payment fee) and for each succeeded refund.

Statuses produced: orders ``pending_payment``, ``cancelled``, ``paid``, ``shipped``,
``completed``, ``closed``; refunds ``requested``, ``awaiting_return`` (with a return),
``succeeded``, ``closed``, ``refused``. Money: ``FakeOrder.paid_fen`` is what the buyer pays
(lines' paid + post fee) and is set before payment too; ``truth()`` counts it once paid.

Everything is visible "as of ``clock.now()``": an order's status, ``modified_at`` and refunds
reflect only events at or before now, so advancing the clock moves orders along (events after
the anchor exist by construction). ``modified_at`` is the latest visible event of the order or
of its refund (or a :meth:`FakeWorld.touch`).

Memory stays flat: per order only compact arrays (creation time, paid amount, last event time)
plus sorted packed indexes of (event time, order index) for window queries and of settlement
and payment times for ``truth()``; full objects are rebuilt on demand from the order's seed (an
LRU cache keeps recently used plans). Measured on a busy 2-core machine (CPU time): 100k orders
build in ~2.7-2.9 s (~34 MB RSS), 1M in ~34 s (peak ~160 MB, steady ~115 MB); a 30-minute
``orders_modified`` window costs ~40 us per returned order; ``truth()`` is O(log n).

Not thread-safe: use a world from one thread/event loop (the servers do).

Public interface (stable)::

    FakeWorld(platform, shop_id, *, seed, orders, clock, catalog=None, days=60, live=False)
      .platform .shop_id .seed .clock .anchor .days .live .order_count
      .now() -> datetime
      .products() -> list[FakeItem]          .item(item_id) -> FakeItem | None
      .set_stock(item_id, sku_id, quantity) -> int      # raises StockError
      .adjust_stock(item_id, sku_id, delta) -> int      # never below 0: raises StockError
      .set_price(item_id, sku_id, price_fen) -> int     # > 0; raises StockError for an unknown SKU
      .ship(order_id, company, tracking_no) -> FakeOrder  # the seller ships now; raises ShipError
      .order(order_id) -> FakeOrder | None              # None: unknown
      .orders_modified(start, end) -> list[FakeOrder]   # [start, end), modified asc
      .orders_created(start, end) -> list[FakeOrder]    # [start, end), created asc
      .refund(refund_id) -> FakeRefund | None           # None: unknown or not yet requested
      .refunds_modified(start, end) -> list[FakeRefund] # [start, end), modified asc
      .settlements(start, end) -> list[FakeSettlementLine]   # [start, end) of settled_at
      .live_sessions(start, end) -> list[FakeLiveSession]    # started_at in [start, end)
      .live_session(room_id) -> FakeLiveSession | None
      .campaigns() -> list[FakeCampaign]                     # selfmall only, else []
      .touch(order_id) -> FakeOrder             # modified_at := now, money unchanged
      .place_order(item_id, sku_id, quantity, buyer=None) -> FakeOrder  # a sale now; StockError if short
      .placed_count -> int                      # orders placed so far (they change query results)
      .revision -> int                          # bumped by every touch (a cache of answers keys on it)
      .retain(True)                             # keep built orders/refunds while now and touches hold
      .truth() -> dict[str, int]                # orders, order_lines, refunds, paid_fen, refunded_fen
      .records() -> {"orders"|"refunds": {id: (status, modified epoch s)}}  # latest versions, O(n)
"""

from __future__ import annotations

import hashlib
import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from bangfu.demo.catalog import CatalogSku, default_catalog
from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.money import pro_rata, split_largest_remainder
from connectors.fakes.clock import FakeClock

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

#: Purchasing units whose codes self-mall orders carry (institutional buyers).
PURCHASING_UNITS: tuple[str, ...] = (
    "U-HC-001",  # county health commission
    "U-HC-002",
    "U-GOV-001",  # county government office
    "U-GOV-002",
    "U-SCH-001",  # school canteen
    "U-HOSP-001",  # hospital canteen
    "U-UNION-001",  # trade union
    "U-CO-001",  # state-owned company
)

#: Platform fee rate (basis points of a line's paid amount) charged in settlement bills.
PLATFORM_FEE_BP: dict[str, int] = {
    "taobao": 200,
    "tmall": 500,
    "jd": 600,
    "douyin": 500,
    "kuaishou": 500,
    "youzan": 60,
    "selfmall": 0,
}
PAYMENT_FEE_BP = 60  # payment channel fee on the order's paid amount
HOST_COMMISSION_BP = 2000  # live host commission on live-attributed lines

LOGISTICS_COMPANIES: tuple[str, ...] = ("SF", "ZTO", "YTO", "YUNDA", "EMS", "JD")
REFUND_REASONS: tuple[str, ...] = ("不想要了", "拍错了/多拍了", "商品破损", "质量问题", "未按约定时间发货")
HOST_NAMES: tuple[str, ...] = ("县长带货直播间", "助农主播小卓玛", "高原好物官方", "乡村振兴直播间")

_MINUTE = 60
_HOUR = 3600
_DAY = 86400
_INDEX_BITS = 26  # order index bits in the packed (time, index) keys: up to 67M orders
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_MASK64 = (1 << 64) - 1
_LIVE_ORDER_SHARE = 0.30  # of orders placed during sessions, in live worlds
_LIVE_LINE_SHARE = 0.60  # of lines of such orders attributed to the room


class ShipError(ValueError):
    """An order that cannot be shipped now: ``reason`` is ``not_found``, ``unpaid``,
    ``closed`` (cancelled, or refunded in full), ``refunding`` (a refund is under way) or
    ``shipped`` (``company``/``tracking_no`` say how)."""

    def __init__(self, reason: str, message: str, company: str | None = None, tracking_no: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.company = company
        self.tracking_no = tracking_no


class StockError(ValueError):
    """Unknown item/SKU, or a stock change that would go below zero."""


# --------------------------------------------------------------------------- canonical records


@dataclass(frozen=True, slots=True)
class FakeSku:
    sku_id: str
    sku_code: str  # outer id: the catalogue SKU code the hub maps listings by
    spec: str
    price_fen: int
    promo_price_fen: int | None
    stock: int
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class FakeItem:
    item_id: str
    spu_code: str  # outer id of the item
    title: str
    category: str
    unit: str
    on_sale: bool
    created_at: datetime
    modified_at: datetime  # latest of the item's and its SKUs' changes
    skus: tuple[FakeSku, ...]

    @property
    def price_fen(self) -> int:
        """The lowest SKU price (what list pages show as the item price)."""
        return min(sku.price_fen for sku in self.skus)

    @property
    def stock(self) -> int:
        return sum(sku.stock for sku in self.skus)


@dataclass(frozen=True, slots=True)
class FakeOrderLine:
    line_id: str
    item_id: str
    sku_id: str
    sku_code: str
    spu_code: str
    title: str
    spec: str
    quantity: int
    price_fen: int  # catalogue unit price
    unit_price_fen: int  # unit price charged (promo price when on promotion)
    total_fen: int  # unit_price_fen * quantity
    discount_fen: int  # this line's share of the order coupon
    paid_fen: int  # total_fen - discount_fen
    refund_state: LineRefundState
    refunded_fen: int  # succeeded refunds on this line, as of now
    refund_id: str | None  # the line's refund, once requested
    room_id: str | None = None
    author_id: str | None = None


@dataclass(frozen=True, slots=True)
class FakeRefund:
    refund_id: str
    order_id: str
    line_id: str
    item_id: str
    sku_id: str
    sku_code: str
    status: RefundStatus
    amount_fen: int
    quantity: int | None  # refunded units when by quantity / full; None for an amount-only refund
    with_return: bool  # goods had shipped: the buyer sends them back
    reason: str
    created_at: datetime
    modified_at: datetime
    resolved_at: datetime | None  # when it succeeded/closed/was refused, once visible
    line_paid_fen: int  # the refunded line's paid amount (platforms show it beside the refund)


@dataclass(frozen=True, slots=True)
class FakeOrder:
    index: int  # position in creation order, 0-based
    order_id: str
    shop_id: str
    status: OrderStatus
    created_at: datetime
    modified_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    shipped_at: datetime | None
    finished_at: datetime | None
    closed_at: datetime | None
    total_fen: int  # sum of the lines' total_fen
    discount_fen: int  # order coupon, split over the lines
    post_fee_fen: int
    paid_fen: int  # what the buyer pays: total - discount + post fee (also before payment)
    lines: tuple[FakeOrderLine, ...]
    refunds: tuple[FakeRefund, ...]  # visible refunds
    buyer_id: str
    buyer_nick: str
    logistics_company: str | None  # once shipped
    tracking_no: str | None
    room_id: str | None = None  # set when any line is live-attributed
    author_id: str | None = None
    campaign_code: str | None = None  # selfmall
    purchasing_unit_code: str | None = None  # selfmall

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None


@dataclass(frozen=True, slots=True)
class FakeSettlementLine:
    bill_id: str  # stable
    kind: SettlementKind
    amount_fen: int  # signed: + adds to the payout, - takes from it
    settled_at: datetime
    order_id: str
    line_id: str | None
    item_id: str | None
    sku_id: str | None
    rate_bp: int | None  # fee rate for fee lines, basis points
    room_id: str | None = None
    refund_id: str | None = None


@dataclass(frozen=True, slots=True)
class FakeLiveMinute:
    minute_at: datetime
    online: int
    views: int  # entries during this minute
    new_buyers: int
    orders: int  # paid orders created this minute with room-attributed lines
    gmv_fen: int  # paid amount of those room-attributed lines


@dataclass(frozen=True, slots=True)
class FakeExplanation:
    item_id: str
    sku_id: str
    sku_code: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class FakeLiveSession:
    room_id: str
    author_id: str
    host_name: str
    title: str
    started_at: datetime
    ended_at: datetime | None  # None while still live
    modified_at: datetime
    views: int  # PV
    unique_viewers: int  # UV
    peak_online: int  # PCU
    total_watch_seconds: int
    gmv_fen: int
    orders: int
    minutes: tuple[FakeLiveMinute, ...]  # visible minutes
    explanations: tuple[FakeExplanation, ...]  # started by now; ended_at clipped to now


@dataclass(frozen=True, slots=True)
class FakeCampaign:
    """A self-mall session link / QR code, valid for a date range."""

    campaign_code: str
    title: str
    starts_at: datetime
    ends_at: datetime


# --------------------------------------------------------------------------- internal plans


@dataclass(slots=True)
class _Listing:
    item_index: int
    item_id: str
    sku_id: str
    sku: CatalogSku


@dataclass(frozen=True, slots=True)
class _Session:
    room_id: str
    author_id: str
    host_name: str
    title: str
    start: int
    end: int
    peak: int  # audience scale
    explanations: tuple[tuple[int, int, int], ...]  # (start, end, listing index)
    pool: tuple[int, ...]  # listing indexes shown in the session


@dataclass(slots=True)  # not frozen: built on the hot path, never mutated
class _LinePlan:
    listing: int
    quantity: int
    price: int
    unit_price: int
    discount: int
    paid: int
    live: bool


@dataclass(slots=True)  # not frozen: built on the hot path, never mutated
class _RefundPlan:
    line_no: int
    amount: int
    quantity: int | None
    with_return: bool
    reason: str
    requested: int
    mid: int | None  # awaiting_return (with_return only)
    resolved: int
    outcome: RefundStatus


@dataclass(slots=True)  # not frozen: built on the hot path, never mutated
class _Plan:
    """An order's whole future, independent of now. Times are epoch seconds."""

    created: int
    paid: int | None
    cancelled: int | None
    shipped: int | None
    finished: int | None
    closed: int | None
    lines: tuple[_LinePlan, ...]
    post_fee: int
    discount: int
    buyer: int
    refund: _RefundPlan | None
    session: int | None  # index into sessions when any line is live
    campaign: int | None
    unit: str | None
    paid_total: int  # sum of line paid + post fee
    events: tuple[int, ...]  # distinct event times (order and refund), ascending

    def settle_times(self) -> list[int]:
        if self.finished is None:
            return []
        out = [self.finished + _DAY]
        refund = self.refund
        if refund is not None and refund.outcome is RefundStatus.SUCCEEDED:
            out.append(max(self.finished, refund.resolved) + _DAY)
        return out


# The C-level seed of Random: random.Random.seed adds a Python-level type dispatch we do not need
# for int seeds on the per-order hot path.
_seed_c = random.Random.__mro__[1].seed  # type: ignore[attr-defined]


def _digest(*parts: object) -> int:
    text = ":".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch(value: datetime) -> float:
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the fake world speaks aware UTC only")
    return value.timestamp()


def _ceil_seconds(value: datetime) -> int:
    """Integer second bound for a half-open [start, end) over integer-second event times."""
    ts = _epoch(value)
    whole = int(ts)
    return whole if whole == ts else whole + 1


class _KeySorter:
    """Collects non-negative int keys into compact buckets, then sorts bucket by bucket.

    Keeps the peak memory of building a million-order world low: keys live in ``array('q')``
    buckets (8 bytes each) and only one bucket at a time becomes a list of Python ints.
    """

    __slots__ = ("_buckets", "_shift")

    def __init__(self, shift: int) -> None:
        self._shift = shift
        self._buckets: dict[int, array[int]] = {}

    def add(self, key: int) -> None:
        bucket = self._buckets.get(key >> self._shift)
        if bucket is None:
            bucket = self._buckets[key >> self._shift] = array("q")
        bucket.append(key)

    def result(self) -> array[int]:
        out = array("q")
        for number in sorted(self._buckets):
            out.extend(sorted(self._buckets.pop(number)))
        return out


_KEY_BUCKET_SHIFT = _INDEX_BITS + 15  # packed keys: buckets of 2**15 s (~9 h) of event time
_TIME_BUCKET_SHIFT = 15


# --------------------------------------------------------------------------- the world


class FakeWorld:
    """One shop's products, orders, refunds, settlements and live sessions (see module doc)."""

    def __init__(
        self,
        platform: str,
        shop_id: str,
        *,
        seed: int,
        orders: int,
        clock: FakeClock,
        catalog: Sequence[CatalogSku] | None = None,
        days: int = 60,
        live: bool = False,
    ) -> None:
        if orders < 0:
            raise ValueError("orders must not be negative")
        if orders > _INDEX_MASK:
            raise ValueError(f"at most {_INDEX_MASK} orders per world")
        if days <= 0:
            raise ValueError("days must be positive")
        self.platform = platform
        self.shop_id = shop_id
        self.seed = seed
        self.clock = clock
        self.days = days
        self.live = live
        self._anchor = int(_epoch(clock.now()))
        self.anchor = _dt(self._anchor)
        self._key = _digest("bangfu-fake-world", seed, platform, shop_id)
        self._fee_bp = PLATFORM_FEE_BP.get(platform, 300)
        self._order_base = (10**7 + _digest(self._key, "orders") % (8 * 10**7)) * 10**8
        self._refund_base = (10**7 + _digest(self._key, "refunds") % (8 * 10**7)) * 10**8
        self._bill_base = (10**7 + _digest(self._key, "bills") % (8 * 10**7)) * 10**9
        self._buyer_tag = f"{_digest(self._key, 'buyers') % 0xFFFF:04x}"
        self._buyer_pool = max(50, orders // 3)
        self._base = self._anchor - (days + 2) * _DAY  # packed index keys are relative to this

        catalog_skus = list(default_catalog() if catalog is None else catalog)
        if not catalog_skus:
            raise ValueError("the catalogue is empty")
        self._build_listings(catalog_skus)
        self._sessions: list[_Session] = self._build_sessions() if live else []
        self._session_starts = [s.start for s in self._sessions]
        self._campaigns: list[FakeCampaign] = self._build_campaigns() if platform == "selfmall" else []
        self._touched: dict[int, int] = {}
        self._placed: dict[str, FakeOrder] = {}  # orders placed by buyers (place_order), by id
        self._shipments: dict[int, tuple[int, str, str]] = {}  # ship(): index -> (at, company, tracking)
        self._rng = random.Random()  # reseeded per order by _make_plan
        self._campaign_start = int(_epoch(self._campaigns[0].starts_at)) if self._campaigns else 0
        # Plans are pure functions of the index: cache the recently used ones.
        self._cached_plan = lru_cache(maxsize=8192)(self._make_plan)
        self._revision = 0  # touches so far
        # Built orders and refunds by index, kept (``retain``) while ``(now, revision)`` holds.
        self._kept: tuple[tuple[int, int], dict[int, FakeOrder], dict[int, FakeRefund | None]] | None = None
        self._retain = False
        # Retained: every visible order's (modified, index) and refund's (modified, id, refund),
        # sorted, for the same ``(now, revision)``: a window is then two bisections and a slice.
        self._by_modified: tuple[tuple[int, int], list[tuple[int, int]]] | None = None
        self._refunds_by_modified: tuple[tuple[int, int], list[tuple[int, str, FakeRefund]]] | None = None
        self._build_orders(orders)

    # ----------------------------------------------------------------- construction

    def _build_listings(self, catalog: list[CatalogSku]) -> None:
        rng = random.Random(f"{self._key}:listings")
        spus: dict[str, list[CatalogSku]] = {}
        for sku in catalog:
            spus.setdefault(sku.spu_code, []).append(sku)
        spu_codes = list(spus)
        rng.shuffle(spu_codes)
        target = min(rng.randint(30, 80), len(catalog))
        chosen: list[str] = []
        count = 0
        for code in spu_codes:
            if count >= target:
                break
            chosen.append(code)
            count += len(spus[code])
        chosen.sort()
        item_ids = sorted(rng.sample(range(10**11, 10**12), len(chosen)))
        sku_ids = sorted(rng.sample(range(10**12, 10**13), count))
        self._listings: list[_Listing] = []
        self._items: list[tuple[str, CatalogSku, bool, int]] = []  # item_id, first sku, on_sale, created
        self._stock: dict[tuple[str, str], tuple[int, int]] = {}  # (item_id, sku_id) -> (stock, modified)
        self._set_prices: dict[tuple[str, str], int] = {}  # (item_id, sku_id) -> price set by a price write
        self._item_modified: dict[str, int] = {}
        self._item_skus: dict[str, list[int]] = {}
        for item_index, code in enumerate(chosen):
            item_id = str(item_ids[item_index])
            created = self._anchor - rng.randint(self.days + 30, self.days + 400) * _DAY - rng.randint(0, _DAY)
            modified = rng.randint(created, self._anchor - _DAY)
            on_sale = rng.random() < 0.95
            self._items.append((item_id, spus[code][0], on_sale, created))
            self._item_modified[item_id] = modified
            self._item_skus[item_id] = []
            for sku in spus[code]:
                sku_id = str(sku_ids[len(self._listings)])
                stock = 0 if rng.random() < 0.05 else rng.randint(1, 500)
                self._stock[(item_id, sku_id)] = (stock, rng.randint(modified - 30 * _DAY, modified))
                self._item_skus[item_id].append(len(self._listings))
                self._listings.append(_Listing(item_index, item_id, sku_id, sku))
        # flat price columns for the per-order hot path
        self._prices = [listing.sku.price_fen for listing in self._listings]
        self._promos = [listing.sku.promo_price_fen for listing in self._listings]

    def _build_sessions(self) -> list[_Session]:
        sessions: list[_Session] = []
        first_day = (_dt(self._anchor - (self.days + 1) * _DAY)).astimezone(SHANGHAI).date()
        last_day = self.anchor.astimezone(SHANGHAI).date()
        authors = [
            (
                str(10**10 + _digest(self._key, "author", k) % (9 * 10**10)),
                HOST_NAMES[(self._key + k) % len(HOST_NAMES)],
            )
            for k in range(2)
        ]
        day = first_day
        while day <= last_day:
            rng = random.Random(f"{self._key}:session:{day.isoformat()}")
            if rng.random() < 0.85:
                local_start = datetime(day.year, day.month, day.day, 19, 0, tzinfo=SHANGHAI)
                start = int(local_start.timestamp()) + rng.randint(0, 20) * _MINUTE
                end = start + rng.randint(120, 150) * _MINUTE
                if start < self._anchor:
                    author_id, host_name = authors[0] if rng.random() < 0.8 else authors[1]
                    pool = tuple(rng.sample(range(len(self._listings)), min(len(self._listings), rng.randint(6, 10))))
                    explanations: list[tuple[int, int, int]] = []
                    t = start + rng.randint(0, 3) * _MINUTE
                    while t < end:
                        stop = min(end, t + rng.randint(5, 15) * _MINUTE)
                        explanations.append((t, stop, rng.choice(pool)))
                        t = stop + rng.randint(0, 3) * _MINUTE
                    sessions.append(
                        _Session(
                            room_id=str(7 * 10**18 + _digest(self._key, "room", day.isoformat()) % 10**18),
                            author_id=author_id,
                            host_name=host_name,
                            title=f"{day.month}月{day.day}日 甘孜好物助农专场",
                            start=start,
                            end=end,
                            peak=rng.randint(200, 3000),
                            explanations=tuple(explanations),
                            pool=pool,
                        )
                    )
            day += timedelta(days=1)
        return sessions

    def _build_campaigns(self) -> list[FakeCampaign]:
        out: list[FakeCampaign] = []
        start = self._anchor - (self.days + 1) * _DAY
        week = 0
        while start < self._anchor + 7 * _DAY:
            code = f"CMP-{self._buyer_tag.upper()}-{week + 1:03d}"
            out.append(FakeCampaign(code, f"消费帮扶专场 第{week + 1}期", _dt(start), _dt(start + 7 * _DAY)))
            start += 7 * _DAY
            week += 1
        return out

    def _build_orders(self, count: int) -> None:
        rng = random.Random(f"{self._key}:created")
        span = self.days * _DAY
        anchor = self._anchor
        created = _KeySorter(_TIME_BUCKET_SHIFT)
        sessions = [s for s in self._sessions if s.start < anchor]
        rand = rng.random
        for _ in range(count):
            if sessions and rand() < _LIVE_ORDER_SHARE:
                session = sessions[int(rand() * len(sessions))]
                created.add(session.start + int(rand() * (min(session.end, anchor) - session.start)))
            else:
                created.add(anchor - int(rand() * span))
        self._created = created.result()
        self._paid_fen = array("q")
        self._last_event = array("q")
        self._lines_prefix = array("q", [0])
        events = _KeySorter(_KEY_BUCKET_SHIFT)
        settles = _KeySorter(_KEY_BUCKET_SHIFT)
        paid_keys = _KeySorter(_KEY_BUCKET_SHIFT)
        refund_created: list[int] = []
        refund_ok_keys: list[int] = []
        refund_amounts: dict[int, int] = {}
        base = self._base
        lines_total = 0
        for index in range(count):
            plan = self._make_plan(index)
            self._paid_fen.append(plan.paid_total)
            self._last_event.append(plan.events[-1])
            lines_total += len(plan.lines)
            self._lines_prefix.append(lines_total)
            for t in plan.events:
                events.add(((t - base) << _INDEX_BITS) | index)
            for t in plan.settle_times():
                settles.add(((t - base) << _INDEX_BITS) | index)
            if plan.paid is not None:
                paid_keys.add(((plan.paid - base) << _INDEX_BITS) | index)
            refund = plan.refund
            if refund is not None:
                refund_created.append(refund.requested)
                if refund.outcome is RefundStatus.SUCCEEDED:
                    refund_ok_keys.append(((refund.resolved - base) << _INDEX_BITS) | index)
                    refund_amounts[index] = refund.amount
        self._events = events.result()
        self._settles = settles.result()
        self._paid_keys = paid_keys.result()
        self._paid_prefix = self._prefix(self._paid_keys, self._paid_fen.__getitem__)
        refund_created.sort()
        self._refund_created = array("q", refund_created)
        refund_ok_keys.sort()
        self._refund_ok_keys = array("q", refund_ok_keys)
        self._refund_ok_prefix = self._prefix(self._refund_ok_keys, refund_amounts.__getitem__)

    @staticmethod
    def _prefix(keys: array[int], amount: Callable[[int], int]) -> array[int]:
        out = array("q", [0])
        running = 0
        for key in keys:
            running += amount(key & _INDEX_MASK)
            out.append(running)
        return out

    def _session_at(self, t: int) -> int | None:
        pos = bisect_right(self._session_starts, t) - 1
        if pos >= 0 and t < self._sessions[pos].end:
            return pos
        return None

    def _make_plan(self, index: int) -> _Plan:
        """Draw an order's whole timeline and money from its own RNG.

        The draws happen in a fixed order (conditional draws depend only on earlier draws), so
        the same index always gives the same plan. Hot path: ~15 us per order, a third of
        it seeding the Mersenne Twister.
        """
        rng = self._rng
        _seed_c(rng, ((self._key + index) * 0x9E3779B97F4A7C15) & _MASK64)
        rand = rng.random
        created = self._created[index]
        n_lines = 1 + (rand() < 0.35) + (rand() < 0.12)
        paid: int | None = created + 60 + int(rand() * 541)
        cancelled: int | None = None
        if rand() < 0.05:
            paid = None
            cancelled = created + 30 * _MINUTE
        ship_delay = 4 * _HOUR + int(rand() * 44 * _HOUR)
        finish_delay = 3 * _DAY + int(rand() * 7 * _DAY)
        has_refund = paid is not None and rand() < 0.10
        refund_draws: tuple[float, ...] = ()
        if has_refund:
            refund_draws = (rand(), rand(), rand(), rand(), rand(), rand(), rand(), rand())
        buyer = int(rand() * self._buyer_pool)
        # lines
        session_pos = self._session_at(created) if self._sessions else None
        prices, promos = self._prices, self._promos
        line_specs: list[tuple[int, int, int, int, bool]] = []
        order_total = 0
        any_live = False
        for _ in range(n_lines):
            live = session_pos is not None and rand() < _LIVE_LINE_SHARE
            if live and session_pos is not None:
                session = self._sessions[session_pos]
                listing = self._explained_at(session, created)
                if listing is None:
                    listing = session.pool[int(rand() * len(session.pool))]
                any_live = True
            else:
                listing = int(len(prices) * rand() ** 1.6)  # skewed: a few items sell most
            quantity = 1 + (rand() < 0.3) + (rand() < 0.1)
            price = prices[listing]
            promo = promos[listing]
            unit_price = promo if promo is not None and rand() < 0.5 else price
            order_total += quantity * unit_price
            line_specs.append((listing, quantity, price, unit_price, live))
        discount = 0
        if rand() < 0.3:
            discount = min((300, 500, 1000, 2000)[int(rand() * 4)], order_total * 3 // 10)
        if discount and n_lines > 1:
            weights = {k: spec[1] * spec[3] for k, spec in enumerate(line_specs)}
            shares = split_largest_remainder(discount, weights)
        else:
            shares = {0: discount}
        lines = tuple(
            _LinePlan(listing, q, price, unit, shares.get(k, 0), q * unit - shares.get(k, 0), live)
            for k, (listing, q, price, unit, live) in enumerate(line_specs)
        )
        post_fee = (600, 800, 1000, 1200)[int(rand() * 4)] if rand() < 0.2 else 0
        campaign: int | None = None
        unit_code: str | None = None
        if self._campaigns:
            if rand() < 0.25:
                campaign = min(len(self._campaigns) - 1, (created - self._campaign_start) // (7 * _DAY))
            if rand() < 0.35:
                unit_code = PURCHASING_UNITS[int(rand() * len(PURCHASING_UNITS))]
        # timeline
        shipped: int | None = None
        finished: int | None = None
        closed: int | None = None
        refund: _RefundPlan | None = None
        if paid is not None:
            shipped = paid + ship_delay
            if has_refund:
                refund = self._make_refund(lines, paid, shipped, shipped + finish_delay, refund_draws)
            if refund is not None and refund.requested < shipped:
                line = lines[refund.line_no]
                if refund.outcome is RefundStatus.SUCCEEDED and refund.amount == line.paid and n_lines == 1:
                    closed = refund.resolved
                    shipped = None
                else:
                    shipped = max(shipped, refund.resolved + int(refund_draws[7] * 12 * _HOUR) + _HOUR)
            if shipped is not None:
                finished = shipped + finish_delay
        paid_total = order_total - discount + post_fee
        times = {created}
        for t in (paid, cancelled, shipped, finished, closed):
            if t is not None:
                times.add(t)
        if refund is not None:
            times.add(refund.requested)
            times.add(refund.resolved)
            if refund.mid is not None:
                times.add(refund.mid)
        return _Plan(
            paid_total=paid_total,
            events=tuple(sorted(times)),
            created=created,
            paid=paid,
            cancelled=cancelled,
            shipped=shipped,
            finished=finished,
            closed=closed,
            lines=lines,
            post_fee=post_fee,
            discount=discount,
            buyer=buyer,
            refund=refund,
            session=session_pos if any_live else None,
            campaign=campaign,
            unit=unit_code,
        )

    @staticmethod
    def _make_refund(
        lines: tuple[_LinePlan, ...], paid: int, shipped: int, finished: int, draws: tuple[float, ...]
    ) -> _RefundPlan:
        line_no = int(draws[0] * len(lines))
        line = lines[line_no]
        mode = draws[1]
        quantity: int | None
        if mode < 0.45 or (mode < 0.7 and line.quantity == 1):
            amount, quantity = line.paid, line.quantity
        elif mode < 0.7:
            quantity = 1 + int(draws[2] * (line.quantity - 1))
            amount = pro_rata(line.paid, quantity, line.quantity)
        else:
            amount, quantity = max(1, line.paid * (10 + int(draws[2] * 80)) // 100), None
        requested = paid + 60 + int(draws[3] * (finished + 7 * _DAY - paid - 60))
        resolved = requested + _DAY + int(draws[4] * 2 * _DAY)
        with_return = requested >= shipped
        mid = requested + _HOUR + int(draws[5] * 11 * _HOUR) if with_return else None
        outcome_draw = draws[6]
        if outcome_draw < 0.8:
            outcome = RefundStatus.SUCCEEDED
        elif outcome_draw < 0.9:
            outcome = RefundStatus.CLOSED
        else:
            outcome = RefundStatus.REFUSED
        reason = REFUND_REASONS[int(draws[2] * len(REFUND_REASONS))]
        return _RefundPlan(line_no, amount, quantity, with_return, reason, requested, mid, resolved, outcome)

    @staticmethod
    def _explained_at(session: _Session, t: int) -> int | None:
        for start, end, listing in session.explanations:
            if start <= t < end:
                return listing
        return None

    # ----------------------------------------------------------------- ids

    def _order_id(self, index: int) -> str:
        return str(self._order_base + index)

    def _order_index(self, order_id: str) -> int | None:
        if not order_id.isdigit():
            return None
        index = int(order_id) - self._order_base
        return index if 0 <= index < len(self._created) else None

    def _refund_id(self, index: int) -> str:
        return str(self._refund_base + index)

    def _line_id(self, index: int, line_no: int) -> str:
        return str((self._order_base + index) * 10 + line_no + 1)

    # ----------------------------------------------------------------- public: basics

    @property
    def order_count(self) -> int:
        return len(self._created)

    def now(self) -> datetime:
        return self.clock.now()

    def _now(self) -> int:
        return int(_epoch(self.clock.now()))

    # ----------------------------------------------------------------- public: products

    def products(self) -> list[FakeItem]:
        """Every listed item with its SKUs, current stock and modified time, by item id."""
        return [self._item_at(k) for k in range(len(self._items))]

    def item(self, item_id: str) -> FakeItem | None:
        for k, (candidate, _, _, _) in enumerate(self._items):
            if candidate == item_id:
                return self._item_at(k)
        return None

    def _item_at(self, item_index: int) -> FakeItem:
        item_id, first, on_sale, created = self._items[item_index]
        skus: list[FakeSku] = []
        modified = self._item_modified[item_id]
        for listing_index in self._item_skus[item_id]:
            listing = self._listings[listing_index]
            stock, sku_modified = self._stock[(item_id, listing.sku_id)]
            modified = max(modified, sku_modified)
            skus.append(
                FakeSku(
                    sku_id=listing.sku_id,
                    sku_code=listing.sku.sku_code,
                    spec=listing.sku.spec,
                    price_fen=self._set_prices.get((item_id, listing.sku_id), listing.sku.price_fen),
                    # a price write replaces any promotion price (what the listing then shows)
                    promo_price_fen=(
                        None if (item_id, listing.sku_id) in self._set_prices else listing.sku.promo_price_fen
                    ),
                    stock=stock,
                    modified_at=_dt(sku_modified),
                )
            )
        return FakeItem(
            item_id=item_id,
            spu_code=first.spu_code,
            title=first.title,
            category=first.category,
            unit=first.unit,
            on_sale=on_sale,
            created_at=_dt(created),
            modified_at=_dt(modified),
            skus=tuple(skus),
        )

    def _stock_key(self, item_id: str, sku_id: str | None) -> tuple[str, str]:
        sku_indexes = self._item_skus.get(item_id)
        if sku_indexes is None:
            raise StockError(f"unknown item {item_id!r}")
        if sku_id is None:
            if len(sku_indexes) != 1:
                raise StockError(f"item {item_id!r} has {len(sku_indexes)} SKUs: a sku_id is required")
            sku_id = self._listings[sku_indexes[0]].sku_id
        key = (item_id, sku_id)
        if key not in self._stock:
            raise StockError(f"unknown SKU {sku_id!r} of item {item_id!r}")
        return key

    def set_stock(self, item_id: str, sku_id: str | None, quantity: int) -> int:
        """Set a SKU's stock (``sku_id`` None only for single-SKU items); returns the new stock."""
        key = self._stock_key(item_id, sku_id)
        if quantity < 0:
            raise StockError(f"stock cannot be negative: {quantity}")
        self._stock[key] = (quantity, max(self._now(), self._stock[key][1]))
        return quantity

    def adjust_stock(self, item_id: str, sku_id: str | None, delta: int) -> int:
        """Add ``delta`` (may be negative) to a SKU's stock; refuses to go below zero."""
        key = self._stock_key(item_id, sku_id)
        current = self._stock[key][0]
        if current + delta < 0:
            raise StockError(f"stock {current} {delta:+d} would go below zero")
        return self.set_stock(key[0], key[1], current + delta)

    def set_price(self, item_id: str, sku_id: str | None, price_fen: int) -> int:
        """Set a SKU's price in fen (what a platform's price API does); the SKU's modified time
        moves, so the next product sync sees the new price. Returns the price."""
        key = self._stock_key(item_id, sku_id)
        if price_fen <= 0:
            raise StockError(f"price must be positive: {price_fen}")
        self._set_prices[key] = price_fen
        stock, modified = self._stock[key]
        self._stock[key] = (stock, max(self._now(), modified))
        return price_fen

    # ----------------------------------------------------------------- public: orders

    def order(self, order_id: str) -> FakeOrder | None:
        """The order as of now, or None for an id this shop never had."""
        index = self._order_index(order_id)
        if index is None and self._placed:
            return self._placed_visible(order_id, self._now())
        if index is None or self._created[index] > self._now():
            return None
        return self._order_at(index, self._now())

    def orders_created(self, start: datetime, end: datetime) -> list[FakeOrder]:
        """Orders created in [start, end) (and by now), by creation time then id."""
        now = self._now()
        lo = bisect_left(self._created, _ceil_seconds(start))
        hi = bisect_left(self._created, min(_ceil_seconds(end), now + 1))
        orders = self._orders_at(range(lo, hi), now)
        if self._placed:
            orders = self._with_placed(orders, _ceil_seconds(start), _ceil_seconds(end), now, by_created=True)
        return orders

    def orders_modified(self, start: datetime, end: datetime) -> list[FakeOrder]:
        """Orders whose modified time (as of now) lies in [start, end), modified asc, then id."""
        now = self._now()
        lo, hi = _ceil_seconds(start), _ceil_seconds(end)
        if self._retain:
            rows = self._modified_rows(now)
            orders = self._orders_at(
                [index for _, index in rows[bisect_left(rows, (lo,)) : bisect_left(rows, (hi,))]], now
            )
            return self._with_placed(orders, lo, hi, now, by_created=False) if self._placed else orders
        else:
            found = []
            for index in self._candidates(lo, hi, now):
                modified = self._modified(index, now)
                if lo <= modified < hi:
                    found.append((modified, index))
            found.sort()
        orders = [self._order_at(index, now) for _, index in found]
        if self._placed:
            orders = self._with_placed(orders, lo, hi, now, by_created=False)
        return orders

    def _modified_rows(self, now: int) -> list[tuple[int, int]]:
        """Every order created by ``now`` as ``(modified, index)``, sorted (retained worlds)."""
        stamp = (now, self._revision)
        if self._by_modified is None or self._by_modified[0] != stamp:
            visible = bisect_right(self._created, now)
            rows = [(self._modified(index, now), index) for index in range(visible)]
            rows.sort()
            self._by_modified = (stamp, rows)
        return self._by_modified[1]

    def _refund_rows(self, now: int) -> list[tuple[int, str, FakeRefund]]:
        """Every refund requested by ``now`` as ``(modified, id, refund)``, sorted (retained worlds)."""
        stamp = (now, self._revision)
        if self._refunds_by_modified is None or self._refunds_by_modified[0] != stamp:
            rows: list[tuple[int, str, FakeRefund]] = []
            for index in range(bisect_right(self._created, now)):
                refund = self._refund_of(index, now)
                if refund is not None:
                    rows.append((int(refund.modified_at.timestamp()), refund.refund_id, refund))
            rows.sort(key=lambda row: (row[0], row[1]))
            self._refunds_by_modified = (stamp, rows)
        return self._refunds_by_modified[1]

    def _candidates(self, lo: int, hi: int, now: int) -> set[int]:
        """Orders with an event or a touch in [lo, min(hi, now + 1))."""
        hi = min(hi, now + 1)
        if hi <= lo:
            return set()
        keys = self._events
        first = bisect_left(keys, (lo - self._base) << _INDEX_BITS)
        last = bisect_left(keys, (hi - self._base) << _INDEX_BITS)
        out = {keys[k] & _INDEX_MASK for k in range(first, last)}
        out.update(index for index, t in self._touched.items() if lo <= t < hi)
        return out

    def _modified(self, index: int, now: int) -> int:
        last = self._last_event[index]
        if last <= now:
            visible = last  # the common case, without rebuilding the plan
        else:
            events = self._cached_plan(index).events
            visible = events[max(0, bisect_right(events, now) - 1)]
        touched = self._touched.get(index)
        return visible if touched is None else max(visible, touched)

    def touch(self, order_id: str) -> FakeOrder:
        """Bump an order's modified time to now without changing anything else."""
        index = self._order_index(order_id)
        now = self._now()
        if index is None and self._placed_visible(order_id, now) is not None:
            return self._touch_placed(order_id, now)
        if index is None or self._created[index] > now:
            raise KeyError(f"unknown order {order_id!r}")
        self._touched[index] = max(now, self._touched.get(index, now))
        self._revision += 1
        return self._order_at(index, now)

    @property
    def revision(self) -> int:
        """How many touches so far (with ``now()`` and ``placed_count``, what answers depend on)."""
        return self._revision

    def retain(self, keep: bool = True) -> None:
        """Keep every order and refund built, while the clock (to the second) and the touches
        stay where they were: a frozen world then builds each record once, not once per query.
        Costs the objects' memory (about 1.5 kB an order); ``retain(False)`` drops them."""
        self._retain = keep
        self._kept = None
        self._by_modified = None
        self._refunds_by_modified = None

    def _kept_for(self, now: int) -> tuple[dict[int, FakeOrder], dict[int, FakeRefund | None]] | None:
        if not self._retain:
            return None
        stamp = (now, self._revision)
        kept = self._kept
        if kept is None or kept[0] != stamp:
            kept = self._kept = (stamp, {}, {})
        return kept[1], kept[2]

    def _order_at(self, index: int, now: int) -> FakeOrder:
        kept = self._kept_for(now)
        if kept is None:
            return self._build_order(index, now)
        order = kept[0].get(index)
        if order is None:
            order = kept[0][index] = self._build_order(index, now)
        return order

    def _orders_at(self, indices: Sequence[int], now: int) -> list[FakeOrder]:
        """``[self._order_at(index, now) for index in indices]``, one lookup each when retained."""
        kept = self._kept_for(now)
        if kept is None:
            return [self._build_order(index, now) for index in indices]
        built = kept[0]
        out: list[FakeOrder] = []
        for index in indices:
            order = built.get(index)
            if order is None:
                order = built[index] = self._build_order(index, now)
            out.append(order)
        return out

    def _refund_of(self, index: int, now: int) -> FakeRefund | None:
        """The refund of order ``index`` as of ``now`` (None: none requested yet)."""
        kept = self._kept_for(now)
        if kept is None:
            return self._refund_at(index, self._cached_plan(index), now)
        if index in kept[1]:
            return kept[1][index]
        refund = kept[1][index] = self._refund_at(index, self._cached_plan(index), now)
        return refund

    def _build_order(self, index: int, now: int) -> FakeOrder:
        plan = self._cached_plan(index)
        order_id = self._order_id(index)

        def seen(t: int | None) -> datetime | None:
            return _dt(t) if t is not None and t <= now else None

        paid_at = seen(plan.paid)
        cancelled_at = seen(plan.cancelled)
        shipped_at = seen(plan.shipped)
        finished_at = seen(plan.finished)
        closed_at = seen(plan.closed)
        if closed_at is not None:
            status = OrderStatus.CLOSED
        elif finished_at is not None:
            status = OrderStatus.COMPLETED
        elif shipped_at is not None:
            status = OrderStatus.SHIPPED
        elif paid_at is not None:
            status = OrderStatus.PAID
        elif cancelled_at is not None:
            status = OrderStatus.CANCELLED
        else:
            status = OrderStatus.PENDING_PAYMENT
        refund = self._refund_at(index, plan, now)
        session = self._sessions[plan.session] if plan.session is not None else None
        lines: list[FakeOrderLine] = []
        for line_no, line in enumerate(plan.lines):
            listing = self._listings[line.listing]
            state = LineRefundState.NONE
            refunded = 0
            line_refund_id: str | None = None
            if refund is not None and plan.refund is not None and plan.refund.line_no == line_no:
                line_refund_id = refund.refund_id
                if refund.status is RefundStatus.SUCCEEDED:
                    refunded = refund.amount_fen
                    state = LineRefundState.FULL if refund.amount_fen >= line.paid else LineRefundState.PARTIAL
                elif refund.status not in (RefundStatus.CLOSED, RefundStatus.REFUSED):
                    state = LineRefundState.IN_PROGRESS
            live = line.live and session is not None
            lines.append(
                FakeOrderLine(
                    line_id=self._line_id(index, line_no),
                    item_id=listing.item_id,
                    sku_id=listing.sku_id,
                    sku_code=listing.sku.sku_code,
                    spu_code=listing.sku.spu_code,
                    title=listing.sku.title,
                    spec=listing.sku.spec,
                    quantity=line.quantity,
                    price_fen=line.price,
                    unit_price_fen=line.unit_price,
                    total_fen=line.unit_price * line.quantity,
                    discount_fen=line.discount,
                    paid_fen=line.paid,
                    refund_state=state,
                    refunded_fen=refunded,
                    refund_id=line_refund_id,
                    room_id=session.room_id if live and session is not None else None,
                    author_id=session.author_id if live and session is not None else None,
                )
            )
        company: str | None = None
        tracking: str | None = None
        if shipped_at is not None:
            company = LOGISTICS_COMPANIES[(self._key + index) % len(LOGISTICS_COMPANIES)]
            tracking = str(10**11 + (int(order_id) * 7919 + self._key) % (9 * 10**11))
        shipment = self._shipments.get(index)
        if shipment is not None and shipment[0] <= now:
            # shipped by the seller (ship()) before the world's own timeline would have
            shipped_at, company, tracking = _dt(shipment[0]), shipment[1], shipment[2]
            if status is OrderStatus.PAID:
                status = OrderStatus.SHIPPED
        return FakeOrder(
            index=index,
            order_id=order_id,
            shop_id=self.shop_id,
            status=status,
            created_at=_dt(plan.created),
            modified_at=_dt(self._modified(index, now)),
            paid_at=paid_at,
            cancelled_at=cancelled_at,
            shipped_at=shipped_at,
            finished_at=finished_at,
            closed_at=closed_at,
            total_fen=sum(line.unit_price * line.quantity for line in plan.lines),
            discount_fen=plan.discount,
            post_fee_fen=plan.post_fee,
            paid_fen=plan.paid_total,
            lines=tuple(lines),
            refunds=(refund,) if refund is not None else (),
            buyer_id=f"fake_buyer_{self._buyer_tag}{plan.buyer:07d}",
            buyer_nick=f"fake_nick_{plan.buyer}",
            logistics_company=company,
            tracking_no=tracking,
            room_id=session.room_id if session is not None else None,
            author_id=session.author_id if session is not None else None,
            campaign_code=self._campaigns[plan.campaign].campaign_code if plan.campaign is not None else None,
            purchasing_unit_code=plan.unit,
        )

    # ----------------------------------------------------------------- public: refunds

    def _refund_at(self, index: int, plan: _Plan, now: int) -> FakeRefund | None:
        rp = plan.refund
        if rp is None or rp.requested > now:
            return None
        modified = rp.requested
        status = RefundStatus.REQUESTED
        if rp.mid is not None and rp.mid <= now:
            status, modified = RefundStatus.AWAITING_RETURN, rp.mid
        resolved_at: datetime | None = None
        if rp.resolved <= now:
            status, modified, resolved_at = rp.outcome, rp.resolved, _dt(rp.resolved)
        line = plan.lines[rp.line_no]
        listing = self._listings[line.listing]
        return FakeRefund(
            refund_id=self._refund_id(index),
            order_id=self._order_id(index),
            line_id=self._line_id(index, rp.line_no),
            item_id=listing.item_id,
            sku_id=listing.sku_id,
            sku_code=listing.sku.sku_code,
            status=status,
            amount_fen=rp.amount,
            quantity=rp.quantity,
            with_return=rp.with_return,
            reason=rp.reason,
            created_at=_dt(rp.requested),
            modified_at=_dt(modified),
            resolved_at=resolved_at,
            line_paid_fen=line.paid,
        )

    def refund(self, refund_id: str) -> FakeRefund | None:
        if not refund_id.isdigit():
            return None
        index = int(refund_id) - self._refund_base
        if not 0 <= index < len(self._created):
            return None
        return self._refund_of(index, self._now())

    def refunds_modified(self, start: datetime, end: datetime) -> list[FakeRefund]:
        """Refunds whose modified time (as of now) lies in [start, end), modified asc, then id."""
        now = self._now()
        lo, hi = _ceil_seconds(start), _ceil_seconds(end)
        if self._retain:
            rows = self._refund_rows(now)
            return [row[2] for row in rows[bisect_left(rows, (lo,)) : bisect_left(rows, (hi,))]]
        found: list[tuple[int, str, FakeRefund]] = []
        for index in self._candidates(lo, hi, now):
            refund = self._refund_of(index, now)
            if refund is not None:
                modified = int(refund.modified_at.timestamp())
                if lo <= modified < hi:
                    found.append((modified, refund.refund_id, refund))
        found.sort(key=lambda row: (row[0], row[1]))
        return [refund for _, _, refund in found]

    # ----------------------------------------------------------------- public: settlements

    def settlements(self, start: datetime, end: datetime) -> list[FakeSettlementLine]:
        """Settlement lines with settled_at in [start, end) and by now, by time then bill id."""
        now = self._now()
        lo = _ceil_seconds(start)
        hi = min(_ceil_seconds(end), now + 1)
        if hi <= lo:
            return []
        keys = self._settles
        first = bisect_left(keys, (lo - self._base) << _INDEX_BITS)
        last = bisect_left(keys, (hi - self._base) << _INDEX_BITS)
        out: list[FakeSettlementLine] = []
        for index in sorted({keys[k] & _INDEX_MASK for k in range(first, last)}):
            out.extend(line for line in self._settlement_lines(index) if lo <= line.settled_at.timestamp() < hi)
        out.sort(key=lambda line: (line.settled_at, line.bill_id))
        return out

    def _settlement_lines(self, index: int) -> list[FakeSettlementLine]:
        """An order's bill lines; bill id = bill base + 16 * index + a fixed slot per line kind."""
        plan = self._cached_plan(index)
        if plan.finished is None:
            return []
        order_id = self._order_id(index)
        bill = self._bill_base + index * 16
        at = _dt(plan.finished + _DAY)
        session = self._sessions[plan.session] if plan.session is not None else None
        out: list[FakeSettlementLine] = []
        for line_no, line in enumerate(plan.lines):
            listing = self._listings[line.listing]
            room = session.room_id if line.live and session is not None else None
            rows: list[tuple[int, SettlementKind, int, int | None]] = [(0, SettlementKind.SALE, line.paid, None)]
            if self._fee_bp:
                fee = -pro_rata(line.paid, self._fee_bp, 10000)
                rows.append((1, SettlementKind.PLATFORM_FEE, fee, self._fee_bp))
            if room is not None:
                commission = -pro_rata(line.paid, HOST_COMMISSION_BP, 10000)
                rows.append((2, SettlementKind.HOST_COMMISSION, commission, HOST_COMMISSION_BP))
            for slot, kind, amount, rate in rows:
                out.append(
                    FakeSettlementLine(
                        bill_id=str(bill + 3 * line_no + slot),
                        kind=kind,
                        amount_fen=amount,
                        settled_at=at,
                        order_id=order_id,
                        line_id=self._line_id(index, line_no),
                        item_id=listing.item_id,
                        sku_id=listing.sku_id,
                        rate_bp=rate,
                        room_id=room,
                    )
                )
        if plan.post_fee:
            out.append(
                FakeSettlementLine(
                    str(bill + 9), SettlementKind.SALE, plan.post_fee, at, order_id, None, None, None, None
                )
            )
        payment_fee = -pro_rata(plan.paid_total, PAYMENT_FEE_BP, 10000)
        out.append(
            FakeSettlementLine(
                str(bill + 10),
                SettlementKind.PAYMENT_FEE,
                payment_fee,
                at,
                order_id,
                None,
                None,
                None,
                PAYMENT_FEE_BP,
            )
        )
        rp = plan.refund
        if rp is not None and rp.outcome is RefundStatus.SUCCEEDED:
            listing = self._listings[plan.lines[rp.line_no].listing]
            out.append(
                FakeSettlementLine(
                    bill_id=str(bill + 11),
                    kind=SettlementKind.REFUND,
                    amount_fen=-rp.amount,
                    settled_at=_dt(max(plan.finished, rp.resolved) + _DAY),
                    order_id=order_id,
                    line_id=self._line_id(index, rp.line_no),
                    item_id=listing.item_id,
                    sku_id=listing.sku_id,
                    rate_bp=None,
                    refund_id=self._refund_id(index),
                )
            )
        return out

    # ----------------------------------------------------------------- public: live sessions

    def live_sessions(self, start: datetime, end: datetime) -> list[FakeLiveSession]:
        """Sessions started in [start, end) and by now, by start time."""
        now = self._now()
        lo, hi = _ceil_seconds(start), min(_ceil_seconds(end), now + 1)
        first = bisect_left(self._session_starts, lo)
        last = bisect_left(self._session_starts, hi)
        return [self._live_session_at(k, now) for k in range(first, last)]

    def live_session(self, room_id: str) -> FakeLiveSession | None:
        now = self._now()
        for k, session in enumerate(self._sessions):
            if session.room_id == room_id and session.start <= now:
                return self._live_session_at(k, now)
        return None

    def _live_session_at(self, pos: int, now: int) -> FakeLiveSession:
        session = self._sessions[pos]
        visible_end = min(session.end, now + 1)
        # room-attributed sales of orders created during the session, paid by now
        gmv_by_minute: dict[int, int] = {}
        orders_by_minute: dict[int, int] = {}
        buyers_by_minute: dict[int, set[int]] = {}
        seen_buyers: set[int] = set()
        lo = bisect_left(self._created, session.start)
        hi = bisect_left(self._created, visible_end)
        for index in range(lo, hi):
            plan = self._cached_plan(index)
            if plan.session != pos or plan.paid is None or plan.paid > now:
                continue
            minute = (plan.created - session.start) // _MINUTE
            gmv_by_minute[minute] = gmv_by_minute.get(minute, 0) + sum(line.paid for line in plan.lines if line.live)
            orders_by_minute[minute] = orders_by_minute.get(minute, 0) + 1
            if plan.buyer not in seen_buyers:
                seen_buyers.add(plan.buyer)
                buyers_by_minute.setdefault(minute, set()).add(plan.buyer)
        rng = random.Random(f"{self._key}:minutes:{session.room_id}")
        total_minutes = (session.end - session.start + _MINUTE - 1) // _MINUTE
        minutes: list[FakeLiveMinute] = []
        views = peak = watch = 0
        for minute in range(total_minutes):
            shape = min(1.0, (minute + 1) / 15, (total_minutes - minute) / 10)
            online = max(1, int(session.peak * shape * (0.85 + 0.3 * rng.random())))
            entries = max(0, int(online * (0.15 + 0.1 * rng.random())))
            minute_at = session.start + minute * _MINUTE
            if minute_at > now:
                break
            views += entries
            peak = max(peak, online)
            watch += online * _MINUTE
            minutes.append(
                FakeLiveMinute(
                    minute_at=_dt(minute_at),
                    online=online,
                    views=entries,
                    new_buyers=len(buyers_by_minute.get(minute, ())),
                    orders=orders_by_minute.get(minute, 0),
                    gmv_fen=gmv_by_minute.get(minute, 0),
                )
            )
        explanations = tuple(
            FakeExplanation(
                item_id=self._listings[listing].item_id,
                sku_id=self._listings[listing].sku_id,
                sku_code=self._listings[listing].sku.sku_code,
                started_at=_dt(start),
                ended_at=_dt(min(end, now)),
            )
            for start, end, listing in session.explanations
            if start <= now
        )
        ended = session.end <= now
        return FakeLiveSession(
            room_id=session.room_id,
            author_id=session.author_id,
            host_name=session.host_name,
            title=session.title,
            started_at=_dt(session.start),
            ended_at=_dt(session.end) if ended else None,
            modified_at=_dt(session.end if ended else min(now, session.end)),
            views=views,
            unique_viewers=views * 7 // 10,
            peak_online=peak,
            total_watch_seconds=watch,
            gmv_fen=sum(m.gmv_fen for m in minutes),
            orders=sum(m.orders for m in minutes),
            minutes=tuple(minutes),
            explanations=explanations,
        )

    def campaigns(self) -> list[FakeCampaign]:
        return list(self._campaigns)

    # ----------------------------------------------------------------- public: truth

    def truth(self) -> dict[str, int]:
        """What a complete sync must have seen, as of now (docs/connectors.md)."""
        now = self._now()
        created = bisect_right(self._created, now)
        limit = ((now + 1 - self._base) << _INDEX_BITS) if now + 1 > self._base else 0
        paid = bisect_left(self._paid_keys, limit)
        refunds_ok = bisect_left(self._refund_ok_keys, limit)
        counts = {
            "orders": created,
            "order_lines": self._lines_prefix[created],
            "refunds": bisect_right(self._refund_created, now),
            "paid_fen": self._paid_prefix[paid],
            "refunded_fen": self._refund_ok_prefix[refunds_ok],
        }
        for order in self._placed.values():
            if order.created_at.timestamp() <= now:
                counts["orders"] += 1
                counts["order_lines"] += len(order.lines)
                counts["paid_fen"] += order.paid_fen
        return counts

    def records(self) -> dict[str, dict[str, tuple[str, int]]]:
        """Every order and refund as of now: ``{"orders"|"refunds": {id: (status, modified epoch s)}}``.

        The latest version of each record, for checking that a sync holds no stale copy
        (O(n): each order is rebuilt; meant for acceptance checks, not for hot paths).
        """
        orders: dict[str, tuple[str, int]] = {}
        refunds: dict[str, tuple[str, int]] = {}
        for order in self.orders_created(_dt(self._base), _dt(self._now() + 1)):
            orders[order.order_id] = (order.status.value, int(order.modified_at.timestamp()))
            for refund in order.refunds:
                refunds[refund.refund_id] = (refund.status.value, int(refund.modified_at.timestamp()))
        return {"orders": orders, "refunds": refunds}

    # ----------------------------------------------------------------- public: sales placed now

    @property
    def placed_count(self) -> int:
        """How many orders buyers have placed (a cache of query results must key on it)."""
        return len(self._placed)

    def place_order(self, item_id: str, sku_id: str | None, quantity: int, buyer: str | None = None) -> FakeOrder:
        """A buyer's order placed and paid now: one line of ``quantity`` units of the SKU.

        Atomic on the world's event loop (nothing here awaits): the SKU's stock is checked and
        decremented and the order recorded in one step, so concurrent buyers can never take
        more than the stock. Short stock, an unknown item/SKU or a quantity below 1 raises
        :class:`StockError` and changes nothing. The order is paid at the catalogue price, has
        no coupon, post fee, refund or settlement, and stays ``paid``; it shows in
        :meth:`order`, :meth:`orders_modified`, :meth:`orders_created` and :meth:`truth` like a
        generated order. Its id continues the shop's order ids (after the generated ones).
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise StockError(f"quantity must be a positive int, got {quantity!r}")
        item_key, sku_key = self._stock_key(item_id, sku_id)
        listing = next(self._listings[k] for k in self._item_skus[item_key] if self._listings[k].sku_id == sku_key)
        self.adjust_stock(item_key, sku_key, -quantity)
        now = self._now()
        at = _dt(now)
        index = len(self._created) + len(self._placed)
        order_id = self._order_id(index)
        price = listing.sku.price_fen
        line = FakeOrderLine(
            line_id=self._line_id(index, 0),
            item_id=item_key,
            sku_id=sku_key,
            sku_code=listing.sku.sku_code,
            spu_code=listing.sku.spu_code,
            title=listing.sku.title,
            spec=listing.sku.spec,
            quantity=quantity,
            price_fen=price,
            unit_price_fen=price,
            total_fen=price * quantity,
            discount_fen=0,
            paid_fen=price * quantity,
            refund_state=LineRefundState.NONE,
            refunded_fen=0,
            refund_id=None,
        )
        tag = buyer or f"{index:07d}"
        order = FakeOrder(
            index=index,
            order_id=order_id,
            shop_id=self.shop_id,
            status=OrderStatus.PAID,
            created_at=at,
            modified_at=at,
            paid_at=at,
            cancelled_at=None,
            shipped_at=None,
            finished_at=None,
            closed_at=None,
            total_fen=line.total_fen,
            discount_fen=0,
            post_fee_fen=0,
            paid_fen=line.paid_fen,
            lines=(line,),
            refunds=(),
            buyer_id=f"fake_buyer_{self._buyer_tag}{tag}",
            buyer_nick=f"fake_nick_{tag}",
            logistics_company=None,
            tracking_no=None,
        )
        self._placed[order_id] = order
        return order

    def ship(self, order_id: str, company: str, tracking_no: str) -> FakeOrder:
        """The seller ships the order now with ``company``'s ``tracking_no``: the order becomes
        ``shipped`` (its modified time now), so the next order sync sees it shipped. Only a paid
        order without a refund under way ships; anything else raises :class:`ShipError` and
        changes nothing (the platform fakes map the reason to their business errors)."""
        order = self.order(order_id)
        if order is None:
            raise ShipError("not_found", f"order {order_id} not found")
        if order.tracking_no is not None:
            raise ShipError("shipped", f"order {order_id} already shipped", order.logistics_company, order.tracking_no)
        if order.status is OrderStatus.PENDING_PAYMENT:
            raise ShipError("unpaid", f"order {order_id} is not paid")
        if order.status is not OrderStatus.PAID:
            raise ShipError("closed", f"order {order_id} is {order.status.value}")
        if any(line.refund_state is not LineRefundState.NONE for line in order.lines):
            raise ShipError("refunding", f"order {order_id} has a refund")
        now = self._now()
        if order_id in self._placed:
            placed = self._placed[order_id]
            at = _dt(now)
            shipped = replace(
                placed,
                status=OrderStatus.SHIPPED,
                shipped_at=at,
                modified_at=max(placed.modified_at, at),
                logistics_company=company,
                tracking_no=tracking_no,
            )
            self._placed[order_id] = shipped
            self._revision += 1
            return shipped
        self._shipments[order.index] = (now, company, tracking_no)
        self._touched[order.index] = max(now, self._touched.get(order.index, now))
        self._revision += 1
        return self._order_at(order.index, now)

    def _placed_visible(self, order_id: str, now: int) -> FakeOrder | None:
        order = self._placed.get(order_id)
        if order is None or order.created_at.timestamp() > now:
            return None
        return order

    def _touch_placed(self, order_id: str, now: int) -> FakeOrder:
        order = self._placed[order_id]
        touched = replace(order, modified_at=max(order.modified_at, _dt(now)))
        self._placed[order_id] = touched
        self._revision += 1
        return touched

    def _with_placed(self, orders: list[FakeOrder], lo: int, hi: int, now: int, *, by_created: bool) -> list[FakeOrder]:
        """``orders`` plus the placed orders created (or modified) in [lo, min(hi, now + 1)),
        in the same order as the generated ones: by that time, then by id."""
        hi = min(hi, now + 1)
        extra = [
            order
            for order in self._placed.values()
            if order.created_at.timestamp() <= now
            and lo <= (order.created_at if by_created else order.modified_at).timestamp() < hi
        ]
        if not extra:
            return orders
        merged = orders + extra
        merged.sort(key=lambda o: ((o.created_at if by_created else o.modified_at), int(o.order_id)))
        return merged


__all__ = [
    "HOST_COMMISSION_BP",
    "PAYMENT_FEE_BP",
    "PLATFORM_FEE_BP",
    "PURCHASING_UNITS",
    "SHANGHAI",
    "FakeCampaign",
    "FakeExplanation",
    "FakeItem",
    "FakeLiveMinute",
    "FakeLiveSession",
    "FakeOrder",
    "FakeOrderLine",
    "FakeRefund",
    "FakeSettlementLine",
    "FakeSku",
    "FakeWorld",
    "ShipError",
    "StockError",
]
