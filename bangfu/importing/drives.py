"""``bangfu drives import FILE``: what enterprises say they paid the households they drive.

One row per enterprise, household, mode and month (CSV or XLSX, Chinese or English headers; see
docs/drives.md). The household's own columns (name, category, village, identity number) repeat
on each of its rows and must agree. Under the usual rules of :mod:`bangfu.importing`: every
row and reference is checked first and errors name file, row and column; a file with any error
writes nothing; a good file is written in one transaction and importing it again changes nothing
(rows are upserted on their key; a dividend pool named in the file is replaced whole by the
file's rows for it).

Amounts (:mod:`bangfu.drives`): an order purchase gives kilograms and price per kg and the hub
computes the amount (an ``amount`` column, when also given, must say the same), or the amount
alone; employment and land lease give the amount; a dividend gives the household's shares and
the month's pool, the same pool on every row of that enterprise and month, and the hub splits
the pool by the shares (largest remainder).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.clock import SHANGHAI, utcnow
from bangfu.drives import order_purchase_fen, relink, split_dividend
from bangfu.enums import HouseholdCategory, SupplierKind
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.importing import FileError, ImportRejected, parse_rows
from bangfu.importing.loaders import LoadResult, RowError
from bangfu.importing.reader import LIMITS, Limits
from bangfu.importing.rows import (
    CATEGORIES,
    MAX_INT,
    ROW_MODELS,
    CreditCode,
    ImportRow,
    Opt,
    Text64,
    Whole,
    _choice,
    _money,
)
from bangfu.models import DividendPool, DriveEntry, DriveHousehold, DriveMode, Supplier
from bangfu.money import fen_to_yuan_str
from bangfu.privacy import id_number_hash

KIND = "drives"
MODES = {
    "order_purchase": DriveMode.ORDER_PURCHASE,
    "订单收购": DriveMode.ORDER_PURCHASE,
    "employment": DriveMode.EMPLOYMENT,
    "务工": DriveMode.EMPLOYMENT,
    "就业": DriveMode.EMPLOYMENT,
    "land_lease": DriveMode.LAND_LEASE,
    "土地流转": DriveMode.LAND_LEASE,
    "dividend": DriveMode.DIVIDEND,
    "入股分红": DriveMode.DIVIDEND,
    "分红": DriveMode.DIVIDEND,
}
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_KG = re.compile(r"[0-9]+(?:\.[0-9]{1,3})?")
MAX_KG = 10_000_000  # one household's deliveries to one enterprise in one month


def _month(value: Any) -> Any:
    if value is None:
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    if re.fullmatch(r"\d{4}-\d{1,2}-01", text):  # a spreadsheet's date cell for the month
        text = text[:-3]
    match = _MONTH.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{value!r} is not a month like 2026-03")
    month = f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"
    now = utcnow().astimezone(SHANGHAI)
    if month > f"{now.year:04d}-{now.month:02d}":
        raise ValueError(f"{month} is in the future")
    if month < "2015-01":
        raise ValueError(f"{month} is before 2015")
    return month


def _grams(value: Any) -> Any:
    """Kilograms as typed (at most three decimals) -> grams, exactly."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().replace(",", "")
    if not _KG.fullmatch(text):
        raise ValueError(f"{value!r} is not a weight in kg (like 120 or 120.5, at most three decimals)")
    whole, _, frac = text.partition(".")
    grams = int(whole) * 1000 + int(frac.ljust(3, "0") or "0")
    if grams > MAX_KG * 1000:
        raise ValueError(f"{value!r} kg is above the limit of {MAX_KG:,} kg")
    return grams


