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

The year-end surplus (``workers.surplus``) splits the patronage return by each household's
transaction volume with the cooperative: the rebate and guaranteed-price legs of the
cooperative's line journals. :func:`volumes_of` books them per cooperative, household and
Asia/Shanghai month (``cooperative_household_volumes``) in the same transaction, so the preview
sums a cooperative's months instead of every household leg of its year
(:func:`volumes_differing_from_ledger` is the check). Its distributable surplus is the
cooperative's facts' ``retention`` less :func:`foreign_retention_of`, the other cooperatives'
retention legs of journals posting to two cooperatives, kept in ``cooperative_foreign_retention``
(:func:`foreign_retention_differing_from_ledger`).

A household's statement (``bangfu.queries.households.statement``) sums its legs per month and
order line over every income journal of the period. :func:`line_days_of` books them per
household, Asia/Shanghai day and line (``household_line_days``) in the same transaction, so the
statement sums the household's rows of the period's days instead of its postings, scattered
over the whole ledger (:func:`household_line_days_differing_from_ledger` is the check); the
household's journals page (``household_journals``) counts, sums and places its page from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Date, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.day_marks import as_date
from bangfu.enums import JournalKind
from bangfu.ledger import Journal, PostStatus, retention_account
from bangfu.models import (
    CooperativeForeignRetention,
    CooperativeHouseholdVolume,
    CooperativeLineFact,
    Household,
    HouseholdDailyIncome,
    HouseholdLineDay,
    HouseholdMonthlyIncome,
    LedgerAccount,
    LineHouseholdCredit,
    OrderLine,
    Posting,
)
from bangfu.models import Journal as JournalRow
from bangfu.reports.base import SHANGHAI, parse_line_event
from bangfu.sale_batch import BatchedSale, SaleBatch, by_batch
from bangfu.store import among, pg_unnest_columns

LINE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
K = TypeVar("K", bound=tuple[Any, ...])  # a pre-aggregate's key
V = TypeVar("V")
SQLITE_PARAMETERS = 990  # bind parameters per multi-row insert on SQLite (its old limit is 999)


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
    conn: AsyncConnection,
    journals: Sequence[Journal | BatchedSale],
    status: Mapping[str, PostStatus] | None = None,
    line_skus: Mapping[int, int] | None = None,
) -> None:
    """Add what ``journals`` credit households to ``line_household_credits``, and book them in
    ``cooperative_line_facts``, ``cooperative_household_volumes`` (and
    ``cooperative_foreign_retention``) and ``household_daily_income``, in the caller's
    transaction.
    ``status`` is :func:`bangfu.ledger.post`'s answer: a journal already in the ledger
    (``exists``) was counted when it was posted and is skipped. Batched sales
    (:class:`bangfu.sale_batch.BatchedSale`) are booked from their batch's arrays, to the same
    rows as their journals would be. ``line_skus``: the SKU of lines the caller knows (the
    posting stage read them with the lines), for ``household_line_days.sku_id``; the others'
    are looked up at once (:func:`_skus_of_lines`)."""
    fresh: dict[str, Journal | BatchedSale] = {}
    for journal in journals:
        if status is None or status.get(journal.uid) == PostStatus.CREATED:
            fresh[journal.uid] = journal
    objects = [j for j in fresh.values() if not isinstance(j, BatchedSale)]
    batched = [_BatchView(sales, indexes) for sales, indexes in by_batch(fresh.values()).items()]

    households = _households_of(objects)
    for view in batched:
        households.update(view.households())
    cooperative_of = await _cooperatives_of(conn, sorted(households))
    facts = _Columns.of_facts(facts_of(objects, cooperative_of))
    for view in batched:
        facts = facts.merged(view.facts(cooperative_of))
    await _write_facts(conn, facts)
    credits = _Columns.of_credits(deltas_of(objects))
    for view in batched:
        credits = credits.merged(view.credits())
    await _write_credits(conn, credits)
    # Keyed by household, day and line: rows of the lines being posted (a line is posted by one
    # worker at a time; only the year-end surplus returns share line 0), so written before the
    # shared rows below, which are then held for less time. Same order for every poster.
    line_days = _Columns.of_line_days(line_days_of(objects))
    for view in batched:
        line_days = line_days.merged(view.line_days())
    await _write_line_days(conn, line_days, await _skus_of_lines(conn, line_days.keys[2], line_skus or {}))
    # Last: the rows below are shared by the workers posting lines of the same households
    # (cooperative, month, household; household, day), so a second poster waits on them for the
    # first one's commit; the rows above are the lines' own. Every poster locks them table after
    # table in this order and in key order within a table, so no two wait in a cycle.
    volumes = _Columns.of_volumes(volumes_of(objects))
    for view in batched:
        volumes = volumes.merged(view.volumes())
    await _write_volumes(conn, volumes)
    # A batched sale posts to its line's cooperative only: no other cooperative's retention.
    await _write_foreign_retention(conn, foreign_retention_of(objects))
    income = _Columns.of_income(income_of(objects))
    for view in batched:
        income = income.merged(view.income())
    await _write_income(conn, income)


