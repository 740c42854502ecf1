"""Payment providers for the county's own mall: :class:`PaymentProvider` and its clients."""

from connectors.payments.base import (
    BadSignature,
    PayIntent,
    PaymentError,
    PaymentProvider,
    PayNotice,
    PayStatus,
    RefundResult,
)
from connectors.payments.fakepay import FakePayClient

__all__ = [
    "BadSignature",
    "FakePayClient",
    "PayIntent",
    "PayNotice",
    "PayStatus",
    "PaymentError",
    "PaymentProvider",
    "RefundResult",
    "provider_for",
]


def provider_for(name: str, base_url: str, credentials: dict[str, str]) -> PaymentProvider:
    """The client of provider ``name`` with the merchant's credentials (``mchid``, ``key``)."""
    if name == FakePayClient.name:
        try:
            return FakePayClient(base_url, credentials["mchid"], credentials["key"])
        except KeyError as exc:
            raise PaymentError(f"payment credentials lack {exc.args[0]!r}") from None
    raise PaymentError(f"unknown payment provider {name!r}")
