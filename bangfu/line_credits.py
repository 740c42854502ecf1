"""Pre-aggregates of the ledger kept as journals are posted: household credits per order line
(``line_household_credits``) and each cooperative's line journals per day and line
(``cooperative_line_facts``).

The sessions pages show what the ledger credited to households for a session's lines. Summing
postings for that on every view grew with the ledger; instead, every sale, true-up and refund
journal of a line adds its household legs here, in the transaction that posts it. The figures
are exactly the ledger's (``tests/bangfu/test_queries_sessions.py`` compares them with the
postings, line by line; :func:`credits_differing_from_ledger` is the same check, for a store).

The cooperative pages (``bangfu.queries.cooperatives``) book every leg of a cooperative's line
journals by the role of its account; :func:`record_cooperative_facts` books each new journal the
same way, per Asia/Shanghai day, in the posting transaction, so a dashboard sums a few rows per
line instead of two dozen postings (``tests/bangfu/test_cooperative_facts.py`` compares them with
the ledger; :func:`facts_differing_from_ledger` is the same check, for a store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.ledger import Journal, PostStatus
from bangfu.models import (
    CooperativeLineFact,
    Household,
    HouseholdDailyIncome,
    LedgerAccount,
    LineHouseholdCredit,
    Posting,
)
from bangfu.models import Journal as JournalRow
from bangfu.reports.base import SHANGHAI, parse_line_event
from bangfu.store import among, pg_unnest_insert

LINE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
SQLITE_ROWS = 250  # rows per multi-row insert on SQLite (3 parameters each)


def deltas_of(journals: Iterable[Journal]) -> dict[tuple[int, int], int]:
    """(line, household) -> fen credited by these line journals (a household leg's negation)."""
    out: dict[tuple[int, int], int] = {}
    for journal in journals:
        if journal.kind not in LINE_JOURNALS:
            continue
        line = parse_line_event(journal.source_event)
        if line is None:
            continue
        for leg in journal.postings:
            account = leg.account
            if account.owner_type == "household" and account.owner_id is not None:
                key = (line, int(account.owner_id))
                out[key] = out.get(key, 0) - leg.amount_fen
    return out


async def credit_households(
    conn: AsyncConnection, journals: Sequence[Journal], status: Mapping[str, PostStatus] | None = None
) -> None:
    """Add what ``journals`` credit households to ``line_household_credits``, in the caller's
    transaction. ``status`` is :func:`bangfu.ledger.post`'s answer: a journal already in the
    ledger (``exists``) was counted when it was posted and is skipped."""
    fresh: dict[str, Journal] = {}
    for journal in journals:
        if status is None or status.get(journal.uid) == PostStatus.CREATED:
            fresh[journal.uid] = journal
    await record_cooperative_facts(conn, list(fresh.values()))
    await record_household_income(conn, list(fresh.values()))
    deltas = deltas_of(fresh.values())
    if not deltas:
        return
    rows = [{"order_line_id": k[0], "household_id": k[1], "credit_fen": v} for k, v in sorted(deltas.items())]
    if conn.dialect.name == "postgresql":
        types = {"order_line_id": "bigint", "household_id": "bigint", "credit_fen": "bigint"}
        conflict = (
            "ON CONFLICT (order_line_id, household_id) DO UPDATE "
            "SET credit_fen = line_household_credits.credit_fen + excluded.credit_fen"
        )
        await pg_unnest_insert(conn, "line_household_credits", rows, types, conflict=conflict)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    for offset in range(0, len(rows), SQLITE_ROWS):
        stmt = sqlite_insert(LineHouseholdCredit).values(rows[offset : offset + SQLITE_ROWS])
        stmt = stmt.on_conflict_do_update(
            index_elements=["order_line_id", "household_id"],
            set_={"credit_fen": LineHouseholdCredit.credit_fen + stmt.excluded.credit_fen},
        )
        await conn.execute(stmt)


def ledger_credits_query(conn: AsyncConnection) -> Any:
    """SQL: (line, household, fen) summed from the postings of every line journal (what the
    table must hold; for the backfill's check and ``bangfu verify``)."""
    from bangfu.queries.cooperatives import line_id_of

    line = line_id_of(conn, JournalRow.source_event)
    return (
        select(
            line.label("line"), LedgerAccount.owner_id.label("household"), (-func.sum(Posting.amount_fen)).label("fen")
        )
        .select_from(JournalRow)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "household", JournalRow.kind.in_(LINE_JOURNALS))
        .group_by(line, LedgerAccount.owner_id)
    )


