"""``bangfu listings`` (商品对应: list, map from a file) and ``bangfu prices`` (set a SKU's price
per shop, push prices through the platforms' price APIs).

The same query functions as ``/operator/listings`` (admin scope): see ``bangfu/queries/listings.py``
and ``sync/prices.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import MESSAGES, t
from bangfu.money import MoneyError, format_yuan, parse_yuan
from bangfu.queries.listings import MappingError, bulk_map, listings_page, set_channel_price
from bangfu.scope import Scope
from bangfu.settings import get_settings
from bangfu.store import make_engine

listings_app = typer.Typer(help="Listings: which hub SKU each platform item/SKU is (商品对应).", no_args_is_help=True)
prices_app = typer.Typer(help="Prices per shop, pushed through the platforms' price APIs.", no_args_is_help=True)

MESSAGES.update(
    {
        "listings.title": {"zh": "商品对应（未对应的在前）", "en": "Listings (unmapped first)"},
        "listings.shop": {"zh": "店铺", "en": "Shop"},
        "listings.item": {"zh": "平台商品/SKU", "en": "Platform item/SKU"},
        "listings.listing_title": {"zh": "标题", "en": "Title"},
        "listings.sku": {"zh": "中台SKU", "en": "Hub SKU"},
        "listings.waiting": {"zh": "待对应销售", "en": "Sales waiting"},
        "listings.suggested": {"zh": "建议", "en": "Suggested"},
        "listings.unmapped": {"zh": "未对应", "en": "unmapped"},
        "listings.summary": {
            "zh": "共 {total} 条，未对应 {unmapped} 条；待对应销售 {lines} 行，{money}",
            "en": "{total} listings, {unmapped} unmapped; sales waiting: {lines} lines, {money}",
        },
        "listings.mapped": {
            "zh": "已导入：新建 {created}，更新 {updated}，未变 {unchanged}",
            "en": "Mapped: {created} new, {updated} changed, {unchanged} unchanged",
        },
        "prices.set": {
            "zh": "已设置 {sku} 在店铺 {shop} 的价格：{price}",
            "en": "Price of {sku} on shop {shop}: {price}",
        },
        "prices.same": {"zh": "价格未变：{price}", "en": "Price unchanged: {price}"},
        "prices.no_shop": {"zh": "没有店铺 {shop}", "en": "no shop {shop}"},
        "prices.pushed": {"zh": "价格推送", "en": "Price pushes"},
        "prices.price": {"zh": "价格", "en": "Price"},
        "prices.before": {"zh": "推送前", "en": "Before"},
        "prices.result": {"zh": "结果", "en": "Result"},
        "prices.nothing": {"zh": "没有设置渠道价格的商品", "en": "no channel prices set: nothing to push"},
    }
)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


@listings_app.command("list")
def list_command(
    shop: Annotated[int | None, typer.Option("--shop", help="Only this shop id.")] = None,
    unmapped: Annotated[bool, typer.Option("--unmapped", help="Only unmapped listings.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many rows.")] = 200,
    db: DbOption = None,
) -> None:
    """Every listing and its hub SKU, unmapped first with suggestions and the sales waiting."""

    async def go() -> None:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                page = await listings_page(
                    conn, Scope.admin(), shop_id=shop, status="unmapped" if unmapped else "all", limit=limit
                )
        finally:
            await engine.dispose()
        if page is None:
            raise MappingError("shop", t("prices.no_shop", shop=shop))
        table = Table(title=t("listings.title"), title_justify="left")
        for key in ("listings.shop", "listings.item", "listings.listing_title", "listings.sku", "listings.waiting"):
            table.add_column(t(key), justify="right" if key == "listings.waiting" else "left")
        for row in page.items:
            if row.sku_code is not None:
                sku = f"{row.sku_code} ({row.mapping})"
            else:
                hints = ", ".join(f"{s.sku_code}" for s in row.suggestions)
                sku = t("listings.unmapped") + (f"; {t('listings.suggested')}: {hints}" if hints else "")
            waiting = f"{row.waiting_lines} / {format_yuan(row.waiting_fen)}" if row.waiting_lines else ""
            table.add_row(
                Text(row.shop_name),
                Text(f"{row.platform_item_id}/{row.platform_sku_id or '-'}"),
                Text(row.title),
                Text(sku),
                waiting,
            )
        console.print(table)
        console.print(
            t(
                "listings.summary",
                total=page.total,
                unmapped=page.unmapped,
                lines=page.waiting_lines,
                money=format_yuan(page.waiting_fen),
            )
        )

    run(go())


@listings_app.command("map")
def map_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: 店铺, 平台商品ID, 平台SKU ID, SKU编码 (<清空> unmaps).")],
    db: DbOption = None,
) -> None:
    """Map listings from a file, all or nothing (errors name file:row:field); their waiting sales flow on."""

    async def go() -> None:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            result = await bulk_map(engine, Scope.admin(), file, user_id=None)
        finally:
            await engine.dispose()
        assert result is not None
        console.print(t("listings.mapped", created=result.created, updated=result.updated, unchanged=result.unchanged))

    run(go())


@prices_app.command("set")
def set_command(
    sku_code: Annotated[str, typer.Argument(help="Hub SKU code.")],
    shop: Annotated[int, typer.Argument(help="Shop id.")],
    price: Annotated[str, typer.Argument(help="Price in yuan, e.g. 39.90.")],
    db: DbOption = None,
) -> None:
    """Set a SKU's price on one shop (pushed by ``bangfu prices push``)."""
    try:
        fen = parse_yuan(price, max_fen=100_000_000)
    except MoneyError as exc:
        raise typer.BadParameter(str(exc), param_hint="PRICE") from None

    async def go() -> None:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                changed = await set_channel_price(
                    conn, Scope.admin(), sku_code, shop, fen, user_id=None, now=datetime.now(UTC)
                )
        finally:
            await engine.dispose()
        if changed is None:
            raise MappingError("shop", t("prices.no_shop", shop=shop))
        key = "prices.set" if changed else "prices.same"
        console.print(Text(t(key, sku=sku_code, shop=shop, price=format_yuan(fen))))

    run(go())


@prices_app.command("push")
def push_command(
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (repeatable); default every shop.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: no platform call, nothing written.")] = False,
    db: DbOption = None,
) -> None:
    """Push each listing's channel price through its platform's price API (a price already on the
    platform is not pushed again); exit 1 when a push failed or is uncertain."""
    from sync.prices import PricePusher

    async def go() -> list[object]:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            pusher = PricePusher(engine)
            lines = await (pusher.plan(shop) if dry_run else pusher.push(shop))
        finally:
            await engine.dispose()
        table = Table(title=t("prices.pushed"), title_justify="left")
        for key in ("listings.shop", "listings.sku", "listings.item", "prices.before", "prices.price", "prices.result"):
            table.add_column(t(key), justify="right" if key in ("prices.before", "prices.price") else "left")
        for line in lines:
            before = format_yuan(line.before_fen) if line.before_fen is not None else "-"
            result = line.status + (f": {line.error}" if line.error else "")
            table.add_row(
                str(line.shop_id),
                line.sku_code,
                f"{line.platform_item_id}/{line.platform_sku_id or '-'}",
                before,
                format_yuan(line.price_fen),
                Text(result),
            )
        if lines:
            console.print(table)
        else:
            console.print(t("prices.nothing"))
        return [line for line in lines if line.status in ("failed", "uncertain")]

    bad = run(go())
    if bad:
        raise typer.Exit(1)