async def _cooperatives_of(conn: AsyncConnection, households: Sequence[int]) -> dict[int, int]:
    cooperative_of: dict[int, int] = {}
    for offset in range(0, len(households), 5_000):
        chunk = households[offset : offset + 5_000]
        found = await conn.execute(
            select(Household.id, Household.cooperative_id).where(among(conn, Household.id, chunk))
        )
        cooperative_of.update({int(h): int(c) for h, c in found if c is not None})
    return cooperative_of


@dataclass(frozen=True)
class _Columns:
    """Rows to add to a pre-aggregate, as columns: ``keys`` (key columns) and ``values`` (summed
    columns), rows sorted by key and each key once."""

    keys: tuple[list[Any], ...]
    values: tuple[list[int], ...]

    def __len__(self) -> int:
        return len(self.keys[0]) if self.keys else 0

    @classmethod
    def of(cls, rows: Mapping[tuple[Any, ...], tuple[int, ...]], key_width: int, value_width: int) -> _Columns:
        ordered = sorted(rows.items())
        keys = tuple([k[i] for k, _ in ordered] for i in range(key_width))
        values = tuple([v[i] for _, v in ordered] for i in range(value_width))
        return cls(keys, values)

    @classmethod
    def of_facts(cls, facts: Mapping[FactKey, Mapping[str, int]]) -> _Columns:
        return cls.of({k: tuple(v[name] for name in FACT_MONEY) for k, v in facts.items()}, 3, len(FACT_MONEY))

    @classmethod
    def of_income(cls, income: Mapping[tuple[int, date], tuple[int, int]]) -> _Columns:
        return cls.of(income, 2, 2)

    @classmethod
    def of_volumes(cls, volumes: Mapping[VolumeKey, int]) -> _Columns:
        return cls.of({k: (v,) for k, v in volumes.items()}, 3, 1)

    @classmethod
    def of_line_days(cls, days: Mapping[LineDayKey, tuple[int, ...]]) -> _Columns:
        return cls.of(days, 3, len(LINE_DAY_VALUES))

    @classmethod
    def of_credits(cls, deltas: Mapping[tuple[int, int], int]) -> _Columns:
        return cls.of({k: (v,) for k, v in deltas.items()}, 2, 1)

    def rows(self) -> dict[tuple[Any, ...], tuple[int, ...]]:
        return dict(zip(zip(*self.keys, strict=True), zip(*self.values, strict=True), strict=True))

    def merged(self, other: _Columns) -> _Columns:
        """Both sets of rows, a key in both summed."""
        if not len(other):
            return self
        if not len(self):
            return other
        rows = self.rows()
        for key, value in other.rows().items():
            seen = rows.get(key)
            rows[key] = value if seen is None else tuple(a + b for a, b in zip(seen, value, strict=True))
        return _Columns.of(rows, len(self.keys), len(self.values))


