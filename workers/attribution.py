"""The attribution stage: paid order lines -> live sessions (``line_attributions``).

The rules are :mod:`bangfu.attribution_rules` (pure); this module finds the due lines in bulk, loads
the sessions they could belong to, computes, and writes one multi-row upsert per batch (on the
unique ``order_line_id``, so a replay or a second worker changes nothing).

A line is due when it is paid (``paid_at`` set, status neither pending nor cancelled) and
1. it has no attribution yet, or its attribution looked at an older line version; or
2. a live session arrived or changed after the line was attributed (``live_sessions.updated_at``
   later than ``line_attributions.attributed_at``) and the line is within that session's reach:
   the same shop and paid between its start and its end plus the grace / inferred window, or the
   order's campaign code is the session's, or the line is attributed to that session. Lines
   attributed by ``room_id`` are left alone unless attributed to the changed session itself
   (nothing outranks a room id).

Case 1 is read from the change queue (:mod:`workers.changes`: triggers queue a line when it
is stored, re-versioned or its order's payment changes), plus a fast path for lines newer than
every attribution; so an idle run does not read every line ever stored.

Re-examined lines get ``attributed_at`` = the time this run started reading, even when their
verdict is unchanged, so a session is looked at once. ``attributed_at`` is taken before the
reads: a session committed after that is newer than the attribution and is looked at next run.
:func:`reattribute_for_sessions` does (2) for named sessions right away (for session loaders).

When the session or host of a line changes and the line has a ``line_accounting`` row, its
``input_rev`` is bumped in the same transaction so posting trues the line up.

On PostgreSQL the due lines are locked ``FOR UPDATE SKIP LOCKED`` (the ``order_lines`` rows),
so concurrent workers take different lines; the current attributions are read after the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, exists, func, literal, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import session_summaries
from bangfu.attribution_rules import (
    DEFAULT_RULES,
    RULE_ROOM,
    Attribution,
    AttributionRules,
    LineFacts,
    SessionFacts,
    SessionIndex,
    WindowFacts,
    attribute,
)
from bangfu.models import (
    ExplanationWindow,
    Host,
    LineAccounting,
    LineAttribution,
    LineChange,
    LiveSession,
    Order,
    OrderLine,
    Shop,
    order_is_paid,
)
from bangfu.models.base import IdType, UTCDateTime
from bangfu.store import among, pg_unnest_insert
from workers import changes

_CHUNK = 2_000  # ids per IN list / rows per executemany (batched into multi-row inserts by SQLAlchemy)
_SESSION_CHUNK = 500


@dataclass
class AttributionStats:
    """What one call did."""

    examined: int = 0  # lines computed
    changed: int = 0  # rows written with a new verdict or line version (first attributions included)
    first: int = 0  # lines attributed for the first time
    reattributed: int = 0  # lines whose session or host changed
    unchanged: int = 0  # re-examined lines whose verdict held (only attributed_at moved)
    sessions: int = 0  # new or changed sessions that made lines due
    dequeued: int = 0  # rows of the change queue settled (their lines no longer due)
    bumped: int = 0  # line_accounting rows whose input_rev was bumped
    exact: int = 0
    link: int = 0
    inferred: int = 0
    none: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: AttributionStats) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def _session_code() -> Any:
    """A session's campaign code: the column, else the one its raw payload carries (self-mall)."""
    return func.coalesce(LiveSession.campaign_code, LiveSession.raw["campaign_code"].as_string())


def _line_columns() -> list[Any]:
    return [
        OrderLine.id,
        OrderLine.shop_id,
        OrderLine.version,
        Order.paid_at,
        func.coalesce(OrderLine.room_id, Order.room_id),
        func.coalesce(OrderLine.author_id, Order.author_id),
        Order.campaign_code,
        OrderLine.platform_item_id,
        OrderLine.platform_sku_id,
        OrderLine.sku_id,
    ]


@dataclass(frozen=True, slots=True)
class _Line:
    id: int
    version: int
    facts: LineFacts


