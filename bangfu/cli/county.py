"""``bangfu county``: what a county office sets for its reports (issue 13).

- ``groups list|set``: the 五进/七进 campaign groups (进机关, 进学校 ...), labels in zh and en;
- ``kinds list|set``: unit kinds (机关, 学校, 军营 ...) and the group each counts in;
- ``assign UNIT_CODE KIND``: a purchasing unit's kind beyond its legal type (``--clear``: back);
- ``monitoring-line list|set``: the per-region, per-year monitoring line in yuan per person.

Until a group or kind is set the defaults of :mod:`bangfu.queries.county` apply; the first edit
writes them into the tables, so every other default is kept.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from bangfu.cli.app import console, fail, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import MESSAGES, t
from bangfu.money import format_yuan
from bangfu.queries import county as qc
from bangfu.settings import get_settings
from bangfu.store import make_engine

MESSAGES.update(
    {
        "county.cli.saved": {"zh": "已保存", "en": "saved"},
        "county.cli.bad_yuan": {"zh": "金额应为元，最多两位小数：{value}", "en": "yuan, at most 2 decimals: {value}"},
        "county.cli.default_line": {
            "zh": "未设定的地区使用默认值 {line}/人·年",
            "en": "regions without a line use the default, {line} per person per year",
        },
    }
)

county_app = typer.Typer(
    help="County office settings: campaign groups, unit kinds, monitoring lines.", no_args_is_help=True
)
groups_app = typer.Typer(help="The 五进/七进 campaign groups.", no_args_is_help=True)
kinds_app = typer.Typer(help="Purchasing-unit kinds and their campaign group.", no_args_is_help=True)
line_app = typer.Typer(help="The monitoring line per region and year (yuan per person per year).", no_args_is_help=True)
county_app.add_typer(groups_app, name="groups")
county_app.add_typer(kinds_app, name="kinds")
county_app.add_typer(line_app, name="monitoring-line")


async def _with_conn(db: str | None, work, write: bool = False):  # type: ignore[no-untyped-def]
    url = db or get_settings().resolved_database_url
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        if write:
            async with engine.begin() as conn:
                return await work(conn)
        async with engine.connect() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


@groups_app.command("list")
def groups_list(db: DbOption = None) -> None:
    kinds = run(_with_conn(db, qc.load_kinds))
    table = Table("code", "zh", "en", "kinds")
    for g in kinds.groups:
        members = ", ".join(code for code, (_, group) in sorted(kinds.kinds.items()) if group == g.code)
        table.add_row(g.code, g.zh, g.en, members)
    console.print(table)


@groups_app.command("set")
def groups_set(
    code: Annotated[str, typer.Argument(help="Group code (ASCII), e.g. barracks.")],
    zh: Annotated[str, typer.Option("--zh", help="Chinese label, e.g. 进军营.")],
    en: Annotated[str, typer.Option("--en", help="English label.")],
    position: Annotated[int | None, typer.Option("--position", help="Order on the page.")] = None,
    db: DbOption = None,
) -> None:
    run(_with_conn(db, lambda conn: qc.set_group(conn, code, zh, en, position), write=True))
    console.print(t("county.cli.saved"))


@kinds_app.command("list")
def kinds_list(db: DbOption = None) -> None:
    kinds = run(_with_conn(db, qc.load_kinds))
    table = Table("code", "zh", "en", "group")
    for code, (label, group) in sorted(kinds.kinds.items()):
        table.add_row(code, label.zh, label.en, group)
    console.print(table)


@kinds_app.command("set")
def kinds_set(
    code: Annotated[str, typer.Argument(help="Kind code (ASCII), e.g. military; the unit types are kinds too.")],
    zh: Annotated[str, typer.Option("--zh", help="Chinese label, e.g. 军营.")],
    en: Annotated[str, typer.Option("--en", help="English label.")],
    group: Annotated[str, typer.Option("--group", help="The campaign group's code.")],
    db: DbOption = None,
) -> None:
    run(_with_conn(db, lambda conn: qc.set_kind(conn, code, zh, en, group), write=True))
    console.print(t("county.cli.saved"))


@county_app.command("assign")
def assign(
    unit: Annotated[str, typer.Argument(help="The purchasing unit's code.")],
    kind: Annotated[str | None, typer.Argument(help="A kind code (see kinds list).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the unit's own type.")] = False,
    db: DbOption = None,
) -> None:
    """Name a purchasing unit's kind for the campaign groups."""
    if (kind is None) == (not clear):
        fail("give a KIND or --clear")
    run(_with_conn(db, lambda conn: qc.assign_kind(conn, unit, None if clear else kind), write=True))
    console.print(t("county.cli.saved"))


@line_app.command("list")
def line_list(db: DbOption = None) -> None:
    rows = run(_with_conn(db, qc.monitoring_lines))
    table = Table("region", "name", "year", "yuan", "note")
    for code, name, year, fen, note in rows:
        table.add_row(code, name, str(year), format_yuan(fen), note or "")
    console.print(table)
    console.print(t("county.cli.default_line", line=format_yuan(qc.DEFAULT_MONITORING_LINE_FEN)))


@line_app.command("set")
def line_set(
    region: Annotated[str, typer.Option("--region", help="Region's administrative division code.")],
    year: Annotated[int, typer.Option("--year", min=2000, max=2100)],
    yuan: Annotated[str, typer.Option("--yuan", help="Yuan per person per year, e.g. 7400.")],
    note: Annotated[str | None, typer.Option("--note", help="Source, e.g. the provincial notice.")] = None,
    db: DbOption = None,
) -> None:
    try:
        amount = Decimal(yuan)
    except InvalidOperation:
        fail(t("county.cli.bad_yuan", value=yuan))
    if amount != amount.quantize(Decimal("0.01")) or not amount.is_finite():
        fail(t("county.cli.bad_yuan", value=yuan))
    fen = int(amount * 100)
    run(_with_conn(db, lambda conn: qc.set_monitoring_line(conn, region, year, fen, note), write=True))
    console.print(t("county.cli.saved"))
