"""The demo county's shops on the fake platforms (the embedded default's channels).

Core code: it pairs the scenario's shop rows with the shops the fakes serve and knows nothing of
how a shop is registered; ``bangfu demo`` (a composition root) turns each pair into a ``sync``
shop spec and registers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import PlatformKind
from bangfu.models import Shop

# The Tmall flagship shop runs on the same open platform (TOP) as Taobao: the Taobao fake
# serves it as a second shop.
SERVED_BY = {PlatformKind.TMALL: PlatformKind.TAOBAO}


class ServedShop(Protocol):
    """A shop a fake platform serves: its platform and the id the platform gives it."""

    @property
    def platform(self) -> PlatformKind: ...

    @property
    def platform_shop_id(self) -> str: ...


S = TypeVar("S", bound=ServedShop)


async def pair_with_fakes(session: AsyncSession, served: Sequence[S]) -> list[tuple[Shop, S]]:
    """Pair each scenario shop with a shop the fakes serve, in order (shop id order, then the
    fakes' order per platform); a scenario shop whose platform no fake serves is left out.

    The scenario's shop row takes the fake's platform shop id, so registering the pair updates
    it in place instead of adding a second shop for the same channel.
    """
    by_platform: dict[PlatformKind, list[S]] = {}
    for item in served:
        by_platform.setdefault(item.platform, []).append(item)
    pairs: list[tuple[Shop, S]] = []
    for shop in await session.scalars(select(Shop).order_by(Shop.id)):
        pool = by_platform.get(SERVED_BY.get(shop.platform, shop.platform))
        if not pool:
            continue
        item = pool.pop(0)
        shop.platform_shop_id = item.platform_shop_id
        pairs.append((shop, item))
    await session.flush()
    return pairs
