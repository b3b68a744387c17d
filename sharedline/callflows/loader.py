"""Read call-flow YAML into one checked :class:`FlowSet`; report every problem with its position.

Theory of operation
-------------------
1. **Read.** A path is one file, or a directory: every ``*.yaml`` and ``*.yml`` file under it,
   recursively, in name order (names starting with ``.`` are skipped: editors' lock files,
   Kubernetes' ``..data`` links). Each file is a whole document that starts with ``version: 1``.
2. **Shape.** Each file is validated against :class:`~.model.FlowDocument`; pydantic's errors
   become ``FILE:LINE:COLUMN path: message`` lines (``yamldoc.source.validation_errors``), with
   did-you-mean hints for misspelt keys and outcomes.
3. **Merge.** The files' ``numbers``, ``groups``, ``schedules`` and ``flows`` are joined; a name
   defined in two files is an error citing both places, and ``timezone`` and ``defaults`` may be
   set in one file only.
4. **Check the whole** (only once every file has the right shape: a partial document would give
   misleading reference errors): references, the outcomes each step must handle, unreachable
   steps, loops without ``max_visits``, timeouts; against the store when :class:`KnownEntities`
   are given; and what the backend can do when one is named.

Every problem found is collected and raised together as one :class:`FlowError`. The checks
themselves are pure: the caller reads the store (:func:`known_from_directory`).
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..yamldoc.source import (
    KEY_MARK,
    SourceMap,
    YamlSourceError,
    did_you_mean,
    load_yaml,
    validation_errors,
)
from .model import END, FlowDocument, FlowSpec, Outcome, RingSpec, StageSpec, StepKind, StepSpec

if TYPE_CHECKING:
    from ..switch.directory import Directory

__all__ = [
    "BACKENDS",
    "REQUIRED_OUTCOMES",
    "STEP_OUTCOMES",
    "Backend",
    "FlowError",
    "FlowSet",
    "KnownEntities",
    "known_from_directory",
    "load_flows",
    "parse_flows",
]

Backend = Literal["sip", "asterisk", "twilio"]
BACKENDS: tuple[Backend, ...] = ("sip", "asterisk", "twilio")

Loc = tuple[str | int, ...]

SUFFIXES = (".yaml", ".yml")

_CALL = frozenset(
    {
        Outcome.ANSWERED,
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.DECLINED,
        Outcome.FAILED,
        Outcome.CALLER_HANGUP,
    }
)
_CALL_REQUIRED = (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DECLINED, Outcome.FAILED)
_SCHEDULE = (Outcome.OPEN, Outcome.CLOSED, Outcome.HOLIDAY)
_MENU = (Outcome.NO_INPUT, Outcome.INVALID)

STEP_OUTCOMES: Mapping[StepKind, frozenset[Outcome]] = {
    StepKind.RING: _CALL,
    StepKind.FORWARD: _CALL,
    StepKind.SCHEDULE: frozenset(_SCHEDULE),
    StepKind.PLAY: frozenset({Outcome.DONE}),
    StepKind.MENU: frozenset(_MENU),
    StepKind.GOTO: frozenset(),
    StepKind.VOICEMAIL: frozenset(),
    StepKind.HANGUP: frozenset(),
}
"""What each kind of step can come to (plus ``max_visits`` on a step that sets it)."""

REQUIRED_OUTCOMES: Mapping[StepKind, tuple[Outcome, ...]] = {
    StepKind.RING: _CALL_REQUIRED,
    StepKind.FORWARD: _CALL_REQUIRED,
    StepKind.SCHEDULE: _SCHEDULE,
    StepKind.PLAY: (Outcome.DONE,),
    StepKind.MENU: _MENU,
}
"""The outcomes ``on:`` must map (each, or ``default``); ``answered`` and ``caller_hangup``
end the flow and need no mapping."""

_ENDS_FLOW = {
    Outcome.ANSWERED: "answered means the call is connected and the flow is over",
    Outcome.CALLER_HANGUP: "caller_hangup means the caller is gone and the flow is over",
}
_ENDS_CALL = (StepKind.VOICEMAIL, StepKind.HANGUP)
_MEDIA = (StepKind.PLAY, StepKind.MENU)


class FlowError(ValueError):
    """The flows are wrong; ``errors`` lists every problem as ``FILE:LINE:COLUMN path: msg``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class FlowSet:
    """A checked document and where it came from."""

    document: FlowDocument
    revision: str
    """12 hex digits of SHA-256 over the files' names and contents: changes iff they do."""
    files: tuple[str, ...]
    """The files read, in the order they were merged."""