class DriveRow(ImportRow):
    HEADERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "enterprise_code": ("enterprise_code", "企业信用代码", "企业统一社会信用代码"),
        "household_ref": ("household_ref", "农户编号"),
        "head_name": ("head_name", "户主姓名", "户主"),
        "category": ("category", "农户类别", "类别"),
        "village": ("village", "村", "所在村"),
        "id_number": ("id_number", "身份证号", "身份证号码"),
        "mode": ("mode", "带动方式"),
        "month": ("month", "月份"),
        "amount": ("amount", "金额", "金额(元)", "金额（元）"),
        "quantity_kg": ("quantity_kg", "收购数量(公斤)", "收购数量（公斤）", "收购数量"),
        "price": ("price", "收购单价(元/公斤)", "收购单价（元/公斤）", "收购单价"),
        "shares": ("shares", "股数", "入股股数"),
        "pool": ("pool", "分红总额", "分红总额(元)", "分红总额（元）"),
    }
    KEY = ("enterprise_code", "household_ref", "mode", "month")
    HOUSEHOLD_FIELDS: ClassVar[tuple[str, ...]] = ("head_name", "category", "village", "id_number")

    enterprise_code: CreditCode
    household_ref: Annotated[str, Field(min_length=1, max_length=32)]
    head_name: Text64
    category: Annotated[HouseholdCategory, BeforeValidator(_choice(CATEGORIES))]
    village: Text64
    id_number: Annotated[Annotated[str, Field(pattern=r"^[0-9]{17}[0-9Xx]$")] | None, Opt] = None
    mode: Annotated[DriveMode, BeforeValidator(_choice(MODES))]
    month: Annotated[str, BeforeValidator(_month)]
    amount: Annotated[int | None, _money("sale"), Opt, Field(ge=0)] = None
    quantity_kg: Annotated[int | None, BeforeValidator(_grams), Opt] = None  # grams
    price: Annotated[int | None, _money("price"), Opt, Field(ge=0)] = None  # fen per kg
    shares: Annotated[Annotated[int, Field(gt=0, le=MAX_INT)] | None, Whole, Opt] = None
    pool: Annotated[int | None, _money("sale"), Opt, Field(gt=0)] = None

    @property
    def amount_fen(self) -> int | None:
        """The amount the row says or the hub computes from it (None for a dividend: the pool's)."""
        if self.mode == DriveMode.ORDER_PURCHASE and self.quantity_kg is not None and self.price is not None:
            return order_purchase_fen(self.quantity_kg, self.price)
        return self.amount

    @model_validator(mode="after")
    def _check(self) -> DriveRow:
        given = {
            name for name in ("amount", "quantity_kg", "price", "shares", "pool") if getattr(self, name) is not None
        }
        allowed = {
            DriveMode.ORDER_PURCHASE: {"amount", "quantity_kg", "price"},
            DriveMode.EMPLOYMENT: {"amount"},
            DriveMode.LAND_LEASE: {"amount"},
            DriveMode.DIVIDEND: {"shares", "pool"},
        }[self.mode]
        for name in sorted(given - allowed):
            hint = "computed from the pool and the shares" if self.mode == DriveMode.DIVIDEND else "not for this mode"
            raise ValueError(f"{name}: leave blank for {self.mode.value} ({hint})")
        if self.mode == DriveMode.ORDER_PURCHASE:
            if (self.quantity_kg is None) != (self.price is None):
                missing = "price" if self.price is None else "quantity_kg"
                raise ValueError(f"{missing}: an order purchase gives both kg and price per kg (or the amount alone)")
            if self.quantity_kg is None and self.amount is None:
                raise ValueError("amount: an order purchase gives kg and price per kg, or the amount")
            if self.quantity_kg is not None and self.price is not None and self.amount is not None:
                computed = order_purchase_fen(self.quantity_kg, self.price)
                if computed != self.amount:
                    raise ValueError(
                        f"amount: {fen_to_yuan_str(self.amount)} is not kg x price = "
                        f"{self.quantity_kg / 1000:g} x {fen_to_yuan_str(self.price)} = {fen_to_yuan_str(computed)}"
                    )
        elif self.mode == DriveMode.DIVIDEND:
            for name in ("shares", "pool"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name}: a dividend gives the household's shares and the month's pool")
        elif self.amount is None:
            raise ValueError(f"amount: {self.mode.value} gives the amount paid")
        return self


