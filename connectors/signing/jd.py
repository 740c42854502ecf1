"""JOS request signing: moved to :mod:`connectors.jd.sign`; this name stays for its importers."""

from connectors.jd.sign import SIGN_METHODS, canonical_string, sign, verify

__all__ = ["SIGN_METHODS", "canonical_string", "sign", "verify"]
