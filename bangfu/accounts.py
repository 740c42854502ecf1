"""Console accounts: users, roles and scopes, passwords (argon2), API tokens, login throttling.

Shared by ``bangfu users`` and the web console. A user's scope is what they may see:

- ``admin``: everything;
- ``operator``: every shop, or the shops named for them;
- ``host``: one host's sessions; ``cooperative``: one cooperative; ``county``: a region and
  every region under it; ``unit``: one purchasing unit.

Passwords are argon2id hashes (argon2-cffi's defaults); API tokens are 32 random bytes shown
once and kept as SHA-256 hashes; session keys likewise (``web/sessions.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.enums import UserRole
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import (
    ApiToken,
    Cooperative,
    Host,
    LoginFailure,
    PurchasingUnit,
    Region,
    Shop,
    Supplier,
    User,
    UserShop,
)

MIN_PASSWORD = 10
# The throttle: this many failures in the window lock the account (or the address) until the
# oldest of them leaves the window.
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "bfh_"

_hasher = PasswordHasher()
# argon2 is CPU-bound by design: at most one password check per core runs at a time (a pool of
# that many threads is the semaphore), the rest wait their turn in its queue. 16 logins at once
# on two cores then take the time of 16 checks done two by two, instead of 16 threads thrashing
# the cores and the event loop's own thread, and they do not occupy the default executor.
ARGON2_SLOTS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_argon2_pool = ThreadPoolExecutor(max_workers=ARGON2_SLOTS, thread_name_prefix="argon2")


def _fresh_argon2_pool() -> None:
    """A forked child (several server processes, Celery) gets its own pool: the parent's
    threads do not exist there."""
    global _argon2_pool
    _argon2_pool = ThreadPoolExecutor(max_workers=ARGON2_SLOTS, thread_name_prefix="argon2")


os.register_at_fork(after_in_child=_fresh_argon2_pool)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(t("users.password_short", n=MIN_PASSWORD))
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ScopeTarget:
    """What ``users add`` was told the user's scope is, as given on the command line."""

    cooperative: str | None = None  # the cooperative's unified social credit code
    host: int | None = None
    region: str | None = None  # administrative division code
    unit: int | None = None
    shops: Sequence[int] = ()


async def _resolve_scope(session: AsyncSession, role: UserRole, target: ScopeTarget) -> dict[str, int | None]:
    """Check the scope fits the role and exists; the user's scope columns."""
    given = {
        "cooperative": target.cooperative is not None,
        "host": target.host is not None,
        "region": target.region is not None,
        "unit": target.unit is not None,
        "shop": bool(target.shops),
    }
    needed = {
        UserRole.COOPERATIVE: "cooperative",
        UserRole.HOST: "host",
        UserRole.COUNTY: "region",
        UserRole.UNIT: "unit",
    }.get(role)
    allowed = {needed} if needed else ({"shop"} if role == UserRole.OPERATOR else set())
    extra = [name for name, present in given.items() if present and name not in allowed]
    if extra:
        raise UserError(t("users.scope_not_for_role", role=role.value, options=", ".join(f"--{e}" for e in extra)))
    if needed and not given[needed]:
        raise UserError(t("users.scope_missing", role=role.value, option=f"--{needed}"))
    out: dict[str, int | None] = {"cooperative_id": None, "host_id": None, "region_id": None, "unit_id": None}
    if target.cooperative is not None:
        coop_id = await session.scalar(
            select(Cooperative.id)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(Supplier.credit_code == target.cooperative.strip().upper())
        )
        if coop_id is None:
            raise UserError(t("users.no_cooperative", code=target.cooperative))
        out["cooperative_id"] = coop_id
    if target.host is not None:
        if await session.get(Host, target.host) is None:
            raise UserError(t("users.no_host", id=target.host))
        out["host_id"] = target.host
    if target.region is not None:
        region_id = await session.scalar(select(Region.id).where(Region.code == target.region.strip()))
        if region_id is None:
            raise UserError(t("users.no_region", code=target.region))
        out["region_id"] = region_id
    if target.unit is not None:
        if await session.get(PurchasingUnit, target.unit) is None:
            raise UserError(t("users.no_unit", id=target.unit))
        out["unit_id"] = target.unit
    for shop_id in target.shops:
        if await session.get(Shop, shop_id) is None:
            raise UserError(t("users.no_shop", id=shop_id))
    return out


async def add_user(
    session: AsyncSession,
    name: str,
    role: UserRole,
    password: str,
    target: ScopeTarget = ScopeTarget(),
    *,
    lang: str = "zh",
) -> User:
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise UserError(t("users.bad_name", name=name))
    if await session.scalar(select(User.id).where(User.name == name)) is not None:
        raise UserError(t("users.exists", name=name))
    scope = await _resolve_scope(session, role, target)
    user = User(name=name, role=role, password_hash=hash_password(password), lang=lang, **scope)
    session.add(user)
    await session.flush()
    for shop_id in sorted(set(target.shops)):
        session.add(UserShop(user_id=user.id, shop_id=shop_id))
    await session.flush()
    return user


