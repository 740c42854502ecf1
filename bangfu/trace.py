"""Public codes: a supply lot's traceability code and a live session's campaign code.

**Traceability code** (溯源码, ``supply_lots.trace_code``): printed as a QR code on the lot's
packages, it opens the lot's public page ``/t/<code>`` without a login. It is 16 random bytes
from :mod:`secrets` (128 bits, 22 URL-safe characters), drawn when the lot is stored (a column
default, so every way a lot is made gets one: ``bangfu import lots``, the console's lot form,
the demo) and for lots stored before it by migration 0027. The code is the only key to the
page: the lot's id or its lot number never open it, and at 128 bits a guess finds no lot in any
number of tries (2^128 codes for a county's few thousand lots), so enumerating the pages is
useless and no rate limit is needed for them; the page shows no name and no id either way.

**Expiry**: a lot's page answers until its shelf life (保质期) is over and then for
``BANGFU_TRACE_GRACE_DAYS`` days more (180 by default: a buyer may still hold the package or ask
about it), i.e. through ``received_on + shelf life + grace``; after that its code answers like
an unknown one (a friendly page, HTTP 404). The shelf life is the one the unsold rule uses for
the product's category (:meth:`bangfu.unsold.UnsoldRule.shelf_life`, ``BANGFU_UNSOLD_RULE``).

**Campaign code** (活动码, ``live_sessions.campaign_code``): the code a session's mall link
``<public url>/mall/?c=<code>`` carries; mall orders that carry it are attributed ``link`` to the
session (:mod:`bangfu.attribution_rules`). A self-built mall's sessions arrive with their own
code (in its record, else in its raw payload: the column default takes it from there); every
other session gets one drawn when it is stored (the same default; migration 0027 for older ones).
It need not be secret, only unique (the column is unique): 80 random bits.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import date, timedelta
from typing import Any

TRACE_BYTES = 16  # 128 bits
CAMPAIGN_PREFIX = "LS"
TRACE_CODE = re.compile(r"[A-Za-z0-9_-]{22}")
CAMPAIGN_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def new_trace_code() -> str:
    """A lot's traceability code: 128 random bits, URL-safe base64 without padding (22 chars)."""
    return secrets.token_urlsafe(TRACE_BYTES)


def new_campaign_code() -> str:
    """A session's campaign code: ``LS`` and 80 random bits in 16 lower-case base32 letters."""
    return CAMPAIGN_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def session_campaign_default(context: Any) -> str:
    """The column default of ``live_sessions.campaign_code``: the code the session's raw payload
    carries (a self-built mall's broadcast), else a new one (:func:`new_campaign_code`)."""
    raw = context.get_current_parameters().get("raw") if context is not None else None
    code = raw.get("campaign_code") if isinstance(raw, dict) else None
    return code if isinstance(code, str) and is_campaign_code(code) else new_campaign_code()


def is_trace_code(text: str) -> bool:
    return TRACE_CODE.fullmatch(text) is not None


def is_campaign_code(text: str) -> bool:
    return CAMPAIGN_CODE.fullmatch(text) is not None


def trace_last_day(received_on: date, shelf_days: int, grace_days: int) -> date:
    """The last day a lot's traceability page answers (module docstring, "Expiry")."""
    return received_on + timedelta(days=shelf_days + grace_days)


def trace_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/t/{code}"


def campaign_url(public_url: str, code: str) -> str:
    """The mall link of a session's campaign code (the mall reads ``c``)."""
    from urllib.parse import quote

    return f"{public_url.rstrip('/')}/mall/?c={quote(code, safe='')}"