class _BatchView:
    """The pre-aggregates of some sales of a :class:`bangfu.sale_batch.SaleBatch`, from its arrays."""

    def __init__(self, sales: SaleBatch, indexes: Sequence[int]) -> None:
        self.sales = sales
        self.line, self.account, self.amount = sales.leg_arrays(indexes)
        accounts = sales.accounts
        self.household_owner = np.fromiter(
            (a.owner_id if a.owner_type == "household" and a.owner_id is not None else -1 for a in accounts),
            np.int64,
            len(accounts),
        )
        self.cooperative_owned = np.fromiter(
            (a.owner_type == "cooperative" and a.owner_id is not None for a in accounts), bool, len(accounts)
        )
        self.role = np.fromiter((_ROLE_COLUMN[account_role(a.code)] for a in accounts), np.int64, len(accounts))
        self.volume_role = np.fromiter(
            (a.owner_type == "household" and account_role(a.code) in VOLUME_ROLES for a in accounts),
            bool,
            len(accounts),
        )
        lines = sales.lines
        self.line_id = np.fromiter((line.line_id for line in lines), np.int64, len(lines))
        self.cooperative = np.fromiter((line.cooperative_id for line in lines), np.int64, len(lines))
        self.day = np.fromiter(
            (line.occurred_at.astimezone(SHANGHAI).date().toordinal() for line in lines), np.int64, len(lines)
        )
        self.of_household = self.household_owner[self.account] >= 0
        # The statement's leg of each account: guaranteed, rebate, bonus (a household's own three
        # accounts by their exact codes), -1 for any other account.
        self.statement_leg = np.fromiter((_statement_leg(a) for a in accounts), np.int64, len(accounts))

    def households(self) -> set[int]:
        return set(np.unique(self.household_owner[self.account[self.of_household]]).tolist())

    def credits(self) -> _Columns:
        """(line, household) -> fen credited: :func:`deltas_of`."""
        legs = self.of_household
        keys, sums = _group_sum(
            (self.line_id[self.line[legs]], self.household_owner[self.account[legs]]), -self.amount[legs]
        )
        return _Columns((keys[0].tolist(), keys[1].tolist()), (sums.tolist(),))

    def income(self) -> _Columns:
        """(household, day) -> (trade fen, 0): :func:`income_of` of sale journals."""
        legs = self.of_household
        owners = self.household_owner[self.account[legs]]
        keys, sums = _group_sum((owners, self.day[self.line[legs]]), -self.amount[legs])
        days = [date.fromordinal(d) for d in keys[1].tolist()]
        return _Columns((keys[0].tolist(), days), (sums.tolist(), [0] * len(days)))

    def line_days(self) -> _Columns:
        """(household, day, line) -> (journals, guaranteed, rebate, bonus, 0, 0): :func:`line_days_of`
        of sale journals; a sale counts once per household it credits."""
        legs = self.statement_leg[self.account] >= 0
        if not legs.any():
            return _Columns.of_line_days({})
        line, leg = self.line[legs], self.statement_leg[self.account[legs]]
        money = np.zeros((len(line), 3), dtype=np.int64)
        money[np.arange(len(line)), leg] = -self.amount[legs]
        owners = self.household_owner[self.account[legs]]
        # Per journal (batch slot) and household first, so each journal counts once in its key.
        keys, sums = _group_sum((owners, self.day[line], self.line_id[line], line), money)
        counted = np.column_stack((np.ones(len(sums), dtype=np.int64), sums))
        keys, sums = _group_sum(keys[:3], counted)
        days = [date.fromordinal(d) for d in keys[1].tolist()]
        zeros = [0] * len(days)
        return _Columns(
            (keys[0].tolist(), days, keys[2].tolist()), (*(sums[:, i].tolist() for i in range(4)), zeros, zeros)
        )

    def booked(self) -> Any:
        """Per line of the batch: whether its sale posts to a cooperative's own account."""
        booked = np.zeros(len(self.sales), dtype=bool)
        booked[self.line[self.cooperative_owned[self.account]]] = True
        return booked

    def volumes(self) -> _Columns:
        """(cooperative, month, household) -> fen: :func:`volumes_of` of sale journals (the
        line's cooperative is the owner of its retention and collective legs, as in :meth:`facts`)."""
        legs = self.booked()[self.line] & self.of_household & self.volume_role[self.account]
        if not legs.any():
            return _Columns.of_volumes({})
        days, position = np.unique(self.day, return_inverse=True)
        months = np.fromiter((date.fromordinal(d).replace(day=1).toordinal() for d in days.tolist()), np.int64)
        line = self.line[legs]
        keys, sums = _group_sum(
            (self.cooperative[line], months[position.reshape(-1)][line], self.household_owner[self.account[legs]]),
            -self.amount[legs],
        )
        return _Columns(
            (keys[0].tolist(), [date.fromordinal(m) for m in keys[1].tolist()], keys[2].tolist()), (sums.tolist(),)
        )

    def facts(self, cooperative_of: Mapping[int, int]) -> _Columns:
        """(cooperative, day, line) -> money columns: :func:`facts_of` of sale journals (the
        line's cooperative is the owner of its retention and collective legs, when it has one)."""
        count = len(self.sales)
        booked = self.booked()
        where = np.flatnonzero(booked)
        position = np.full(count, -1, dtype=np.int64)
        position[where] = np.arange(len(where))
        legs = booked[self.line]
        line, account, amount = self.line[legs], self.account[legs], self.amount[legs]
        money = np.zeros((len(where), len(FACT_MONEY)), dtype=np.int64)
        role = self.role[account]
        np.add.at(money, (position[line], role), np.where(role == _SALES, amount, -amount))
        home = np.fromiter(
            (cooperative_of.get(int(h), -1) if h >= 0 else -1 for h in self.household_owner.tolist()),
            np.int64,
            len(self.household_owner),
        )[account]
        foreign = (home >= 0) & (home != self.cooperative[line])
        np.add.at(money[:, _TO_NON_MEMBERS], position[line[foreign]], -amount[foreign])
        keys = (self.cooperative[where], self.day[where], self.line_id[where])
        order = np.lexsort(keys[::-1])
        days = [date.fromordinal(d) for d in keys[1][order].tolist()]
        return _Columns(
            (keys[0][order].tolist(), days, keys[2][order].tolist()),
            tuple(money[order, i].tolist() for i in range(len(FACT_MONEY))),
        )


