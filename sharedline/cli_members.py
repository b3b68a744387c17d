"""``sharedline members``: team members' availability (do-not-disturb, personal hours)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .clikit import (
    ConfigOption,
    DbOption,
    JsonOption,
    format_time,
    settings_or_exit,
    table,
    with_store,
)

if TYPE_CHECKING:
    from .callflows.schedule import ScheduleSpec
    from .store.flowstate import AvailabilityView

__all__ = ["members_app"]

members_app = typer.Typer(
    no_args_is_help=True, help="Team members' availability: do-not-disturb and personal hours."
)

WorkspaceOption = Annotated[
    str | None,
    typer.Option("--workspace", help="The workspace's name (needed when there are several)."),
]


@members_app.command("availability")
def availability(
    email: Annotated[str, typer.Argument(help="The member's email.")],
    workspace: WorkspaceOption = None,
    dnd: Annotated[
        bool | None,
        typer.Option("--dnd/--no-dnd", help="Turn do-not-disturb on or off: no calls ring them."),
    ] = None,
    schedule: Annotated[
        Path | None,
        typer.Option(
            "--schedule",
            help="YAML file with their personal hours, e.g. "
            '{timezone: Europe/Paris, hours: {mon-fri: "09:00-17:00"}}.',
        ),
    ] = None,
    clear_schedule: Annotated[
        bool, typer.Option("--clear-schedule", help="Remove their personal hours.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Set a member's do-not-disturb and personal hours, then show them.

    Without --dnd/--no-dnd, --schedule or --clear-schedule it only shows.

    A bad schedule file prints each problem as FILE:LINE:COLUMN path: message; exit status 1.
    """
    from .store.flowstate import MemberNotFound, set_availability

    if schedule is not None and clear_schedule:
        typer.echo("error: --schedule and --clear-schedule together: choose one", err=True)
        raise typer.Exit(2)
    spec = None if schedule is None else _schedule_or_exit(schedule)
    settings = settings_or_exit(config, database_url=db)
    try:
        view = with_store(
            settings,
            lambda database: set_availability(
                database,
                workspace=workspace,
                email=email,
                dnd=dnd,
                schedule=spec,
                clear_schedule=clear_schedule,
            ),
        )
    except MemberNotFound as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    _show([view], as_json=as_json)


@members_app.command("list")
def members_list(
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Every member (of one workspace, if named): email, name, do-not-disturb, hours."""
    from .store.flowstate import MemberNotFound, list_availability

    settings = settings_or_exit(config, database_url=db)
    try:
        views = with_store(
            settings, lambda database: list_availability(database, workspace=workspace)
        )
    except MemberNotFound as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if not views and not as_json:
        typer.echo("no members")
        return
    _show(views, as_json=as_json)


def _schedule_or_exit(file: Path) -> ScheduleSpec:
    """The schedule in ``file``, or exit 1 with every problem on standard error."""
    from .yamldoc.source import YamlSourceError

    try:
        return load_schedule_file(file)
    except YamlSourceError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None


def load_schedule_file(file: Path) -> ScheduleSpec:
    """Read personal hours from a YAML file in the ``ScheduleSpec`` format.

    Raises ``YamlSourceError`` listing every problem as ``FILE:LINE:COLUMN path: message``.
    """
    from pydantic import ValidationError

    from .callflows.schedule import ScheduleSpec
    from .yamldoc.source import YamlSourceError, load_yaml, validation_errors

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise YamlSourceError([f"{file}: cannot read schedule file: {error}"]) from None
    data, source = load_yaml(text, str(file))
    try:
        return ScheduleSpec.model_validate(data)
    except ValidationError as error:
        raise YamlSourceError(validation_errors(error, source, ScheduleSpec)) from None


def _show(views: list[AvailabilityView], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([asdict(view) for view in views], indent=2))
        return
    headers = ["WORKSPACE", "EMAIL", "NAME", "DND", "HOURS", "UPDATED"]
    rows = [
        [
            view.workspace,
            view.email,
            view.name,
            "on" if view.dnd else "off",
            hours_summary(view.schedule),
            format_time(view.updated_at),
        ]
        for view in views
    ]
    typer.echo(table(headers, rows))


def hours_summary(schedule: dict[str, Any] | None) -> str:
    """One line for a table: ``mon-fri 09:00-17:00 (Europe/Paris)``, other parts counted.

    ``schedule`` is a stored ``ScheduleSpec`` (its non-default fields); None is ``-``.
    """
    if schedule is None:
        return "-"
    hours = schedule.get("hours") or {}
    parts = (
        [f"{days} {_spans(spans)}" for days, spans in hours.items()]
        if isinstance(hours, dict)
        else []
    )
    text = ", ".join(parts) or "no hours"
    if schedule.get("timezone"):
        text += f" ({schedule['timezone']})"
    for key, value in schedule.items():
        if key not in {"hours", "timezone"}:
            text += f"; {key}: {len(value) if isinstance(value, list | dict) else value}"
    return text


def _spans(spans: Any) -> str:
    return " ".join(map(str, spans)) if isinstance(spans, list) else str(spans)
