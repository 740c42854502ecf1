"""``bangfu demo``: the whole hub on the embedded default, in one command."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, safe_url, upgrade_database
from bangfu.demo.certification import seed_and_describe as seed_certificates_and_describe
from bangfu.demo.offline import seed_and_describe
from bangfu.demo.planting import seed_planting_and_describe
from bangfu.demo.scenario import (
    COUNTY_NAME,
    SCENARIO_STEPS,
    SCENARIO_YEAR,
    build_scenario,
    export_examples,
    load_scenario,
)
from bangfu.demo.summary import StoreSummary, summarise
from bangfu.demo.tasks import seed_tasks_at
from bangfu.demo.users import DEMO_PASSWORD, DemoLogin, ensure_demo_users
from bangfu.i18n import MESSAGES, t
from bangfu.money import format_yuan
from bangfu.reports.base import Report
from bangfu.settings import get_settings
from bangfu.store import open_store

if TYPE_CHECKING:
    from connectors.fakes.pay import RunningPay

MESSAGES.update(
    {
        "demo.recon.title": {"zh": "对账结果（按店铺、付款月份）", "en": "Reconciliation by shop and month paid"},
        "demo.recon.shop": {"zh": "店铺", "en": "Shop"},
        "demo.recon.period": {"zh": "月份", "en": "Month"},
        "demo.recon.done": {
            "zh": "对账：{orders} 单，一致 {matched}，待结算 {pending}；异常 {exceptions} 单"
            "（金额不符 {amount_differs}，未回款 {payout_missing}，未知订单回款 {unknown_order}），"
            "在控制台“运营 → 对账”处理。",
            "en": "Reconciliation: {orders} orders, {matched} matched, {pending} pending; {exceptions} exceptions "
            "({amount_differs} amounts differ, {payout_missing} payouts missing, {unknown_order} unknown orders), "
            "worked in the console under Operator -> Reconciliation.",
        },
    }
)
RECON_COLUMNS = ("matched", "pending", "amount_differs", "payout_missing", "unknown_order")


def summary_table(summary: StoreSummary) -> Table:
    table = Table(title=t("summary.title", county=COUNTY_NAME), title_justify="left")
    table.add_column(t("summary.item"))
    table.add_column(t("summary.count"), justify="right")
    table.add_column(t("summary.detail"))
    cats = {c.value: n for c, n in summary.households_by_category.items()}
    table.add_row(t("entity.suppliers"), str(summary.suppliers), f"{summary.cooperatives} + {summary.enterprises}")
    table.add_row(t("entity.households"), str(summary.households), t("detail.households", **cats))
    table.add_row(t("entity.products"), str(summary.products), "")
    table.add_row(t("entity.skus"), str(summary.skus), "")
    table.add_row(t("entity.certified"), str(summary.certified_products), "")
    table.add_row(t("entity.lots"), str(summary.lots), t("detail.lots", units=f"{summary.units_in_stock:,}"))
    table.add_row(
        t("entity.units"),
        str(summary.units),
        t("detail.units", schools=summary.schools, target=format_yuan(summary.target_fen)),
    )
    table.add_row(
        t("entity.shops"),
        str(sum(summary.shops_by_platform.values())),
        t("detail.shops", platforms=", ".join(summary.shops_by_platform)),
    )
    table.add_row(t("entity.hosts"), str(summary.hosts), "")
    table.add_row(t("entity.policies"), str(summary.policies), "")
    return table


async def _load(url: str, seed: int, households: int) -> StoreSummary:
    console.print(t("demo.db", url=safe_url(url)))
    await upgrade_database(url)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(t("demo.loading"), total=len(SCENARIO_STEPS) + 1)
        scenario = build_scenario(seed, households=households)
        progress.advance(task)
        async with open_store(url) as sessions:
            await load_scenario(sessions, scenario, on_step=lambda _kind: progress.advance(task))
            async with sessions() as session:
                return await summarise(session, SCENARIO_YEAR)


async def _connect_and_sync(url: str, seed: int, orders: int, days: int) -> None:
    """Start the fake platforms on loopback, connect the county's shops to them and sync everything."""
    from dataclasses import replace
    from datetime import timedelta

    from bangfu.cli.sync import stats_table, sync_with_progress
    from bangfu.demo.delivery import seed_delivery
    from bangfu.demo.shops import pair_with_fakes
    from bangfu.secrets import SecretStore
    from bangfu.store import make_engine, session_factory
    from connectors.fakes.clock import FakeClock
    from connectors.fakes.registry import PLATFORM_ORDER
    from connectors.fakes.server import build_fake, start
    from sync.engine import SyncEngine, SyncPolicy
    from sync.shipments import ShipmentPusher
    from sync.shops import register, specs_from_entries
    from sync.stats import shop_stats

    clock = FakeClock()
    clock.freeze(clock.now())  # the demo's platforms stand still while it runs
    running = []
    engine = make_engine(url)
    try:
        console.print(t("demo.fakes", count=len(PLATFORM_ORDER)))
        for index, platform in enumerate(PLATFORM_ORDER):
            fake = build_fake(
                platform,
                seed=seed + index,
                orders=orders,
                days=days,
                clock=clock,
                shops=2 if platform == "taobao" else 1,
            )
            running.append(await start(fake, "127.0.0.1", 0))
        specs = specs_from_entries((r.base_url, r.describe()) for r in running)
        secrets = SecretStore()
        async with session_factory(engine)() as session, session.begin():
            pairs = await pair_with_fakes(session, specs)
            attached = [
                replace(spec, platform=shop.platform, name=shop.name, channel_type=shop.channel_type)
                for shop, spec in pairs
            ]
            await register(session, attached, secrets)
        policy = SyncPolicy(lag=timedelta(0), lookback=timedelta(days=days + 2))
        sync = SyncEngine(engine, secrets=secrets, policy=policy)
        shops = {s.id: s for s in await sync.shops()}
        await sync_with_progress(sync, shops, until_caught_up=True)
        console.print(stats_table(await shop_stats(engine)))
        console.print(
            t("demo.delivery", **vars(await seed_delivery(engine, push=ShipmentPusher(engine, secrets=secrets).push)))
        )
    finally:
        for item in running:
            await item.close()
        await engine.dispose()


