"""Platform errors, named by what the caller should do next.

::

    PlatformError(platform, code, message, sub_code)   base; .error_class: ErrorClass
    ├── FatalError                 stop this shop's stream, raise an alert
    │   ├── AuthError              bad signature / app key / token expired and not refreshable
    │   │                          (.token_expired: the base refreshes once and retries, where
    │   │                          the platform has token refresh)
    │   └── BadRequestError        we sent something wrong (our bug): never retried
    │       └── UnsupportedStream  the platform has no such stream (.stream)
    ├── RetriableError             back off and retry (RetryPolicy: max_attempts, base, cap, jitter)
    │   ├── RateLimitError         .retry_after seconds from the platform's ban hint, if any
    │   └── TransientError         5xx, isp.*, timeouts, dropped connections, garbled bodies
    │       └── WindowUnstable     a window's records kept moving while we paged it: the base
    │                              re-reads it, then sync keeps the cursor before it and fails
    │                              the run (retried next run; an alert if it keeps failing)
    └── RecordError                skippable: quarantine the record with raw + error, go on

Policy is data: each platform module maps its error codes to an :class:`ErrorResolution` in one
table (``ERRORS: Mapping[str | int, ErrorResolution]``), its ``classify`` hook looks the code up
(:func:`lookup`), fills in the details (:meth:`ErrorResolution.with_details`) and the base
request loop turns the resolution into the matching exception (:func:`error_for`).

Example::

    ERRORS = {
        7: ErrorResolution(ErrorClass.RATE_LIMIT, message="App Call Limited"),
        "isp.*": ErrorResolution(ErrorClass.TRANSIENT),
        25: ErrorResolution(ErrorClass.AUTH, message="Invalid Signature"),
        27: ErrorResolution(ErrorClass.AUTH, token_expired=True),
    }
    row = lookup(ERRORS, code, sub_code)
    return row.with_details(code=code, sub_code=sub_code, message=sub_msg,
                            retry_after=parse_ban_hint(sub_msg))
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NoReturn

from bangfu.enums import ErrorClass

__all__ = [
    "AuthError",
    "BadRequestError",
    "ErrorResolution",
    "FatalError",
    "PlatformError",
    "RateLimitError",
    "RecordError",
    "RetriableError",
    "TransientError",
    "UnsupportedStream",
    "WindowUnstable",
    "error_for",
    "lookup",
    "parse_ban_hint",
    "raise_for",
]


class PlatformError(Exception):
    """Base of every error a connector raises about a platform call or record."""

    error_class: ErrorClass = ErrorClass.BAD_REQUEST

    def __init__(self, platform: str, code: str | int | None, message: str, sub_code: str | None = None) -> None:
        self.platform = str(platform)
        self.code = code
        self.message = message
        self.sub_code = sub_code
        super().__init__(self.platform, code, message, sub_code)

    def __str__(self) -> str:
        sub = f"/{self.sub_code}" if self.sub_code else ""
        return f"[{self.platform} {self.code}{sub}] {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(platform={self.platform!r}, code={self.code!r}, "
            f"message={self.message!r}, sub_code={self.sub_code!r})"
        )


class FatalError(PlatformError):
    """Stop this shop's stream and raise an alert: retrying will not help."""

    error_class = ErrorClass.BAD_REQUEST


class AuthError(FatalError):
    """Bad signature, unknown app key, missing or expired token."""

    error_class = ErrorClass.AUTH

    def __init__(
        self,
        platform: str,
        code: str | int | None,
        message: str,
        sub_code: str | None = None,
        *,
        token_expired: bool = False,
    ) -> None:
        super().__init__(platform, code, message, sub_code)
        self.token_expired = token_expired


class BadRequestError(FatalError):
    """We sent something wrong (a bug on our side): never retried."""

    error_class = ErrorClass.BAD_REQUEST


class UnsupportedStream(BadRequestError):
    """The platform (or this connector) has no such stream or operation."""

    def __init__(self, platform: str, stream: str) -> None:
        super().__init__(platform, "unsupported", f"{platform} does not support {stream}")
        self.stream = stream


class RetriableError(PlatformError):
    """Back off and retry; when retries are exhausted the last one propagates."""

    error_class = ErrorClass.TRANSIENT


