"""Console and API latency under load, per role and per route, as one JSON line.

    python bench/web.py --lines 100000 --db postgresql+asyncpg://127.0.0.1:5432/postgres

Setup (``build_seconds``): the store of ``bench/attribution.py`` (the county scenario, live
sessions of one Douyin host, ``--lines`` order lines written in bulk), the accounting pipeline
run over it (attribution, lot draws, the ledger; two worker processes on PostgreSQL), one
console login per role (``bangfu.demo.users``), then ``VACUUM (ANALYZE)`` as autovacuum would. With a
PostgreSQL URL the database named in it is only used to create a scratch database next to it
(``bench/ingest.py``'s helper), dropped afterwards unless ``--keep-db``; ``--reuse`` measures a
store such a run kept, without building.

Measured: ``web.create_app`` served by a child process (the server has a core to itself, as far
as a 2-core machine allows) on a free loopback port; the parent signs in as each role through
the login form and drives it with aiohttp at ``--concurrency`` requests in flight. The routes
are discovered, not listed: every GET route the application has, its ``{id}`` placeholders
filled with ids from the role's own scope (the host's busiest sessions, the cooperative's
households, journals and order lines...), each URL asked for the data's whole period. A route
that answers a role with anything but 200 on a first probe is noted under ``skipped`` with its
status (not that role's surface); a route the console is expected to have but does not serve
yet is listed under ``not_routed``. Each measured (role, route) gets ``--requests`` requests,
then p50/p95/p99 in milliseconds (``n`` is fewer where ``--route-seconds`` ran out: a slow
route gets at least one wave of ``--concurrency``). The login (argon2 by design) is measured apart.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import (
    Cooperative,
    Household,
    LedgerAccount,
    LineAttribution,
    LiveSession,
    LotAllocation,
    OrderLine,
    Posting,
    PurchasingUnit,
    Sku,
    SplitPolicy,
    SupplyLot,
    User,
)
from bangfu.scope import Scope, scope_of
from bangfu.store import make_engine, session_factory

BENCH_DIR = Path(__file__).resolve().parent
# This file is named like the ``web`` package: import the package while this folder is off the
# path, then put the folder back (last) for the sibling benches whose builders are reused.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != BENCH_DIR]
from web import create_app  # noqa: E402

sys.path.append(str(BENCH_DIR))

PASSWORD_FIELD = "password"
# Routes every role shares, measured apart or not at all.
SHELL = frozenset({"/", "/login", "/logout", "/lang", "/healthz", "/favicon.ico", "/api/v1/openapi.json"})
# What the console is meant to serve (issue 11); a template's placeholders are written ``{id}``.
EXPECTED = (
    "/sessions",
    "/sessions/{id}",
    "/sessions/compare",
    "/api/v1/sessions",
    "/api/v1/sessions/{id}",
    "/cooperatives",
    "/cooperatives/{id}",
    "/cooperatives/{id}/households",
    "/cooperatives/{id}/members",
    "/cooperatives/{id}/surplus",
    "/households/{id}",
    "/households/{id}/journals",
    "/journals/{id}",
    "/order-lines/{id}",
    "/api/v1/me",
    "/api/v1/cooperatives/{id}/income",
    "/api/v1/cooperatives/{id}/households",
    "/api/v1/households/{id}/statement",
    "/api/v1/journals/{id}",
    "/api/v1/order-lines/{id}",
    "/units/{id}",
)
PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=60)
IDS_PER_ROUTE = 3  # distinct URLs per route, taken in turn, so one cached row does not flatter it


def normalise(template: str) -> str:
    return PLACEHOLDER.sub("{id}", template)


# --------------------------------------------------------------------------- ids in each scope


async def _sessions(conn: AsyncConnection, scope: Scope) -> list[int]:
    """The role's sessions with the most attributed lines (the heaviest pages)."""
    query = (
        select(LiveSession.id)
        .outerjoin(LineAttribution, LineAttribution.session_id == LiveSession.id)
        .where(scope.sessions())
        .group_by(LiveSession.id)
        .order_by(func.count(LineAttribution.id).desc(), LiveSession.id)
        .limit(IDS_PER_ROUTE)
    )
    return [int(i) for i in await conn.scalars(query)]


