"""Connected shops: register them, and build a connector's config from a shop and its secrets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import ChannelType, PlatformKind
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import Shop
from bangfu.secrets import SecretStore
from connectors.base import ShopConfig
from sync.errors import SyncError

# Platforms name the same credential differently; this table maps each to ShopConfig's field.
CREDENTIAL_ALIASES: Mapping[str, str] = {
    "app_key": "app_key",
    "appkey": "app_key",
    "client_id": "app_key",
    "username": "app_key",
    "app_secret": "app_secret",
    "client_secret": "app_secret",
    "password": "app_secret",
    "shop_id": "shop_id",
    "kdt_id": "shop_id",
    "vender_id": "shop_id",
    "access_token": "access_token",
    "session": "access_token",
    "refresh_token": "refresh_token",
}
CONFIG_FIELDS = ("app_key", "app_secret", "shop_id", "access_token", "refresh_token", "token_expires_at")

DEFAULT_CHANNEL: Mapping[PlatformKind, ChannelType] = {
    PlatformKind.DOUYIN: ChannelType.LIVE,
    PlatformKind.KUAISHOU: ChannelType.LIVE,
    PlatformKind.SELFMALL: ChannelType.SELFMALL,
}


@dataclass(frozen=True, slots=True)
class ShopSpec:
    platform: PlatformKind
    name: str
    base_url: str
    credentials: Mapping[str, str]  # ShopConfig field names, plus platform extras
    channel_type: ChannelType | None = None

    def __post_init__(self) -> None:
        validate_base_url(self.base_url)

    @property
    def platform_shop_id(self) -> str:
        return self.credentials["shop_id"]


def validate_base_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host, else a :class:`~sync.errors.SyncError` saying what is wanted."""
    try:
        parts = urlsplit(url)
        good = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        good = False
    if not good:
        raise SyncError(t("shops.bad_base_url", url=repr(url)))
    return url


def normalise_credentials(fields: Mapping[str, Any]) -> dict[str, str]:
    """Platform credential names -> ShopConfig names; unknown plain names are kept as extras.

    Names with a ``:`` (a fake's informational extras, e.g. tokens for other shops) are dropped.
    """
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None or ":" in key:
            continue
        out[CREDENTIAL_ALIASES.get(key, key)] = str(value)
    missing = [f for f in ("app_key", "app_secret", "shop_id") if f not in out]
    if missing:
        raise SyncError(f"credentials lack {', '.join(missing)}")
    return out


def specs_from_fakes(path: Path) -> list[ShopSpec]:
    """Read the JSON lines ``bangfu fakes serve`` printed (other lines, like ``ready``, are skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SyncError(f"{path}: cannot read ({exc.strerror})") from exc
    entries: list[tuple[str, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entries.append((f"{path}:{number}", orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise SyncError(f"{path}:{number}: not a JSON line ({exc})") from exc
    if not entries:
        raise SyncError(f"{path}: no platform lines found")
    return specs_from_entries(entries)


def specs_from_entries(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> list[ShopSpec]:
    """Shop specs from fake-platform descriptions; ``where`` (file:line) names a bad entry."""
    specs: list[ShopSpec] = []
    for where, entry in entries:
        try:
            platform = PlatformKind(entry["platform"])
            base_url = str(entry["base_url"])
        except (KeyError, ValueError) as exc:
            raise SyncError(f"{where}: not a fake platform line ({exc})") from exc
        fields = entry.get("credentials") or {
            k: v for k, v in entry.items() if k not in ("platform", "base_url", "name", "shop_ids")
        }
        try:
            credentials = normalise_credentials(fields)
        except SyncError as exc:
            raise SyncError(f"{where}: {exc}") from exc
        name = str(entry.get("name") or f"{platform.value} {credentials['shop_id']}")
        specs.append(ShopSpec(platform, name, base_url, credentials))
        # A fake serving several shops lists each other shop's tokens as "<token name>:<shop id>".
        for other in entry.get("shop_ids") or ():
            other = str(other)
            if other == credentials["shop_id"]:
                continue
            tokens = {
                CREDENTIAL_ALIASES.get(key.split(":", 1)[0], key.split(":", 1)[0]): str(value)
                for key, value in fields.items()
                if key.endswith(f":{other}")
            }
            specs.append(
                ShopSpec(platform, f"{platform.value} {other}", base_url, {**credentials, "shop_id": other, **tokens})
            )
    return specs


def credentials_ref(platform: PlatformKind, platform_shop_id: str) -> str:
    return f"shop:{platform.value}:{platform_shop_id}"


async def register(
    session: AsyncSession, specs: Iterable[ShopSpec], secrets: SecretStore, *, replace: bool = True
) -> list[tuple[Shop, bool]]:
    """Create or update shops; secrets go to the secret store, never to the database.

    ``replace=False`` refuses (:class:`~sync.errors.SyncError`, before anything is written) a shop that is
    registered already: its endpoint and credentials are replaced only when asked.
    """
    specs = list(specs)
    if not replace:
        for spec in specs:
            shop = await _registered(session, spec)
            if shop is not None:
                raise SyncError(
                    t("shops.exists", id=shop.id, platform=spec.platform.value, shop_id=spec.platform_shop_id)
                )
    out: list[tuple[Shop, bool]] = []
    for spec in specs:
        ref = credentials_ref(spec.platform, spec.platform_shop_id)
        secrets.put(ref, dict(spec.credentials))
        shop = await _registered(session, spec)
        created = shop is None
        if shop is None:
            shop = Shop(
                name=spec.name,
                platform=spec.platform,
                channel_type=spec.channel_type or DEFAULT_CHANNEL.get(spec.platform, ChannelType.ECOMMERCE),
                platform_shop_id=spec.platform_shop_id,
                settings={},
            )
            session.add(shop)
        shop.base_url = spec.base_url
        shop.credentials_ref = ref
        shop.active = True
        out.append((shop, created))
    await session.flush()
    return out


async def _registered(session: AsyncSession, spec: ShopSpec) -> Shop | None:
    return await session.scalar(
        select(Shop).where(Shop.platform == spec.platform, Shop.platform_shop_id == spec.platform_shop_id)
    )


def shop_config(shop: Shop, secrets: SecretStore) -> ShopConfig:
    """The connector config for a shop: its row plus its stored credentials."""
    if not shop.base_url or not shop.credentials_ref:
        raise SyncError(f"shop {shop.id} ({shop.name}) has no API endpoint or credentials; register it first")
    try:
        stored = secrets.get(shop.credentials_ref)
    except UserError as exc:  # no credentials stored under the reference, an unreadable secrets file
        raise SyncError(str(exc)) from exc
    extra = {k: v for k, v in stored.items() if k not in CONFIG_FIELDS}
    expires = stored.get("token_expires_at")
    return ShopConfig(
        platform=shop.platform,
        base_url=shop.base_url,
        app_key=stored["app_key"],
        app_secret=stored["app_secret"],
        shop_id=stored.get("shop_id", shop.platform_shop_id),
        access_token=stored.get("access_token"),
        refresh_token=stored.get("refresh_token"),
        token_expires_at=datetime.fromisoformat(expires) if expires else None,
        extra=extra,
    )
