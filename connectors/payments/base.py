"""What the mall needs of a payment provider (WeChat Pay v3, Alipay and the like).

A provider creates a payment for an order and hands back the URL the buyer pays at; later it
tells the mall the outcome in a signed notification to the mall's notify URL (which may come
twice, late, or out of order, or never), and answers a query by the mall's order number.
Refunds go back through it. The mall marks an order paid only on a verified notification or a
query, and only when the amount is the order's (:mod:`bangfu.mall`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["BadSignature", "PayIntent", "PayNotice", "PayStatus", "PaymentError", "PaymentProvider", "RefundResult"]

SUCCESS = "SUCCESS"  # trade state of a paid order (WeChat Pay's name; Alipay's TRADE_SUCCESS maps to it)


class PaymentError(Exception):
    """The provider refused a request or could not be reached."""


class BadSignature(PaymentError):
    """A notification whose signature (or timestamp) does not verify: never acted on."""


@dataclass(frozen=True, slots=True)
class PayIntent:
    prepay_id: str
    pay_url: str


@dataclass(frozen=True, slots=True)
class PayNotice:
    """A verified notification."""

    event_id: str
    event_type: str  # TRANSACTION.SUCCESS | TRANSACTION.NOTPAY | REFUND.SUCCESS ...
    order_no: str
    trade_state: str  # SUCCESS | NOTPAY | CLOSED | REFUND ...
    amount_fen: int
    txn_id: str | None
    paid_at: datetime | None

    @property
    def paid(self) -> bool:
        return self.trade_state == SUCCESS and self.event_type == "TRANSACTION.SUCCESS"


@dataclass(frozen=True, slots=True)
class PayStatus:
    """The provider's answer to a query by order number."""

    order_no: str
    trade_state: str
    amount_fen: int
    txn_id: str | None
    paid_at: datetime | None

    @property
    def paid(self) -> bool:
        return self.trade_state == SUCCESS


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_no: str  # ours
    refund_id: str  # the provider's
    status: str  # SUCCESS | PROCESSING | ABNORMAL
    amount_fen: int


class PaymentProvider(Protocol):
    """A payment provider as the mall uses it."""

    name: str

    async def create_payment(
        self, order_no: str, amount_fen: int, description: str, *, notify_url: str, return_url: str
    ) -> PayIntent: ...

    def verify_notify(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> PayNotice:
        """The notification, verified; :class:`BadSignature` when it does not verify."""
        ...

    async def query(self, order_no: str) -> PayStatus: ...

    async def refund(
        self, order_no: str, refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult: ...