def _group_sum(keys: tuple[Any, ...], values: Any) -> tuple[tuple[Any, ...], Any]:
    """Rows of int64 key columns summed by key, sorted by key (the first column first);
    ``values`` one column or a 2-D array of columns (each summed)."""
    if not len(values):
        empty = np.zeros(0, dtype=np.int64)
        return tuple(empty for _ in keys), np.zeros((0, *values.shape[1:]), dtype=np.int64)
    order = np.lexsort(keys[::-1])
    ordered = tuple(key[order] for key in keys)
    values = values[order]
    changed = np.zeros(len(values) - 1, dtype=bool)
    for key in ordered:
        changed |= key[1:] != key[:-1]
    starts = np.flatnonzero(np.r_[True, changed])
    return tuple(key[starts] for key in ordered), np.add.reduceat(values, starts)


async def _add_rows(
    conn: AsyncConnection,
    model: Any,
    key_types: Mapping[str, str],
    value_names: Sequence[str],
    rows: _Columns,
    kept: Mapping[str, str] | None = None,
) -> None:
    """Add ``rows`` to the pre-aggregate ``model`` in the caller's transaction: a new key is
    inserted, an existing key's values are summed with the row's (every table here keeps fen
    added up by key). ``key_types``: the key columns and their PostgreSQL types (the values are
    ``bigint``); ``kept``: columns of the key's attributes (and their types), after the key's in
    ``rows.keys``, written with a new row and left as they are on an existing one. PostgreSQL:
    one ``INSERT ... SELECT FROM unnest`` (:func:`pg_unnest_columns`); SQLite: multi-row inserts
    inside its bind-parameter limit."""
    if not len(rows):
        return
    table = model.__table__
    keys = list(key_types)
    kept = kept or {}
    if conn.dialect.name == "postgresql":
        types = dict(key_types) | dict(kept) | dict.fromkeys(value_names, "bigint")
        adds = ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in value_names)
        conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}"
        await pg_unnest_columns(conn, table.name, types, (*rows.keys, *rows.values), conflict=conflict)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    names = (*keys, *kept, *value_names)
    values = [dict(zip(names, row, strict=True)) for row in zip(*rows.keys, *rows.values, strict=True)]
    per_statement = max(1, SQLITE_PARAMETERS // len(names))
    for offset in range(0, len(values), per_statement):
        stmt = sqlite_insert(table).values(values[offset : offset + per_statement])
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={name: table.c[name] + stmt.excluded[name] for name in value_names}
        )
        await conn.execute(stmt)


async def _write_credits(conn: AsyncConnection, credits: _Columns) -> None:
    await _add_rows(
        conn, LineHouseholdCredit, {"order_line_id": "bigint", "household_id": "bigint"}, ("credit_fen",), credits
    )


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


def _disagreements(table: Mapping[K, V], ledger: Mapping[K, V], zero: V, limit: int) -> list[tuple[K, V, V]]:
    """(key, table figures, ledger figures) of the keys whose figures differ (a missing key is
    ``zero``), in key order, the first ``limit``."""
    keys = sorted(k for k in set(ledger) | set(table) if table.get(k, zero) != ledger.get(k, zero))
    return [(k, table.get(k, zero), ledger.get(k, zero)) for k in keys[:limit]]


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
# The FACT_MONEY column each account role books to (a sale's receivable: "sales").
_ROLE_COLUMN = {"receivable": 0, **{name: FACT_MONEY.index(name) for name in FACT_MONEY}}
_SALES = 0
_TO_NON_MEMBERS = FACT_MONEY.index("to_non_members")


