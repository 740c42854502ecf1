"""connectors.errors: the hierarchy, resolutions as data, ban hints."""

from __future__ import annotations

import pytest

from bangfu.enums import ErrorClass
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    FatalError,
    PlatformError,
    RateLimitError,
    RecordError,
    RetriableError,
    TransientError,
    UnsupportedStream,
    error_for,
    lookup,
    parse_ban_hint,
    raise_for,
)


@pytest.mark.parametrize(
    ("cls", "parent", "error_class"),
    [
        (AuthError, FatalError, ErrorClass.AUTH),
        (BadRequestError, FatalError, ErrorClass.BAD_REQUEST),
        (UnsupportedStream, BadRequestError, ErrorClass.BAD_REQUEST),
        (RateLimitError, RetriableError, ErrorClass.RATE_LIMIT),
        (TransientError, RetriableError, ErrorClass.TRANSIENT),
        (RecordError, PlatformError, ErrorClass.BAD_RECORD),
    ],
)
def test_hierarchy(cls: type[PlatformError], parent: type[PlatformError], error_class: ErrorClass) -> None:
    assert issubclass(cls, parent)
    assert issubclass(cls, PlatformError)
    assert cls.error_class is error_class


def test_families_are_disjoint() -> None:
    assert not issubclass(RecordError, FatalError | RetriableError)
    assert not issubclass(RetriableError, FatalError)
    assert not issubclass(FatalError, RetriableError)


def test_str_and_attributes() -> None:
    exc = TransientError("taobao", 15, "Remote Service Error", "isp.remote-service-timeout")
    assert (exc.platform, exc.code, exc.sub_code) == ("taobao", 15, "isp.remote-service-timeout")
    assert str(exc) == "[taobao 15/isp.remote-service-timeout] Remote Service Error"
    assert "TransientError(platform='taobao'" in repr(exc)
    unsupported = UnsupportedStream("jd", "live_sessions")
    assert str(unsupported) == "[jd unsupported] jd does not support live_sessions"
    assert unsupported.stream == "live_sessions"


@pytest.mark.parametrize(
    ("error_class", "expected"),
    [
        (ErrorClass.AUTH, AuthError),
        (ErrorClass.BAD_REQUEST, BadRequestError),
        (ErrorClass.RATE_LIMIT, RateLimitError),
        (ErrorClass.TRANSIENT, TransientError),
        (ErrorClass.BAD_RECORD, RecordError),
    ],
)
def test_error_for_builds_the_class(error_class: ErrorClass, expected: type[PlatformError]) -> None:
    exc = error_for(ErrorResolution(error_class, message="from table"), "douyin", 60000, sub_code="x")
    assert type(exc) is expected
    assert exc.message == "from table"
    assert exc.code == 60000
    assert exc.sub_code == "x"


def test_error_for_carries_retry_after_and_token_expired() -> None:
    limit = error_for(ErrorResolution(ErrorClass.RATE_LIMIT, retry_after=2.5), "taobao", 7)
    assert isinstance(limit, RateLimitError)
    assert limit.retry_after == 2.5
    auth = error_for(ErrorResolution(ErrorClass.AUTH, token_expired=True), "jd", "19", "token expired")
    assert isinstance(auth, AuthError)
    assert auth.token_expired
    assert auth.message == "token expired"


def test_error_for_prefers_explicit_details_then_resolution_fields() -> None:
    row = ErrorResolution(ErrorClass.TRANSIENT).with_details(code=520, sub_code="isp.a", message="m")
    exc = error_for(row, "taobao")
    assert (exc.code, exc.sub_code, exc.message) == (520, "isp.a", "m")
    exc = error_for(row, "taobao", 15, "other", "isp.b")
    assert (exc.code, exc.sub_code, exc.message) == (15, "isp.b", "other")
    assert error_for(ErrorResolution(ErrorClass.TRANSIENT), "x").message == "transient"


def test_raise_for_raises() -> None:
    with pytest.raises(AuthError) as info:
        raise_for(ErrorResolution(ErrorClass.AUTH), "kuaishou", "401", "bad sign")
    assert info.value.message == "bad sign"


def test_with_details_keeps_row_values_when_not_given() -> None:
    row = ErrorResolution(ErrorClass.RATE_LIMIT, retry_after=1.0, message="App Call Limited")
    same = row.with_details()
    assert same == row
    filled = row.with_details(code=7, message="", retry_after=3.0)
    assert (filled.code, filled.message, filled.retry_after) == (7, "App Call Limited", 3.0)
    assert row.code is None  # frozen: the table row is untouched


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")])
def test_resolution_refuses_bad_retry_after(bad: float) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        ErrorResolution(ErrorClass.RATE_LIMIT, retry_after=bad)


TABLE: dict[str | int, ErrorResolution] = {
    7: ErrorResolution(ErrorClass.RATE_LIMIT),
    "15": ErrorResolution(ErrorClass.TRANSIENT, message="fifteen"),
    "isp.*": ErrorResolution(ErrorClass.TRANSIENT, message="isp"),
    "isv.*": ErrorResolution(ErrorClass.BAD_REQUEST, message="isv"),
    "isv.access-token-*": ErrorResolution(ErrorClass.AUTH, token_expired=True),
    "isv.signature-invalid": ErrorResolution(ErrorClass.AUTH, message="sig"),
}


def test_lookup_exact_sub_code_wins() -> None:
    row = lookup(TABLE, 40003, "isv.signature-invalid")
    assert row is not None and row.message == "sig"


def test_lookup_longest_prefix() -> None:
    row = lookup(TABLE, 40003, "isv.access-token-expired")
    assert row is not None and row.token_expired
    row = lookup(TABLE, 40003, "isv.parameter-invalid:20022")
    assert row is not None and row.message == "isv"
    row = lookup(TABLE, 15, "isp.top-remote-connection-timeout")
    assert row is not None and row.message == "isp"


def test_lookup_code_as_int_or_str() -> None:
    assert lookup(TABLE, "7") is TABLE[7]
    assert lookup(TABLE, 7, "unknown.sub") is TABLE[7]
    assert lookup(TABLE, 15) is TABLE["15"]
    assert lookup(TABLE, " 15 ") is TABLE["15"]


def test_lookup_default() -> None:
    fallback = ErrorResolution(ErrorClass.BAD_REQUEST)
    assert lookup(TABLE, 99, "nope") is None
    assert lookup(TABLE, None, None, fallback) is fallback


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("This ban will last for 1 more seconds", 2.0),
        ("accesscontrol: This ban will last for 17 more seconds.", 18.0),
        ("this BAN will last for 1 more second", 2.0),
        ("Please retry after 3 seconds", 4.0),
        ("try again in 2.5 s", 3.5),
        ("超时请求过多，请将查询时间间隔缩短,3分钟后再查询", 181.0),
        ("请10秒后重试", 11.0),
        ("Exceed qps limit, KEY [apiId:open.order.cursor.list;appkey:ks1], MAX_QPS [300.0]", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_ban_hint(text: str | None, seconds: float | None) -> None:
    assert parse_ban_hint(text) == seconds


def test_parse_ban_hint_pad() -> None:
    assert parse_ban_hint("This ban will last for 4 more seconds", pad=0.0) == 4.0
