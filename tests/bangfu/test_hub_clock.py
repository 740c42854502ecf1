"""The one time zone, clock and "is paid" rule (bangfu.clock, OrderStatus.is_paid)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import sqlite

from bangfu.clock import SHANGHAI, utcnow
from bangfu.enums import UNPAID_ORDER_STATUSES, OrderStatus
from bangfu.models import order_is_paid
from bangfu.reports.base import SHANGHAI as REPORTS_SHANGHAI


def test_shanghai_is_eight_hours_ahead_of_utc_all_year() -> None:
    for month in (1, 7):  # no daylight saving: the same offset in winter and in summer
        moment = datetime(2026, month, 1, 16, 30, tzinfo=UTC)
        assert moment.astimezone(SHANGHAI).utcoffset() == timedelta(hours=8)
    # 16:30 UTC on the last day of a month is already the next local day (and month)
    assert datetime(2026, 1, 31, 16, 30, tzinfo=UTC).astimezone(SHANGHAI).date().isoformat() == "2026-02-01"
    assert REPORTS_SHANGHAI is SHANGHAI


def test_utcnow_is_aware_and_in_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)


def test_paid_means_every_status_but_awaiting_payment_and_cancelled_before_payment() -> None:
    assert {s for s in OrderStatus if not s.is_paid} == {OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED}
    assert OrderStatus.CLOSED.is_paid  # closed after payment (refunded): it was paid
    assert set(UNPAID_ORDER_STATUSES) == {s.value for s in OrderStatus if not s.is_paid}


def test_the_sql_filter_is_the_same_rule_and_needs_a_payment_time() -> None:
    sql = str(order_is_paid().compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert "orders.paid_at IS NOT NULL" in sql
    assert "orders.status NOT IN ('pending_payment', 'cancelled')" in sql
