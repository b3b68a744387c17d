"""``sharedline flows``: check call-flow files, print their JSON Schema, simulate a call.

``validate`` reads a file or a directory as the switch would (``callflows.loader``) and prints
every problem as ``FILE:LINE:COLUMN path: message`` on standard error. Exit status: 0 valid,
1 invalid (or the store unusable), 2 a path or settings that cannot be used. ``simulate``
plays one call through a number's flow (``callflows.simulate``) and prints its timeline.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .clikit import ConfigOption, DbOption, JsonOption, settings_or_exit, with_store

if TYPE_CHECKING:
    from .callflows.facts import CallFacts
    from .callflows.loader import Backend, KnownEntities
    from .callflows.model import FlowDocument
    from .store.database import Database

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


StoreOption = Annotated[
    bool | None,
    typer.Option(
        "--store/--no-store",
        help="Use the store: its numbers, members and trunks, availability and turns "
        "(default: when --db or --config is given).",
    ),
]


def _uses_store(store: bool | None, config: Path | None, db: str | None) -> bool:
    return store if store is not None else (db is not None or config is not None)


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
    store: StoreOption = None,
) -> None:
    """Check call flows; print each problem as FILE:LINE:COLUMN path: message.

    Exit status 0 when they are valid, 1 when they are not, 2 when PATH does not exist.
    """
    from .callflows.loader import FlowError, load_flows

    if not path.exists():
        typer.echo(f"error: {path}: no such file or directory", err=True)
        raise typer.Exit(2)
    known = _known_from_store(config, db) if _uses_store(store, config, db) else None
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


def _answer(text: str) -> tuple[str, float]:
    member, sep, seconds = text.rpartition("@")
    try:
        at = float(seconds)
    except ValueError:
        at = -1.0
    if not sep or not member or at < 0:
        raise typer.BadParameter(f"{text!r}: expected MEMBER@SECONDS, like alice@acme.test@12")
    return member.lower(), at


def _moment(text: str, timezone: str) -> float:
    """``--at`` as epoch seconds; a time without an offset is the number's local time."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected a date and time like 2026-12-24T18:05", param_hint="--at"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(timezone))
    return at.timestamp()


def _store_facts(
    config: Path | None, db: str | None, number: str, caller: str
) -> tuple[CallFacts, KnownEntities]:
    """The team as the store has it: members, availability, round-robin turns, idle times."""
    from .callflows.facts import CallFacts
    from .callflows.loader import known_from_directory
    from .store.flowstate import load_availability, load_idle_since, load_turns
    from .store.repositories import load_directory

    async def read(database: Database) -> tuple[CallFacts, KnownEntities]:
        directory = await load_directory(database)
        found = directory.numbers.get(number)
        facts = CallFacts.by_user_id(
            number=number,
            caller=caller,
            members=[(m.user_id, m.email) for m in (found.members if found is not None else ())],
            availability=await load_availability(database),
            turns=await load_turns(database),
            idle_since=await load_idle_since(database),
        )
        return facts, known_from_directory(directory)

    settings = settings_or_exit(config, database_url=db)
    return with_store(settings, read)


def _named_members(document: FlowDocument) -> tuple[str, ...]:
    """Without a store, ``everyone`` is every member the flows name, in order of appearance."""
    named: dict[str, None] = {}
    for group in document.groups.values():
        named.update(dict.fromkeys(group.members))
    for flow in document.flows.values():
        for step in flow.steps.values():
            for stage in step.ring.stage_list() if step.ring is not None else ():
                named.update({t.member: None for t in stage.targets if t.member is not None})
    return tuple(named)


@flows_app.command("simulate")
def simulate_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Flow file or directory (default: the flows: setting)."),
    ] = None,
    number: Annotated[str, typer.Option("--number", help="The shared number called (E.164).")] = "",
    caller: Annotated[str, typer.Option("--caller", help="Who calls.")] = "anonymous",
    at: Annotated[
        str | None,
        typer.Option("--at", help="When, like 2026-12-24T18:05 (the number's local time); now."),
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option("--answer", help="MEMBER@SECONDS: picks up then, if ringing. Repeatable."),
    ] = None,
    decline: Annotated[
        list[str] | None, typer.Option("--decline", help="MEMBER declines when rung.")
    ] = None,
    busy: Annotated[list[str] | None, typer.Option("--busy", help="MEMBER is on a call.")] = None,
    dnd: Annotated[
        list[str] | None, typer.Option("--dnd", help="MEMBER is on do-not-disturb.")
    ] = None,
    offline: Annotated[
        list[str] | None, typer.Option("--offline", help="MEMBER has no registered phone.")
    ] = None,
    digits: Annotated[str, typer.Option("--digits", help="Keys pressed at menus, in order.")] = "",
    hangup_at: Annotated[
        float | None, typer.Option("--hangup-at", min=0, help="The caller gives up then.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="For random and weighted strategies.")] = 0,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
    store: StoreOption = None,
) -> None:
    """Play a call through a number's flow: which legs ring when, who answers, where it ends."""
    import time
    from dataclasses import asdict, replace

    from .callflows.facts import CallFacts, MemberAvailability
    from .callflows.interpreter import Interpreter
    from .callflows.loader import FlowError, load_flows
    from .callflows.simulate import Script, simulate

    if not number:
        raise typer.BadParameter("give the number called", param_hint="--number")
    path = path or settings_or_exit(config, database_url=db).flows
    if path is None or not path.exists():
        typer.echo(f"error: {path or 'no flows path'}: no such file or directory", err=True)
        raise typer.Exit(2)
    use_store = _uses_store(store, config, db)
    facts, known = _store_facts(config, db, number, caller) if use_store else (None, None)
    try:
        flows = load_flows(path, known=known)
    except FlowError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    document = flows.document
    binding = document.numbers.get(number)
    if binding is None:
        known_numbers = ", ".join(document.numbers) or "none"
        typer.echo(f"error: {number} is bound to no flow (bound: {known_numbers})", err=True)
        raise typer.Exit(1)
    timezone = binding.timezone or document.timezone
    start = _moment(at, timezone) if at is not None else time.time()
    if facts is None:
        facts = CallFacts(number=number, caller=caller, members=_named_members(document))
    availability = dict(facts.availability)
    for member in dnd or ():
        availability[member.lower()] = replace(
            availability.get(member.lower(), MemberAvailability()), dnd=True
        )
    facts = replace(
        facts,
        busy=frozenset(m.lower() for m in busy or ()),
        availability=availability,
        wall_offset=start,
    )
    script = Script(
        answers=dict(_answer(text) for text in answer or ()),
        declines=frozenset(m.lower() for m in decline or ()),
        unreachable=frozenset(m.lower() for m in offline or ()),
        digits=list(digits),
        hangup_at=hangup_at,
    )
    timeline = simulate(Interpreter(document, flows.revision), number, facts, script, seed=seed)
    if as_json:
        typer.echo(json.dumps([asdict(entry) for entry in timeline], indent=2))
        return
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(start, ZoneInfo(timezone))
    typer.echo(
        f"{number} called by {caller} on {local:%a %Y-%m-%d %H:%M} {timezone} "
        f"(flows revision {flows.revision})"
    )
    for entry in timeline:
        detail = f"  {entry.detail}" if entry.detail else ""
        when = f"+{entry.at:g}s"
        typer.echo(f"  {when:>7}  {entry.event:<15}{detail}".rstrip())
