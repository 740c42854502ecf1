"""A season is a calendar quarter in Asia/Shanghai time, written ``2026Q3``.

Quarters, not each product's own growing season: the hub has no crop calendar per product, every
product sells all year round through some channel, and a quarter is what a county reports by.
The seasonal cycle of a quarterly series is 4 (:data:`PERIOD`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from bangfu.clock import SHANGHAI

__all__ = ["PERIOD", "Season"]

PERIOD = 4  # seasons in a year: the seasonal cycle of the forecast
_LABEL = re.compile(r"([0-9]{4})\s*[Qq]([1-4])")


@dataclass(frozen=True, order=True)
class Season:
    year: int
    quarter: int  # 1..4

    def __post_init__(self) -> None:
        if not 1 <= self.quarter <= 4 or not 2000 <= self.year <= 2100:
            raise ValueError(f"no season {self.year}Q{self.quarter}: years 2000-2100, quarters 1-4")

    @classmethod
    def parse(cls, text: str) -> Season:
        """``2026Q3`` (also ``2026q3``, ``2026 Q3``); anything else is a ValueError saying so."""
        match = _LABEL.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a season: write the year and quarter like 2026Q3")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Season:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def of_instant(cls, instant: datetime) -> Season:
        return cls.of(instant.astimezone(SHANGHAI).date())

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}"

    def __str__(self) -> str:
        return self.label

    @property
    def index(self) -> int:
        """Quarters since year 0: consecutive seasons differ by 1."""
        return self.year * 4 + self.quarter - 1

    @classmethod
    def from_index(cls, index: int) -> Season:
        return cls(index // 4, index % 4 + 1)

    def shift(self, quarters: int) -> Season:
        return Season.from_index(self.index + quarters)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def last_day(self) -> date:
        nxt = self.shift(1).first_day
        return date.fromordinal(nxt.toordinal() - 1)

    @property
    def start(self) -> datetime:
        """The first instant of the season, UTC."""
        return datetime.combine(self.first_day, time(), SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the season, UTC."""
        return self.shift(1).start

    def upto(self, last: Season) -> list[Season]:
        """This season and every one after it up to ``last`` (empty when ``last`` is earlier)."""
        return [Season.from_index(i) for i in range(self.index, last.index + 1)]