@dataclass(frozen=True, slots=True)
class KnownEntities:
    """What the store holds that flows refer to."""

    numbers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Shared number (E.164) → the emails of its members."""
    trunks: frozenset[str] = frozenset()
    """Trunk names."""


def known_from_directory(directory: Directory) -> KnownEntities:
    """The numbers, their members and the trunks of a store snapshot."""
    return KnownEntities(
        numbers={
            e164: frozenset(member.email.lower() for member in number.members)
            for e164, number in directory.numbers.items()
        },
        trunks=frozenset(directory.trunks),
    )


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    shown: str
    """The name in error messages (the path as given, joined with the file's)."""
    name: str
    """The name in the revision hash (relative to the directory given)."""
    data: bytes


def load_flows(
    path: Path, *, known: KnownEntities | None = None, backend: Backend | None = None
) -> FlowSet:
    """Read, merge and check the call-flow file or directory at ``path``.

    ``known``: also check the numbers, members and trunks flows name against the store.
    ``backend``: also refuse what that backend cannot do (``play`` and ``menu`` on ``sip``).
    Raises :class:`FlowError` listing every problem (an unreadable file, YAML syntax, a
    duplicate key, a wrong field, a wrong reference, …).
    """
    files: list[_File] = []
    problems: list[str] = []
    for file, name in _flow_files(path):
        try:
            files.append(_File(str(file), name, file.read_bytes()))
        except OSError as error:
            problems.append(f"{file}: cannot read call-flow file: {error.strerror or error}")
    if problems:
        raise FlowError(problems)
    return _build(files, known, backend)


def parse_flows(
    text: str,
    file: str = "<flows>",
    *,
    known: KnownEntities | None = None,
    backend: Backend | None = None,
) -> FlowSet:
    """:func:`load_flows` for one document already read; ``file`` names it in errors."""
    return _build([_File(file, file, text.encode("utf-8"))], known, backend)


def _flow_files(path: Path) -> list[tuple[Path, str]]:
    """The files to read and their names relative to ``path``; FlowError if there are none."""
    if path.is_dir():
        found = sorted(
            (file.relative_to(path).as_posix(), file)
            for file in path.rglob("*")
            if file.suffix in SUFFIXES
            and file.is_file()
            and not any(part.startswith(".") for part in file.relative_to(path).parts)
        )
        if not found:
            raise FlowError([f"{path}: no call-flow files (*.yaml, *.yml) in this directory"])
        return [(file, name) for name, file in found]
    if path.exists():
        return [(path, path.name)]
    raise FlowError([f"{path}: no such file or directory"])


def _revision(files: Iterable[_File]) -> str:
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.name):
        name = file.name.encode("utf-8")
        digest.update(len(name).to_bytes(4, "big") + name)
        digest.update(len(file.data).to_bytes(8, "big") + file.data)
    return digest.hexdigest()[:12]


def _build(files: list[_File], known: KnownEntities | None, backend: Backend | None) -> FlowSet:
    problems: list[str] = []
    parts: list[tuple[FlowDocument, SourceMap]] = []
    for file in files:
        try:
            part = _parse(file)
        except FlowError as error:
            problems += error.errors
        else:
            parts.append(part)
    document, sources, duplicates = _merge(parts)
    problems += duplicates
    if problems:
        raise FlowError(problems)
    problems = _Checks(document, sources, known, backend).run()
    if problems:
        raise FlowError(problems)
    return FlowSet(document, _revision(files), tuple(file.shown for file in files))


def _parse(file: _File) -> tuple[FlowDocument, SourceMap]:
    try:
        text = file.data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FlowError(
            [f"{file.shown}: cannot read call-flow file: not UTF-8 text (byte {error.start})"]
        ) from None
    try:
        data, source = load_yaml(text, file.shown)
    except YamlSourceError as error:
        raise FlowError(error.errors) from None
    if data is None:
        raise FlowError([source.format((), "empty file: a call-flow file starts with version: 1")])
    try:
        return FlowDocument.model_validate(data), source
    except ValidationError as error:
        raise FlowError(_shape_errors(error, source)) from None


