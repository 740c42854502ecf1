"""``household_line_days.sku_id`` (migration 0052) on the demo county (posted by the pipeline:
batched sales with the SKUs the posting stage read, refunds whose lines' SKUs are looked up): every
row of a line keeps its line's SKU and line 0 none, the migration's backfill writes the same; the
statement named through the SKU equals the statement named line by line (from the postings),
a product of no name included (its lines then named by their titles); a line's SKU changed after
posting is followed by its rows; and ``bangfu verify`` names a row whose SKU is not its line's."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.line_credits import household_line_day_skus_differing_from_lines
from bangfu.models import HouseholdLineDay, JournalLineDay, LineAccounting, OrderLine, Product, Sku
from bangfu.reports.base import Period
from bangfu.store import make_engine
from tests.bangfu.conftest import with_conn
from tests.bangfu.test_household_line_days import periods, statements_agree
from tests.web.conftest import World
from workers.verify import verify

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0052_line_day_skus.py"


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("m0052", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _skus(conn: AsyncConnection) -> dict[tuple[int, str, int], int | None]:
    days = HouseholdLineDay.__table__.c
    rows = await conn.execute(select(days.household_id, days.day, days.order_line_id, days.sku_id))
    return {(int(h), str(d), int(line)): sku for h, d, line, sku in rows}


async def _busiest(conn: AsyncConnection) -> tuple[int, list[Period]]:
    """The household with the most rows and whole-day periods over the table's days (and one not)."""
    days = HouseholdLineDay.__table__.c
    household = await conn.scalar(
        select(days.household_id).group_by(days.household_id).order_by(func.count().desc(), days.household_id).limit(1)
    )
    first, last = (await conn.execute(select(func.min(days.day), func.max(days.day)))).one()
    return int(household or 0), periods(date.fromisoformat(str(first)), date.fromisoformat(str(last)))