def _to_line(row: Any) -> _Line:
    return _Line(
        id=row[0],
        version=row[2],
        facts=LineFacts(
            shop_id=row[1],
            paid_at=row[3],
            room_id=row[4],
            author_id=row[5],
            campaign_code=row[6],
            platform_item_id=row[7] or "",
            platform_sku_id=row[8],
            sku_id=row[9],
        ),
    )


def _lock(query: Any, conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=OrderLine)
    return query


def _due_filter() -> Any:
    """Paid, and with no attribution or an attribution of an older line version."""
    return and_(order_is_paid(), or_(LineAttribution.id.is_(None), LineAttribution.line_version < OrderLine.version))


def _due_base() -> Any:
    return (
        select(*_line_columns())
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
    )


def due_lines() -> Any:
    """``SELECT`` of the lines due for attribution by their own state (case 1 of the module
    docstring): paid, with no attribution or one of an older line version."""
    return _due_base().with_only_columns(OrderLine.id).where(_due_filter())


def _queued_due() -> Any:
    """The attribution-due predicate of a queued row's line (for :func:`workers.changes.settle`)."""
    return exists(due_lines().where(OrderLine.id == LineChange.order_line_id))


async def _due_lines(conn: AsyncConnection, shop_id: int | None, limit: int, queued: Sequence[int]) -> list[_Line]:
    """Due lines: first lines newer than every attribution, then the queued lines still due."""
    base = _due_base().where(order_is_paid())
    if shop_id is not None:
        base = base.where(OrderLine.shop_id == shop_id)
    # Fast path: lines newer than every attribution (new lines arrive with higher ids).
    newest = select(func.max(LineAttribution.order_line_id)).scalar_subquery()
    fast = base.where(LineAttribution.id.is_(None), OrderLine.id > func.coalesce(newest, 0))
    rows = list(await conn.execute(_lock(fast.order_by(OrderLine.id).limit(limit), conn)))
    taken = {row[0] for row in rows}
    wanted = sorted(set(queued) - taken)
    for start in range(0, len(wanted), _CHUNK):
        if len(rows) >= limit:
            break
        chunk = _due_base().where(_due_filter(), among(conn, OrderLine.id, wanted[start : start + _CHUNK]))
        more = await conn.execute(_lock(chunk.order_by(OrderLine.id).limit(limit - len(rows)), conn))
        rows.extend(more)
    return [_to_line(row) for row in rows]


async def _rules(conn: AsyncConnection, shop_ids: Iterable[int] | None = None) -> dict[int, AttributionRules]:
    query = select(Shop.id, Shop.settings)
    if shop_ids is not None:
        query = query.where(Shop.id.in_(sorted(set(shop_ids))))
    return {shop: AttributionRules.from_settings(settings) for shop, settings in await conn.execute(query)}


def _session_columns() -> list[Any]:
    return [
        LiveSession.id,
        LiveSession.shop_id,
        LiveSession.room_id,
        LiveSession.started_at,
        LiveSession.ended_at,
        LiveSession.host_id,
        Host.author_id,
        _session_code(),
    ]


def _to_session(row: Any) -> SessionFacts:
    return SessionFacts(
        id=row[0],
        shop_id=row[1],
        room_id=row[2],
        started_at=row[3],
        ended_at=row[4],
        host_id=row[5],
        host_author_id=row[6],
        campaign_code=row[7],
    )


