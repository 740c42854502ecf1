"""Personal data (PIPL): keyed hashes for identity numbers and buyer ids, masks for display."""

from __future__ import annotations

import hmac
import re
from functools import lru_cache

from bangfu.settings import get_settings

_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")


@lru_cache(maxsize=4)
def _configured_key(data_dir: str, env_key: str | None) -> bytes:
    return get_settings().resolved_hash_key()


def hub_key() -> bytes:
    """The hub's hash key as the settings resolve it (data directory, ``BANGFU_HASH_KEY``).

    Resolved once per settings object (``get_settings`` hands out the same one until its cache
    is cleared, which is how tests and the CLI change settings): every buyer id of every order
    is hashed with it."""
    settings = get_settings()
    for known, key in _HUB_KEY:
        if known is settings:
            return key
    env_key = settings.hash_key.get_secret_value() if settings.hash_key else None
    key = _configured_key(str(settings.data_dir), env_key)
    _HUB_KEY[:] = [(settings, key)]
    return key


_HUB_KEY: list[tuple[object, bytes]] = []  # the last settings object hub_key resolved, and its key


def keyed_hash(purpose: str, value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of ``value`` under the hub's key, separated by ``purpose``; hex."""
    secret = hub_key() if key is None else key
    # hmac.digest with a digest name is OpenSSL's one-shot HMAC: the same bytes as
    # hmac.new(...).hexdigest() without building an HMAC object per call.
    return hmac.digest(secret, f"{purpose}\x00{value}".encode(), "sha256").hex()


def normalise_id_number(value: str) -> str:
    """Upper-case, strip, and check the 18-character resident identity number shape."""
    text = value.strip().upper()
    if not _ID_NUMBER.match(text):
        raise ValueError("identity number must be 17 digits followed by a digit or X")
    return text


def id_number_hash(value: str, key: bytes | None = None) -> str:
    return keyed_hash("id-number", normalise_id_number(value), key)


def buyer_ref(platform: str, buyer_id: str, key: bytes | None = None) -> str:
    """What the hub keeps of a buyer: a keyed hash of the platform's buyer identifier.

    Memoised on (platform, id, key) in a bounded LRU: the connector hashes an order's buyer for
    ``buyer_ref`` and the PIPL scrub (:mod:`bangfu.scrub`) hashes the same id in the stored
    payload right after, and repeat buyers come back order after order."""
    return _buyer_ref(platform, buyer_id, hub_key() if key is None else key)


@lru_cache(maxsize=1 << 15)
def _buyer_ref(platform: str, buyer_id: str, key: bytes) -> str:
    return keyed_hash(f"buyer:{platform}", buyer_id, key)[:32]


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; anything shorter keeps only its last two digits."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # +86 country code
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张**``."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_address(address: str, keep: int = 6) -> str:
    """A delivery address for display: its first ``keep`` characters (province, city, county),
    the rest starred (``四川省凉山州昭觉县****``); the street and door are never shown again."""
    text = address.strip()
    if len(text) <= keep:
        return text[:2] + "*" * max(len(text) - 2, 1) if text else ""
    return text[:keep] + "****"
