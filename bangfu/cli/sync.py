"""``bangfu shops``, ``bangfu sync`` and ``bangfu stats``: connect shops and keep them in sync."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from bangfu.cli.app import console, err_console, fail, run, user_errors
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.enums import OFFLINE_CHANNELS, OFFLINE_PLATFORMS, ChannelType, PlatformKind, SyncStream
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import QuarantinedRecord, Shop
from bangfu.money import format_yuan
from bangfu.secrets import SecretStore
from bangfu.settings import get_settings
from bangfu.store import make_engine, session_factory
from sync.errors import SyncError

shops_app = typer.Typer(help="Connected shops (channels) and their credentials.", no_args_is_help=True)
sync_app = typer.Typer(help="Pull orders, refunds, products, settlements and live sessions.", no_args_is_help=True)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


# --------------------------------------------------------------------------- shops
@shops_app.command("add")
def shops_add(
    platform: Annotated[
        PlatformKind | None,
        typer.Argument(
            help="taobao, tmall, jd, douyin, kuaishou, youzan, selfmall; or an offline kind (counter, vending, "
            "community, fair, canteen, union, 832), also given as --channel.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What people call the shop.")] = "",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The platform gateway (or a fake's base_url).")
    ] = None,
    app_key: Annotated[str | None, typer.Option("--app-key", help="App key / client id / login name.")] = None,
    shop_id: Annotated[
        str | None,
        typer.Option(
            "--shop-id",
            help="The platform's id of the shop; offline: the machine's or till's code (default: the name).",
        ),
    ] = None,
    app_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--app-secret-stdin",
            help="Read the app secret / password from stdin (one line); without it you are asked on the "
            "terminal. Kept in the secrets file, never in the DB.",
        ),
    ] = False,
    app_secret: Annotated[
        str | None, typer.Option("--app-secret", hidden=True, help="Refused: it would show in the process list.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the endpoint and credentials of a shop already registered.")
    ] = False,
    access_token: Annotated[str | None, typer.Option("--access-token", help="Seller access token / session.")] = None,
    refresh_token: Annotated[str | None, typer.Option("--refresh-token")] = None,
    extra: Annotated[list[str] | None, typer.Option("--extra", help="More credentials as key=value.")] = None,
    channel: Annotated[
        ChannelType | None,
        typer.Option("--channel", help="Channel type for reports; alone, an offline kind: --channel vending."),
    ] = None,
    county: Annotated[
        str | None, typer.Option("--county", help="Offline shops: the region (code or name) the shop sells for.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Register a shop; its secrets go to the secrets file, never to the database.

    The app secret is read from stdin (``--app-secret-stdin``) or asked for on the terminal,
    never taken as an argument (arguments show in ``ps``). A shop already registered is
    refused unless ``--replace`` is given.

    Offline shops (counter, vending, community, fair, canteen, union, 832) have no API and no
    credentials: ``bangfu shops add --channel vending --name NAME [--shop-id CODE] [--county 513328]``.
    They are never synced; their sales come in by ``bangfu import sales FILE --shop ID``.
    """
    from sync.shops import ShopSpec, normalise_credentials, validate_base_url

    if app_secret is not None:
        fail(t("shops.secret_on_command_line"))
    if not name.strip():
        raise typer.BadParameter("give the shop's name", param_hint="--name")
    kind = platform
    if kind is None:
        offline = PlatformKind(channel.value) if channel is not None and channel.value in OFFLINE_PLATFORMS else None
        if offline is None:
            raise typer.BadParameter(t("shops.platform_needed"), param_hint="PLATFORM")
        kind = offline
    if kind.is_offline:
        if channel is not None and channel != OFFLINE_CHANNELS[kind]:
            raise typer.BadParameter(t("shops.offline_channel", kind=kind.value), param_hint="--channel")
        api = {
            "--base-url": base_url,
            "--app-key": app_key,
            "--app-secret-stdin": app_secret_stdin or None,
            "--access-token": access_token,
            "--refresh-token": refresh_token,
            "--extra": extra or None,
        }
        given = [option for option, value in api.items() if value is not None]
        if given:
            fail(t("shops.offline_no_api", options=", ".join(given)))
        run(_register_offline(_url(db), kind, name, shop_id, county, replace))
        return
    if county is not None:
        raise typer.BadParameter(t("shops.county_offline_only"), param_hint="--county")
    needed = {"--base-url": base_url, "--app-key": app_key, "--shop-id": shop_id}
    missing = [option for option, value in needed.items() if not value]
    if missing:
        raise typer.BadParameter(t("shops.api_options", options=", ".join(missing)), param_hint=missing[0])
    assert base_url is not None
    try:
        validate_base_url(base_url)
    except SyncError as exc:
        fail(str(exc))
    secret = _read_secret(app_secret_stdin)
    fields: dict[str, Any] = {
        "app_key": app_key,
        "app_secret": secret,
        "shop_id": shop_id,
        "access_token": access_token,
        "refresh_token": refresh_token,
    }
    for item in extra or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--extra")
        fields[key] = value
    with user_errors():
        spec = ShopSpec(kind, name, base_url, normalise_credentials(fields), channel)
    run(_register(_url(db), [spec], replace=replace))


