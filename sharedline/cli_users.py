"""``sharedline users``: API accounts of the workspace's users (passwords for the team inbox)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .clikit import ConfigOption, DbOption, settings_or_exit, with_store

__all__ = ["users_app"]

users_app = typer.Typer(no_args_is_help=True, help="Users' API accounts: passwords.")


def _read_password(min_length: int) -> str:
    """From a hidden prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < min_length:
        typer.echo(f"error: the password must have at least {min_length} characters", err=True)
        raise typer.Exit(1)
    return password


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="The workspace's name (needed when there are several)."),
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Set a user's API password, read from a prompt or standard input (never an argument).

    Their existing API tokens are revoked.
    """
    from datetime import UTC, datetime

    from .api.passwords import Passwords
    from .store.accounts import set_password as store_password
    from .store.flowstate import MemberNotFound

    settings = settings_or_exit(config, database_url=db)
    passwords = Passwords(settings.api)
    password_hash = passwords.hash(_read_password(settings.api.min_password_length))
    try:
        line = with_store(
            settings,
            lambda database: store_password(
                database,
                workspace=workspace,
                email=email,
                password_hash=password_hash,
                now=datetime.now(UTC),
            ),
        )
    except MemberNotFound as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(line)
