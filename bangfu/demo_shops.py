"""Connect the demo county's shops to the fake platforms (the embedded default's channels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import PlatformKind
from bangfu.models import Shop
from sync.shops import ShopSpec

# The Tmall flagship shop runs on the same open platform (TOP) as Taobao: the Taobao fake
# serves it as a second shop.
SERVED_BY = {PlatformKind.TMALL: PlatformKind.TAOBAO}


async def attach_fake_specs(session: AsyncSession, specs: Sequence[ShopSpec]) -> list[ShopSpec]:
    """Pair each scenario shop with a shop the fakes serve, in order, and return specs to register.

    The scenario's shop row takes the fake's platform shop id, so registering updates it in
    place instead of adding a second shop for the same channel.
    """
    by_platform: dict[PlatformKind, list[ShopSpec]] = {}
    for spec in specs:
        by_platform.setdefault(spec.platform, []).append(spec)
    shops = list(await session.scalars(select(Shop).order_by(Shop.id)))
    attached: list[ShopSpec] = []
    for shop in shops:
        source = SERVED_BY.get(shop.platform, shop.platform)
        pool = by_platform.get(source)
        if not pool:
            continue
        spec = pool.pop(0)
        shop.platform_shop_id = spec.platform_shop_id
        attached.append(replace(spec, platform=shop.platform, name=shop.name, channel_type=shop.channel_type))
    await session.flush()
    return attached
