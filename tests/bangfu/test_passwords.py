"""Passwords at the hub's own cost: the tests hash with cheap argon2 parameters (tests/conftest.py,
``TEST_HASHER``), so these check the production hasher itself: argon2id at argon2-cffi's defaults
(RFC 9106's low-memory profile), and a login that finds a hash made with other parameters stores
it again with the production ones."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu import accounts
from bangfu.enums import UserRole
from bangfu.models import User
from tests.conftest import TEST_HASHER

PASSWORD = "a long enough password"
PROFILE = RFC_9106_LOW_MEMORY
PREFIX = f"$argon2id$v=19$m={PROFILE.memory_cost},t={PROFILE.time_cost},p={PROFILE.parallelism}$"


def test_the_hub_hashes_with_argon2id_at_the_libraries_defaults(production_argon2: PasswordHasher) -> None:
    assert accounts._hasher is production_argon2
    assert (production_argon2.time_cost, production_argon2.memory_cost, production_argon2.parallelism) == (
        PROFILE.time_cost,
        PROFILE.memory_cost,
        PROFILE.parallelism,
    )
    stored = accounts.hash_password(PASSWORD)
    assert stored.startswith(PREFIX)
    assert accounts.check_password(stored, PASSWORD)
    assert not accounts.check_password(stored, "another long password")


async def test_a_login_rehashes_a_cheaper_hash_with_the_production_parameters(
    sessions: async_sessionmaker[AsyncSession], production_argon2: PasswordHasher
) -> None:
    async with sessions() as session, session.begin():
        user = await accounts.add_user(session, "wangli", UserRole.ADMIN, PASSWORD)
        user.password_hash = TEST_HASHER.hash(PASSWORD)  # as the tests' worlds store them
    result = await accounts.login(sessions, "wangli", PASSWORD, "127.0.0.1")
    assert result.user is not None and result.user.name == "wangli"
    async with sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.name == "wangli"))
    assert stored is not None and not production_argon2.check_needs_rehash(stored)
    assert stored.startswith(PREFIX) and production_argon2.verify(stored, PASSWORD)
    wrong = await accounts.login(sessions, "wangli", "another long password", "127.0.0.1")
    assert wrong.user is None
