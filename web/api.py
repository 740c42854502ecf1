"""The JSON API's shell: ``/api/v1/me`` and the OpenAPI 3 document at ``/api/v1/openapi.json``.

Each surface module serves its own API routes beside its pages (the same view code, so a page
and its JSON never disagree) and describes them in two module-level dicts, ``OPENAPI_PATHS``
and ``OPENAPI_SCHEMAS``, merged here. Conventions: money in integer fen (``*_fen``), times as
ISO 8601 with offset, lists as ``{"items": [...], "next_cursor": str | null}`` with
``?cursor=&limit=``, errors as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.keys import scope_of, user_of

routes = web.RouteTableDef()

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def error_responses(*statuses: int) -> dict[str, Any]:
    """OpenAPI responses for the given error statuses, all of the one error shape."""
    text = {400: "Bad parameter", 401: "Not signed in", 404: "Not found (or outside your scope)"}
    return {
        str(s): {
            "description": text.get(s, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for s in statuses
    }


def json_ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


ME_PATHS: dict[str, Any] = {
    "/api/v1/me": {
        "get": {
            "summary": "The signed-in user and their scope",
            "operationId": "me",
            "responses": json_ok({"$ref": "#/components/schemas/Me"}) | error_responses(401),
        }
    }
}
ME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "role", "lang"],
    "properties": {
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "operator", "host", "cooperative", "county", "unit"]},
        "lang": {"type": "string", "enum": ["zh", "en"]},
        "cooperative_id": {"type": ["integer", "null"]},
        "host_id": {"type": ["integer", "null"]},
        "unit_id": {"type": ["integer", "null"]},
        "region_ids": {"type": "array", "items": {"type": "integer"}},
        "shop_ids": {"type": ["array", "null"], "items": {"type": "integer"}},
    },
}


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    scope = scope_of(request)
    assert user is not None
    return web.json_response(
        {
            "name": user.name,
            "role": scope.role.value,
            "lang": user.lang,
            "cooperative_id": scope.cooperative_id,
            "host_id": scope.host_id,
            "unit_id": scope.unit_id,
            "region_ids": sorted(scope.region_ids),
            "shop_ids": None if scope.shop_ids is None else sorted(scope.shop_ids),
        }
    )


def openapi_document(app: web.Application) -> dict[str, Any]:
    from web.app import surface_modules

    paths: dict[str, Any] = dict(ME_PATHS)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "Me": ME_SCHEMA}
    for module in surface_modules():
        paths.update(getattr(module, "OPENAPI_PATHS", {}))
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bangfu Hub API",
            "version": "1",
            "description": "Sessions, cooperative income, households and the ledger behind them, "
            "scoped to the caller. Money is integer fen; times are ISO 8601.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document(request.app))


def setup(app: web.Application) -> None:
    app.add_routes(routes)
