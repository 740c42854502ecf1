"""``bangfu stock``: allocation rules, reservations for live sessions, and stock pushes.

How the truth is defined and why pushes never oversell: see ``sync/stock.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import delete, select

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.clock import SHANGHAI
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import Shop, Sku, StockReservation, StockRule
from bangfu.settings import get_settings
from bangfu.store import make_engine, session_factory

stock_app = typer.Typer(
    help="Stock: share each SKU's truth between shops, reserve units, push the deltas.", no_args_is_help=True
)

MESSAGES.update(
    {
        "stock.settled": {
            "zh": "结果未知的推送：回读平台库存后的结论",
            "en": "Uncertain pushes, settled by reading back",
        },
        "stock.push": {"zh": "推送", "en": "Push"},
        "stock.sent": {"zh": "推送时间", "en": "Sent"},
        "stock.read_back": {"zh": "平台回读", "en": "Read back"},
        "stock.if_applied": {"zh": "若已生效", "en": "If applied"},
        "stock.if_not": {"zh": "若未生效", "en": "If not"},
        "stock.verdict": {"zh": "结论", "en": "Verdict"},
        "stock.verdict.applied": {"zh": "已生效", "en": "applied"},
        "stock.verdict.not_applied": {"zh": "未生效", "en": "not applied"},
        "stock.verdict.waiting": {"zh": "暂缓", "en": "waiting"},
        "stock.verdict.failed": {"zh": "回读失败", "en": "read-back failed"},
        "stock.nothing_uncertain": {"zh": "没有结果未知的推送", "en": "no uncertain push: nothing to settle"},
        "stock.unsettled": {
            "zh": "{n} 条推送仍未确定（原因见上表），退出码 1",
            "en": "{n} push(es) still uncertain (reasons above): exit code 1",
        },
    }
)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


def parse_share(text: str) -> int:
    """``40%``, ``40``, ``12.5%`` -> basis points (4000, 4000, 1250); ``4000bp`` as given."""
    raw = text.strip().lower()
    try:
        if raw.endswith("bp"):
            value = int(raw[:-2])
        else:
            whole, _, frac = raw.rstrip("%").partition(".")
            if len(frac) > 2 or not whole.isdigit() or (frac and not frac.isdigit()):
                raise ValueError(text)
            value = int(whole) * 100 + int((frac + "00")[:2])
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a share like 40% or 4000bp", param_hint="--share") from None
    if not 0 <= value <= 10_000:
        raise typer.BadParameter(f"{text!r} is not within 0%..100%", param_hint="--share")
    return value


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601; a time without an offset is Asia/Shanghai (the programmes' local time)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time like 2024-06-18T19:00", param_hint=option) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


async def _open(url: str) -> Any:
    await upgrade_database(url)
    return make_engine(url)


async def _sku_id(session: Any, code: str) -> int:
    sku_id = await session.scalar(select(Sku.id).where(Sku.sku_code == code))
    if sku_id is None:
        raise UserError(t("stock.no_sku", code=code))
    return int(sku_id)


async def _shop(session: Any, shop_id: int) -> Shop:
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise UserError(t("stock.no_shop", id=shop_id))
    assert isinstance(shop, Shop)
    return shop


# --------------------------------------------------------------------------- rules
@stock_app.command("rules")
def rules_command(
    shop: Annotated[int | None, typer.Option("--shop", help="Shop id (required to set a rule).")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="SKU code; without it, the shop's default.")] = None,
    share: Annotated[str | None, typer.Option("--share", help="Share of the stock: 40% or 4000bp.")] = None,
    floor: Annotated[int | None, typer.Option("--floor", help="At least this many units.", min=0)] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="Higher gets leftover units first.")] = None,
    remove: Annotated[bool, typer.Option("--delete", help="Remove the rule.")] = False,
    db: DbOption = None,
) -> None:
    """List the allocation rules; with --shop and --share/--floor/--priority, set one."""
    changing = share is not None or floor is not None or priority is not None or remove
    if changing and shop is None:
        raise typer.BadParameter("setting a rule needs --shop ID", param_hint="--shop")
    share_bp = parse_share(share) if share is not None else None
    rows = run(_rules(_url(db), shop, sku, share_bp, floor, priority, remove if changing else None))
    table = Table(title=t("stock.rules"), title_justify="left")
    for key in ("stock.shop", "stock.sku", "stock.share", "stock.floor", "stock.priority"):
        table.add_column(t(key), justify="left" if key in ("stock.shop", "stock.sku") else "right")
    for shop_name, code, bp, units, prio in rows:
        table.add_row(shop_name, code or t("stock.default"), f"{bp / 100:g}%", str(units), str(prio))
    console.print(table)


async def _rules(
    url: str,
    shop_id: int | None,
    code: str | None,
    share_bp: int | None,
    floor: int | None,
    priority: int | None,
    remove: bool | None,
) -> list[tuple[str, str | None, int, int, int]]:
    engine = await _open(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            sku_id = await _sku_id(session, code) if code else None
            if remove is not None and shop_id is not None:
                await _shop(session, shop_id)
                where = (
                    StockRule.shop_id == shop_id,
                    StockRule.sku_id.is_(None) if sku_id is None else StockRule.sku_id == sku_id,
                )
                if remove:
                    await session.execute(delete(StockRule).where(*where))
                else:
                    rule = await session.scalar(select(StockRule).where(*where))
                    if rule is None:
                        rule = StockRule(shop_id=shop_id, sku_id=sku_id, share_bp=0, floor=0, priority=0)
                        session.add(rule)
                    if share_bp is not None:
                        rule.share_bp = share_bp
                    if floor is not None:
                        rule.floor = floor
                    if priority is not None:
                        rule.priority = priority
                await session.flush()
            query = (
                select(Shop.name, Sku.sku_code, StockRule.share_bp, StockRule.floor, StockRule.priority)
                .join(Shop, Shop.id == StockRule.shop_id)
                .outerjoin(Sku, Sku.id == StockRule.sku_id)
                .order_by(Shop.id, Sku.sku_code.is_not(None), Sku.sku_code)
            )
            if shop_id is not None:
                query = query.where(StockRule.shop_id == shop_id)
            return [(a, b, c, d, e) for a, b, c, d, e in await session.execute(query)]
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- reservations
@stock_app.command("reserve")
def reserve_command(
    shop: Annotated[int | None, typer.Option("--shop", help="Shop id the units are held for.")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="SKU code.")] = None,
    quantity: Annotated[int | None, typer.Option("--quantity", help="Units to hold.", min=1)] = None,
    start: Annotated[str | None, typer.Option("--from", help="Start, ISO 8601 (no offset: Asia/Shanghai).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, ISO 8601 (no offset: Asia/Shanghai).")] = None,
    session_id: Annotated[int | None, typer.Option("--session", help="Live session id it is for.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="What it is for.")] = None,
    db: DbOption = None,
) -> None:
    """Hold units of a SKU for a shop (a live session) between two times; list reservations."""
    if quantity is not None:
        missing = [
            name
            for name, value in (("--shop", shop), ("--sku", sku), ("--from", start), ("--to", end))
            if value is None
        ]
        if missing:
            raise typer.BadParameter(f"a reservation needs {', '.join(missing)}", param_hint="/".join(missing))
        assert start is not None and end is not None
        starts, ends = parse_time(start, "--from"), parse_time(end, "--to")
        if ends <= starts:
            raise typer.BadParameter("--to must be after --from", param_hint="--to")
        created = run(_reserve(_url(db), shop, sku, quantity, starts, ends, session_id, note))
        console.print(t("stock.reserved", id=created, quantity=quantity, sku=sku))
    rows = run(_reservations(_url(db), shop))
    table = Table(title=t("stock.reservations"), title_justify="left")
    for key in ("stock.id", "stock.shop", "stock.sku", "stock.quantity", "stock.from", "stock.to", "stock.note"):
        table.add_column(t(key), justify="right" if key in ("stock.id", "stock.quantity") else "left")
    for rid, shop_name, code, units, starts_at, ends_at, text in rows:
        table.add_row(str(rid), shop_name, code, str(units), _local(starts_at), _local(ends_at), text or "")
    console.print(table)


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def _reserve(
    url: str,
    shop_id: int | None,
    code: str | None,
    quantity: int,
    starts: datetime,
    ends: datetime,
    session_id: int | None,
    note: str | None,
) -> int:
    assert shop_id is not None and code is not None
    engine = await _open(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await _shop(session, shop_id)
            reservation = StockReservation(
                shop_id=shop_id,
                sku_id=await _sku_id(session, code),
                live_session_id=session_id,
                quantity=quantity,
                starts_at=starts,
                ends_at=ends,
                note=note,
            )
            session.add(reservation)
            await session.flush()
            return int(reservation.id)
    finally:
        await engine.dispose()


async def _reservations(
    url: str, shop_id: int | None
) -> list[tuple[int, str, str, int, datetime, datetime, str | None]]:
    engine = await _open(url)
    try:
        async with engine.connect() as conn:
            query = (
                select(
                    StockReservation.id,
                    Shop.name,
                    Sku.sku_code,
                    StockReservation.quantity,
                    StockReservation.starts_at,
                    StockReservation.ends_at,
                    StockReservation.note,
                )
                .join(Shop, Shop.id == StockReservation.shop_id)
                .join(Sku, Sku.id == StockReservation.sku_id)
                .where(StockReservation.ends_at > datetime.now(UTC))
                .order_by(StockReservation.starts_at, StockReservation.id)
            )
            if shop_id is not None:
                query = query.where(StockReservation.shop_id == shop_id)
            return [(a, b, c, d, e, f, g) for a, b, c, d, e, f, g in await conn.execute(query)]
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- push
@stock_app.command("push")
def push_command(
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (repeatable).")] = None,
    all_shops: Annotated[bool, typer.Option("--all", help="Every active shop.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: no platform call, nothing written.")] = False,
    db: DbOption = None,
) -> None:
    """Allocate each SKU's truth to the shops and push the deltas; print what each listing got."""
    if not shop and not all_shops:
        raise typer.BadParameter("name shops with --shop ID or use --all", param_hint="--shop/--all")
    names, lines = run(_push(_url(db), shop or None, dry_run))
    failed = _print_push(names, lines, dry_run=dry_run)
    if not lines:
        console.print(t("stock.nothing"))
    if failed:
        raise typer.Exit(1)


