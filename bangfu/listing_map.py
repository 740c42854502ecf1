"""Listings (商品对应): which hub SKU a platform item/SKU is, and what waits on the answer.

A listing is keyed by (shop, platform item id, platform SKU id; "" for an item without SKUs).
The product sync maps it by merchant code (the SKU whose ``sku_code`` is the listing's outer
id); an operator maps or unmaps it by hand (``listings.mapping = 'manual'``), which the product
sync then keeps.

An order line carries the SKU it was resolved to (``order_lines.sku_id``): its listing's
mapping, else the SKU with the line's merchant code. A line of an unmapped listing has none:
it is kept, counted here as *waiting*, and no stage (lot allocation, posting) takes it. Mapping
the listing gives its waiting lines the SKU in the same transaction; the change triggers of
``line_changes`` then queue them for every stage, so they flow on. A line already resolved is
not moved here by a later remap or unmap (it may have drawn stock and been posted); the next
sync of its order resolves it again through the listing's current mapping (``bangfu.upsert``:
``sku_id = excluded.sku_id``), and the stages take the change from the queue as any other
(posting trues the line up; ``household_line_days`` follow it by trigger, migration 0052).

:func:`suggest` is pure: candidates for an unmapped listing, the SKU with its outer id first
(exact, case-insensitive), then by title similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import Listing, OrderLine

LISTINGS: Table = Listing.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]

#: the least title similarity (0..1) a suggestion needs
MIN_SIMILARITY = 0.35
MAX_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class SkuChoice:
    """A hub SKU as suggestions see it."""

    sku_id: int
    sku_code: str
    name: str  # product name and spec

    @property
    def label(self) -> str:
        return f"{self.sku_code} {self.name}"


@dataclass(frozen=True, slots=True)
class Suggestion:
    sku_id: int
    sku_code: str
    name: str
    reason: str  # "outer_id" (the merchant code matches) | "title"
    score: float  # 1.0 for the merchant code; the title similarity otherwise


def _normal(text: str) -> str:
    return "".join(ch for ch in text.lower() if not ch.isspace() and ch not in "()（）[]【】-_/·,，")


def suggest(outer_id: str | None, title: str | None, skus: Sequence[SkuChoice]) -> list[Suggestion]:
    """Up to :data:`MAX_SUGGESTIONS` SKUs for a listing: the one whose code is the listing's
    outer id first, then the most similar titles (ratio of matching characters, at least
    :data:`MIN_SIMILARITY`), ties by SKU code."""
    out: list[Suggestion] = []
    code = (outer_id or "").strip().lower()
    if code:
        exact = [s for s in skus if s.sku_code.lower() == code]
        out.extend(Suggestion(s.sku_id, s.sku_code, s.name, "outer_id", 1.0) for s in exact)
    wanted = _normal(title or "")
    if wanted:
        taken = {s.sku_id for s in out}
        scored = []
        for sku in skus:
            if sku.sku_id in taken:
                continue
            ratio = SequenceMatcher(None, wanted, _normal(sku.name), autojunk=False).ratio()
            if ratio >= MIN_SIMILARITY:
                scored.append((ratio, sku))
        scored.sort(key=lambda pair: (-pair[0], pair[1].sku_code))
        out.extend(Suggestion(s.sku_id, s.sku_code, s.name, "title", round(r, 2)) for r, s in scored)
    return out[:MAX_SUGGESTIONS]


@dataclass(frozen=True, slots=True)
class ListingKey:
    shop_id: int
    platform_item_id: str
    platform_sku_id: str  # "" for an item without SKUs


def _line_of(key: ListingKey) -> object:
    return and_(
        LINES.c.shop_id == key.shop_id,
        LINES.c.platform_item_id == key.platform_item_id,
        func.coalesce(LINES.c.platform_sku_id, "") == key.platform_sku_id,
    )


async def set_mapping(
    conn: AsyncConnection,
    key: ListingKey,
    sku_id: int | None,
    *,
    user_id: int | None,
    now: datetime,
    title: str | None = None,
) -> tuple[int, int]:
    """Map the listing ``key`` to ``sku_id`` by hand (None: unmap), in the caller's transaction.

    A key seen only in orders (the product sync has not listed it) gets a listing row. Returns
    (listing id, waiting lines that now have the SKU and flow on).
    """
    listing_id = await conn.scalar(
        select(LISTINGS.c.id).where(
            LISTINGS.c.shop_id == key.shop_id,
            LISTINGS.c.platform_item_id == key.platform_item_id,
            LISTINGS.c.platform_sku_id == key.platform_sku_id,
        )
    )
    values = {"sku_id": sku_id, "mapping": "manual", "mapped_by": user_id, "mapped_at": now, "updated_at": now}
    if listing_id is None:
        if title is None:
            title = await conn.scalar(select(func.max(LINES.c.title)).where(_line_of(key)))  # type: ignore[arg-type]
        listing_id = (
            await conn.execute(
                LISTINGS.insert()
                .values(
                    shop_id=key.shop_id,
                    platform_item_id=key.platform_item_id,
                    platform_sku_id=key.platform_sku_id,
                    title=(title or "")[:255] or None,
                    allocated_stock=0,
                    on_sale=True,
                    content_hash="",
                    created_at=now,
                    **values,
                )
                .returning(LISTINGS.c.id)
            )
        ).scalar_one()
    else:
        await conn.execute(update(LISTINGS).where(LISTINGS.c.id == listing_id).values(**values))
    flowed = 0
    if sku_id is not None:
        result = await conn.execute(
            update(LINES)
            .where(_line_of(key), LINES.c.sku_id.is_(None))  # type: ignore[arg-type]
            .values(sku_id=sku_id)
            .execution_options(synchronize_session=False)
        )
        flowed = result.rowcount or 0
    return int(listing_id), flowed


__all__ = ["MAX_SUGGESTIONS", "MIN_SIMILARITY", "ListingKey", "SkuChoice", "Suggestion", "set_mapping", "suggest"]
