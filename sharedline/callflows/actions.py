"""What the interpreter asks a backend to do (plain data).

Each backend turns these into its own terms (DESIGN.md "Architecture"): the SIP switch sends
INVITE legs, the Asterisk adapter a ``Dial(PJSIP/a&PJSIP/b,20)``, the Twilio adapter a
``<Dial>`` with up to ten nouns. Then it reports how the action ended, as an outcome, to
:meth:`~sharedline.callflows.interpreter.Interpreter.step`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import DeclineScope

__all__ = [
    "Action",
    "CollectDigit",
    "Hangup",
    "Play",
    "RecordTurn",
    "Ring",
    "RingTarget",
    "Voicemail",
]


@dataclass(frozen=True, slots=True)
class RingTarget:
    """A member (by email) or an outside number (through a trunk; None: the number's own)."""

    member: str | None = None
    number: str | None = None
    trunk: str | None = None

    @property
    def key(self) -> str:
        """A stable text form: the email, or ``tel:+E164`` (``;trunk=NAME``)."""
        if self.member is not None:
            return self.member
        return f"tel:{self.number}" + (f";trunk={self.trunk}" if self.trunk else "")

    @classmethod
    def from_key(cls, key: str) -> RingTarget:
        if key.startswith("tel:"):
            number, _, trunk = key.removeprefix("tel:").partition(";trunk=")
            return cls(number=number, trunk=trunk or None)
        return cls(member=key)


class Action:
    """Base of everything the interpreter asks for."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Ring(Action):
    """Ring exactly these targets for ``timeout`` seconds (one wave of a ring step).

    The set is complete: targets still ringing from the previous wave and named again keep
    ringing (``cumulative``), the others stop. Report ``answered``, ``caller_hangup``, or, when
    every leg has ended or the timeout passed, ``no_answer``/``busy``/``declined``/``failed``.
    With ``decline_scope`` ``group``, one member's decline ends the wave at once: ``declined``.
    """

    targets: tuple[RingTarget, ...]
    timeout: float
    decline_scope: DeclineScope = DeclineScope.LEG
    step: str = ""
    stage: int = 0
    wave: int = 0


@dataclass(frozen=True, slots=True)
class RecordTurn(Action):
    """Persist a round-robin turn: ``member`` was offered the call first in ``rotation``."""

    rotation: str
    member: str
    turn: int


@dataclass(frozen=True, slots=True)
class Play(Action):
    """Play an announcement to the caller, then report ``done``."""

    prompt: str


@dataclass(frozen=True, slots=True)
class CollectDigit(Action):
    """Play ``prompt`` and wait ``timeout`` seconds for one DTMF digit.

    Report the digit (``"1"``, ``"*"``…) or ``no_input``.
    """

    prompt: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Voicemail(Action):
    """Take a message into ``box``; the flow ends here."""

    box: str
    greeting: str | None = None


@dataclass(frozen=True, slots=True)
class Hangup(Action):
    """Refuse the unanswered call with ``status``; the flow ends here."""

    status: int = 480
    reason: str | None = None