def cooperatives_posted(journal: Journal) -> list[int]:
    """The cooperatives whose own accounts (retention, village collective) ``journal`` posts to,
    in id order: each books the journal (facts, volumes)."""
    return sorted(
        {
            int(leg.account.owner_id)
            for leg in journal.postings
            if leg.account.owner_type == "cooperative" and leg.account.owner_id is not None
        }
    )


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
        coops = cooperatives_posted(journal)
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
    (:func:`credit_households` books the journals :func:`bangfu.ledger.post` created)."""
    cooperative_of = await _cooperatives_of(conn, sorted(_households_of(journals)))
    await _write_facts(conn, _Columns.of_facts(facts_of(journals, cooperative_of)))


async def _write_facts(conn: AsyncConnection, facts: _Columns) -> None:
    keys = {"cooperative_id": "bigint", "day": "date", "order_line_id": "bigint"}
    await _add_rows(conn, CooperativeLineFact, keys, FACT_MONEY, facts)


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
        return (int(coop), as_date(day), int(line))

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
    return _disagreements(table, ledger, zero, limit)


# -- cooperative household volumes ------------------------------------------------------------

VOLUME_ROLES = ("rebate", "guaranteed")  # a household's transaction volume (the bonus is aid)
VolumeKey = tuple[int, date, int]  # cooperative, first day of the local month, household


def month_of(day: date) -> date:
    """The first day of ``day``'s month (the volumes' key)."""
    return day.replace(day=1)


def volumes_of(journals: Iterable[Journal]) -> dict[VolumeKey, int]:
    """(cooperative, month, household) -> fen these line journals credited the household's
    rebate and guaranteed-price accounts (legs negated), for each cooperative whose own account
    (retention or collective) the journal posts to: ``workers.surplus``'s transaction volume."""
    out: dict[VolumeKey, int] = {}
    for journal in journals:
        if journal.kind not in LINE_JOURNALS:
            continue
        coops = cooperatives_posted(journal)
        if not coops:
            continue
        month = month_of(journal.occurred_at.astimezone(SHANGHAI).date())
        for leg in journal.postings:
            account = leg.account
            if account.owner_type != "household" or account.owner_id is None:
                continue
            if account_role(account.code) not in VOLUME_ROLES:
                continue
            for coop in coops:
                key = (coop, month, int(account.owner_id))
                out[key] = out.get(key, 0) - leg.amount_fen
    return out


def foreign_retention_of(journals: Iterable[Journal]) -> dict[tuple[int, date], int]:
    """(cooperative, month) -> fen these line journals credited other cooperatives' retention
    accounts, for each cooperative whose own account the journal posts to (the part of its
    facts' ``retention`` that is not its own retention account): only journals posting to two
    cooperatives have any."""
    out: dict[tuple[int, date], int] = {}
    for journal in journals:
        if journal.kind not in LINE_JOURNALS:
            continue
        coops = cooperatives_posted(journal)
        if len(coops) < 2:
            continue
        month = month_of(journal.occurred_at.astimezone(SHANGHAI).date())
        for coop in coops:
            own = retention_account(coop).code
            for leg in journal.postings:
                if account_role(leg.account.code) == "retention" and leg.account.code != own:
                    out[(coop, month)] = out.get((coop, month), 0) - leg.amount_fen
    return out


async def _write_foreign_retention(conn: AsyncConnection, rows: Mapping[tuple[int, date], int]) -> None:
    columns = _Columns.of({key: (fen,) for key, fen in rows.items()}, 2, 1)
    await _add_rows(
        conn, CooperativeForeignRetention, {"cooperative_id": "bigint", "month": "date"}, ("retention_fen",), columns
    )


async def _write_volumes(conn: AsyncConnection, volumes: _Columns) -> None:
    keys = {"cooperative_id": "bigint", "month": "date", "household_id": "bigint"}
    await _add_rows(conn, CooperativeHouseholdVolume, keys, ("volume_fen",), volumes)


def _journal_month(conn: AsyncConnection) -> Any:
    """SQL: the first day of the Asia/Shanghai month of ``journals.occurred_at`` (the volumes'
    and the foreign retention's ``month``)."""
    from sqlalchemy import Date as SqlDate
    from sqlalchemy import String, cast, literal_column

    if conn.dialect.name == "postgresql":
        local = JournalRow.occurred_at.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'"))
        return cast(func.date_trunc("month", local), SqlDate)
    return cast(func.date(JournalRow.occurred_at, "+8 hours", "start of month"), String)


def _own_journals(*where: Any) -> Any:
    """Subquery (journal_id, cooperative_id): each journal and each cooperative whose own
    account it posts to (:func:`cooperatives_posted`, in SQL), of the journals ``where`` keeps."""
    return (
        select(Posting.journal_id.label("journal_id"), LedgerAccount.owner_id.label("cooperative_id"))
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "cooperative", LedgerAccount.owner_id.is_not(None), *where)
        .distinct()
        .subquery("own")
    )


def ledger_volumes_query(conn: AsyncConnection) -> Any:
    """SQL: (cooperative, month, household, fen) summed from the ledger's postings (what
    ``cooperative_household_volumes`` must hold): the household legs on ``household:<id>`` and
    ``household:<id>:advance`` of the line journals posting to each cooperative's own accounts."""
    from sqlalchemy import or_

    own = _own_journals()
    month = _journal_month(conn)
    code = LedgerAccount.code
    return (
        select(own.c.cooperative_id, month, LedgerAccount.owner_id, -func.sum(Posting.amount_fen))
        .select_from(own)
        .join(JournalRow, JournalRow.id == own.c.journal_id)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            JournalRow.kind.in_(LINE_JOURNALS),
            LedgerAccount.owner_type == "household",
            LedgerAccount.owner_id.is_not(None),
            or_(code.like("household:%:advance"), ~code.like("household:%:%")),
        )
        .group_by(own.c.cooperative_id, month, LedgerAccount.owner_id)
    )


