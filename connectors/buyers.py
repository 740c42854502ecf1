"""Buyer references for normalised records: :func:`bangfu.privacy.buyer_ref`, which is memoised.

:func:`bangfu.privacy.buyer_ref` is a keyed HMAC (PIPL: the hub never stores a raw buyer id);
connectors call it once per order, and the PIPL scrub of the order's raw payload hashes the same
id right after. It keeps a bounded LRU keyed on everything the result depends on (namespace,
buyer id, and the key: given, or the hub's as :func:`bangfu.privacy.hub_key` resolves it from
the settings' data directory and ``BANGFU_HASH_KEY``), so repeat buyers and the scrub's second
hash are nearly free, and both share one cache.
"""

from __future__ import annotations

from bangfu.privacy import buyer_ref

__all__ = ["buyer_ref"]
