"""Journals as values: accounts, sale, refund and true-up journals, built by pure rules.

No database, no I/O, no clock (``tests/bangfu/test_journal_rules.py`` states the rules as
examples; :mod:`bangfu.ledger` posts what is built here).

- :func:`build_sale_journal` turns an order line (paid amount, fees, lot draws, deliveries) and
  its cooperative's policy into one balanced journal: the receivable debited with the paid
  amount, the fees, the host's commission and every part of the net credited, so the credits sum
  to the paid amount exactly; :func:`build_supplier_sale_journal` the same for an enterprise
  supplier, whose net is not split.
- :func:`build_refund_journal` reverses a refund's fraction of a sale pro rata on every leg,
  cumulatively, so a line refunded in full (at once or in parts) leaves every account as it was
  before the sale; :func:`refunded_legs` is what a line's ledger holds once a part of it is
  refunded.
- :func:`build_trueup_journal` posts the difference between what a line's ledger should hold and
  what it holds, or nothing.

Ids follow TigerBeetle: a journal's uid is uuid5 of its source event key
(:func:`journal_uid`), so a retry builds the same uid. Sign convention: debit positive, credit
negative. Error hierarchy::

    LedgerError
    ├── UnbalancedJournalError   the journal is malformed (sum not zero, duplicate or zero legs)
    ├── JournalConflictError     same uid, different content: a bug upstream, never retried
    └── RefundError              a refund beyond what is left of the line, or its original missing
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import NamedTuple

from bangfu.enums import AccountKind, JournalKind
from bangfu.policy import Policy
from bangfu.split import Contribution, LineFees, LineSplit, SplitPlan, net_attributable, plan_split

# Fixed forever: changing it would give every past event a new journal uid.
LEDGER_NAMESPACE = uuid.UUID("f0353759-3c52-49b5-bca7-26bccc95873f")


class LedgerError(Exception):
    """A journal cannot be built or posted as given."""


class UnbalancedJournalError(LedgerError):
    """A journal whose legs do not sum to zero, or that has duplicate or zero legs."""


class JournalConflictError(LedgerError):
    """A journal uid already posted with different content (TigerBeetle: ``exists_with_different_*``)."""


class RefundError(LedgerError):
    """A refund that cannot be reversed: beyond the line, or of a journal not in the ledger."""


_NAMESPACE_BYTES = LEDGER_NAMESPACE.bytes
_VARIANT_MASK = ~((0xC000 << 48) | (0xF000 << 64))
_VARIANT_VERSION5 = (0x8000 << 48) | (5 << 76)


@lru_cache(maxsize=1 << 16)  # a journal's uid is computed when built, validated and posted
def journal_uid(source_event: str) -> str:
    """The deterministic journal uid of a source event key: ``str(uuid.uuid5(LEDGER_NAMESPACE,
    source_event))``, computed without the intermediate UUID object (a batch makes thousands)."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + source_event.encode(), usedforsecurity=False).digest()
    number = (int.from_bytes(digest[:16], "big") & _VARIANT_MASK) | _VARIANT_VERSION5
    text = f"{number:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def sale_event_key(shop_id: int, line_id: int, version: int) -> str:
    return f"order-line:{shop_id}:{line_id}:v{version}:sale"


@dataclass(frozen=True)
class Account:
    """An account by its structured code; created on first use."""

    code: str
    name: str
    kind: AccountKind
    owner_type: str | None = None
    owner_id: int | None = None


class Posting(NamedTuple):
    """One leg of a journal (a tuple: a sale journal has about two dozen of them)."""

    account: Account
    amount_fen: int  # debit positive, credit negative


