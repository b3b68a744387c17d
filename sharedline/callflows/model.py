"""The call-flow document: what admins write, as typed, frozen pydantic models.

A document (``docs/callflows.md`` has the full reference)::

    version: 1
    timezone: Europe/Paris              # default for schedules and numbers
    defaults: { leg_timeout: 20 }
    numbers:
      "+14155550100": main              # or { flow: main, timezone: America/New_York }
    groups:
      front_desk: { members: [alice@acme.test, bob@acme.test] }
    schedules:
      office: { hours: { mon-fri: "09:00-18:00" }, holidays: ["2026-12-25"] }
    flows:
      main:
        start: hours
        steps:
          hours:     { schedule: office, on: { open: ring_team, default: voicemail } }
          ring_team:
            ring: { targets: [group:front_desk], strategy: sequential, leg_timeout: 15 }
            on: { default: voicemail }
          voicemail: { voicemail: { box: support } }

Each step has exactly one action key (``ring``, ``forward``, ``schedule``, ``voicemail``,
``play``, ``menu``, ``goto``, ``hangup``) and maps the outcomes its action can have to the next
step (``on:``; ``next: X`` is short for ``on: {default: X}``). This module checks the shape of
each piece; ``loader`` checks the whole (references, outcomes, reachability, bounded loops).
"""

from __future__ import annotations

import enum
import math
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..yamldoc.fields import E164, E164_RE, Email, text
from ..yamldoc.source import did_you_mean
from .schedule import ScheduleSpec
from .strategies import Strategy

__all__ = [
    "END",
    "MAX_PARALLEL",
    "MAX_SECONDS",
    "MAX_VISITS",
    "DeclineScope",
    "Defaults",
    "FlowDocument",
    "FlowSpec",
    "ForwardSpec",
    "GroupSpec",
    "HangupSpec",
    "MenuSpec",
    "NumberBinding",
    "Outcome",
    "PlaySpec",
    "RingSpec",
    "StageSpec",
    "StepKind",
    "StepSpec",
    "TargetSpec",
    "VoicemailSpec",
    "document_schema",
]

END = "end"
"""The reserved step name for "nothing more": the flow stops (480 if nobody answered)."""

MAX_PARALLEL = 10
"""Members ringing at once, on every plan (DESIGN.md "Roles, access and plans")."""


class Outcome(enum.StrEnum):
    """What an action can come to; ``on:`` maps these to the next step."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    DECLINED = "declined"
    FAILED = "failed"
    CALLER_HANGUP = "caller_hangup"
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"
    DONE = "done"
    NO_INPUT = "no_input"
    INVALID = "invalid"
    MAX_VISITS = "max_visits"
    DEFAULT = "default"


class DeclineScope(enum.StrEnum):
    LEG = "leg"
    """A member's decline (603) ends only that member's leg."""
    GROUP = "group"
    """A member's decline stops the whole ring step: outcome ``declined``."""


MAX_SECONDS = 3600
"""The longest timeout a flow may give (an hour)."""


def _show_number(value: float) -> str:
    """``-5.0`` → ``-5``, ``2.5`` → ``2.5``: numbers as the admin wrote them."""
    return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)


def _seconds(value: object) -> object:
    # Before pydantic's float parsing and its ``gt``/``le`` checks (kept for the JSON Schema),
    # so that the admin reads what is wrong in their terms.
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise PydanticCustomError(
            "seconds", "must be a number of seconds, got {value}", {"value": repr(value)}
        )
    if not number > 0:  # NaN too
        raise PydanticCustomError(
            "seconds_positive",
            "must be a positive number of seconds, got {value}",
            {"value": _show_number(number)},
        )
    if number > MAX_SECONDS:
        raise PydanticCustomError(
            "seconds_max",
            "must be at most {limit} seconds, got {value}",
            {"limit": MAX_SECONDS, "value": _show_number(number)},
        )
    return number


Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS), BeforeValidator(_seconds)]
"""A timeout: a positive number of seconds, at most an hour."""