async def _account(url: str, days: int) -> None:
    """Attribution, lot draws and the ledger over everything synced (the accounting task's work,
    in-process as Celery's eager mode runs it), with a progress bar; then the county's view."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from bangfu.models import LineAccounting, Order, OrderLine
    from bangfu.reports.base import Period
    from bangfu.reports.households import household_income, households_driven
    from bangfu.reports.sessions import session_review
    from bangfu.reports.writers import to_table
    from bangfu.store import make_engine
    from workers.pipeline import run_pipeline

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            total = await conn.scalar(
                select(func.count())
                .select_from(OrderLine)
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.paid_at.is_not(None))
            )
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task(t("demo.accounting"), total=total or 1)

            async def on_pass() -> None:
                async with engine.connect() as conn:
                    done = await conn.scalar(
                        select(func.count()).select_from(LineAccounting).where(LineAccounting.posted_rev > 0)
                    )
                progress.update(task, completed=done or 0)

            stats = await run_pipeline(engine, on_pass=on_pass)
            progress.update(task, completed=total or 1)
        console.print(t("demo.accounted", **stats.as_dict()), highlight=False)
        if engine.dialect.name == "postgresql":
            # Planner statistics for what was just loaded, as autovacuum would gather them later:
            # without them the console's first queries on a fresh county are planned blind.
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")

        now = datetime.now(UTC)
        period = Period(now - timedelta(days=days + 2), now + timedelta(minutes=1), t("demo.period", days=days))
        async with engine.connect() as conn:
            sessions = await session_review(conn, period)
            income = await household_income(conn, period)
            driven = await households_driven(conn, period)
        sessions.rows = sorted(sessions.rows, key=lambda row: -(row.get("gmv") or 0))[:5]
        sessions.title, sessions.totals = t("demo.top_sessions"), None
        console.print(to_table(_only(sessions, ("title", "host", "start", "gmv", "orders", "gpm", "net_households"))))
        income.rows = sorted(income.rows, key=lambda row: -(row.get("income") or 0))[:10]
        income.title, income.totals = t("demo.top_households"), None
        console.print(to_table(_only(income, ("member_no", "name", "category", "cooperative", "village", "income"))))
        for line in driven.summary:
            console.print(line, highlight=False)
    finally:
        await engine.dispose()


def _months(first: datetime, last: datetime) -> list[str]:
    """Every Asia/Shanghai month from ``first`` to ``last`` (inclusive), as ``YYYY-MM``."""
    from bangfu.clock import SHANGHAI

    start, end = (d.replace(tzinfo=d.tzinfo or UTC).astimezone(SHANGHAI) for d in (first, last))
    year, month, out = start.year, start.month, []
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


async def reconcile_shops(
    url: str, *, missing_after_days: int = 15, now: datetime | None = None
) -> list[tuple[str, str, dict[str, int]]]:
    """Reconcile every shop (but the offline ones: no platform pays them out) for every month in
    which it has paid orders (what the beat's
    ``bangfu.reconcile_all`` does for the last two months), one transaction per shop and month;
    returns (shop name, month, counts by verdict) in shop order."""
    from sqlalchemy import func, select

    from bangfu.models import Order, Shop, on_a_platform
    from bangfu.store import make_engine
    from workers.reconcile import reconcile

    engine = make_engine(url)
    out: list[tuple[str, str, dict[str, int]]] = []
    try:
        async with engine.connect() as conn:
            spans = (
                await conn.execute(
                    select(Shop.id, Shop.name, func.min(Order.paid_at), func.max(Order.paid_at))
                    .join(Order, Order.shop_id == Shop.id)
                    .where(Order.paid_at.is_not(None), on_a_platform())
                    .group_by(Shop.id, Shop.name)
                    .order_by(Shop.id)
                )
            ).all()
        for shop_id, name, first, last in spans:
            if first is None or last is None:
                continue
            for period in _months(first, last):
                async with engine.begin() as conn:
                    summary = await reconcile(
                        conn, shop_id=shop_id, period=period, missing_after_days=missing_after_days, now=now
                    )
                out.append((str(name), period, summary.counts()))
    finally:
        await engine.dispose()
    return out


async def _reconcile(url: str) -> None:
    """The demo's reconciliation step: every shop and month, a table and a one-line total."""
    rows = await reconcile_shops(url)
    table = Table(title=t("demo.recon.title"), title_justify="left")
    table.add_column(t("demo.recon.shop"), overflow="fold")
    table.add_column(t("demo.recon.period"))
    for key in RECON_COLUMNS:
        table.add_column(t(f"reconcile.kind.{key}"), justify="right")
    totals = dict.fromkeys(RECON_COLUMNS, 0)
    for name, period, counts in rows:
        table.add_row(name, period, *(str(counts.get(key, 0)) for key in RECON_COLUMNS))
        for key in RECON_COLUMNS:
            totals[key] += counts.get(key, 0)
    console.print(table)
    exceptions = totals["amount_differs"] + totals["payout_missing"] + totals["unknown_order"]
    console.print(t("demo.recon.done", orders=sum(totals.values()), exceptions=exceptions, **totals), highlight=False)


