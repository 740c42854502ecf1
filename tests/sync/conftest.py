"""Sync tests drive connectors in-process: close the loop's shared HTTP session after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.http import close_session


@pytest.fixture(autouse=True)
async def _close_shared_http_session() -> AsyncIterator[None]:
    yield
    await close_session()