def _whole(low: int, high: int, what: str = "a whole number") -> BeforeValidator:
    """Checks for an ``int`` from ``low`` to ``high``, with a message saying so.

    It runs before pydantic's own ``ge``/``le`` (kept beside it for the JSON Schema).
    """

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PydanticCustomError(
                "whole_number",
                "must be {what} from {low} to {high}, got {value}",
                {"what": what, "low": low, "high": high, "value": repr(value)},
            )
        return value

    return BeforeValidator(check)


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _name(value: object) -> object:
    if isinstance(value, str) and value.strip() and not _NAME_RE.fullmatch(value.strip()):
        raise PydanticCustomError(
            "name",
            "{value} is not a name: letters, digits, '_', '.' and '-', "
            "starting with a letter or '_'",
            {"value": repr(value)},
        )
    return value


Name = Annotated[str, text(100), Field(pattern=rf"^{_NAME_RE.pattern}$"), BeforeValidator(_name)]
"""A name admins give: a step, flow, group or schedule."""

Number = Annotated[E164, WithJsonSchema({"type": "string", "pattern": f"^{E164_RE.pattern}$"})]
"""An E.164 number (quoted in YAML), with its pattern in the JSON Schema."""


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "{value} is not an IANA time zone (like Europe/Paris or America/New_York)",
            {"value": repr(value)},
        ) from None
    return value


TimeZone = Annotated[str, text(64), AfterValidator(_timezone)]


class _Spec(BaseModel):
    # Attribute docstrings become descriptions in the JSON Schema (editors show them).
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- targets ------------------------------------------------------------------------------------


