"""connectors.windows: splitting, incremental ranges, Beijing time and epochs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.windows import (
    SHANGHAI,
    ensure_utc,
    from_epoch_ms,
    from_epoch_s,
    inclusive_end,
    parse_local,
    split_windows,
    sync_range,
    to_epoch_ms,
    to_epoch_s,
    to_local_str,
)

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def test_split_exact_multiple() -> None:
    windows = split_windows(T0, T0 + timedelta(hours=2), timedelta(minutes=30))
    assert windows == [(T0 + timedelta(minutes=30 * i), T0 + timedelta(minutes=30 * (i + 1))) for i in range(4)]


def test_split_cuts_the_last_window_at_end() -> None:
    windows = split_windows(T0, T0 + timedelta(minutes=70), timedelta(minutes=30))
    assert [(b - a) for a, b in windows] == [timedelta(minutes=30)] * 2 + [timedelta(minutes=10)]


def test_split_empty_and_invalid() -> None:
    assert split_windows(T0, T0, timedelta(minutes=1)) == []
    assert split_windows(T0, T0 - timedelta(seconds=1), timedelta(minutes=1)) == []
    with pytest.raises(ValueError, match="positive"):
        split_windows(T0, T0 + timedelta(hours=1), timedelta(0))
    with pytest.raises(ValueError, match="naive"):
        split_windows(datetime(2024, 5, 1), T0, timedelta(minutes=1))


def test_split_returns_utc_from_other_offsets() -> None:
    beijing = T0.astimezone(timezone(timedelta(hours=8)))
    ((start, end),) = split_windows(beijing, beijing + timedelta(minutes=5), timedelta(hours=1))
    assert start == T0 and start.tzinfo is UTC and end.tzinfo is UTC


@given(
    start_s=st.integers(min_value=0, max_value=10**9),
    length_s=st.integers(min_value=0, max_value=2 * 86400),
    width_s=st.integers(min_value=60, max_value=86400),
)
def test_split_properties(start_s: int, length_s: int, width_s: int) -> None:
    start = from_epoch_s(start_s)
    end = start + timedelta(seconds=length_s)
    width = timedelta(seconds=width_s)
    windows = split_windows(start, end, width)
    if length_s == 0:
        assert windows == []
        return
    assert windows[0][0] == start and windows[-1][1] == end
    for (_, b), (c, _) in itertools.pairwise(windows):
        assert b == c  # contiguous, no gap, no overlap
    assert all(timedelta(0) < b - a <= width for a, b in windows)
    assert len(windows) == -(-length_s // width_s)


def test_sync_range_with_watermark() -> None:
    now = T0 + timedelta(hours=5)
    start, end = sync_range(T0, now, overlap=timedelta(minutes=10), lag=timedelta(minutes=2))
    assert start == T0 - timedelta(minutes=10)
    assert end == now - timedelta(minutes=2)


def test_sync_range_first_run_and_validation() -> None:
    start, end = sync_range(None, T0, initial=timedelta(days=3), lag=timedelta(0))
    assert (start, end) == (T0 - timedelta(days=3), T0)
    with pytest.raises(ValueError):
        sync_range(T0, T0, overlap=timedelta(minutes=-1))
    with pytest.raises(ValueError, match="naive"):
        sync_range(datetime(2024, 1, 1), T0)


def test_inclusive_end() -> None:
    assert inclusive_end(T0) == T0 - timedelta(seconds=1)


def test_local_time_round_trip() -> None:
    assert to_local_str(T0) == "2024-05-01 08:00:00"
    assert to_local_str(T0, "%Y%m%d") == "20240501"
    parsed = parse_local("2024-05-01 08:00:00")
    assert parsed == T0 and parsed.tzinfo is UTC
    assert parse_local(" 2024-05-01 08:00:00 ") == T0
    assert parse_local("2021-05-07 09:20:39.683+0800", "%Y-%m-%d %H:%M:%S.%f%z") == datetime(
        2021, 5, 7, 1, 20, 39, 683000, tzinfo=UTC
    )
    assert SHANGHAI.key == "Asia/Shanghai"


@pytest.mark.parametrize("bad", ["2024-13-01 00:00:00", "", "0001-01-01", 1714521600])
def test_parse_local_refuses_malformed(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_local(bad)  # type: ignore[arg-type]


def test_epochs() -> None:
    assert to_epoch_s(T0) == 1714521600
    assert to_epoch_ms(T0 + timedelta(microseconds=1999)) == 1714521600001
    assert from_epoch_s(1714521600) == T0
    assert from_epoch_s("1714521600") == T0
    assert from_epoch_ms(1714521600123) == T0 + timedelta(milliseconds=123)
    assert from_epoch_ms("1714521600123").tzinfo is UTC


@pytest.mark.parametrize("bad", [1.5, True, "12a", None, ""])
def test_epoch_refuses_non_integers(bad: object) -> None:
    with pytest.raises(ValueError):
        from_epoch_ms(bad)  # type: ignore[arg-type]


def test_ensure_utc() -> None:
    assert ensure_utc(T0.astimezone(SHANGHAI)).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2024, 1, 1), "x")
