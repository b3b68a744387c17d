"""What a backend knows when the interpreter decides: the call, the team, the clock (plain data).

Members are named by email throughout (the key flows use); the backend maps its own ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .schedule import ScheduleSpec, ScheduleState, schedule_state

__all__ = ["CallFacts", "MemberAvailability"]


@dataclass(frozen=True, slots=True)
class MemberAvailability:
    """A member's own availability: do-not-disturb, and optionally personal hours (shifts)."""

    dnd: bool = False
    schedule: ScheduleSpec | None = None

    def available_at(self, at: datetime, timezone: str) -> bool:
        """Not on do-not-disturb, and inside their personal hours when they have some."""
        if self.dnd:
            return False
        if self.schedule is None:
            return True
        return schedule_state(self.schedule, at, timezone) is ScheduleState.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFacts:
    """The world as the backend sees it for one decision."""

    number: str
    """The shared number called (E.164)."""
    caller: str
    members: tuple[str, ...] | None = None
    """The number's members in ring order (what ``everyone`` means); None when unknown (a
    simulation without a store): then member targets are not checked against the number."""
    busy: frozenset[str] = frozenset()
    """Members on a call right now."""
    availability: Mapping[str, MemberAvailability] = field(default_factory=dict)
    turns: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Round-robin state: rotation key → member → turn (higher: served more recently)."""
    idle_since: Mapping[str, float] = field(default_factory=dict)
    """Member → when their last answered call ended (epoch seconds)."""
    wall_offset: float = 0.0
    """Add to the interpreter's ``now`` to get epoch seconds (schedules read wall time)."""

    def wall_time(self, now: float) -> datetime:
        return datetime.fromtimestamp(now + self.wall_offset, UTC)

    @classmethod
    def by_user_id(
        cls,
        *,
        number: str,
        caller: str,
        members: Sequence[tuple[int, str]],
        availability: Mapping[int, MemberAvailability],
        turns: Mapping[str, Mapping[int, int]],
        idle_since: Mapping[int, float],
        busy: Iterable[int] = (),
        wall_offset: float = 0.0,
    ) -> CallFacts:
        """The facts from a backend's state kept by user id: ``members`` are the number's
        (user id, email) pairs in ring order; state of anyone else, and rotations of other
        numbers (keys not starting ``NUMBER/``), are left out."""
        emails = dict(members)
        prefix = f"{number}/"
        return cls(
            number=number,
            caller=caller,
            members=tuple(email for _, email in members),
            busy=frozenset(emails[user] for user in busy if user in emails),
            availability={emails[u]: a for u, a in availability.items() if u in emails},
            turns={
                rotation: {emails[u]: turn for u, turn in by_user.items() if u in emails}
                for rotation, by_user in turns.items()
                if rotation.startswith(prefix)
            },
            idle_since={emails[u]: at for u, at in idle_since.items() if u in emails},
            wall_offset=wall_offset,
        )