# --- shape errors -------------------------------------------------------------------------------


def _shape_errors(error: ValidationError, source: SourceMap) -> list[str]:
    """:func:`validation_errors`, with hints for unknown keys and integer keys found.

    The generic hint for an unknown field cannot see through the maps of steps and flows, and
    an unquoted ``+14155550100:`` key reaches pydantic as an integer the source map does not
    know; both are put right here.
    """
    lines = validation_errors(error, source, FlowDocument)
    for index, problem in enumerate(error.errors()):
        loc = tuple(problem["loc"])
        if problem["type"] == "extra_forbidden":
            name = str(loc[-1])
            hint = did_you_mean(name, _fields_at(loc[:-1]))
            lines[index] = source.format(loc, f"unknown field {name!r}{hint}", key=True)
        elif len(loc) >= 2 and loc[-1] == KEY_MARK and isinstance(loc[-2], int):
            message = problem["msg"].removeprefix("Value error, ")
            path = (*loc[:-2], _written_key(source, loc[:-2], loc[-2]))
            lines[index] = source.format(path, message[:1].lower() + message[1:], key=True)
        elif loc == ("version",) and problem["type"] == "missing":
            lines[index] = source.format(loc, "missing: a call-flow file starts with version: 1")
    return lines


def _written_key(source: SourceMap, parent: Loc, key: int) -> str | int:
    """An integer mapping key as written (``+14155550100`` or ``1``), when the file has it."""
    for written in (str(key), f"+{key}"):
        if (*parent, written) in source.keys:
            return written
    return key


def _fields_at(loc: Loc) -> list[str]:
    """The field names of the model at ``loc`` in a document (through maps and lists)."""
    annotation: Any = FlowDocument
    for part in loc:
        annotation = _inside(_unwrap(annotation), part)
    model = _unwrap(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, …]`` and ``X | None`` → ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            found = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(found) != 1:
                return annotation
            annotation = found[0]
        else:
            return annotation


def _inside(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = annotation.model_fields.get(str(part))
        return None if found is None else found.annotation
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0]
    return None


# --- merging ------------------------------------------------------------------------------------

_SECTIONS = {"numbers": "number", "groups": "group", "schedules": "schedule", "flows": "flow"}
_SETTINGS = ("timezone", "defaults")


@dataclass(slots=True)
class _Sources:
    """Which file each part of a merged document came from."""

    default: SourceMap
    owners: dict[Loc, SourceMap] = field(default_factory=dict)

    def of(self, path: Loc) -> SourceMap:
        return self.owners.get(path[:2]) or self.owners.get(path[:1]) or self.default

    def position(self, path: Loc, *, key: bool = False) -> tuple[str, int, int]:
        source = self.of(path)
        return (source.file, *source.position(path, key=key))

    def written(self, path: Loc) -> Loc:
        """``path``, or its nearest ancestor written in the file (``targets[0]`` for
        ``targets[0].group`` when the target is written ``group:NAME``)."""
        values = self.of(path).values
        while path and path not in values:
            path = path[:-1]
        return path


def _where(source: SourceMap, path: Loc) -> str:
    line, column = source.position(path, key=True)
    return f"{source.file}:{line}:{column}"


def _merge(
    parts: list[tuple[FlowDocument, SourceMap]],
) -> tuple[FlowDocument, _Sources, list[str]]:
    """One document from several; duplicates across files are problems."""
    if len(parts) == 1:
        document, source = parts[0]
        return document, _Sources(source), []
    sources = _Sources(parts[0][1] if parts else SourceMap("<flows>"))
    problems: list[str] = []
    merged: dict[str, Any] = {section: {} for section in _SECTIONS}
    for document, source in parts:
        for section, what in _SECTIONS.items():
            for name, value in getattr(document, section).items():
                path: Loc = (section, name)
                if path in sources.owners:
                    first = _where(sources.owners[path], path)
                    problems.append(
                        source.format(path, f"{what} {name} is also defined at {first}", key=True)
                    )
                    continue
                sources.owners[path] = source
                merged[section][name] = value
        for setting in _SETTINGS:
            if setting not in document.model_fields_set:
                continue
            path = (setting,)
            if path in sources.owners:
                first = _where(sources.owners[path], path)
                problems.append(
                    source.format(
                        path, f"{setting} is also set at {first}; set it in one file", key=True
                    )
                )
                continue
            sources.owners[path] = source
            merged[setting] = getattr(document, setting)
    return FlowDocument(version=1, **merged), sources, problems


