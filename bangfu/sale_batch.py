"""Sale journals of a whole batch of lines at once: legs as flat arrays, no object per leg.

A line's first posting (paid, not refunded, no sale journal yet) is by far the commonest thing
posting does, and building its ~25 legs as :class:`bangfu.journal_rules.Posting` objects, then
reading them back for the hash, the posting rows and the pages' pre-aggregates, cost most of the
worker's time (docs/accounting.md, "Against the floor"). :class:`SaleBatch` computes exactly the
journals :func:`bangfu.journal_rules.build_sale_journal` builds, for many lines in one vectorised
pass per split plan (lines with the same draws share one, :func:`bangfu.split.plan_split`):

- the net split into the policy's pools by basis points, the household pool and the bonus pool
  over the plan's household weights, each with the leftover fen to the named party (the same
  floors as :func:`bangfu.money.split_largest_remainder` with ``leftover_to``, in int64, or in
  Python ints when a product could pass 2**62);
- each household's share credited against the guaranteed price of its units first, the rest as
  rebate (``allow_negative_rebate``: the whole guarantee, the rebate may be negative);
- the legs in the order the journal lists them (head, retention, collective, then per household
  in id order: advance, rebate, bonus), zero legs dropped, as three flat arrays (line, account,
  amount) cut per line by offsets.

:func:`bangfu.ledger.post` takes a :class:`BatchedSale` wherever it takes a
:class:`~bangfu.journal_rules.Journal`, hashes its legs, writes its posting rows and books its
pre-aggregates from the arrays (:mod:`bangfu.line_credits`); :meth:`BatchedSale.journal`
materialises the equal :class:`~bangfu.journal_rules.Journal` for the rare paths (a uid already
in the ledger, a duplicate in the batch). ``tests/bangfu/test_sale_batch.py`` checks every
journal against :func:`~bangfu.journal_rules.build_sale_journal`, leg for leg.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from bangfu.enums import JournalKind
from bangfu.journal_rules import (
    Account,
    Journal,
    Posting,
    UnbalancedJournalError,
    collective_account,
    fee_account,
    host_commission_account,
    household_account,
    household_advance_account,
    household_bonus_account,
    journal_uid,
    receivable_account,
    retention_account,
    sale_event_key,
)
from bangfu.policy import BP_WHOLE
from bangfu.split import LineFees, SplitPlan, plan_weights

_HEAD = 5  # receivable, platform fee, payment fee, logistics, host commission
_SAFE = 1 << 62  # int64 products stay below this; beyond it the floors are taken in Python ints


class _Line(NamedTuple):
    shop_id: int
    line_id: int
    version: int
    occurred_at: datetime
    paid_fen: int
    fees: LineFees
    host_id: int | None
    cooperative_id: int
    plan: SplitPlan
    plan_key: Hashable


class BatchedSale(NamedTuple):
    """One sale journal of a :class:`SaleBatch`: what :func:`bangfu.ledger.post` reads of a journal."""

    batch: SaleBatch
    slot: int  # its line's index in the batch

    @property
    def uid(self) -> str:
        return self.batch.uids[self.slot]

    @property
    def kind(self) -> JournalKind:
        return JournalKind.SALE

    @property
    def source_event(self) -> str:
        return self.batch.source_events[self.slot]

    @property
    def occurred_at(self) -> datetime:
        return self.batch.lines[self.slot].occurred_at

    @property
    def memo(self) -> str | None:
        return None

    @property
    def reverses_uid(self) -> str | None:
        return None

    @property
    def legs(self) -> dict[str, int]:
        """Amount per account code, in the journal's leg order."""
        return self.batch.legs(self.slot)

    @property
    def postings(self) -> tuple[Posting, ...]:
        return self.journal().postings

    def journal(self) -> Journal:
        """The equal :class:`~bangfu.journal_rules.Journal` (objects per leg: for rare paths only)."""
        return self.batch.journal(self.slot)


@dataclass
class _Legs:
    line: Any  # int64: the batch index of each leg's line, legs of a line contiguous
    account: Any  # int64: index into SaleBatch.accounts
    amount: Any  # int64
    starts: list[int]  # the legs of line i are starts[i]:starts[i + 1]


