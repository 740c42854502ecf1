"""TOP request signing: moved to :mod:`connectors.taobao.sign`; this name stays for its importers."""

from connectors.taobao.sign import SignMethod, canonical_string, sign, verify

__all__ = ["SignMethod", "canonical_string", "sign", "verify"]