async def volumes_differing_from_ledger(conn: AsyncConnection, limit: int = 20) -> list[tuple[VolumeKey, int, int]]:
    """(key, table fen, ledger fen) where ``cooperative_household_volumes`` and the ledger disagree."""

    def key(coop: Any, month: Any, household: Any) -> VolumeKey:
        return (int(coop), as_date(month), int(household))

    ledger = {key(c, m, h): int(v) for c, m, h, v in await conn.execute(ledger_volumes_query(conn))}
    volume = CooperativeHouseholdVolume
    table = {
        key(c, m, h): int(v)
        for c, m, h, v in await conn.execute(
            select(volume.cooperative_id, volume.month, volume.household_id, volume.volume_fen)
        )
    }
    return _disagreements(table, ledger, 0, limit)


def ledger_foreign_retention_query(conn: AsyncConnection) -> Any:
    """SQL: (cooperative, month, fen) summed from the ledger's postings (what
    ``cooperative_foreign_retention`` must hold): the legs on retention accounts other than the
    cooperative's own of the line journals posting to its own accounts."""
    from sqlalchemy import String, cast, literal

    # Only a journal posting to two cooperatives has a leg on another one's retention account.
    several = (
        select(Posting.journal_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "cooperative", LedgerAccount.owner_id.is_not(None))
        .group_by(Posting.journal_id)
        .having(func.count(func.distinct(LedgerAccount.owner_id)) > 1)
    )
    own = _own_journals(Posting.journal_id.in_(several))
    month = _journal_month(conn)
    own_code = literal("cooperative:") + cast(own.c.cooperative_id, String) + literal(":retained")
    return (
        select(own.c.cooperative_id, month, -func.sum(Posting.amount_fen))
        .select_from(own)
        .join(JournalRow, JournalRow.id == own.c.journal_id)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            JournalRow.kind.in_(LINE_JOURNALS),
            LedgerAccount.code.like("cooperative:%"),
            LedgerAccount.code != own_code,
        )
        .group_by(own.c.cooperative_id, month)
    )


async def foreign_retention_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[int, date], int, int]]:
    """(key, table fen, ledger fen) where ``cooperative_foreign_retention`` and the ledger disagree."""

    def key(coop: Any, month: Any) -> tuple[int, date]:
        return (int(coop), as_date(month))

    ledger = {key(c, m): int(v) for c, m, v in await conn.execute(ledger_foreign_retention_query(conn))}
    foreign = CooperativeForeignRetention
    table = {
        key(c, m): int(v)
        for c, m, v in await conn.execute(select(foreign.cooperative_id, foreign.month, foreign.retention_fen))
    }
    return _disagreements(table, ledger, 0, limit)


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
    await _write_income(conn, _Columns.of_income(income_of(journals)))


def monthly_income(income: _Columns) -> _Columns:
    """Rows of ``household_daily_income`` summed per (household, month's first day)."""
    months: dict[tuple[Any, ...], tuple[int, int]] = {}
    for household, day, trade, surplus in zip(*income.keys, *income.values, strict=True):
        key = (household, month_of(day))
        seen = months.get(key)
        months[key] = (trade, surplus) if seen is None else (seen[0] + trade, seen[1] + surplus)
    return _Columns.of(months, 2, 2)


async def _write_income(conn: AsyncConnection, income: _Columns) -> None:
    """The day rows, then their months (``household_monthly_income``): every poster locks the
    two tables in this order."""
    keys = {"household_id": "bigint", "day": "date"}
    await _add_rows(conn, HouseholdDailyIncome, keys, ("trade_fen", "surplus_fen"), income)
    monthly = {"household_id": "bigint", "month": "date"}
    await _add_rows(conn, HouseholdMonthlyIncome, monthly, ("trade_fen", "surplus_fen"), monthly_income(income))


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


async def _income_differing(
    conn: AsyncConnection, ledger_query: Any, table: Any, when: Any, limit: int
) -> list[tuple[tuple[int, date], tuple[int, int], tuple[int, int]]]:
    """(key, table figures, ledger figures) where an income table (per household and ``when``, a
    day or a month's first day: trade fen, surplus fen) and ``ledger_query`` disagree."""

    def key(household: Any, day: Any) -> tuple[int, date]:
        return (int(household), as_date(day))

    ledger = {key(h, d): (int(t), int(s)) for h, d, t, s in await conn.execute(ledger_query)}
    rows = await conn.execute(select(table.household_id, when, table.trade_fen, table.surplus_fen))
    return _disagreements({key(h, d): (int(t), int(s)) for h, d, t, s in rows}, ledger, (0, 0), limit)