@dataclass(frozen=True)
class Journal:
    """A journal as a plain value. ``problems()`` lists what makes it unpostable."""

    uid: str
    kind: JournalKind
    source_event: str
    occurred_at: datetime
    postings: tuple[Posting, ...]
    memo: str | None = None
    reverses_uid: str | None = None

    @property
    def legs(self) -> dict[str, int]:
        """Amount per account code (duplicates summed; ``problems()`` reports them)."""
        out: dict[str, int] = {}
        for posting in self.postings:
            out[posting.account.code] = out.get(posting.account.code, 0) + posting.amount_fen
        return out

    def problems(self) -> list[str]:
        """Every reason this journal cannot be posted, as values (empty when it is fine)."""
        return list(self._problems)

    @cached_property
    def _problems(self) -> tuple[str, ...]:
        # Computed once: a journal is checked when built and again when posted.
        distinct = {p.account.code for p in self.postings}
        if (
            len(distinct) == len(self.postings) >= 2
            and sum(p.amount_fen for p in self.postings) == 0
            and all(p.amount_fen for p in self.postings)
            and self.occurred_at.utcoffset() is not None
            and self.uid == journal_uid(self.source_event)
        ):
            return ()
        found: list[str] = []
        total = sum(p.amount_fen for p in self.postings)
        if total != 0:
            found.append(f"journal {self.uid} is unbalanced: its legs sum to {total} fen")
        if len(self.postings) < 2:
            found.append(f"journal {self.uid} has {len(self.postings)} legs; at least 2 are needed")
        codes = [p.account.code for p in self.postings]
        if len(set(codes)) != len(codes):
            for code in sorted({c for c in codes if codes.count(c) > 1}):
                found.append(f"journal {self.uid} posts to {code} more than once")
        if not all(p.amount_fen for p in self.postings):
            for posting in self.postings:
                if posting.amount_fen == 0:
                    found.append(f"journal {self.uid} has a zero leg on {posting.account.code}")
        if self.occurred_at.utcoffset() is None:
            found.append(f"journal {self.uid} has a naive occurred_at")
        if self.uid != journal_uid(self.source_event):
            found.append(f"journal {self.uid} is not the uuid5 of its source event {self.source_event!r}")
        return tuple(found)


# -- accounts -----------------------------------------------------------------------------------

_ACCOUNT_CACHE = 1 << 16  # accounts are immutable values: a hot line reuses its households' ones


@lru_cache(maxsize=_ACCOUNT_CACHE)
def receivable_account(shop_id: int) -> Account:
    return Account(f"receivable:shop:{shop_id}", f"平台应收 店铺#{shop_id}", AccountKind.ASSET, "shop", shop_id)


@lru_cache(maxsize=_ACCOUNT_CACHE)
def fee_account(shop_id: int, fee: str) -> Account:
    return Account(f"fees:shop:{shop_id}:{fee}", f"预提{fee} 店铺#{shop_id}", AccountKind.LIABILITY, "shop", shop_id)


