"""Every path that builds a shop's connector builds the same one (sync/factory.py): the sync
engine, the stock pusher and the price pusher honour the shop's rate-limit override, keep the
tokens a connector refreshes, and refuse a shop without credentials alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.models import Shop
from bangfu.secrets import SecretStore
from bangfu.store import make_engine
from connectors.base import Connector, Tokens
from connectors.ratelimit import RateLimit
from sync.engine import SyncEngine
from sync.errors import SyncError
from sync.factory import shop_rate_limit
from sync.prices import PricePusher
from sync.stock import StockPusher

Build = Callable[[Shop], Connector]


def _engine_path(db: AsyncEngine, secrets: SecretStore) -> Build:
    return SyncEngine(db, secrets=secrets)._connector


def _stock_path(db: AsyncEngine, secrets: SecretStore) -> Build:
    return StockPusher(db, secrets=secrets)._make_connector


def _price_path(db: AsyncEngine, secrets: SecretStore) -> Build:
    return PricePusher(db, secrets=secrets)._connector


PATHS = pytest.mark.parametrize("path", [_engine_path, _stock_path, _price_path], ids=["sync", "stock", "prices"])


@pytest.fixture
async def db() -> AsyncIterator[AsyncEngine]:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    yield engine
    await engine.dispose()


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    store = SecretStore(tmp_path / "secrets.json")
    store.put("shop:7", {"app_key": "k7", "app_secret": "s7", "access_token": "a0", "refresh_token": "r0"})
    return store


def _shop(**changes: object) -> Shop:
    values: dict[str, object] = {
        "id": 7,
        "name": "茶园店",
        "platform": "taobao",
        "platform_shop_id": "9007",
        "base_url": "http://127.0.0.1:9",
        "credentials_ref": "shop:7",
        "settings": {"rate_limit": {"per_second": 2.5, "burst": 3}},
    }
    values.update(changes)
    return Shop(**values)


@PATHS
async def test_every_path_honours_the_shops_rate_limit(
    path: Callable[[AsyncEngine, SecretStore], Build], db: AsyncEngine, secrets: SecretStore
) -> None:
    connector = path(db, secrets)(_shop())
    try:
        assert connector.config.rate_limit == RateLimit(per_second=2.5, burst=3)
        assert connector.config.app_key == "k7"
    finally:
        await connector.aclose()


@PATHS
async def test_every_path_keeps_refreshed_tokens(
    path: Callable[[AsyncEngine, SecretStore], Build], db: AsyncEngine, secrets: SecretStore
) -> None:
    connector = path(db, secrets)(_shop(settings={}))
    try:
        assert connector.config.rate_limit is None  # no override: the class's own rate
        keep = connector._on_tokens  # what the connector calls after each refresh
        assert keep is not None
        await keep(Tokens("a1", "r1", datetime(2031, 1, 2, tzinfo=UTC)))
    finally:
        await connector.aclose()
    stored = secrets.get("shop:7")
    assert (stored["access_token"], stored["refresh_token"]) == ("a1", "r1")
    assert stored["token_expires_at"] == "2031-01-02T00:00:00+00:00"
    assert stored["app_secret"] == "s7"


@PATHS
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"credentials_ref": None}, "has no API endpoint or credentials"),
        ({"credentials_ref": "shop:404"}, "no credentials stored under 'shop:404'"),
        ({"base_url": None}, "has no API endpoint or credentials"),
    ],
)
async def test_every_path_refuses_a_shop_without_credentials(
    path: Callable[[AsyncEngine, SecretStore], Build],
    db: AsyncEngine,
    secrets: SecretStore,
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(SyncError, match=message):
        path(db, secrets)(_shop(**changes))


def test_a_malformed_rate_limit_is_refused_naming_the_shop() -> None:
    with pytest.raises(ValueError, match=r"shop 7: settings.rate_limit must be"):
        shop_rate_limit(_shop(settings={"rate_limit": 5}))
    assert shop_rate_limit(_shop(settings={"rate_limit": {"per_second": 1}})) == RateLimit(per_second=1.0, burst=1)
    assert shop_rate_limit(_shop(settings=None)) is None