async def income_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[int, date], tuple[int, int], tuple[int, int]]]:
    """(key, table figures, ledger figures) where ``household_daily_income`` and the ledger disagree."""
    daily = HouseholdDailyIncome
    return await _income_differing(conn, ledger_income_query(conn), daily, daily.day, limit)


def ledger_monthly_income_query(conn: AsyncConnection) -> Any:
    """SQL: (household, month's first day, trade fen, surplus fen) summed from the ledger's
    postings (what ``household_monthly_income`` must hold)."""
    daily = ledger_income_query(conn).subquery("ledger_days")
    household, day, trade, surplus = daily.c
    if conn.dialect.name == "postgresql":
        month: Any = func.date_trunc("month", day).cast(Date)
    else:
        month = func.date(day, "start of month")
    return select(household, month, func.sum(trade), func.sum(surplus)).group_by(household, month)


async def monthly_income_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[int, date], tuple[int, int], tuple[int, int]]]:
    """(key, table figures, ledger figures) where ``household_monthly_income`` and the ledger disagree."""
    monthly = HouseholdMonthlyIncome
    return await _income_differing(conn, ledger_monthly_income_query(conn), monthly, monthly.month, limit)


# -- household line days ----------------------------------------------------------------------

LineDayKey = tuple[int, date, int]  # household, local day, order line (0: a journal of no line)
# journals, then the statement's legs (bangfu.queries.households.Legs), income positive.
LINE_DAY_VALUES = ("journals", "guaranteed_fen", "rebate_fen", "bonus_fen", "refunds_fen", "surplus_fen")
_GUARANTEED, _REBATE, _BONUS, _REFUNDS, _SURPLUS = range(1, 6)  # their columns in LINE_DAY_VALUES
_STATEMENT_LEGS = {"": _REBATE - 1, ":bonus": _BONUS - 1, ":advance": _GUARANTEED - 1}


def _statement_leg(account: Any) -> int:
    """0 guaranteed, 1 rebate, 2 bonus: which of its household's three income accounts
    (``household:<id>:advance``, ``household:<id>``, ``household:<id>:bonus``, by exact code, as
    the statement reads them) ``account`` is; -1 for any other account."""
    if account.owner_type != "household" or account.owner_id is None:
        return -1
    prefix = f"household:{int(account.owner_id)}"
    if not account.code.startswith(prefix):
        return -1
    return _STATEMENT_LEGS.get(account.code[len(prefix) :], -1)


def line_days_of(journals: Iterable[Journal]) -> dict[LineDayKey, tuple[int, ...]]:
    """(household, local day, line) -> :data:`LINE_DAY_VALUES` these income journals add: each
    journal once per household whose income accounts it posts to, its legs there negated (a
    refund's all in ``refunds_fen``, a surplus return's in ``surplus_fen``, a sale's or
    true-up's by account). The line is a trade journal's (0 when it names none), 0 for a surplus
    return: ``household_line_days``, what the statement sums."""
    out: dict[LineDayKey, list[int]] = {}
    for journal in journals:
        if journal.kind not in INCOME_KINDS:
            continue
        day = journal.occurred_at.astimezone(SHANGHAI).date()
        line = parse_line_event(journal.source_event) if journal.kind in LINE_JOURNALS else None
        column = {JournalKind.REFUND: _REFUNDS, JournalKind.SURPLUS: _SURPLUS}.get(journal.kind)
        touched: dict[int, list[int]] = {}
        for leg in journal.postings:
            which = _statement_leg(leg.account)
            if which < 0 or leg.account.owner_id is None:
                continue
            key = (int(leg.account.owner_id), day, line or 0)
            row = touched.get(key[0])
            if row is None:
                row = touched[key[0]] = out.setdefault(key, [0] * len(LINE_DAY_VALUES))
                row[0] += 1
            row[column if column is not None else which + 1] -= leg.amount_fen
    return {key: tuple(row) for key, row in out.items()}


async def _skus_of_lines(conn: AsyncConnection, lines: Sequence[int], known: Mapping[int, int]) -> list[int | None]:
    """The SKU of each of ``lines`` (None for line 0): from ``known``, else from ``order_lines``,
    the rest looked up in one statement (SQLite: one per bind-parameter limit's worth)."""
    skus: dict[int, int | None] = dict(known)
    missing = sorted({line for line in lines if line and line not in skus})
    step = len(missing) if conn.dialect.name == "postgresql" else SQLITE_PARAMETERS
    for start in range(0, len(missing), step or 1):
        rows = await conn.execute(
            select(OrderLine.id, OrderLine.sku_id).where(among(conn, OrderLine.id, missing[start : start + step]))
        )
        skus.update({int(line): sku for line, sku in rows})
    return [skus.get(line) if line else None for line in lines]


