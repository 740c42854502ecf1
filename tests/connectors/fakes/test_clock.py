from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.fakes.clock import FakeClock


def test_a_frozen_clock_stops_the_data_but_not_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    real = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]
    monkeypatch.setattr(FakeClock, "_real", staticmethod(lambda: real[0]))
    clock = FakeClock()
    frozen = clock.freeze()
    real[0] += timedelta(minutes=15)  # a long sync against frozen fakes
    assert clock.now() == frozen
    assert clock.wall_now() == frozen + timedelta(minutes=15)
    clock.advance(60)
    assert clock.now() == frozen + timedelta(seconds=60)
    assert clock.wall_now() == frozen + timedelta(minutes=16)
    clock.unfreeze()
    assert clock.now() == clock.wall_now()