async def _register_offline(
    url: str, kind: PlatformKind, name: str, code: str | None, county: str | None, replace: bool
) -> None:
    from bangfu.offline import add_offline_shop

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            shop, created = await add_offline_shop(session, kind, name, code=code, county=county, replace=replace)
            shop_id, shop_name = shop.id, shop.name
    finally:
        await engine.dispose()
    console.print(
        Text(t("shops.added" if created else "shops.updated", id=shop_id, platform=kind.value, name=shop_name)),
        soft_wrap=True,
    )
    console.print(t("shops.offline_next", id=shop_id), highlight=False, soft_wrap=True)


def _read_secret(from_stdin: bool) -> str:
    """The app secret: one line of stdin, or typed on the terminal without echo."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = typer.prompt(t("shops.secret_prompt"), hide_input=True, err=True)
    else:
        fail(t("shops.secret_missing"))
    if not secret.strip():
        fail(t("shops.secret_empty"))
    return secret


@shops_app.command("add-from-fakes")
def shops_add_from_fakes(
    file: Annotated[Path, typer.Argument(help="The JSON lines `bangfu fakes serve` printed.")],
    db: DbOption = None,
) -> None:
    """Register every shop the fake platforms serve."""
    from sync.shops import specs_from_fakes

    url = _url(db)
    with user_errors():
        specs = specs_from_fakes(file)
    run(_register(url, specs))


async def _register(url: str, specs: Sequence[Any], *, replace: bool = True) -> None:
    from sync.shops import register

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            registered = await register(session, specs, SecretStore(), replace=replace)
            rows = [(shop.id, shop.platform.value, shop.name, created) for shop, created in registered]
    finally:
        await engine.dispose()
    for shop_id, platform, name, created in rows:
        console.print(t("shops.added" if created else "shops.updated", id=shop_id, platform=platform, name=name))


@shops_app.command("list")
def shops_list(db: DbOption = None) -> None:
    """The shops, where they connect and whether they have credentials (never the secrets)."""
    shops = run(_shops(_url(db)))
    table = Table(title=t("shops.title"), title_justify="left")
    for column in ("shops.id", "shops.platform", "shops.name", "shops.channel", "shops.endpoint", "shops.credentials"):
        table.add_column(t(column))
    for shop in shops:
        table.add_row(
            str(shop.id),
            shop.platform.value,
            shop.name,
            shop.channel_type.value,
            shop.base_url or "-",
            t("yes") if shop.credentials_ref else t("no"),
        )
    console.print(table)


async def _shops(url: str) -> list[Shop]:
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(Shop).order_by(Shop.id)))
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- sync
StreamsOption = Annotated[
    list[SyncStream] | None, typer.Option("--stream", help="Only these streams (repeatable). Default: all.")
]


@sync_app.command("run")
def sync_run(
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (repeatable).")] = None,
    all_shops: Annotated[bool, typer.Option("--all", help="Every active shop with an endpoint.")] = False,
    until_caught_up: Annotated[bool, typer.Option("--until-caught-up", help="Repeat until nothing changes.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Re-scan the whole look-back period.")] = False,
    stream: StreamsOption = None,
    lag_seconds: Annotated[int, typer.Option("--lag-seconds", help="Stay this far behind now.", min=0)] = 60,
    lookback_days: Annotated[
        int, typer.Option("--lookback-days", help="How far back a first sync reaches.", min=1)
    ] = 90,
    db: DbOption = None,
) -> None:
    """Pull every stream of the chosen shops from their cursors to now, with progress bars."""
    if not shop and not all_shops:
        raise typer.BadParameter("name shops with --shop ID or use --all", param_hint="--shop/--all")
    from sync.engine import SyncPolicy

    policy = SyncPolicy(lag=timedelta(seconds=lag_seconds), lookback=timedelta(days=lookback_days))
    failed = run(_sync(_url(db), shop or None, policy, until_caught_up=until_caught_up, full=full, streams=stream))
    if failed:
        raise typer.Exit(1)


async def _sync(
    url: str,
    shop_ids: Sequence[int] | None,
    policy: Any,
    *,
    until_caught_up: bool,
    full: bool,
    streams: Sequence[SyncStream] | None,
) -> int:
    """Run a sync with a progress bar per (shop, stream); print the summary; return the failures."""
    from sync.engine import SyncEngine

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        sync = SyncEngine(engine, policy=policy)
        shops = {s.id: s for s in await sync.shops(shop_ids)}
        skipped = await _offline_shops(engine, shop_ids)
        if skipped:
            console.print(Text(t("sync.offline_skipped", count=len(skipped), names="、".join(skipped))), soft_wrap=True)
        if not shops:
            if skipped:
                return 0
            raise UserError(t("sync.no_shops"))
        results = await sync_with_progress(sync, shops, until_caught_up=until_caught_up, full=full, streams=streams)
        failed = [(shops[shop_id].name, o) for shop_id, outcomes in results.items() for o in outcomes if not o.ok]
        for name, outcome in failed:
            print_failure(name, outcome.stream.value, outcome.errors, outcome.message)
        return len(failed)
    finally:
        await engine.dispose()


async def _offline_shops(engine: Any, shop_ids: Sequence[int] | None) -> list[str]:
    """The names of the offline shops a sync of ``shop_ids`` (None: every active shop) leaves out."""
    query = select(Shop.name).where(Shop.platform.in_(OFFLINE_PLATFORMS)).order_by(Shop.id)
    query = query.where(Shop.id.in_(shop_ids)) if shop_ids else query.where(Shop.active.is_(True))
    async with engine.connect() as conn:
        return [str(name) for name in await conn.scalars(query)]


async def sync_with_progress(
    sync: Any,
    shops: dict[int, Shop],
    *,
    until_caught_up: bool,
    full: bool = False,
    streams: Sequence[SyncStream] | None = None,
) -> dict[int, list[Any]]:
    """``SyncEngine.sync_all`` with a rich progress bar per (shop, stream), then the results table."""
    from sync.engine import StreamOutcome

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks: dict[tuple[int, SyncStream], TaskID] = {}

        def on_progress(outcome: StreamOutcome) -> None:
            key = (outcome.shop_id, outcome.stream)
            if key not in tasks:
                label = f"{shops[outcome.shop_id].name} · {outcome.stream.value}"
                tasks[key] = progress.add_task(label, total=outcome.windows_total or 1)
            progress.update(tasks[key], total=outcome.windows_total or 1, completed=outcome.windows_done)

        results: dict[int, list[Any]] = await sync.sync_all(
            list(shops), streams=streams, full=full, until_caught_up=until_caught_up, progress=on_progress
        )
    console.print(outcome_table(shops, results))
    return results


def print_failure(shop: str, stream: str, errors: Any, message: str | None) -> None:
    """One line on stderr for a failed (shop, stream): the error class and the platform's message."""
    classes = ", ".join(sorted(errors or {})) or "-"
    line = t("sync.failed_stream", shop=shop, stream=stream, error=classes, message=message or "-")
    err_console.print(Text(line, style="bold red"), soft_wrap=True)


