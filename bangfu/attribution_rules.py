"""Which live session sold an order line: DOMAIN.md "Attribution of a sale to a live session".

Plain functions over plain values, no I/O (``workers/attribution.py`` loads the values and
writes the verdicts). The rules, strongest first; the first that finds a session wins:

1. ``room_id`` (``exact``): the line's room id (else the order's) names a session of the same
   shop, and the line was paid while it was live or within ``grace`` after it ended.
2. ``author_id`` (``exact``): the line's author id (else the order's) is the host of a session of
   the same shop live at payment (or within ``grace`` after it).
3. ``campaign_code`` (``link``): the order's campaign code is a session's code (any shop, any
   time: the link or QR code was made for that one session).
4. Only when the shop turns it on (``shops.settings["attribution"]["inferred"]``, off by default):
   ``explanation`` (``inferred``): paid while a session of the same shop was live and explaining
   the line's SKU or item; ``after_session`` (``inferred``): paid during a same-shop session, or
   within ``after_hours`` after it ended, when that session explained the line's SKU or item
   before the payment (``require_explanation: false`` drops that condition).
5. Otherwise ``none``: no session; the sale still belongs to its channel.

Ties inside a rule: the session that started latest at or before the payment, then the
highest id (a room id is unique per shop, a campaign code is unique, so ties only arise for
the author and inferred rules). A session with no end yet counts as live until ``open_hours``
after its start.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bangfu.enums import AttributionConfidence

RULE_ROOM = "room_id"
RULE_AUTHOR = "author_id"
RULE_CAMPAIGN = "campaign_code"
RULE_EXPLANATION = "explanation"
RULE_AFTER = "after_session"
RULE_NONE = "none"

#: Rank of a confidence: a higher rank is stronger evidence.
CONFIDENCE_RANK: Mapping[AttributionConfidence, int] = {
    AttributionConfidence.NONE: 0,
    AttributionConfidence.INFERRED: 1,
    AttributionConfidence.LINK: 2,
    AttributionConfidence.EXACT: 3,
}


@dataclass(frozen=True, slots=True)
class AttributionRules:
    """A shop's attribution settings (``shops.settings["attribution"]``)."""

    grace: timedelta = timedelta(minutes=30)  # exact rules: paid this long after the end still counts
    inferred: bool = False  # the fallback window; off by default for platform orders
    after_hours: float = 2.0  # inferred: hours after the session's end
    require_explanation: bool = True  # inferred after_session: the session explained the item
    open_hours: float = 12.0  # a session without an end is live this long after its start

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> AttributionRules:
        """Read ``{"attribution": {"inferred": true, "after_hours": 2, "grace_minutes": 30,
        "require_explanation": true}}``; anything missing or malformed keeps its default."""
        conf = (settings or {}).get("attribution")
        if not isinstance(conf, Mapping):
            return cls()
        default = cls()

        def number(key: str, fallback: float) -> float:
            value = conf.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return fallback
            return float(value)

        def flag(key: str, fallback: bool) -> bool:
            value = conf.get(key)
            return value if isinstance(value, bool) else fallback

        return cls(
            grace=timedelta(minutes=number("grace_minutes", default.grace.total_seconds() / 60)),
            inferred=flag("inferred", default.inferred),
            after_hours=number("after_hours", default.after_hours),
            require_explanation=flag("require_explanation", default.require_explanation),
            open_hours=number("open_hours", default.open_hours),
        )

    @property
    def reach(self) -> timedelta:
        """How long after a session's end a payment can still be attributed to it."""
        after = timedelta(hours=self.after_hours) if self.inferred else timedelta(0)
        return max(self.grace, after)


DEFAULT_RULES = AttributionRules()


@dataclass(frozen=True, slots=True)
class SessionFacts:
    id: int
    shop_id: int
    room_id: str
    started_at: datetime
    ended_at: datetime | None = None
    host_id: int | None = None
    host_author_id: str | None = None
    campaign_code: str | None = None


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """An explanation (讲解) window of a session."""

    id: int
    session_id: int
    platform_item_id: str
    started_at: datetime
    ended_at: datetime
    platform_sku_id: str | None = None
    sku_id: int | None = None


@dataclass(frozen=True, slots=True)
class LineFacts:
    """What the rules read of an order line and its order."""

    shop_id: int
    paid_at: datetime
    platform_item_id: str = ""
    platform_sku_id: str | None = None
    sku_id: int | None = None
    room_id: str | None = None  # the line's, else the order's
    author_id: str | None = None  # the line's, else the order's
    campaign_code: str | None = None  # the order's


@dataclass(frozen=True, slots=True)
class Attribution:
    confidence: AttributionConfidence
    rule: str
    session_id: int | None = None
    host_id: int | None = None
    window_id: int | None = None


NONE = Attribution(AttributionConfidence.NONE, RULE_NONE)


def session_end(session: SessionFacts, rules: AttributionRules) -> datetime:
    """When the session stopped being live (an open session: ``open_hours`` after its start)."""
    if session.ended_at is not None:
        return session.ended_at
    return session.started_at + timedelta(hours=rules.open_hours)


def _live_within(session: SessionFacts, paid_at: datetime, after: timedelta, rules: AttributionRules) -> bool:
    return session.started_at <= paid_at <= session_end(session, rules) + after


def _latest(sessions: Iterable[SessionFacts]) -> SessionFacts | None:
    best: SessionFacts | None = None
    for session in sessions:
        if best is None or (session.started_at, session.id) > (best.started_at, best.id):
            best = session
    return best


