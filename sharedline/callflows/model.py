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
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..yamldoc.fields import E164, Email, text
from .schedule import ScheduleSpec
from .strategies import Strategy

__all__ = [
    "END",
    "MAX_PARALLEL",
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


Seconds = Annotated[float, Field(gt=0, le=3600)]
Name = Annotated[str, text(100), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]


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
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- targets ------------------------------------------------------------------------------------


def _target_before(value: object) -> object:
    """``alice@acme.test``, ``group:front_desk``, ``everyone``, or a mapping."""
    if isinstance(value, str):
        word = value.strip()
        if word == "everyone":
            return {"everyone": True}
        if word.startswith("group:"):
            return {"group": word.removeprefix("group:")}
        if word.startswith("+"):
            return {"number": word}
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
    number: E164 | None = None
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


Target = Annotated[TargetSpec, BeforeValidator(_target_before)]


# --- ring ---------------------------------------------------------------------------------------


class _RingSet(_Spec):
    """What one stage rings and how."""

    targets: Annotated[list[Target], Field(min_length=1, max_length=1000)]
    strategy: Strategy = Strategy.SIMULTANEOUS
    batches: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] | None = None
    """Ring this many at a time (waves of N) instead of the strategy's own wave size."""
    leg_timeout: Seconds | None = None
    """How long each wave rings before the next (default: ``defaults.leg_timeout``)."""
    max_parallel: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] | None = None


class StageSpec(_RingSet):
    """One entry of ``ring.stages``: a ring set tried after the stages before it."""


class RingSpec(_Spec):
    """``ring:`` ring members, groups or outside numbers, in waves and stages.

    Either ``targets`` (with ``strategy``, ``batches``, ``leg_timeout``: one stage) or
    ``stages`` (a list of those, tried in order).
    """

    targets: Annotated[list[Target], Field(min_length=1, max_length=1000)] | None = None
    strategy: Strategy | None = None
    batches: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] | None = None
    leg_timeout: Seconds | None = None
    stages: Annotated[list[StageSpec], Field(min_length=1, max_length=50)] | None = None
    total_timeout: Seconds | None = None
    """The whole step gives up after this long, whatever stage it is in."""
    max_parallel: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] | None = None
    skip_busy: bool = False
    """False (default): a member on a call still rings (call waiting); true: skipped."""
    skip_unavailable: bool = True
    """Skip members on do-not-disturb or outside their personal schedule."""
    decline_scope: DeclineScope = DeclineScope.LEG

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

    number: E164
    trunk: Annotated[str, text(100)] | None = None
    timeout: Seconds | None = None


# --- media steps --------------------------------------------------------------------------------


def _prompt_before(value: object) -> object:
    return {"prompt": value} if isinstance(value, str) else value


class PlaySpec(_Spec):
    """``play:`` an announcement (a prompt name or file), then ``done``."""

    prompt: Annotated[str, text(300)]


class VoicemailSpec(_Spec):
    """``voicemail:`` take a message into a box; the flow ends there."""

    box: Annotated[str, text(100)]
    greeting: Annotated[str, text(300)] | None = None


def _digit_keys(value: object) -> object:
    # ``1: sales`` reads as an integer key; a digit is what is meant
    if isinstance(value, dict):
        return {
            str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
            for k, v in value.items()
        }
    return value


class MenuSpec(_Spec):
    """``menu:`` play a prompt, read one DTMF digit, go where ``choices`` says.

    No digit within ``timeout``: ``no_input``; a digit not in ``choices``: ``invalid``; both
    replay the prompt first, up to ``retries`` more times.
    """

    prompt: Annotated[str, text(300)]
    choices: Annotated[
        dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], Name],
        BeforeValidator(_digit_keys),
        Field(min_length=1),
    ]
    timeout: Seconds = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2


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


class HangupSpec(_Spec):
    """``hangup:`` refuse the call with a final status (default 480 Temporarily Unavailable)."""

    status: Annotated[int, Field(ge=400, le=699), AfterValidator(_status)] = 480
    reason: Annotated[str, text(100)] | None = None


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


class StepSpec(_Spec):
    """One step: exactly one action key, and where each of its outcomes leads."""

    ring: RingSpec | None = None
    forward: ForwardSpec | None = None
    schedule: Name | None = None
    voicemail: VoicemailSpec | None = None
    play: Annotated[PlaySpec, BeforeValidator(_prompt_before)] | None = None
    menu: MenuSpec | None = None
    goto: Name | None = None
    hangup: Annotated[HangupSpec, BeforeValidator(_hangup_before)] | None = None
    on: dict[Outcome, Name] = Field(default_factory=dict)
    next: Name | None = None
    """Short for ``on: {default: NEXT}``."""
    max_visits: Annotated[int, Field(ge=1, le=100)] | None = None
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
        return self

    def kinds(self) -> list[StepKind]:
        return [kind for kind in StepKind if getattr(self, kind.value) is not None]

    @property
    def kind(self) -> StepKind:
        return self.kinds()[0]

    def transitions(self) -> dict[Outcome, str]:
        """``on`` with ``next`` folded in as the default."""
        found = dict(self.on)
        if self.next is not None:
            found[Outcome.DEFAULT] = self.next
        return found


class FlowSpec(_Spec):
    """A flow: where it starts and its named steps."""

    start: Name
    steps: Annotated[dict[Name, StepSpec], Field(min_length=1, max_length=1000)]


class GroupSpec(_Spec):
    """A named list of members, in ring order."""

    members: Annotated[list[Email], Field(min_length=1, max_length=1000)]


def _binding_before(value: object) -> object:
    return {"flow": value} if isinstance(value, str) else value


class NumberBinding(_Spec):
    """Which flow a shared number runs, and the time zone its schedules are read in."""

    flow: Name
    timezone: TimeZone | None = None


class Defaults(_Spec):
    """Values a ring step takes when it says nothing."""

    leg_timeout: Seconds = 20.0
    max_parallel: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] = MAX_PARALLEL


class FlowDocument(_Spec):
    """A whole call-flow file (or several files merged: see ``loader``)."""

    version: Literal[1]
    timezone: TimeZone = "UTC"
    defaults: Defaults = Field(default_factory=Defaults)
    numbers: dict[E164, Annotated[NumberBinding, BeforeValidator(_binding_before)]] = Field(
        default_factory=dict
    )
    groups: dict[Name, GroupSpec] = Field(default_factory=dict)
    schedules: dict[Name, ScheduleSpec] = Field(default_factory=dict)
    flows: dict[Name, FlowSpec] = Field(default_factory=dict)
