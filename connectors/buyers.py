"""Buyer references for normalised records, cached: the same buyers come back order after order.

:func:`bangfu.privacy.buyer_ref` is a keyed HMAC (PIPL: the hub never stores a raw buyer id);
connectors call it once per order. A bounded LRU keyed on everything the result depends on
(namespace, buyer id, and the key: given, or the configured one as ``bangfu.privacy`` resolves
it from the settings' data directory and ``BANGFU_HASH_KEY``) makes repeat buyers nearly free.
"""

from __future__ import annotations

from functools import lru_cache

from bangfu.privacy import buyer_ref as _keyed_buyer_ref
from bangfu.settings import get_settings

__all__ = ["buyer_ref"]


def buyer_ref(namespace: str, buyer_id: str, key: bytes | None = None) -> str:
    """``bangfu.privacy.buyer_ref(namespace, buyer_id, key)``, memoised."""
    if key is not None:
        return _cached(namespace, buyer_id, key, "", None)
    settings = get_settings()
    env_key = settings.hash_key.get_secret_value() if settings.hash_key is not None else None
    return _cached(namespace, buyer_id, None, str(settings.data_dir), env_key)


@lru_cache(maxsize=1 << 15)
def _cached(namespace: str, buyer_id: str, key: bytes | None, data_dir: str, env_key: str | None) -> str:
    # data_dir and env_key only key the cache: with key None, privacy resolves the same ones.
    return _keyed_buyer_ref(namespace, buyer_id, key)
