"""Scope isolation: every GET route, for every role, asked for an object of the role's own,
someone else's, one that does not exist and an id that is not a number.

``ROUTES`` names every GET route the app serves and what its parameters name; a route added
without a row (or a row left after its route is gone) fails ``test_every_route_is_in_the_table``.
Which objects are whose comes from plain SQL in ``tests/web/_ownership.py``, never from
``bangfu.scope``, so a mistake there cannot hide in both.

The demo world has one county, so the matrix runs on a private copy where a few objects are moved
first, giving every scoped role something foreign: one cooperative's supplier and one shop go to
another county; another cooperative's supplier, another shop and a purchasing unit go to a
township below the county (still the county's, through the region tree); and the operator is
given one shop (``user_shops``).

What is checked, per role and route (pages with the session cookie, API routes with the role's
bearer token, and API routes without a token):
- own object: 200 (or the redirect the table documents); foreign, missing, or malformed id: 404,
  and a foreign object's 404 reads exactly like a missing one's; never a 500;
- every link on a page and every listed item of an API answer names nothing foreign;
- a household head's full name is shown only to the household's own cooperative; the admin and
  the county see it masked (first character and ``*``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bangfu.store import make_engine
from tests.web._ownership import Holdings, Key, holdings
from tests.web.conftest import ROLES, World, api_token, login

ALL = frozenset(ROLES)
SEES_SESSIONS = frozenset({"admin", "operator", "host", "county"})
SEES_COOPERATIVES = frozenset({"admin", "county"})  # the list; the coop user is sent to its own
COUNTY_OFFICE = frozenset({"admin", "county"})
OPERATES = frozenset({"admin", "operator"})  # the operator console
MISSING = "999999999"
# Not ids: each must be a 404 in a path (a path id is a positive whole number in ASCII digits,
# nothing else), a 400 naming the parameter in a query string.
MALFORMED = ("abc", "-1", "0", "1.5", "1e3", "0x1f", "%C2%B2", "9" * 19)
MALFORMED_PATH = (*MALFORMED, "%D9%A3", "1%20", "%EF%BC%91")  # Arabic-Indic 3, "1 ", fullwidth 1


@dataclass(frozen=True)
class Route:
    """What a GET route's parameters name, and what each role gets without one.

    ``kind``: the kind of object (``_ownership.KINDS``) that the route's path parameters name,
    in order (or the ``query`` parameters, for a route taking ids in its query string).
    ``status``: for a route without path ids, the status each role gets (missing roles: 404).
    ``own``: the status for one's own object. ``extra``: query string added to every request.
    ``items``: (kind, path to each listed id in the JSON answer) of a listing.
    ``shows_name``: the page or answer shows the household's head by name.
    """

    kind: str | None = None
    query: tuple[str, ...] = ()
    status: dict[str, int] = field(default_factory=dict)
    own: int = 200
    extra: str = ""
    items: tuple[str, tuple[str, ...]] | None = None
    shows_name: bool = False
    public: bool = False
    at: str | None = None  # the path to request, for a route whose parameter is no id (a region code)


def only(roles: frozenset[str], status: int = 200, **others: int) -> dict[str, int]:
    return {r: status for r in roles} | others


UNKNOWN_TRACE = "A" * 22  # a well-formed traceability code no lot has
SPAN = "{span}"  # replaced with from=<first day>&to=<last day> of the world's sales

ROUTES: dict[str, Route] = {
    # auth and the API shell
    "/": Route(status=only(ALL, 302)),
    "/login": Route(status=only(ALL, 302)),  # signed in already: on to the home page
    "/healthz": Route(status=only(ALL), public=True),
    "/favicon.ico": Route(status=only(ALL, 301), public=True),
    "/api/v1/me": Route(status=only(ALL)),
    "/api/v1/openapi.json": Route(status=only(ALL), public=True),
    # live sessions
    "/sessions": Route(status=only(SEES_SESSIONS), extra=SPAN),
    "/sessions/compare": Route(kind="session_pair", query=("a", "b"), status=only(SEES_SESSIONS)),
    "/sessions/{id}": Route(kind="session"),
    "/api/v1/sessions": Route(status=only(SEES_SESSIONS), extra=SPAN, items=("session", ("items", "*", "id"))),
    "/api/v1/sessions/{id}": Route(kind="session"),
    "/api/v1/sessions/{id}/minutes": Route(kind="session"),
    # cooperatives, households, the ledger
    "/cooperatives": Route(status=only(SEES_COOPERATIVES, coop=302), extra=SPAN),
    "/cooperatives/{id}": Route(kind="cooperative", extra=SPAN),
    "/cooperatives/{id}/households": Route(kind="cooperative", extra=SPAN),
    "/cooperatives/{id}/members": Route(kind="cooperative"),
    "/cooperatives/{id}/surplus": Route(kind="cooperative"),
    "/cooperatives/{id}/policies/{version}": Route(kind="policy"),
    "/households/{id}": Route(kind="household", extra=SPAN, shows_name=True),
    "/households/{id}/journals": Route(kind="household", extra=SPAN),
    "/journals/{id}": Route(kind="journal"),
    "/order-lines/{id}": Route(kind="order_line"),
    "/api/v1/cooperatives": Route(
        status=only(ALL), extra=SPAN, items=("cooperative", ("items", "*", "cooperative", "id"))
    ),
    "/api/v1/cooperatives/{id}/income": Route(kind="cooperative", extra=SPAN),
    "/api/v1/cooperatives/{id}/households": Route(
        kind="cooperative", extra=SPAN, items=("household", ("items", "*", "id"))
    ),
    "/api/v1/households/{id}/statement": Route(kind="household", extra=SPAN, shows_name=True),
    "/api/v1/journals/{id}": Route(kind="journal"),
    "/api/v1/order-lines/{id}": Route(kind="order_line"),
    # purchasing units
    "/units": Route(status=only(frozenset({"admin", "county"}))),
    "/units/{id}": Route(kind="unit"),
    "/api/v1/units/{id}": Route(kind="unit"),
    # the county office (issue 13): the county (its region and below) and the admin
    "/county": Route(status=only(COUNTY_OFFICE)),
    "/county/units": Route(status=only(COUNTY_OFFICE)),
    "/county/monitoring": Route(status=only(COUNTY_OFFICE)),
    "/county/products": Route(status=only(COUNTY_OFFICE)),
    "/api/v1/county/overview": Route(status=only(COUNTY_OFFICE)),
    "/api/v1/county/units": Route(status=only(COUNTY_OFFICE), items=("unit", ("items", "*", "id"))),
    "/api/v1/county/monitoring": Route(status=only(COUNTY_OFFICE), items=("household", ("items", "*", "household_id"))),
    "/api/v1/county/products": Route(status=only(COUNTY_OFFICE)),
    "/county/unsold": Route(status=only(COUNTY_OFFICE)),
    # enterprise-driven households (issue 17): the county office keeps the enterprises' records
    "/county/drives": Route(status=only(COUNTY_OFFICE)),
    "/county/drives/{id}": Route(kind="enterprise"),
    "/api/v1/county/unsold": Route(status=only(COUNTY_OFFICE)),
    "/cooperatives/{id}/unsold": Route(kind="cooperative"),
    # order planting (issue 17): the county office's plan; a cooperative's own plan and contracts
    "/county/planting": Route(status=only(COUNTY_OFFICE)),
    "/cooperatives/{id}/planting": Route(kind="cooperative"),
    # the operator console (issue 13): the admin and operators, of the shops they run
    "/operator": Route(status=only(OPERATES)),
    "/operator/quarantine": Route(kind="shop", query=("shop",), status=only(OPERATES)),
    "/operator/waiting": Route(status=only(OPERATES)),
    "/operator/stock": Route(kind="shop", query=("shop",), status=only(OPERATES)),
    "/operator/stock/{id}": Route(kind="sku"),
    "/api/v1/operator/stock": Route(
        kind="shop", query=("shop",), status=only(OPERATES), items=("sku", ("items", "*", "sku_id"))
    ),
    "/api/v1/operator/stock/{id}": Route(kind="sku"),
    "/api/v1/operator/sync": Route(status=only(OPERATES), items=("shop", ("items", "*", "id"))),
    "/api/v1/operator/waiting": Route(status=only(OPERATES)),
    # adding a supply lot for a SKU (issue 13): the admin, operators for SKUs their shops sold,
    # cooperatives for their own products; /lots/{id} shows what a lot filled
    "/lots/new": Route(kind="lot_sku", query=("sku",), status=only(OPERATES | {"coop"})),
    "/lots/{id}": Route(kind="lot"),
    "/operator/reconciliation": Route(kind="shop", query=("shop",), status=only(OPERATES)),
    "/operator/reconciliation/{id}": Route(kind="recon_exception"),
    "/api/v1/operator/reconciliation": Route(
        kind="shop", query=("shop",), status=only(OPERATES), items=("recon_exception", ("items", "*", "id"))
    ),
    "/api/v1/operator/reconciliation/{id}": Route(kind="recon_exception"),
    "/operator/listings": Route(kind="shop", query=("shop",), status=only(OPERATES)),
    "/api/v1/operator/listings": Route(status=only(OPERATES), items=("shop", ("items", "*", "shop_id"))),
    # shipments pushed to the platforms, delivery batches (issue 16): units see their own batches
    "/operator/shipments": Route(kind="shop", query=("shop",), status=only(OPERATES)),
    "/delivery": Route(status=only(OPERATES | {"unit"})),
    "/delivery/{id}": Route(kind="delivery_batch"),
    "/delivery/{id}/packing": Route(kind="delivery_batch"),
    "/delivery/{id}/note": Route(kind="delivery_batch"),
    # procurement agreements (issue 17): the county's region, a unit's own, a cooperative's own
    "/agreements": Route(status=only(frozenset({"admin", "county", "unit", "coop"}))),
    "/agreements/{id}": Route(kind="agreement"),
    "/api/v1/agreements/{id}": Route(kind="agreement"),
    # the public board (issue 13): no login, no personal data; {code} is a region code, no id
    "/board": Route(status=only(ALL), public=True),
    "/board/events": Route(status=only(ALL), public=True),
    "/board/{code}": Route(status=only(ALL), public=True, at="/board/513328"),
    "/board/{code}/events": Route(status=only(ALL), public=True, at="/board/513328/events"),
    # the county's own mall (issue 16): public pages; an order page is only its buyer's session's
    # (no role's: every role gets 404); the mall's operator page needs the mall's shop in scope
    "/mall": Route(status=only(ALL, 302), public=True),
    "/mall/": Route(status=only(ALL), public=True),
    "/mall/cart": Route(status=only(ALL), public=True),
    "/mall/p/{product_id}": Route(status=only(ALL), public=True, at="/mall/p/1"),
    "/mall/order/{order_no}": Route(public=True, at="/mall/order/BFM0"),
    "/mall/order/{order_no}/return": Route(public=True, at="/mall/order/BFM0/return"),
    "/operator/mall": Route(status={"admin": 200}),  # the operator's one shop is not the mall
    # traceability (issue 16): a lot's public page and QR by its random code (no id; an unknown
    # code is a 404 for everyone), label sheets for the admin and operators, session campaign QRs
    # the department task ledger (issue 17): the county office's region's tasks, the admin all
    "/tasks": Route(status=only(COUNTY_OFFICE)),
    "/tasks/overdue": Route(status=only(COUNTY_OFFICE)),
    "/tasks/at-risk": Route(status=only(COUNTY_OFFICE)),
    "/tasks/{id}": Route(kind="task"),
    "/t/{code}": Route(status=only(ALL, 404), public=True, at=f"/t/{UNKNOWN_TRACE}"),
    "/t/{code}/qr.png": Route(status=only(ALL, 404), public=True, at=f"/t/{UNKNOWN_TRACE}/qr.png"),
    "/t/{code}/qr.svg": Route(status=only(ALL, 404), public=True, at=f"/t/{UNKNOWN_TRACE}/qr.svg"),
    "/operator/lots/{id}/labels": Route(kind="lot_label"),
    "/sessions/{id}/campaign.png": Route(kind="session"),
    "/sessions/{id}/campaign.svg": Route(kind="session"),
    # the certified catalogue (issue 17): the county office its region's suppliers, a cooperative
    # its own; ``supplier`` filters by one supplier in scope
    "/certificates": Route(kind="supplier", query=("supplier",), status=only(COUNTY_OFFICE | {"coop"})),
    "/api/v1/certificates": Route(
        kind="supplier",
        query=("supplier",),
        status=only(COUNTY_OFFICE | {"coop"}),
        items=("supplier", ("items", "*", "supplier_id")),
    ),
}

PARAM = re.compile(r"\{(\w+)\}")


def app_get_routes(app: web.Application) -> set[str]:
    """Every GET route of the app by its canonical path (static files aside)."""
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None and not isinstance(route.resource, web.StaticResource)
    }


def test_every_route_is_in_the_table(tmp_path: Any) -> None:
    from web import create_app

    served = app_get_routes(create_app(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"))
    missing = sorted(served - ROUTES.keys())
    gone = sorted(ROUTES.keys() - served)
    assert not missing, (
        f"GET routes without a row in tests/web/test_isolation.py ROUTES: {missing}; add each with the kind "
        "of object its parameters name (or the status each role gets), so the isolation matrix covers it"
    )
    assert not gone, f"ROUTES rows for routes the app no longer serves: {gone}"
    arity = {"session_pair": 2, "policy": 2}
    for path, route in ROUTES.items():
        params = [] if route.at else PARAM.findall(path) or list(route.query)
        assert (route.kind is None) == (not params), f"{path}: a kind exactly when the route takes ids"
        if route.kind is not None:
            assert len(params) == arity.get(route.kind, 1), f"{path}: {route.kind} takes {arity.get(route.kind, 1)}"


# -- the world ---------------------------------------------------------------------------------


async def diversify(url: str) -> None:
    """Move a few objects so that every scoped role has something foreign (module docstring)."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:

            async def one(sql: str, **params: Any) -> Any:
                return (await conn.execute(text(sql), params)).scalar_one()

            county = await one("SELECT region_id FROM users WHERE name = 'county'")
            coop = await one("SELECT cooperative_id FROM users WHERE name = 'coop'")
            host = await one("SELECT host_id FROM users WHERE name = 'host'")
            unit = await one("SELECT unit_id FROM users WHERE name = 'unit'")
            operator = await one("SELECT id FROM users WHERE name = 'operator'")
            other = await one("SELECT min(id) FROM regions WHERE id <> :c AND parent_id IS NULL", c=county)
            await conn.execute(
                text(
                    "INSERT INTO regions (code, name, level, parent_id, assisted) "
                    "VALUES ('999999001', '测试乡', 'township', :c, :f)"
                ),
                {"c": county, "f": False},
            )
            township = await one("SELECT id FROM regions WHERE code = '999999001'")
            away, below = (
                await conn.execute(
                    text("SELECT supplier_id FROM cooperatives WHERE id <> :c ORDER BY id DESC LIMIT 2"), {"c": coop}
                )
            ).scalars()
            await conn.execute(text("UPDATE suppliers SET county_id = :r WHERE id = :s"), {"r": other, "s": away})
            await conn.execute(text("UPDATE suppliers SET county_id = :r WHERE id = :s"), {"r": township, "s": below})
            # An enterprise to the other county, another to the township (issue 17's pages).
            await conn.execute(
                text(
                    "UPDATE suppliers SET county_id = :r "
                    "WHERE id = (SELECT max(id) FROM suppliers WHERE kind = 'enterprise')"
                ),
                {"r": other},
            )
            await conn.execute(
                text(
                    "UPDATE suppliers SET county_id = :r "
                    "WHERE id = (SELECT min(id) FROM suppliers WHERE kind = 'enterprise')"
                ),
                {"r": township},
            )
            # Shops with sessions: the busiest goes to the operator; of the others (the host's
            # shops first), one goes to the township and one to the other county.
            shops = [
                int(s)
                for s in (
                    await conn.execute(
                        text("SELECT shop_id FROM live_sessions GROUP BY shop_id ORDER BY count(*) DESC, shop_id")
                    )
                ).scalars()
            ]
            assert len(shops) >= 3, "the demo world needs sessions in three shops"
            host_shops = set(
                (await conn.execute(text("SELECT shop_id FROM live_sessions WHERE host_id = :h"), {"h": host}))
                .scalars()
                .all()
            )
            rest = sorted(shops[1:], key=lambda s: (s not in host_shops, shops.index(s)))
            await conn.execute(
                text("INSERT INTO user_shops (user_id, shop_id) VALUES (:u, :s)"), {"u": operator, "s": shops[0]}
            )
            await conn.execute(text("UPDATE shops SET county_id = :r WHERE id = :s"), {"r": township, "s": rest[0]})
            await conn.execute(text("UPDATE shops SET county_id = :r WHERE id = :s"), {"r": other, "s": rest[-1]})
            await conn.execute(
                text(
                    "UPDATE purchasing_units SET region_id = :r "
                    "WHERE id = (SELECT min(id) FROM purchasing_units WHERE id <> :u)"
                ),
                {"r": township, "u": unit},
            )
            # Task ledger (issue 17): one task to the other county, one to the township.
            await conn.execute(
                text("UPDATE ledger_tasks SET region_id = :r WHERE id = (SELECT max(id) FROM ledger_tasks)"),
                {"r": other},
            )
            await conn.execute(
                text("UPDATE ledger_tasks SET region_id = :r WHERE id = (SELECT min(id) FROM ledger_tasks)"),
                {"r": township},
            )
        if engine.dialect.name == "postgresql":
            # Statistics, as autovacuum keeps them on a served store: the demo load never ran
            # ANALYZE, and unanalyzed the scoped dashboards plan nested loops of many seconds.
            async with engine.connect() as conn:
                await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


