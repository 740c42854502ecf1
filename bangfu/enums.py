"""The hub's own vocabularies. Platform enums are mapped onto these by each connector.

Stored as plain strings (non-native enums) so the same migrations run on SQLite and
PostgreSQL and a new member needs no schema change.
"""

from __future__ import annotations

from enum import StrEnum


class PlatformKind(StrEnum):
    TAOBAO = "taobao"
    TMALL = "tmall"
    JD = "jd"
    DOUYIN = "douyin"
    KUAISHOU = "kuaishou"
    YOUZAN = "youzan"
    SELFMALL = "selfmall"
    # Channels without an API: their sales arrive as files (``bangfu import sales``) into the
    # same store and ledger. The 832 platform is online but offers counties exports only.
    COUNTER = "counter"  # 专柜/专区
    VENDING = "vending"  # canteen vending machines
    COMMUNITY = "community"  # community stores
    FAIR = "fair"  # fairs, 展销会
    CANTEEN = "canteen"  # canteen purchasing
    UNION = "union"  # union purchasing
    PLATFORM_832 = "832"

    @property
    def is_offline(self) -> bool:
        """No API: never synced; sales come in by ``bangfu import sales``."""
        return self in OFFLINE_CHANNELS


class ChannelType(StrEnum):
    """Channel types a county sales ledger reports by (DOMAIN.md report 1)."""

    ECOMMERCE = "ecommerce"
    LIVE = "live"
    SELFMALL = "selfmall"
    PLATFORM_832 = "832"
    CANTEEN = "canteen"
    UNION = "union"
    COUNTER = "counter"
    VENDING = "vending"
    COMMUNITY = "community"
    FAIR = "fair"


#: The offline (file-fed) platform kinds and the channel type each reports under (same value).
OFFLINE_CHANNELS: dict[PlatformKind, ChannelType] = {
    PlatformKind.COUNTER: ChannelType.COUNTER,
    PlatformKind.VENDING: ChannelType.VENDING,
    PlatformKind.COMMUNITY: ChannelType.COMMUNITY,
    PlatformKind.FAIR: ChannelType.FAIR,
    PlatformKind.CANTEEN: ChannelType.CANTEEN,
    PlatformKind.UNION: ChannelType.UNION,
    PlatformKind.PLATFORM_832: ChannelType.PLATFORM_832,
}
#: Their stored values, for SQL filters (``Shop.platform.not_in(OFFLINE_PLATFORMS)``).
OFFLINE_PLATFORMS: tuple[str, ...] = tuple(kind.value for kind in OFFLINE_CHANNELS)


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CANCELLED = "cancelled"  # closed before payment, never ships
    PAID = "paid"
    PART_SHIPPED = "part_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CLOSED = "closed"  # closed after payment (fully refunded)

    @property
    def rank(self) -> int:
        """Lifecycle position: an upsert never replaces a higher rank with a lower one."""
        return _ORDER_RANK[self]

    @property
    def is_paid(self) -> bool:
        """The buyer paid: every status but awaiting payment and cancelled before payment (an
        order closed after payment was paid). The one "is paid" rule; SQL filters use
        :data:`UNPAID_ORDER_STATUSES` through :func:`bangfu.models.order_is_paid`."""
        return self not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)


#: The stored values of the statuses that are not :attr:`OrderStatus.is_paid`, for SQL filters.
UNPAID_ORDER_STATUSES: tuple[str, ...] = tuple(status.value for status in OrderStatus if not status.is_paid)

_ORDER_RANK = {
    OrderStatus.PENDING_PAYMENT: 0,
    OrderStatus.CANCELLED: 10,
    OrderStatus.PAID: 20,
    OrderStatus.PART_SHIPPED: 25,
    OrderStatus.SHIPPED: 30,
    OrderStatus.DELIVERED: 40,
    OrderStatus.COMPLETED: 50,
    OrderStatus.CLOSED: 60,
}


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    AWAITING_RETURN = "awaiting_return"
    AWAITING_CONFIRM = "awaiting_confirm"
    REFUSED = "refused"
    SUCCEEDED = "succeeded"
    CLOSED = "closed"  # withdrawn or cancelled; no money moved

    @property
    def rank(self) -> int:
        return _REFUND_RANK[self]


_REFUND_RANK = {
    RefundStatus.REQUESTED: 0,
    RefundStatus.AWAITING_RETURN: 10,
    RefundStatus.AWAITING_CONFIRM: 20,
    RefundStatus.REFUSED: 30,
    RefundStatus.SUCCEEDED: 90,
    RefundStatus.CLOSED: 90,
}


