"""The login path's argon2 checks: at most ARGON2_SLOTS run at once, and a burst of 16
concurrent logins (right and wrong passwords) still gets each answer right."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bangfu import accounts
from bangfu.store import make_engine, session_factory
from tests.web.conftest import World


async def test_sixteen_concurrent_logins_hash_at_most_one_per_core(
    world_copy: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    running = peak = 0
    real = accounts.check_password

    def counted(stored: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(accounts, "check_password", counted)
    engine = make_engine(world_copy.url)
    try:
        factory = session_factory(engine)
        # four wrong passwords: under the account's lock-out of five, whatever order they land in
        right = [("admin", "bangfu-demo-2026"), ("host", "bangfu-demo-2026"), ("operator", "bangfu-demo-2026")]
        attempts = right * 4 + [("coop", "wrong-password-1")] * 4
        results = await asyncio.gather(
            *(accounts.login(factory, name, password, f"10.0.0.{i}") for i, (name, password) in enumerate(attempts))
        )
    finally:
        await engine.dispose()
    assert len(results) == 16
    for (name, password), result in zip(attempts, results, strict=True):
        if password == "bangfu-demo-2026":
            assert result.user is not None and result.user.name == name
        else:
            assert result.user is None and result.throttled_for is None
    assert 1 <= peak <= accounts.ARGON2_SLOTS
