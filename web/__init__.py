"""The hub's web face: an aiohttp application serving the console (login, a home and pages per
role), the JSON API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``) and static files.

Layers: ``web`` reads the store only through the query functions in :mod:`bangfu.queries` and
:mod:`bangfu.reports` (the same ones ``bangfu report`` uses) and never imports ``connectors``.
Every view takes the user's :class:`~bangfu.scope.Scope` from the request, calls one query
function and renders it as a page or as JSON.
"""

import web.messages  # noqa: F401  (registers the console's UI text)
from web.app import create_app

__all__ = ["create_app"]
