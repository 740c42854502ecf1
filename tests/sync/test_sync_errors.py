"""Sync raises its own error (sync.errors.SyncError), not the CLI's UserError; the CLI, the
composition root, shows it exactly as it showed the UserError before: one line, exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from bangfu.cli.app import run, user_errors
from bangfu.enums import PlatformKind
from bangfu.errors import UserError
from bangfu.models import Shop
from bangfu.secrets import SecretStore
from sync.errors import SyncError
from sync.shops import normalise_credentials, shop_config, specs_from_fakes, validate_base_url


def test_sync_refuses_with_its_own_error(tmp_path: Path) -> None:
    empty = tmp_path / "fakes.jsonl"
    empty.write_text("ready\n", encoding="utf-8")
    shop = Shop(id=7, name="店", platform=PlatformKind.JD, platform_shop_id="1", base_url="http://x")
    shop.credentials_ref = "shop:7"
    refusals: list[tuple[Callable[[], object], str]] = [
        (lambda: validate_base_url("ftp://example.com"), "ftp://example.com"),
        (lambda: normalise_credentials({"app_key": "k"}), "credentials lack app_secret, shop_id"),
        (lambda: specs_from_fakes(empty), "no platform lines found"),
        # the secret store's own (core) error, raised where sync builds the shop's config
        (lambda: shop_config(shop, SecretStore(tmp_path / "secrets.json")), "no credentials stored under 'shop:7'"),
    ]
    for call, message in refusals:
        with pytest.raises(SyncError, match=message) as caught:
            call()
        assert not isinstance(caught.value, UserError)


def test_the_cli_turns_it_into_its_user_error_with_the_same_text() -> None:
    with pytest.raises(UserError, match=r"^no shop with id 9$"), user_errors():
        raise SyncError("no shop with id 9")


def test_a_command_ends_with_exit_code_2_on_it(capsys: pytest.CaptureFixture[str]) -> None:
    async def command() -> None:
        raise SyncError("no re-fetch request 404")

    with pytest.raises(typer.Exit) as caught:
        run(command())
    assert caught.value.exit_code == 2
    assert "no re-fetch request 404" in capsys.readouterr().err
