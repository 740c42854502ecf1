"""Household income (per month), households driven (带农增收表) and cooperative member accounts.

A household's income is what the ledger credited to its accounts: the rebate
(``household:<id>``), the priority bonus (``household:<id>:bonus``) and the guaranteed price
recovered from sales (``household:<id>:advance``). The guarantee was paid to the household in
cash at delivery; when a sale covers it the cooperative recovers its advance, and that part of
the sale is the household's income already received, so it counts here (at the sale, not at
delivery, so nothing is counted twice). Refund journals debit the same accounts back, dated when
the refund happened, so income is net of refunds month by month. Year-end surplus (patronage)
returns count too. Settlement journals (paying out what is owed) are not income and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.i18n import t
from bangfu.models import (
    Cooperative,
    Household,
    Journal,
    LedgerAccount,
    MemberAccount,
    Posting,
    Supplier,
    SurplusDistribution,
)
from bangfu.privacy import mask_name
from bangfu.reports.base import Column, Period, Report, column, div_round, local_midnight, local_month, totals_of

INCOME_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP, JournalKind.SURPLUS)
TRADE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)


def category_label(category: HouseholdCategory | str) -> str:
    return t(f"report.category.{HouseholdCategory(category).value}")


async def income_by_household(
    conn: AsyncConnection,
    period: Period,
    *,
    cooperative_id: int | None = None,
    kinds: Iterable[JournalKind] = INCOME_JOURNALS,
) -> dict[int, dict[str, int]]:
    """Income per household id per local month (``YYYY-MM``), in fen, net of refunds."""
    month = local_month(conn, Journal.occurred_at)
    query = (
        select(LedgerAccount.owner_id, month, func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.owner_type == "household",
            Journal.kind.in_(list(kinds)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
        .group_by(LedgerAccount.owner_id, month)
    )
    if cooperative_id is not None:
        query = query.join(Household, Household.id == LedgerAccount.owner_id).where(
            Household.cooperative_id == cooperative_id
        )
    out: dict[int, dict[str, int]] = {}
    for owner, mon, total in await conn.execute(query):
        if owner is not None and total:
            out.setdefault(int(owner), {})[str(mon)] = -int(total)  # credits are negative
    return out


async def _households(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Any]:
    query = (
        select(Household, Supplier.name.label("cooperative_name"))
        .join(Cooperative, Cooperative.id == Household.cooperative_id)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .where(Household.id.in_(list(ids)))
    )
    return {row.id: row for row in await conn.execute(query)}


async def household_income(conn: AsyncConnection, period: Period, *, cooperative_id: int | None = None) -> Report:
    income = await income_by_household(conn, period, cooperative_id=cooperative_id)
    households = await _households(conn, income)
    months = period.months()
    rows: list[dict[str, Any]] = []
    for hid in sorted(income, key=lambda h: (households[h].cooperative_id, households[h].member_no, h)):
        h = households[hid]
        row: dict[str, Any] = {
            "household": hid,
            "member_no": h.member_no,
            "name": mask_name(h.head_name),
            "category": category_label(h.category),
            "cooperative": h.cooperative_name,
            "village": h.village,
        }
        for m in months:
            row[f"m:{m}"] = income[hid].get(m, 0)
        row["income"] = sum(income[hid].values())
        rows.append(row)
    columns = [
        column("household", "int"),
        column("member_no"),
        column("name"),
        column("category"),
        column("cooperative"),
        column("village"),
    ]
    if len(months) > 1:
        columns += [Column(f"m:{m}", m, "money") for m in months]
    columns.append(column("income", "money"))
    totals: dict[str, Any] = {"household": t("report.total")}
    totals |= totals_of(rows, [c.key for c in columns if c.kind == "money"])
    title = t("report.title.household-income", period=period.label)
    return Report("household-income", title, columns, rows, totals)


def wan_yuan(fen: int) -> Decimal:
    """Fen in 万元 (ten thousand yuan), rounded half up to two decimals."""
    return (Decimal(fen) / Decimal(1_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def households_driven(conn: AsyncConnection, period: Period, *, cooperative_id: int | None = None) -> Report:
    """Distinct households with income > 0 in the period, by category (带农增收表)."""
    income = await income_by_household(conn, period, cooperative_id=cooperative_id)
    totals_by_household = {hid: sum(months.values()) for hid, months in income.items()}
    earning = {hid: fen for hid, fen in totals_by_household.items() if fen > 0}
    households = await _households(conn, earning)
    by_category: dict[HouseholdCategory, list[int]] = {c: [] for c in HouseholdCategory}
    for hid, fen in earning.items():
        by_category[HouseholdCategory(households[hid].category)].append(fen)
    rows = [
        {
            "category": category_label(category),
            "households": len(amounts),
            "income": sum(amounts),
            "per_household": div_round(sum(amounts), len(amounts)),
        }
        for category, amounts in by_category.items()
    ]
    count = len(earning)
    total = sum(earning.values())
    totals = {
        "category": t("report.total"),
        "households": count,
        "income": total,
        "per_household": div_round(total, count),
    }
    columns = [
        column("category"),
        column("households", "int"),
        column("income", "money"),
        column("per_household", "money"),
    ]
    summary = [t("report.driven_line", households=count, wan=wan_yuan(total))]
    title = t("report.title.households-driven", period=period.label)
    return Report("households-driven", title, columns, rows, totals, summary)


async def member_accounts(
    conn: AsyncConnection,
    period: Period,
    *,
    cooperative_id: int | None = None,
    name_of: Callable[[str, int], str] | None = None,
) -> Report:
    """成员账户 (arts. 40/43/44) for the period's year: shares, transaction volume, surplus returned.

    Names are masked unless ``name_of(name, cooperative_id)`` says how the reader may see them
    (the console passes its scope's rule). Each row also carries ``household_id`` (not a column).
    """
    year = period.year
    whole_year = Period(
        local_midnight(period.first_day.replace(month=1, day=1)),
        local_midnight(period.first_day.replace(year=year + 1, month=1, day=1)),
        str(year),
    )
    volume = await income_by_household(conn, whole_year, cooperative_id=cooperative_id, kinds=TRADE_JOURNALS)
    surplus_query = (
        select(LedgerAccount.owner_id, func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(SurplusDistribution, SurplusDistribution.journal_id == Posting.journal_id)
        .where(LedgerAccount.owner_type == "household", SurplusDistribution.year == year)
        .group_by(LedgerAccount.owner_id)
    )
    surplus = {int(owner): -int(total) for owner, total in await conn.execute(surplus_query) if owner is not None}
    query = (
        select(
            Household,
            Supplier.name.label("cooperative_name"),
            MemberAccount.capital_fen,
            MemberAccount.reserve_share_fen,
            MemberAccount.subsidy_share_fen,
        )
        .join(Cooperative, Cooperative.id == Household.cooperative_id)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .outerjoin(MemberAccount, MemberAccount.household_id == Household.id)
        .order_by(Household.cooperative_id, Household.member_no)
    )
    if cooperative_id is not None:
        query = query.where(Household.cooperative_id == cooperative_id)
    rows: list[dict[str, Any]] = []
    for h in await conn.execute(query):
        rows.append(
            {
                "household_id": h.id,
                "cooperative": h.cooperative_name,
                "member_no": h.member_no,
                "name": name_of(h.head_name, h.cooperative_id) if name_of else mask_name(h.head_name),
                "category": category_label(h.category),
                "capital": h.capital_fen or 0,
                "reserve_share": h.reserve_share_fen or 0,
                "subsidy_share": h.subsidy_share_fen or 0,
                "volume": sum(volume.get(h.id, {}).values()),
                "surplus_returned": surplus.get(h.id, 0),
            }
        )
    columns = [
        column("cooperative"),
        column("member_no"),
        column("name"),
        column("category"),
        column("capital", "money"),
        column("reserve_share", "money"),
        column("subsidy_share", "money"),
        column("volume", "money"),
        column("surplus_returned", "money"),
    ]
    totals: dict[str, Any] = {"cooperative": t("report.total")}
    totals |= totals_of(rows, [c.key for c in columns if c.kind == "money"])
    title = t("report.title.member-accounts", year=year)
    return Report("member-accounts", title, columns, rows, totals)