async def _cooperatives(conn: AsyncConnection, scope: Scope) -> list[int]:
    """The role's cooperatives with the most households."""
    query = (
        select(Cooperative.id)
        .outerjoin(Household, Household.cooperative_id == Cooperative.id)
        .where(scope.cooperatives(Cooperative.id))
        .group_by(Cooperative.id)
        .order_by(func.count(Household.id).desc(), Cooperative.id)
        .limit(IDS_PER_ROUTE)
    )
    return [int(i) for i in await conn.scalars(query)]


async def _households(conn: AsyncConnection, coop: int) -> list[int]:
    """The cooperative's households with the most ledger postings."""
    query = (
        select(LedgerAccount.owner_id)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Household, Household.id == LedgerAccount.owner_id)
        .where(LedgerAccount.owner_type == "household", Household.cooperative_id == coop)
        .group_by(LedgerAccount.owner_id)
        .order_by(func.count().desc(), LedgerAccount.owner_id)
        .limit(IDS_PER_ROUTE)
    )
    found = [int(i) for i in await conn.scalars(query)]
    if not found:
        found = [
            int(i)
            for i in await conn.scalars(
                select(Household.id).where(Household.cooperative_id == coop).order_by(Household.id).limit(3)
            )
        ]
    return found


async def _journals(conn: AsyncConnection, households: Sequence[int]) -> list[int]:
    if not households:
        return []
    query = (
        select(Posting.journal_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "household", LedgerAccount.owner_id == households[0])
        .order_by(Posting.journal_id.desc())
        .limit(IDS_PER_ROUTE)
    )
    return [int(i) for i in await conn.scalars(query)]


async def _order_lines(conn: AsyncConnection, coop: int) -> list[int]:
    query = (
        select(LotAllocation.order_line_id)
        .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
        .where(SupplyLot.cooperative_id == coop)
        .order_by(LotAllocation.order_line_id.desc())
        .limit(IDS_PER_ROUTE)
    )
    return [int(i) for i in await conn.scalars(query)]


async def _units(conn: AsyncConnection, scope: Scope) -> list[int]:
    query = select(PurchasingUnit.id).where(scope.units(PurchasingUnit.id)).order_by(PurchasingUnit.id).limit(3)
    return [int(i) for i in await conn.scalars(query)]


async def _policy_versions(conn: AsyncConnection, coop: int) -> list[int]:
    query = select(SplitPolicy.version).where(SplitPolicy.cooperative_id == coop).order_by(SplitPolicy.version.desc())
    return [int(v) for v in await conn.scalars(query.limit(IDS_PER_ROUTE))]


async def _mall_products(conn: AsyncConnection) -> list[int]:
    """The county mall's products (``/mall/p/{id}``) whose SKUs sold most: the most lines to count."""
    query = (
        select(Sku.product_id)
        .join(OrderLine, OrderLine.sku_id == Sku.id)
        .where(Sku.active.is_(True))
        .group_by(Sku.product_id)
        .order_by(func.count().desc(), Sku.product_id)
        .limit(IDS_PER_ROUTE)
    )
    return [int(i) for i in await conn.scalars(query)]


async def ids_in_scope(conn: AsyncConnection, scope: Scope) -> dict[str, list[int]]:
    """Ids to put in URLs, by the path segment before the placeholder (``/households/{id}``:
    households; ``/cooperatives/{id}/policies/{version}``: cooperatives, then policies)."""
    coops = await _cooperatives(conn, scope)
    households = await _households(conn, coops[0]) if coops else []
    return {
        "sessions": await _sessions(conn, scope),
        "cooperatives": coops,
        "households": households,
        "journals": await _journals(conn, households),
        "order-lines": await _order_lines(conn, coops[0]) if coops else [],
        "units": await _units(conn, scope),
        "policies": await _policy_versions(conn, coops[0]) if coops else [],
        "p": await _mall_products(conn),  # the public mall: no scope
    }