async def _index(conn: AsyncConnection, lines: Sequence[_Line], rules: dict[int, AttributionRules]) -> SessionIndex:
    """Every session a line of ``lines`` could belong to, and (for inferred shops) their windows."""
    sessions: dict[int, SessionFacts] = {}
    spans: dict[int, tuple[datetime, datetime]] = {}
    for line in lines:
        lo, hi = spans.get(line.facts.shop_id, (line.facts.paid_at, line.facts.paid_at))
        spans[line.facts.shop_id] = (min(lo, line.facts.paid_at), max(hi, line.facts.paid_at))
    for shop, (lo, hi) in spans.items():
        rule = rules.get(shop, DEFAULT_RULES)
        earliest = lo - rule.reach
        query = (
            select(*_session_columns())
            .outerjoin(Host, Host.id == LiveSession.host_id)
            .where(
                LiveSession.shop_id == shop,
                LiveSession.started_at <= hi,
                or_(
                    LiveSession.ended_at >= earliest,
                    and_(
                        LiveSession.ended_at.is_(None),
                        LiveSession.started_at >= earliest - timedelta(hours=rule.open_hours),
                    ),
                ),
            )
        )
        for row in await conn.execute(query):
            sessions[row[0]] = _to_session(row)
    codes = sorted({line.facts.campaign_code for line in lines if line.facts.campaign_code})
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start : start + _CHUNK]
        query = select(*_session_columns()).outerjoin(Host, Host.id == LiveSession.host_id)
        query = query.where(_session_code().in_(chunk))
        for row in await conn.execute(query):
            sessions[row[0]] = _to_session(row)
    windows: list[WindowFacts] = []
    inferring = sorted(s.id for s in sessions.values() if rules.get(s.shop_id, DEFAULT_RULES).inferred)
    for start in range(0, len(inferring), _CHUNK):
        query = select(
            ExplanationWindow.id,
            ExplanationWindow.session_id,
            ExplanationWindow.platform_item_id,
            ExplanationWindow.started_at,
            ExplanationWindow.ended_at,
            ExplanationWindow.platform_sku_id,
            ExplanationWindow.sku_id,
        ).where(ExplanationWindow.session_id.in_(inferring[start : start + _CHUNK]))
        windows.extend(WindowFacts(*row) for row in await conn.execute(query))
    return SessionIndex.build(sessions.values(), windows, rules)


