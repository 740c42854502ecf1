"""Issue 12 item 13: platform error text is stored as written, so an echoing gateway put the
shop's access token into ``sync_runs.message`` and ``alerts.message``. Every message the sync
engine stores now goes through one redaction (``SyncEngine._redact`` -> ``bangfu.secrets.redact``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import SyncStream
from bangfu.models import Alert, SyncRun
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import fake_server
from connectors.fakes.youzan import FakeYouzan, GatewayError
from connectors.retry import RetryPolicy
from sync.engine import SyncEngine, SyncPolicy
from sync.shops import register, specs_from_fakes


class _EchoingGateway(FakeYouzan):
    """Youzan whose gateway refuses the orders call and repeats the request in its message:
    the token in the URL, the token and the app secret as bare values, and a bearer header."""

    async def _trades_sold_get(self, world: Any, shop_id: str, params: dict[str, Any]) -> dict[str, Any]:
        token = self._shop_token[shop_id].access_token
        secret = self.credentials.app_secret
        raise GatewayError(
            4204,
            f"无权限访问 POST /api/youzan.trades.sold.get/4.0.4?access_token={token}&x=1 "
            f'凭证 {token} 应用 {secret} {{"client_secret": "{secret}", "sign": "0A1B2C3D"}} '
            f"Authorization: Bearer {token}",
        )


async def test_an_echoed_access_token_never_reaches_sync_runs_or_alerts(engine: AsyncEngine, tmp_path: Path) -> None:
    """The gateway's error echoes the access token (in the URL, bare, as a bearer header) and
    the app secret; the stored run message, both alerts (``sync.auth`` and ``sync.failing``)
    and the message the CLI prints keep the platform's code and words, never the secrets."""
    clock = FakeClock()
    async with fake_server(_EchoingGateway, seed=3, orders=20, days=2, clock=clock) as fake:
        clock.freeze(clock.now())
        lines = tmp_path / "fakes.jsonl"
        lines.write_text(orjson.dumps(fake.describe()).decode() + "\n")
        secrets = SecretStore(tmp_path / "secrets.json")
        async with session_factory(engine)() as session, session.begin():
            await register(session, specs_from_fakes(lines), secrets)
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=3), alert_after=1),
            connector_kwargs={"retry": RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)},
        )
        results = await sync.sync_all(streams=[SyncStream.ORDERS])
        echoing: Any = fake.fake
        token = echoing._shop_token[fake.credentials.shop_id].access_token
        secret = fake.credentials.app_secret
    (outcome,) = next(iter(results.values()))
    assert outcome.errors == {"auth": 1}
    async with engine.connect() as conn:
        runs = list(await conn.scalars(select(SyncRun.message).where(SyncRun.message.is_not(None))))
        alerts = dict((await conn.execute(select(Alert.kind, Alert.message))).all())
    assert runs and set(alerts) == {"sync.auth", "sync.failing"}
    for text in (*runs, *alerts.values(), outcome.message):
        assert text is not None
        assert "4204" in text and "无权限访问" in text, text
        assert token not in text and secret not in text and "0A1B2C3D" not in text, text
        assert "access_token=***" in text and "Bearer ***" in text, text