@dataclass
class Facts:
    """What the matrix needs to know of the world, read once."""

    holdings: dict[str, Holdings]
    span: str
    names: dict[int, tuple[int, str]]  # household -> (cooperative, head's name)
    distinctive: set[str]  # head names that appear in no other text of the world


async def read_facts(url: str) -> Facts:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            held = {role: await holdings(conn, role) for role in ROLES}
            first, last = (await conn.execute(text("SELECT min(occurred_at), max(occurred_at) FROM journals"))).one()
            names = {
                int(h): (int(c), str(n))
                for h, c, n in await conn.execute(text("SELECT id, cooperative_id, head_name FROM households"))
            }
            corpus: list[str] = []
            for sql in (
                "SELECT name FROM suppliers",
                "SELECT name FROM regions",
                "SELECT village FROM households",
                "SELECT name FROM products",
                "SELECT name FROM shops",
                "SELECT name FROM hosts",
                "SELECT title FROM live_sessions",
                "SELECT DISTINCT title FROM order_lines",
                "SELECT name FROM purchasing_units",
                "SELECT name FROM ledger_accounts",
            ):
                corpus.extend(str(v) for v in (await conn.execute(text(sql))).scalars() if v)
    finally:
        await engine.dispose()
    blob = "\n".join(corpus)
    distinctive = {n for _, n in names.values() if len(n) >= 2 and n not in blob}
    span = f"from={_day(first)}&to={_day(last)}"
    return Facts(held, span, names, distinctive)


