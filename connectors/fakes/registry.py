"""Which fake platform class serves which platform name, loaded lazily.

``FAKE_PLATFORMS`` maps a platform name to ``"module:Class"``. Modules are imported only when a
fake is requested, so a platform whose fake is not written yet fails with a clear
:class:`FakeNotAvailableError` instead of breaking every other platform.

Public interface (stable)::

    PLATFORM_ORDER: tuple[str, ...]   # taobao, jd, douyin, kuaishou, youzan, selfmall (port order)
    FAKE_PLATFORMS: dict[str, str]    # name -> "connectors.fakes.<name>:Fake<Name>"
    LIVE_PLATFORMS: frozenset[str]    # platforms whose worlds have live sessions
    load_fake(name: str) -> type[FakePlatform]
    port_for(name: str, port_base: int) -> int
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.fakes.server import FakePlatform

PLATFORM_ORDER: tuple[str, ...] = ("taobao", "jd", "douyin", "kuaishou", "youzan", "selfmall")

FAKE_PLATFORMS: dict[str, str] = {
    "taobao": "connectors.fakes.taobao:FakeTaobao",
    "jd": "connectors.fakes.jd:FakeJd",
    "douyin": "connectors.fakes.douyin:FakeDouyin",
    "kuaishou": "connectors.fakes.kuaishou:FakeKuaishou",
    "youzan": "connectors.fakes.youzan:FakeYouzan",
    "selfmall": "connectors.fakes.selfmall:FakeSelfmall",
}

LIVE_PLATFORMS: frozenset[str] = frozenset({"douyin", "kuaishou"})


class FakeNotAvailableError(LookupError):
    """The platform is unknown, or its fake module/class does not exist (yet)."""


def port_for(name: str, port_base: int) -> int:
    """The fixed port of a platform: ``port_base`` + its index in :data:`PLATFORM_ORDER`."""
    try:
        return port_base + PLATFORM_ORDER.index(name)
    except ValueError:
        raise FakeNotAvailableError(f"unknown fake platform {name!r}; known: {', '.join(PLATFORM_ORDER)}") from None


def load_fake(name: str) -> type[FakePlatform]:
    """Import and return the fake platform class for ``name``."""
    from connectors.fakes.server import FakePlatform

    try:
        target = FAKE_PLATFORMS[name]
    except KeyError:
        raise FakeNotAvailableError(f"unknown fake platform {name!r}; known: {', '.join(FAKE_PLATFORMS)}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise FakeNotAvailableError(
            f"fake platform {name!r} is not available: module {module_name} does not exist"
        ) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, FakePlatform)):
        raise FakeNotAvailableError(
            f"fake platform {name!r} is not available: {module_name} has no FakePlatform subclass {class_name}"
        )
    return cls
