"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.1, documenting exactly the API
routes served, and the API answering as it says.

The last part is schemathesis against the console served on a real TCP port (the SQLite demo
world, the app in a thread with its own event loop), with the bearer token of a role: for every
operation a bounded, derandomized set of valid and of invalid requests (no shrinking), each
answer checked for a server error, a status the document lists, the content type it names and,
for JSON, the schema it gives.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.request import urlopen

import pytest
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from bangfu.store import make_engine
from tests.web.conftest import World, api_token

MAX_EXAMPLES = {"positive": 15, "negative": 10}  # per operation and role


class LiveServer:
    """``web.create_app`` on 127.0.0.1 (a free port), served from a thread with its own loop."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        from web import create_app

        asyncio.set_event_loop(self.loop)
        engine = make_engine(self.database_url)
        runner = web.AppRunner(create_app(engine=engine), access_log=None)
        try:
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = int(runner.addresses[0][1])
        except BaseException as exc:  # noqa: BLE001  # whatever stops the server is reported by start()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(runner.cleanup())
            self.loop.run_until_complete(engine.dispose())
            self.loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error
        assert self.port, "the live server did not start"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="module")
def live(_sqlite_world: World) -> Iterator[LiveServer]:
    server = LiveServer(_sqlite_world.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def document(live: LiveServer) -> dict[str, Any]:
    with urlopen(f"{live.base_url}/api/v1/openapi.json", timeout=30) as response:
        assert response.status == 200 and response.headers.get_content_type() == "application/json"
        data: dict[str, Any] = json.load(response)
    return data


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values() if "operationId" in op
    ]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"


def test_every_api_route_is_documented_and_every_documented_path_served(
    document: dict[str, Any], tmp_path: Any
) -> None:
    from web import create_app

    app = create_app(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
        # The document does not describe itself.
        and route.resource.canonical != "/api/v1/openapi.json"
    }
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method != "parameters"
    }
    assert sorted(served - documented) == [], "API routes missing from the OpenAPI document"
    assert sorted(documented - served) == [], "documented operations the app does not serve"
    for path, item in document["paths"].items():
        for method, op in item.items():
            responses = op.get("responses", {})
            assert "401" in responses, f"{method.upper()} {path}: the 401 of a missing token is documented"
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            in_path = {part[1:-1] for part in path.split("/") if part.startswith("{")}
            assert declared == in_path, f"{method.upper()} {path}: path parameters {declared} vs {in_path}"


# -- schemathesis ------------------------------------------------------------------------------


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _run_operation(operation: Any, mode: Any, base_url: str, headers: dict[str, str]) -> str | None:
    """Run one operation's examples; the first failure as text, or None."""
    checks = _checks()
    seen: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES[mode.value],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing request is reported as is
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)
        except AssertionError as exc:  # schemathesis' FailureGroup is one
            seen.append(f"{case.method} {case.formatted_path} query={case.query}: {str(exc)[:600]}")
            raise

    try:
        run()
    except Exception:  # noqa: BLE001  # any failure of the run is reported by its first failing case
        return seen[0] if seen else "failed (see traceback)"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "host", "coop"])
def test_the_api_answers_as_documented(live: LiveServer, _sqlite_world: World, role: str) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    token = asyncio.run(api_token(_sqlite_world.url, role))
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/v1/openapi.json")
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        # Invalid input is parsed before scope is read: the admin's token tries it for everyone.
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if role == "admin" else [GenerationMode.POSITIVE]
        for mode in modes:
            problem = _run_operation(operation, mode, live.base_url, headers)
            if problem is not None:
                failures.append(f"{operation.label} ({mode.value}): {problem}")
    assert operations >= 3
    assert not failures, f"as {role}:\n" + "\n\n".join(failures)