async def credits_differing_from_ledger(conn: AsyncConnection, limit: int = 20) -> list[tuple[int, int, int, int]]:
    """(line, household, table fen, ledger fen) where the table and the ledger disagree."""
    ledger = {(int(a), int(b)): int(c) for a, b, c in await conn.execute(ledger_credits_query(conn))}
    table = {
        (int(a), int(b)): int(c)
        for a, b, c in await conn.execute(
            select(LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id, LineHouseholdCredit.credit_fen)
        )
    }
    out = [
        (k[0], k[1], table.get(k, 0), ledger.get(k, 0))
        for k in sorted(set(ledger) | set(table))
        if table.get(k) != ledger.get(k)
    ]
    return out[:limit]


# -- cooperative line facts -------------------------------------------------------------------

FACT_MONEY = (
    "sales",
    "refunds",
    "platform_fee",
    "payment_fee",
    "logistics",
    "commission",
    "retention",
    "collective",
    "guaranteed",
    "rebate",
    "bonus",
    "other",
    "to_non_members",
)
# An account's role by its code: (prefix, suffix, role), first match wins; the same patterns as
# ``bangfu.queries.cooperatives.account_class`` (``LIKE 'prefix%suffix'``).
ACCOUNT_ROLES = (
    ("receivable:", "", "receivable"),
    ("fees:", ":platform_fee", "platform_fee"),
    ("fees:", ":payment_fee", "payment_fee"),
    ("fees:", ":logistics", "logistics"),
    ("payable:host:", "", "commission"),
    ("cooperative:", "", "retention"),
    ("collective:", "", "collective"),
    ("household:", ":bonus", "bonus"),
    ("household:", ":advance", "guaranteed"),
    ("household:", "", "rebate"),
)


@lru_cache(maxsize=1 << 16)  # a batch names the same few dozen accounts over and over
def account_role(code: str) -> str:
    """The role of an account by its code, as the cooperative pages book it."""
    for prefix, suffix, role in ACCOUNT_ROLES:
        if code.startswith(prefix) and code.endswith(suffix) and len(code) >= len(prefix) + len(suffix):
            return role
    return "other"


FactKey = tuple[int, date, int]  # cooperative, local day, order line


def facts_of(journals: Iterable[Journal], cooperative_of: Mapping[int, int]) -> dict[FactKey, dict[str, int]]:
    """(cooperative, day, line) -> the money columns these line journals add.

    ``cooperative_of`` maps a household to its cooperative (for ``to_non_members``). Every leg
    of a journal counts for each cooperative whose own account the journal posts to."""
    out: dict[FactKey, dict[str, int]] = {}
    for journal in journals:
        if journal.kind not in LINE_JOURNALS:
            continue
        line = parse_line_event(journal.source_event)
        if line is None:
            continue
        coops = sorted(
            {
                int(leg.account.owner_id)
                for leg in journal.postings
                if leg.account.owner_type == "cooperative" and leg.account.owner_id is not None
            }
        )
        if not coops:
            continue
        day = journal.occurred_at.astimezone(SHANGHAI).date()
        refund = journal.kind == JournalKind.REFUND
        for coop in coops:
            row = out.setdefault((coop, day, line), dict.fromkeys(FACT_MONEY, 0))
            for leg in journal.postings:
                role = account_role(leg.account.code)
                if role == "receivable":
                    if refund:
                        row["refunds"] -= leg.amount_fen
                    else:
                        row["sales"] += leg.amount_fen
                else:
                    row[role] -= leg.amount_fen
                account = leg.account
                if account.owner_type == "household" and account.owner_id is not None:
                    home = cooperative_of.get(int(account.owner_id))
                    if home is not None and home != coop:
                        row["to_non_members"] -= leg.amount_fen
    return out


def _households_of(journals: Iterable[Journal]) -> set[int]:
    return {
        int(leg.account.owner_id)
        for journal in journals
        if journal.kind in LINE_JOURNALS and any(leg.account.owner_type == "cooperative" for leg in journal.postings)
        for leg in journal.postings
        if leg.account.owner_type == "household" and leg.account.owner_id is not None
    }