# Query strings some routes need beyond the period (ids: the role's ids by segment).
def _two_sessions(ids: dict[str, list[int]]) -> dict[str, str] | None:
    found = ids["sessions"]
    return {"a": str(found[0]), "b": str(found[-1])} if len(found) > 1 else None


EXTRA_QUERY: dict[str, Callable[[dict[str, list[int]]], dict[str, str] | None]] = {
    "/sessions/compare": _two_sessions,
}


def template_of(path: str, templates: Sequence[str]) -> str | None:
    """The route template a concrete path matches (``/cooperatives/3``: ``/cooperatives/{id}``)."""
    path = path.split("?", 1)[0]
    for template in templates:
        pattern = "/".join(r"[^/]+" if PLACEHOLDER.fullmatch(p) else re.escape(p) for p in template.split("/"))
        if re.fullmatch(pattern, path):
            return template
    return None


def urls_for(template: str, ids: dict[str, list[int]], period: dict[str, str]) -> list[str] | str:
    """Up to IDS_PER_ROUTE URLs for a route template, or why there are none."""
    parts = template.split("/")
    slots = [(i, PLACEHOLDER.fullmatch(p)) for i, p in enumerate(parts) if PLACEHOLDER.fullmatch(p)]
    choices: list[list[int]] = []
    for index, _ in slots:
        segment = parts[index - 1] if index > 0 else ""
        if segment not in ids:
            return f"no ids known for /{segment}/{{id}}"
        if not ids[segment]:
            return f"no {segment} in scope"
        choices.append(ids[segment])
    query = dict(period)
    extra = EXTRA_QUERY.get(normalise(template))
    if extra is not None:
        more = extra(ids)
        if more is None:
            return "no ids for its query"
        query |= more
    count = max((len(c) for c in choices), default=1)
    urls = []
    for n in range(min(count, IDS_PER_ROUTE)):
        filled = list(parts)
        for (index, _), options in zip(slots, choices, strict=True):
            filled[index] = str(options[n % len(options)])
        urls.append("/".join(filled) + "?" + urlencode(query))
    return sorted(set(urls))


# --------------------------------------------------------------------------- the store


async def _users(url: str) -> dict[str, dict[str, list[int]]]:
    """One login per role, and the ids each one's scope holds."""
    from bangfu.demo.users import ensure_demo_users

    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            logins = await ensure_demo_users(session)
        out = {}
        async with session_factory(engine)() as session:
            conn = await session.connection()
            for login in logins:
                user = await session.scalar(select(User).where(User.name == login.name))
                assert user is not None
                out[login.name] = await ids_in_scope(conn, await scope_of(conn, user))
        return out
    finally:
        await engine.dispose()


def build(url: str, lines: int, households: int, workers: int) -> tuple[int, float]:
    """bench/attribution.py's store, the pipeline run over it; lines written and seconds."""
    import attribution

    started = time.perf_counter()
    written = asyncio.run(attribution.prepare(url, lines, 5, households))
    if workers > 1:
        attribution.run_workers(url, workers)
    else:
        asyncio.run(attribution.measure(url))
    asyncio.run(analyze(url))
    return written, time.perf_counter() - started


async def analyze(url: str) -> None:
    """``VACUUM (ANALYZE)``: the store as autovacuum would leave it after a load (a server may
    run with autovacuum off, as this machine's does). Without statistics PostgreSQL plans the
    ledger's joins for empty tables; without the vacuum, tables the pipeline rewrites row by row
    keep every old version (``line_stock``: one dead row per line once drawn, and its partial
    index of undrawn lines still lists all of them: the mall's stock read 375-575 ms instead
    of 16-60 at 1,000,000 lines)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM (ANALYZE)"))
            else:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
    finally:
        await engine.dispose()


async def _count_lines(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(OrderLine)) or 0)
    finally:
        await engine.dispose()


def data_period() -> dict[str, str]:
    """The whole span of the bench's sales (bench/attribution.py writes them from START on)."""
    import attribution

    start = attribution.START
    end = start + timedelta(days=attribution.DAYS)
    return {"from": start.date().isoformat(), "to": end.date().isoformat()}