def _window_matches(window: WindowFacts, line: LineFacts) -> bool:
    if window.sku_id is not None and line.sku_id is not None:
        return window.sku_id == line.sku_id
    if window.platform_item_id != line.platform_item_id:
        return False
    if window.platform_sku_id is None or line.platform_sku_id is None:
        return True
    return window.platform_sku_id == line.platform_sku_id


@dataclass
class SessionIndex:
    """Sessions and explanation windows indexed for the rules; build once per batch."""

    by_room: dict[tuple[int, str], SessionFacts] = field(default_factory=dict)
    by_author: dict[tuple[int, str], list[SessionFacts]] = field(default_factory=lambda: defaultdict(list))
    by_code: dict[str, SessionFacts] = field(default_factory=dict)
    by_shop: dict[int, list[SessionFacts]] = field(default_factory=lambda: defaultdict(list))
    starts: dict[int, list[datetime]] = field(default_factory=dict)
    windows: dict[int, list[WindowFacts]] = field(default_factory=lambda: defaultdict(list))
    longest: dict[int, timedelta] = field(default_factory=dict)  # per shop: the longest session

    @classmethod
    def build(
        cls,
        sessions: Iterable[SessionFacts],
        windows: Iterable[WindowFacts] = (),
        rules: Mapping[int, AttributionRules] | None = None,
    ) -> SessionIndex:
        """``rules`` by shop gives each shop's ``open_hours`` (the default rules otherwise)."""
        index = cls()
        for session in sorted(sessions, key=lambda s: (s.started_at, s.id)):
            index.by_room[(session.shop_id, session.room_id)] = session
            if session.host_author_id:
                index.by_author[(session.shop_id, session.host_author_id)].append(session)
            if session.campaign_code:
                index.by_code[session.campaign_code] = session
            index.by_shop[session.shop_id].append(session)
            span = session_end(session, (rules or {}).get(session.shop_id, DEFAULT_RULES)) - session.started_at
            index.longest[session.shop_id] = max(index.longest.get(session.shop_id, timedelta(0)), span)
        index.starts = {shop: [s.started_at for s in listed] for shop, listed in index.by_shop.items()}
        for window in windows:
            index.windows[window.session_id].append(window)
        return index

    def shop_sessions_before(self, shop_id: int, moment: datetime, reach: timedelta) -> Iterator[SessionFacts]:
        """The shop's sessions started at or before ``moment``, latest first, stopping once no
        session could still be live (or ended less than ``reach`` ago) at ``moment``."""
        listed = self.by_shop.get(shop_id)
        if not listed:
            return
        oldest = moment - self.longest.get(shop_id, timedelta(0)) - reach
        for position in range(bisect.bisect_right(self.starts[shop_id], moment) - 1, -1, -1):
            session = listed[position]
            if session.started_at < oldest:
                return
            yield session


def attribute(line: LineFacts, index: SessionIndex, rules: AttributionRules) -> Attribution:
    """The attribution of one paid line (see the module docstring for the rules and ties)."""
    paid = line.paid_at
    if line.room_id:
        session = index.by_room.get((line.shop_id, line.room_id))
        if session is not None and _live_within(session, paid, rules.grace, rules):
            return Attribution(AttributionConfidence.EXACT, RULE_ROOM, session.id, session.host_id)
    if line.author_id:
        candidates = index.by_author.get((line.shop_id, line.author_id), ())
        session = _latest(s for s in candidates if _live_within(s, paid, rules.grace, rules))
        if session is not None:
            return Attribution(AttributionConfidence.EXACT, RULE_AUTHOR, session.id, session.host_id)
    if line.campaign_code:
        session = index.by_code.get(line.campaign_code)
        if session is not None:
            return Attribution(AttributionConfidence.LINK, RULE_CAMPAIGN, session.id, session.host_id)
    if rules.inferred:
        return _inferred(line, index, rules)
    return NONE


def _inferred(line: LineFacts, index: SessionIndex, rules: AttributionRules) -> Attribution:
    paid = line.paid_at
    after = timedelta(hours=rules.after_hours)
    fallback: Attribution | None = None
    for session in index.shop_sessions_before(line.shop_id, paid, after):  # latest start first
        if paid > session_end(session, rules) + after:
            continue
        live = paid <= session_end(session, rules)
        explained: WindowFacts | None = None
        for window in index.windows.get(session.id, ()):
            if window.started_at <= paid and _window_matches(window, line):
                if live and paid <= window.ended_at:
                    return Attribution(
                        AttributionConfidence.INFERRED, RULE_EXPLANATION, session.id, session.host_id, window.id
                    )
                if explained is None or (window.started_at, window.id) > (explained.started_at, explained.id):
                    explained = window
        if fallback is None and (explained is not None or not rules.require_explanation):
            fallback = Attribution(
                AttributionConfidence.INFERRED,
                RULE_AFTER,
                session.id,
                session.host_id,
                explained.id if explained is not None else None,
            )
    return fallback or NONE


def stronger(new: Attribution, old_confidence: AttributionConfidence | None) -> bool:
    """True when ``new`` is stronger evidence than an attribution of ``old_confidence``."""
    old = CONFIDENCE_RANK[old_confidence] if old_confidence is not None else -1
    return CONFIDENCE_RANK[new.confidence] > old


__all__ = [
    "CONFIDENCE_RANK",
    "DEFAULT_RULES",
    "NONE",
    "RULE_AFTER",
    "RULE_AUTHOR",
    "RULE_CAMPAIGN",
    "RULE_EXPLANATION",
    "RULE_NONE",
    "RULE_ROOM",
    "Attribution",
    "AttributionRules",
    "LineFacts",
    "SessionFacts",
    "SessionIndex",
    "WindowFacts",
    "attribute",
    "session_end",
    "stronger",
]
