"""The ``sharedline`` command line."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import __version__
from .cli_flows import flows_app
from .cli_members import members_app
from .cli_users import users_app
from .clikit import (
    ConfigOption,
    DbOption,
    JsonOption,
    format_time,
    settings_or_exit,
    table,
    with_store,
)
from .logconfig import configure_logging

if TYPE_CHECKING:
    from .store.repositories import CallSummary

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Shared phone numbers: a SIP switch and team inbox.",
)


@app.command()
def serve(
    config: ConfigOption = None,
    sip_listen: Annotated[
        list[str] | None,
        typer.Option(
            "--sip-listen",
            help="TRANSPORT:HOST:PORT to listen on (udp, tcp or tls); repeat for several.",
        ),
    ] = None,
    api_listen: Annotated[
        str | None,
        typer.Option(
            "--api-listen", help="HOST:PORT for the team inbox API (default 127.0.0.1:8080)."
        ),
    ] = None,
    db: DbOption = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="console or json.")] = None,
    flows: Annotated[
        Path | None,
        typer.Option(
            "--flows",
            help="Call-flow YAML file or directory (reloaded on change and on SIGHUP).",
        ),
    ] = None,
) -> None:
    """Run the engine: SIP on every listen address and the API, until SIGTERM or Ctrl-C."""
    settings = settings_or_exit(
        config,
        sip_listen=sip_listen or None,
        api={"listen": api_listen} if api_listen else None,
        database_url=db,
        flows=flows,
        log_level=log_level,
        log_format=log_format,
    )
    configure_logging(settings.log_level, settings.log_format)
    from .app import run

    raise typer.Exit(asyncio.run(run(settings)))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


# --- admin commands: provisioning, call history, registrations ---------------------------------

calls_app = typer.Typer(no_args_is_help=True, help="The shared call history.")
registrations_app = typer.Typer(no_args_is_help=True, help="Devices' registered contacts.")
app.add_typer(calls_app, name="calls")
app.add_typer(registrations_app, name="registrations")
app.add_typer(members_app, name="members")
app.add_typer(flows_app, name="flows")
app.add_typer(users_app, name="users")


@app.command("provision")
def provision_command(
    file: Annotated[
        Path, typer.Argument(help="Provisioning YAML: workspace, users, trunks, numbers.")
    ],
    config: ConfigOption = None,
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and report changes; write nothing.")
    ] = False,
) -> None:
    """Create or update a workspace's users, devices, trunks and numbers from a YAML file.

    Prints one line per change, or "no changes". Any error: nothing is written, exit status 1.
    """
    from .store.provisioning import ProvisioningError, load_provisioning_file, provision

    settings = settings_or_exit(config, database_url=db)
    try:
        document = load_provisioning_file(file)
        changes = with_store(
            settings,
            lambda database: provision(
                database, document, realm=settings.sip.realm, dry_run=dry_run
            ),
        )
    except ProvisioningError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    for line in changes:
        typer.echo(line)
    if dry_run:
        typer.echo("dry run: nothing was written", err=True)


def _call_row(call: CallSummary) -> list[str]:
    legs = " ".join(
        f"{leg.device_username or leg.contact}:{leg.outcome or '-'}" for leg in call.legs
    )
    return [
        format_time(call.started_at),
        call.number or "-",
        call.caller,
        call.outcome or "-",
        call.answered_by_name or "-",
        legs or "-",
    ]


@calls_app.command("list")
def calls_list(
    number: Annotated[
        str | None, typer.Option("--number", help="Only this shared number's calls (E.164).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many calls.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """The newest calls first: who called, the outcome, who answered, every leg."""
    from .store.repositories import list_calls

    settings = settings_or_exit(config, database_url=db)
    calls = with_store(settings, lambda database: list_calls(database, number=number, limit=limit))
    if as_json:
        typer.echo(json.dumps([asdict(call) for call in calls], indent=2))
    elif not calls:
        typer.echo("no calls")
    else:
        headers = ["STARTED", "NUMBER", "CALLER", "OUTCOME", "ANSWERED BY", "LEGS"]
        typer.echo(table(headers, [_call_row(call) for call in calls]))


@registrations_app.command("list")
def registrations_list(
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Every unexpired registration: device, user, contact, seconds left, source."""
    import time

    from .store.repositories import list_registrations

    settings = settings_or_exit(config, database_url=db)
    now = time.time()
    views = with_store(settings, lambda database: list_registrations(database, now=now))
    if as_json:
        typer.echo(json.dumps([asdict(view) for view in views], indent=2))
    elif not views:
        typer.echo("no registrations")
    else:
        headers = ["USERNAME", "USER", "CONTACT", "EXPIRES IN", "SOURCE"]
        rows = [[v.username, v.user_email, v.contact, f"{v.expires_in}s", v.source] for v in views]
        typer.echo(table(headers, rows))


def main() -> None:
    """Console-script entry point."""
    app()