ROW_MODELS.setdefault(KIND, DriveRow)


@dataclass(frozen=True)
class DrivesLoaded:
    households: int  # created
    entries: LoadResult
    pools: int
    linked: int  # links to cooperative members that changed


async def _enterprises(session: AsyncSession, codes: set[str]) -> dict[str, tuple[int, SupplierKind]]:
    return {
        str(code): (int(sid), SupplierKind(kind))
        for code, sid, kind in await session.execute(
            select(Supplier.credit_code, Supplier.id, Supplier.kind).where(Supplier.credit_code.in_(sorted(codes)))
        )
    }


def _check_file(rows: list[tuple[int, DriveRow]], suppliers: dict[str, tuple[int, SupplierKind]]) -> list[RowError]:
    errors: list[RowError] = []
    household_first: dict[tuple[str, str], tuple[int, DriveRow]] = {}
    id_first: dict[tuple[str, str], tuple[int, str]] = {}
    pool_first: dict[tuple[str, str], tuple[int, int]] = {}
    for number, row in rows:
        found = suppliers.get(row.enterprise_code)
        if found is None:
            errors.append(RowError(number, "enterprise_code", f"no supplier with credit code {row.enterprise_code}"))
        elif found[1] != SupplierKind.ENTERPRISE:
            errors.append(
                RowError(number, "enterprise_code", f"{row.enterprise_code} is a cooperative, not an enterprise")
            )
        key = (row.enterprise_code, row.household_ref)
        first = household_first.setdefault(key, (number, row))
        if first[0] != number:
            for name in DriveRow.HOUSEHOLD_FIELDS:
                mine, theirs = getattr(row, name), getattr(first[1], name)
                if name == "id_number" and (mine is None or theirs is None):
                    continue
                if mine != theirs:
                    errors.append(RowError(number, name, f"differs from row {first[0]} of the same household"))
        if row.id_number:
            ident = (row.enterprise_code, row.id_number.upper())
            seen = id_first.setdefault(ident, (number, row.household_ref))
            if seen[1] != row.household_ref:
                errors.append(
                    RowError(number, "id_number", f"the same identity number as household {seen[1]} (row {seen[0]})")
                )
        if row.mode == DriveMode.DIVIDEND and row.pool is not None:
            pool_key = (row.enterprise_code, row.month)
            pool_row, pool = pool_first.setdefault(pool_key, (number, row.pool))
            if pool != row.pool:
                errors.append(
                    RowError(
                        number,
                        "pool",
                        f"{fen_to_yuan_str(row.pool)} differs from row {pool_row}'s pool "
                        f"{fen_to_yuan_str(pool)} for the same enterprise and month",
                    )
                )
    return errors


