"""Enterprise-driven households (企业带动农户): the amounts, and the 带动 line they make.

An enterprise supplier drives households four ways (:class:`~bangfu.models.DriveMode`). Per
household, month and mode there is one amount in fen, either declared by the enterprise or
computed by the hub from what the enterprise imports:

| mode             | amount                                                                    |
|------------------|---------------------------------------------------------------------------|
| 订单收购 order   | computed: kilograms bought x price per kg, rounded half up to the fen      |
| purchase         | (:func:`order_purchase_fen`), or declared when the file gives only money  |
| 务工 employment  | declared: the wages paid                                                  |
| 土地流转 land    | declared: the rent paid                                                   |
| lease            |                                                                           |
| 入股分红         | computed: the month's declared pool split over the shareholding households |
| dividends        | by their shares, largest remainder (:func:`split_dividend`): the parts    |
|                  | sum to the pool exactly                                                   |

The *enterprise line* of the 带动 figures uses the households-driven definition
(:func:`bangfu.reports.households.driven`) over these amounts: the count is of distinct
households whose total in the period is above 0, the amount is the total of every household.
It is never mixed into the cooperative members' ledger income: it is a line of its own.

One family, one count: a household is the same family on both lines when the enterprise gave its
identity number and the number's keyed hash is a cooperative member's (``household_id``); on the
enterprise line alone, two enterprises naming the same identity number are one family too.
:func:`identity` gives the key both lines are counted under, so the combined distinct count
(:func:`combined_households`) counts a family once even when it is on both lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.i18n import MESSAGES, t
from bangfu.models import DriveEntry, DriveHousehold, DriveMode, Household
from bangfu.money import split_largest_remainder

MESSAGES.update(
    {
        "drives.mode.order_purchase": {"zh": "订单收购", "en": "Order purchase"},
        "drives.mode.employment": {"zh": "务工", "en": "Employment"},
        "drives.mode.land_lease": {"zh": "土地流转", "en": "Land lease"},
        "drives.mode.dividend": {"zh": "入股分红", "en": "Dividends"},
        "drives.line.cooperative": {"zh": "合作社成员（账本收入）", "en": "Cooperative members (ledger income)"},
        "drives.line.enterprise": {"zh": "企业带动农户", "en": "Enterprise-driven households"},
        "drives.line.combined": {"zh": "合计（同一农户只计一次）", "en": "Combined (each family once)"},
        "drives.report_line": {
            "zh": "企业带动（另列，不计入合作社成员账本收入）：{households} 户、{wan} 万元；"
            "与合作社成员合计不重复农户 {combined} 户（两条线都有的农户只计一次）。",
            "en": "Enterprise-driven (a line of its own, not in the members' ledger income): {households} "
            "households, {wan} × 10k yuan; with the cooperative members, {combined} distinct households "
            "(a family on both lines counted once).",
        },
    }
)

K = TypeVar("K")
MODES: tuple[DriveMode, ...] = tuple(DriveMode)
COMPUTED_MODES = (DriveMode.ORDER_PURCHASE, DriveMode.DIVIDEND)
GRAMS_PER_KG = 1000

Identity = tuple[str, str]  # ("h", member household id) | ("x", id-number hash) | ("d", drive household id)


def mode_label(mode: DriveMode | str) -> str:
    return t(f"drives.mode.{DriveMode(mode).value}")


def order_purchase_fen(quantity_g: int, price_fen_per_kg: int) -> int:
    """Grams bought x fen per kilogram, in fen, rounded half up (exact integer arithmetic)."""
    if quantity_g < 0 or price_fen_per_kg < 0:
        raise ValueError("quantity and price must not be negative")
    return (quantity_g * price_fen_per_kg * 2 + GRAMS_PER_KG) // (2 * GRAMS_PER_KG)


def split_dividend(pool_fen: int, shares: Mapping[K, int]) -> dict[K, int]:
    """A dividend pool over the households' shares, largest remainder: the parts sum to the pool."""
    if any(s <= 0 for s in shares.values()):
        raise ValueError("every shareholding household holds at least one share")
    return split_largest_remainder(pool_fen, shares)


def identity(drive_household_id: int, household_id: int | None, id_number_hash: str | None) -> Identity:
    """The key a driven household is counted under (see the module docstring)."""
    if household_id is not None:
        return ("h", str(household_id))
    if id_number_hash:
        return ("x", id_number_hash)
    return ("d", str(drive_household_id))


def member_identity(household_id: int) -> Identity:
    """The key a cooperative member household is counted under on the combined count."""
    return ("h", str(household_id))


@dataclass(frozen=True)
class DriveAmount:
    """One household's amount in one month by one mode of one enterprise."""

    drive_household_id: int
    identity: Identity
    enterprise_id: int
    mode: DriveMode
    month: str
    amount_fen: int


async def amounts(
    conn: AsyncConnection,
    months: Collection[str] | None,
    suppliers: ColumnElement[bool] | None = None,
) -> list[DriveAmount]:
    """Every amount in ``months`` (None: every month) of the enterprises ``suppliers`` allows
    (a condition on ``DriveEntry.enterprise_id``, e.g. ``scope.suppliers(DriveEntry.enterprise_id)``)."""
    query = (
        select(
            DriveEntry.drive_household_id,
            DriveHousehold.household_id,
            DriveHousehold.id_number_hash,
            DriveEntry.enterprise_id,
            DriveEntry.mode,
            DriveEntry.month,
            DriveEntry.amount_fen,
        )
        .join(DriveHousehold, DriveHousehold.id == DriveEntry.drive_household_id)
        .where(suppliers if suppliers is not None else true())
        .order_by(DriveEntry.id)
    )
    if months is not None:
        query = query.where(DriveEntry.month.in_(sorted(months)))
    return [
        DriveAmount(int(dh), identity(int(dh), hid, digest), int(ent), DriveMode(mode), str(month), int(fen))
        for dh, hid, digest, ent, mode, month, fen in await conn.execute(query)
    ]


def nets_by_identity(rows: Iterable[DriveAmount]) -> dict[Identity, int]:
    """Each family's total over ``rows`` (families with a zero total are left out)."""
    out: dict[Identity, int] = defaultdict(int)
    for row in rows:
        out[row.identity] += row.amount_fen
    return {k: v for k, v in out.items() if v}


def combined_households(member_nets: Mapping[int, int], enterprise_nets: Mapping[Identity, int]) -> int:
    """Distinct families driven on either line: members with net income > 0 (by household id)
    and enterprise-driven families with a total > 0, a family on both lines counted once."""
    driven = {member_identity(h) for h, fen in member_nets.items() if fen > 0}
    driven |= {key for key, fen in enterprise_nets.items() if fen > 0}
    return len(driven)


async def relink(conn: AsyncConnection) -> int:
    """Link every driven household to the cooperative member with the same identity-number hash
    (or unlink it when there is none any more); returns how many links changed."""
    members = {
        str(digest): int(hid)
        for digest, hid in await conn.execute(
            select(Household.id_number_hash, Household.id)
            .where(Household.id_number_hash.is_not(None))
            .order_by(Household.id.desc())  # the lowest id wins if ever two members shared a number
        )
    }
    changed = 0
    for dh_id, digest, linked in await conn.execute(
        select(DriveHousehold.id, DriveHousehold.id_number_hash, DriveHousehold.household_id)
    ):
        want = members.get(str(digest)) if digest else None
        if want != linked:
            await conn.execute(update(DriveHousehold).where(DriveHousehold.id == dh_id).values(household_id=want))
            changed += 1
    return changed