async def record_cooperative_facts(conn: AsyncConnection, journals: Sequence[Journal]) -> None:
    """Add newly posted ``journals`` to ``cooperative_line_facts``, in the caller's transaction
    (called by :func:`credit_households` with the journals :func:`bangfu.ledger.post` created)."""
    households = sorted(_households_of(journals))
    cooperative_of: dict[int, int] = {}
    for offset in range(0, len(households), 5_000):
        chunk = households[offset : offset + 5_000]
        found = await conn.execute(
            select(Household.id, Household.cooperative_id).where(among(conn, Household.id, chunk))
        )
        cooperative_of.update({int(h): int(c) for h, c in found if c is not None})
    facts = facts_of(journals, cooperative_of)
    if not facts:
        return
    rows = [{"cooperative_id": k[0], "day": k[1], "order_line_id": k[2], **money} for k, money in sorted(facts.items())]
    if conn.dialect.name == "postgresql":
        types = {"cooperative_id": "bigint", "day": "date", "order_line_id": "bigint"}
        types |= dict.fromkeys(FACT_MONEY, "bigint")
        adds = ", ".join(f"{name} = cooperative_line_facts.{name} + excluded.{name}" for name in FACT_MONEY)
        conflict = f"ON CONFLICT (cooperative_id, day, order_line_id) DO UPDATE SET {adds}"
        await pg_unnest_insert(conn, "cooperative_line_facts", rows, types, conflict=conflict)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    per_statement = max(1, 990 // (3 + len(FACT_MONEY)))  # inside SQLite's bind-parameter limit
    table = CooperativeLineFact.__table__
    for offset in range(0, len(rows), per_statement):
        stmt = sqlite_insert(CooperativeLineFact).values(rows[offset : offset + per_statement])
        stmt = stmt.on_conflict_do_update(
            index_elements=["cooperative_id", "day", "order_line_id"],
            set_={name: table.c[name] + stmt.excluded[name] for name in FACT_MONEY},
        )
        await conn.execute(stmt)


def ledger_facts_query(conn: AsyncConnection) -> Any:
    """SQL: (cooperative, day, line, *FACT_MONEY) summed from the ledger's postings (what
    ``cooperative_line_facts`` must hold; the migration's backfill, as a query)."""
    from sqlalchemy import Date as SqlDate
    from sqlalchemy import String, and_, case, cast, literal_column

    from bangfu.queries.cooperatives import account_class, line_id_of

    own = (
        select(Posting.journal_id.label("journal_id"), LedgerAccount.owner_id.label("cooperative_id"))
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "cooperative", LedgerAccount.owner_id.is_not(None))
        .distinct()
        .subquery("own")
    )
    if conn.dialect.name == "postgresql":
        day: Any = cast(JournalRow.occurred_at.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), SqlDate)
    else:
        day = cast(func.date(JournalRow.occurred_at, "+8 hours"), String)
    line = line_id_of(conn, JournalRow.source_event)
    klass = account_class()
    amount = Posting.amount_fen
    refund = JournalRow.kind == JournalKind.REFUND

    def credit(role: str) -> Any:
        return func.sum(case((klass == role, -amount), else_=0))

    foreign = and_(LedgerAccount.owner_type == "household", Household.cooperative_id != own.c.cooperative_id)
    columns = [
        func.sum(case((and_(klass == "receivable", ~refund), amount), else_=0)),
        func.sum(case((and_(klass == "receivable", refund), -amount), else_=0)),
        *(credit(name) for name in FACT_MONEY[2:-1]),
        func.sum(case((foreign, -amount), else_=0)),
    ]
    return (
        select(own.c.cooperative_id, day, line, *columns)
        .select_from(own)
        .join(JournalRow, JournalRow.id == own.c.journal_id)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Household, and_(LedgerAccount.owner_type == "household", Household.id == LedgerAccount.owner_id))
        .where(JournalRow.kind.in_(LINE_JOURNALS))
        .group_by(own.c.cooperative_id, day, line)
    )


async def facts_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[FactKey, dict[str, int], dict[str, int]]]:
    """(key, table figures, ledger figures) where ``cooperative_line_facts`` and the ledger disagree."""
    zero = dict.fromkeys(FACT_MONEY, 0)

    def key(coop: Any, day: Any, line: Any) -> FactKey:
        return (int(coop), day if isinstance(day, date) else date.fromisoformat(str(day)), int(line))

    ledger = {
        key(*row[:3]): dict(zip(FACT_MONEY, (int(v) for v in row[3:]), strict=True))
        for row in await conn.execute(ledger_facts_query(conn))
    }
    table_cols = [CooperativeLineFact.__table__.c[name] for name in FACT_MONEY]
    table = {
        key(*row[:3]): dict(zip(FACT_MONEY, (int(v) for v in row[3:]), strict=True))
        for row in await conn.execute(
            select(
                CooperativeLineFact.cooperative_id,
                CooperativeLineFact.day,
                CooperativeLineFact.order_line_id,
                *table_cols,
            )
        )
    }
    out = [
        (k, table.get(k, zero), ledger.get(k, zero))
        for k in sorted(set(ledger) | set(table))
        if table.get(k, zero) != ledger.get(k, zero)
    ]
    return out[:limit]


