"""The hub's store: SQLAlchemy 2 typed models. Import this package to register every table."""

from bangfu.models.accounting import (
    CooperativeDayGroup,
    CooperativeDayTotal,
    CooperativeGroupDirty,
    CooperativeLineFact,
    HouseholdDailyIncome,
    LineAccounting,
    LineAttribution,
    LineChange,
    LineHouseholdCredit,
    ReconciliationEvent,
    ReconciliationException,
    ReconciliationResult,
    RefundPosting,
    SurplusDistribution,
)
from bangfu.models.agreements import Agreement, AgreementItem
from bangfu.models.alerts import Alert
from bangfu.models.base import Base
from bangfu.models.catalog import Certification, Product, Sku
from bangfu.models.certification import SupplierCertification
from bangfu.models.channels import (
    ChannelPrice,
    Listing,
    PricePush,
    PurchasingUnit,
    ReservedShareRule,
    Shop,
    UnitTarget,
    is_on_a_platform,
    on_a_platform,
)
from bangfu.models.county import CampaignGroup, MonitoringLine, UnitKind
from bangfu.models.drives import DividendPool, DriveEntry, DriveHousehold, DriveMode
from bangfu.models.ledger import Journal, LedgerAccount, LedgerAdjustment, LedgerChainHead, Posting
from bangfu.models.live import ExplanationWindow, Host, LiveMinuteStat, LiveSession
from bangfu.models.mall import MallOrder, MallPaymentEvent
from bangfu.models.orders import (
    TRIGGER_CHECKED_REFERENCES,
    Order,
    OrderLine,
    Refund,
    SettlementLine,
    order_is_paid,
    schema_comparison_filter,
)
from bangfu.models.org import Cooperative, Household, MemberAccount, Region, SplitPolicy, Supplier
from bangfu.models.planting import PlantingContract, PlantingHistory
from bangfu.models.session_summary import SessionLineFacts, SessionSummary, SessionSummaryDirty
from bangfu.models.shipping import DeliveryBatch, DeliveryBatchOrder, Shipment
from bangfu.models.stock import LotAllocation, StockPush, StockReservation, StockRule, WebhookEvent
from bangfu.models.supply import LotContribution, SupplyLot
from bangfu.models.sync import QuarantinedRecord, QuarantineRefetch, SyncCursor, SyncRun
from bangfu.models.tasks import LedgerTask, TaskProgress
from bangfu.models.web import ApiToken, LoginFailure, User, UserShop, WebSession

__all__ = [
    "TRIGGER_CHECKED_REFERENCES",
    "Agreement",
    "AgreementItem",
    "Alert",
    "ApiToken",
    "Base",
    "CampaignGroup",
    "Certification",
    "ChannelPrice",
    "Cooperative",
    "CooperativeDayGroup",
    "CooperativeDayTotal",
    "CooperativeGroupDirty",
    "CooperativeLineFact",
    "DeliveryBatch",
    "DeliveryBatchOrder",
    "DividendPool",
    "DriveEntry",
    "DriveHousehold",
    "DriveMode",
    "ExplanationWindow",
    "Host",
    "Household",
    "HouseholdDailyIncome",
    "Journal",
    "LedgerAccount",
    "LedgerAdjustment",
    "LedgerChainHead",
    "LedgerTask",
    "LineAccounting",
    "LineAttribution",
    "LineChange",
    "LineHouseholdCredit",
    "Listing",
    "LiveMinuteStat",
    "LiveSession",
    "LoginFailure",
    "LotAllocation",
    "LotContribution",
    "MallOrder",
    "MallPaymentEvent",
    "MemberAccount",
    "MonitoringLine",
    "Order",
    "OrderLine",
    "PlantingContract",
    "PlantingHistory",
    "Posting",
    "PricePush",
    "Product",
    "PurchasingUnit",
    "QuarantineRefetch",
    "QuarantinedRecord",
    "ReconciliationEvent",
    "ReconciliationException",
    "ReconciliationResult",
    "Refund",
    "RefundPosting",
    "Region",
    "ReservedShareRule",
    "SessionLineFacts",
    "SessionSummary",
    "SessionSummaryDirty",
    "SettlementLine",
    "Shipment",
    "Shop",
    "Sku",
    "SplitPolicy",
    "StockPush",
    "StockReservation",
    "StockRule",
    "Supplier",
    "SupplierCertification",
    "SupplyLot",
    "SurplusDistribution",
    "SyncCursor",
    "SyncRun",
    "TaskProgress",
    "UnitKind",
    "UnitTarget",
    "User",
    "UserShop",
    "WebSession",
    "WebhookEvent",
    "is_on_a_platform",
    "on_a_platform",
    "order_is_paid",
    "schema_comparison_filter",
]