_RETENTION, _COLLECTIVE, _BONUS, _HOUSEHOLDS = 0, 1, 2, 3  # PlanWeights' pool indexes


class _Plans:
    """The split plans of a batch's groups of lines as arrays, households of all plans end to end
    (plan ``g``'s are rows ``first[g] : first[g] + width[g]``)."""

    def __init__(self, batch: SaleBatch, firsts: Sequence[_Line]) -> None:
        every = [plan_weights(line.plan) for line in firsts]
        for weights in every:
            if (weights.retention_pool, weights.collective_pool, weights.bonus_pool, weights.households_pool) != (
                _RETENTION,
                _COLLECTIVE,
                _BONUS,
                _HOUSEHOLDS,
            ):
                raise RuntimeError("PlanWeights' pool order changed")
        values = [v for w in every for v in (*w.shares, w.orphan, *w.bonuses, *w.pools)]
        sums = [t for w in every for t in (sum(w.shares) + w.orphan, sum(w.bonuses))]
        self.largest = max((*values, *sums), default=0)
        exact: Any = np.int64 if self.largest < _SAFE else object
        self.pools = np.array([w.pools for w in every], dtype=np.int64).reshape(len(every), 4)
        self.named = np.array([w.named for w in every], dtype=np.int64)
        self.width = np.array([len(w.households) for w in every], dtype=np.int64)
        self.first = np.cumsum(self.width) - self.width
        self.share_total = np.array([sum(w.shares) + w.orphan for w in every], dtype=exact)
        self.bonus_total = np.array([sum(w.bonuses) for w in every], dtype=exact)
        self.shares = np.array([v for w in every for v in w.shares], dtype=exact)
        self.bonuses = np.array([v for w in every for v in w.bonuses], dtype=exact)
        self.guaranteed = np.array([v for w in every for v in w.guaranteed], dtype=np.int64)
        self.negative = np.array([line.plan.policy.allow_negative_rebate for line in firsts], dtype=bool)
        self.own_accounts = np.array(
            [
                (
                    batch._account(retention_account(line.cooperative_id)),
                    batch._account(collective_account(line.cooperative_id)),
                )
                for line in firsts
            ],
            dtype=np.int64,
        ).reshape(len(firsts), 2)
        self.household_accounts = np.array(
            [
                (
                    batch._account(household_advance_account(hid)),
                    batch._account(household_account(hid)),
                    batch._account(household_bonus_account(hid)),
                )
                for w in every
                for hid in w.households
            ],
            dtype=np.int64,
        ).reshape(-1, 3)