def outcome_table(shops: dict[int, Shop], results: dict[int, list[Any]]) -> Table:
    table = Table(title=t("sync.summary"), title_justify="left")
    for column in (
        "sync.shop",
        "sync.stream",
        "sync.windows",
        "sync.new",
        "sync.changed",
        "sync.unchanged",
        "sync.duplicates",
        "sync.quarantined",
        "sync.errors",
    ):
        table.add_column(t(column), justify="left" if column in ("sync.shop", "sync.stream") else "right")
    for shop_id, outcomes in results.items():
        for o in outcomes:
            errors = ", ".join(f"{k}×{v}" for k, v in sorted(o.errors.items())) or "-"
            style = "red" if o.errors else None
            table.add_row(
                shops[shop_id].name,
                o.stream.value,
                f"{o.windows_done}/{o.windows_total}",
                str(o.rows.new),
                str(o.rows.changed),
                str(o.rows.unchanged),
                str(o.rows.duplicates),
                str(o.rows.quarantined),
                errors,
                style=style,
            )
    return table


@sync_app.command("status")
def sync_status(db: DbOption = None) -> None:
    """Per shop and stream: the cursor, the lag, and the last run's counts and errors."""
    rows, alerts = run(_status(_url(db)))
    table = Table(title=t("sync.status"), title_justify="left")
    for column in (
        "sync.shop",
        "sync.stream",
        "sync.cursor",
        "sync.lag",
        "sync.last_run",
        "sync.outcome",
        "sync.new",
        "sync.changed",
        "sync.quarantined",
        "sync.errors",
    ):
        table.add_column(t(column))
    for row in rows:
        style = {"failed": "red", "running": "yellow"}.get(row["outcome"] or "")
        table.add_row(
            *[
                str(row[k]) if row[k] is not None else "-"
                for k in (
                    "shop",
                    "stream",
                    "cursor",
                    "lag",
                    "finished",
                    "outcome",
                    "new",
                    "changed",
                    "quarantined",
                    "errors",
                )
            ],
            style=style,
        )
    console.print(table)
    for row in rows:
        if row["outcome"] == "failed":
            print_failure(str(row["shop"]), row["stream"], row["error_classes"], row["message"])
    for alert in alerts:
        console.print(f"[bold red]{t('sync.alert')}[/] {alert}")


