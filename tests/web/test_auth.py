"""Login, logout, CSRF, throttling, sessions ended by a new password, roles' homes, tokens."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.web.conftest import World, api_token, csrf_of, login


async def test_pages_need_a_login_and_the_login_form_works_without_javascript(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/sessions", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login?next=")
    form = await (await client.get("/login")).text()
    assert '<form method="post" action="/login">' in form and 'name="_csrf"' in form
    assert "登录" in form and "<script" not in form


async def test_each_role_lands_on_its_home(client: TestClient) -> None:  # type: ignore[type-arg]
    homes = {
        "admin": "/cooperatives",
        "operator": "/operator",
        "host": "/sessions",
        "coop": r"/cooperatives/\d+",
        "county": "/county",
        "unit": r"/units/\d+",
    }
    for name, pattern in homes.items():
        client.session.cookie_jar.clear()
        await login(client, name)
        response = await client.get("/", allow_redirects=False)
        assert response.status == 302 and re.fullmatch(pattern, response.headers["Location"]), name


async def test_wrong_password_and_unknown_user_read_the_same(client: TestClient) -> None:  # type: ignore[type-arg]
    token = await csrf_of(client)
    wrong = await client.post("/login", data={"name": "admin", "password": "not-the-password", "_csrf": token})
    nobody = await client.post("/login", data={"name": "nobody", "password": "not-the-password", "_csrf": token})
    assert wrong.status == nobody.status == 401
    assert "用户名或密码不正确" in await wrong.text() and "用户名或密码不正确" in await nobody.text()


async def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    await csrf_of(client)
    response = await client.post("/login", data={"name": "admin", "password": "x" * 12, "_csrf": "forged"})
    assert response.status == 403
    await login(client, "admin")
    assert (await client.post("/logout", data={})).status == 403


async def test_logout_ends_the_session(client: TestClient) -> None:  # type: ignore[type-arg]
    await login(client, "host")
    token = await csrf_of(client, "/sessions")
    response = await client.post("/logout", data={"_csrf": token}, allow_redirects=False)
    assert response.status == 302
    assert (await client.get("/sessions", allow_redirects=False)).status == 302


async def test_login_is_throttled_per_account(world_copy: World) -> None:
    from tests.web.conftest import _client

    async for client in _client(world_copy.url):
        token = await csrf_of(client)
        for _ in range(5):
            bad = await client.post("/login", data={"name": "coop", "password": "wrong-password", "_csrf": token})
            assert bad.status == 401
        locked = await client.post("/login", data={"name": "coop", "password": "bangfu-demo-2026", "_csrf": token})
        assert locked.status == 429 and "尝试次数过多" in await locked.text()
        # Another account from the same address is not locked by these five.
        await login(client, "host")


async def test_a_new_password_ends_open_sessions(world_copy: World) -> None:
    from bangfu.accounts import set_password
    from bangfu.store import make_engine, session_factory
    from tests.web.conftest import _client

    async for client in _client(world_copy.url):
        await login(client, "host")
        assert (await client.get("/sessions")).status == 200
        engine = make_engine(world_copy.url)
        async with session_factory(engine)() as session, session.begin():
            await set_password(session, "host", "another-long-password")
        await engine.dispose()
        assert (await client.get("/sessions", allow_redirects=False)).status == 302


async def test_api_needs_a_valid_token(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/v1/me")
    assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer bfh_not-a-token"})
    assert bad.status == 401
    token = await api_token(world.url, "host")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and (await me.json())["role"] == "host"


async def test_language_switch_is_kept(world_copy: World) -> None:
    """On a private copy: the choice is kept on the user, and the shared world's host stays Chinese."""
    from tests.web.conftest import _client

    async for client in _client(world_copy.url):
        await login(client, "host")
        token = await csrf_of(client, "/sessions")
        await client.post("/lang", data={"lang": "en", "_csrf": token, "next": "/sessions"})
        assert "Sign out" in await (await client.get("/sessions")).text()
        client.session.cookie_jar.clear()
        await login(client, "host")  # a new session, no language cookie: the user's own choice
        assert "Sign out" in await (await client.get("/sessions")).text()
