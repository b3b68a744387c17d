"""The ``sharedline`` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from . import __version__
from .config.settings import Settings, SettingsError, load_settings
from .logconfig import configure_logging

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


def main() -> None:
    """Console-script entry point."""
    app()