class RateLimitError(RetriableError):
    """The platform throttled us; ``retry_after`` is its ban hint in seconds, if it gave one."""

    error_class = ErrorClass.RATE_LIMIT

    def __init__(
        self,
        platform: str,
        code: str | int | None,
        message: str,
        sub_code: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(platform, code, message, sub_code)
        self.retry_after = retry_after


class TransientError(RetriableError):
    """5xx, ``isp.*`` service errors, timeouts, dropped connections, truncated bodies."""

    error_class = ErrorClass.TRANSIENT


class WindowUnstable(TransientError):
    """A window that never settled: the platform's total (or the records seen) kept moving
    between passes, so what was read may have gaps. Every connector raises this, never
    returns quietly: the window must not count as read (the cursor stays before it)."""

    def __init__(self, platform: str, message: str) -> None:
        super().__init__(platform, "window_unstable", message)


class RecordError(PlatformError):
    """One record is bad: quarantine it with its raw payload and go on."""

    error_class = ErrorClass.BAD_RECORD


@dataclass(frozen=True, slots=True)
class ErrorResolution:
    """What a platform response means, as data (one row of a platform's ``ERRORS`` table).

    ``code``/``sub_code`` are usually left empty in the table and filled in by ``classify``
    with :meth:`with_details`; when empty the HTTP status is used as the code.
    ``token_expired`` marks an auth error the base may cure by refreshing the token once.
    """

    error_class: ErrorClass
    retry_after: float | None = None
    message: str = ""
    token_expired: bool = False
    code: str | int | None = None
    sub_code: str | None = None

    def __post_init__(self) -> None:
        if self.retry_after is not None and (not math.isfinite(self.retry_after) or self.retry_after < 0):
            raise ValueError(f"retry_after must be a finite number >= 0, got {self.retry_after!r}")

    def with_details(
        self,
        *,
        code: str | int | None = None,
        sub_code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> ErrorResolution:
        """A copy with the response's details; ``None`` arguments keep the row's values."""
        return replace(
            self,
            code=self.code if code is None else code,
            sub_code=self.sub_code if sub_code is None else sub_code,
            message=message if message else self.message,
            retry_after=self.retry_after if retry_after is None else retry_after,
        )


_CLASSES: Mapping[ErrorClass, type[PlatformError]] = {
    ErrorClass.AUTH: AuthError,
    ErrorClass.BAD_REQUEST: BadRequestError,
    ErrorClass.RATE_LIMIT: RateLimitError,
    ErrorClass.TRANSIENT: TransientError,
    ErrorClass.BAD_RECORD: RecordError,
}


def error_for(
    resolution: ErrorResolution,
    platform: str,
    code: str | int | None = None,
    message: str | None = None,
    sub_code: str | None = None,
) -> PlatformError:
    """Build the exception a resolution stands for; explicit arguments win over its fields."""
    code = resolution.code if code is None else code
    sub_code = resolution.sub_code if sub_code is None else sub_code
    text = message or resolution.message or resolution.error_class.value
    cls = _CLASSES[resolution.error_class]
    if cls is RateLimitError:
        return RateLimitError(platform, code, text, sub_code, retry_after=resolution.retry_after)
    if cls is AuthError:
        return AuthError(platform, code, text, sub_code, token_expired=resolution.token_expired)
    return cls(platform, code, text, sub_code)


def raise_for(
    resolution: ErrorResolution,
    platform: str,
    code: str | int | None = None,
    message: str | None = None,
    sub_code: str | None = None,
) -> NoReturn:
    """Raise :func:`error_for` of the resolution."""
    raise error_for(resolution, platform, code, message, sub_code)


def lookup(
    table: Mapping[str | int, ErrorResolution],
    code: str | int | None,
    sub_code: str | None = None,
    default: ErrorResolution | None = None,
) -> ErrorResolution | None:
    """Find the row for an error: exact ``sub_code``, then the longest ``"prefix*"`` row
    matching ``sub_code``, then ``code`` (as given, then as int or str), then ``default``.

    ``sub_code`` wins because platforms put the actionable detail there (TOP code 15 is
    "Remote Service Error" whatever the cause, ``isp.*`` says it is worth retrying).
    """
    if sub_code:
        if sub_code in table:
            return table[sub_code]
        best: tuple[int, ErrorResolution] | None = None
        for key, row in table.items():
            matches = isinstance(key, str) and key.endswith("*") and sub_code.startswith(key[:-1])
            if matches and (best is None or len(str(key)) > best[0]):
                best = (len(str(key)), row)
        if best is not None:
            return best[1]
    if code is not None:
        for key in _code_variants(code):
            if key in table:
                return table[key]
    return default


def _code_variants(code: str | int) -> list[str | int]:
    variants: list[str | int] = [code]
    if isinstance(code, int):
        variants.append(str(code))
    else:
        text = code.strip()
        variants.append(text)
        if re.fullmatch(r"-?\d+", text):
            variants.append(int(text))
    return variants


_BAN_HINTS = (
    # TOP: "This ban will last for 1 more seconds"
    re.compile(r"ban\s+will\s+last\s+for\s+(\d+(?:\.\d+)?)\s+more\s+seconds?", re.IGNORECASE),
    # Generic English hints: "retry after 3 seconds", "try again in 2.5 s"
    re.compile(r"(?:retry|try\s+again)\s+(?:after|in)\s+(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE),
    # Chinese hints: "3分钟后再查询" / "10秒后重试"
    re.compile(r"(\d+(?:\.\d+)?)\s*(秒|分钟)后"),
)


def parse_ban_hint(text: str | None, *, pad: float = 1.0) -> float | None:
    """Seconds to wait from a platform's ban message, plus ``pad``; ``None`` without a hint.

    TOP says "This ban will last for N more seconds" and its guidance is to sleep N+1 s,
    hence the default pad of one second. Also understands "retry after N seconds" and the
    Chinese "N秒后" / "N分钟后".
    """
    if not text:
        return None
    for pattern in _BAN_HINTS:
        match = pattern.search(text)
        if match is None:
            continue
        seconds = float(match.group(1))
        if len(match.groups()) > 1 and match.group(2) == "分钟":
            seconds *= 60
        return seconds + pad
    return None