async def _status(url: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of ``sync status``: :func:`bangfu.queries.operator.sync_health` with the admin's
    scope, the same computation as the operator console's ``/operator``."""
    from zoneinfo import ZoneInfo

    from bangfu.queries.operator import sync_health
    from bangfu.scope import Scope

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            health = await sync_health(conn, Scope.admin(), datetime.now(UTC))
    finally:
        await engine.dispose()
    assert health is not None
    local = ZoneInfo(get_settings().timezone)
    rows = []
    for shop in health.shops:
        for stream in shop.streams:
            r = stream.run
            if r is None:
                continue
            rows.append(
                {
                    "shop": shop.name,
                    "stream": stream.stream,
                    "cursor": stream.watermark.astimezone(local).strftime("%m-%d %H:%M:%S")
                    if stream.watermark
                    else None,
                    "lag": stream.lag,
                    "finished": r.finished_at.astimezone(local).strftime("%m-%d %H:%M:%S") if r.finished_at else None,
                    "outcome": r.outcome,
                    "new": r.rows_new,
                    "changed": r.rows_changed,
                    "quarantined": r.quarantined,
                    "errors": ", ".join(f"{k}×{v}" for k, v in r.errors.items()) or None,
                    "error_classes": sorted(r.errors),
                    "message": r.message,
                }
            )
    alerts = [a.message for s in health.shops for a in s.alerts] + [a.message for a in health.other_alerts]
    return rows, alerts


MESSAGES.update(
    {
        "sync.refetch.stored": {
            "zh": "隔离记录 {id}（{stream} {platform_id}）已重新获取并入库，已标记为已处理。",
            "en": "Quarantined record {id} ({stream} {platform_id}) fetched again and stored; marked handled.",
        },
        "sync.refetch.failed": {
            "zh": "隔离记录 {id} 重新获取失败（{error}）：{message}",
            "en": "re-fetch of quarantined record {id} failed ({error}): {message}",
        },
        "sync.refetch.missing": {"zh": "没有编号为 {id} 的隔离记录", "en": "no quarantined record {id}"},
        "sync.refetch.resolved": {
            "zh": "隔离记录 {id} 已处理过，无需重新获取",
            "en": "quarantined record {id} is handled already; nothing to re-fetch",
        },
        "sync.refetch.unsupported": {
            "zh": "隔离记录 {id} 无法按编号重新获取：只有订单和退款可按编号获取，且记录需有平台编号",
            "en": "quarantined record {id} cannot be fetched by id: only orders and refunds with a platform id can",
        },
    }
)


@sync_app.command("refetch")
def sync_refetch(
    quarantine: Annotated[int, typer.Option("--quarantine", help="The quarantined record's id.", min=1)],
    db: DbOption = None,
) -> None:
    """Fetch one quarantined record again from its platform by id and store it if it parses now."""
    stored = run(_refetch(_url(db), quarantine))
    if not stored:
        raise typer.Exit(1)


async def _refetch(url: str, record_id: int) -> bool:
    """Request and run the re-fetch (as the console's button does, without Celery); True: stored."""
    from bangfu.queries.operator import request_refetch
    from bangfu.scope import Scope
    from sync.engine import SyncEngine
    from sync.refetch import run_refetch

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            requested = await request_refetch(conn, Scope.admin(), record_id, None, datetime.now(UTC))
            record = (
                await conn.execute(
                    select(QuarantinedRecord.stream, QuarantinedRecord.platform_id).where(
                        QuarantinedRecord.id == record_id
                    )
                )
            ).first()
        if requested is None or record is None:
            raise UserError(t("sync.refetch.missing", id=record_id))
        if isinstance(requested, str):
            raise UserError(t(f"sync.refetch.{requested}", id=record_id))
        result = await run_refetch(SyncEngine(engine), requested)
    finally:
        await engine.dispose()
    if result.ok:
        stream = SyncStream(record.stream).value
        console.print(t("sync.refetch.stored", id=record_id, stream=stream, platform_id=record.platform_id))
        return True
    line = t("sync.refetch.failed", id=record_id, error=result.error_class or "-", message=result.message or "-")
    err_console.print(Text(line, style="bold red"), soft_wrap=True)
    return False


@sync_app.command("watch")
def sync_watch(
    interval: Annotated[int, typer.Option("--interval", help="Seconds between passes.", min=5)] = 300,
    lag_seconds: Annotated[int, typer.Option("--lag-seconds", min=0)] = 60,
    db: DbOption = None,
) -> None:
    """Keep every shop in sync on a schedule until interrupted (Ctrl-C)."""
    from sync.engine import SyncPolicy

    run(_watch(_url(db), interval, SyncPolicy(lag=timedelta(seconds=lag_seconds))))


async def _watch(url: str, interval: int, policy: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        await _sync(url, None, policy, until_caught_up=False, full=False, streams=None)
        await _after_sync(url, policy)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue


async def _after_sync(url: str, policy: Any) -> None:
    """What each watch pass does once orders are in: share stock out again, retry webhook events,
    and, where no Celery worker does it (the embedded default), the accounting pipeline."""
    from bangfu.settings import get_settings
    from sync.engine import SyncEngine
    from sync.stock import StockPusher
    from sync.webhooks import process_pending
    from workers.pipeline import run_pipeline

    engine = make_engine(url)
    try:
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("stock", lambda: StockPusher(engine).push(None)),
            ("webhooks", lambda: process_pending(engine, SyncEngine(engine, policy=policy))),
        ]
        if get_settings().is_eager:
            steps.append(("accounting", lambda: run_pipeline(engine)))
        for step, action in steps:
            try:
                await action()
            except (UserError, SyncError):
                raise
            except Exception as exc:  # noqa: BLE001  # one failing step is reported and retried next pass
                console.print(f"[bold red]{t('sync.step_failed', step=step)}[/] {exc.__class__.__name__}: {exc}")
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- stats
def stats_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for machines.")] = False,
    records: Annotated[
        bool,
        typer.Option(
            "--records",
            help="With --json: also order_records, refund_records ({id: [status, modified epoch]}) and duplicates.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Per shop: orders, order lines, refunds, paid and refunded fen as the hub holds them."""
    from sync.stats import shop_records, shop_stats

    async def collect() -> list[dict[str, Any]]:
        await upgrade_database(_url(db))
        engine = make_engine(_url(db))
        try:
            stats = await shop_stats(engine)
            if records and as_json:
                details = await shop_records(engine)
                for entry in stats:
                    entry.update(details.get(entry["shop"], {}))
            return stats
        finally:
            await engine.dispose()

    stats = run(collect())
    if as_json:
        typer.echo(orjson.dumps({"shops": stats}).decode())
        return
    console.print(stats_table(stats))


def stats_table(stats: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=t("stats.title"), title_justify="left")
    for column in ("sync.shop", "stats.orders", "stats.lines", "stats.refunds", "stats.paid", "stats.refunded"):
        table.add_column(t(column), justify="left" if column == "sync.shop" else "right")
    for s in stats:
        table.add_row(
            s["name"],
            f"{s['orders']:,}",
            f"{s['order_lines']:,}",
            f"{s['refunds']:,}",
            format_yuan(s["paid_fen"]),
            format_yuan(s["refunded_fen"]),
        )
    return table
