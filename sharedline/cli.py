"""The ``sharedline`` command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from . import __version__
from .config.settings import Settings, SettingsError, load_settings
from .logconfig import configure_logging

if TYPE_CHECKING:
    from .store.database import Database
    from .store.repositories import CallSummary

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Shared phone numbers: a SIP switch and team inbox.",
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file (embedded defaults if omitted).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL, e.g. sqlite+aiosqlite:///sharedline.db.")
]


def _settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:
        where = f"{config}: " if config else ""
        for problem in error.errors():
            path = ".".join(str(part) for part in problem["loc"])
            typer.echo(f"error: {where}{path}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None


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
    db: DbOption = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="console or json.")] = None,
) -> None:
    """Run the engine: SIP on every listen address until SIGTERM or Ctrl-C."""
    settings = _settings(
        config,
        sip_listen=sip_listen or None,
        database_url=db,
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

T = TypeVar("T")

calls_app = typer.Typer(no_args_is_help=True, help="The shared call history.")
registrations_app = typer.Typer(no_args_is_help=True, help="Devices' registered contacts.")
app.add_typer(calls_app, name="calls")
app.add_typer(registrations_app, name="registrations")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _with_store(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, bring its schema up to date, run ``work``; exit 1 if it is unusable."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from .store.database import Database, migrate

    async def run() -> T:
        database = Database(settings.database_url)
        try:
            await migrate(database)
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except (SQLAlchemyError, CommandError, OSError) as error:
        # The driver's own message only: SQLAlchemy's text would add the statement and its
        # parameters (HA1 values among them).
        cause = getattr(error, "orig", None) or error
        typer.echo(f"error: database: {type(cause).__name__}: {cause}", err=True)
        raise typer.Exit(1) from None


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

    settings = _settings(config, database_url=db)
    try:
        document = load_provisioning_file(file)
        changes = _with_store(
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


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


def _call_row(call: CallSummary) -> list[str]:
    legs = " ".join(
        f"{leg.device_username or leg.contact}:{leg.outcome or '-'}" for leg in call.legs
    )
    return [
        _time(call.started_at),
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

    settings = _settings(config, database_url=db)
    calls = _with_store(settings, lambda database: list_calls(database, number=number, limit=limit))
    if as_json:
        typer.echo(json.dumps([asdict(call) for call in calls], indent=2))
    elif not calls:
        typer.echo("no calls")
    else:
        headers = ["STARTED", "NUMBER", "CALLER", "OUTCOME", "ANSWERED BY", "LEGS"]
        typer.echo(_table(headers, [_call_row(call) for call in calls]))


@registrations_app.command("list")
def registrations_list(
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Every unexpired registration: device, user, contact, seconds left, source."""
    import time

    from .store.repositories import list_registrations

    settings = _settings(config, database_url=db)
    now = time.time()
    views = _with_store(settings, lambda database: list_registrations(database, now=now))
    if as_json:
        typer.echo(json.dumps([asdict(view) for view in views], indent=2))
    elif not views:
        typer.echo("no registrations")
    else:
        headers = ["USERNAME", "USER", "CONTACT", "EXPIRES IN", "SOURCE"]
        rows = [[v.username, v.user_email, v.contact, f"{v.expires_in}s", v.source] for v in views]
        typer.echo(_table(headers, rows))


def main() -> None:
    """Console-script entry point."""
    app()