class SaleBatch:
    """Sale journals of many lines, computed together (see the module docstring).

    :meth:`add` each line (its fees, host and split plan already known), then read the results;
    they are computed on first use and never change afterwards.
    """

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.uids: list[str] = []
        self.source_events: list[str] = []
        self.accounts: list[Account] = []
        self._account_index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def add(
        self,
        *,
        shop_id: int,
        line_id: int,
        version: int,
        occurred_at: datetime,
        paid_fen: int,
        fees: LineFees,
        host_id: int | None,
        cooperative_id: int,
        plan: SplitPlan,
        plan_key: Hashable,
    ) -> BatchedSale:
        """A line's sale journal, computed with the batch's. Only lines whose journal
        :func:`~bangfu.journal_rules.build_sale_journal` builds without an error belong here:
        paid more than 0 fen, a commission only with a host, an aware payment time."""
        if paid_fen <= 0 or (fees.host_commission_fen and host_id is None) or occurred_at.utcoffset() is None:
            raise ValueError(f"line {line_id}: not a plain sale for the batch")
        if "_legs" in self.__dict__:
            raise RuntimeError("the batch is computed already")
        self.lines.append(
            _Line(shop_id, line_id, version, occurred_at, paid_fen, fees, host_id, cooperative_id, plan, plan_key)
        )
        source = sale_event_key(shop_id, line_id, version)
        self.source_events.append(source)
        self.uids.append(journal_uid(source))
        return BatchedSale(self, len(self.lines) - 1)

    def _account(self, account: Account) -> int:
        index = self._account_index.get(account.code)
        if index is None:
            index = self._account_index[account.code] = len(self.accounts)
            self.accounts.append(account)
        return index

    @cached_property
    def _legs(self) -> _Legs:
        count = len(self.lines)
        head_account = np.full((count, _HEAD), -1, dtype=np.int64)
        head_amount = np.zeros((count, _HEAD), dtype=np.int64)
        net_fen: list[int] = []
        group_of = np.empty(count, dtype=np.int64)
        groups: dict[Hashable, int] = {}
        firsts: list[_Line] = []
        for i, line in enumerate(self.lines):
            fees, shop = line.fees, line.shop_id
            head_account[i, :4] = (
                self._account(receivable_account(shop)),
                self._account(fee_account(shop, "platform_fee")),
                self._account(fee_account(shop, "payment_fee")),
                self._account(fee_account(shop, "logistics")),
            )
            head_amount[i] = (
                line.paid_fen,
                -fees.platform_fee_fen,
                -fees.payment_fee_fen,
                -fees.logistics_fen,
                -fees.host_commission_fen,
            )
            if line.host_id is not None:
                head_account[i, 4] = self._account(host_commission_account(line.host_id))
            net_fen.append(line.paid_fen - fees.total_fen)
            group = groups.setdefault((line.cooperative_id, line.plan_key), len(groups))
            if group == len(firsts):
                firsts.append(line)
            group_of[i] = group
        plans = _Plans(self, firsts)
        # Exact in int64 when no product of a magnitude and a weight can reach 2**62, else in
        # Python ints (object arrays): the same floors either way.
        top = max((abs(n) for n in net_fen), default=0)
        exact: Any = np.int64 if top * plans.largest < _SAFE and top * BP_WHOLE < _SAFE else object
        net = np.array(net_fen, dtype=exact)

        # The policy's pools, each net by basis points, the leftover fen to the named pool.
        magnitude, sign = np.abs(net), np.where(net < 0, -1, 1)
        pools = magnitude[:, None] * plans.pools[group_of] // BP_WHOLE
        named = plans.named[group_of]
        everyone = np.arange(count)
        pools[everyone, named] += magnitude - pools.sum(axis=1)
        pools = pools * sign[:, None]

        # One row per (line, household of its plan), households in the plan's order.
        width = plans.width[group_of]
        pair_line = np.repeat(everyone, width)
        pair_start = np.cumsum(width) - width
        pair_household = plans.first[group_of][pair_line] + np.arange(len(pair_line)) - pair_start[pair_line]

        def split(pool: Any, weight: Any, total: Any) -> tuple[Any, Any]:
            """Each line's ``pool`` over its households' ``weight`` / ``total`` (floors of the
            magnitude, sign given back), and what is left of it for the named party."""
            size = np.abs(pool)
            totals = total[group_of][pair_line]
            parts = np.where(totals > 0, size[pair_line] * weight[pair_household] // np.maximum(totals, 1), 0)
            given = np.zeros(count, dtype=exact)
            np.add.at(given, pair_line, parts)
            signs = np.where(pool < 0, -1, 1)
            return parts * signs[pair_line], (size - given) * signs

        shares, share_left = split(pools[:, _HOUSEHOLDS], plans.shares, plans.share_total)
        bonuses, bonus_left = split(pools[:, _BONUS], plans.bonuses, plans.bonus_total)
        pools[everyone, named] += share_left + bonus_left
        owed = plans.guaranteed[pair_household]
        negative = plans.negative[group_of][pair_line]
        rebate = np.where(negative | (shares > owed), shares - owed, 0)
        recovered = np.where(negative, owed, shares - rebate)

        # Every leg: a line's head, retention and collective, then its households' three legs.
        head_amounts = np.concatenate((head_amount, -pools[:, [_RETENTION, _COLLECTIVE]].astype(np.int64)), axis=1)
        head_accounts = np.concatenate((head_account, plans.own_accounts[group_of]), axis=1)
        pair_amounts = -np.stack((recovered, rebate, bonuses), axis=1).astype(np.int64)
        pair_accounts = plans.household_accounts[pair_household]
        leg_line = np.concatenate((np.repeat(everyone, head_amounts.shape[1]), np.repeat(pair_line, 3)))
        account = np.concatenate((head_accounts.ravel(), pair_accounts.ravel()))
        amount = np.concatenate((head_amounts.ravel(), pair_amounts.ravel()))
        kept = amount != 0
        leg_line, account, amount = leg_line[kept], account[kept], amount[kept]
        order = np.argsort(leg_line, kind="stable")  # line by line, each line's legs in order
        leg_line, account, amount = leg_line[order], account[order], amount[order]
        counts = np.bincount(leg_line, minlength=count)
        starts = np.concatenate(([0], np.cumsum(counts)))
        if count and (counts.min() < 2 or np.any(np.add.reduceat(amount, starts[:-1]) != 0) or np.any(account < 0)):
            raise UnbalancedJournalError("a batched sale journal is unbalanced or has fewer than two legs")
        return _Legs(leg_line, account, amount, starts.tolist())

    # -- reading the journals -------------------------------------------------------------------

    @cached_property
    def _codes(self) -> Any:
        return np.array([a.code for a in self.accounts], dtype=object)

    @cached_property
    def _in_leg_order(self) -> tuple[list[str], list[int]]:
        legs = self._legs
        return self._codes[legs.account].tolist(), legs.amount.tolist()

    @cached_property
    def _in_code_order(self) -> tuple[list[str], list[int]]:
        legs = self._legs
        rank = np.empty(len(self.accounts), dtype=np.int64)
        rank[np.argsort(self._codes, kind="stable")] = np.arange(len(self.accounts))
        order = np.lexsort((rank[legs.account], legs.line))
        return self._codes[legs.account[order]].tolist(), legs.amount[order].tolist()

    def legs(self, index: int) -> dict[str, int]:
        """Line ``index``'s legs, amount by account code, in the journal's leg order."""
        codes, amounts = self._in_leg_order
        start, end = self._legs.starts[index], self._legs.starts[index + 1]
        return dict(zip(codes[start:end], amounts[start:end], strict=True))

    def sorted_legs(self, index: int) -> list[tuple[str, int]]:
        """Line ``index``'s legs as (code, amount), sorted by code (what the chain hashes)."""
        codes, amounts = self._in_code_order
        start, end = self._legs.starts[index], self._legs.starts[index + 1]
        return list(zip(codes[start:end], amounts[start:end], strict=True))

    def journal(self, index: int) -> Journal:
        legs = self._legs
        start, end = legs.starts[index], legs.starts[index + 1]
        accounts = self.accounts
        return Journal(
            uid=self.uids[index],
            kind=JournalKind.SALE,
            source_event=self.source_events[index],
            occurred_at=self.lines[index].occurred_at,
            postings=tuple(
                Posting(accounts[a], m)
                for a, m in zip(legs.account[start:end].tolist(), legs.amount[start:end].tolist(), strict=True)
            ),
        )

    def leg_arrays(self, indexes: Sequence[int]) -> tuple[Any, Any, Any]:
        """(line, account, amount) of the legs of lines ``indexes`` (batch indexes, ascending)."""
        legs = self._legs
        if len(indexes) == len(self.lines):
            return legs.line, legs.account, legs.amount
        keep = np.zeros(len(self.lines), dtype=bool)
        keep[np.asarray(indexes, dtype=np.int64)] = True
        mask = keep[legs.line]
        return legs.line[mask], legs.account[mask], legs.amount[mask]


def by_batch(journals: Iterable[object]) -> dict[SaleBatch, list[int]]:
    """The batched sales among ``journals``: their batch indexes (ascending), by batch."""
    out: dict[SaleBatch, list[int]] = {}
    for journal in journals:
        if isinstance(journal, BatchedSale):
            out.setdefault(journal.batch, []).append(journal.slot)
    for indexes in out.values():
        indexes.sort()
    return out
