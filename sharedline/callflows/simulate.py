"""A call played through a flow on paper: who rings when, who answers, where it ends (pure).

:func:`simulate` drives the :class:`~.interpreter.Interpreter` exactly as a backend does, with
a scripted team instead of phones: members answer at given seconds after the call began (if
their phone is ringing then), decline as soon as they ring, or never answer; the caller may hang
up at a given second and presses the given digits at menus. Time is virtual (0 = the call
arrives), so the result is immediate and reproducible. ``sharedline flows simulate`` prints the
timeline this returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .actions import CollectDigit, Hangup, Play, RecordTurn, Ring, Voicemail
from .facts import CallFacts
from .interpreter import Decision, Interpreter, Position
from .model import DeclineScope

__all__ = ["Script", "TimelineEntry", "simulate"]

MAX_ENTRIES = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Script:
    """How the people on the call behave."""

    answers: Mapping[str, float] = field(default_factory=dict)
    """Member → seconds after the call began when they pick up (if ringing then)."""
    declines: frozenset[str] = frozenset()
    """Members who decline (603) as soon as their phone rings."""
    unreachable: frozenset[str] = frozenset()
    """Members with no registered phone: rung, they fail at once."""
    digits: Sequence[str] = ()
    """What the caller presses at each menu prompt, in order; then nothing."""
    hangup_at: float | None = None
    """The caller gives up this many seconds after calling."""
    play_seconds: float = 5.0
    """How long each announcement lasts."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the timeline: when (seconds after the call began), and what happened."""

    at: float
    event: str
    detail: str = ""


def simulate(
    interpreter: Interpreter, number: str, facts: CallFacts, script: Script, *, seed: int = 0
) -> list[TimelineEntry]:
    """Run a call on ``number`` through its flow; return what happened, in order."""
    timeline: list[TimelineEntry] = []
    digits = list(script.digits)
    decision = interpreter.start(number, 0.0, facts, seed=seed)
    timeline.append(TimelineEntry(0.0, "call", f"flow {decision.position.flow}"))
    now = 0.0
    while len(timeline) < MAX_ENTRIES:
        _note_steps(timeline, decision, now)
        outcome, now = _perform(timeline, decision, now, script, digits)
        if outcome is None:
            break
        decision = interpreter.step(decision.position, outcome, now, facts)
    return timeline


def _note_steps(timeline: list[TimelineEntry], decision: Decision, now: float) -> None:
    """The transitions the decision took, and the round-robin turns it records."""
    for step, outcome, target in decision.trail:
        timeline.append(TimelineEntry(now, "step", f"{step}: {outcome} -> {target}"))
    for action in decision.actions:
        if isinstance(action, RecordTurn):
            timeline.append(
                TimelineEntry(now, "turn", f"{action.member} is first in {action.rotation}")
            )


def _perform(
    timeline: list[TimelineEntry],
    decision: Decision,
    now: float,
    script: Script,
    digits: list[str],
) -> tuple[str | None, float]:
    """Play the decision's action out; return its outcome and the time it came (None: over)."""
    position: Position = decision.position
    for action in decision.actions:
        match action:
            case Ring():
                return _ring(timeline, action, now, script)
            case Play():
                end = now + script.play_seconds
                if script.hangup_at is not None and script.hangup_at < end:
                    timeline.append(TimelineEntry(now, "play", action.prompt))
                    return _caller_gone(timeline, script.hangup_at)
                timeline.append(TimelineEntry(now, "play", action.prompt))
                return "done", end
            case CollectDigit():
                timeline.append(TimelineEntry(now, "menu", f"{action.prompt}, waiting for a digit"))
                if digits:
                    digit = digits.pop(0)
                    timeline.append(TimelineEntry(now + 1.0, "digit", digit))
                    return digit, now + 1.0
                timeline.append(TimelineEntry(now + action.timeout, "no input"))
                return "no_input", now + action.timeout
            case Voicemail():
                greeting = f", greeting {action.greeting}" if action.greeting else ""
                timeline.append(TimelineEntry(now, "voicemail", f"box {action.box}{greeting}"))
                return None, now
            case Hangup():
                reason = f" ({action.reason})" if action.reason else ""
                timeline.append(TimelineEntry(now, "hangup", f"{action.status}{reason}"))
                return None, now
    if position.done:
        timeline.append(TimelineEntry(now, "flow ended"))
    return None, now


def _ring(
    timeline: list[TimelineEntry], ring: Ring, now: float, script: Script
) -> tuple[str | None, float]:
    names = ", ".join(target.key for target in ring.targets) or "nobody"
    where = f"{ring.step} stage {ring.stage + 1} wave {ring.wave + 1}"
    timeline.append(TimelineEntry(now, "ring", f"{where}: {names} for {ring.timeout:g} s"))
    members = [t.member for t in ring.targets if t.member is not None]
    end = now + ring.timeout
    reachable = [m for m in members if m not in script.unreachable]
    if not reachable and len(members) == len(ring.targets):
        timeline.append(TimelineEntry(now, "failed", "nobody could be rung"))
        return "failed", now
    declining = [m for m in reachable if m in script.declines]
    if declining and ring.decline_scope is DeclineScope.GROUP:
        timeline.append(TimelineEntry(now, "declined", declining[0]))
        return "declined", now
    answering = sorted(
        (at, member)
        for member, at in script.answers.items()
        if member in reachable and member not in script.declines and now <= at < end
    )
    gone = script.hangup_at
    if gone is not None and gone < end and (not answering or answering[0][0] > gone):
        return _caller_gone(timeline, gone)
    if answering:
        at, member = answering[0]
        timeline.append(TimelineEntry(at, "answered", member))
        return "answered", at
    if declining and len(declining) == len(ring.targets):
        timeline.append(TimelineEntry(now, "declined", ", ".join(declining)))
        return "declined", now
    timeline.append(TimelineEntry(end, "no answer"))
    return "no_answer", end


def _caller_gone(timeline: list[TimelineEntry], at: float) -> tuple[str, float]:
    timeline.append(TimelineEntry(at, "caller hung up"))
    return "caller_hangup", at
