"""``bangfu shipments``: record the county's shipments (one order, or a file of them) and push
them to the orders' platforms (``sync/shipments.py``).

::

    bangfu shipments add ORDER --carrier SF --tracking SF1234567890 [--shop ID]
    bangfu shipments import FILE          # CSV or XLSX: order, carrier, tracking[, shop]
    bangfu shipments push [--shop ID]     # exit 1 when a shipment failed
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import MESSAGES, t
from bangfu.settings import get_settings
from bangfu.store import make_engine

shipments_app = typer.Typer(
    help="Shipments: record carrier + tracking per order, push them to the platforms.", no_args_is_help=True
)

MESSAGES.update(
    {
        "shipments.added": {
            "zh": "已记录发货 #{id}：订单 {order}，{carrier} {tracking}",
            "en": "Shipment #{id} recorded: order {order}, {carrier} {tracking}",
        },
        "shipments.imported": {"zh": "已导入 {count} 条发货记录", "en": "{count} shipments recorded"},
        "shipments.pushed": {"zh": "发货回传", "en": "Shipment pushes"},
        "shipments.order": {"zh": "订单", "en": "Order"},
        "shipments.carrier": {"zh": "快递公司", "en": "Carrier"},
        "shipments.tracking": {"zh": "运单号", "en": "Tracking no."},
        "shipments.result": {"zh": "结果", "en": "Result"},
        "shipments.shop": {"zh": "店铺", "en": "Shop"},
        "shipments.nothing": {"zh": "没有待回传的发货", "en": "no shipments due: nothing to push"},
    }
)

_HEADERS = {
    "order": ("order", "订单", "订单号", "平台订单号"),
    "carrier": ("carrier", "快递公司", "物流公司", "承运商"),
    "tracking": ("tracking", "tracking_no", "运单号", "快递单号"),
    "shop": ("shop", "店铺", "店铺ID"),
}


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


@shipments_app.command("add")
def add_command(
    order: Annotated[str, typer.Argument(help="The order's platform id (as the platform shows it).")],
    carrier: Annotated[str, typer.Option("--carrier", help="SF, ZTO, YTO, STO, YUNDA, EMS, POSTB or JD.")],
    tracking: Annotated[str, typer.Option("--tracking", help="The tracking number (运单号).")],
    shop: Annotated[int | None, typer.Option("--shop", help="Shop id, when the order id is in several shops.")] = None,
    db: DbOption = None,
) -> None:
    """Record that ORDER has shipped (pushed to its platform by ``bangfu shipments push``)."""
    from sync.shipments import ShipmentPusher

    async def go() -> int:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            return await ShipmentPusher(engine).add_by_platform_id(order, carrier, tracking, shop_id=shop, via="cli")
        finally:
            await engine.dispose()

    shipment_id = run(go())
    message = t("shipments.added", id=shipment_id, order=order, carrier=carrier.upper(), tracking=tracking)
    console.print(Text(message))


@shipments_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: order, carrier, tracking[, shop] (Chinese headers too).")],
    db: DbOption = None,
) -> None:
    """Record a file of shipments, all or nothing: a bad row is named ``file:row:field`` and
    nothing is recorded."""
    from bangfu.importing.reader import read_table
    from sync.shipments import ShipmentError, ShipmentPusher

    async def go() -> int:
        header, rows = read_table(file)
        columns = {field: _column(header, names) for field, names in _HEADERS.items()}
        for field in ("order", "carrier", "tracking"):
            if columns[field] is None:
                raise ShipmentError(f"{file}:1:{field}: no column {' / '.join(_HEADERS[field])}")
        wanted: list[tuple[int, dict[str, str]]] = []
        for number, cells in rows:
            values = {
                field: cells[index].strip() if index is not None and index < len(cells) else ""
                for field, index in columns.items()
            }
            for field in ("order", "carrier", "tracking"):
                if not values[field]:
                    raise ShipmentError(f"{file}:{number}:{field}: empty")
            if values["shop"] and not values["shop"].isdigit():
                raise ShipmentError(f"{file}:{number}:shop: not a shop id: {values['shop']!r}")
            wanted.append((number, values))
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            pusher = ShipmentPusher(engine)
            async with engine.begin() as conn:
                for number, values in wanted:
                    shop = int(values["shop"]) if values["shop"] else None
                    try:
                        order_id = await pusher.resolve_order(values["order"], shop, conn=conn)
                    except ShipmentError as exc:
                        raise ShipmentError(f"{file}:{number}:order: {exc}") from None
                    try:
                        await pusher.add(order_id, values["carrier"], values["tracking"], via="import", conn=conn)
                    except ShipmentError as exc:
                        field = "tracking" if "tracking" in str(exc) else "carrier"
                        raise ShipmentError(f"{file}:{number}:{field}: {exc}") from None
            return len(wanted)
        finally:
            await engine.dispose()

    console.print(t("shipments.imported", count=run(go())))


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    cleaned = [cell.strip().lower() for cell in header]
    for name in names:
        if name.lower() in cleaned:
            return cleaned.index(name.lower())
    return None


@shipments_app.command("push")
def push_command(
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (repeatable); default every shop.")] = None,
    db: DbOption = None,
) -> None:
    """Push every due shipment to its order's platform (retried with backoff, never sent twice
    once pushed); exit 1 when one failed."""
    from sync.shipments import ShipmentPusher

    async def go() -> list[object]:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            lines = await ShipmentPusher(engine).push(shop)
        finally:
            await engine.dispose()
        table = Table(title=t("shipments.pushed"), title_justify="left")
        for key in ("shipments.shop", "shipments.order", "shipments.carrier", "shipments.tracking", "shipments.result"):
            table.add_column(t(key))
        for line in lines:
            result = line.status + (f": {line.error}" if line.error else "")
            table.add_row(str(line.shop_id), line.platform_order_id, line.carrier, line.tracking_no, Text(result))
        if lines:
            console.print(table)
        else:
            console.print(t("shipments.nothing"))
        return [line for line in lines if line.status == "failed"]

    if run(go()):
        raise typer.Exit(1)
