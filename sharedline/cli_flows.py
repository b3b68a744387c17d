"""``sharedline flows``: check call-flow files and print their JSON Schema.

``validate`` reads a file or a directory as the switch would (``callflows.loader``) and prints
every problem as ``FILE:LINE:COLUMN path: message`` on standard error. Exit status: 0 valid,
1 invalid (or the store unusable), 2 a path or settings that cannot be used.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .clikit import ConfigOption, DbOption, settings_or_exit, with_store

if TYPE_CHECKING:
    from .callflows.loader import Backend, KnownEntities

__all__ = ["flows_app"]

flows_app = typer.Typer(no_args_is_help=True, help="Call flows: validate, schema, simulate.")


class BackendName(enum.StrEnum):
    """The backends a flow can run on (``callflows.loader.Backend``)."""

    SIP = "sip"
    ASTERISK = "asterisk"
    TWILIO = "twilio"


FlowsPath = Annotated[
    Path, typer.Argument(help="A call-flow YAML file, or a directory of them (read recursively).")
]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _backend(name: BackendName | None) -> Backend | None:
    from .callflows.loader import BACKENDS

    return next((backend for backend in BACKENDS if name is not None and backend == name), None)


def _known_from_store(config: Path | None, db: str | None) -> KnownEntities:
    """The store's numbers, members and trunks (exit 1 if the database is unusable)."""
    from .callflows.loader import known_from_directory
    from .store.repositories import load_directory

    settings = settings_or_exit(config, database_url=db)
    return known_from_directory(with_store(settings, load_directory))


@flows_app.command("validate")
def validate_command(
    path: FlowsPath,
    backend: Annotated[
        BackendName | None,
        typer.Option(
            "--backend",
            help="Also refuse what this backend cannot do (sip: no play or menu steps).",
        ),
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    store: Annotated[
        bool | None,
        typer.Option(
            "--store/--no-store",
            help="Check numbers, members and trunks against the store "
            "(default: when --db or --config is given).",
        ),
    ] = None,
) -> None:
    """Check call flows; print each problem as FILE:LINE:COLUMN path: message.

    Exit status 0 when they are valid, 1 when they are not, 2 when PATH does not exist.
    """
    from .callflows.loader import FlowError, load_flows

    if not path.exists():
        typer.echo(f"error: {path}: no such file or directory", err=True)
        raise typer.Exit(2)
    use_store = store if store is not None else (db is not None or config is not None)
    known = _known_from_store(config, db) if use_store else None
    try:
        flows = load_flows(path, known=known, backend=_backend(backend))
    except FlowError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    document = flows.document
    checked = ", checked against the store" if known is not None else ""
    typer.echo(
        f"ok: {_plural(len(document.numbers), 'number')}, "
        f"{_plural(len(document.flows), 'flow')}{checked} (revision {flows.revision})"
    )


@flows_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of call-flow files, for editors (yaml-language-server).

    Save it (sharedline flows schema > callflows.schema.json) and start a flow file with
    "# yaml-language-server: $schema=callflows.schema.json".
    """
    from .callflows.model import document_schema

    typer.echo(json.dumps(document_schema(), indent=2, ensure_ascii=False))
