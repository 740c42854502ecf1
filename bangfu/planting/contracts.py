"""Accepting a suggested plan as a purchase contract (订单收购合同) at a guaranteed price.

The quantity is the cooperative's suggested units of the plan season (never more than its
capacity, by construction of the plan); the price is what the cooperative and the county agree
per unit, by default the guaranteed price its last lot of the product paid (the split policy
carries no per-product price: guaranteed prices live on the lots' contributions). One contract
per cooperative, product and season: accepting again is refused, never a second contract.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import PlantingContract
from bangfu.money import MoneyError, parse_yuan
from bangfu.planting.seasons import Season

__all__ = ["MAX_PRICE_FEN", "ContractError", "accept_plan", "parse_price"]

MAX_PRICE_FEN = 1_000_000 * 100  # one unit of a product, as the importers' price bound

MESSAGES.update(
    {
        "planting.err.price": {
            "zh": "保底价须为大于 0 的金额（元），如 12.50",
            "en": "The guaranteed price must be an amount in yuan above 0, like 12.50",
        },
        "planting.err.nothing": {
            "zh": "本季没有给该合作社的建议订单量",
            "en": "There is no suggested quantity for this cooperative this season",
        },
        "planting.err.exists": {"zh": "{season} 的合同已签订", "en": "The contract for {season} is already accepted"},
    }
)


class ContractError(UserError):
    """A contract that cannot be accepted; ``field`` is the form field it is about."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def parse_price(text: str) -> int:
    """Yuan as typed (``12.50``) to fen; above 0 and within :data:`MAX_PRICE_FEN`."""
    try:
        fen = parse_yuan(text.strip(), max_fen=MAX_PRICE_FEN)
    except MoneyError:
        raise ContractError("price", t("planting.err.price")) from None
    if fen <= 0:
        raise ContractError("price", t("planting.err.price"))
    return fen


async def accept_plan(
    conn: AsyncConnection,
    *,
    cooperative_id: int,
    product_id: int,
    season: Season,
    quantity: int,
    price_fen: int,
    forecast_units: int,
    forecast_model: str,
    by: int | None,
    now: datetime,
) -> int:
    """Store the contract; its id. The caller has checked the cooperative's plan row."""
    if quantity <= 0:
        raise ContractError("quantity", t("planting.err.nothing"))
    if not 0 < price_fen <= MAX_PRICE_FEN:
        raise ContractError("price", t("planting.err.price"))
    existing = await conn.scalar(
        select(PlantingContract.id).where(
            PlantingContract.cooperative_id == cooperative_id,
            PlantingContract.product_id == product_id,
            PlantingContract.season == season.label,
        )
    )
    if existing is not None:
        raise ContractError("product", t("planting.err.exists", season=season.label))
    contract_id = await conn.scalar(
        insert(PlantingContract)
        .values(
            cooperative_id=cooperative_id,
            product_id=product_id,
            season=season.label,
            quantity=quantity,
            price_fen=price_fen,
            forecast_units=forecast_units,
            forecast_model=forecast_model,
            accepted_by=by,
            accepted_at=now,
        )
        .returning(PlantingContract.id)
    )
    assert contract_id is not None
    return int(contract_id)
