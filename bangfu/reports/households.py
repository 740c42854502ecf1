"""Household income (per month), households driven (带农增收表) and cooperative member accounts.

A household's income is what the ledger credited to its accounts: the rebate
(``household:<id>``), the priority bonus (``household:<id>:bonus``) and the guaranteed price
recovered from sales (``household:<id>:advance``). The guarantee was paid to the household in
cash at delivery; when a sale covers it the cooperative recovers its advance, and that part of
the sale is the household's income already received, so it counts here (at the sale, not at
delivery, so nothing is counted twice). Refund journals debit the same accounts back, dated when
the refund happened, so income is net of refunds month by month. Year-end surplus (patronage)
returns count too. Settlement journals (paying out what is owed) are not income and are left out.

Households driven (带农增收表), one definition for a month and a year alike: the *count* is of
distinct households whose net income in the period is above 0, so monthly counts do not add up to
the year's; the *income* is the net of every household in the period, negatives included (a month
whose refunds took back more than it credited counts below zero), so monthly incomes do add up to
the year's, and to the ``household-income`` report's total for the same period.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.drives import amounts as drive_amounts
from bangfu.drives import combined_households, nets_by_identity
from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.i18n import MESSAGES, Lang, current_lang, t
from bangfu.models import (
    Cooperative,
    Household,
    HouseholdDailyIncome,
    HouseholdMonthlyIncome,
    Journal,
    LedgerAccount,
    MemberAccount,
    Posting,
    Supplier,
    SurplusDistribution,
)
from bangfu.privacy import mask_name
from bangfu.reports.base import (
    Column,
    Period,
    Report,
    column,
    day_month,
    div_round,
    local_midnight,
    local_month,
    totals_of,
    whole_days,
)

MESSAGES.update(
    {
        "report.driven_definition": {
            "zh": "户数：期间内净收入大于 0 的不同农户，各月户数不能相加；"
            "增收：期间内全部农户净收入之和（含净收入为负的农户），各月增收相加等于全年。",
            "en": "Households: distinct households with net income above 0 in the period, so monthly counts "
            "do not add up; income: the net of every household in the period, negatives included, so "
            "monthly incomes add up to the year's.",
        },
    }
)

INCOME_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP, JournalKind.SURPLUS)
TRADE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)


def category_label(category: HouseholdCategory | str) -> str:
    """The category's name in the current language (kept per language: a member list asks
    for it once per household)."""
    return _category_label(current_lang(), category)


@cache
def _category_label(lang: Lang, category: HouseholdCategory | str) -> str:
    return t(f"report.category.{HouseholdCategory(category).value}")


_STORED_KINDS = (frozenset(INCOME_JOURNALS), frozenset(TRADE_JOURNALS), frozenset({JournalKind.SURPLUS}))


def _amount(table: Any, kinds: frozenset[JournalKind]) -> Any:
    """The stored income of ``kinds`` (one of :data:`_STORED_KINDS`) in a daily or monthly row."""
    if kinds == frozenset(TRADE_JOURNALS):
        return table.trade_fen
    if kinds == frozenset({JournalKind.SURPLUS}):
        return table.surplus_fen
    return table.trade_fen + table.surplus_fen


def whole_months(first: date, last: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole months inside the days ``first``..``last`` (the first day of the first one and
    the first day after the last one; None: no whole month) and the days outside them, as
    (first, last) ranges."""
    start = first if first.day == 1 else _next_month(first)
    end = (last + timedelta(days=1)).replace(day=1)
    if start >= end:
        return None, [(first, last)]
    edges = [(first, start - timedelta(days=1))] if first < start else []
    if end <= last:
        edges.append((end, last))
    return (start, end), edges


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _stored_income(
    conn: AsyncConnection, days: tuple[date, date], kinds: frozenset[JournalKind], households: list[Any]
) -> Any:
    """SQL: (household, ``YYYY-MM``, fen) of the households the subqueries ``households`` all
    select (every household when none): the period's whole months from
    ``household_monthly_income`` (one row per household and month), the days of its partial
    months from ``household_daily_income`` summed per month."""
    months, edges = whole_months(*days)
    parts: list[Any] = []
    if edges:
        daily = HouseholdDailyIncome
        month = day_month(conn, daily.day)
        parts.append(
            select(daily.household_id, month, func.sum(_amount(daily, kinds)))
            .where(or_(*(and_(daily.day >= a, daily.day <= b) for a, b in edges)))
            .where(*(daily.household_id.in_(h) for h in households))
            .group_by(daily.household_id, month)
        )
    if months is not None:
        monthly = HouseholdMonthlyIncome
        parts.append(
            select(monthly.household_id, day_month(conn, monthly.month), _amount(monthly, kinds))
            .where(monthly.month >= months[0], monthly.month < months[1])
            .where(*(monthly.household_id.in_(h) for h in households))
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


async def income_by_household(
    conn: AsyncConnection,
    period: Period,
    *,
    cooperative_id: int | None = None,
    kinds: Iterable[JournalKind] = INCOME_JOURNALS,
    cooperative_ids: Collection[int] | None = None,
    from_ledger: bool = False,
) -> dict[int, dict[str, int]]:
    """Income per household id per local month (``YYYY-MM``), in fen, net of refunds.

    ``cooperative_ids``: only the member households of these cooperatives (the console's scope).
    A period of whole local days (every console and report period) is read from
    ``household_monthly_income`` (its whole months) and ``household_daily_income`` (the days
    of its partial months), the ledger's sums per household and month and day kept by posting
    (``bangfu.line_credits``, equal to the ledger: ``monthly_income_differing_from_ledger``,
    ``income_differing_from_ledger``) for the income journals, the trade journals or the
    surplus returns; any other period or kinds, or ``from_ledger``, sum the postings.
    """
    days = whole_days(period)
    wanted = frozenset(kinds)
    if days is not None and wanted in _STORED_KINDS and not from_ledger:
        households: list[Any] = []
        if cooperative_id is not None:
            households.append(select(Household.id).where(Household.cooperative_id == cooperative_id))
        if cooperative_ids is not None:
            households.append(select(Household.id).where(Household.cooperative_id.in_(sorted(cooperative_ids))))
        out: dict[int, dict[str, int]] = {}
        for household, mon, total in await conn.execute(_stored_income(conn, days, wanted, households)):
            if total:
                out.setdefault(int(household), {})[str(mon)] = int(total)
        return out
    month = local_month(conn, Journal.occurred_at)
    query = (
        select(LedgerAccount.owner_id, month, func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.owner_type == "household",
            Journal.kind.in_(list(wanted)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
        .group_by(LedgerAccount.owner_id, month)
    )
    if cooperative_id is not None:
        query = query.join(Household, Household.id == LedgerAccount.owner_id).where(
            Household.cooperative_id == cooperative_id
        )
    if cooperative_ids is not None:
        members = select(Household.id).where(Household.cooperative_id.in_(sorted(cooperative_ids)))
        query = query.where(LedgerAccount.owner_id.in_(members))
    out = {}
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


async def household_income(
    conn: AsyncConnection,
    period: Period,
    *,
    cooperative_id: int | None = None,
    cooperative_ids: Collection[int] | None = None,
) -> Report:
    income = await income_by_household(conn, period, cooperative_id=cooperative_id, cooperative_ids=cooperative_ids)
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


@dataclass(frozen=True)
class Driven:
    """Households driven over one set of households' net incomes (see the module docstring)."""

    households: int  # distinct households with net income > 0
    income: int  # net of every household, negatives included
    negative: int  # households whose net is below 0 (in ``income``, not in ``households``)

    @property
    def per_household(self) -> int | None:
        return div_round(self.income, self.households)


def driven(net_by_household: Mapping[Any, int]) -> Driven:
    """The one definition of households driven, for a month, a year or any group of households."""
    values = list(net_by_household.values())
    return Driven(sum(1 for v in values if v > 0), sum(values), sum(1 for v in values if v < 0))


def net_by_household(income: Mapping[int, Mapping[str, int]], months: Iterable[str] | None = None) -> dict[int, int]:
    """Each household's net over ``months`` (every month when None) of :func:`income_by_household`."""
    wanted = None if months is None else set(months)
    out: dict[int, int] = {}
    for hid, by_month in income.items():
        fen = sum(v for m, v in by_month.items() if wanted is None or m in wanted)
        if fen:
            out[hid] = fen
    return out


async def households_driven(
    conn: AsyncConnection,
    period: Period,
    *,
    cooperative_id: int | None = None,
    cooperative_ids: Collection[int] | None = None,
) -> Report:
    """带农增收表 by category: households with net income > 0, and the net of every household."""
    income = await income_by_household(conn, period, cooperative_id=cooperative_id, cooperative_ids=cooperative_ids)
    nets = net_by_household(income)
    households = await _households(conn, nets)
    by_category: dict[HouseholdCategory, dict[int, int]] = {c: {} for c in HouseholdCategory}
    for hid, fen in nets.items():
        by_category[HouseholdCategory(households[hid].category)][hid] = fen
    rows = []
    for category, members in by_category.items():
        figures = driven(members)
        rows.append(
            {
                "category": category_label(category),
                "households": figures.households,
                "income": figures.income,
                "per_household": figures.per_household,
            }
        )
    total = driven(nets)
    totals = {
        "category": t("report.total"),
        "households": total.households,
        "income": total.income,
        "per_household": total.per_household,
    }
    columns = [
        column("category"),
        column("households", "int"),
        column("income", "money"),
        column("per_household", "money"),
    ]
    summary = [
        t("report.driven_line", households=total.households, wan=wan_yuan(total.income)),
        t("report.driven_definition"),
    ]
    if cooperative_id is None and cooperative_ids is None:
        # The enterprise-driven households' own line (never in the members' ledger income), and
        # the families both lines reach, each once (bangfu.drives).
        enterprise = nets_by_identity(await drive_amounts(conn, period.months()))
        figures = driven(enterprise)
        summary.append(
            t(
                "drives.report_line",
                households=figures.households,
                wan=wan_yuan(figures.income),
                combined=combined_households(nets, enterprise),
            )
        )
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
