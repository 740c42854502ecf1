"""The contract every platform connector passes against its fake (singer-sdk's tap tests).

Use it from ``tests/connectors/test_<platform>.py``::

    from tests.connectors.contract import ContractTests

    class TestTaobaoContract(ContractTests):
        platform = "taobao"

(always as ``tests.connectors.contract``, never by the bare name pytest's ``sys.path`` would
also allow: one module, and a name mypy resolves.) Override ``make_config`` when the platform needs more than
:class:`~connectors.fakes.server.FakeCredentials` gives (by default every credential field the
fake prints beyond the standard five goes to ``ShopConfig.extra``: e.g. Kuaishou's
``sign_secret``); tune the class variables below if the platform's windows make a test slow.

What the contract checks, each on a fresh fake with a frozen clock:

* signing accepted: a call with the fake's credentials succeeds, and ``order_detail`` returns
  the world's order exactly; a platform without a detail API (``has_order_detail = False``,
  for a platform whose API truly lacks one) must refuse it with :class:`UnsupportedStream`;
* paging ends and windows hold: a full-history harvest (no faults) terminates, every window is
  within ``window_for(stream)`` and ``window_max``, windows are contiguous and increasing
  (the cursor only moves forward), and the totals equal ``GET /_fake/truth``;
* records match the world: ids, paid amounts, line counts, creation times and refund amounts
  equal the fake's canonical data; an order's lines plus post fee add up to what was paid;
* rate limits and 5xx are retried (and counted by class), not surfaced;
* an auth error is fatal: wrong secret and token raise :class:`AuthError` without retries;
* an expired token is refreshed and the call goes through (platforms with ``token_refresh``);
* a malformed record is quarantined, then recovered (detail API or re-read);
* pages that shift and repeat under the client (records touched while paging, the same record
  on two pages) still give exactly the truth;
* the full history under ``chaos`` equals the truth, with no duplicates;
* streams a connector does not declare raise :class:`UnsupportedStream`.

Time: rate-limit bans and backoff run on a virtual clock (:class:`VirtualTime`): bans and
waits are honoured and counted, but cost no wall time. Hangs are real: the fake sleeps past
the client timeout, which cuts them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import aiohttp
import pytest

from bangfu.enums import ErrorClass, PlatformKind, RefundStatus, SyncStream
from bangfu.records import OrderRecord, Quarantined
from connectors.base import Connector, ShopConfig, WindowLog
from connectors.errors import AuthError, UnsupportedStream
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.ratelimit import RateLimiter
from connectors.registry import connector_class
from connectors.retry import RetryPolicy
from tests.connectors.harvest import HarvestResult, harvest

__all__ = ["CHAOS_EVERY_KIND", "CONTRACT_RETRY", "ContractTests", "VirtualTime", "collect", "make_contract_tests"]


T = TypeVar("T")

STANDARD_CREDENTIALS = frozenset({"app_key", "app_secret", "access_token", "refresh_token", "shop_id"})
CONTRACT_RETRY = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=2.0)
# The chaos runs of Kuaishou's and the self-built mall's bigger shops assert that every fault
# kind happened. With CHAOS's rates a run of ~100 requests saw no hang about once in 25 runs
# (0.97**105); hangs and drops at 8% make that about 2 in 10,000 (0.92**105), at ~2 s more per
# run (each hang waits out the 0.5 s timeout).
CHAOS_EVERY_KIND = dataclasses.replace(FaultProfile.CHAOS, hang=0.08, drop=0.08).with_delays(
    slow_seconds=0.05, hang_seconds=1.0
)


class VirtualTime:
    """A monotonic clock that sleeping advances: waits are honoured and counted, not spent."""

    def __init__(self) -> None:
        self.skew = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.skew

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.skew += seconds
            self.slept += seconds
        await asyncio.sleep(0)


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


def _truth(fake: Running) -> dict[str, int]:
    return dict(fake.fake.truth()["shops"][fake.credentials.shop_id])


class ContractTests:
    """Subclass with ``platform = "<name>"``; every ``test_*`` below runs for that platform."""

    platform: ClassVar[str]
    seed: ClassVar[int] = 11
    #: orders in the sparse world (most windows hold a page or less)
    orders: ClassVar[int] = 80
    #: days of history in every world
    days: ClassVar[int] = 1
    #: orders per order window in the dense world, in pages (paging faults need 2+ pages)
    pages_per_window: ClassVar[float] = 2.2
    frozen_at: ClassVar[datetime] = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
    timeout: ClassVar[float] = 1.5
    #: client timeout under chaos; the fake's hangs last twice as long
    chaos_timeout: ClassVar[float] = 0.5
    #: the platform has an order detail API (PLATFORMS.md): every platform the hub supports does
    has_order_detail: ClassVar[bool] = True

    # ------------------------------------------------------------------ hooks for platforms
    def make_config(self, fake: Running) -> ShopConfig:
        """The shop config for the fake's credentials (override for platform specifics)."""
        creds = fake.credentials
        extra = {
            key: value
            for key, value in fake.fake.credential_fields().items()
            if key not in STANDARD_CREDENTIALS and ":" not in key
        }
        return ShopConfig(
            platform=PlatformKind(self.platform),
            base_url=fake.base_url,
            app_key=creds.app_key,
            app_secret=creds.app_secret,
            shop_id=creds.shop_id,
            access_token=creds.access_token,
            refresh_token=creds.refresh_token,
            extra=extra,
        )

    def connector_cls(self) -> type[Connector]:
        return connector_class(self.platform)

    # ------------------------------------------------------------------ plumbing
    def fake(
        self, *, faults: str | FaultProfile = "none", orders: int | None = None
    ) -> AbstractAsyncContextManager[Running]:
        return fake_server(
            self.platform,
            seed=self.seed,
            orders=self.orders if orders is None else orders,
            days=self.days,
            faults=faults,
            clock=FakeClock(frozen_at=self.frozen_at),
        )

    def connect(
        self,
        fake: Running,
        session: aiohttp.ClientSession,
        *,
        config: ShopConfig | None = None,
        timeout: float | None = None,
    ) -> tuple[Connector, VirtualTime]:
        warp = VirtualTime()
        connector = self.connector_cls()(
            config or self.make_config(fake),
            session=session,
            retry=CONTRACT_RETRY,
            timeout=timeout or self.timeout,
            clock=fake.clock.now,
            limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep),
            sleep=warp.sleep,
        )
        return connector, warp

    def dense_orders(self) -> int:
        """Enough orders that an order window spans ``pages_per_window`` pages."""
        cls = self.connector_cls()
        width = min(
            cls.stream_windows.get(SyncStream.ORDERS, cls.window_advised),
            cls.stream_window_max.get(SyncStream.ORDERS, cls.window_max),
        )
        windows = max(1.0, timedelta(days=self.days) / width)
        return max(self.orders, math.ceil(self.pages_per_window * cls.page_size * windows))

    def history_start(self, fake: Running) -> datetime:
        """An hour before the world's first order (live evenings can precede ``anchor - days``)."""
        anchor = fake.world.anchor
        early = fake.world.orders_created(anchor - timedelta(days=self.days + 30), anchor + timedelta(seconds=1))
        first = min([anchor - timedelta(days=self.days), *(o.created_at for o in early[:1])])
        return first - timedelta(hours=1)

    # ------------------------------------------------------------------ id mapping
    def world_order_id(self, platform_order_id: str) -> str:
        """The fake world's id of an order as the platform shows it (override if rendered)."""
        return platform_order_id

    def platform_order_id(self, world_order_id: str) -> str:
        """The platform's id of a world order (what ``order_detail`` takes)."""
        return world_order_id

    def world_refund_id(self, platform_refund_id: str) -> str:
        return platform_refund_id

    async def full_harvest(self, fake: Running, connector: Connector) -> HarvestResult:
        async with asyncio.timeout(120):
            return await harvest(connector, self.history_start(fake))

    def assert_matches_truth(self, fake: Running, result: HarvestResult) -> None:
        truth = _truth(fake)
        assert result.totals() == truth, f"harvest {result.totals()} != truth {truth}"
        assert [q for q in result.unresolved() if q.platform_id is not None] == []

    # ------------------------------------------------------------------ the contract
    async def test_signing_is_accepted(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            now = fake.clock.now()
            records = await collect(connector.orders(now - connector.window_for(SyncStream.ORDERS), now))
            assert connector.stats.requests >= 1
            assert not connector.stats.errors
            assert all(isinstance(r, OrderRecord) for r in records)
            world_orders = fake.world.orders_created(self.history_start(fake), now)
            assert world_orders, "the fake world has no orders"
            expected = world_orders[len(world_orders) // 2]
            order_id = self.platform_order_id(expected.order_id)
            if not self.has_order_detail:
                # No detail API on this platform: the connector says so, the documented way.
                with pytest.raises(UnsupportedStream) as refused:
                    await connector.order_detail(order_id)
                assert refused.value.stream == "order_detail"
                return
            record = await connector.order_detail(order_id)  # UnsupportedStream here is a failure
            assert self.world_order_id(record.platform_order_id) == expected.order_id
            assert record.paid_fen == expected.paid_fen
            assert len(record.lines) == len(expected.lines)

    async def test_paging_ends_windows_hold_and_totals_match(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            result = await self.full_harvest(fake, connector)
            self.assert_matches_truth(fake, result)
            assert result.quarantined == []
            assert not connector.stats.errors
            windows = list(connector.stats.windows)
            assert windows
            for window in windows:
                assert window.end > window.start
                assert window.end - window.start <= connector.window_for(window.stream)
                assert connector.window_for(window.stream) <= connector.window_max
            # Within one read of a stream the windows move forward without gaps or overlaps.
            for run in _runs(windows):
                for earlier, later in itertools.pairwise(run):
                    assert later.start == earlier.end, f"gap or overlap: {earlier} -> {later}"
            # Paging terminated with a bounded number of pages.
            records = len(result.orders) + len(result.refunds)
            assert connector.stats.pages <= len(windows) + records + len(result.ranges)

    async def test_cursor_is_monotonic(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            start = self.history_start(fake)
            now = fake.clock.now()
            watermark = start
            stamps: list[datetime] = []
            for window_start, window_end in _halves(start, now):
                async for item in connector.orders(window_start, window_end):
                    assert isinstance(item, OrderRecord)
                    # No faults, frozen clock: every record lies in the window it was read for.
                    assert window_start <= item.modified_at < window_end, (item, window_start, window_end)
                    stamps.append(item.modified_at)
                # sync advances its watermark only over whole windows: never backwards
                assert window_end >= watermark
                watermark = window_end
            assert stamps
            assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in stamps)

    async def test_records_match_the_world(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            result = await self.full_harvest(fake, connector)
            world = fake.world
            for order in result.orders.values():
                canonical = world.order(self.world_order_id(order.platform_order_id))
                assert canonical is not None, f"unknown order {order.platform_order_id}"
                assert order.status.is_paid == canonical.status.is_paid, order.platform_order_id
                assert len(order.lines) == len(canonical.lines), order.platform_order_id
                assert _second(order.created_at) == _second(canonical.created_at)
                if order.status.is_paid:  # what an unpaid order "paid" is the platform's choice
                    assert order.paid_fen == canonical.paid_fen, order.platform_order_id
                    lines_fen = sum(line.paid_fen for line in order.lines)
                    assert lines_fen + order.post_fee_fen == order.paid_fen, order.platform_order_id
                assert all(line.quantity > 0 and line.platform_line_id for line in order.lines)
                assert order.raw, "the platform payload is kept"
            for refund in result.refunds.values():
                canonical_refund = world.refund(self.world_refund_id(refund.platform_refund_id))
                assert canonical_refund is not None, f"unknown refund {refund.platform_refund_id}"
                assert self.world_order_id(refund.platform_order_id) == canonical_refund.order_id
                assert refund.amount_fen == canonical_refund.amount_fen
                assert (refund.status is RefundStatus.SUCCEEDED) == (canonical_refund.status is RefundStatus.SUCCEEDED)

    async def test_rate_limits_and_server_errors_are_retried(self, session: aiohttp.ClientSession) -> None:
        profile = FaultProfile(rate_limit=0.25, server_error=0.25)
        async with self.fake(faults=profile, orders=self.dense_orders()) as fake:
            connector, warp = self.connect(fake, session)
            result = await self.full_harvest(fake, connector)
            self.assert_matches_truth(fake, result)
            injected = fake.fake.faults.stats
            assert injected["rate_limit"] > 0 and injected["server_error"] > 0, dict(injected)
            # Every injected fault was seen, classified by its class and retried (the fake
            # never fails one request more than 3 times running; we try 6).
            assert connector.stats.retries[ErrorClass.RATE_LIMIT] == injected["rate_limit"]
            assert connector.stats.retries[ErrorClass.TRANSIENT] == injected["server_error"]
            assert warp.slept > 0, "retries must back off"
            assert not connector.stats.errors

    async def test_auth_error_is_fatal(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            good = self.make_config(fake)
            bad = ShopConfig(
                platform=good.platform,
                base_url=good.base_url,
                app_key=good.app_key,
                app_secret="wrong-secret-not-real",
                shop_id=good.shop_id,
                access_token="wrong-token-not-real",
                refresh_token="wrong-refresh-not-real",
                extra={key: f"wrong-{key}" if "secret" in key else value for key, value in good.extra.items()},
            )
            connector, _ = self.connect(fake, session, config=bad)
            now = fake.clock.now()
            with pytest.raises(AuthError):
                await collect(connector.orders(now - connector.window_for(SyncStream.ORDERS), now))
            assert not connector.stats.retries, "an auth error must not be retried"
            assert connector.stats.requests <= 3

    async def test_expired_token_is_refreshed(self, session: aiohttp.ClientSession) -> None:
        if not self.connector_cls().token_refresh:
            pytest.skip(f"{self.platform} has no token refresh")
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            fake.fake.tokens.expire_all()
            now = fake.clock.now()
            await collect(connector.orders(now - connector.window_for(SyncStream.ORDERS), now))
            assert connector.stats.token_refreshes == 1
            assert connector.tokens.access_token != fake.credentials.access_token
            assert fake.fake.tokens.is_valid(connector.tokens.access_token)

    async def test_malformed_records_are_quarantined_then_recovered(self, session: aiohttp.ClientSession) -> None:
        async with self.fake(faults=FaultProfile(malformed=0.15)) as fake:
            connector, _ = self.connect(fake, session)
            result = await self.full_harvest(fake, connector)
            assert result.quarantined, "the fake malformed no record: raise orders or the rate"
            assert all(isinstance(q, Quarantined) and q.error for q in result.quarantined)
            assert connector.stats.quarantined == len(result.quarantined)
            # recovered from the detail API right away, or by reading the window again
            assert connector.stats.recovered + len(result.reread) > 0
            self.assert_matches_truth(fake, result)

    async def test_shifting_and_repeated_pages_give_the_truth(self, session: aiohttp.ClientSession) -> None:
        profile = FaultProfile(modify_during_paging=0.5, duplicate_on_page=0.5)
        async with self.fake(faults=profile, orders=self.dense_orders()) as fake:
            connector, _ = self.connect(fake, session)
            result = await self.full_harvest(fake, connector)
            self.assert_matches_truth(fake, result)
            stats = fake.fake.faults.stats
            assert sum(stats.values()) > 0, f"no paging fault happened: {dict(stats)}"

    async def test_chaos_full_history_equals_truth(self, session: aiohttp.ClientSession) -> None:
        profile = FaultProfile.CHAOS.with_delays(slow_seconds=0.05, hang_seconds=self.chaos_timeout * 2)
        async with self.fake(faults=profile, orders=self.dense_orders()) as fake:
            connector, _ = self.connect(fake, session, timeout=self.chaos_timeout)
            result = await self.full_harvest(fake, connector)
            self.assert_matches_truth(fake, result)
            truth = _truth(fake)
            assert len(result.orders) == truth["orders"]  # one record per order: no duplicates
            assert len(result.refunds) == truth["refunds"]
            assert sum(connector.stats.retries.values()) > 0
            assert sum(fake.fake.faults.stats.values()) > 0
            assert not connector.stats.errors

    async def test_undeclared_streams_are_unsupported(self, session: aiohttp.ClientSession) -> None:
        async with self.fake() as fake:
            connector, _ = self.connect(fake, session)
            now = fake.clock.now()
            calls: dict[SyncStream, Callable[[], AsyncIterator[object]]] = {
                SyncStream.ORDERS: lambda: connector.orders(now - timedelta(hours=1), now),
                SyncStream.REFUNDS: lambda: connector.refunds(now - timedelta(hours=1), now),
                SyncStream.PRODUCTS: connector.products,
                SyncStream.SETTLEMENTS: lambda: connector.settlements(now - timedelta(hours=1), now),
                SyncStream.LIVE_SESSIONS: lambda: connector.live_sessions(now - timedelta(hours=1), now),
            }
            for stream, make in calls.items():
                if stream in connector.streams:
                    continue
                with pytest.raises(UnsupportedStream):
                    await collect(make())
            assert SyncStream.ORDERS in connector.streams


def make_contract_tests(platform: str, **overrides: Any) -> type[ContractTests]:
    """``TestX = make_contract_tests("jd", orders=120)``: a contract class for ``platform``."""
    name = f"Test{platform.title().replace('_', '')}Contract"
    return type(name, (ContractTests,), {"platform": platform, **overrides})


def _second(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _runs(windows: list[WindowLog]) -> list[list[WindowLog]]:
    """Split the window log into reads: a read ends when the stream changes or time goes back
    (the next pass starts earlier). Within a read, a gap or overlap is a connector bug."""
    runs: list[list[WindowLog]] = []
    for window in windows:
        if runs and runs[-1][-1].stream is window.stream and window.start >= runs[-1][-1].end:
            runs[-1].append(window)
        else:
            runs.append([window])
    return runs


def _halves(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    middle = (start + (end - start) / 2).replace(second=0, microsecond=0)
    return [(start, middle), (middle, end)]
