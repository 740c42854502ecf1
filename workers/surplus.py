"""Year-end surplus distribution of a cooperative (Farmers' Professional Cooperatives Law 2017, arts. 40-44).

Definitions (documented choices, see DOMAIN.md):

- **Year**: the calendar year in Asia/Shanghai, by each journal's ``occurred_at``.
- **Distributable surplus**: what the line journals of the year left in the cooperative's
  retention account ``cooperative:<id>:retained`` -- sale and true-up credits minus the refund
  reversals dated in the year (a refund in the year of a sale of an earlier year lowers this
  year's surplus; closed periods are never edited). Earlier surplus journals are not counted.
  Zero or less: nothing to distribute, an error.
- **Patronage return** (art. 44): ``patronage_return_bp`` of the policy version in force on the
  year's last day, at least 60% (refused below, the law named); its leftover fen stay in the
  patronage part. Split among the cooperative's member households by their transaction volume
  with the cooperative in the year: what the year's line journals of this cooperative (those
  posting to its retention or collective account) credited to the household's share accounts,
  ``household:<id>`` (rebate) and ``household:<id>:advance`` (guaranteed price recovered), net of
  refunds. The priority bonus is aid, not a transaction, so it is not volume.
- **Non-members** (art. 41): households that delivered to the cooperative's lots but are
  members of another cooperative or none are accounted separately (``non_member_volume_fen`` in
  the plan) and are not part of the patronage base.
- **The rest** goes by each member account's capital + reserve share + subsidy share (art. 43,
  ``MemberAccount``); if no member has any, by transaction volume as well.
- Every split is largest remainder, so the parts sum to the distributable surplus exactly.

Where the figures are read: the preview page (:func:`compute_surplus`) reads the ledger's
pre-aggregates kept as journals are posted (``bangfu.line_credits``): the distributable surplus
is the ``retention`` column of ``cooperative_line_facts`` (credits positive) over the year's days,
read through ``cooperative_day_totals`` (``bangfu.cooperative_groups.totals``), less the legs on
other cooperatives' retention accounts of journals posting to two cooperatives
(``cooperative_foreign_retention``), and the volumes
are ``cooperative_household_volumes`` over the year's twelve months; both are exactly the
ledger's sums (``bangfu verify`` proves the tables, ``tests/workers/test_surplus_volumes.py`` the
figures). :func:`distribute_surplus`, which posts money, sums the postings themselves
(``from_ledger=True``).

Posted as one ``surplus`` journal (source ``surplus:<cooperative>:<year>``): the retention
account is debited with the distributable surplus and each member's ``household:<id>`` account
credited with its part. ``surplus_distributions`` records it once per (cooperative, year): a
second run is refused with :class:`SurplusError`. Art. 40 (the plan on file 15 days before the
general meeting) is procedural: ``dry_run`` prints the plan to file without posting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import cooperative_groups
from bangfu.enums import JournalKind
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.ledger import (
    Journal,
    collective_account,
    household_account,
    journal_from_legs,
    post,
    retention_account,
)
from bangfu.models import (
    Cooperative,
    CooperativeForeignRetention,
    CooperativeHouseholdVolume,
    Household,
    LedgerAccount,
    MemberAccount,
    Posting,
    SplitPolicy,
    SurplusDistribution,
)
from bangfu.models import (
    Journal as JournalRow,
)
from bangfu.money import split_largest_remainder
from bangfu.policy import BP_WHOLE, check_patronage_return
from workers.posting import SHANGHAI, policy_in_force

_LINE_KINDS = (JournalKind.SALE, JournalKind.TRUE_UP, JournalKind.REFUND)


class SurplusError(UserError):
    """The surplus cannot be distributed as asked (already done, nothing to distribute, no policy)."""


@dataclass(frozen=True)
class MemberShare:
    household_id: int
    member_no: str
    volume_fen: int  # transaction volume with the cooperative in the year
    capital_fen: int
    reserve_share_fen: int
    subsidy_share_fen: int
    patronage_fen: int  # returned by transaction volume
    share_fen: int  # returned by capital, reserve and subsidy shares

    @property
    def total_fen(self) -> int:
        return self.patronage_fen + self.share_fen


@dataclass(frozen=True)
class SurplusPlan:
    cooperative_id: int
    year: int
    policy_version: int
    patronage_return_bp: int
    distributable_fen: int
    patronage_fen: int
    shares_fen: int
    members: tuple[MemberShare, ...]
    non_member_volume_fen: int
    shares_basis: str  # "shares" or "volume" (no member has capital, reserve or subsidy shares)

    @property
    def source_event(self) -> str:
        return f"surplus:{self.cooperative_id}:{self.year}"

    def journal(self, occurred_at: datetime) -> Journal:
        legs = {retention_account(self.cooperative_id).code: self.distributable_fen}
        for member in self.members:
            if member.total_fen:
                legs[household_account(member.household_id).code] = -member.total_fen
        return journal_from_legs(
            JournalKind.SURPLUS,
            self.source_event,
            occurred_at,
            legs,
            memo=f"{self.year} surplus: {self.patronage_return_bp} bp by transaction volume (art. 44)",
        )

    def as_doc(self) -> dict[str, Any]:
        """The plan as JSON-ready data (what a distribution records): its fields in order, each
        member's fields and ``total_fen``. Built field by field: ``dataclasses.asdict`` deep-copies
        every value and cost the surplus page about 25 ms for 1,700 members."""
        members = [
            {**{name: getattr(m, name) for name in _MEMBER_FIELDS}, "total_fen": m.total_fen} for m in self.members
        ]
        return {name: members if name == "members" else getattr(self, name) for name in _PLAN_FIELDS}


_MEMBER_FIELDS = tuple(f.name for f in fields(MemberShare))
_PLAN_FIELDS = tuple(f.name for f in fields(SurplusPlan))


def plan_surplus(
    *,
    cooperative_id: int,
    year: int,
    policy_version: int,
    patronage_return_bp: int,
    distributable_fen: int,
    members: Mapping[int, tuple[str, int, int, int, int]],
    non_member_volume_fen: int = 0,
) -> SurplusPlan:
    """Split ``distributable_fen`` (pure). ``members``: household -> (member no, volume, capital, reserve, subsidy)."""
    check_patronage_return(patronage_return_bp)
    if distributable_fen <= 0:
        raise SurplusError(t("surplus.err.none", cooperative=cooperative_id, year=year, fen=distributable_fen))
    volumes = {hid: max(m[1], 0) for hid, m in sorted(members.items())}
    if not any(volumes.values()):
        raise SurplusError(t("surplus.err.no_volume", cooperative=cooperative_id, year=year))
    parts = split_largest_remainder(
        distributable_fen,
        {"patronage": patronage_return_bp, "shares": BP_WHOLE - patronage_return_bp},
        leftover_to="patronage",
    )
    patronage = split_largest_remainder(parts["patronage"], volumes)
    share_weights = {hid: m[2] + m[3] + m[4] for hid, m in sorted(members.items())}
    basis = "shares"
    if not any(w > 0 for w in share_weights.values()):
        share_weights, basis = volumes, "volume"
    shares = split_largest_remainder(parts["shares"], {hid: max(w, 0) for hid, w in share_weights.items()})
    plan = tuple(
        MemberShare(hid, m[0], m[1], m[2], m[3], m[4], patronage[hid], shares[hid])
        for hid, m in sorted(members.items())
    )
    assert sum(m.total_fen for m in plan) == distributable_fen
    return SurplusPlan(
        cooperative_id=cooperative_id,
        year=year,
        policy_version=policy_version,
        patronage_return_bp=patronage_return_bp,
        distributable_fen=distributable_fen,
        patronage_fen=parts["patronage"],
        shares_fen=parts["shares"],
        members=plan,
        non_member_volume_fen=non_member_volume_fen,
        shares_basis=basis,
    )


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The year in Asia/Shanghai, as UTC instants [start, end)."""
    start = datetime.combine(date(year, 1, 1), time(0), SHANGHAI).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(0), SHANGHAI).astimezone(UTC)
    return start, end