async def load_drives(
    session: AsyncSession, rows: list[tuple[int, DriveRow]], *, partial: bool = False
) -> DrivesLoaded:
    """Check and write the rows (inside the caller's transaction); errors come back in
    ``entries.errors`` and then nothing is written."""
    result = LoadResult()
    suppliers = await _enterprises(session, {r.enterprise_code for _, r in rows})
    result.errors.extend(_check_file(rows, suppliers))
    if result.errors or partial:
        return DrivesLoaded(0, result, 0, 0)
    ent_ids = sorted({suppliers[r.enterprise_code][0] for _, r in rows})
    households = {
        (h.enterprise_id, h.household_ref): h
        for h in await session.scalars(select(DriveHousehold).where(DriveHousehold.enterprise_id.in_(ent_ids)))
    }
    created = 0
    for _, row in rows:
        ent = suppliers[row.enterprise_code][0]
        values: dict[str, Any] = {"head_name": row.head_name, "category": row.category, "village": row.village}
        if row.id_number:
            values["id_number_hash"] = id_number_hash(row.id_number)
        household = households.get((ent, row.household_ref))
        if household is None:
            household = DriveHousehold(enterprise_id=ent, household_ref=row.household_ref, **values)
            session.add(household)
            households[(ent, row.household_ref)] = household
            created += 1
        else:
            for name, value in values.items():
                if getattr(household, name) != value:
                    setattr(household, name, value)
    await session.flush()

    # Dividend pools named in the file: split, and replace the pool's entries whole.
    by_pool: dict[tuple[int, str], list[DriveRow]] = defaultdict(list)
    for _, row in rows:
        if row.mode == DriveMode.DIVIDEND:
            by_pool[(suppliers[row.enterprise_code][0], row.month)].append(row)
    dividend_fen: dict[tuple[int, str, str], int] = {}
    for (ent, month), members in by_pool.items():
        pool_fen = members[0].pool or 0
        shares = {m.household_ref: m.shares or 0 for m in members}
        for ref, fen in split_dividend(pool_fen, shares).items():
            dividend_fen[(ent, month, ref)] = fen
        stored = await session.scalar(
            select(DividendPool).where(DividendPool.enterprise_id == ent, DividendPool.month == month)
        )
        if stored is None:
            session.add(
                DividendPool(enterprise_id=ent, month=month, pool_fen=pool_fen, shares_total=sum(shares.values()))
            )
        elif (stored.pool_fen, stored.shares_total) != (pool_fen, sum(shares.values())):
            stored.pool_fen, stored.shares_total = pool_fen, sum(shares.values())
        keep = [households[(ent, ref)].id for ref in shares]
        await session.execute(
            delete(DriveEntry).where(
                DriveEntry.enterprise_id == ent,
                DriveEntry.month == month,
                DriveEntry.mode == DriveMode.DIVIDEND,
                DriveEntry.drive_household_id.not_in(keep),
            )
        )

    entries = {
        (e.drive_household_id, DriveMode(e.mode), e.month): e
        for e in await session.scalars(select(DriveEntry).where(DriveEntry.enterprise_id.in_(ent_ids)))
    }
    for _, row in rows:
        ent = suppliers[row.enterprise_code][0]
        dh = households[(ent, row.household_ref)]
        if row.mode == DriveMode.DIVIDEND:
            amount = dividend_fen[(ent, row.month, row.household_ref)]
        else:
            amount = row.amount_fen or 0
        computed = row.mode == DriveMode.DIVIDEND or (
            row.mode == DriveMode.ORDER_PURCHASE and row.quantity_kg is not None
        )
        values = {
            "amount_fen": amount,
            "computed": computed,
            "quantity_g": row.quantity_kg,
            "price_fen": row.price,
            "shares": row.shares,
        }
        entry = entries.get((dh.id, row.mode, row.month))
        if entry is None:
            session.add(
                DriveEntry(drive_household_id=dh.id, enterprise_id=ent, mode=row.mode, month=row.month, **values)
            )
            result.count("created")
        elif any(getattr(entry, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(entry, k, v)
            result.count("updated")
        else:
            result.count("unchanged")
    await session.flush()
    linked = await relink(await session.connection())
    return DrivesLoaded(created, result, len(by_pool), linked)


async def import_drives(
    sessions: async_sessionmaker[AsyncSession], path: Path, limits: Limits = LIMITS
) -> DrivesLoaded:
    """Validate and load one file in one transaction; :class:`ImportRejected` on any error."""
    parsed = parse_rows(KIND, path, limits)
    if not parsed.rows:
        raise ImportRejected(str(path), parsed.errors)
    rows: list[tuple[int, DriveRow]] = [(n, r) for n, r in parsed.rows if isinstance(r, DriveRow)]
    try:
        async with sessions() as session, session.begin():
            loaded = await load_drives(session, rows, partial=bool(parsed.errors))
            errors = parsed.errors + [
                FileError(str(path), e.row, parsed.columns.get(e.field, e.field), e.reason)
                for e in loaded.entries.errors
            ]
            if errors:
                raise ImportRejected(str(path), errors)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else exc.__class__.__name__
        raise UserError(f"{path}: " + t("import.database_refused", error=reason)) from None
    return loaded
