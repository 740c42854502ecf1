"""A signing bug in a connector is caught by its fake.

The fakes verify requests with :mod:`connectors.fakes.protocol` (written again from
PLATFORMS.md), never with the connectors' own signing code: the import contract
"fakes-independent" in ``pyproject.toml`` forbids it. So when a connector's signing is swapped
for a subtly wrong variant, its fake refuses the request with the platform's own signature
error, and the connector raises :class:`AuthError` carrying that code.

Each case first shows the connector's real signing accepted (so the refusal below is the
signature's doing and nothing else), then rebinds the connector's ``sign`` everywhere a
``connectors`` module holds it (the signing module, a re-export, a ``from ... import sign`` in
the connector) and reads the same window again. Youzan signs nothing (the gateway checks only
the token) and the self-built mall is our own API, so neither has a case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from bangfu.enums import SyncStream
from connectors.errors import AuthError
from connectors.fakes.protocol import douyin as douyin_protocol
from connectors.fakes.push import DOUYIN_PUSH
from connectors.fakes.server import fake_server
from tests.connectors.contract import ContractTests, collect

SignFunction = Callable[..., str]


def signing_module(platform: str) -> ModuleType:
    """The connector's signing module: ``connectors/<platform>/sign.py`` once the platform has
    its folder (issue 14), ``connectors/signing/<platform>.py`` until then."""
    for name in (f"connectors.{platform}.sign", f"connectors.signing.{platform}"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise AssertionError(f"no signing module for {platform}")


def rebind(monkeypatch: pytest.MonkeyPatch, original: object, replacement: object) -> list[str]:
    """Replace ``original`` by ``replacement`` in every loaded connectors module but the fakes."""
    where: list[str] = []
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith("connectors.fakes"):
            continue
        if name != "connectors" and not name.startswith("connectors."):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attr, replacement)
                where.append(f"{name}.{attr}")
    return where


# ----------------------------------------------------------------------- the wrong variants
# Each matches the connector's call and gets one thing wrong.


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def taobao_keys_reversed(params: Any, secret: str, method: Any = None) -> str:
    """TOP with the parameters concatenated in descending instead of ascending key order."""
    chosen = _text(method if method is not None else params.get("sign_method", "md5"))
    joined = "".join(f"{k}{v}" for k, v in sorted(params.items(), reverse=True) if k != "sign" and v != "")
    key, body = secret.encode(), joined.encode()
    if chosen == "md5":
        return hashlib.md5(key + body + key).hexdigest().upper()
    digest = hashlib.md5 if chosen == "hmac" else hashlib.sha256
    return hmac.new(key, body, digest).hexdigest().upper()


def jd_secret_only_in_front(params: Any, secret: str) -> str:
    """JOS without the closing secret: MD5(secret + concat) instead of MD5(secret + concat + secret)."""
    joined = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return hashlib.md5(f"{secret}{joined}".encode()).hexdigest().upper()


def douyin_secret_only_in_front(
    *, app_key: str, secret: str, method: str, param_json: str, timestamp: str, sign_method: Any, v: str = "2"
) -> str:
    """Douyin without the closing secret on the signed pattern."""
    pattern = f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}".encode()
    if _text(sign_method) == "md5":
        return hashlib.md5(pattern).hexdigest()
    return hmac.new(secret.encode(), pattern, hashlib.sha256).hexdigest()


def kuaishou_without_sign_secret(params: Any, sign_secret: str, method: Any = None) -> str:
    """Kuaishou without the ``&signSecret=`` suffix on the signed string."""
    signed = ("access_token", "appkey", "method", "param", "signMethod", "timestamp", "version")
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k in signed and v is not None).encode()
    if _text(method if method is not None else params.get("signMethod") or "MD5") == "MD5":
        return hashlib.md5(text).hexdigest()
    return base64.b64encode(hmac.new(sign_secret.encode(), text, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Case:
    platform: str
    wrong: SignFunction
    code: int | str  # the platform's signature error, as the connector's AuthError carries it
    sub_code: str | None = None


CASES = [
    Case("taobao", taobao_keys_reversed, 25),  # Invalid signature
    Case("jd", jd_secret_only_in_front, "12"),  # 签名无效
    Case("douyin", douyin_secret_only_in_front, 40003, "isv.signature-invalid"),
    Case("kuaishou", kuaishou_without_sign_secret, 802001),  # 签名校验失败
]


def harness(platform: str) -> ContractTests:
    """The contract suite's plumbing (fake with a frozen clock, connector on virtual time)."""
    cls: type[ContractTests] = type(f"{platform.title()}Harness", (ContractTests,), {"platform": platform})
    return cls()


@pytest.mark.parametrize("case", CASES, ids=[case.platform for case in CASES])
async def test_a_connector_signing_bug_is_refused_by_its_fake(
    case: Case, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    plumbing = harness(case.platform)
    async with plumbing.fake(orders=20) as fake:
        connector, _ = plumbing.connect(fake, session)
        now = fake.clock.now()
        start = now - connector.window_for(SyncStream.ORDERS)
        await collect(connector.orders(start, now))  # the connector's own signing is accepted
        assert not connector.stats.errors

        calls: list[object] = []

        def wrong(*args: Any, **kwargs: Any) -> str:
            calls.append(args or kwargs)
            return case.wrong(*args, **kwargs)

        where = rebind(monkeypatch, signing_module(case.platform).sign, wrong)
        assert where, "the connector's sign function was not found"
        with pytest.raises(AuthError) as refused:
            await collect(connector.orders(start, now))
        assert calls, f"the connector did not sign with the rebound function ({where})"
        assert (refused.value.code, refused.value.sub_code) == (case.code, case.sub_code), refused.value


async def test_a_hub_push_check_bug_is_caught_by_the_fake_douyin_push(monkeypatch: pytest.MonkeyPatch) -> None:
    """The other direction: the fake signs its Douyin pushes with the protocol package, so a hub
    that checks ``event-sign`` wrongly (here: without the app key in front of the body) refuses
    the fake's genuine pushes."""
    module = signing_module("douyin")
    async with fake_server("douyin", seed=5, orders=5, days=1) as fake:
        creds = fake.credentials
        messages = [{"tag": "101", "msg_id": "m-1", "data": '{"p_id":1}'}]
        for how in (None, "hmac-sha256"):
            body, headers = DOUYIN_PUSH.encode(fake.fake, messages, how)
            assert headers == {
                "Content-Type": "application/json",
                **douyin_protocol.push_headers(body, app_key=creds.app_key, secret=creds.app_secret, how=how),
            }
            assert module.verify_push(headers, body, app_key=creds.app_key, secret=creds.app_secret)

        def without_app_key(body: bytes, *, app_key: str, secret: str, sign_method: Any = "md5") -> str:
            data = body + secret.encode()
            if _text(sign_method) == "md5":
                return hashlib.md5(data).hexdigest()
            return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()

        assert rebind(monkeypatch, module.push_sign, without_app_key)
        for how in (None, "hmac-sha256"):
            body, headers = DOUYIN_PUSH.encode(fake.fake, messages, how)
            assert not module.verify_push(headers, body, app_key=creds.app_key, secret=creds.app_secret)
