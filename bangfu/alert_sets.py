"""One kind of alert kept in step with what a run wants open, in the caller's transaction.

A periodic check (unsold stock, agreements behind schedule) computes the alerts it wants open,
keyed by what each is about (a lot id, an agreement id) as ``(severity, message, detail JSON)``.
:func:`keep_open` then refreshes the open alert of each key when its text or figures changed,
opens one for each key without one, and resolves every other open alert of the kind (one no
longer wanted, a duplicate, or one whose subject it cannot read). Run again on the same facts it
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import Alert

Wanted = Mapping[int, tuple[str, str, str]]  # key -> (severity, message, detail JSON)


@dataclass(frozen=True)
class Kept:
    opened: int
    refreshed: int
    resolved: int


async def keep_open(
    conn: AsyncConnection,
    kind: str,
    wanted: Wanted,
    *,
    key_of: Callable[[str | None], int | None],
    subject_of: Callable[[int], str],
    now: datetime,
) -> Kept:
    """Make the open alerts of ``kind`` exactly ``wanted`` (see the module docstring)."""
    open_alerts = (
        await conn.execute(
            select(Alert.id, Alert.subject, Alert.severity, Alert.message, Alert.detail)
            .where(Alert.kind == kind, Alert.resolved_at.is_(None))
            .order_by(Alert.id)
        )
    ).all()
    seen: set[int] = set()
    to_resolve: list[int] = []
    refreshed = 0
    for alert in open_alerts:
        key = key_of(alert.subject)
        if key is None or key not in wanted or key in seen:
            to_resolve.append(int(alert.id))
            continue
        seen.add(key)
        severity, message, detail = wanted[key]
        if (alert.severity, alert.message, alert.detail) != (severity, message, detail):
            await conn.execute(
                update(Alert).where(Alert.id == alert.id).values(severity=severity, message=message, detail=detail)
            )
            refreshed += 1
    if to_resolve:
        await conn.execute(update(Alert).where(Alert.id.in_(to_resolve)).values(resolved_at=now))
    fresh = [
        {
            "kind": kind,
            "severity": severity,
            "shop_id": None,
            "subject": subject_of(key),
            "message": message,
            "detail": detail,
            "created_at": now,
        }
        for key, (severity, message, detail) in sorted(wanted.items())
        if key not in seen
    ]
    if fresh:
        await conn.execute(insert(Alert), fresh)
    return Kept(len(fresh), refreshed, len(to_resolve))