# --------------------------------------------------------------------------- the server


def _serve(url: str, conn: Connection) -> None:
    """The server's process: report the port and the routes, serve until told to stop. The
    collector is tuned as ``bangfu serve`` tunes it (``bangfu.runtime.tune_gc``, in the CLI's
    entry point): with CPython's defaults an older collection now and then walked every object
    the server holds and added 50-130 ms to one request in ten (the p95 of 9 requests)."""
    from bangfu.runtime import tune_gc

    tune_gc()

    async def main() -> None:
        from aiohttp import web as aioweb

        app = create_app(url)
        runner = aioweb.AppRunner(app, access_log=None)
        await runner.setup()
        site = aioweb.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        routes = sorted(
            {
                r.resource.canonical
                for r in app.router.routes()
                if r.method == "GET" and r.resource is not None and not r.resource.canonical.startswith("/static")
            }
        )
        conn.send({"port": port, "routes": routes})
        started = time.process_time()
        # "cpu" asks for the CPU seconds used so far (the client reads it around each route);
        # anything else stops the server.
        while await asyncio.get_running_loop().run_in_executor(None, conn.recv) == "cpu":
            conn.send(time.process_time() - started)
        used = time.process_time() - started
        await runner.cleanup()
        conn.send({"cpu_s": used, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})

    asyncio.run(main())


# --------------------------------------------------------------------------- the client


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def rank(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))] * 1000, 1)

        out: dict[str, Any] = {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "n": len(ordered)}
        if self.seconds:
            out["rps"] = round(len(ordered) / self.seconds, 1)
        if self.errors:
            out["errors"] = self.errors
        return out


async def hammer(
    send: Callable[[int], Any], total: int, concurrency: int, expect: int = 200, budget: float | None = None
) -> Measured:
    """``total`` requests, ``concurrency`` at a time; ``send(i)`` opens the i-th response. After
    ``budget`` seconds no new request starts once ``concurrency`` have (a slow route stays bounded)."""
    result = Measured()
    counter = itertools.count()
    started_all = time.perf_counter()

    def more(i: int) -> bool:
        if i >= total:
            return False
        return budget is None or i < concurrency or time.perf_counter() - started_all < budget

    async def worker() -> None:
        while more(i := next(counter)):
            started = time.perf_counter()
            try:
                async with send(i) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors[type(exc).__name__] = result.errors.get(type(exc).__name__, 0) + 1
                continue
            result.latencies.append(time.perf_counter() - started)
            if status != expect:
                result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started_all
    return result


def _progress(key: str, figures: Any) -> None:
    """Where a long run is, on stderr (stdout carries only the JSON line)."""
    sys.stderr.write(f"{key}: {orjson.dumps(figures).decode()}\n")


CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


async def _csrf(session: Any, base: str) -> str:
    async with session.get(base + "/login") as response:
        found = CSRF_FIELD.search(await response.text())
    if not found:
        raise SystemExit("no CSRF field on /login")
    return found.group(1)


async def login(session: Any, base: str, name: str) -> None:
    from bangfu.demo.users import DEMO_PASSWORD

    token = await _csrf(session, base)
    form = {"name": name, PASSWORD_FIELD: DEMO_PASSWORD, "_csrf": token}
    async with session.post(base + "/login", data=form, allow_redirects=False) as response:
        if response.status != 302:
            raise SystemExit(f"login as {name}: HTTP {response.status}")