def _print_push(names: dict[int, str], lines: Sequence[Any], *, dry_run: bool) -> int:
    """The push table; returns how many lines failed or are uncertain."""
    table = Table(title=t("stock.plan" if dry_run else "stock.pushed"), title_justify="left")
    for key in (
        "stock.sku",
        "stock.truth",
        "stock.shop",
        "stock.allocation",
        "stock.believed",
        "stock.delta",
        "stock.applied",
        "stock.after",
        "stock.result",
    ):
        table.add_column(t(key), justify="left" if key in ("stock.sku", "stock.shop", "stock.result") else "right")
    failed = 0
    for line in lines:
        bad = line.status in ("failed", "uncertain")
        failed += bad
        result = t(f"stock.status.{line.status}") + (f": {line.error}" if line.error else "")
        table.add_row(
            line.sku_code,
            str(line.truth),
            names.get(line.shop_id, str(line.shop_id)),
            str(line.target),
            str(line.believed),
            f"{line.delta:+d}" if line.delta else "0",
            "-" if dry_run else (f"{line.applied:+d}" if line.applied else "0"),
            "-" if line.stock_after is None else str(line.stock_after),
            escape(result),
            style="red" if bad else None,
        )
    console.print(table)
    return failed


async def _push(url: str, shop_ids: Sequence[int] | None, dry_run: bool) -> tuple[dict[int, str], list[Any]]:
    from sync.stock import StockPusher

    engine = await _open(url)
    try:
        async with engine.connect() as conn:
            names = {int(i): str(n) for i, n in await conn.execute(select(Shop.id, Shop.name))}
        missing = sorted(set(shop_ids or ()) - set(names))
        if missing:
            raise UserError(t("stock.no_shop", id=", ".join(map(str, missing))))
        lines = await StockPusher(engine).push(shop_ids, dry_run=dry_run)
        return names, lines
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- settle
@stock_app.command("settle")
def settle_command(
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (repeatable); default: every shop.")] = None,
    older_than: Annotated[
        int, typer.Option("--older-than", help="Only pushes sent at least this many seconds ago.", min=0)
    ] = 60,
    repush: Annotated[bool, typer.Option("--push/--no-push", help="Push the settled SKUs again afterwards.")] = True,
    db: DbOption = None,
) -> None:
    """Settle the pushes whose outcome is unknown (uncertain) by reading the stock back from the
    platform: each is marked applied or not applied, and the SKUs are pushed again. Exits 1 when a
    push could not be settled (the platform's error and its class, or why it waits)."""
    by = f"cli:{_login()}"
    report = run(_settle(_url(db), shop or None, by, timedelta(seconds=older_than), repush))
    names, result = report
    if not result.lines:
        console.print(t("stock.nothing_uncertain"))
        return
    table = Table(title=t("stock.settled"), title_justify="left")
    for key in (
        "stock.push",
        "stock.sku",
        "stock.shop",
        "stock.delta",
        "stock.sent",
        "stock.read_back",
        "stock.if_applied",
        "stock.if_not",
        "stock.verdict",
    ):
        table.add_column(
            t(key), justify="left" if key in ("stock.sku", "stock.shop", "stock.sent", "stock.verdict") else "right"
        )
    for line in result.lines:
        verdict = t(f"stock.verdict.{line.verdict}")
        if not line.settled:
            cls = f"[{line.error_class}] " if line.error_class else ""
            verdict += f": {cls}{line.note}"
        table.add_row(
            f"#{line.push_id}",
            line.sku_code,
            names.get(line.shop_id, str(line.shop_id)),
            f"{line.delta:+d}",
            _local(line.created_at),
            "-" if line.read_back is None else str(line.read_back),
            "-" if line.expected_applied is None else str(line.expected_applied),
            "-" if line.expected_not_applied is None else str(line.expected_not_applied),
            escape(verdict),  # platform messages hold [brackets] that are not markup
            style=None if line.settled else "red",
        )
    console.print(table)
    if result.pushed:
        _print_push(names, result.pushed, dry_run=False)
    if result.unsettled:
        console.print(t("stock.unsettled", n=len(result.unsettled)), style="red")
        raise typer.Exit(1)


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment (a container): still say it was the CLI
        return "unknown"


async def _settle(
    url: str, shop_ids: Sequence[int] | None, by: str, older_than: timedelta, repush: bool
) -> tuple[dict[int, str], Any]:
    from dataclasses import replace

    from sync.stock import StockPolicy, StockPusher

    engine = await _open(url)
    try:
        async with engine.connect() as conn:
            names = {int(i): str(n) for i, n in await conn.execute(select(Shop.id, Shop.name))}
        missing = sorted(set(shop_ids or ()) - set(names))
        if missing:
            raise UserError(t("stock.no_shop", id=", ".join(map(str, missing))))
        policy = replace(StockPolicy(), settle_after=older_than)
        report = await StockPusher(engine, policy=policy).settle(shop_ids, by=by, repush=repush)
        return names, report
    finally:
        await engine.dispose()