def _only(report: Report, keys: tuple[str, ...]) -> Report:
    """The report with just the named columns (those it has), in that order."""
    columns = {c.key: c for c in report.columns}
    report.columns = [columns[k] for k in keys if k in columns]
    return report


async def _demo(
    url: str, seed: int, households: int, orders: int, days: int, serve: bool, *, mall_orders: int = 0
) -> StoreSummary:
    summary = await _load(url, seed, households)
    console.print(summary_table(summary))
    await _connect_and_sync(url, seed, orders, days)
    if mall_orders:
        await _seed_mall(url, seed, days, mall_orders)
    console.print(await seed_and_describe(url, seed, days), highlight=False)
    from bangfu.demo.drives import seed_and_describe as describe_drives

    console.print(await describe_drives(url, seed, households), highlight=False)
    console.print(await seed_certificates_and_describe(url), highlight=False)
    console.print(await seed_planting_and_describe(url, seed), highlight=False)
    await _account(url, days)
    console.print(await _agreements(url), highlight=False)
    await _reconcile(url)
    console.print(await seed_tasks_at(url), highlight=False)
    from bangfu.cli.alerts import print_unsold_run

    await print_unsold_run(url)
    logins = await _demo_logins(url)
    if serve:
        await _serve(url, logins)
    return summary


async def _agreements(url: str) -> str:
    from bangfu.demo.agreements import seed_and_describe as seed_agreements

    return await seed_agreements(url)


MALL_DEMO_ORDERS = 12  # orders the demo places through the county's own mall
MALL_PAY_SECRET = "mall-fakepay"  # the secrets entry of the fake payment provider's test keys


async def _seed_mall(url: str, seed: int, days: int, count: int) -> None:
    """The county's own mall with a few orders (some through live sessions' links, some by units)."""
    from bangfu.demo.mall import seed_mall
    from bangfu.store import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            made = await seed_mall(conn, seed=seed, days=days, now=datetime.now(UTC), count=count)
    finally:
        await engine.dispose()
    if made.orders:
        console.print(
            t("demo.mall", orders=made.orders, linked=made.linked, units=made.units, pending=made.pending),
            highlight=False,
        )


async def _start_fake_pay(url: str) -> RunningPay:
    """The fake payment provider on loopback, with the mall pointed at it (its obviously fake
    keys in the secrets file); returns the running server."""
    from bangfu.mall import PaymentConfig, configure_payment
    from bangfu.secrets import SecretStore
    from bangfu.store import make_engine
    from connectors.fakes.pay import FAKE_KEY, FAKE_MCHID, start_pay

    running = await start_pay()
    SecretStore().put(MALL_PAY_SECRET, {"mchid": FAKE_MCHID, "key": FAKE_KEY})
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            config = PaymentConfig("fakepay", running.base_url, MALL_PAY_SECRET)
            await configure_payment(conn, config, datetime.now(UTC))
    finally:
        await engine.dispose()
    return running


