"""Offline and institutional channels: shops without an API.

A counter (专柜/专区), a canteen vending machine, a community store, a fair, canteen or union
purchasing and the 832 platform each sell through a shop of their own kind
(:data:`bangfu.enums.OFFLINE_CHANNELS`): no endpoint, no credentials, never synced. Their sales
come in as files (``bangfu import sales FILE --shop ID``, :mod:`bangfu.importing.sales`) and
report under the channel type of the same name. The shop's platform id is the machine's or
till's own code (a serial number), or its name when it has none.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import OFFLINE_CHANNELS, ChannelType, PlatformKind
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.models import Region, Shop

MESSAGES.update(
    {
        "offline.not_offline": {
            "zh": "{kind} 不是线下渠道；线下渠道：{kinds}",
            "en": "{kind} is not an offline channel; offline channels: {kinds}",
        },
        "offline.code_too_long": {
            "zh": "名称超过 64 个字符，请用 --shop-id 给出店铺（机器、收银台）编号",
            "en": "the name is longer than 64 characters: give the shop's (machine's, till's) code with --shop-id",
        },
        "offline.no_region": {
            "zh": "没有地区 {county}（请给出地区代码，如 513328，或地区全称）",
            "en": "no region {county} (give its code, like 513328, or its full name)",
        },
        "offline.many_regions": {
            "zh": "有 {count} 个地区叫 {county}，请给出地区代码",
            "en": "{count} regions are named {county}: give the region code",
        },
        "offline.exists": {
            "zh": "线下店铺 #{id}（{kind} {code}）已存在；要更新名称和所属地区，请加 --replace",
            "en": "offline shop #{id} ({kind} {code}) exists already; add --replace to update its name and region",
        },
    }
)


def offline_kinds() -> str:
    return ", ".join(kind.value for kind in OFFLINE_CHANNELS)


async def find_region(session: AsyncSession, county: str) -> Region:
    """A region by its code or its exact name."""
    regions = list(await session.scalars(select(Region).where(or_(Region.code == county, Region.name == county))))
    by_code = [r for r in regions if r.code == county]
    if by_code:
        return by_code[0]
    if not regions:
        raise UserError(t("offline.no_region", county=county))
    if len(regions) > 1:
        raise UserError(t("offline.many_regions", count=len(regions), county=county))
    return regions[0]


async def add_offline_shop(
    session: AsyncSession,
    kind: PlatformKind,
    name: str,
    *,
    code: str | None = None,
    county: str | None = None,
    replace: bool = False,
) -> tuple[Shop, bool]:
    """Create (or, with ``replace``, update) an offline shop; returns it and whether it is new."""
    if not kind.is_offline:
        raise UserError(t("offline.not_offline", kind=kind.value, kinds=offline_kinds()))
    name = name.strip()
    code = (code or name).strip()
    if not name or not code:
        raise UserError("the shop needs a name")
    if len(code) > 64:
        raise UserError(t("offline.code_too_long"))
    if len(name) > 128:
        raise UserError("the name is longer than 128 characters")
    region = await find_region(session, county) if county else None
    shop = await session.scalar(select(Shop).where(Shop.platform == kind, Shop.platform_shop_id == code))
    if shop is not None and not replace:
        raise UserError(t("offline.exists", id=shop.id, kind=kind.value, code=code))
    created = shop is None
    if shop is None:
        shop = Shop(platform=kind, platform_shop_id=code, settings={})
        session.add(shop)
    shop.name = name
    shop.channel_type = channel_of(kind)
    shop.base_url = None
    shop.credentials_ref = None
    shop.active = True
    if region is not None:
        shop.county_id = region.id
    await session.flush()
    return shop, created


def channel_of(kind: PlatformKind) -> ChannelType:
    """The channel type an offline shop's sales report under."""
    return OFFLINE_CHANNELS[kind]