async def compute_surplus(
    conn: AsyncConnection, cooperative_id: int, year: int, *, from_ledger: bool = False
) -> SurplusPlan:
    """The plan of ``cooperative_id`` for ``year`` from the ledger's figures and the member
    accounts: read from the pre-aggregates (:func:`kept_figures`), or with ``from_ledger``
    summed from the postings (:func:`ledger_figures`); the two are equal."""
    if await conn.scalar(select(Cooperative.id).where(Cooperative.id == cooperative_id)) is None:
        raise SurplusError(t("surplus.err.no_cooperative", cooperative=cooperative_id))
    versions = [
        (row[0], row[1], row[2], row[3])
        for row in await conn.execute(
            select(
                SplitPolicy.effective_from, SplitPolicy.version, SplitPolicy.patronage_return_bp, SplitPolicy.rules
            ).where(SplitPolicy.cooperative_id == cooperative_id)
        )
    ]
    chosen = policy_in_force(versions, date(year, 12, 31))
    if chosen is None:
        raise SurplusError(t("surplus.err.no_policy", cooperative=cooperative_id, year=year))
    _, policy_version, patronage_bp, _ = chosen

    figures = ledger_figures if from_ledger else kept_figures
    distributable, volumes = await figures(conn, cooperative_id, year)
    members: dict[int, tuple[str, int, int, int, int]] = {}
    for hid, member_no, capital, reserve, subsidy in await conn.execute(
        select(
            Household.id,
            Household.member_no,
            MemberAccount.capital_fen,
            MemberAccount.reserve_share_fen,
            MemberAccount.subsidy_share_fen,
        )
        .outerjoin(MemberAccount, MemberAccount.household_id == Household.id)
        .where(Household.cooperative_id == cooperative_id)
    ):
        members[hid] = (member_no, volumes.pop(hid, 0), capital or 0, reserve or 0, subsidy or 0)
    return plan_surplus(
        cooperative_id=cooperative_id,
        year=year,
        policy_version=policy_version,
        patronage_return_bp=patronage_bp,
        distributable_fen=distributable,
        members=members,
        non_member_volume_fen=sum(volumes.values()),
    )


