"""``bangfu agreements import FILE``: procurement agreements from CSV or XLSX, all or nothing.

One row per agreement, keyed by its number (协议编号): importing the file again changes nothing,
and a row whose number is stored updates that agreement (a blank cell keeps what is stored, as
every importer of :mod:`bangfu.importing` does). The unit is named by its code or its name, the
supplier by its unified social credit code or its name. What the agreement covers is a list of
the supplier's SPU codes, SKU codes or product names (``products``) and/or categories
(``categories``), separated by ``;`` ``；`` ``、`` or ``,``; neither: every product of the supplier.
``prices`` gives agreed unit prices as ``CODE=12.50`` pairs for SKUs or products listed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.importing import import_file
from bangfu.importing.loaders import LOADERS, LoadResult, NumberedRows, RowError, _assign, _given, _tally
from bangfu.importing.rows import (
    ROW_MODELS,
    ImportRow,
    OptCount,
    OptDate,
    OptLongText,
    OptText128,
    Text64,
    Text128,
    _blank_to_none,
    _choice,
    _credit_code,
    _in_horizon,
    _money,
)
from bangfu.models import Agreement, AgreementItem, Product, PurchasingUnit, Sku, Supplier

KIND = "agreements"
_SEPARATORS = re.compile(r"[;；、,，\n]+")
STATUSES = {
    "active": "active",
    "执行中": "active",
    "有效": "active",
    "suspended": "suspended",
    "暂停": "suspended",
    "terminated": "terminated",
    "终止": "terminated",
    "已终止": "terminated",
}


def _discount(value: Any) -> Any:
    """``5`` or ``5%`` or ``5.5%`` off -> basis points (500, 550); 0 <= x < 100."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().removesuffix("%").removesuffix("％").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a percentage like 5 or 5.5%") from None
    if not number.is_finite() or number < 0 or number >= 100 or number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r}: a discount is 0 to below 100 percent, at most two decimals")
    return int(number * 100)


def _tokens(text: str | None) -> list[str]:
    return [t.strip() for t in _SEPARATORS.split(text or "") if t.strip()]


Opt = BeforeValidator(_blank_to_none)


