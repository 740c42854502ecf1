"""The login path's argon2 checks: at most ARGON2_SLOTS run at once, and a burst of 16
concurrent logins (right and wrong passwords) still gets each answer right.

At the production cost: the world's logins are hashed with the tests' cheap parameters
(tests/conftest.py), so the four signing in here get production hashes first."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from bangfu import accounts
from bangfu.demo.users import DEMO_PASSWORD
from bangfu.store import make_engine, session_factory
from tests.web.conftest import World


async def test_sixteen_concurrent_logins_hash_at_most_one_per_core(
    world_copy: World, monkeypatch: pytest.MonkeyPatch, production_argon2: PasswordHasher
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
        async with factory() as session, session.begin():
            for name in ("admin", "host", "operator", "coop"):
                await accounts.set_password(session, name, DEMO_PASSWORD)
        # four wrong passwords: under the account's lock-out of five, whatever order they land in
        right = [("admin", DEMO_PASSWORD), ("host", DEMO_PASSWORD), ("operator", DEMO_PASSWORD)]
        attempts = right * 4 + [("coop", "wrong-password-1")] * 4
        results = await asyncio.gather(
            *(accounts.login(factory, name, password, f"10.0.0.{i}") for i, (name, password) in enumerate(attempts))
        )
    finally:
        await engine.dispose()
    assert len(results) == 16
    for (name, password), result in zip(attempts, results, strict=True):
        if password == DEMO_PASSWORD:
            assert result.user is not None and result.user.name == name
        else:
            assert result.user is None and result.throttled_for is None
    assert 1 <= peak <= accounts.ARGON2_SLOTS