async def get_user(session: AsyncSession, name: str) -> User:
    user = await session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise UserError(t("users.unknown", name=name))
    return user


async def set_password(session: AsyncSession, name: str, password: str) -> None:
    user = await get_user(session, name)
    user.password_hash = hash_password(password)
    user.sessions_valid_after = datetime.now(UTC)


async def set_disabled(session: AsyncSession, name: str, disabled: bool = True) -> None:
    user = await get_user(session, name)
    user.disabled = disabled
    user.sessions_valid_after = datetime.now(UTC)
    if disabled:
        for token in await session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
            token.revoked = True


async def issue_token(session: AsyncSession, name: str) -> str:
    """A new API token for the user: returned once, kept only as its hash."""
    user = await get_user(session, name)
    if user.disabled:
        raise UserError(t("users.disabled", name=name))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), prefix=token[:12]))
    await session.flush()
    return token


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The enabled user a bearer token belongs to, or None."""
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked.is_(False))
    )
    if row is None:
        return None
    user = await session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    row.last_used_at = datetime.now(UTC)
    return user


async def shops_of(session: AsyncSession, user_id: int) -> list[int]:
    return list(await session.scalars(select(UserShop.shop_id).where(UserShop.user_id == user_id)))


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.name)))


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    throttled_for: timedelta | None = None  # set when the account or the address is locked


async def authenticate(
    session: AsyncSession, name: str, password: str, address: str, *, now: datetime | None = None
) -> LoginResult:
    """Check a login; a failure is recorded, and too many recent ones lock the account or address.

    A locked login is refused before the password is checked, so guessing gets no answer; the
    same message is given for an unknown name as for a wrong password. argon2 runs in a worker
    thread (it takes tens of milliseconds of CPU by design), not on the event loop; a caller
    that can, should use :func:`login`, which also keeps it outside any open transaction.
    """
    now = now or datetime.now(UTC)
    name, address = name.strip()[:64], address[:64]
    throttled, user = await _login_lookup(session, name, address, now)
    if throttled is not None:
        return throttled
    verdict = await _verify(user, password)
    return await _login_record(session, name, address, now, user, verdict)


async def login(
    factory: async_sessionmaker[AsyncSession], name: str, password: str, address: str, *, now: datetime | None = None
) -> LoginResult:
    """:func:`authenticate` in three steps: the throttle and the user are read in one short
    transaction, the password is checked (argon2, in a worker thread) with no transaction open
    and no pooled connection held, and the outcome is recorded in a second short transaction.
    So a burst of logins neither blocks the event loop nor holds connections through argon2."""
    now = now or datetime.now(UTC)
    name, address = name.strip()[:64], address[:64]
    async with factory() as db, db.begin():
        throttled, user = await _login_lookup(db, name, address, now)
    if throttled is not None:
        return throttled
    verdict = await _verify(user, password)
    async with factory() as db, db.begin():
        if user is not None:
            user = await db.merge(user, load=False)
        return await _login_record(db, name, address, now, user, verdict)


async def _login_lookup(
    session: AsyncSession, name: str, address: str, now: datetime
) -> tuple[LoginResult | None, User | None]:
    since = now - THROTTLE_WINDOW
    await session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    for column, key, limit in (
        (LoginFailure.name, name, FAILURES_PER_ACCOUNT),
        (LoginFailure.address, address, FAILURES_PER_ADDRESS),
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginFailure.at)).where(column == key, LoginFailure.at >= since)
            )
        ).one()
        if count >= limit and oldest is not None:
            return LoginResult(None, throttled_for=max(oldest + THROTTLE_WINDOW - now, timedelta(seconds=1))), None
    user = await session.scalar(select(User).where(User.name == name))
    return None, (None if user is None or user.disabled else user)


async def _verify(user: User | None, password: str) -> tuple[bool, str | None]:
    """(password matches, a new hash when the stored one needs rehashing), off the event loop."""
    if user is None:
        return False, None
    stored = user.password_hash

    def check() -> tuple[bool, str | None]:
        if not check_password(stored, password):
            return False, None
        return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored) else None)

    return await asyncio.get_running_loop().run_in_executor(_argon2_pool, check)


async def _login_record(
    session: AsyncSession, name: str, address: str, now: datetime, user: User | None, verdict: tuple[bool, str | None]
) -> LoginResult:
    ok, rehashed = verdict
    if user is None or not ok:
        session.add(LoginFailure(name=name, address=address, at=now))
        return LoginResult(None)
    if rehashed is not None:
        user.password_hash = rehashed
    await session.execute(delete(LoginFailure).where(LoginFailure.name == name))
    return LoginResult(user)
