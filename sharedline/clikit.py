"""What the command groups share: the common options, settings, the store, tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from .config.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from .store.database import Database

__all__ = [
    "ConfigOption",
    "DbOption",
    "JsonOption",
    "format_time",
    "settings_or_exit",
    "table",
    "with_store",
]

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file (embedded defaults if omitted).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL, e.g. sqlite+aiosqlite:///sharedline.db.")
]


def settings_or_exit(config: Path | None, **overrides: object) -> Settings:
    """The settings, or exit 2 with each problem on standard error."""
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


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def with_store(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
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


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )
