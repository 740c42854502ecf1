"""aiohttp-session storage in the hub's own database (table ``web_sessions``).

Why the database rather than an encrypted cookie or Redis: ``bangfu users disable`` and
``users passwd`` must end a user's sessions at once, in every ``bangfu serve`` process, and the
embedded default has no Redis. The cookie holds only a random key; the table holds its SHA-256,
the user id and the session data, so a copy of the table opens no session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp_session import AbstractStorage, Session
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bangfu.models import User, WebSession
from bangfu.scope import Scope
from bangfu.scope import scope_of as load_scope

COOKIE = "bangfu_session"
MAX_AGE = int(timedelta(days=7).total_seconds())


# The session's user and scope, read with the session itself (one connection, one query for
# most roles) and kept for this request only: web/security.py checks and uses them.
LOADED: web.RequestKey[tuple[User, Scope]] = web.RequestKey("session_user", tuple)


# The session's row and its user, built once: every request reads it, and building the statement
# and its cache key cost 0.1-0.3 ms of CPU each time.
_SESSION_ROW = (
    select(WebSession.data, WebSession.created_at, WebSession.expires_at, User)
    .outerjoin(User, User.id == WebSession.user_id)
    .where(WebSession.key_hash == bindparam("key_hash"))
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DbStorage(AbstractStorage):
    def __init__(self, engine: AsyncEngine, *, secure: bool | None = None) -> None:
        super().__init__(cookie_name=COOKIE, max_age=MAX_AGE, httponly=True, samesite="Lax", secure=secure)
        self._engine = engine
        self._secure = secure

    async def load_session(self, request: web.Request) -> Session:
        key = self.load_cookie(request)
        if not key or len(key) > 128:
            return Session(None, data=None, new=True, max_age=self.max_age)
        # One statement (two for an operator or county user's scope), each its own snapshot: on
        # PostgreSQL run outside a transaction, which spares the BEGIN and ROLLBACK round trips
        # every request would pay (the view's own queries still share one transaction).
        async with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn, expire_on_commit=False) as db:
                row = (await db.execute(_SESSION_ROW, {"key_hash": _hash(key)})).first()
                if row is None or row.expires_at <= datetime.now(UTC):
                    return Session(None, data=None, new=True, max_age=self.max_age)
                user = row.User
                if user is not None and not user.disabled:
                    request[LOADED] = (user, await load_scope(conn, user))
        data = {"created": int(row.created_at.timestamp()), "session": dict(row.data)}
        return Session(key, data=data, new=False, max_age=self.max_age)  # type: ignore[arg-type]

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        key = session.identity
        now = datetime.now(UTC)
        if session.empty:
            if key:
                await self.forget(str(key))
            response.del_cookie(COOKIE, path="/")
            return
        data = dict(session)
        user_id = data.get("user_id")
        expires = now + timedelta(seconds=MAX_AGE)
        async with self._engine.begin() as conn:
            if key is None:
                key = secrets.token_urlsafe(32)
                session.set_new_identity(key)
                await conn.execute(
                    insert(WebSession).values(
                        key_hash=_hash(key), user_id=user_id, data=data, created_at=now, expires_at=expires
                    )
                )
            else:
                await conn.execute(
                    update(WebSession)
                    .where(WebSession.key_hash == _hash(str(key)))
                    .values(user_id=user_id, data=data, expires_at=expires)
                )
            # Expired sessions go on the way (indexed; a handful at a time in practice).
            await conn.execute(delete(WebSession).where(WebSession.expires_at < now))
        secure = self._secure if self._secure is not None else request.secure
        response.set_cookie(COOKIE, str(key), max_age=MAX_AGE, path="/", httponly=True, samesite="Lax", secure=secure)

    async def forget(self, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(WebSession).where(WebSession.key_hash == _hash(key)))