def _target_before(value: object) -> object:
    """``alice@acme.test``, ``group:front_desk``, ``everyone``, or a mapping."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "e164_unquoted",
            'put E.164 numbers in quotes ("+{digits}"): YAML reads +{digits} as an integer',
            {"digits": str(abs(value))},
        )
    if isinstance(value, str):
        word = value.strip()
        if word == "everyone":
            return {"everyone": True}
        if word.startswith("group:"):
            return {"group": word.removeprefix("group:")}
        if word.startswith("+"):
            return {"number": word}
        if "@" not in word:
            raise PydanticCustomError(
                "target",
                "{value} is not a target: write a member's email, group:NAME, everyone "
                'or an outside number in quotes ("+14155550199")',
                {"value": repr(value)},
            )
        return {"member": word}
    return value


class TargetSpec(_Spec):
    """One ring target: a member, a group, everyone on the number, or an outside number.

    Written as a string (``alice@acme.test``, ``group:sales``, ``everyone``, ``"+14155550199"``)
    or a mapping with exactly one of ``member``, ``group``, ``everyone``, ``number``, plus
    ``weight`` (for ``strategy: weighted``) and ``trunk`` (for an outside number).
    """

    member: Email | None = None
    group: Name | None = None
    everyone: Literal[True] | None = None
    number: Number | None = None
    trunk: Annotated[str, text(100)] | None = None
    """For an outside number: the trunk to call it through (default: the number's own)."""
    weight: Annotated[float, Field(gt=0, le=1000)] = 1.0

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        kinds = [
            k for k in ("member", "group", "everyone", "number") if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise PydanticCustomError(
                "target_kind",
                "a target is exactly one of member, group, everyone or number, got {given}",
                {"given": ", ".join(kinds) or "none"},
            )
        if self.trunk is not None and self.number is None:
            raise PydanticCustomError("target_trunk", "trunk applies only to an outside number")
        return self


Target = Annotated[
    TargetSpec, BeforeValidator(_target_before, json_schema_input_type=str | TargetSpec)
]
"""A target as a string (``alice@acme.test``, ``group:NAME``, ``everyone``, ``"+1…"``) or a
mapping."""

Parallel = Annotated[int, Field(ge=1, le=MAX_PARALLEL), _whole(1, MAX_PARALLEL)]


# --- ring ---------------------------------------------------------------------------------------


class _RingSet(_Spec):
    """What one stage rings and how."""

    targets: Annotated[list[Target], Field(min_length=1, max_length=1000)]
    strategy: Strategy = Strategy.SIMULTANEOUS
    batches: Parallel | None = None
    """Ring this many at a time (waves of N) instead of the strategy's own wave size."""
    leg_timeout: Seconds | None = None
    """How long each wave rings before the next (default: ``defaults.leg_timeout``)."""
    max_parallel: Parallel | None = None
    """At most this many members ring at once (at most 10)."""


class StageSpec(_RingSet):
    """One entry of ``ring.stages``: a ring set tried after the stages before it."""


class RingSpec(_Spec):
    """``ring:`` ring members, groups or outside numbers, in waves and stages.

    Either ``targets`` (with ``strategy``, ``batches``, ``leg_timeout``: one stage) or
    ``stages`` (a list of those, tried in order).
    """

    targets: Annotated[list[Target], Field(min_length=1, max_length=1000)] | None = None
    """Who rings (one stage): members, group:NAME, everyone, outside numbers."""
    strategy: Strategy | None = None
    """In which order the targets ring (default simultaneous)."""
    batches: Parallel | None = None
    """Ring this many at a time (waves of N) instead of the strategy's own wave size."""
    leg_timeout: Seconds | None = None
    """How long each wave rings before the next (default: ``defaults.leg_timeout``)."""
    stages: Annotated[list[StageSpec], Field(min_length=1, max_length=50)] | None = None
    """Ring sets tried in order, instead of ``targets``."""
    total_timeout: Seconds | None = None
    """The whole step gives up after this long, whatever stage it is in."""
    max_parallel: Parallel | None = None
    """At most this many members ring at once (at most 10)."""
    skip_busy: bool = False
    """False (default): a member on a call still rings (call waiting); true: skipped."""
    skip_unavailable: bool = True
    """Skip members on do-not-disturb or outside their personal schedule."""
    decline_scope: DeclineScope = DeclineScope.LEG
    """leg: a decline ends that member's leg; group: it ends the step (outcome declined)."""

    @model_validator(mode="after")
    def _targets_or_stages(self) -> RingSpec:
        single = [
            k
            for k in ("targets", "strategy", "batches", "leg_timeout")
            if getattr(self, k) is not None
        ]
        if self.stages is not None and single:
            raise PydanticCustomError(
                "ring_shape",
                "give either stages or {fields} for a single stage, not both",
                {"fields": ", ".join(single)},
            )
        if self.stages is None and self.targets is None:
            raise PydanticCustomError("ring_shape", "ring needs targets (or stages)")
        return self

    def stage_list(self) -> list[StageSpec]:
        """The stages, with the single-stage shorthand turned into one."""
        if self.stages is not None:
            return list(self.stages)
        assert self.targets is not None
        return [
            StageSpec(
                targets=self.targets,
                strategy=self.strategy or Strategy.SIMULTANEOUS,
                batches=self.batches,
                leg_timeout=self.leg_timeout,
            )
        ]


class ForwardSpec(_Spec):
    """``forward:`` call an outside number through a trunk."""

    number: Number
    trunk: Annotated[str, text(100)] | None = None
    """The trunk to call through (default: the shared number's own)."""
    timeout: Seconds | None = None
    """How long it rings (default: ``defaults.leg_timeout``)."""


# --- media steps --------------------------------------------------------------------------------


def _prompt_before(value: object) -> object:
    return {"prompt": value} if isinstance(value, str) else value


class PlaySpec(_Spec):
    """``play:`` an announcement (a prompt name or file), then ``done``."""

    prompt: Annotated[str, text(300)]
    """The announcement: a prompt name or a sound file the backend knows."""


class VoicemailSpec(_Spec):
    """``voicemail:`` take a message into a box; the flow ends there."""

    box: Annotated[str, text(100)]
    """The mailbox the message goes to."""
    greeting: Annotated[str, text(300)] | None = None
    """A prompt played first (default: the box's own)."""


def _digit_keys(value: object) -> object:
    # ``1: sales`` reads as an integer key; a digit is what is meant
    if isinstance(value, dict):
        return {
            str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
            for k, v in value.items()
        }
    return value


def _digit(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"[0-9*#]", value):
        raise PydanticCustomError(
            "digit",
            "{value} is not a key: one of 0-9, * or # (quote * and #)",
            {"value": repr(value)},
        )
    return value


Digit = Annotated[str, Field(pattern=r"^[0-9*#]$"), BeforeValidator(_digit)]


class MenuSpec(_Spec):
    """``menu:`` play a prompt, read one DTMF digit, go where ``choices`` says.

    No digit within ``timeout``: ``no_input``; a digit not in ``choices``: ``invalid``; both
    replay the prompt first, up to ``retries`` more times.
    """

    prompt: Annotated[str, text(300)]
    """The prompt played before reading a key."""
    choices: Annotated[dict[Digit, Name], BeforeValidator(_digit_keys)] = Field(min_length=1)
    """Key pressed → the step it leads to (or ``end``)."""
    timeout: Seconds = 5.0
    """How long to wait for a key after the prompt."""
    retries: Annotated[int, Field(ge=0, le=10), _whole(0, 10)] = 2
    """How many more times the prompt is replayed after no key or a wrong one."""


def _hangup_before(value: object) -> object:
    if value is None:
        return {}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"status": value}
    return value


def _status(value: int) -> int:
    if value in (486, 600):
        raise PydanticCustomError(
            "never_busy",
            "{value} says busy, and a shared number is never busy; use 480 (the default)",
            {"value": value},
        )
    return value


def _reason_phrase(value: str) -> str:
    # it becomes the status line's Reason-Phrase (RFC 3261 §25.1): no control characters
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PydanticCustomError(
            "reason_phrase", "a reason phrase is one line of text, without control characters"
        )
    return value


class HangupSpec(_Spec):
    """``hangup:`` refuse the call with a final status (default 480 Temporarily Unavailable)."""

    status: Annotated[
        int, Field(ge=400, le=699), _whole(400, 699, "a SIP status"), AfterValidator(_status)
    ] = 480
    """The SIP final status the caller gets (not 486 or 600: a shared number is never busy)."""
    reason: Annotated[str, text(100), AfterValidator(_reason_phrase)] | None = None
    """The reason phrase (default: the status's usual one)."""


# --- steps --------------------------------------------------------------------------------------


class StepKind(enum.StrEnum):
    RING = "ring"
    FORWARD = "forward"
    SCHEDULE = "schedule"
    VOICEMAIL = "voicemail"
    PLAY = "play"
    MENU = "menu"
    GOTO = "goto"
    HANGUP = "hangup"


_OUTCOMES = [outcome.value for outcome in Outcome]


def _outcome(value: object) -> object:
    if isinstance(value, str) and value not in _OUTCOMES:
        hint = did_you_mean(value, _OUTCOMES)
        raise PydanticCustomError(
            "outcome",
            "{value} is not an outcome{hint}",
            {"value": repr(value), "hint": hint or f" (one of {', '.join(_OUTCOMES)})"},
        )
    return value


OutcomeKey = Annotated[Outcome, BeforeValidator(_outcome)]

MAX_VISITS = 100
"""The largest ``max_visits`` a step may give."""


class StepSpec(_Spec):
    """One step: exactly one action key, and where each of its outcomes leads."""

    model_config = ConfigDict(
        # For editors: exactly one action key (the model checks it with a clearer message).
        json_schema_extra={"oneOf": [{"required": [kind]} for kind in StepKind]}
    )

    ring: RingSpec | None = None
    """Ring members, groups or outside numbers."""
    forward: ForwardSpec | None = None
    """Call one outside number."""
    schedule: Name | None = None
    """Branch on a schedule (outcomes open, closed, holiday)."""
    voicemail: VoicemailSpec | None = None
    """Take a message; the call ends there."""
    play: (
        Annotated[PlaySpec, BeforeValidator(_prompt_before, json_schema_input_type=str | PlaySpec)]
        | None
    ) = None
    """Play an announcement (outcome done). Needs media: asterisk or twilio."""
    menu: MenuSpec | None = None
    """Read a key (DTMF). Needs media: asterisk or twilio."""
    goto: Name | None = None
    """Go on at another step."""
    hangup: (
        Annotated[
            HangupSpec,
            BeforeValidator(_hangup_before, json_schema_input_type=int | HangupSpec | None),
        ]
        | None
    ) = None
    """Refuse the call with a status (default 480); the call ends there."""
    on: dict[OutcomeKey, Name] = Field(default_factory=dict)
    """Outcome → the next step (or ``end``)."""
    next: Name | None = None
    """Short for ``on: {default: NEXT}``."""
    max_visits: Annotated[int, Field(ge=1, le=MAX_VISITS), _whole(1, MAX_VISITS)] | None = None
    """Entering the step more often than this in one call takes its ``max_visits`` outcome."""

    @model_validator(mode="before")
    @classmethod
    def _keep_null_hangup(cls, data: Any) -> Any:
        # ``hangup:`` with nothing after it means "hang up with the defaults"
        if isinstance(data, dict) and "hangup" in data and data["hangup"] is None:
            return {**data, "hangup": {}}
        return data

    @model_validator(mode="after")
    def _one_action(self) -> StepSpec:
        kinds = self.kinds()
        if len(kinds) != 1:
            raise PydanticCustomError(
                "step_kind",
                "a step has exactly one of {all}, got {given}",
                {
                    "all": ", ".join(k.value for k in StepKind),
                    "given": ", ".join(k.value for k in kinds) or "none",
                },
            )
        if self.next is not None and Outcome.DEFAULT in self.on:
            raise PydanticCustomError("step_next", "give next or on.default, not both")
        # computed once: the interpreter reads them on every decision
        self._kind = kinds[0]
        found = dict(self.on)
        if self.next is not None:
            found[Outcome.DEFAULT] = self.next
        self._transitions = found
        return self

    _kind: StepKind = PrivateAttr()
    _transitions: dict[Outcome, str] = PrivateAttr()

    def kinds(self) -> list[StepKind]:
        return [kind for kind in StepKind if getattr(self, kind.value) is not None]

    @property
    def kind(self) -> StepKind:
        return self._kind

    def transitions(self) -> dict[Outcome, str]:
        """``on`` with ``next`` folded in as the default (do not modify)."""
        return self._transitions


class FlowSpec(_Spec):
    """A flow: where it starts and its named steps."""

    start: Name
    """The first step."""
    steps: Annotated[dict[Name, StepSpec], Field(min_length=1, max_length=1000)]
    """The steps by name (``end`` is reserved: it stops the flow)."""


class GroupSpec(_Spec):
    """A named list of members, in ring order."""

    members: Annotated[list[Email], Field(min_length=1, max_length=1000)]
    """Members' emails; each must be a member of the numbers whose flows ring the group."""


def _binding_before(value: object) -> object:
    return {"flow": value} if isinstance(value, str) else value


class NumberBinding(_Spec):
    """Which flow a shared number runs, and the time zone its schedules are read in."""

    flow: Name
    """The flow calls to this number run."""
    timezone: TimeZone | None = None
    """The time zone its schedules are read in (default: the document's)."""


Binding = Annotated[
    NumberBinding, BeforeValidator(_binding_before, json_schema_input_type=str | NumberBinding)
]
"""A flow name, or ``{flow: NAME, timezone: ZONE}``."""


class Defaults(_Spec):
    """Values a ring step takes when it says nothing."""

    leg_timeout: Seconds = 20.0
    """How long a wave rings when the step gives no ``leg_timeout``."""
    max_parallel: Parallel = MAX_PARALLEL
    """At most this many members ring at once when the step says nothing."""


def _version(value: object) -> object:
    if value != 1 or isinstance(value, bool):
        raise PydanticCustomError(
            "version",
            "this is version {value} of the format; this release reads version 1",
            {"value": repr(value)},
        )
    return value


class FlowDocument(_Spec):
    """A whole call-flow file (or several files merged: see ``loader``)."""

    version: Annotated[Literal[1], BeforeValidator(_version)]
    """The format's version: 1."""
    timezone: TimeZone = "UTC"
    """The time zone schedules are read in (a number may give its own)."""
    defaults: Defaults = Field(default_factory=Defaults)
    """Values ring steps take when they say nothing."""
    numbers: dict[Number, Binding] = Field(default_factory=dict)
    """Shared number (E.164, quoted) → its flow."""
    groups: dict[Name, GroupSpec] = Field(default_factory=dict)
    """Named lists of members, rung with ``group:NAME``."""
    schedules: dict[Name, ScheduleSpec] = Field(default_factory=dict)
    """Named schedules, for ``schedule`` steps."""
    flows: dict[Name, FlowSpec] = Field(default_factory=dict)
    """Named flows."""


# --- JSON Schema --------------------------------------------------------------------------------

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def document_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a call-flow file, for editors and other tools.

    Pydantic's schema of :class:`FlowDocument`, with the string shorthands (``alice@acme.test``
    for a target, a flow name for a number) and with names that fit no pattern refused, so an
    editor flags ``"+1415…"`` written without quotes or a step name with a space.
    """
    schema = FlowDocument.model_json_schema()
    _close_named_maps(schema)
    schema.pop("title", None)
    return {"$schema": SCHEMA_DIALECT, "title": "sharedline call flows", **schema}


def _close_named_maps(node: object) -> None:
    """Maps whose keys must fit a pattern get ``additionalProperties: false``."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_named_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_named_maps(value)
