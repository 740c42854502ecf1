"""``bangfu users`` and ``bangfu serve`` as an administrator runs them: real processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bangfu.models import ApiToken, User
from bangfu.store import make_engine
from tests.bangfu.test_cli import bangfu_in_process as bangfu
from tests.conftest import EXAMPLES, REPO_ROOT


def _db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    for kind in ("cooperatives", "households"):
        assert bangfu("import", kind, str(EXAMPLES / f"{kind}.csv"), "--db", url).returncode == 0
    return url


def _users(url: str) -> list[tuple[str, str, str, bool]]:
    async def read() -> list[tuple[str, str, str, bool]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(User.name, User.role, User.password_hash, User.disabled))
                return [(n, str(r), h, bool(d)) for n, r, h, d in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def users(*args: str, password: str | None = None) -> Ran:
    """``bangfu users ...`` in-process (the serve test below runs a real process)."""
    from typer.testing import CliRunner

    from bangfu.cli.app import app

    result = CliRunner().invoke(app, ["users", *args], input=None if password is None else password + "\n")
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_users_add_list_passwd_disable_token(tmp_path: Path) -> None:
    url = _db(tmp_path)
    code = (EXAMPLES / "cooperatives.csv").read_text(encoding="utf-8").splitlines()[1].split(",")[0]
    added = users(
        "add",
        "wangli",
        "--role",
        "cooperative",
        "--cooperative",
        code,
        "--password-stdin",
        "--db",
        url,
        password="a long enough password",
    )
    assert added.returncode == 0, added.stderr
    stored = _users(url)
    assert [(n, r) for n, r, _, _ in stored] == [("wangli", "cooperative")]
    assert stored[0][2].startswith("$argon2id$") and "a long enough password" not in stored[0][2]
    listing = users("list", "--db", url)
    assert listing.returncode == 0 and "wangli" in listing.stdout and "cooperative:" in listing.stdout

    # Mistakes end as one line and exit 2, and nothing is written.
    for args, password, message in [
        (["add", "x", "--role", "cooperative", "--password-stdin"], "a long enough password", "--cooperative"),
        (
            ["add", "x", "--role", "host", "--cooperative", code, "--password-stdin"],
            "a long enough password",
            "--cooperative",
        ),
        (["add", "x", "--role", "admin", "--password-stdin"], "short", "10"),
        (["add", "wangli", "--role", "admin", "--password-stdin"], "a long enough password", "wangli"),
        (
            ["add", "x", "--role", "cooperative", "--cooperative", "NOSUCHCODE", "--password-stdin"],
            "a long enough password",
            "NOSUCHCODE",
        ),
        (["add", "x", "--role", "admin"], None, "--password-stdin"),
        (["passwd", "nobody", "--password-stdin"], "a long enough password", "nobody"),
    ]:
        result = users(*args, "--db", url, password=password)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert len(_users(url)) == 1

    before = _users(url)[0][2]
    assert users("passwd", "wangli", "--password-stdin", "--db", url, password="another long password").returncode == 0
    assert _users(url)[0][2] != before

    token = users("token", "wangli", "--db", url)
    assert token.returncode == 0 and token.stdout.strip().startswith("bfh_")

    async def tokens() -> list[tuple[str, bool]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return [(h, bool(r)) for h, r in await conn.execute(select(ApiToken.token_hash, ApiToken.revoked))]
        finally:
            await engine.dispose()

    ((stored_hash, revoked),) = asyncio.run(tokens())
    assert token.stdout.strip() not in stored_hash and not revoked
    assert users("disable", "wangli", "--db", url).returncode == 0
    assert _users(url)[0][3] is True and asyncio.run(tokens())[0][1] is True
    assert users("token", "wangli", "--db", url).returncode == 2


def test_serve_answers_and_stops(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "bangfu", "serve", "--port", str(port), "--db", url],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "bangfu serve did not answer within 30 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            page = response.read().decode()
        assert "登录" in page and 'name="_csrf"' in page
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out, (out, err)
    assert "Traceback" not in err
