"""Kuaishou signing now lives with its connector in :mod:`connectors.kuaishou.sign`; re-exported
here for the code that imports it by this name (the fake, the signing tests)."""

from connectors.kuaishou.sign import SIGNED_KEYS, SignMethod, sign, sign_string, verify

__all__ = ["SIGNED_KEYS", "SignMethod", "sign", "sign_string", "verify"]
