"""Time windows and the platforms' local time.

Everything in the hub is aware UTC; platforms speak Beijing time (Asia/Shanghai, UTC+8, no DST)
as ``yyyy-MM-dd HH:mm:ss`` strings, or epoch seconds / milliseconds. Convert at the edge with
:func:`to_local_str` / :func:`parse_local` / :func:`to_epoch_s` / :func:`from_epoch_ms`.

Windows are half-open ``[start, end)``. :func:`split_windows` cuts a range into consecutive
windows no wider than a platform's limit; :func:`sync_range` is the incremental range
``[watermark - overlap, now - lag)`` from PLATFORMS.md section 7.

Platforms that take inclusive ``end`` values at one-second resolution (TOP ``end_modified``,
JD ``end_date``) can use :func:`inclusive_end` so adjacent windows do not both claim a second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bangfu.clock import SHANGHAI, utcnow

__all__ = [
    "SHANGHAI",
    "UTC",
    "ensure_utc",
    "from_epoch_ms",
    "from_epoch_s",
    "inclusive_end",
    "parse_local",
    "split_windows",
    "sync_range",
    "to_epoch_ms",
    "to_epoch_s",
    "to_local_str",
    "utcnow",
]

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BEIJING_OFFSET = timedelta(hours=8)


def ensure_utc(dt: datetime, name: str = "datetime") -> datetime:
    """``dt`` converted to UTC; a naive datetime is refused, never guessed."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {dt!r}")
    return dt.astimezone(UTC)


def split_windows(start: datetime, end: datetime, width: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive half-open windows covering ``[start, end)``, each at most ``width`` wide.

    Windows are aligned on ``start``; the last one is cut at ``end``. An empty range
    (``end <= start``) gives no windows.
    """
    start = ensure_utc(start, "start")
    end = ensure_utc(end, "end")
    if width <= timedelta(0):
        raise ValueError(f"window width must be positive, got {width}")
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + width, end)
        windows.append((cursor, stop))
        cursor = stop
    return windows


def sync_range(
    watermark: datetime | None,
    now: datetime,
    overlap: timedelta = timedelta(minutes=10),
    lag: timedelta = timedelta(minutes=2),
    *,
    initial: timedelta = timedelta(days=90),
) -> tuple[datetime, datetime]:
    """The modified-time range to pull this run: ``[watermark - overlap, now - lag)``.

    Without a watermark (first run) the range starts ``initial`` before ``now``. The end is
    held ``lag`` behind now (platforms index with a delay). The range may be empty
    (start >= end) when the watermark is already close to now; callers then pull nothing.
    """
    now = ensure_utc(now, "now")
    if overlap < timedelta(0) or lag < timedelta(0):
        raise ValueError("overlap and lag must not be negative")
    end = now - lag
    start = end - initial if watermark is None else ensure_utc(watermark, "watermark") - overlap
    return start, end


def inclusive_end(end: datetime, resolution: timedelta = timedelta(seconds=1)) -> datetime:
    """The last instant of ``[start, end)`` at ``resolution`` (for APIs with inclusive ends)."""
    return ensure_utc(end, "end") - resolution


def to_local_str(dt: datetime, fmt: str = LOCAL_FORMAT) -> str:
    """Aware ``dt`` as Beijing-time text (``2024-05-01 08:00:00`` for 00:00 UTC)."""
    return ensure_utc(dt).astimezone(SHANGHAI).strftime(fmt)


def parse_local(text: str, fmt: str = LOCAL_FORMAT) -> datetime:
    """Beijing-time text to aware UTC. Raises ``ValueError`` on a malformed value."""
    if not isinstance(text, str):
        raise ValueError(f"expected a time string, got {type(text).__name__}: {text!r}")
    if fmt == LOCAL_FORMAT and len(text) == 19 and text[10] == " ":
        # Hot path (every order has several): fromisoformat is ~6x faster than strptime, and
        # Shanghai has been UTC+8 without DST since 1992. Anything else takes the slow path.
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if naive.year >= 1992:
                return (naive - _BEIJING_OFFSET).replace(tzinfo=UTC)
    naive = datetime.strptime(text.strip(), fmt)
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=SHANGHAI).astimezone(UTC)


def to_epoch_s(dt: datetime) -> int:
    """Whole seconds since the epoch (floor)."""
    return (ensure_utc(dt) - _EPOCH) // timedelta(seconds=1)


def to_epoch_ms(dt: datetime) -> int:
    """Whole milliseconds since the epoch (floor)."""
    return (ensure_utc(dt) - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_s(value: int | str) -> datetime:
    """Epoch seconds (int or digit string) to aware UTC; bools and floats are refused."""
    return _EPOCH + timedelta(seconds=_as_int(value))


def from_epoch_ms(value: int | str) -> datetime:
    """Epoch milliseconds (int or digit string) to aware UTC; bools and floats are refused."""
    return _EPOCH + timedelta(milliseconds=_as_int(value))


def _as_int(value: int | str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer epoch, got {type(value).__name__}: {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise ValueError(f"expected an integer epoch, got {value!r}")
        return int(text)
    return value
