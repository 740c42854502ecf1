"""Which connector class serves which platform (lazy: importing this imports no platform).

``CONNECTORS`` maps a :class:`~bangfu.enums.PlatformKind` to ``"module:Class"``; Taobao and
Tmall share the TOP connector. Offline channels (counter, vending, ...) have no connector:
their sales arrive as imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bangfu.enums import PlatformKind
from connectors.base import Connector, ShopConfig

__all__ = ["CONNECTORS", "connector_class", "connector_for"]

CONNECTORS: Mapping[PlatformKind, str] = MappingProxyType(
    {
        PlatformKind.TAOBAO: "connectors.taobao:TaobaoConnector",
        PlatformKind.TMALL: "connectors.taobao:TaobaoConnector",
        PlatformKind.JD: "connectors.jd:JdConnector",
        PlatformKind.DOUYIN: "connectors.douyin:DouyinConnector",
        PlatformKind.KUAISHOU: "connectors.kuaishou:KuaishouConnector",
        PlatformKind.YOUZAN: "connectors.youzan:YouzanConnector",
        PlatformKind.SELFMALL: "connectors.selfmall:SelfmallConnector",
    }
)


def connector_class(platform: PlatformKind | str) -> type[Connector]:
    """Import and return the connector class of ``platform``.

    Raises ``KeyError`` for a platform without a connector, ``TypeError`` if the path does
    not name a :class:`Connector` subclass.
    """
    kind = PlatformKind(platform)
    try:
        target = CONNECTORS[kind]
    except KeyError:
        raise KeyError(f"no connector for platform {kind.value!r}") from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{target} is not a Connector subclass")
    return cls


def connector_for(config: ShopConfig, **kwargs: Any) -> Connector:
    """A connector for the shop in ``config``; ``kwargs`` go to the constructor
    (``session=``, ``retry=``, ``timeout=``, ``clock=``, ...)."""
    return connector_class(config.platform)(config, **kwargs)