def _new_session(concurrency: int) -> Any:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies of 127.0.0.1 (an IP) too
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def drive(
    base: str,
    routes: list[str],
    roles: dict[str, dict[str, list[int]]],
    period: dict[str, str],
    requests: int,
    concurrency: int,
    budget: float,
    only: frozenset[str] | None = None,
    server_cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Each measured route's figures; with ``server_cpu`` (the server process's CPU seconds so
    far) also ``server_cpu_ms``, the server's CPU per request of that route, its first probe
    excluded."""
    measured: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    homes: dict[str, dict[str, str | None]] = {}

    # The login form and the login itself (argon2: costly by design), anonymous.
    async with _new_session(concurrency) as anon:
        result = await hammer(lambda i: anon.get(base + "/login"), requests, concurrency)
        measured["anonymous GET /login"] = result.summary()
        token = await _csrf(anon, base)
        from bangfu.demo.users import DEMO_PASSWORD

        form = {"name": "host", PASSWORD_FIELD: DEMO_PASSWORD, "_csrf": token}
        logins = min(requests, 2 * concurrency)
        result = await hammer(
            lambda i: anon.post(base + "/login", data=form, allow_redirects=False), logins, concurrency, expect=302
        )
        measured["anonymous POST /login"] = result.summary()

    surface = [r for r in routes if r not in SHELL and (only is None or normalise(r) in only)]
    for role, ids in roles.items():
        async with _new_session(concurrency) as session:
            await login(session, base, role)
            async with session.get(base + "/", allow_redirects=False) as response:
                home = response.headers.get("Location", "")
                homes[role] = {"path": home, "route": template_of(home, routes)}
            result = await hammer(
                lambda i: session.get(base + "/", allow_redirects=False), requests, concurrency, expect=302
            )
            measured[f"{role} GET /"] = result.summary()
            _progress(f"{role} GET /", measured[f"{role} GET /"])
            for template in surface:
                key = f"{role} GET {template}"
                urls = urls_for(template, ids, period)
                if isinstance(urls, str):
                    skipped[key] = urls
                    continue
                started = time.perf_counter()
                try:
                    async with session.get(base + urls[0], allow_redirects=False, timeout=PROBE_TIMEOUT) as response:
                        await response.read()
                        status = response.status
                except TimeoutError:
                    skipped[key] = f"no answer in {PROBE_TIMEOUT.total:.0f} s"
                    _progress(key, skipped[key])
                    continue
                first = time.perf_counter() - started
                if status != 200:
                    skipped[key] = f"HTTP {status}"
                    continue
                cpu_before = server_cpu() if server_cpu else 0.0
                result = await hammer(
                    lambda i, u=urls: session.get(base + u[i % len(u)], allow_redirects=False),
                    requests,
                    concurrency,
                    budget=budget,
                )
                measured[key] = result.summary() | {"first_ms": round(first * 1000, 1), "url": urls[0]}
                if server_cpu and result.latencies:
                    used = server_cpu() - cpu_before
                    measured[key]["server_cpu_ms"] = round(used * 1000 / len(result.latencies), 2)
                _progress(key, measured[key])
    return {"measured": measured, "skipped": skipped, "homes": homes}


# --------------------------------------------------------------------------- the run


def _receive(conn: Connection, process: Any) -> Any:
    """The server process's next message; its death is an error, not a wait forever."""
    while not conn.poll(1):
        if not process.is_alive():
            raise SystemExit(f"the server process died (exit code {process.exitcode})")
    return conn.recv()


def measure_server(
    url: str,
    roles: dict[str, dict[str, list[int]]],
    requests: int,
    concurrency: int,
    budget: float,
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(url, child), daemon=True)
    process.start()
    try:
        ready = _receive(parent, process)
        base = f"http://127.0.0.1:{ready['port']}"
        started = time.perf_counter()

        def server_cpu() -> float:
            parent.send("cpu")
            return float(_receive(parent, process))

        out = asyncio.run(
            drive(base, ready["routes"], roles, data_period(), requests, concurrency, budget, only, server_cpu)
        )
        out["measure_seconds"] = round(time.perf_counter() - started, 1)
        parent.send("stop")
        usage = _receive(parent, process)
        out["server_cpu_s"] = round(usage["cpu_s"], 1)
        out["server_peak_rss_mb"] = round(usage["peak_rss_mb"], 1)
        routed = {normalise(r) for r in ready["routes"]}
        out["not_routed"] = [r for r in EXPECTED if r not in routed]
        out["routes"] = ready["routes"]
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    return out


