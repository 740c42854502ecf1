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


def _floors(magnitude: Any, weights: Sequence[int], total: int) -> Any:
    """``magnitude[:, None] * weights // total``: int64 when no product can pass 2**62, else
    Python ints (object arrays), so the floors are always exact."""
    if total <= 0 or not len(weights):
        return np.zeros((len(magnitude), len(weights)), dtype=np.int64)
    top = int(magnitude.max()) if len(magnitude) else 0
    if top * max(weights) < _SAFE and total < _SAFE:
        return magnitude[:, None] * np.asarray(weights, dtype=np.int64)[None, :] // total
    big = np.array([int(v) for v in magnitude], dtype=object)
    return big[:, None] * np.array(list(weights), dtype=object)[None, :] // total


def _split_named(amount: Any, weights: Sequence[int], named: int) -> Any:
    """Each row's ``amount`` split by ``weights``, floors of the magnitude, every leftover fen to
    column ``named``, the sign given back (:func:`bangfu.money.split_largest_remainder` with
    ``leftover_to``; weights summing to zero send everything to ``named``)."""
    total = sum(weights)
    magnitude = np.abs(amount)
    parts = _floors(magnitude, weights, total)
    parts[:, named] += magnitude - parts.sum(axis=1)
    sign = np.where(amount < 0, -1, 1)
    return (parts * sign[:, None]).astype(np.int64)


@dataclass
class _Legs:
    line: Any  # int64: the batch index of each leg's line, legs of a line contiguous
    account: Any  # int64: index into SaleBatch.accounts
    amount: Any  # int64
    starts: list[int]  # the legs of line i are starts[i]:starts[i + 1]


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
        net = np.zeros(count, dtype=np.int64)
        groups: dict[Hashable, list[int]] = {}
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
            net[i] = line.paid_fen - fees.total_fen
            groups.setdefault((line.cooperative_id, line.plan_key), []).append(i)

        pieces: list[tuple[Any, Any, Any]] = []
        for members in groups.values():
            rows = np.asarray(members, dtype=np.int64)
            first = self.lines[members[0]]
            amounts, accounts = self._group(first.cooperative_id, first.plan, net[rows])
            amounts = np.concatenate((head_amount[rows], amounts), axis=1)
            tail = np.broadcast_to(accounts, (len(rows), len(accounts)))
            accounts = np.concatenate((head_account[rows], tail), axis=1)
            kept = amounts != 0
            at, _ = np.nonzero(kept)
            pieces.append((rows[at], accounts[kept], amounts[kept]))
        leg_line = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
        account = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
        amount = np.concatenate([p[2] for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
        order = np.argsort(leg_line, kind="stable")  # back to the batch's line order, leg order kept
        leg_line, account, amount = leg_line[order], account[order], amount[order]
        counts = np.bincount(leg_line, minlength=count)
        starts = np.concatenate(([0], np.cumsum(counts)))
        if count and (counts.min() < 2 or np.any(np.add.reduceat(amount, starts[:-1]) != 0) or np.any(account < 0)):
            raise UnbalancedJournalError("a batched sale journal is unbalanced or has fewer than two legs")
        return _Legs(leg_line, account, amount, starts.tolist())

    def _group(self, cooperative_id: int, plan: SplitPlan, net: Any) -> tuple[Any, Any]:
        """The legs after the head of every line of one plan: (amounts (rows x columns), accounts
        (columns)); columns retention, collective, then advance, rebate and bonus per household."""
        weights = plan_weights(plan)
        pools = _split_named(net, weights.pools, weights.named)
        households = pools[:, weights.households_pool]
        bonus_pool = pools[:, weights.bonus_pool]
        shares = _split_named(households, [*weights.shares, weights.orphan], len(weights.shares))
        bonuses = _split_named(bonus_pool, [*weights.bonuses, 0], len(weights.bonuses))
        leftover = shares[:, -1] + bonuses[:, -1]
        pools[:, weights.named] += leftover
        shares, bonuses = shares[:, :-1], bonuses[:, :-1]
        owed = np.asarray(weights.guaranteed, dtype=np.int64)[None, :]
        if plan.policy.allow_negative_rebate:
            recovered = np.broadcast_to(owed, shares.shape)
            rebate = shares - owed
        else:
            rebate = np.where(shares > owed, shares - owed, 0)
            recovered = shares - rebate
        rows, width = len(net), len(weights.households)
        amounts = np.empty((rows, 2 + 3 * width), dtype=np.int64)
        amounts[:, 0] = -pools[:, weights.retention_pool]
        amounts[:, 1] = -pools[:, weights.collective_pool]
        amounts[:, 2::3] = -recovered
        amounts[:, 3::3] = -rebate
        amounts[:, 4::3] = -bonuses
        accounts = np.empty(2 + 3 * width, dtype=np.int64)
        accounts[0] = self._account(retention_account(cooperative_id))
        accounts[1] = self._account(collective_account(cooperative_id))
        for n, hid in enumerate(weights.households):
            accounts[2 + 3 * n] = self._account(household_advance_account(hid))
            accounts[3 + 3 * n] = self._account(household_account(hid))
            accounts[4 + 3 * n] = self._account(household_bonus_account(hid))
        return amounts, accounts

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