async def test_rows_keep_their_lines_skus_and_the_statement_names_them(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        skus = await _skus(conn)
        assert skus and all((sku is None) == (line == 0) for (_h, _d, line), sku in skus.items())
        assert await household_line_day_skus_differing_from_lines(conn) == []
        household, whole_and_parts = await _busiest(conn)
        named = [await statements_agree(conn, household, period) for period in whole_and_parts]
        assert all(row.product for row in named[0].rows if row.legs.surplus == 0)

        await conn.commit()  # ends the reads' transaction; the changes below are rolled back
        try:
            # The backfill, run again on rows without their SKU, writes the very same.
            await conn.execute(update(HouseholdLineDay).values(sku_id=None))
            await conn.exec_driver_sql(_migration().BACKFILL[conn.dialect.name])
            assert await _skus(conn) == skus

            # The product of the household's busiest SKU loses its name: its lines are named by
            # their titles, through the fallback, as line by line.
            days = HouseholdLineDay.__table__.c
            sku = await conn.scalar(
                select(days.sku_id)
                .where(days.household_id == household, days.sku_id.is_not(None))
                .group_by(days.sku_id)
                .order_by(func.count().desc(), days.sku_id)
                .limit(1)
            )
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == sku))
            before = await conn.scalar(select(Product.name).where(Product.id == product))
            await conn.execute(update(Product).where(Product.id == product).values(name=""))
            # Titles that differ from the product's name (a demo line may be titled just so).
            await conn.execute(update(OrderLine).where(OrderLine.sku_id == sku).values(title=OrderLine.title + " ·"))
            titles = set(await conn.scalars(select(OrderLine.title).where(OrderLine.sku_id == sku)))
            renamed = [await statements_agree(conn, household, period) for period in whole_and_parts]
            products = {row.product for row in renamed[0].rows}
            assert (titles - {before}) & products and renamed[0].rows != named[0].rows
            assert products - titles - {""}, "other SKUs are still named by their products"
            assert renamed[0].totals == named[0].totals

            # A posted line moved to another SKU: its rows follow it, and the statement names it so.
            line = await conn.scalar(
                select(days.order_line_id).where(days.household_id == household, days.sku_id == sku).limit(1)
            )
            other = await conn.scalar(select(Sku.id).where(Sku.id != sku).order_by(Sku.id).limit(1))
            await conn.execute(update(OrderLine).where(OrderLine.id == line).values(sku_id=other))
            moved = {k: v for k, v in (await _skus(conn)).items() if k[2] == line}
            assert moved and set(moved.values()) == {other}
            assert await household_line_day_skus_differing_from_lines(conn) == []
            for period in whole_and_parts:
                await statements_agree(conn, household, period)
            report = await verify(conn, inputs=False)
            assert next(c for c in report.checks if c.name == "household_line_day_skus_match_lines").ok

            # A row whose SKU is not its line's: verify names it (and the statement would misname it).
            key = next(k for k in moved)
            tampered = await conn.scalar(select(Sku.id).where(Sku.id != other).order_by(Sku.id.desc()).limit(1))
            await conn.execute(
                update(HouseholdLineDay)
                .where(
                    HouseholdLineDay.household_id == key[0],
                    HouseholdLineDay.day == date.fromisoformat(key[1]),
                    HouseholdLineDay.order_line_id == line,
                )
                .values(sku_id=tampered)
            )
            differing = await household_line_day_skus_differing_from_lines(conn)
            assert [(k[0], k[2], row, of_line) for k, row, of_line in differing] == [(key[0], line, tampered, other)]
            report = await verify(conn, inputs=False)
            failed = next(c for c in report.checks if c.name == "household_line_day_skus_match_lines")
            assert not failed.ok and failed.count == 1 and f"line {line}" in failed.details[0]
            assert not report.ok
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_sku_change_waits_for_the_poster_holding_the_line(store: World) -> None:
    """PostgreSQL: a poster holds a line's state row from before it reads the line's SKU until it
    commits the rows it wrote with that SKU, rows a SKU change committed in between could not
    see. The change's trigger waits for the state row, then rewrites those rows too."""
    if not store.url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    days = HouseholdLineDay.__table__.c
    engine = make_engine(store.url)
    try:
        async with engine.connect() as setup:
            household, line, sku = (
                await setup.execute(
                    select(days.household_id, days.order_line_id, days.sku_id)
                    .where(days.order_line_id != 0)
                    .order_by(days.household_id, days.order_line_id)
                    .limit(1)
                )
            ).one()
            other = await setup.scalar(select(Sku.id).where(Sku.id != sku).order_by(Sku.id).limit(1))
            later = await setup.scalar(select(func.max(days.day))) + timedelta(days=1)
        row = (days.household_id == household, days.day == later, days.order_line_id == line)
        try:
            async with engine.connect() as poster, engine.connect() as sync:
                # The poster: the line's state row, then a row of a later day with the SKU it read.
                locked = select(LineAccounting.id).where(LineAccounting.order_line_id == line).with_for_update()
                assert await poster.scalar(locked) is not None
                await poster.execute(insert(JournalLineDay).values(order_line_id=line, day=later))
                zero = dict.fromkeys(("guaranteed_fen", "rebate_fen", "bonus_fen", "refunds_fen", "surplus_fen"), 0)
                await poster.execute(
                    insert(HouseholdLineDay).values(
                        household_id=household, day=later, order_line_id=line, journals=1, sku_id=sku, **zero
                    )
                )
                change = asyncio.create_task(
                    sync.execute(update(OrderLine).where(OrderLine.id == line).values(sku_id=other))
                )
                await asyncio.sleep(0.5)
                assert not change.done(), "the SKU change waits for the poster"
                await poster.commit()
                await asyncio.wait_for(change, 10)
                assert await sync.scalar(select(days.sku_id).where(*row)) == other
                await sync.rollback()
        finally:
            async with engine.begin() as cleanup:
                await cleanup.execute(delete(HouseholdLineDay).where(*row))
                await cleanup.execute(
                    delete(JournalLineDay).where(JournalLineDay.order_line_id == line, JournalLineDay.day == later)
                )
    finally:
        await engine.dispose()
