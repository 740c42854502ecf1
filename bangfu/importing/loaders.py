"""Write validated rows into the store: idempotent upserts on each kind's natural key.

A loader first resolves every reference (cooperative codes, SKU codes, member numbers...) and
collects :class:`RowError` for each one that is wrong; only when there is none does it write.
The caller runs it inside one transaction, so a rejected file writes nothing. ``partial`` says
some rows of the file did not parse: checks over a whole group of rows (a lot's total) wait.

An existing record is updated only in the fields the row gives: a blank cell or a missing column
keeps what is stored (:func:`_given`); a cleared cell (``<清空>``) counts as given, with its default.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import SupplierKind
from bangfu.i18n import t
from bangfu.importing.rows import (
    CooperativeRow,
    HouseholdRow,
    ImportRow,
    ListingMapRow,
    LotRow,
    ProductRow,
    SessionRow,
    UnitRow,
)
from bangfu.models import (
    Certification,
    Cooperative,
    Household,
    Listing,
    LiveSession,
    LotContribution,
    MemberAccount,
    Product,
    PurchasingUnit,
    Region,
    Shop,
    Sku,
    Supplier,
    SupplyLot,
    UnitTarget,
)
from bangfu.privacy import id_number_hash, mask_phone
from bangfu.records import ExplanationRecord, LiveMinuteRecord, LiveSessionRecord

R = TypeVar("R", bound=ImportRow)
NumberedRows = Sequence[tuple[int, R]]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    reason: str


@dataclass(slots=True)
class LoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    """Set attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _given(row: ImportRow, values: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """``values`` without those whose source field (``sources``: attribute -> row field) the row
    did not give, so an update keeps what is stored there."""
    return {k: v for k, v in values.items() if k not in sources or sources[k] in row.model_fields_set}


def _tally(result: LoadResult, created: bool, changed: bool) -> None:
    result.count("created" if created else "updated" if changed else "unchanged")


async def _region(session: AsyncSession, code: str, name: str, level: str) -> Region:
    region = await session.scalar(select(Region).where(Region.code == code))
    if region is None:
        region = Region(code=code, name=name, level=level, assisted=level == "county")
        session.add(region)
        await session.flush()
    elif region.name != name:
        region.name = name
    return region


async def _suppliers_by_code(session: AsyncSession, codes: set[str]) -> dict[str, Supplier]:
    if not codes:
        return {}
    rows = await session.scalars(select(Supplier).where(Supplier.credit_code.in_(codes)))
    return {s.credit_code: s for s in rows}


SUPPLIER_SOURCES = {"contact_name": "contact_name", "contact_phone_masked": "contact_phone"}
COOPERATIVE_SOURCES = {"registered_on": "registered_on", "village_collective": "village_collective"}
HOUSEHOLD_SOURCES = {
    "id_number_hash": "id_number",
    "phone_masked": "phone",
    "members": "members",
    "joined_on": "joined_on",
}
ACCOUNT_SOURCES = {
    "capital_fen": "capital",
    "reserve_share_fen": "reserve_share",
    "subsidy_share_fen": "subsidy_share",
}
PRODUCT_SOURCES = {
    "selling_points": "selling_points",
    "selection_evaluation": "selection_evaluation",
    "perishable": "perishable",
}
SKU_SOURCES = {"promo_price_fen": "promo_price", "barcode": "barcode"}
CERT_SOURCES = {"status": "cert_status"}
CONTRIBUTION_SOURCES = {"grade": "grade", "guaranteed_price_fen": "guaranteed_price"}
LOT_SOURCES = {
    "harvested_on": "harvested_on",
    "inspection_agency": "inspection_agency",
    "inspected_on": "inspected_on",
    "inspection_result": "inspection_result",
}
UNIT_SOURCES = {"region_id": "region_code", "staff_count": "staff_count"}
TARGET_SOURCES = {"canteen_budget_fen": "canteen_budget"}


async def load_cooperatives(
    session: AsyncSession, rows: NumberedRows[CooperativeRow], *, partial: bool = False
) -> LoadResult:
    result = LoadResult()
    existing = await _suppliers_by_code(session, {r.credit_code for _, r in rows})
    coops = {
        c.supplier_id: c
        for c in await session.scalars(
            select(Cooperative).where(Cooperative.supplier_id.in_([s.id for s in existing.values()]))
        )
    }
    for number, row in rows:
        supplier = existing.get(row.credit_code)
        if supplier is not None and supplier.kind != row.kind:
            result.errors.append(RowError(number, "kind", f"{row.credit_code} is already a {supplier.kind.value}"))
    if result.errors:
        return result
    for _, row in rows:
        county = await _region(session, row.county_code, row.county_name, "county")
        values = {
            "name": row.name,
            "kind": row.kind,
            "county_id": county.id,
            "contact_name": row.contact_name,
            "contact_phone_masked": mask_phone(row.contact_phone) if row.contact_phone else None,
        }
        supplier = existing.get(row.credit_code)
        created = supplier is None
        if supplier is None:
            supplier = Supplier(credit_code=row.credit_code, **values)
            session.add(supplier)
            await session.flush()
            changed = True
        else:
            changed = _assign(supplier, _given(row, values, SUPPLIER_SOURCES))
        if row.kind is SupplierKind.COOPERATIVE:
            coop_values = {"registered_on": row.registered_on, "village_collective": row.village_collective}
            coop = coops.get(supplier.id)
            if coop is None:
                session.add(Cooperative(supplier_id=supplier.id, **coop_values))
                changed = True
            else:
                changed = _assign(coop, _given(row, coop_values, COOPERATIVE_SOURCES)) or changed
        _tally(result, created, changed)
    return result


async def _cooperatives_by_code(session: AsyncSession, codes: set[str]) -> dict[str, Cooperative]:
    if not codes:
        return {}
    rows = await session.execute(
        select(Supplier.credit_code, Cooperative)
        .join(Cooperative, Cooperative.supplier_id == Supplier.id)
        .where(Supplier.credit_code.in_(codes))
    )
    return {code: coop for code, coop in rows.all()}


async def load_households(
    session: AsyncSession, rows: NumberedRows[HouseholdRow], *, partial: bool = False
) -> LoadResult:
    result = LoadResult()
    coops = await _cooperatives_by_code(session, {r.cooperative_code for _, r in rows})
    for number, row in rows:
        if row.cooperative_code not in coops:
            result.errors.append(
                RowError(number, "cooperative_code", f"no cooperative with credit code {row.cooperative_code}")
            )
    result.errors.extend(await _identity_clashes(session, rows, coops))
    if result.errors:
        return result
    existing: dict[tuple[int, str], Household] = {
        (h.cooperative_id, h.member_no): h
        for h in await session.scalars(
            select(Household).where(Household.cooperative_id.in_([c.id for c in coops.values()]))
        )
    }
    accounts = {
        a.household_id: a
        for a in await session.scalars(
            select(MemberAccount).where(MemberAccount.household_id.in_([h.id for h in existing.values()]))
        )
    }
    pending: list[tuple[Household, HouseholdRow, bool, bool]] = []
    for _, row in rows:
        coop = coops[row.cooperative_code]
        values = {
            "head_name": row.head_name,
            "category": row.category,
            "village": row.village,
            "id_number_hash": id_number_hash(row.id_number) if row.id_number else None,
            "phone_masked": mask_phone(row.phone) if row.phone else None,
            "members": row.members,
            "joined_on": row.joined_on,
        }
        household = existing.get((coop.id, row.member_no))
        if household is None:
            household = Household(cooperative_id=coop.id, member_no=row.member_no, **values)
            session.add(household)
            existing[(coop.id, row.member_no)] = household
            pending.append((household, row, True, True))
        else:
            pending.append((household, row, False, _assign(household, _given(row, values, HOUSEHOLD_SOURCES))))
    await session.flush()  # one round for all new households' ids
    for household, row, created, changed in pending:
        account_values = {
            "capital_fen": row.capital,
            "reserve_share_fen": row.reserve_share,
            "subsidy_share_fen": row.subsidy_share,
        }
        account = accounts.get(household.id)
        if account is None:
            session.add(MemberAccount(household_id=household.id, **account_values))
            changed = True
        else:
            changed = _assign(account, _given(row, account_values, ACCOUNT_SOURCES)) or changed
        _tally(result, created, changed)
    return result


async def _identity_clashes(
    session: AsyncSession, rows: NumberedRows[HouseholdRow], coops: dict[str, Cooperative]
) -> list[RowError]:
    """One identity number, one household: in the file and against the store (PIPL: the hash is
    compared, and a message names rows and members, never the number)."""
    errors: list[RowError] = []
    first_row: dict[str, tuple[int, HouseholdRow]] = {}
    for number, row in rows:
        if row.id_number is None:
            continue
        digest = id_number_hash(row.id_number)
        if digest in first_row:
            errors.append(RowError(number, "id_number", f"the same identity number as row {first_row[digest][0]}"))
        else:
            first_row[digest] = (number, row)
    if not first_row:
        return errors
    # A stored household this file gives another number (or clears it) no longer holds its old one.
    renumbered = {
        (coops[r.cooperative_code].id, r.member_no)
        for _, r in rows
        if r.cooperative_code in coops and "id_number" in r.model_fields_set
    }
    stored = await session.execute(
        select(Household.id_number_hash, Household.cooperative_id, Household.member_no, Supplier.credit_code)
        .join(Cooperative, Cooperative.id == Household.cooperative_id)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .where(Household.id_number_hash.in_(sorted(first_row)))
    )
    for stored_digest, cooperative_id, member_no, code in stored:
        number, row = first_row[str(stored_digest)]
        coop = coops.get(row.cooperative_code)
        owner = (cooperative_id, member_no)
        if (coop is not None and owner == (coop.id, row.member_no)) or owner in renumbered:
            continue
        errors.append(
            RowError(number, "id_number", f"the same identity number as member {member_no} of cooperative {code}")
        )
    return sorted(errors, key=lambda e: e.row)


async def load_products(session: AsyncSession, rows: NumberedRows[ProductRow], *, partial: bool = False) -> LoadResult:
    result = LoadResult()
    suppliers = await _suppliers_by_code(session, {r.supplier_code for _, r in rows})
    first_of_spu: dict[str, tuple[int, ProductRow]] = {}
    for number, row in rows:
        if row.supplier_code not in suppliers:
            result.errors.append(RowError(number, "supplier_code", f"no supplier with credit code {row.supplier_code}"))
        first = first_of_spu.setdefault(row.spu_code, (number, row))
        for name in ProductRow.PRODUCT_FIELDS:
            if getattr(first[1], name) != getattr(row, name):
                result.errors.append(
                    RowError(number, name, f"differs from row {first[0]} of the same product {row.spu_code}")
                )
    result.errors.extend(await _barcode_clashes(session, rows))
    if result.errors:
        return result
    products = {p.spu_code: p for p in await session.scalars(select(Product).where(Product.spu_code.in_(first_of_spu)))}
    skus = {
        s.sku_code: s for s in await session.scalars(select(Sku).where(Sku.sku_code.in_([r.sku_code for _, r in rows])))
    }
    certs = {
        (c.product_id, c.body, c.number): c
        for c in await session.scalars(
            select(Certification).where(Certification.product_id.in_([p.id for p in products.values()]))
        )
    }
    product_changed: dict[str, bool] = {}
    for spu_code, (_, row) in first_of_spu.items():
        values: dict[str, Any] = {
            "name": row.name,
            "category": row.category,
            "supplier_id": suppliers[row.supplier_code].id,
            "origin_county_id": suppliers[row.supplier_code].county_id,
            "selling_points": row.selling_points,
            "selection_evaluation": row.selection_evaluation,
            "perishable": row.perishable,
        }
        product = products.get(spu_code)
        if product is None:
            products[spu_code] = Product(spu_code=spu_code, **values)
            session.add(products[spu_code])
            product_changed[spu_code] = True
        else:
            product_changed[spu_code] = _assign(product, _given(row, values, PRODUCT_SOURCES))
    await session.flush()  # one round for every new product's id
    for number, row in rows:
        product = products[row.spu_code]
        changed = product_changed[row.spu_code] and first_of_spu[row.spu_code][0] == number
        sku_values = {
            "product_id": product.id,
            "spec": row.spec,
            "unit": row.unit,
            "retail_price_fen": row.retail_price,
            "promo_price_fen": row.promo_price,
            "barcode": row.barcode,
        }
        sku = skus.get(row.sku_code)
        created = sku is None
        if sku is None:
            sku = Sku(sku_code=row.sku_code, **sku_values)
            session.add(sku)
            skus[row.sku_code] = sku
            changed = True
        else:
            changed = _assign(sku, _given(row, sku_values, SKU_SOURCES)) or changed
        if row.cert_body and row.cert_number and row.cert_valid_from and row.cert_valid_to:
            cert_values = {
                "county_id": product.origin_county_id,
                "valid_from": row.cert_valid_from,
                "valid_to": row.cert_valid_to,
                "status": row.cert_status or _default_status(row),
            }
            cert = certs.get((product.id, row.cert_body, row.cert_number))
            if cert is None:
                cert = Certification(product_id=product.id, body=row.cert_body, number=row.cert_number, **cert_values)
                session.add(cert)
                certs[(product.id, row.cert_body, row.cert_number)] = cert
                changed = True
            else:
                changed = _assign(cert, _given(row, cert_values, CERT_SOURCES)) or changed
        _tally(result, created, changed)
    return result


async def _barcode_clashes(session: AsyncSession, rows: NumberedRows[ProductRow]) -> list[RowError]:
    """One barcode, one SKU: not two rows of the file, nor a SKU stored with it that the file
    does not give another barcode (or clear)."""
    errors: list[RowError] = []
    first: dict[str, tuple[int, str]] = {}
    for number, row in rows:
        if row.barcode is None:
            continue
        if row.barcode in first and first[row.barcode][1] != row.sku_code:
            errors.append(
                RowError(number, "barcode", f"{row.barcode} is also the barcode of row {first[row.barcode][0]}")
            )
            continue
        first.setdefault(row.barcode, (number, row.sku_code))
    if not first:
        return errors
    rebarcoded = {row.sku_code for _, row in rows if "barcode" in row.model_fields_set}
    for code, barcode in await session.execute(select(Sku.sku_code, Sku.barcode).where(Sku.barcode.in_(sorted(first)))):
        number, sku_code = first[str(barcode)]
        if code != sku_code and code not in rebarcoded:
            errors.append(RowError(number, "barcode", f"{barcode} is already the barcode of SKU {code}"))
    return sorted(errors, key=lambda e: e.row)


def _default_status(row: ProductRow) -> Any:
    from datetime import date

    from bangfu.enums import CertificationStatus

    assert row.cert_valid_to is not None
    return CertificationStatus.VALID if row.cert_valid_to >= date.today() else CertificationStatus.EXPIRED


async def load_lots(session: AsyncSession, rows: NumberedRows[LotRow], *, partial: bool = False) -> LoadResult:
    result = LoadResult()
    by_lot: dict[str, list[tuple[int, LotRow]]] = defaultdict(list)
    for number, row in rows:
        by_lot[row.lot_code].append((number, row))
    suppliers = await _suppliers_by_code(session, {r.receiver_code for _, r in rows})
    coops = await _cooperatives_by_code(session, {r.receiver_code for _, r in rows})
    skus = {
        s.sku_code: s for s in await session.scalars(select(Sku).where(Sku.sku_code.in_({r.sku_code for _, r in rows})))
    }
    households = {
        (h.cooperative_id, h.member_no): h
        for h in await session.scalars(
            select(Household).where(Household.cooperative_id.in_([c.id for c in coops.values()]))
        )
    }
    lots = {lot.lot_code: lot for lot in await session.scalars(select(SupplyLot).where(SupplyLot.lot_code.in_(by_lot)))}
    contributions: dict[int, dict[int, LotContribution]] = defaultdict(dict)
    for c in await session.scalars(
        select(LotContribution).where(LotContribution.lot_id.in_([lot.id for lot in lots.values()]))
    ):
        contributions[c.lot_id][c.household_id] = c

    errors = result.errors
    for lot_code, lot_rows in by_lot.items():
        first_no, first = lot_rows[0]
        seen_members: set[str] = set()
        # Harvest and inspection may be given on one row of the lot only: the first that gives one.
        giver: dict[str, tuple[int, Any]] = {}
        for number, row in lot_rows:
            for name in LotRow.LOT_FIELDS:
                mine = getattr(row, name)
                if name in LOT_SOURCES:
                    if mine is None:
                        continue
                    other_no, other = giver.setdefault(name, (number, mine))
                else:
                    other_no, other = first_no, getattr(first, name)
                if mine != other:
                    errors.append(RowError(number, name, f"differs from row {other_no} of the same lot {lot_code}"))
            if row.sku_code not in skus:
                errors.append(RowError(number, "sku_code", f"no SKU with code {row.sku_code}"))
            if row.receiver_code not in suppliers:
                errors.append(RowError(number, "receiver_code", f"no supplier or cooperative {row.receiver_code}"))
            if row.member_no is not None:
                coop = coops.get(row.receiver_code)
                if coop is None:
                    if row.receiver_code in suppliers:
                        errors.append(
                            RowError(
                                number, "member_no", f"{row.receiver_code} is not a cooperative, so it has no members"
                            )
                        )
                elif (coop.id, row.member_no) not in households:
                    errors.append(
                        RowError(number, "member_no", f"no member {row.member_no} in cooperative {row.receiver_code}")
                    )
                if row.member_no in seen_members:
                    errors.append(RowError(number, "member_no", f"member {row.member_no} twice in lot {lot_code}"))
                seen_members.add(row.member_no)
            elif len(lot_rows) > 1:
                errors.append(RowError(number, "member_no", f"lot {lot_code} has several rows, so each needs a member"))
        lot = lots.get(lot_code)
        if lot is not None and not partial:  # with rows missing, the total is not the lot's
            new_quantity = sum(r.quantity for _, r in lot_rows)
            sold = lot.quantity - lot.remaining
            if new_quantity < sold:
                errors.append(
                    RowError(
                        first_no,
                        "quantity",
                        f"lot {lot_code} already sold {sold} units; it cannot shrink to {new_quantity}",
                    )
                )
    if errors:
        return result

    # Lots first, with one flush for every new lot's id; then their contributions.
    outcomes: list[tuple[SupplyLot, list[tuple[int, LotRow]], bool, bool]] = []
    for lot_code, lot_rows in by_lot.items():
        _, first = lot_rows[0]
        coop = coops.get(first.receiver_code)
        quantity = sum(r.quantity for _, r in lot_rows)
        values: dict[str, Any] = {
            "sku_id": skus[first.sku_code].id,
            "received_on": first.received_on,
            "cooperative_id": coop.id if coop else None,
            "supplier_id": suppliers[first.receiver_code].id,
        }
        # Harvest and inspection, from any row of the lot (they agree); a file without those
        # columns keeps what is stored.
        for name in LOT_SOURCES:
            if any(name in r.model_fields_set for _, r in lot_rows):
                values[name] = next((getattr(r, name) for _, r in lot_rows if getattr(r, name) is not None), None)
        lot = lots.get(lot_code)
        if lot is None:
            # The traceability code is drawn by the column's default (bangfu.trace).
            lot = SupplyLot(lot_code=lot_code, quantity=quantity, remaining=quantity, **values)
            session.add(lot)
            outcomes.append((lot, lot_rows, True, True))
            continue
        changed = _assign(lot, values)
        if lot.quantity != quantity:
            lot.remaining += quantity - lot.quantity
            lot.quantity = quantity
            changed = True
        outcomes.append((lot, lot_rows, False, changed))
    await session.flush()
    for lot, lot_rows, created, changed in outcomes:
        wanted: dict[int, LotRow] = {}
        if lot.cooperative_id is not None:
            for _, row in lot_rows:
                if row.member_no is not None:
                    wanted[households[(lot.cooperative_id, row.member_no)].id] = row
        current = contributions.get(lot.id, {})
        for household_id, row in wanted.items():
            contribution_values = {
                "quantity": row.quantity,
                "grade": row.grade.upper(),
                "guaranteed_price_fen": row.guaranteed_price,
            }
            contribution = current.get(household_id)
            if contribution is None:
                session.add(LotContribution(lot_id=lot.id, household_id=household_id, **contribution_values))
                changed = True
            else:
                changed = _assign(contribution, _given(row, contribution_values, CONTRIBUTION_SOURCES)) or changed
        for household_id, contribution in current.items():
            if household_id not in wanted:
                await session.delete(contribution)
                changed = True
        _tally(result, created, changed)
    return result


async def load_units(session: AsyncSession, rows: NumberedRows[UnitRow], *, partial: bool = False) -> LoadResult:
    result = LoadResult()
    codes = {r.code for _, r in rows}
    units = {
        u.code: u
        for u in await session.scalars(
            select(PurchasingUnit).where(
                PurchasingUnit.code.in_(codes | {r.parent_code for _, r in rows if r.parent_code})
            )
        )
    }
    for number, row in rows:
        if row.parent_code and row.parent_code not in units and row.parent_code not in codes:
            result.errors.append(RowError(number, "parent_code", f"no purchasing unit {row.parent_code}"))
        if row.parent_code == row.code:
            result.errors.append(RowError(number, "parent_code", "a unit cannot be its own parent"))
    if result.errors:
        return result
    targets = {
        (t.unit_id, t.year): t
        for t in await session.scalars(select(UnitTarget).where(UnitTarget.unit_id.in_([u.id for u in units.values()])))
    }
    outcomes: list[tuple[PurchasingUnit, bool, bool, str | None, bool]] = []
    regions: dict[str, Region] = {}
    for _, row in rows:
        region = None
        if row.region_code:
            region = regions.get(row.region_code)
            if region is None:
                region = regions[row.region_code] = await _region(
                    session, row.region_code, row.region_name or "", "county"
                )
        values: dict[str, Any] = {
            "name": row.name,
            "unit_type": row.unit_type,
            "region_id": region.id if region else None,
            "staff_count": row.staff_count,
        }
        unit = units.get(row.code)
        created = unit is None
        if unit is None:
            unit = PurchasingUnit(code=row.code, **values)
            session.add(unit)
            await session.flush()
            units[row.code] = unit
            changed = True
        else:
            changed = _assign(unit, _given(row, values, UNIT_SOURCES))
        if row.year is not None and row.target is not None:
            target_values = {"target_fen": row.target, "canteen_budget_fen": row.canteen_budget}
            target = targets.get((unit.id, row.year))
            if target is None:
                target = UnitTarget(unit_id=unit.id, year=row.year, **target_values)
                session.add(target)
                targets[(unit.id, row.year)] = target
                changed = True
            else:
                changed = _assign(target, _given(row, target_values, TARGET_SOURCES)) or changed
        outcomes.append((unit, created, changed, row.parent_code, created or "parent_code" in row.model_fields_set))
    # Parents last: a parent may come later in the same file.
    for unit, created, changed, parent_code, parent_given in outcomes:
        parent_id = units[parent_code].id if parent_code else None
        if parent_given and unit.parent_id != parent_id:
            unit.parent_id = parent_id
            changed = True
        _tally(result, created, changed)
    return result


async def load_sessions(session: AsyncSession, rows: NumberedRows[SessionRow], *, partial: bool = False) -> LoadResult:
    """Live sessions from an export, stored by the same upsert as sessions pulled from an API."""
    from bangfu.upsert import upsert_live_sessions

    result = LoadResult()
    shops = {
        (str(s.platform), s.platform_shop_id): s
        for s in await session.scalars(select(Shop).where(Shop.platform_shop_id.in_({r.shop_id for _, r in rows})))
    }
    grouped: dict[tuple[str, str, str], list[tuple[int, SessionRow]]] = defaultdict(list)
    missing: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, row in rows:
        if (row.platform, row.shop_id) not in shops:
            missing[(row.platform, row.shop_id)].append(number)
            continue
        grouped[(row.platform, row.shop_id, row.room_id)].append((number, row))
    for (platform, shop_id), numbers in missing.items():  # one line per shop, not one per row
        reason = t("import.no_shop", platform=platform, shop_id=shop_id, rows=len(numbers), first=numbers[0])
        result.errors.append(RowError(numbers[0], "shop_id", reason))
    for members in grouped.values():
        first_no, first = members[0]
        for number, row in members[1:]:
            for name in SessionRow.SESSION_FIELDS:
                if getattr(row, name) != getattr(first, name):
                    result.errors.append(
                        RowError(number, name, f"differs from row {first_no} of the same session {row.room_id}")
                    )
    result.errors.extend(await _campaign_code_clashes(session, grouped))
    if result.errors:
        return result
    conn = await session.connection()
    now = datetime.now(UTC)
    for (platform, shop_id, room_id), members in grouped.items():
        first = members[0][1]
        minutes = tuple(
            LiveMinuteRecord(
                minute_at=r.minute_at,
                online=r.online or 0,
                views=r.minute_views or 0,
                new_buyers=r.new_buyers or 0,
                gmv_fen=r.minute_gmv or 0,
            )
            for _, r in members
            if r.minute_at is not None
        )
        explanations = tuple(
            ExplanationRecord(platform_item_id=r.explained_item_id, started_at=r.explain_start, ended_at=r.explain_end)
            for _, r in members
            if r.explained_item_id and r.explain_start and r.explain_end
        )
        record = LiveSessionRecord(
            room_id=room_id,
            author_id=first.author_id,
            started_at=first.started_at,
            modified_at=first.ended_at or max((m.minute_at for m in minutes), default=first.started_at),
            host_name=first.host_name or "",
            title=first.title or "",
            ended_at=first.ended_at,
            views=first.views or sum(m.views for m in minutes),
            unique_viewers=first.unique_viewers or 0,
            peak_online=first.peak_online or max((m.online for m in minutes), default=0),
            total_watch_seconds=first.total_watch_seconds or 0,
            minutes=minutes,
            explanations=tuple(dict.fromkeys(explanations)),
            campaign_code=first.campaign_code,
            raw={"source": "export", "rows": [n for n, _ in members]},
        )
        page = await upsert_live_sessions(conn, shops[(platform, shop_id)].id, platform, [record], now=now)
        result.count("created" if page.new else "updated" if page.changed else "unchanged")
    return result


async def _campaign_code_clashes(
    session: AsyncSession, grouped: dict[tuple[str, str, str], list[tuple[int, SessionRow]]]
) -> list[RowError]:
    """A campaign code names one session: not two in the file, nor one already stored elsewhere."""
    errors: list[RowError] = []
    owners: dict[str, tuple[int, tuple[str, str, str]]] = {}
    for key, members in grouped.items():
        number, first = members[0]
        code = first.campaign_code
        if code is None:
            continue
        if code in owners:
            other_row, other = owners[code]
            errors.append(
                RowError(number, "campaign_code", f"{code} is also the code of session {other[2]} (row {other_row})")
            )
            continue
        owners[code] = (number, key)
    if owners:
        stored = await session.execute(
            select(LiveSession.campaign_code, Shop.platform, Shop.platform_shop_id, LiveSession.room_id)
            .join(Shop, Shop.id == LiveSession.shop_id)
            .where(LiveSession.campaign_code.in_(sorted(owners)))
        )
        for code, platform, shop_id, room_id in stored:
            number, key = owners[str(code)]
            if (str(platform), shop_id, room_id) != key:
                errors.append(RowError(number, "campaign_code", f"{code} is already the code of session {room_id}"))
    return errors


async def load_listing_map(
    session: AsyncSession,
    rows: NumberedRows[ListingMapRow],
    *,
    partial: bool = False,
    shop_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> LoadResult:
    """Map listings by hand (see :mod:`bangfu.listing_map`); ``shop_ids`` limits the shops a
    row may name (an operator's), None: any shop. Waiting lines of a mapped listing flow on."""
    from bangfu.listing_map import ListingKey, set_mapping

    result = LoadResult()
    shops = list(await session.scalars(select(Shop)))
    by_id = {str(s.id): s for s in shops}
    by_name: dict[str, list[Shop]] = defaultdict(list)
    for shop in shops:
        by_name[shop.name].append(shop)
    skus = {
        s.sku_code: s.id
        for s in await session.scalars(select(Sku).where(Sku.sku_code.in_({r.sku_code for _, r in rows if r.sku_code})))
    }
    resolved: list[tuple[ListingKey, int | None]] = []
    for number, row in rows:
        named = by_name.get(row.shop, [])
        found = by_id.get(row.shop) if row.shop.isdigit() else (named[0] if len(named) == 1 else None)
        if found is None or (shop_ids is not None and found.id not in shop_ids):
            reason = f"{len(named)} shops are named {row.shop}: give the shop id" if len(named) > 1 else None
            result.errors.append(RowError(number, "shop", reason or f"no shop {row.shop} among yours"))
            continue
        if "sku_code" not in row.model_fields_set:
            result.errors.append(RowError(number, "sku_code", "blank: give the hub SKU code, or <清空> to unmap"))
            continue
        if row.sku_code is not None and row.sku_code not in skus:
            result.errors.append(RowError(number, "sku_code", f"no SKU with code {row.sku_code}"))
            continue
        key = ListingKey(found.id, row.platform_item_id, row.platform_sku_id or "")
        resolved.append((key, skus[row.sku_code] if row.sku_code is not None else None))
    if result.errors:
        return result
    conn = await session.connection()
    now = datetime.now(UTC)
    for key, sku_id in resolved:
        before = (
            await conn.execute(
                select(Listing.sku_id, Listing.mapping).where(
                    Listing.shop_id == key.shop_id,
                    Listing.platform_item_id == key.platform_item_id,
                    Listing.platform_sku_id == key.platform_sku_id,
                )
            )
        ).first()
        await set_mapping(conn, key, sku_id, user_id=user_id, now=now)
        if before is None:
            result.count("created")
        else:
            same = before.sku_id == sku_id and before.mapping == "manual"
            result.count("unchanged" if same else "updated")
    return result


async def load_sales(
    session: AsyncSession, rows: NumberedRows[Any], *, partial: bool = False, shop_id: int | None = None
) -> LoadResult:
    """Sales of an offline shop, one order per receipt (:mod:`bangfu.importing.sales`)."""
    from bangfu.importing.sales import load_sales as load

    return await load(session, rows, partial=partial, shop_id=shop_id)


async def load_certificates(session: AsyncSession, rows: NumberedRows[Any], *, partial: bool = False) -> LoadResult:
    """The county's certified list (:mod:`bangfu.importing.certificates`)."""
    from bangfu.importing.certificates import load_certificates as load

    return await load(session, rows, partial=partial)


LOADERS: dict[str, Any] = {
    "cooperatives": load_cooperatives,
    "households": load_households,
    "products": load_products,
    "lots": load_lots,
    "units": load_units,
    "sessions": load_sessions,
    "listings": load_listing_map,
    "sales": load_sales,
    "certificates": load_certificates,
}
