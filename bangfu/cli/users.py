"""``bangfu users``: console accounts (add, list, passwd, disable, token).

Passwords are read from standard input (``--password-stdin``), never from the command line
where other users of the machine could see them in the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from bangfu.accounts import ScopeTarget, add_user, issue_token, list_users, set_disabled, set_password, shops_of
from bangfu.cli.app import console, fail, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.enums import UserRole
from bangfu.i18n import t
from bangfu.settings import get_settings
from bangfu.store import make_engine, session_factory

users_app = typer.Typer(help="Console users: roles, scopes, passwords and API tokens.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (first line).")
]


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        fail(t("users.need_password_stdin"))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


async def _with_session(db: str | None, work):  # type: ignore[no-untyped-def]
    url = db or get_settings().resolved_database_url
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


@users_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Login name (no spaces).")],
    role: Annotated[UserRole, typer.Option("--role", help="admin, operator, host, cooperative, county or unit.")],
    cooperative: Annotated[
        str | None, typer.Option("--cooperative", help="Cooperative's unified social credit code.")
    ] = None,
    host: Annotated[int | None, typer.Option("--host", help="Host id.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region's administrative division code.")] = None,
    unit: Annotated[int | None, typer.Option("--unit", help="Purchasing unit id.")] = None,
    shop: Annotated[list[int] | None, typer.Option("--shop", help="Shop id (operator; repeat for more).")] = None,
    lang: Annotated[str, typer.Option("--lang-ui", help="The user's UI language: zh or en.")] = "zh",
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Add a console user with one role and its scope."""
    if lang not in ("zh", "en"):
        raise typer.BadParameter("choose zh or en", param_hint="--lang-ui")
    password = _read_password(password_stdin)
    target = ScopeTarget(cooperative=cooperative, host=host, region=region, unit=unit, shops=tuple(shop or ()))

    async def work(session):  # type: ignore[no-untyped-def]
        await add_user(session, name, role, password, target, lang=lang)

    run(_with_session(db, work))
    console.print(t("users.added", name=name, role=role.value))


@users_app.command("list")
def list_command(db: DbOption = None) -> None:
    """List users with their role, scope and state (never a password or token)."""

    async def work(session):  # type: ignore[no-untyped-def]
        rows = []
        for user in await list_users(session):
            scope = []
            for label, value in (
                ("cooperative", user.cooperative_id),
                ("host", user.host_id),
                ("region", user.region_id),
                ("unit", user.unit_id),
            ):
                if value is not None:
                    scope.append(f"{label}:{value}")
            if user.role == UserRole.OPERATOR:
                shops = await shops_of(session, user.id)
                scope.append("shops:" + (",".join(map(str, shops)) if shops else "*"))
            rows.append(
                (user.name, user.role.value, " ".join(scope), t("users.disabled_mark") if user.disabled else "")
            )
        return rows

    table = Table(title=t("users.title"), title_justify="left")
    for header in ("users.col.name", "users.col.role", "users.col.scope", "users.col.state"):
        table.add_column(t(header))
    for row in run(_with_session(db, work)):
        table.add_row(*row)
    console.print(table)


@users_app.command("passwd")
def passwd_command(name: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Set a new password; the user's open sessions end."""
    password = _read_password(password_stdin)

    async def work(session):  # type: ignore[no-untyped-def]
        await set_password(session, name, password)

    run(_with_session(db, work))
    console.print(t("users.password_set", name=name))


@users_app.command("disable")
def disable_command(
    name: str,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead.")] = False,
    db: DbOption = None,
) -> None:
    """Disable a user: sessions end, API tokens are revoked, logins are refused."""

    async def work(session):  # type: ignore[no-untyped-def]
        await set_disabled(session, name, not enable)

    run(_with_session(db, work))
    console.print(t("users.enabled" if enable else "users.disabled_done", name=name))


@users_app.command("token")
def token_command(name: str, db: DbOption = None) -> None:
    """Print a new API token for the user (shown once; only its hash is kept)."""

    async def work(session):  # type: ignore[no-untyped-def]
        return await issue_token(session, name)

    token = run(_with_session(db, work))
    typer.echo(token)