def page_figures(measured: dict[str, Any]) -> dict[str, Any]:
    """The worst p95 among pages and API routes (the login apart), and those over 100 ms."""
    pages = {k: v for k, v in measured.items() if not k.startswith("anonymous") and v["p95"] is not None}
    worst = max(pages.items(), key=lambda kv: kv[1]["p95"], default=None)
    return {
        "worst_p95_ms": worst[1]["p95"] if worst else None,
        "worst_route": worst[0] if worst else None,
        "over_100ms_p95": sorted(k for k, v in pages.items() if v["p95"] >= 100),
        "routes_with_errors": sorted(k for k, v in measured.items() if "errors" in v),
    }


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import ingest

    load_before = os.getloadavg()
    scratch = None
    if args.reuse:
        db_url = url
        lines, build_seconds = asyncio.run(_count_lines(url)), 0.0
        asyncio.run(analyze(url))
    else:
        db_url, scratch = asyncio.run(ingest._scratch_database(url))
    try:
        if not args.reuse:
            workers = args.workers or (2 if make_url(url).get_backend_name() == "postgresql" else 1)
            lines, build_seconds = build(db_url, args.lines, args.households, workers)
        started = time.perf_counter()
        roles = asyncio.run(_users(db_url))
        if args.roles:
            wanted = args.roles.split(",")
            unknown = set(wanted) - set(roles)
            if unknown:
                raise SystemExit(f"--roles: no login named {', '.join(sorted(unknown))} (have {', '.join(roles)})")
            roles = {name: roles[name] for name in wanted}
        users_seconds = time.perf_counter() - started
        only = None
        if args.routes:
            only = frozenset(normalise(r.strip()) for r in args.routes.split(",") if r.strip())
        out = measure_server(db_url, roles, args.requests, args.concurrency, args.route_seconds, only)
    finally:
        if scratch is not None and not args.keep_db:
            asyncio.run(ingest._drop_database(url, scratch))
    result: dict[str, Any] = {
        "bench": "web",
        "lines": lines,
        "db": make_url(url).get_backend_name(),
        "build_seconds": round(build_seconds, 1),
        "users_seconds": round(users_seconds, 1),
        "concurrency": args.concurrency,
        "requests_per_route": args.requests,
        "route_seconds": args.route_seconds,
        "period": data_period(),
    }
    result |= page_figures(out["measured"])
    result |= out
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["load_avg_before"] = [round(x, 2) for x in load_before]
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    if scratch is not None and args.keep_db:
        result["kept_db"] = make_url(db_url).render_as_string(hide_password=True)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--households", type=int, default=3000, help="households in the county scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--requests", type=int, default=160, help="requests per (role, route)")
    parser.add_argument(
        "--route-seconds", type=float, default=10.0, help="time budget per route (at least one wave is sent)"
    )
    parser.add_argument("--roles", help="comma-separated logins to drive (default: every role)")
    parser.add_argument(
        "--routes", help="comma-separated route templates to measure, e.g. /sessions,/cooperatives/{id} (default: all)"
    )
    parser.add_argument("--workers", type=int, default=0, help="pipeline processes (default: 2 on PostgreSQL)")
    parser.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL scratch database")
    parser.add_argument("--reuse", action="store_true", help="--db is a store a --keep-db run kept: no build")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.concurrency < 1 or args.requests < 1:
        parser.error("--lines, --concurrency and --requests must be positive")
    if args.reuse and not args.db:
        parser.error("--reuse needs --db")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return run(args, url)


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main()).decode() + "\n")