@lru_cache(maxsize=_ACCOUNT_CACHE)
def host_commission_account(host_id: int) -> Account:
    return Account(
        f"payable:host:{host_id}:commission", f"应付主播佣金 #{host_id}", AccountKind.LIABILITY, "host", host_id
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def retention_account(cooperative_id: int) -> Account:
    return Account(
        f"cooperative:{cooperative_id}:retained",
        f"合作社留存 #{cooperative_id}",
        AccountKind.INCOME,
        "cooperative",
        cooperative_id,
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def collective_account(cooperative_id: int) -> Account:
    return Account(
        f"collective:{cooperative_id}",
        f"村集体分成 合作社#{cooperative_id}",
        AccountKind.LIABILITY,
        "cooperative",
        cooperative_id,
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def household_account(household_id: int) -> Account:
    """The rebate the cooperative owes the household."""
    return Account(
        f"household:{household_id}", f"农户返利 #{household_id}", AccountKind.LIABILITY, "household", household_id
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def household_bonus_account(household_id: int) -> Account:
    return Account(
        f"household:{household_id}:bonus",
        f"农户帮扶奖励 #{household_id}",
        AccountKind.LIABILITY,
        "household",
        household_id,
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def household_advance_account(household_id: int) -> Account:
    """Guaranteed price advanced at delivery, not yet covered by sales (an asset of the cooperative)."""
    return Account(
        f"household:{household_id}:advance", f"保底价预付 #{household_id}", AccountKind.ASSET, "household", household_id
    )


@lru_cache(maxsize=_ACCOUNT_CACHE)
def supplier_account(supplier_id: int) -> Account:
    """What an enterprise (non-cooperative) supplier is owed: the whole net of its lines, unsplit."""
    return Account(
        f"supplier:{supplier_id}", f"应付经营主体 #{supplier_id}", AccountKind.LIABILITY, "supplier", supplier_id
    )


def account_from_code(code: str) -> Account:
    """The :class:`Account` a structured code names (the inverse of the account functions above)."""
    parts = code.split(":")
    try:
        head = parts[0]
        if head == "receivable" and len(parts) == 3:
            return receivable_account(int(parts[2]))
        if head == "fees" and len(parts) == 4:
            return fee_account(int(parts[2]), parts[3])
        if head == "payable" and len(parts) == 4:
            return host_commission_account(int(parts[2]))
        if head == "cooperative" and len(parts) == 3:
            return retention_account(int(parts[1]))
        if head == "collective" and len(parts) == 2:
            return collective_account(int(parts[1]))
        if head == "supplier" and len(parts) == 2:
            return supplier_account(int(parts[1]))
        if head == "household" and len(parts) == 2:
            return household_account(int(parts[1]))
        if head == "household" and len(parts) == 3 and parts[2] == "bonus":
            return household_bonus_account(int(parts[1]))
        if head == "household" and len(parts) == 3 and parts[2] == "advance":
            return household_advance_account(int(parts[1]))
    except ValueError:
        pass
    raise LedgerError(f"unknown account code {code!r}")


# -- building -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    """What a sale journal needs from one paid order line, as plain values.

    ``draws`` maps lot id to units drawn (the recorded lot allocations); ``lots`` maps each
    drawn lot to its household contributions; all lots belong to ``cooperative_id``.
    """

    shop_id: int
    line_id: int
    version: int
    occurred_at: datetime  # when it was paid
    paid_fen: int
    fees: LineFees
    cooperative_id: int
    draws: Mapping[int, int]
    lots: Mapping[int, Sequence[Contribution]]
    host_id: int | None = None
    memo: str | None = field(default=None, compare=False)


def build_sale_journal(line: SaleLine, policy: Policy, plan: SplitPlan | None = None) -> tuple[Journal, LineSplit]:
    """The balanced sale journal of ``line`` under ``policy``, with the split it posts.

    The receivable is debited with the paid amount; fees, commission and every part of the net
    (:func:`bangfu.split.split_line`) are credited, so the credits sum to the paid amount exactly.
    ``plan`` is the :func:`bangfu.split.plan_split` of the line's draws and lots under ``policy``
    when the caller already has it (lines with the same draws share one).
    """
    legs = _sale_head(line.shop_id, line.line_id, line.paid_fen, line.fees, line.host_id)
    if plan is None:
        plan = plan_split(line.draws, line.lots, policy)
    split = plan.split(net_attributable(line.paid_fen, 0, line.fees))
    legs.append(Posting(retention_account(line.cooperative_id), -split.retention_fen))
    legs.append(Posting(collective_account(line.cooperative_id), -split.collective_fen))
    for part in split.households:
        hid = part.household_id
        if part.recovered_fen:
            legs.append(Posting(household_advance_account(hid), -part.recovered_fen))
        if part.rebate_fen:
            legs.append(Posting(household_account(hid), -part.rebate_fen))
        if part.bonus_fen:
            legs.append(Posting(household_bonus_account(hid), -part.bonus_fen))
    journal = _sale_journal(line.shop_id, line.line_id, line.version, line.occurred_at, legs, line.memo)
    return journal, split


def _sale_head(shop_id: int, line_id: int, paid_fen: int, fees: LineFees, host_id: int | None) -> list[Posting]:
    """The legs every sale journal starts with: the receivable, the fees and the host's commission."""
    if paid_fen <= 0:
        raise LedgerError(f"line {line_id}: paid {paid_fen} fen moves no money; there is no sale journal")
    if fees.host_commission_fen and host_id is None:
        raise LedgerError(f"line {line_id}: a host commission needs the host")
    legs = [
        Posting(receivable_account(shop_id), paid_fen),
        Posting(fee_account(shop_id, "platform_fee"), -fees.platform_fee_fen),
        Posting(fee_account(shop_id, "payment_fee"), -fees.payment_fee_fen),
        Posting(fee_account(shop_id, "logistics"), -fees.logistics_fen),
    ]
    if host_id is not None:
        legs.append(Posting(host_commission_account(host_id), -fees.host_commission_fen))
    return legs


def _sale_journal(
    shop_id: int, line_id: int, version: int, occurred_at: datetime, legs: Sequence[Posting], memo: str | None
) -> Journal:
    """The sale journal of a line version from its legs (zero legs dropped), checked postable."""
    source = sale_event_key(shop_id, line_id, version)
    journal = Journal(
        uid=journal_uid(source),
        kind=JournalKind.SALE,
        source_event=source,
        occurred_at=occurred_at,
        postings=tuple(leg for leg in legs if leg.amount_fen),
        memo=memo,
    )
    assert_postable(journal)
    return journal


def refund_fraction(
    *,
    amount_fen: int | None = None,
    paid_fen: int | None = None,
    units: int | None = None,
    line_units: int | None = None,
) -> Fraction:
    """The part of a line a refund covers: ``amount/paid`` or ``units/line_units``, in (0, 1]."""
    if (amount_fen is None) == (units is None):
        raise RefundError("a refund is by amount or by quantity, exactly one of them")
    if amount_fen is not None:
        if not paid_fen or paid_fen <= 0:
            raise RefundError("a refund by amount needs the line's positive paid amount")
        fraction = Fraction(amount_fen, paid_fen)
    else:
        assert units is not None
        if not line_units or line_units <= 0:
            raise RefundError("a refund by quantity needs the line's positive quantity")
        fraction = Fraction(units, line_units)
    if not 0 < fraction <= 1:
        raise RefundError(f"a refund must cover more than nothing and at most the whole line, got {fraction}")
    return fraction


def build_refund_journal(
    original: Journal,
    *,
    refund_key: str,
    occurred_at: datetime,
    fraction: Fraction,
    refunded_before: Fraction = Fraction(0),
) -> Journal | None:
    """Reverse ``fraction`` of ``original`` pro rata on every leg, dated when the refund happened.

    Refunds of a line are cumulative: ``refunded_before`` is the part of the line already
    refunded by earlier refunds. Each leg's reversal is the difference between the original scaled
    to ``refunded_before + fraction`` and scaled to ``refunded_before``, where scaling rounds each
    leg by largest remainder to within a fen of exact and keeps the legs summing to zero. So the
    total reversed so far is always within a fen of exact on every account, and a line refunded in
    full (at once or in parts) returns every account to its balance before the sale, exactly.
    A refund by amount moves the receivable by exactly that amount. Returns None when a sliver
    of a refund moves no fen at all (the next refund of the line catches it up).
    """
    if original.kind is not JournalKind.SALE:
        raise RefundError(f"journal {original.uid} is a {original.kind} journal; only sales are refunded")
    after = refunded_before + fraction
    if refunded_before < 0 or fraction <= 0 or after > 1:
        raise RefundError(
            f"refund {refund_key!r} of journal {original.uid}: {fraction} after {refunded_before} already "
            "refunded is not within the line"
        )
    accounts = {p.account.code: p.account for p in original.postings}
    legs = original.legs
    before_scaled = _scale_legs(legs, refunded_before)
    after_scaled = _scale_legs(legs, after)
    reversal = {code: before_scaled[code] - after_scaled[code] for code in legs}
    postings = tuple(Posting(accounts[code], amount) for code, amount in reversal.items() if amount)
    if not postings:
        return None
    stem = original.source_event.removesuffix(":sale")
    source = f"{stem}:refund:{refund_key}"
    journal = Journal(
        uid=journal_uid(source),
        kind=JournalKind.REFUND,
        source_event=source,
        occurred_at=occurred_at,
        postings=postings,
        memo=f"reverses {fraction} of {original.source_event}",
        reverses_uid=original.uid,
    )
    assert_postable(journal)
    return journal


def _scale_legs(legs: Mapping[str, int], fraction: Fraction) -> dict[str, int]:
    """Each leg times ``fraction``, rounded by largest remainder so the results still sum to zero.

    Exact values ``x_i = a_i * f`` sum to zero; each is floored and the deficit (an integer below
    the number of legs) goes one fen each to the legs with the largest fractional parts, ties by
    leg order. Every result is within one fen of exact; exact values stay exact.
    """
    exact = {code: amount * fraction for code, amount in legs.items()}
    floors = {code: math.floor(value) for code, value in exact.items()}
    deficit = -sum(floors.values())
    by_remainder = sorted(enumerate(exact), key=lambda item: (floors[item[1]] - exact[item[1]], item[0]))
    for _, code in by_remainder[:deficit]:
        floors[code] += 1
    return floors


def refunded_legs(full: Mapping[str, int], refunded: Fraction) -> dict[str, int]:
    """What the ledger holds for a line whose full (unrefunded) journal is ``full`` and of which
    ``refunded`` is refunded: each leg minus its largest-remainder scaled part, exactly what the
    sale plus :func:`build_refund_journal` reversals of a journal with its legs in code order
    leave (ties of the largest remainder go by code, so the order a store keeps keys in, e.g.
    JSONB's, never changes a fen). Zero legs are left out."""
    if not 0 <= refunded <= 1:
        raise RefundError(f"refunded fraction {refunded} is not within 0..1")
    scaled = _scale_legs(dict(sorted(full.items())), refunded)
    return {code: amount - scaled[code] for code, amount in full.items() if amount - scaled[code]}


def legs_difference(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """``after - before`` per account code, zero differences left out."""
    out = {code: after.get(code, 0) - before.get(code, 0) for code in sorted(set(after) | set(before))}
    return {code: amount for code, amount in out.items() if amount}


def journal_from_legs(
    kind: JournalKind,
    source_event: str,
    occurred_at: datetime,
    legs: Mapping[str, int],
    *,
    memo: str | None = None,
    reverses_uid: str | None = None,
) -> Journal:
    """A journal from amounts by account code (accounts rebuilt from their codes, zero legs dropped)."""
    journal = Journal(
        uid=journal_uid(source_event),
        kind=kind,
        source_event=source_event,
        occurred_at=occurred_at,
        postings=tuple(Posting(account_from_code(code), amount) for code, amount in legs.items() if amount),
        memo=memo,
        reverses_uid=reverses_uid,
    )
    assert_postable(journal)
    return journal


def trueup_event_key(shop_id: int, line_id: int, version: int, fingerprint: str) -> str:
    return f"order-line:{shop_id}:{line_id}:v{version}:trueup:{fingerprint}"


def build_trueup_journal(
    *,
    shop_id: int,
    line_id: int,
    version: int,
    fingerprint: str,
    occurred_at: datetime,
    desired: Mapping[str, int],
    posted: Mapping[str, int],
    memo: str | None = None,
) -> Journal | None:
    """The difference between what a line's ledger should hold and what it holds, or None if nothing."""
    difference = legs_difference(desired, posted)
    if not difference:
        return None
    source = trueup_event_key(shop_id, line_id, version, fingerprint)
    return journal_from_legs(JournalKind.TRUE_UP, source, occurred_at, difference, memo=memo)


def build_supplier_sale_journal(
    *,
    shop_id: int,
    line_id: int,
    version: int,
    occurred_at: datetime,
    paid_fen: int,
    fees: LineFees,
    supplier_id: int,
    host_id: int | None = None,
    memo: str | None = None,
) -> Journal:
    """The sale journal of a line whose supplier is an enterprise: the whole net to ``supplier:<id>``."""
    legs = _sale_head(shop_id, line_id, paid_fen, fees, host_id)
    legs.append(Posting(supplier_account(supplier_id), -net_attributable(paid_fen, 0, fees)))
    return _sale_journal(shop_id, line_id, version, occurred_at, legs, memo)


def assert_postable(journal: Journal) -> None:
    problems = journal.problems()
    if problems:
        raise UnbalancedJournalError("; ".join(problems))
