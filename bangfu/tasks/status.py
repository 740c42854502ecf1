"""Pure rules of the task ledger: where a task stands, from its target and its progress entries.

- *Progress* is the latest entry's value (latest ``as_of``, then the latest recorded); the
  *share* is progress / target, at most 1.
- *Done*: progress has reached the target (whatever the date).
- *Overdue*: not done and the deadline has passed (today is after it).
- *At risk*: not done, the deadline not passed, and the share is more than
  :data:`AT_RISK_MARGIN` (10 percentage points) below the *elapsed share*: the part of the time
  from 1 January of the task's year to its deadline that has gone by today. A task half-way
  through its time with 35% done is at risk; with 45% it is not. The margin keeps a task that
  reports monthly from flickering between the two.
- *On track*: everything else.
- A *quarter's value* is the progress as of the quarter's last day (the latest entry on or
  before it); a quarter that has not begun has none, the current quarter shows progress so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

AT_RISK_MARGIN = Decimal("0.10")
STATUSES = ("done", "on_track", "at_risk", "overdue")


@dataclass(frozen=True)
class Entry:
    as_of: date
    value: int
    order: int = 0  # ties on the same date: the later recorded wins


def latest(entries: Sequence[Entry]) -> Entry | None:
    return max(entries, key=lambda e: (e.as_of, e.order), default=None)


def value_on(entries: Sequence[Entry], day: date) -> int | None:
    """The progress as of ``day``: the latest entry on or before it."""
    found = latest([e for e in entries if e.as_of <= day])
    return None if found is None else found.value


def share(value: int | None, target: int) -> Decimal:
    """Progress / target, rounded to four places, between 0 and 1."""
    if target <= 0:
        return Decimal(1)
    if not value or value < 0:
        return Decimal(0)
    return min(Decimal(1), (Decimal(value) / Decimal(target)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def elapsed_share(year: int, deadline: date, today: date) -> Decimal:
    """The part of the time from 1 January of ``year`` to ``deadline`` gone by ``today`` (0..1)."""
    start = date(year, 1, 1)
    total = (deadline - start).days
    if total <= 0:
        return Decimal(1) if today >= deadline else Decimal(0)
    gone = min(max((today - start).days, 0), total)
    return (Decimal(gone) / Decimal(total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def status(value: int | None, target: int, year: int, deadline: date, today: date) -> str:
    """``done``, ``overdue``, ``at_risk`` or ``on_track`` (see the module docstring)."""
    if value is not None and value >= target:
        return "done"
    if today > deadline:
        return "overdue"
    if share(value, target) < elapsed_share(year, deadline, today) - AT_RISK_MARGIN:
        return "at_risk"
    return "on_track"


def quarter_ends(year: int) -> list[date]:
    return [date(year, 3, 31), date(year, 6, 30), date(year, 9, 30), date(year, 12, 31)]


def quarter_values(entries: Sequence[Entry], year: int, today: date) -> list[int | None]:
    """Progress at each quarter's end (Q1..Q4); None for a quarter not begun or without a report."""
    out: list[int | None] = []
    for q, end in enumerate(quarter_ends(year)):
        begins = date(year, 3 * q + 1, 1)
        out.append(None if begins > today else value_on(entries, min(end, today)))
    return out