class AgreementRow(ImportRow):
    HEADERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "number": ("number", "协议编号", "编号"),
        "title": ("title", "协议名称", "名称"),
        "unit": ("unit", "采购单位", "单位", "单位编码"),
        "supplier": ("supplier", "供应商", "经营主体", "统一社会信用代码"),
        "starts_on": ("starts_on", "开始日期", "起始日期"),
        "ends_on": ("ends_on", "结束日期", "截止日期"),
        "target": ("target", "目标金额", "目标金额(元)", "目标金额（元）", "协议金额(元)", "协议金额（元）"),
        "products": ("products", "协议产品", "产品"),
        "categories": ("categories", "协议品类", "品类"),
        "prices": ("prices", "约定单价", "约定单价(元)", "约定单价（元）"),
        "quantity": ("quantity", "约定数量"),
        "discount": ("discount", "折扣", "折扣(%)", "折扣（%）"),
        "signed_on": ("signed_on", "签订日期"),
        "status": ("status", "状态"),
        "note": ("note", "备注"),
    }
    KEY: ClassVar[tuple[str, ...]] = ("number",)

    number: Text64
    title: OptText128 = None
    unit: Text128
    supplier: Text128
    starts_on: date
    ends_on: date
    target: Annotated[int, _money("unit_budget"), Field(gt=0)]
    products: OptLongText = None
    categories: OptLongText = None
    prices: OptLongText = None
    quantity: OptCount = None
    discount: Annotated[int | None, BeforeValidator(_discount), Opt] = None
    signed_on: OptDate = None
    status: Annotated[str, BeforeValidator(_choice(STATUSES))] = "active"
    note: OptLongText = None

    @model_validator(mode="after")
    def _check(self) -> AgreementRow:
        for name in ("starts_on", "ends_on"):
            try:
                _in_horizon(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on: the period ends before it starts")
        self.price_pairs()
        return self

    def price_pairs(self) -> dict[str, int]:
        """``CODE=12.50`` pairs -> {code: fen}; a bad pair is a ValueError naming ``prices``."""
        from bangfu.money import MoneyError, parse_yuan

        out: dict[str, int] = {}
        for token in _tokens(self.prices):
            code, sep, amount = token.partition("=")
            if not sep:
                code, sep, amount = token.partition("＝")
            if not sep or not code.strip():
                raise ValueError(f"prices: {token!r} is not CODE=price")
            try:
                out[code.strip()] = parse_yuan(amount.strip(), max_fen=1_000_000 * 100)
            except MoneyError as exc:
                raise ValueError(f"prices: {code.strip()}: {exc}") from None
        return out


AGREEMENT_SOURCES = {
    "title": "title",
    "signed_on": "signed_on",
    "quantity": "quantity",
    "discount_bp": "discount",
    "status": "status",
    "note": "note",
}
ITEM_FIELDS = ("products", "categories", "prices")


def _looks_like_credit_code(value: str) -> bool:
    try:
        _credit_code(value)
    except ValueError:
        return False
    return True


async def _by_key_or_name(session: AsyncSession, model: Any, key_col: Any, value: str) -> tuple[Any, str | None]:
    """(record, None) or (None, reason)."""
    found = await session.scalar(select(model).where(key_col == value))
    if found is not None:
        return found, None
    named = list(await session.scalars(select(model).where(model.name == value).limit(2)))
    if len(named) == 1:
        return named[0], None
    if named:
        return None, f"{value!r} names more than one; use the code"
    return None, f"no such {model.__tablename__.rstrip('s').replace('_', ' ')}: {value!r}"


async def _items(
    session: AsyncSession, row: AgreementRow, supplier_id: int
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The row's items as column values, and (field, reason) for each name that resolves to nothing."""
    errors: list[tuple[str, str]] = []
    prices = row.price_pairs()
    items: list[dict[str, Any]] = []
    seen: set[tuple[str, int | str]] = set()
    products = list(await session.scalars(select(Product).where(Product.supplier_id == supplier_id)))
    by_spu = {p.spu_code: p for p in products}
    by_name = {p.name: p for p in products}
    skus = {
        s.sku_code: s
        for s in await session.scalars(select(Sku).where(Sku.product_id.in_([p.id for p in products] or [-1])))
    }
    for token in _tokens(row.products):
        if token in skus:
            key: tuple[str, int | str] = ("sku", skus[token].id)
            values = {"sku_id": skus[token].id, "product_id": None, "category": None}
        elif token in by_spu or token in by_name:
            product = by_spu.get(token) or by_name[token]
            key = ("product", product.id)
            values = {"sku_id": None, "product_id": product.id, "category": None}
        else:
            errors.append(("products", f"{token!r} is no SKU code, SPU code or product name of this supplier"))
            continue
        if key not in seen:
            seen.add(key)
            items.append(values | {"unit_price_fen": prices.pop(token, None)})
    categories = {p.category for p in products}
    for token in _tokens(row.categories):
        if token not in categories:
            errors.append(("categories", f"the supplier has no product in the category {token!r}"))
            continue
        if ("category", token) not in seen:
            seen.add(("category", token))
            items.append(
                {"sku_id": None, "product_id": None, "category": token, "unit_price_fen": prices.pop(token, None)}
            )
    for code in prices:
        errors.append(("prices", f"{code!r} is not among the agreement's products or categories"))
    return items, errors


def _item_key(values: dict[str, Any]) -> tuple[Any, ...]:
    return (values["sku_id"], values["product_id"], values["category"], values["unit_price_fen"])


async def load_agreements(
    session: AsyncSession, rows: NumberedRows[AgreementRow], *, partial: bool = False
) -> LoadResult:
    result = LoadResult()
    resolved: list[tuple[int, AgreementRow, PurchasingUnit, Supplier, list[dict[str, Any]]]] = []
    for number, row in rows:
        unit, why_unit = await _by_key_or_name(session, PurchasingUnit, PurchasingUnit.code, row.unit)
        if unit is None:
            result.errors.append(RowError(number, "unit", why_unit or ""))
        code = row.supplier.upper() if _looks_like_credit_code(row.supplier) else row.supplier
        supplier, why_supplier = await _by_key_or_name(session, Supplier, Supplier.credit_code, code)
        if supplier is None:
            result.errors.append(RowError(number, "supplier", why_supplier or ""))
            continue
        items, item_errors = await _items(session, row, supplier.id)
        result.errors.extend(RowError(number, f, reason) for f, reason in item_errors)
        if unit is not None and not item_errors:
            resolved.append((number, row, unit, supplier, items))
    if result.errors:
        return result
    stored = {
        a.number: a
        for a in await session.scalars(select(Agreement).where(Agreement.number.in_([r.number for _, r in rows])))
    }
    for _, row, unit, supplier, items in resolved:
        values: dict[str, Any] = {
            "title": row.title,
            "unit_id": unit.id,
            "supplier_id": supplier.id,
            "signed_on": row.signed_on,
            "starts_on": row.starts_on,
            "ends_on": row.ends_on,
            "target_fen": row.target,
            "quantity": row.quantity,
            "discount_bp": row.discount,
            "status": row.status,
            "note": row.note,
        }
        agreement = stored.get(row.number)
        created = agreement is None
        if agreement is None:
            agreement = Agreement(number=row.number, **values)
            session.add(agreement)
            await session.flush()
            changed = True
            old_items: list[AgreementItem] = []
        else:
            changed = _assign(agreement, _given(row, values, AGREEMENT_SOURCES))
            old_items = list(
                await session.scalars(select(AgreementItem).where(AgreementItem.agreement_id == agreement.id))
            )
        if created or any(f in row.model_fields_set for f in ITEM_FIELDS):
            old = sorted(
                (
                    _item_key({c: getattr(i, c) for c in ("sku_id", "product_id", "category", "unit_price_fen")})
                    for i in old_items
                ),
                key=repr,
            )
            new = sorted((_item_key(v) for v in items), key=repr)
            if old != new:
                for item in old_items:
                    await session.delete(item)
                await session.flush()
                session.add_all(AgreementItem(agreement_id=agreement.id, **v) for v in items)
                changed = True
        _tally(result, created, changed)
    await session.flush()
    return result


ROW_MODELS.setdefault(KIND, AgreementRow)  # parse_rows reads the row model from this table
LOADERS.setdefault(KIND, load_agreements)


async def import_agreements(sessions: async_sessionmaker[AsyncSession], path: Path) -> LoadResult:
    """Validate and load an agreements file in one transaction (:func:`bangfu.importing.import_file`)."""
    return await import_file(sessions, KIND, path)