async def _current(conn: AsyncConnection, line_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """The stored attributions of ``line_ids`` (read after the lines are locked)."""
    out: dict[int, tuple[Any, ...]] = {}
    ids = sorted(line_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = await conn.execute(
            select(
                LineAttribution.order_line_id,
                LineAttribution.session_id,
                LineAttribution.host_id,
                LineAttribution.explanation_window_id,
                LineAttribution.confidence,
                LineAttribution.rule,
                LineAttribution.line_version,
            ).where(among(conn, LineAttribution.order_line_id, ids[start : start + _CHUNK]))
        )
        for row in rows:
            out[row[0]] = tuple(row[1:])
    return out


def _upsert(conn: AsyncConnection) -> Any:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(LineAttribution)
    return stmt.on_conflict_do_update(
        index_elements=["order_line_id"],
        set_={
            name: stmt.excluded[name]
            for name in (
                "shop_id",
                "session_id",
                "host_id",
                "explanation_window_id",
                "confidence",
                "rule",
                "line_version",
                "attributed_at",
                "paid_at",
                "campaign_code",
            )
        },
    )


_PG_TYPES = {
    "order_line_id": "bigint",
    "shop_id": "bigint",
    "session_id": "bigint",
    "host_id": "bigint",
    "explanation_window_id": "bigint",
    "confidence": "varchar",
    "rule": "varchar",
    "line_version": "integer",
    "attributed_at": "timestamptz",
    "paid_at": "timestamptz",
    "campaign_code": "varchar",
}
_PG_CONFLICT = "ON CONFLICT (order_line_id) DO UPDATE SET " + ", ".join(
    f"{name} = EXCLUDED.{name}" for name in _PG_TYPES if name != "order_line_id"
)


async def _apply(conn: AsyncConnection, lines: Sequence[_Line], now: datetime, stats: AttributionStats) -> None:
    """Compute and write the attributions of ``lines`` (locked), bumping posting where needed."""
    if not lines:
        return
    rules = await _rules(conn, {line.facts.shop_id for line in lines})
    index = await _index(conn, lines, rules)
    current = await _current(conn, [line.id for line in lines])
    rows: list[dict[str, Any]] = []
    bump: list[int] = []
    for line in lines:
        verdict: Attribution = attribute(line.facts, index, rules.get(line.facts.shop_id, DEFAULT_RULES))
        stats.examined += 1
        setattr(stats, verdict.confidence.value, getattr(stats, verdict.confidence.value) + 1)
        old = current.get(line.id)
        new = (verdict.session_id, verdict.host_id, verdict.window_id, verdict.confidence, verdict.rule, line.version)
        if old is None:
            stats.first += 1
            stats.changed += 1
            if verdict.session_id is not None or verdict.host_id is not None:
                bump.append(line.id)
        elif tuple(old) != new:
            stats.changed += 1
            if (old[0], old[1]) != (verdict.session_id, verdict.host_id):
                stats.reattributed += 1
                bump.append(line.id)
        else:
            stats.unchanged += 1
        rows.append(
            {
                "order_line_id": line.id,
                "shop_id": line.facts.shop_id,
                "session_id": verdict.session_id,
                "host_id": verdict.host_id,
                "explanation_window_id": verdict.window_id,
                "confidence": verdict.confidence,
                "rule": verdict.rule,
                "line_version": line.version,
                "attributed_at": now,
                "paid_at": line.facts.paid_at,
                "campaign_code": line.facts.campaign_code,
            }
        )
    if conn.dialect.name == "postgresql":
        await pg_unnest_insert(conn, "line_attributions", rows, _PG_TYPES, conflict=_PG_CONFLICT)
    else:
        statement = _upsert(conn)
        for start in range(0, len(rows), _CHUNK):
            await conn.execute(statement, rows[start : start + _CHUNK])
    for start in range(0, len(bump), _CHUNK):
        result = await conn.execute(
            update(LineAccounting)
            .where(among(conn, LineAccounting.order_line_id, bump[start : start + _CHUNK]))
            .values(input_rev=LineAccounting.input_rev + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        stats.bumped += result.rowcount or 0


# -- sessions newer than attributions ------------------------------------------------------------

# id, shop, started, ended, campaign code, updated_at
_SessionRow = tuple[int, int, datetime, datetime | None, str | None, datetime]


async def _sessions_rows(conn: AsyncConnection, where: Any) -> list[_SessionRow]:
    rows = await conn.execute(
        select(
            LiveSession.id,
            LiveSession.shop_id,
            LiveSession.started_at,
            LiveSession.ended_at,
            _session_code(),
            LiveSession.updated_at,
        ).where(where)
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def _lines_near_sessions(
    conn: AsyncConnection,
    sessions: Sequence[_SessionRow],
    *,
    shop_id: int | None,
    limit: int,
    exclude: set[int],
    only_older: bool,
) -> list[_Line]:
    """Paid lines within the reach of ``sessions`` whose attribution is older than the session
    (``only_older``) or any; locked like the due lines."""
    if not sessions or limit <= 0:
        return []
    rules = await _rules(conn)
    found: dict[int, _Line] = {}
    for start in range(0, len(sessions), _SESSION_CHUNK):
        chunk = sessions[start : start + _SESSION_CHUNK]
        ranges = []
        for sid, shop, started, ended, code, updated in chunk:
            rule = rules.get(shop, DEFAULT_RULES)
            end = ended if ended is not None else started + timedelta(hours=rule.open_hours)
            ranges.append((sid, shop, started, end + rule.reach, code or "", updated))
        table = union_all(
            *(
                select(
                    literal(sid, IdType).label("sid"),
                    literal(shop, IdType).label("shop"),
                    literal(lo, UTCDateTime()).label("lo"),
                    literal(hi, UTCDateTime()).label("hi"),
                    literal(code, String(64)).label("code"),
                    literal(changed, UTCDateTime()).label("changed"),
                )
                for sid, shop, lo, hi, code, changed in ranges
            )
        ).subquery("changed_sessions")
        near = or_(
            and_(
                LineAttribution.shop_id == table.c.shop,
                LineAttribution.paid_at >= table.c.lo,
                LineAttribution.paid_at <= table.c.hi,
                LineAttribution.rule != RULE_ROOM,
            ),
            and_(LineAttribution.campaign_code == table.c.code, LineAttribution.rule != RULE_ROOM),
            LineAttribution.session_id == table.c.sid,
        )
        ids = select(LineAttribution.order_line_id).join(table, near)
        if only_older:
            ids = ids.where(LineAttribution.attributed_at < table.c.changed)
        if shop_id is not None:
            ids = ids.where(LineAttribution.shop_id == shop_id)
        query = (
            select(*_line_columns())
            .join(Order, Order.id == OrderLine.order_id)
            .where(order_is_paid(), OrderLine.id.in_(ids.scalar_subquery()))
            .order_by(OrderLine.id)
            .limit(limit + len(exclude) + len(found))
        )
        for row in await conn.execute(_lock(query, conn)):
            if row[0] not in exclude and row[0] not in found and len(found) < limit:
                found[row[0]] = _to_line(row)
    return list(found.values())


async def _newer_sessions(conn: AsyncConnection, shop_id: int | None) -> list[_SessionRow]:
    """Sessions changed after the oldest attribution (a cheap guard: none in steady state when
    every session is older than every attribution)."""
    oldest = select(func.min(LineAttribution.attributed_at))
    if shop_id is not None:
        oldest = oldest.where(LineAttribution.shop_id == shop_id)
    cutoff = await conn.scalar(oldest)
    if cutoff is None:
        return []
    return await _sessions_rows(conn, LiveSession.updated_at > cutoff)


# -- public --------------------------------------------------------------------------------------


async def attribute_lines(
    conn: AsyncConnection, *, shop_id: int | None = None, limit: int = 10_000
) -> AttributionStats:
    """Attribute up to ``limit`` due lines (see the module docstring). Runs in the caller's
    transaction; idempotent; safe on several workers at once."""
    now = datetime.now(UTC)
    stats = AttributionStats()
    queued = await changes.take(conn, changes.ATTRIBUTE, shop_id=shop_id, limit=limit)
    lines = await _due_lines(conn, shop_id, limit, [line_id for _row, line_id in queued])
    if len(lines) < limit:
        sessions = await _newer_sessions(conn, shop_id)
        near = await _lines_near_sessions(
            conn, sessions, shop_id=shop_id, limit=limit - len(lines), exclude={x.id for x in lines}, only_older=True
        )
        if near:
            stats.sessions = len({s[0] for s in sessions})
        lines.extend(near)
    await _apply(conn, lines, now, stats)
    stats.dequeued = await changes.settle(conn, changes.ATTRIBUTE, [row for row, _line_id in queued], _queued_due())
    # Session summaries: the sessions these attributions touched were marked by triggers;
    # recompute them in this transaction (bangfu.session_summaries).
    await session_summaries.refresh(conn)
    return stats


async def reattribute_for_sessions(
    conn: AsyncConnection, session_ids: Sequence[int], *, limit: int = 100_000
) -> AttributionStats:
    """Re-examine the attributed lines that the sessions ``session_ids`` could take (same shop
    and paid within their reach, same campaign code, or attributed to them), whatever their
    ``attributed_at``; for loaders to call right after storing sessions. Lines not attributed
    yet are left to :func:`attribute_lines`. Runs in the caller's transaction."""
    now = datetime.now(UTC)
    stats = AttributionStats()
    if not session_ids:
        return stats
    sessions = await _sessions_rows(conn, LiveSession.id.in_(sorted(set(session_ids))))
    stats.sessions = len(sessions)
    lines = await _lines_near_sessions(conn, sessions, shop_id=None, limit=limit, exclude=set(), only_older=False)
    await _apply(conn, lines, now, stats)
    await session_summaries.refresh(conn)  # the sessions marked by the attributions redone
    return stats


__all__ = ["AttributionStats", "attribute_lines", "due_lines", "reattribute_for_sessions"]
