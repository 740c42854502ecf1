"""County reports (DOMAIN.md "Reports a county expects"), each a function returning a :class:`Report`.

``REPORTS`` names them as the CLI does: ``session-review``, ``household-income``,
``households-driven``, ``member-accounts``, ``reserved-share``, ``unsold``, ``sales-ledger``.
Writers for the terminal, CSV and XLSX are in :mod:`bangfu.reports.writers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.reports.base import Column, Period, Report, parse_period

REPORT_NAMES = (
    "session-review",
    "household-income",
    "households-driven",
    "member-accounts",
    "reserved-share",
    "unsold",
    "sales-ledger",
)


@dataclass(frozen=True)
class ReportRequest:
    name: str
    period: Period
    now: datetime
    shop_id: int | None = None
    cooperative_id: int | None = None
    session_id: int | None = None


async def build_report(conn: AsyncConnection, request: ReportRequest) -> Report:
    """Run the named report."""
    from bangfu.reports.households import household_income, households_driven, member_accounts
    from bangfu.reports.reserved import reserved_share
    from bangfu.reports.sales_ledger import sales_ledger
    from bangfu.reports.sessions import session_review
    from bangfu.reports.unsold import unsold

    period, coop = request.period, request.cooperative_id
    match request.name:
        case "session-review":
            return await session_review(conn, period, shop_id=request.shop_id, session_id=request.session_id)
        case "household-income":
            return await household_income(conn, period, cooperative_id=coop)
        case "households-driven":
            return await households_driven(conn, period, cooperative_id=coop)
        case "member-accounts":
            return await member_accounts(conn, period, cooperative_id=coop)
        case "reserved-share":
            return await reserved_share(conn, period)
        case "unsold":
            return await unsold(conn, now=request.now)
        case "sales-ledger":
            return await sales_ledger(conn, period, shop_id=request.shop_id, cooperative_id=coop)
    raise UserError(t("report.unknown", name=request.name, known=", ".join(REPORT_NAMES)))


__all__ = ["REPORT_NAMES", "Column", "Period", "Report", "ReportRequest", "build_report", "parse_period"]
