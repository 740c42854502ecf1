"""``bangfu shops add`` (issue 12 item 13): the secret never on the command line, no silent
replacement of a registered shop's credentials, and a base URL that is a URL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bangfu.cli.app import app

SHOP = [
    "shops", "add", "jd", "--name", "京东旗舰店", "--base-url", "http://127.0.0.1:18601",
    "--app-key", "jd-app-key", "--shop-id", "10086",
]  # fmt: skip


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[CliRunner, list[str], Path]:
    monkeypatch.setenv("BANGFU_SECRETS_FILE", str(tmp_path / "secrets.json"))
    return CliRunner(), ["--lang", "en"], tmp_path / "secrets.json"


def _db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite'}"]


def _stored(secrets: Path) -> dict[str, dict[str, str]]:
    return orjson.loads(secrets.read_bytes()) if secrets.exists() else {}


def test_app_secret_as_an_argument_is_refused_and_points_to_stdin(
    cli: tuple[CliRunner, list[str], Path], tmp_path: Path
) -> None:
    """``--app-secret VALUE`` put the secret in the process list (``ps``); it is refused with
    exit 2 and a message naming ``--app-secret-stdin``, and nothing is stored."""
    runner, lang, secrets = cli
    result = runner.invoke(app, [*lang, *SHOP, *_db(tmp_path), "--app-secret", "jd-app-secret"])
    assert result.exit_code == 2, result.output
    assert "--app-secret-stdin" in result.output and "process list" in result.output
    assert _stored(secrets) == {}


def test_the_secret_comes_from_stdin(cli: tuple[CliRunner, list[str], Path], tmp_path: Path) -> None:
    runner, lang, secrets = cli
    result = runner.invoke(app, [*lang, *SHOP, *_db(tmp_path), "--app-secret-stdin"], input="jd-app-secret\n")
    assert result.exit_code == 0, result.output
    assert _stored(secrets)["shop:jd:10086"]["app_secret"] == "jd-app-secret"
    assert "jd-app-secret" not in result.output
    # Without --app-secret-stdin and with no terminal to ask on: refused, saying how.
    missing = runner.invoke(app, [*lang, *SHOP, *_db(tmp_path), "--replace"], input="")
    assert missing.exit_code == 2 and "--app-secret-stdin" in missing.output


def test_adding_a_registered_shop_again_needs_replace(cli: tuple[CliRunner, list[str], Path], tmp_path: Path) -> None:
    """``shops add`` for an existing shop replaced its credentials silently; now it exits 2
    saying ``--replace`` is needed and changes nothing, and with ``--replace`` it replaces."""
    runner, lang, secrets = cli
    first = runner.invoke(app, [*lang, *SHOP, *_db(tmp_path), "--app-secret-stdin"], input="old-secret\n")
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*lang, *SHOP, *_db(tmp_path), "--app-secret-stdin"], input="new-secret\n")
    assert again.exit_code == 2, again.output
    assert "exists already" in again.output and "--replace" in again.output
    assert _stored(secrets)["shop:jd:10086"]["app_secret"] == "old-secret"
    replaced = runner.invoke(
        app, [*lang, *SHOP, *_db(tmp_path), "--app-secret-stdin", "--replace"], input="new-secret\n"
    )
    assert replaced.exit_code == 0, replaced.output
    assert "updated shop" in replaced.output
    assert _stored(secrets)["shop:jd:10086"]["app_secret"] == "new-secret"


@pytest.mark.parametrize("url", ["not a url", "ftp://gw.example.com", "https://", "http://host:port/x"])
def test_a_base_url_that_is_not_an_http_url_is_refused(
    cli: tuple[CliRunner, list[str], Path], tmp_path: Path, url: str
) -> None:
    runner, lang, secrets = cli
    args = [*SHOP, *_db(tmp_path), "--app-secret-stdin"]
    args[args.index("--base-url") + 1] = url
    result = runner.invoke(app, [*lang, *args], input="s3cret\n")
    assert result.exit_code == 2, result.output
    assert f"base URL {url!r} is not valid" in result.output and "http://" in result.output
    assert _stored(secrets) == {}