# -- household daily income -------------------------------------------------------------------

INCOME_KINDS = (*LINE_JOURNALS, JournalKind.SURPLUS)  # the household-income report's journals


def income_of(journals: Iterable[Journal]) -> dict[tuple[int, date], tuple[int, int]]:
    """(household, local day) -> (trade fen, surplus fen) these journals credited its accounts."""
    out: dict[tuple[int, date], tuple[int, int]] = {}
    for journal in journals:
        if journal.kind not in INCOME_KINDS:
            continue
        day = journal.occurred_at.astimezone(SHANGHAI).date()
        surplus = journal.kind == JournalKind.SURPLUS
        for leg in journal.postings:
            account = leg.account
            if account.owner_type != "household" or account.owner_id is None:
                continue
            key = (int(account.owner_id), day)
            trade, returned = out.get(key, (0, 0))
            out[key] = (trade, returned - leg.amount_fen) if surplus else (trade - leg.amount_fen, returned)
    return out


async def record_household_income(conn: AsyncConnection, journals: Sequence[Journal]) -> None:
    """Add newly posted ``journals`` to ``household_daily_income``, in the caller's transaction."""
    income = income_of(journals)
    if not income:
        return
    rows = [
        {"household_id": k[0], "day": k[1], "trade_fen": v[0], "surplus_fen": v[1]} for k, v in sorted(income.items())
    ]
    if conn.dialect.name == "postgresql":
        types = {"household_id": "bigint", "day": "date", "trade_fen": "bigint", "surplus_fen": "bigint"}
        conflict = (
            "ON CONFLICT (household_id, day) DO UPDATE SET "
            "trade_fen = household_daily_income.trade_fen + excluded.trade_fen, "
            "surplus_fen = household_daily_income.surplus_fen + excluded.surplus_fen"
        )
        await pg_unnest_insert(conn, "household_daily_income", rows, types, conflict=conflict)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    for offset in range(0, len(rows), 200):
        stmt = sqlite_insert(HouseholdDailyIncome).values(rows[offset : offset + 200])
        stmt = stmt.on_conflict_do_update(
            index_elements=["household_id", "day"],
            set_={
                "trade_fen": HouseholdDailyIncome.trade_fen + stmt.excluded.trade_fen,
                "surplus_fen": HouseholdDailyIncome.surplus_fen + stmt.excluded.surplus_fen,
            },
        )
        await conn.execute(stmt)


def ledger_income_query(conn: AsyncConnection) -> Any:
    """SQL: (household, day, trade fen, surplus fen) summed from the ledger's postings."""
    from sqlalchemy import Date as SqlDate
    from sqlalchemy import String, case, cast, literal_column

    if conn.dialect.name == "postgresql":
        day: Any = cast(JournalRow.occurred_at.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), SqlDate)
    else:
        day = cast(func.date(JournalRow.occurred_at, "+8 hours"), String)
    surplus = JournalRow.kind == JournalKind.SURPLUS
    return (
        select(
            LedgerAccount.owner_id,
            day,
            -func.sum(case((~surplus, Posting.amount_fen), else_=0)),
            -func.sum(case((surplus, Posting.amount_fen), else_=0)),
        )
        .select_from(JournalRow)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            LedgerAccount.owner_type == "household",
            LedgerAccount.owner_id.is_not(None),
            JournalRow.kind.in_(INCOME_KINDS),
        )
        .group_by(LedgerAccount.owner_id, day)
    )


async def income_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[int, date], tuple[int, int], tuple[int, int]]]:
    """(key, table figures, ledger figures) where ``household_daily_income`` and the ledger disagree."""

    def key(household: Any, day: Any) -> tuple[int, date]:
        return (int(household), day if isinstance(day, date) else date.fromisoformat(str(day)))

    ledger = {key(h, d): (int(t), int(s)) for h, d, t, s in await conn.execute(ledger_income_query(conn))}
    table = {
        key(h, d): (int(t), int(s))
        for h, d, t, s in await conn.execute(
            select(
                HouseholdDailyIncome.household_id,
                HouseholdDailyIncome.day,
                HouseholdDailyIncome.trade_fen,
                HouseholdDailyIncome.surplus_fen,
            )
        )
    }
    zero = (0, 0)
    out = [
        (k, table.get(k, zero), ledger.get(k, zero))
        for k in sorted(set(ledger) | set(table))
        if table.get(k, zero) != ledger.get(k, zero)
    ]
    return out[:limit]