def _day(value: Any) -> str:
    from datetime import datetime, timedelta

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment + timedelta(hours=8)).date().isoformat()  # Asia/Shanghai, the console's day


def mask(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    case: str  # own, foreign, mixed, missing, malformed, bare
    url: str
    expect: int
    key: Key | None = None


def _fill(path: str, route: Route, values: tuple[str, ...], extra: str) -> str:
    if route.query:
        query = "&".join(f"{p}={v}" for p, v in zip(route.query, values, strict=True))
        return f"{path}?{query}" + (f"&{extra}" if extra else "")
    it = iter(values)
    filled = PARAM.sub(lambda _m: next(it), path)
    return filled + (f"?{extra}" if extra else "")


def probes(path: str, route: Route, held: Holdings, span: str, *, every_malformed: bool = True) -> Iterator[Probe]:
    extra = route.extra.replace(SPAN, span)
    if route.kind is None or route.query:
        status = route.status.get(held.role, 404)
        yield Probe("bare", (route.at or path) + (f"?{extra}" if extra else ""), status)
        if route.kind is None:
            return
    own, foreign = held.own[route.kind], held.foreign[route.kind]
    if own:
        yield Probe("own", _fill(path, route, tuple(map(str, own[0])), extra), route.own, own[0])
    if foreign:
        yield Probe("foreign", _fill(path, route, tuple(map(str, foreign[0])), extra), 404, foreign[0])
    if own and foreign and len(own[0]) > 1:
        owned = set(own)
        for i in range(len(own[0])):
            mixed = (*own[0][:i], foreign[0][i], *own[0][i + 1 :])
            if mixed not in owned:
                yield Probe("mixed", _fill(path, route, tuple(map(str, mixed)), extra), 404, mixed)
    base = own[0] if own else foreign[0] if foreign else None
    if base is None:
        return
    for i in range(len(base)):
        values = list(map(str, base))
        values[i] = MISSING
        yield Probe("missing", _fill(path, route, tuple(values), extra), 404)
        # Ids are parsed before scope is read: every malformed id for one role, one for the rest.
        # Parsing reads no database, so the whole list runs on one backend (``every_malformed``).
        every = every_malformed and held.role == "admin"
        malformed = (MALFORMED if route.query else MALFORMED_PATH) if every else MALFORMED[:1]
        for bad in malformed:
            values[i] = bad
            # A query id is parsed (400) by a role that has the page at all; a path id is not found.
            bad_query = 400 if route.status.get(held.role) == 200 else 404
            yield Probe("malformed", _fill(path, route, tuple(values), extra), bad_query if route.query else 404)


# -- checks on a body --------------------------------------------------------------------------


def link_patterns() -> list[tuple[re.Pattern[str], Route]]:
    out = []
    for path, route in ROUTES.items():
        if route.kind is not None and not route.query:
            out.append((re.compile("^" + PARAM.sub(r"(\\d+)", path) + "$"), route))
    return out


LINKS = link_patterns()
HREF = re.compile(r'href="([^"#]+)"')


def _json_ids(data: Any, steps: tuple[str, ...]) -> Iterator[Any]:
    if not steps:
        yield data
        return
    head, rest = steps[0], steps[1:]
    if head == "*" and isinstance(data, list):
        for item in data:
            yield from _json_ids(item, rest)
    elif isinstance(data, dict) and head in data:
        yield from _json_ids(data[head], rest)


def body_problems(role: str, route: Route, body: str, data: Any, held: Holdings, facts: Facts) -> list[str]:
    """Foreign links or items, and household names shown in full to someone else."""
    problems = []
    for href in HREF.findall(body):
        parts = urlsplit(href.replace("&amp;", "&"))
        for pattern, target in LINKS:
            match = pattern.match(parts.path)
            if match and target.kind is not None:
                key = tuple(int(g) for g in match.groups())
                if key in set(held.foreign[target.kind]):
                    problems.append(f"links to a foreign {target.kind} {key}: {href}")
        if parts.path == "/sessions/compare":
            for name, value in parse_qsl(parts.query):
                if name in ("a", "b") and value.isdigit() and (int(value),) in set(held.foreign["session"]):
                    problems.append(f"links to a foreign session {value}: {href}")
    if route.items is not None and data is not None:
        kind, steps = route.items
        foreign = set(held.foreign[kind])
        for value in _json_ids(data, steps):
            if (value,) in foreign:
                problems.append(f"lists a foreign {kind} {value}")
    own_coop = {c for (c,) in held.own["cooperative"]} if role == "coop" else set()
    own_names = {n for c, n in facts.names.values() if c in own_coop}
    for household, (coop, name) in facts.names.items():
        if coop in own_coop or name not in facts.distinctive or any(name in n for n in own_names):
            continue
        if name in body:
            problems.append(f"shows household {household}'s head in full ({name})")
    return problems


def name_problems(role: str, key: Key, body: str, facts: Facts) -> list[str]:
    _, name = facts.names[key[0]]
    if role == "coop":
        return [] if name in body else [f"does not show its own household's head {name} in full"]
    if role in ("admin", "county"):
        return [] if mask(name) in body else [f"does not show the head's masked name {mask(name)}"]
    return []


# -- the matrix --------------------------------------------------------------------------------


async def _get(client: TestClient, url: str, headers: dict[str, str]) -> tuple[int, str, Any, str]:  # type: ignore[type-arg]
    response = await client.get(url, headers=headers, allow_redirects=False)
    # A PNG (a QR code) has no text to check; an SVG is text and is checked like a page.
    raw = "" if response.content_type == "image/png" else await response.text()
    data = None
    if response.content_type == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
    body = json.dumps(data, ensure_ascii=False) if data is not None else raw
    return response.status, body, data, response.content_type


def _is_error(data: Any, code: str) -> bool:
    return (
        isinstance(data, dict)
        and set(data) == {"error"}
        and isinstance(data["error"], dict)
        and set(data["error"]) == {"code", "message"}
        and data["error"]["code"] == code
        and isinstance(data["error"]["message"], str)
    )


async def run_matrix(
    client: TestClient,  # type: ignore[type-arg]
    url: str,
    facts: Facts,
    role: str,
    *,
    backend_cases_only: bool = False,
) -> tuple[list[str], int]:
    """Every route for ``role``. ``backend_cases_only``: only the probes whose answer depends on
    the database (the role's own object, a foreign one, a mix of both); a missing or malformed id
    is answered before or without any scoped read, the same on every backend, so those (and the
    comparison of a foreign 404 with a missing one) run on one backend."""
    failures: list[str] = []
    count = 0
    held = facts.holdings[role]
    client.session.cookie_jar.clear()
    await login(client, role)
    token = {"Authorization": f"Bearer {await api_token(url, role)}"}
    for path, route in ROUTES.items():
        api = path.startswith("/api/")
        headers = token if api else {}
        missing_body: str | None = None
        foreign_body: tuple[str, str] | None = None
        for probe in probes(path, route, held, facts.span, every_malformed=not backend_cases_only):
            if backend_cases_only and probe.case in ("missing", "malformed"):
                continue
            count += 1
            status, body, data, ctype = await _get(client, probe.url, headers)
            where = f"{role} GET {probe.url} ({probe.case})"
            if status >= 500 or status != probe.expect:
                failures.append(f"{where}: expected {probe.expect}, got {status}: {body[:300]}")
                continue
            if api and status >= 400 and not _is_error(data, "not_found" if status == 404 else "bad_request"):
                failures.append(f"{where}: not the JSON error shape: {ctype} {body[:300]}")
            if status == 200:
                for problem in body_problems(role, route, body, data, held, facts):
                    failures.append(f"{where}: {problem}")
                if probe.case == "own" and route.shows_name and probe.key is not None:
                    failures.extend(f"{where}: {p}" for p in name_problems(role, probe.key, body, facts))
            if probe.case == "missing" and missing_body is None:
                missing_body = body
            if probe.case == "foreign" and probe.key is not None:
                foreign_body = (body, probe.url)
        if foreign_body is not None and missing_body is not None:
            body, where = foreign_body
            if _neutral(body) != _neutral(missing_body):
                failures.append(f"{role} GET {where}: a foreign object's 404 differs from a missing one's")
    return failures, count


async def run_anonymous(client: TestClient, facts: Facts) -> tuple[list[str], int]:  # type: ignore[type-arg]
    """Without a token (and without the cookie) every API route is a 401 of the error shape."""
    failures: list[str] = []
    count = 0
    client.session.cookie_jar.clear()
    for path, route in ROUTES.items():
        if not path.startswith("/api/"):
            continue
        for probe in list(probes(path, route, facts.holdings["admin"], facts.span))[:1]:
            count += 1
            status, body, data, _ = await _get(client, probe.url, {})
            expected = 200 if route.public else 401
            if status != expected or (expected == 401 and not _is_error(data, "unauthorized")):
                failures.append(f"anonymous GET {probe.url}: expected {expected}, got {status}: {body[:200]}")
    return failures, count


def _neutral(body: str) -> str:
    """A 404 body without the CSRF token and the ids asked for."""
    body = re.sub(r'name="_csrf" value="[^"]*"', "", body)
    return re.sub(r"\d+", "N", body)


@pytest.mark.slow
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
async def test_every_role_sees_only_its_own_on_every_route(world_copy: World, role: str) -> None:
    """One role's matrix per test (so the run spreads them over its workers). On PostgreSQL only
    the probes whose answer reads the database run (``run_matrix``)."""
    from tests.web.conftest import _client

    await diversify(world_copy.url)
    facts = await read_facts(world_copy.url)
    if role in ("operator", "host", "coop", "county", "unit"):
        held = facts.holdings[role]
        assert any(held.foreign.values()), f"{role} has nothing foreign: the matrix would prove nothing"
    async for client in _client(world_copy.url):
        if role == "anonymous":
            failures, count = await run_anonymous(client, facts)
        else:
            failures, count = await run_matrix(
                client, world_copy.url, facts, role, backend_cases_only=world_copy.backend != "sqlite"
            )
    assert count > 20
    assert not failures, f"{len(failures)} of {count} requests went wrong:\n" + "\n".join(failures)
