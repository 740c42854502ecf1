"""Attribution: the pure rules, and the stage on both databases (exact, link, inferred, none;
re-attribution when a session arrives after its orders; idempotence)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.attribution_rules import (
    Attribution,
    AttributionRules,
    LineFacts,
    SessionFacts,
    SessionIndex,
    WindowFacts,
    attribute,
    stronger,
)
from bangfu.enums import AttributionConfidence, ChannelType, OrderStatus, PlatformKind
from bangfu.models import (
    ExplanationWindow,
    LineAccounting,
    LineAttribution,
    LiveSession,
    Order,
    OrderLine,
    Shop,
)
from bangfu.store import make_engine
from tests.workers.accounting_seed import PAID_AT, World, add_order, seed
from workers.attribution import attribute_lines, reattribute_for_sessions

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
EXACT, LINK, INFERRED, NONE = (
    AttributionConfidence.EXACT,
    AttributionConfidence.LINK,
    AttributionConfidence.INFERRED,
    AttributionConfidence.NONE,
)


def _session(sid: int, start_h: float, end_h: float | None, **kw: Any) -> SessionFacts:
    return SessionFacts(
        id=sid,
        shop_id=kw.pop("shop_id", 1),
        room_id=kw.pop("room_id", f"r{sid}"),
        started_at=T0 + timedelta(hours=start_h),
        ended_at=T0 + timedelta(hours=end_h) if end_h is not None else None,
        host_id=kw.pop("host_id", sid * 10),
        **kw,
    )


def _line(hours: float, **kw: Any) -> LineFacts:
    return LineFacts(shop_id=kw.pop("shop_id", 1), paid_at=T0 + timedelta(hours=hours), platform_item_id="i1", **kw)


# -- pure rules -----------------------------------------------------------------------------------


def test_room_id_is_exact_within_the_session_and_its_grace() -> None:
    index = SessionIndex.build([_session(1, 0, 2)])
    rules = AttributionRules()
    assert attribute(_line(1, room_id="r1"), index, rules).confidence is EXACT
    assert attribute(_line(2.4, room_id="r1"), index, rules).rule == "room_id"
    assert attribute(_line(3, room_id="r1"), index, rules).confidence is NONE  # past the 30 min grace
    assert attribute(_line(1, room_id="r1", shop_id=2), index, rules).confidence is NONE  # other shop


def test_author_id_takes_the_latest_session_started_before_payment() -> None:
    sessions = [_session(1, 0, 3, host_author_id="a"), _session(2, 1, 3, host_author_id="a")]
    verdict = attribute(_line(2, author_id="a"), SessionIndex.build(sessions), AttributionRules())
    assert (verdict.confidence, verdict.rule, verdict.session_id, verdict.host_id) == (EXACT, "author_id", 2, 20)


def test_campaign_code_links_any_shop_any_time() -> None:
    index = SessionIndex.build([_session(1, 0, 1, shop_id=9, campaign_code="CMP-1")])
    verdict = attribute(_line(100, campaign_code="CMP-1"), index, AttributionRules())
    assert (verdict.confidence, verdict.rule, verdict.session_id) == (LINK, "campaign_code", 1)
    assert attribute(_line(1, campaign_code="CMP-2"), index, AttributionRules()).confidence is NONE


def test_room_outranks_link() -> None:
    index = SessionIndex.build([_session(1, 0, 2), _session(2, 0, 2, campaign_code="C")])
    assert attribute(_line(1, room_id="r1", campaign_code="C"), index, AttributionRules()).session_id == 1


# The precedence table: room > author > link > inferred. One index holds a session for each rule,
# so every piece of evidence a line carries points at a different session; the line (paid at 1 h)
# carries each subset of room id, author id and campaign code, with the inferred rule on (a window
# explaining its item) and off.
PRECEDENCE_SESSIONS = [
    _session(1, 0, 2, room_id="r1"),  # named by the line's room id
    _session(2, 0, 2, host_author_id="a"),  # hosted by the line's author id
    _session(3, 0, 2, shop_id=9, campaign_code="C"),  # the line's campaign code (another shop)
    _session(4, 0.5, 2),  # explaining item i1 when the line was paid
]
PRECEDENCE_WINDOWS = [WindowFacts(41, 4, "i1", T0 + timedelta(minutes=45), T0 + timedelta(minutes=75))]
INFERRED_ON = AttributionRules(inferred=True)

# (room id, author id, campaign code) -> (confidence, rule, session, host) with inferred on; off
PRECEDENCE: list[tuple[tuple[str | None, str | None, str | None], tuple[Any, ...], tuple[Any, ...]]] = [
    (("r1", "a", "C"), (EXACT, "room_id", 1, 10), (EXACT, "room_id", 1, 10)),
    (("r1", "a", None), (EXACT, "room_id", 1, 10), (EXACT, "room_id", 1, 10)),
    (("r1", None, "C"), (EXACT, "room_id", 1, 10), (EXACT, "room_id", 1, 10)),
    (("r1", None, None), (EXACT, "room_id", 1, 10), (EXACT, "room_id", 1, 10)),
    ((None, "a", "C"), (EXACT, "author_id", 2, 20), (EXACT, "author_id", 2, 20)),
    ((None, "a", None), (EXACT, "author_id", 2, 20), (EXACT, "author_id", 2, 20)),
    ((None, None, "C"), (LINK, "campaign_code", 3, 30), (LINK, "campaign_code", 3, 30)),
    ((None, None, None), (INFERRED, "explanation", 4, 40), (NONE, "none", None, None)),
]


@pytest.mark.parametrize(("evidence", "with_inferred", "without_inferred"), PRECEDENCE)
def test_precedence_room_author_link_inferred(
    evidence: tuple[str | None, str | None, str | None],
    with_inferred: tuple[Any, ...],
    without_inferred: tuple[Any, ...],
) -> None:
    room, author, code = evidence
    index = SessionIndex.build(PRECEDENCE_SESSIONS, PRECEDENCE_WINDOWS)
    line = _line(1, room_id=room, author_id=author, campaign_code=code)
    on = attribute(line, index, INFERRED_ON)
    off = attribute(line, index, AttributionRules())
    assert (on.confidence, on.rule, on.session_id, on.host_id) == with_inferred
    assert (off.confidence, off.rule, off.session_id, off.host_id) == without_inferred


def test_evidence_that_finds_no_session_falls_to_the_next_rule() -> None:
    """A room id or author id naming no session live at payment gives way to the next rule."""
    index = SessionIndex.build(PRECEDENCE_SESSIONS, PRECEDENCE_WINDOWS)
    late = _line(3, room_id="r1", author_id="a", campaign_code="C")  # 1 h after both ended
    verdict = attribute(late, index, INFERRED_ON)
    assert (verdict.confidence, verdict.rule, verdict.session_id) == (LINK, "campaign_code", 3)
    unknown_room = _line(1, room_id="r-none", author_id="a", campaign_code="C")
    verdict = attribute(unknown_room, index, INFERRED_ON)
    assert (verdict.confidence, verdict.rule, verdict.session_id) == (EXACT, "author_id", 2)
    unknown_code = _line(1, campaign_code="C-none")
    verdict = attribute(unknown_code, index, INFERRED_ON)
    assert (verdict.confidence, verdict.rule, verdict.session_id) == (INFERRED, "explanation", 4)


# stronger(new, old): new's confidence ranks above old's (exact > link > inferred > none > nothing).
STRONGER: list[tuple[AttributionConfidence, AttributionConfidence | None, bool]] = [
    (EXACT, None, True),
    (EXACT, NONE, True),
    (EXACT, INFERRED, True),
    (EXACT, LINK, True),
    (EXACT, EXACT, False),
    (LINK, None, True),
    (LINK, NONE, True),
    (LINK, INFERRED, True),
    (LINK, LINK, False),
    (LINK, EXACT, False),
    (INFERRED, None, True),
    (INFERRED, NONE, True),
    (INFERRED, INFERRED, False),
    (INFERRED, LINK, False),
    (INFERRED, EXACT, False),
    (NONE, None, True),
    (NONE, NONE, False),
    (NONE, INFERRED, False),
    (NONE, LINK, False),
    (NONE, EXACT, False),
]


@pytest.mark.parametrize(("new", "old", "expected"), STRONGER)
def test_stronger(new: AttributionConfidence, old: AttributionConfidence | None, expected: bool) -> None:
    assert stronger(Attribution(new, "any", session_id=1), old) is expected


def test_inferred_is_off_by_default_and_configurable() -> None:
    window = WindowFacts(7, 1, "i1", T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    index = SessionIndex.build([_session(1, 0, 2)], [window])
    during = _line(0.25)
    assert attribute(during, index, AttributionRules()).confidence is NONE
    rules = AttributionRules.from_settings({"attribution": {"inferred": True, "after_hours": 2}})
    verdict = attribute(during, index, rules)
    assert (verdict.confidence, verdict.rule, verdict.window_id) == (INFERRED, "explanation", 7)
    after = attribute(_line(3.5), index, rules)
    assert (after.confidence, after.rule, after.session_id) == (INFERRED, "after_session", 1)
    assert attribute(_line(4.5), index, rules).confidence is NONE  # more than 2 h after the end
    other_item = LineFacts(shop_id=1, paid_at=T0 + timedelta(hours=0.25), platform_item_id="i2")
    assert attribute(other_item, index, rules).confidence is NONE  # never explained
    loose = AttributionRules.from_settings({"attribution": {"inferred": True, "require_explanation": False}})
    assert attribute(other_item, index, loose).rule == "after_session"


def test_settings_that_are_malformed_keep_the_defaults() -> None:
    assert AttributionRules.from_settings({"attribution": {"inferred": "yes", "after_hours": -1}}) == AttributionRules()
    assert AttributionRules.from_settings(None) == AttributionRules()


@settings(max_examples=200, deadline=None)
@given(
    starts=st.lists(st.integers(0, 48), min_size=1, max_size=6),
    lengths=st.lists(st.integers(0, 6), min_size=6, max_size=6),
    paid=st.integers(0, 60),
    author=st.booleans(),
)
def test_author_rule_picks_the_latest_live_session(
    starts: list[int], lengths: list[int], paid: int, author: bool
) -> None:
    """Property: the chosen session is live (or in grace) at payment, and no other such session
    started later; without any, no session."""
    sessions = [_session(i + 1, s, s + lengths[i], host_author_id="a") for i, s in enumerate(starts)]
    line = _line(paid, author_id="a" if author else None)
    verdict = attribute(line, SessionIndex.build(sessions), AttributionRules(grace=timedelta(0)))
    live = [s for s in sessions if s.started_at <= line.paid_at <= (s.ended_at or s.started_at)]
    if not author or not live:
        assert verdict.confidence is NONE
    else:
        best = max(live, key=lambda s: (s.started_at, s.id))
        assert verdict.session_id == best.id


# -- the stage --------------------------------------------------------------------------------------


async def _attribution(conn: AsyncConnection, line_id: int) -> tuple[Any, ...] | None:
    row = (
        await conn.execute(
            select(
                LineAttribution.session_id,
                LineAttribution.host_id,
                LineAttribution.confidence,
                LineAttribution.rule,
                LineAttribution.line_version,
            ).where(LineAttribution.order_line_id == line_id)
        )
    ).first()
    return tuple(row) if row is not None else None


async def _all(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    rows = await conn.execute(select(LineAttribution).order_by(LineAttribution.order_line_id))
    return [tuple(row) for row in rows]


async def _set_order(conn: AsyncConnection, line_id: int, **values: Any) -> None:
    order_id = await conn.scalar(select(OrderLine.order_id).where(OrderLine.id == line_id))
    await conn.execute(update(Order).where(Order.id == order_id).values(**values))


async def test_exact_link_inferred_and_none_then_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world: World = await seed(conn)
            await conn.execute(
                update(LiveSession)
                .where(LiveSession.id == world.session)
                .values(ended_at=PAID_AT.replace(hour=5), campaign_code=None)
            )
            _, (room_line,) = await add_order(conn, world, [(world.coop_sku, 1, 1000)])
            room = await conn.scalar(select(LiveSession.room_id).where(LiveSession.id == world.session))
            await _set_order(conn, room_line, room_id=room)
            # a self-mall shop with a campaign session
            mall = await conn.scalar(
                insert(Shop)
                .values(
                    name="mall",
                    platform=PlatformKind.SELFMALL,
                    channel_type=ChannelType.SELFMALL,
                    platform_shop_id=f"mall{world.shop}",
                    settings={},
                )
                .returning(Shop.id)
            )
            campaign = await conn.scalar(
                insert(LiveSession)
                .values(
                    shop_id=mall,
                    room_id="wx-1",
                    started_at=PAID_AT - timedelta(days=3),
                    ended_at=PAID_AT - timedelta(days=3, hours=-2),
                    raw={"campaign_code": f"CMP-{world.shop}"},
                )
                .returning(LiveSession.id)
            )
            _, (link_line,) = await add_order(conn, world, [(world.coop_sku, 1, 1000)])
            await _set_order(conn, link_line, campaign_code=f"CMP-{world.shop}")
            _, (none_line,) = await add_order(
                conn, world, [(world.coop_sku, 1, 1000)], paid_at=PAID_AT + timedelta(hours=4)
            )
            _, (unpaid_line,) = await add_order(
                conn,
                world,
                [(world.coop_sku, 1, 1000)],
                status=OrderStatus.PENDING_PAYMENT,
            )

        async with engine.begin() as conn:
            stats = await attribute_lines(conn)
        assert (stats.first, stats.exact, stats.link, stats.none) == (3, 1, 1, 1)
        async with engine.connect() as conn:
            assert await _attribution(conn, room_line) == (world.session, world.host, EXACT, "room_id", 1)
            assert await _attribution(conn, link_line) == (campaign, None, LINK, "campaign_code", 1)
            assert await _attribution(conn, none_line) == (None, None, NONE, "none", 1)
            assert await _attribution(conn, unpaid_line) is None
            before = await _all(conn)

        async with engine.begin() as conn:
            again = await attribute_lines(conn)
        assert again.examined == 0 and again.changed == 0
        async with engine.connect() as conn:
            assert await _all(conn) == before

        # inferred: turn it on for the shop, add an explanation window covering the line's payment
        async with engine.begin() as conn:
            await conn.execute(
                update(Shop).where(Shop.id == world.shop).values(settings={"attribution": {"inferred": True}})
            )
            await conn.execute(
                insert(ExplanationWindow).values(
                    session_id=world.session,
                    platform_item_id="item",
                    started_at=PAID_AT.replace(hour=4),
                    ended_at=PAID_AT.replace(hour=4, minute=30),
                )
            )
            _, (inferred_line,) = await add_order(
                conn, world, [(world.coop_sku, 1, 1000)], paid_at=PAID_AT.replace(minute=10)
            )
            await attribute_lines(conn)
        async with engine.connect() as conn:
            got = await _attribution(conn, inferred_line)
            assert got is not None and got[2] is INFERRED and got[3] == "explanation"
    finally:
        await engine.dispose()


async def test_a_session_arriving_after_its_orders_reattributes_and_bumps_posting(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world = await seed(conn)
            _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 1000)])
            await _set_order(conn, line, room_id="late-room")
            await conn.execute(
                insert(LineAccounting).values(order_line_id=line, shop_id=world.shop, line_version=1, input_rev=1)
            )
        async with engine.begin() as conn:
            await attribute_lines(conn)
        async with engine.connect() as conn:
            assert await _attribution(conn, line) == (None, None, NONE, "none", 1)

        async with engine.begin() as conn:  # the session is synced later
            late = await conn.scalar(
                insert(LiveSession)
                .values(
                    shop_id=world.shop,
                    room_id="late-room",
                    host_id=world.host,
                    started_at=PAID_AT - timedelta(hours=1),
                    ended_at=PAID_AT + timedelta(hours=1),
                )
                .returning(LiveSession.id)
            )
        assert late is not None
        async with engine.begin() as conn:
            stats = await attribute_lines(conn)
        assert (stats.reattributed, stats.bumped, stats.sessions) == (1, 1, 1)
        async with engine.connect() as conn:
            assert await _attribution(conn, line) == (late, world.host, EXACT, "room_id", 1)
            assert await conn.scalar(select(LineAccounting.input_rev).where(LineAccounting.order_line_id == line)) == 2
        async with engine.begin() as conn:  # looked at once
            quiet = await attribute_lines(conn)
        assert (quiet.examined, quiet.changed, quiet.bumped) == (0, 0, 0)

        async with engine.begin() as conn:  # the explicit hook finds it too, and changes nothing
            hooked = await reattribute_for_sessions(conn, [late])
        assert (hooked.examined, hooked.changed, hooked.bumped) == (1, 0, 0)
    finally:
        await engine.dispose()


async def test_a_new_line_version_is_attributed_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world = await seed(conn)
            _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 1000)])
            await attribute_lines(conn)
            await conn.execute(update(OrderLine).where(OrderLine.id == line).values(version=2))
            stats = await attribute_lines(conn)
        assert (stats.examined, stats.changed, stats.reattributed) == (1, 1, 0)
        async with engine.connect() as conn:
            assert await _attribution(conn, line) == (None, None, NONE, "none", 2)
    finally:
        await engine.dispose()
