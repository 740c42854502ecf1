"""``bangfu planting history import FILE``: past seasons' sell-through a county kept before the
hub, per product (SPU code), season (``2024Q3``), channel, net units and net amount (yuan).

The importer's rules hold (:mod:`bangfu.importing`): CSV or XLSX, Chinese or English headers,
every problem of the file in one report (``file:row:field: reason``), nothing written unless the
whole file is good. A row is the whole figure of its (product, season, channel) cell: importing
it again replaces the stored cell, and it stands in for the hub's own orders of that cell.
Seasons still running or to come are refused: history is of complete seasons.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BeforeValidator, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.clock import SHANGHAI
from bangfu.enums import ChannelType
from bangfu.i18n import MESSAGES
from bangfu.importing import import_file
from bangfu.importing.loaders import LOADERS, LoadResult, NumberedRows, RowError
from bangfu.importing.rows import MAX_INT, ROW_MODELS, ImportRow, Whole, _choice, _money
from bangfu.models import PlantingHistory, Product
from bangfu.planting.seasons import Season

__all__ = ["KIND", "HistoryRow", "import_history"]

KIND = "planting-history"


def _channels() -> dict[str, ChannelType]:
    table: dict[str, ChannelType] = {}
    for channel in ChannelType:
        table[channel.value] = channel
        for label in MESSAGES[f"report.channel.{channel.value}"].values():
            table[label.lower()] = channel
    return table


class HistoryRow(ImportRow):
    HEADERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "spu_code": ("spu_code", "商品编码", "SPU编码"),
        "season": ("season", "季度", "季节"),
        "channel": ("channel", "渠道"),
        "units": ("units", "销量", "净销量", "数量"),
        "amount": ("amount", "销售额", "净销售额", "金额", "销售额(元)", "销售额（元）"),
    }
    KEY: ClassVar[tuple[str, ...]] = ("spu_code", "season", "channel")

    spu_code: Annotated[str, Field(min_length=1, max_length=32)]
    season: str
    channel: Annotated[ChannelType, BeforeValidator(_choice(_channels()))]
    units: Annotated[int, Whole, Field(ge=0, le=MAX_INT)]
    amount: Annotated[int, _money("sale")]

    @field_validator("season")
    @classmethod
    def _season(cls, value: str) -> str:
        season = Season.parse(value)
        if season.last_day >= _today():
            raise ValueError(f"{season.label} is not over yet: history is of complete seasons")
        return season.label


def _today() -> date:
    return datetime.now(SHANGHAI).date()


async def load_history(session: AsyncSession, rows: NumberedRows[HistoryRow], *, partial: bool = False) -> LoadResult:
    result = LoadResult()
    codes = sorted({r.spu_code for _, r in rows})
    products = {
        str(code): int(pid)
        for pid, code in await session.execute(select(Product.id, Product.spu_code).where(Product.spu_code.in_(codes)))
    }
    stored: dict[tuple[int, str, str], PlantingHistory] = {}
    if products:
        for cell in await session.scalars(
            select(PlantingHistory).where(PlantingHistory.product_id.in_(sorted(products.values())))
        ):
            stored[(cell.product_id, cell.season, cell.channel)] = cell
    for number, row in rows:
        pid = products.get(row.spu_code)
        if pid is None:
            result.errors.append(RowError(number, "spu_code", f"no product with SPU code {row.spu_code}"))
            continue
        if row.amount < 0:
            result.errors.append(RowError(number, "amount", "a season's net amount cannot be negative"))
            continue
        if partial or result.errors:
            continue
        key = (pid, row.season, row.channel.value)
        found = stored.get(key)
        if found is None:
            session.add(PlantingHistory(product_id=pid, season=row.season, channel=row.channel.value,
                                        units=row.units, amount_fen=row.amount))  # fmt: skip
            result.count("created")
        elif (found.units, found.amount_fen) == (row.units, row.amount):
            result.count("unchanged")
        else:
            found.units, found.amount_fen = row.units, row.amount
            result.count("updated")
    return result


ROW_MODELS.setdefault(KIND, HistoryRow)
LOADERS.setdefault(KIND, load_history)


async def import_history(sessions: async_sessionmaker[AsyncSession], path: Path) -> LoadResult:
    """Validate and load one history file in one transaction; :class:`ImportRejected` on any error."""
    return await import_file(sessions, KIND, path)
