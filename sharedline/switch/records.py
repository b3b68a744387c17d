"""What the switch reports for persistence: call records, registration bindings, call events.

These are actions handed to the adapter (``app.py``), which writes them to the store (and
publishes call events on the team inbox's bus); the switch never waits for the database. Times
are the switch's monotonic ``now``; the adapter turns them into wall-clock timestamps when it
writes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..sip.registrar import Binding
from ..sip.service import Action

__all__ = [
    "CallOutcome",
    "CallPhase",
    "CallReport",
    "LegOutcome",
    "LegReport",
    "PublishCallEvent",
    "SaveBindings",
    "SaveCall",
    "SaveTurn",
]


class CallOutcome(enum.StrEnum):
    """How a call ended, for the whole team (DESIGN.md step 10)."""

    ANSWERED = "answered"
    MISSED = "missed"
    VOICEMAIL = "voicemail"
    FAILED = "failed"


class LegOutcome(enum.StrEnum):
    """How one rung device's leg ended."""

    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED_ELSEWHERE = "completed_elsewhere"
    CANCELLED = "cancelled"
    BUSY = "busy"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReport:
    """One leg of a call as it ended."""

    user_id: int | None
    device_id: int | None
    contact: str
    started_at: float
    answered_at: float | None
    ended_at: float | None
    status_code: int | None
    outcome: LegOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReport:
    """A call as the shared history shows it: who called, who answered, every leg."""

    call_id: str
    number: str | None
    direction: str
    caller: str
    callee: str
    started_at: float
    answered_at: float | None
    ended_at: float | None
    outcome: CallOutcome | None
    answered_by: int | None
    legs: tuple[LegReport, ...]
    voicemail_box: str | None = None
    """The box the caller left a message in (outcome ``voicemail``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCall(Action):
    """Write (insert or update) a call record."""

    report: CallReport


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveBindings(Action):
    """Replace a device's registration bindings (expiry in the switch's monotonic time)."""

    device_id: int
    bindings: tuple[Binding, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveTurn(Action):
    """Remember a round-robin turn: ``user_id`` was offered a call first in ``rotation``."""

    rotation: str
    user_id: int
    turn: int


class CallPhase(enum.StrEnum):
    """Where an inbound call is, as the team inbox shows it live."""

    RINGING = "ringing"
    """The first wave went out: members' phones ring."""
    ANSWERED = "answered"
    """A member picked up (``answered_by``)."""
    ENDED = "ended"
    """The call is over and its record saved (``outcome``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishCallEvent(Action):
    """Tell the team live that an inbound call rings, was answered or ended.

    ``ended`` comes after the call's :class:`SaveCall`, so clients that fetch the history on it
    find the call there.
    """

    phase: CallPhase
    call_id: str
    """The carrier's Call-ID (the call record's ``call_id``)."""
    number: str
    """The shared number called, E.164."""
    caller: str
    """Who called (the From user part, usually E.164)."""
    caller_name: str | None
    """The caller's name: from the workspace's address book, else the carrier's display name."""
    answered_by: int | None
    """The member who answered (``answered`` and ``ended``); None while ringing or if nobody."""
    answered_by_name: str | None
    outcome: CallOutcome | None
    """How the call ended, for everyone on the number (``answered`` and ``ended``)."""
    at: float