# --- checking the whole -------------------------------------------------------------------------


def _edges(step: StepSpec) -> Iterator[tuple[Loc, str]]:
    """Each step name a step leads to, with where (relative to the step) it is written."""
    for outcome, target in step.on.items():
        yield ("on", outcome.value), target
    if step.next is not None:
        yield ("next",), step.next
    if step.goto is not None:
        yield ("goto",), step.goto
    if step.menu is not None:
        for digit, target in step.menu.choices.items():
            yield ("menu", "choices", digit), target


def _stages(at: Loc, ring: RingSpec) -> list[tuple[Loc, StageSpec]]:
    """Each stage of a ring step with its path (the ring itself for the one-stage form)."""
    if ring.stages is None:
        return [((*at, "ring"), ring.stage_list()[0])]
    return [((*at, "ring", "stages", i), stage) for i, stage in enumerate(ring.stages)]


def _hint(name: str, defined: Iterable[str], section: str) -> str:
    """A did-you-mean hint, or where to define the name when there is nothing like it."""
    defined = list(defined)
    if not defined:
        return f"; define it under {section}:"
    return did_you_mean(name, defined)


def _listing(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _seconds(value: float) -> str:
    return f"{value:g}"


class _Checks:
    """The checks across a merged document; :meth:`run` returns the problems in file order."""

    def __init__(
        self,
        document: FlowDocument,
        sources: _Sources,
        known: KnownEntities | None,
        backend: Backend | None,
    ) -> None:
        self.document = document
        self.sources = sources
        self.known = known
        self.backend = backend
        self.found: list[tuple[tuple[str, int, int], int, str]] = []

    def error(self, path: Loc, message: str, *, key: bool = False) -> None:
        where = self.sources.position(path, key=key)
        text = self.sources.of(path).format(path, message, key=key)
        self.found.append((where, len(self.found), text))

    def run(self) -> list[str]:
        for number, binding in self.document.numbers.items():
            if binding.flow not in self.document.flows:
                hint = did_you_mean(binding.flow, self.document.flows)
                path = self.sources.written(("numbers", number, "flow"))
                self.error(path, f"no flow {binding.flow!r}{hint}")
        for name, flow in self.document.flows.items():
            self.check_flow(name, flow)
        if self.known is not None:
            self.check_store(self.known)
        return [text for _, _, text in sorted(self.found)]

    # -- one flow --------------------------------------------------------------------------------

    def check_flow(self, name: str, flow: FlowSpec) -> None:
        base: Loc = ("flows", name)
        if END in flow.steps:
            self.error(
                (*base, "steps", END),
                f"{END!r} is reserved: it means the flow stops; give this step another name",
                key=True,
            )
        self.step_name((*base, "start"), flow.start, name, flow)
        for step_name, step in flow.steps.items():
            at: Loc = (*base, "steps", step_name)
            for path, target in _edges(step):
                self.step_name((*at, *path), target, name, flow)
            self.check_outcomes(at, step)
            self.check_action(at, step)
        self.check_reachable(base, flow)
        self.check_loops(base, flow)

    def step_name(self, path: Loc, target: str, flow_name: str, flow: FlowSpec) -> None:
        if target != END and target not in flow.steps:
            # ``end`` is suggested for short words only: "second" is not a misspelt "end"
            hint = did_you_mean(target, flow.steps) or (
                did_you_mean(target, [END]) if len(target) <= len(END) + 1 else ""
            )
            self.error(path, f"no step {target!r} in flow {flow_name}{hint}")

    def check_outcomes(self, at: Loc, step: StepSpec) -> None:
        kind = step.kind
        written = [name for name in ("on", "next") if name in step.model_fields_set]
        if kind in _ENDS_CALL:
            for name in written:
                self.error((*at, name), f"{kind} ends the call; nothing can follow", key=True)
            if step.max_visits is not None:
                self.error(
                    (*at, "max_visits"),
                    f"{kind} ends the call, so it runs once at most; remove max_visits",
                    key=True,
                )
            return
        produced = set(STEP_OUTCOMES[kind])
        if step.max_visits is not None:
            produced.add(Outcome.MAX_VISITS)
        if not produced:  # goto without max_visits
            for name in written:
                self.error(
                    (*at, name),
                    f"goto has no outcomes: it always goes on at {step.goto!r}; remove {name}",
                    key=True,
                )
            return
        for outcome, target in step.on.items():
            path: Loc = (*at, "on", outcome.value)
            if outcome is Outcome.MAX_VISITS and step.max_visits is None:
                self.error(path, "this step sets no max_visits, so this never happens", key=True)
            elif outcome is not Outcome.DEFAULT and outcome not in produced:
                known = _listing([o.value for o in Outcome if o in produced])
                self.error(
                    path, f"a {kind} step has no outcome {outcome}; it has {known}", key=True
                )
            elif outcome in _ENDS_FLOW and target != END:
                self.error(path, f"{_ENDS_FLOW[outcome]}: it can only lead to {END}")
        self.check_handled(at, step)

    def check_handled(self, at: Loc, step: StepSpec) -> None:
        transitions = step.transitions()
        required = [] if Outcome.DEFAULT in transitions else REQUIRED_OUTCOMES.get(step.kind, ())
        missing = [outcome.value for outcome in required if outcome not in step.on]
        if len(missing) == 1:
            message = f"outcome {missing[0]} is not handled; add {missing[0]}: STEP"
        elif missing:
            added = ", ".join(f"{outcome}: STEP" for outcome in missing)
            message = f"outcomes {_listing(missing)} are not handled; add {added}"
        if missing:
            self.error((*at, "on"), f"{message} or default: STEP", key=True)
        if step.max_visits is not None and Outcome.MAX_VISITS not in step.on:
            self.error(
                (*at, "on"),
                "outcome max_visits is not handled; add max_visits: STEP (default does not "
                "cover it: say where a call goes once it has been here too often)",
                key=True,
            )

    def check_action(self, at: Loc, step: StepSpec) -> None:
        kind = step.kind
        if kind in _MEDIA and self.backend == "sip":
            self.error(
                (*at, kind.value),
                f"the SIP switch carries no media: {kind} needs the asterisk or twilio backend",
                key=True,
            )
        if step.schedule is not None and step.schedule not in self.document.schedules:
            hint = _hint(step.schedule, self.document.schedules, "schedules")
            self.error((*at, "schedule"), f"no schedule {step.schedule!r}{hint}")
        if step.ring is not None:
            for stage_at, stage in _stages(at, step.ring):
                for index, target in enumerate(stage.targets):
                    if target.group is not None and target.group not in self.document.groups:
                        hint = _hint(target.group, self.document.groups, "groups")
                        path = self.sources.written((*stage_at, "targets", index, "group"))
                        self.error(path, f"no group {target.group!r}{hint}")
            self.check_timeouts(at, step.ring)

    def check_timeouts(self, at: Loc, ring: RingSpec) -> None:
        total = ring.total_timeout
        if total is None:
            return
        default = self.document.defaults.leg_timeout
        for stage_at, stage in _stages(at, ring):
            if stage.leg_timeout is not None and stage.leg_timeout > total:
                self.error(
                    (*stage_at, "leg_timeout"),
                    f"leg_timeout {_seconds(stage.leg_timeout)} is longer than total_timeout "
                    f"{_seconds(total)}: the step would give up while the first wave rings",
                )
        if default > total and any(stage.leg_timeout is None for _, stage in _stages(at, ring)):
            self.error(
                (*at, "ring", "total_timeout"),
                f"total_timeout {_seconds(total)} is shorter than defaults.leg_timeout "
                f"{_seconds(default)}: the step would give up while the first wave rings; "
                "give this step a shorter leg_timeout",
            )

    def check_reachable(self, base: Loc, flow: FlowSpec) -> None:
        if flow.start != END and flow.start not in flow.steps:
            return  # reported as an unknown step; every step would look unreachable
        seen: set[str] = set()
        todo = [flow.start]
        while todo:
            name = todo.pop()
            if name in seen or name not in flow.steps:
                continue
            seen.add(name)
            todo.extend(target for _, target in _edges(flow.steps[name]))
        for name in flow.steps:
            if name not in seen and name != END:
                self.error(
                    (*base, "steps", name),
                    f"unreachable: no path from start ({flow.start}) leads to this step",
                    key=True,
                )

    def check_loops(self, base: Loc, flow: FlowSpec) -> None:
        """Every cycle must pass through a step with ``max_visits``: without those steps, the
        step graph must have no cycle. Each strongly connected set is reported once."""
        kept = {name for name, step in flow.steps.items() if step.max_visits is None}
        graph = {
            name: list(dict.fromkeys(t for _, t in _edges(flow.steps[name]) if t in kept))
            for name in flow.steps
            if name in kept
        }
        reverse: dict[str, list[str]] = {name: [] for name in graph}
        for name, targets in graph.items():
            for target in targets:
                reverse[target].append(name)
        covered: set[str] = set()
        for name in graph:
            if name in covered:
                continue
            cycle = _shortest_cycle(graph, name)
            if cycle is None:
                continue
            covered |= _reach(graph, name) & _reach(reverse, name)
            self.error(
                (*base, "steps", name),
                f"loop {' → '.join(cycle)} never ends; add max_visits: N to one of its steps",
                key=True,
            )

    # -- the store -------------------------------------------------------------------------------

    def check_store(self, known: KnownEntities) -> None:
        for number in self.document.numbers:
            if number not in known.numbers:
                hint = did_you_mean(number, known.numbers)
                self.error(
                    ("numbers", number),
                    f"{number} is not a shared number in the store{hint}",
                    key=True,
                )
        reported: set[tuple[Loc, str]] = set()
        for flow_name, flow in self.document.flows.items():
            bound = [
                number
                for number, binding in self.document.numbers.items()
                if binding.flow == flow_name and number in known.numbers
            ]
            for path, email, via in self.members_rung(flow_name, flow):
                for number in bound:
                    if email in known.numbers[number] or (path, number) in reported:
                        continue
                    reported.add((path, number))
                    self.error(
                        path,
                        f"{email} is not a member of {number} (bound to flow {flow_name}{via})",
                    )
            for path, trunk in self.trunks_used(flow_name, flow):
                if trunk not in known.trunks:
                    hint = did_you_mean(trunk, known.trunks)
                    self.error(path, f"no trunk {trunk!r} in the store{hint}")

    def members_rung(self, flow_name: str, flow: FlowSpec) -> Iterator[tuple[Loc, str, str]]:
        """(path, email, how) for each member a flow's ring steps name, directly or by group."""
        for step_name, step in flow.steps.items():
            if step.ring is None:
                continue
            at: Loc = ("flows", flow_name, "steps", step_name)
            for stage_at, stage in _stages(at, step.ring):
                for index, target in enumerate(stage.targets):
                    path = (*stage_at, "targets", index)
                    if target.member is not None:
                        yield self.sources.written((*path, "member")), target.member, ""
                    group = self.document.groups.get(target.group or "")
                    if group is not None:
                        for i, email in enumerate(group.members):
                            how = f", which rings group:{target.group}"
                            yield ("groups", target.group or "", "members", i), email, how

    def trunks_used(self, flow_name: str, flow: FlowSpec) -> Iterator[tuple[Loc, str]]:
        for step_name, step in flow.steps.items():
            at: Loc = ("flows", flow_name, "steps", step_name)
            if step.forward is not None and step.forward.trunk is not None:
                yield (*at, "forward", "trunk"), step.forward.trunk
            if step.ring is None:
                continue
            for stage_at, stage in _stages(at, step.ring):
                for index, target in enumerate(stage.targets):
                    if target.trunk is not None:
                        yield (*stage_at, "targets", index, "trunk"), target.trunk


def _reach(graph: Mapping[str, list[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _shortest_cycle(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    """``[start, …, start]`` by the fewest steps, or None when no path comes back."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for target in graph[name]:
                if target == start:
                    path = [name]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if target not in parents:
                    parents[target] = name
                    following.append(target)
        frontier = following
    return None