async def _write_line_days(conn: AsyncConnection, line_days: _Columns, skus: Sequence[int | None]) -> None:
    """Add ``line_days`` with each row's SKU (``skus``, in the rows' order): written with a new
    row, kept by an existing one (migration 0052's triggers keep it equal to its line's when the
    line's SKU changes)."""
    keys = {"household_id": "bigint", "day": "date", "order_line_id": "bigint"}
    rows = _Columns((*line_days.keys, list(skus)), line_days.values)
    await _add_rows(conn, HouseholdLineDay, keys, LINE_DAY_VALUES, rows, kept={"sku_id": "bigint"})


def ledger_line_days_query(conn: AsyncConnection) -> Any:
    """SQL: (household, day, line, *LINE_DAY_VALUES) summed from the ledger's postings (what
    ``household_line_days`` must hold; the migration's backfill, as a query): the legs on each
    household's three income accounts of the income journals, the journals counted apart."""
    from sqlalchemy import Date as SqlDate
    from sqlalchemy import String, and_, case, cast, literal, literal_column, or_

    from bangfu.queries.cooperatives import line_id_of

    if conn.dialect.name == "postgresql":
        day: Any = cast(JournalRow.occurred_at.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), SqlDate)
    else:
        day = cast(func.date(JournalRow.occurred_at, "+8 hours"), String)
    line = func.coalesce(case((JournalRow.kind.in_(LINE_JOURNALS), line_id_of(conn, JournalRow.source_event))), 0)
    own = literal("household:") + cast(LedgerAccount.owner_id, String)
    code = LedgerAccount.code
    trade = JournalRow.kind.in_([JournalKind.SALE, JournalKind.TRUE_UP])
    amount = Posting.amount_fen

    def credit(condition: Any) -> Any:
        return -func.sum(case((condition, amount), else_=0))

    return (
        select(
            LedgerAccount.owner_id,
            day,
            line,
            func.count(func.distinct(JournalRow.id)),
            credit(and_(trade, code == own + ":advance")),
            credit(and_(trade, code == own)),
            credit(and_(trade, code == own + ":bonus")),
            credit(JournalRow.kind == JournalKind.REFUND),
            credit(JournalRow.kind == JournalKind.SURPLUS),
        )
        .select_from(JournalRow)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            LedgerAccount.owner_type == "household",
            LedgerAccount.owner_id.is_not(None),
            or_(code == own, code == own + ":bonus", code == own + ":advance"),
            JournalRow.kind.in_(INCOME_KINDS),
        )
        .group_by(LedgerAccount.owner_id, day, line)
    )


async def household_line_days_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[LineDayKey, tuple[int, ...], tuple[int, ...]]]:
    """(key, table figures, ledger figures) where ``household_line_days`` and the ledger disagree
    (figures in the order of :data:`LINE_DAY_VALUES`)."""

    def key(household: Any, day: Any, line: Any) -> LineDayKey:
        return (int(household), as_date(day), int(line))

    ledger = {key(*row[:3]): tuple(int(v) for v in row[3:]) for row in await conn.execute(ledger_line_days_query(conn))}
    days = HouseholdLineDay.__table__.c
    table = {
        key(*row[:3]): tuple(int(v) for v in row[3:])
        for row in await conn.execute(
            select(days.household_id, days.day, days.order_line_id, *(days[name] for name in LINE_DAY_VALUES))
        )
    }
    return _disagreements(table, ledger, (0,) * len(LINE_DAY_VALUES), limit)


async def household_line_day_skus_differing_from_lines(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[LineDayKey, int | None, int | None]]:
    """(key, the row's SKU, its line's SKU) where a ``household_line_days`` row's ``sku_id`` is not
    its order line's (``order_lines.sku_id``; None for line 0 and for a line that is gone): the
    statement names a row by it."""
    days = HouseholdLineDay.__table__.c
    lines = OrderLine.__table__.c
    query = (
        select(days.household_id, days.day, days.order_line_id, days.sku_id, lines.sku_id)
        .select_from(HouseholdLineDay.__table__.outerjoin(OrderLine.__table__, lines.id == days.order_line_id))
        .where(days.sku_id.is_distinct_from(lines.sku_id))
        .order_by(days.household_id, days.day, days.order_line_id)
        .limit(limit)
    )
    return [
        ((int(household), as_date(day), int(line)), row_sku, line_sku)
        for household, day, line, row_sku, line_sku in await conn.execute(query)
    ]
