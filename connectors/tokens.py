"""Token refresh: refresh once under a lock when the token is about to expire or was refused."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import ClassVar

from connectors.core import ConnectorCore
from connectors.errors import UnsupportedStream
from connectors.values import Tokens
from connectors.windows import ensure_utc


class TokenRefresh(ConnectorCore):
    """Keeps ``self.tokens`` fresh; platforms with ``token_refresh = True`` implement
    :meth:`refresh_token`."""

    #: the platform refreshes access tokens (``refresh_token`` is implemented)
    token_refresh: ClassVar[bool] = False
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=5)

    def _token_expiring(self) -> bool:
        expires = self.tokens.expires_at
        return expires is not None and expires - self.clock() <= self.refresh_margin

    async def _refresh(self, *, stale: str | None) -> None:
        """Refresh once even if many calls ask at the same time.

        ``stale`` is the token an auth error was raised with: if another caller already
        replaced it, there is nothing to do. ``None`` means "because it is about to expire".
        """
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:
            if stale is not None and self.tokens.access_token != stale:
                return
            if stale is None and not self._token_expiring():
                return
            await self.refresh_token()
            self.stats.token_refreshes += 1
            if self._on_tokens is not None:
                await self._on_tokens(dataclasses.replace(self.tokens))

    def set_tokens(
        self, access_token: str, refresh_token: str | None = None, expires_at: datetime | None = None
    ) -> None:
        """Record new tokens (from ``refresh_token``); ``refresh_token=None`` keeps the old one."""
        self.tokens = Tokens(
            access_token,
            refresh_token if refresh_token is not None else self.tokens.refresh_token,
            None if expires_at is None else ensure_utc(expires_at, "expires_at"),
        )

    async def refresh_token(self) -> None:
        """Get a new access token (platforms with ``token_refresh = True`` override)."""
        raise UnsupportedStream(self.platform_name, "token refresh")
