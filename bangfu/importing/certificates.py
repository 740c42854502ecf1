"""The county's certified list (消费帮扶产品目录) in: product and supplier certificates.

Each row is one certificate. Its supplier is found by credit code, else by exact name (a name
two suppliers share is an error: give the code). A product certificate's product is found by
product code (it must belong to that supplier), else by exact name among the supplier's products.
A row whose supplier or product the hub does not know is an error naming the row, unless the
import is run with ``create_missing`` (``bangfu certificates import --create-missing``), which
creates the missing *product* under a known supplier (code from the row, else ``C-<number>``;
category from the row, else 其他) so the catalogue holds the whole official list. A supplier
is never created here: it needs a county and a kind (``bangfu import cooperatives``).

A certificate is keyed by its number: a re-import of the same number updates body, batch,
validity and status and never adds a second row; the same number on another product (or
supplier) is an error. A row without a status is ``valid`` until its last day, ``expired`` after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.certification import local_today
from bangfu.enums import CertificationStatus
from bangfu.importing.loaders import LoadResult, RowError, _assign, _tally
from bangfu.importing.rows import CertificateRow
from bangfu.models import Certification, Product, Supplier, SupplierCertification

DEFAULT_CATEGORY = "其他"


def _status(row: CertificateRow) -> CertificationStatus:
    if row.status is not None:
        return row.status
    return CertificationStatus.VALID if row.valid_to >= local_today() else CertificationStatus.EXPIRED


async def _suppliers(session: AsyncSession, rows: Sequence[tuple[int, CertificateRow]]) -> dict[str, Any]:
    codes = {r.supplier_code for _, r in rows if r.supplier_code}
    names = {r.supplier_name for _, r in rows if r.supplier_name and not r.supplier_code}
    by_code = {s.credit_code: s for s in await session.scalars(select(Supplier).where(Supplier.credit_code.in_(codes)))}
    by_name: dict[str, list[Supplier]] = defaultdict(list)
    for s in await session.scalars(select(Supplier).where(Supplier.name.in_(names))):
        by_name[s.name].append(s)
    return {"code": by_code, "name": by_name}


async def load_certificates(
    session: AsyncSession,
    rows: Sequence[tuple[int, CertificateRow]],
    *,
    partial: bool = False,
    create_missing: bool = False,
) -> LoadResult:
    result = LoadResult()
    found = await _suppliers(session, rows)
    supplier_of: dict[int, Supplier] = {}
    for number, row in rows:
        if row.supplier_code:
            supplier = found["code"].get(row.supplier_code)
            if supplier is None:
                result.errors.append(
                    RowError(number, "supplier_code", f"no supplier with credit code {row.supplier_code}")
                )
                continue
            if row.supplier_name and row.supplier_name != supplier.name:
                reason = (
                    f"the supplier with credit code {row.supplier_code} is {supplier.name!r}, not {row.supplier_name!r}"
                )
                result.errors.append(RowError(number, "supplier_name", reason))
                continue
        else:
            named = found["name"].get(row.supplier_name or "", [])
            if not named:
                result.errors.append(RowError(number, "supplier_name", f"no supplier named {row.supplier_name!r}"))
                continue
            if len(named) > 1:
                reason = f"{len(named)} suppliers are named {row.supplier_name!r}: give the credit code"
                result.errors.append(RowError(number, "supplier_name", reason))
                continue
            supplier = named[0]
        supplier_of[number] = supplier

    product_rows = [(n, r) for n, r in rows if r.subject == "product" and n in supplier_of]
    codes = {r.product_code for _, r in product_rows if r.product_code}
    by_code = {p.spu_code: p for p in await session.scalars(select(Product).where(Product.spu_code.in_(codes)))}
    supplier_ids = {supplier_of[n].id for n, _ in product_rows}
    by_name: dict[tuple[int, str], list[Product]] = defaultdict(list)
    for p in await session.scalars(select(Product).where(Product.supplier_id.in_(supplier_ids))):
        by_name[(p.supplier_id, p.name)].append(p)
    product_of: dict[int, Product | None] = {}  # None: to be created
    for number, row in product_rows:
        supplier = supplier_of[number]
        product: Product | None = None
        if row.product_code:
            product = by_code.get(row.product_code)
            if product is not None and product.supplier_id != supplier.id:
                reason = f"product {row.product_code} belongs to another supplier, not {supplier.name}"
                result.errors.append(RowError(number, "product_code", reason))
                continue
            if product is not None and row.product_name and row.product_name != product.name:
                reason = f"product {row.product_code} is {product.name!r}, not {row.product_name!r}"
                result.errors.append(RowError(number, "product_name", reason))
                continue
        else:
            named = by_name.get((supplier.id, row.product_name or ""), [])
            if len(named) > 1:
                reason = f"{supplier.name} has {len(named)} products named {row.product_name!r}: give the product code"
                result.errors.append(RowError(number, "product_name", reason))
                continue
            product = named[0] if named else None
        if product is None and not create_missing:
            what = row.product_code or row.product_name
            reason = (
                f"no product {what!r} of {supplier.name} in the hub (import the products first, or --create-missing)"
            )
            result.errors.append(RowError(number, "product_code" if row.product_code else "product_name", reason))
            continue
        if product is None and not row.product_name:
            result.errors.append(RowError(number, "product_name", "a product to create needs its name"))
            continue
        product_of[number] = product

    # Certificate numbers: the same number on another product or supplier is an error.
    numbers = {r.number for _, r in rows}
    product_certs = {
        c.number: c for c in await session.scalars(select(Certification).where(Certification.number.in_(numbers)))
    }
    supplier_certs = {
        c.number: c
        for c in await session.scalars(select(SupplierCertification).where(SupplierCertification.number.in_(numbers)))
    }
    for number, row in rows:
        if number not in supplier_of or (row.subject == "product" and number not in product_of):
            continue
        if row.subject == "product":
            cert = product_certs.get(row.number)
            product = product_of[number]
            if cert is not None and (product is None or cert.product_id != product.id):
                result.errors.append(RowError(number, "number", f"certificate {row.number} belongs to another product"))
        else:
            scert = supplier_certs.get(row.number)
            if scert is not None and scert.supplier_id != supplier_of[number].id:
                result.errors.append(
                    RowError(number, "number", f"certificate {row.number} belongs to another supplier")
                )
    if result.errors or partial:
        return result

    created_codes: set[str] = set()
    for number, row in rows:
        supplier = supplier_of[number]
        values: dict[str, Any] = {
            "body": row.body,
            "batch": row.batch,
            "county_id": supplier.county_id,
            "valid_from": row.valid_from,
            "valid_to": row.valid_to,
            "status": _status(row),
        }
        if row.subject == "supplier":
            scert = supplier_certs.get(row.number)
            if scert is None:
                scert = SupplierCertification(supplier_id=supplier.id, number=row.number, **values)
                session.add(scert)
                supplier_certs[row.number] = scert
                _tally(result, True, True)
            else:
                _tally(result, False, _assign(scert, values))
            continue
        product = product_of[number]
        if product is None:
            code = row.product_code or f"C-{row.number}"[:32]
            if code in created_codes or await session.scalar(select(func.count()).where(Product.spu_code == code)):
                result.errors.append(RowError(number, "product_code", f"product code {code} is taken"))
                continue
            created_codes.add(code)
            product = Product(
                spu_code=code,
                name=row.product_name,
                category=row.category or DEFAULT_CATEGORY,
                supplier_id=supplier.id,
                origin_county_id=supplier.county_id,
            )
            session.add(product)
            await session.flush()
        cert = product_certs.get(row.number)
        if cert is None:
            cert = Certification(product_id=product.id, number=row.number, **values)
            session.add(cert)
            product_certs[row.number] = cert
            _tally(result, True, True)
        else:
            _tally(result, False, _assign(cert, values))
    await session.flush()
    return result


async def import_certificates(
    sessions: async_sessionmaker[AsyncSession], path: Path, *, create_missing: bool = False
) -> LoadResult:
    """``bangfu import certificates`` with the ``create_missing`` choice: validate, resolve and
    load the file in one transaction, or raise :class:`ImportRejected` with every error."""
    from bangfu.importing import FileError, ImportRejected, parse_rows

    parsed = parse_rows("certificates", path)
    if not parsed.rows:
        raise ImportRejected(str(path), parsed.errors)
    rows = [(n, r) for n, r in parsed.rows if isinstance(r, CertificateRow)]
    async with sessions() as session, session.begin():
        result = await load_certificates(session, rows, partial=bool(parsed.errors), create_missing=create_missing)
        errors = parsed.errors + [
            FileError(str(path), e.row, parsed.columns.get(e.field, e.field), e.reason) for e in result.errors
        ]
        if errors:  # raising inside begin() rolls the transaction back
            raise ImportRejected(str(path), errors)
    return result
