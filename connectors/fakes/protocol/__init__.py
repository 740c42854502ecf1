"""The platforms' wire protocols, written again from PLATFORMS.md, for the fakes and the tests.

One module per platform that signs (Taobao/TOP, JD JOS, Douyin, Kuaishou): how a request is
signed and verified, and how its ``timestamp`` is written and read. The fakes verify every
request with these functions and the independent test clients (``tests/connectors/clients/``)
sign with them. They share no code with the connectors: the import-linter contracts in
``pyproject.toml`` forbid ``connectors.fakes`` (this package included) from importing any other
``connectors`` module ("fakes-independent") and every ``connectors`` module from importing the
fakes ("fakes-not-shipped"). A signing mistake in a connector therefore cannot be repeated in
the check that judges it: the fake refuses the request with the platform's signature error
(``tests/connectors/fakes/test_fakes_catch_signing_bugs.py``).

Youzan signs nothing (the gateway checks only the access token) and the self-built mall is our
own API, so neither has a module here.
"""