async def _demo_logins(url: str) -> list[DemoLogin]:
    from bangfu.store import make_engine, session_factory

    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await ensure_demo_users(session)
    finally:
        await engine.dispose()


async def _a_trace_code(url: str) -> str | None:
    """The traceability code of the lot received last (its public page is the one a QR on the
    shelf leads to today)."""
    from sqlalchemy import select

    from bangfu.models import SupplyLot
    from bangfu.store import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            code: str | None = await conn.scalar(
                select(SupplyLot.trace_code).order_by(SupplyLot.received_on.desc(), SupplyLot.id.desc()).limit(1)
            )
            return code
    finally:
        await engine.dispose()


async def _serve(url: str, logins: list[DemoLogin]) -> None:
    """Serve the console on 127.0.0.1:8080 (or a free port), print the demo logins, until Ctrl-C."""
    import bangfu.demo.mall  # noqa: F401  (the mall's serving lines)
    from bangfu.cli.serve import free_port, serve_until_stopped

    host = "127.0.0.1"
    port = free_port(host, 8080)
    if "BANGFU_PUBLIC_URL" not in os.environ:
        # QR codes and campaign links name the address served here (a free port if 8080 is taken).
        os.environ["BANGFU_PUBLIC_URL"] = f"http://{host}:{port}"
        get_settings.cache_clear()
    trace_code = await _a_trace_code(url)
    pay = await _start_fake_pay(url)

    def ready(address: str) -> None:
        console.print(t("web.serving", url=address), highlight=False)
        console.print(t("web.board.serving", url=f"{address.rstrip('/')}/board"), highlight=False)
        console.print(t("demo.mall_serving", url=f"{address.rstrip('/')}/mall/"), highlight=False)
        console.print(t("demo.pay_serving", url=pay.base_url), highlight=False)
        if trace_code is not None:
            trace = f"{address.rstrip('/')}/t/{trace_code}"
            console.print(t("demo.trace_serving", url=trace, qr=f"{trace}/qr.png"), highlight=False)
        console.print(t("web.demo_logins", password=DEMO_PASSWORD), highlight=False)
        for login in logins:
            scope = f"  ({login.scope})" if login.scope else ""
            console.print(f"  {login.name:<10} {t('web.role.' + login.role.value)}{scope}", highlight=False)
        console.print(t("web.stop_hint"))

    try:
        await serve_until_stopped(url, host, port, on_ready=ready)
    finally:
        await pay.close()


def demo_command(
    db: DbOption = None,
    seed: Annotated[int, typer.Option(help="Scenario seed: the same seed builds the same county.")] = 7,
    households: Annotated[int, typer.Option(help="How many member households to generate.", min=17)] = 3000,
    orders: Annotated[int, typer.Option(help="Orders each fake platform holds.", min=1)] = 1500,
    days: Annotated[int, typer.Option(help="Days of sales history on the platforms.", min=1, max=85)] = 30,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Run everything but long-running servers, then exit.")
    ] = False,
) -> None:
    """Build the county, start fake platforms on loopback, sync every shop and show the results.

    Runs on the embedded default: a SQLite file in the data directory (or --db), Celery eager.
    Ends by serving the web console on 127.0.0.1:8080 (a free port if taken) with one demo
    login per role, until Ctrl-C; --no-serve exits after the summary instead.
    Safe to run again: the scenario and the orders are upserted, nothing is duplicated.
    """
    import web.messages  # noqa: F401  (the console's text, for the serving lines)

    url = db or get_settings().resolved_database_url
    run(_demo(url, seed, households, orders, days, serve=not no_serve, mall_orders=MALL_DEMO_ORDERS))


def export_command(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")],
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 7,
    households: Annotated[int, typer.Option(help="How many member households.", min=17)] = 60,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    english: Annotated[bool, typer.Option("--english", help="English headers instead of Chinese.")] = False,
) -> None:
    """Write a scenario as import files (templates for `bangfu import`)."""
    if fmt not in ("csv", "xlsx"):
        raise typer.BadParameter("choose csv or xlsx", param_hint="--format")
    paths = export_examples(
        build_scenario(seed, households=households), directory, chinese_headers=not english, fmt=fmt
    )
    for path in paths:
        console.print(str(path))


scenario_app = typer.Typer(help="The demo county scenario.", no_args_is_help=True)
scenario_app.command("export")(export_command)