async def ledger_figures(conn: AsyncConnection, cooperative_id: int, year: int) -> tuple[int, dict[int, int]]:
    """(distributable surplus, household -> transaction volume) of the year, summed from the
    postings of the year's line journals."""
    start, end = year_bounds(year)
    retention = retention_account(cooperative_id).code
    in_year = (JournalRow.occurred_at >= start, JournalRow.occurred_at < end, JournalRow.kind.in_(_LINE_KINDS))
    retained = await conn.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(JournalRow, JournalRow.id == Posting.journal_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.code == retention, *in_year)
    )
    distributable = -int(retained or 0)

    own_accounts = select(LedgerAccount.id).where(
        LedgerAccount.code.in_([retention, collective_account(cooperative_id).code])
    )
    of_coop = select(Posting.journal_id).where(Posting.account_id.in_(own_accounts.scalar_subquery()))
    rows = await conn.execute(
        select(LedgerAccount.owner_id, func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalRow, JournalRow.id == Posting.journal_id)
        .where(
            LedgerAccount.owner_type == "household",
            or_(LedgerAccount.code.like("household:%:advance"), ~LedgerAccount.code.like("household:%:%")),
            JournalRow.id.in_(of_coop.scalar_subquery()),
            *in_year,
        )
        .group_by(LedgerAccount.owner_id)
    )
    return distributable, {int(owner): -int(total) for owner, total in rows if owner is not None}


async def kept_figures(conn: AsyncConnection, cooperative_id: int, year: int) -> tuple[int, dict[int, int]]:
    """:func:`ledger_figures` from the pre-aggregates: the retention credited by the
    cooperative's line journals (``cooperative_line_facts.retention``, summed per day in
    ``cooperative_day_totals``) over the year's days, less what they credited other
    cooperatives' retention accounts (``cooperative_foreign_retention``, journals posting to two
    cooperatives), and ``cooperative_household_volumes`` over its months."""
    days = (date(year, 1, 1), date(year, 12, 31))
    totals = cooperative_groups.totals(conn, lambda column: column == cooperative_id, days)
    retained = await conn.scalar(select(func.coalesce(func.sum(totals.c.retention), 0)))
    foreign = CooperativeForeignRetention
    others = await conn.scalar(
        select(func.coalesce(func.sum(foreign.retention_fen), 0)).where(
            foreign.cooperative_id == cooperative_id, foreign.month >= days[0], foreign.month <= days[1]
        )
    )
    volume = CooperativeHouseholdVolume
    rows = await conn.execute(
        select(volume.household_id, func.sum(volume.volume_fen))
        .where(volume.cooperative_id == cooperative_id, volume.month >= days[0], volume.month <= days[1])
        .group_by(volume.household_id)
    )
    return int(retained or 0) - int(others or 0), {int(household): int(total) for household, total in rows}


async def distribute_surplus(
    conn: AsyncConnection,
    cooperative_id: int,
    year: int,
    *,
    dry_run: bool = False,
    occurred_at: datetime | None = None,
) -> SurplusPlan:
    """Compute the plan and, unless ``dry_run``, post it and record it, in the caller's transaction.

    Refused with :class:`SurplusError` when the (cooperative, year) is already distributed.
    """
    done = await conn.scalar(
        select(SurplusDistribution.created_at).where(
            SurplusDistribution.cooperative_id == cooperative_id, SurplusDistribution.year == year
        )
    )
    if done is not None:
        raise SurplusError(t("surplus.err.done", cooperative=cooperative_id, year=year, day=f"{done:%Y-%m-%d}"))
    plan = await compute_surplus(conn, cooperative_id, year, from_ledger=True)  # posted money: the postings'
    if dry_run:
        return plan
    journal = plan.journal(occurred_at or datetime.now(UTC))
    await post(conn, [journal])
    journal_id = await conn.scalar(select(JournalRow.id).where(JournalRow.uid == journal.uid))
    await conn.execute(
        insert(SurplusDistribution).values(
            cooperative_id=cooperative_id,
            year=year,
            policy_version=plan.policy_version,
            distributable_fen=plan.distributable_fen,
            patronage_fen=plan.patronage_fen,
            shares_fen=plan.shares_fen,
            journal_id=journal_id,
            plan=plan.as_doc(),
        )
    )
    return plan
