"""The one place that builds a shop's connector: the sync engine, the stock pusher, the price
pusher and the re-fetch (through the engine) all come here, so they cannot drift apart again.

A connector for a shop is built from:

- the shop's row and its stored credentials (:func:`sync.shops.shop_config`), which refuses a
  shop without an API endpoint or without a credentials reference;
- the shop's own request rate, ``settings["rate_limit"]`` (:func:`shop_rate_limit`), in place of
  the connector class's default;
- a token keeper: tokens the connector refreshes are written back under the shop's credentials
  reference, so the next process starts from them (a rotated refresh token is not lost).

Tests hand a ``connector_factory`` of their own (a fake's connector, a leaky subclass); it is
used as given. ``connector_kwargs`` (``session=``, ``retry=``, ``clock=``...) go to every
connector this factory builds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from bangfu.models import Shop
from bangfu.secrets import SecretStore
from connectors.base import Connector, Tokens
from connectors.ratelimit import RateLimit
from connectors.registry import connector_for
from sync.shops import shop_config

__all__ = ["ConnectorFactory", "shop_rate_limit"]


def shop_rate_limit(shop: Shop) -> RateLimit | None:
    """The shop's own request rate, from ``settings["rate_limit"] = {"per_second": n, "burst": m}``.

    Platforms grant quotas per app key, and every shop of an app key shares one bucket: give
    them all the same setting. Without one the connector class's rate applies.
    """
    value = (shop.settings or {}).get("rate_limit")
    if value is None:
        return None
    if not isinstance(value, dict) or "per_second" not in value:
        raise ValueError(f"shop {shop.id}: settings.rate_limit must be {{'per_second': n, 'burst': m}}, got {value!r}")
    return RateLimit(per_second=float(value["per_second"]), burst=int(value.get("burst", 1)))


class ConnectorFactory:
    """``factory(shop)`` -> a connector for ``shop`` (see the module docstring)."""

    def __init__(
        self,
        secrets: SecretStore,
        *,
        override: Callable[[Shop], Connector] | None = None,
        connector_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.secrets = secrets
        self._override = override
        self._kwargs = dict(connector_kwargs or {})

    def __call__(self, shop: Shop) -> Connector:
        if self._override is not None:
            return self._override(shop)
        config = shop_config(shop, self.secrets)  # refuses a shop without endpoint or credentials
        rate = shop_rate_limit(shop)
        if rate is not None:
            config = dataclasses.replace(config, rate_limit=rate)
        ref = shop.credentials_ref
        assert ref is not None  # shop_config refused a shop without one
        secrets = self.secrets

        async def keep_tokens(tokens: Tokens) -> None:
            secrets.put(
                ref,
                {
                    "access_token": tokens.access_token,
                    "refresh_token": tokens.refresh_token,
                    "token_expires_at": tokens.expires_at.isoformat() if tokens.expires_at else None,
                },
            )

        return connector_for(config, on_tokens=keep_tokens, **self._kwargs)