class LineRefundState(StrEnum):
    NONE = "none"
    IN_PROGRESS = "in_progress"
    PARTIAL = "partial"
    FULL = "full"


class SettlementKind(StrEnum):
    """One settlement-bill line's nature; fees are negative amounts in the payout."""

    SALE = "sale"
    REFUND = "refund"
    PLATFORM_FEE = "platform_fee"
    HOST_COMMISSION = "host_commission"
    PAYMENT_FEE = "payment_fee"
    LOGISTICS = "logistics"
    SUBSIDY = "subsidy"
    OTHER = "other"


class HouseholdCategory(StrEnum):
    LIFTED = "lifted"  # 脱贫户
    MONITORED = "monitored"  # 监测户
    ORDINARY = "ordinary"  # 一般农户

    @property
    def is_priority(self) -> bool:
        return self is not HouseholdCategory.ORDINARY


class SupplierKind(StrEnum):
    COOPERATIVE = "cooperative"
    ENTERPRISE = "enterprise"


class UnitType(StrEnum):
    GOVERNMENT = "government"
    HOSPITAL = "hospital"
    SCHOOL = "school"
    UNION = "union"
    COMPANY = "company"
    CANTEEN = "canteen"
    OTHER = "other"


class CertificationStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


class HostKind(StrEnum):
    OFFICIAL = "official"  # county official, no commission
    INFLUENCER = "influencer"
    STAFF = "staff"


class AttributionConfidence(StrEnum):
    EXACT = "exact"
    LINK = "link"
    INFERRED = "inferred"
    NONE = "none"


class SyncStream(StrEnum):
    ORDERS = "orders"
    REFUNDS = "refunds"
    PRODUCTS = "products"
    SETTLEMENTS = "settlements"
    LIVE_SESSIONS = "live_sessions"


class ErrorClass(StrEnum):
    """What to do next about a platform error (see connectors.errors)."""

    AUTH = "auth"  # fatal: stop this shop, alert
    RATE_LIMIT = "rate_limit"  # retriable after the platform's ban hint
    TRANSIENT = "transient"  # retriable with backoff
    BAD_RECORD = "bad_record"  # skippable: quarantine the record, go on
    BAD_REQUEST = "bad_request"  # our bug: stop the stream, alert


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"
    EQUITY = "equity"


class JournalKind(StrEnum):
    SALE = "sale"
    REFUND = "refund"
    SETTLEMENT = "settlement"
    TRUE_UP = "true_up"
    SURPLUS = "surplus"
    ADJUSTMENT = "adjustment"


class UserRole(StrEnum):
    """Console roles; each but ``admin`` sees one scope (ARCHITECTURE.md "Who uses it")."""

    ADMIN = "admin"
    OPERATOR = "operator"  # all shops, or the shops named for the user
    HOST = "host"  # one host's sessions
    COOPERATIVE = "cooperative"  # one cooperative's households, lots, journals and income
    COUNTY = "county"  # a region (county office)
    UNIT = "unit"  # one purchasing unit


class Carrier(StrEnum):
    """Express carriers the county ships with, by the hub's own code; each connector maps them
    to its platform's carrier code (TOP ``company_code``, JOS ``logiCoprId`` ...)."""

    SF = "SF"  # 顺丰速运
    ZTO = "ZTO"  # 中通快递
    YTO = "YTO"  # 圆通速递
    STO = "STO"  # 申通快递
    YUNDA = "YUNDA"  # 韵达快递
    EMS = "EMS"  # 中国邮政EMS
    POSTB = "POSTB"  # 邮政快递包裹
    JD = "JD"  # 京东快递

    @property
    def label(self) -> str:
        return _CARRIER_LABELS[self]


_CARRIER_LABELS: dict[Carrier, str] = {
    Carrier.SF: "顺丰速运",
    Carrier.ZTO: "中通快递",
    Carrier.YTO: "圆通速递",
    Carrier.STO: "申通快递",
    Carrier.YUNDA: "韵达快递",
    Carrier.EMS: "中国邮政EMS",
    Carrier.POSTB: "邮政快递包裹",
    Carrier.JD: "京东快递",
}


class ShipmentState(StrEnum):
    """A shipment's push to its order's platform (``shipments.push_state``)."""

    PENDING = "pending"  # to push (again at ``next_attempt_at``)
    PUSHED = "pushed"  # the platform has the order shipped with this tracking number
    FAILED = "failed"  # the platform refused it (bad record, auth, a conflict): an operator acts
    LOCAL = "local"  # no platform to tell (the county's own mall, offline): nothing to push
