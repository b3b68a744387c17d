"""Typing indicators: who is typing in which conversation, as a pure machine on a virtual clock.

Theory of operation. A client sends "typing" every few seconds while its user types, and
"stopped" when the draft is sent or cleared. The tracker keeps one entry per (conversation, user)
with the time it was last heard. It emits ``typing.started`` only when an entry appears and
``typing.stopped`` when it goes, either explicitly (:meth:`TypingTracker.stopped`, or
:meth:`TypingTracker.disconnected` when the user's last socket closes) or because the user has
been silent for ``ttl`` seconds (:meth:`TypingTracker.expire`, called at
:meth:`TypingTracker.next_deadline` like aioquic's ``handle_timer``; calling it early is harmless).

Nothing here is stored: a restart forgets who is typing, which is what an indicator should do.

Several nodes: each node tracks its own clients and publishes the events on the bus; the other
nodes feed those events to :meth:`TypingTracker.observe` so :meth:`TypingTracker.typing_in`
(collision control) sees typists on every node. Remote entries expire on the same ``ttl``.

Audience: typing events carry the typist as ``actor_id``; :func:`~sharedline.inbox.events.audience`
leaves the typist out, so nobody receives their own typing indicator.

``now`` is epoch seconds because it is stamped on the events (``InboxEvent.at``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .events import EventKind, InboxEvent, new_event_id

__all__ = ["DEFAULT_TTL", "TypingTracker"]

DEFAULT_TTL = 5.0
"""Seconds of silence after which a typist counts as stopped."""


@dataclass(slots=True)
class _Entry:
    workspace_id: int
    number: str
    last_heard: float


class TypingTracker:
    """Ephemeral typing state of the conversations on one node.

    ``ids`` makes event ids (inject a counter in tests); ``origin`` is stamped on the events.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        ids: Callable[[], str] = new_event_id,
        origin: str | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"typing ttl {ttl!r} must be positive")
        self.ttl = ttl
        self._ids = ids
        self._origin = origin
        self._entries: dict[tuple[int, int], _Entry] = {}

    def typing(
        self, user_id: int, conversation_id: int, number: str, now: float, *, workspace_id: int
    ) -> list[InboxEvent]:
        """``user_id`` is typing in the conversation: ``typing.started`` unless already typing."""
        key = (conversation_id, user_id)
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_heard < self.ttl:
            entry.last_heard = max(entry.last_heard, now)
            return []
        self._entries[key] = _Entry(workspace_id=workspace_id, number=number, last_heard=now)
        if entry is not None:
            # Silent past the ttl but not yet expired: stop the old run, start a new one.
            return [
                self._event(EventKind.TYPING_STOPPED, key, entry, now, expired=True),
                self._event(EventKind.TYPING_STARTED, key, self._entries[key], now),
            ]
        return [self._event(EventKind.TYPING_STARTED, key, self._entries[key], now)]

    def stopped(self, user_id: int, conversation_id: int, now: float) -> list[InboxEvent]:
        """``user_id`` sent or cleared the draft: ``typing.stopped`` if they were typing."""
        key = (conversation_id, user_id)
        entry = self._entries.pop(key, None)
        if entry is None:
            return []
        return [self._event(EventKind.TYPING_STOPPED, key, entry, now)]

    def disconnected(self, user_id: int, now: float) -> list[InboxEvent]:
        """The user's last connection closed: they stop typing everywhere."""
        keys = sorted(key for key in self._entries if key[1] == user_id)
        return [
            self._event(EventKind.TYPING_STOPPED, key, self._entries.pop(key), now) for key in keys
        ]

    def expire(self, now: float) -> list[InboxEvent]:
        """``typing.stopped`` for every typist silent for ``ttl`` seconds or more."""
        expired = sorted(
            (entry.last_heard, key)
            for key, entry in self._entries.items()
            if now - entry.last_heard >= self.ttl
        )
        return [
            self._event(EventKind.TYPING_STOPPED, key, self._entries.pop(key), now, expired=True)
            for _, key in expired
        ]

    def observe(self, event: InboxEvent, now: float) -> None:
        """Apply a typing event from another node, without emitting anything.

        Other kinds, and typing events without ``actor_id`` or ``conversation_id``, are ignored.
        """
        if event.actor_id is None or event.conversation_id is None:
            return
        key = (event.conversation_id, event.actor_id)
        if event.kind is EventKind.TYPING_STARTED:
            self._entries[key] = _Entry(event.workspace_id, event.number, now)
        elif event.kind is EventKind.TYPING_STOPPED:
            self._entries.pop(key, None)

    def typing_in(self, conversation_id: int, now: float) -> set[int]:
        """The users typing in the conversation at ``now`` (expired entries excluded)."""
        return {
            user_id
            for (conversation, user_id), entry in self._entries.items()
            if conversation == conversation_id and now - entry.last_heard < self.ttl
        }

    def next_deadline(self) -> float | None:
        """When the next typist expires; None when nobody is typing."""
        if not self._entries:
            return None
        return min(entry.last_heard for entry in self._entries.values()) + self.ttl

    def _event(
        self,
        kind: EventKind,
        key: tuple[int, int],
        entry: _Entry,
        now: float,
        *,
        expired: bool = False,
    ) -> InboxEvent:
        conversation_id, user_id = key
        payload = {"user_id": user_id, "expired": True} if expired else {"user_id": user_id}
        return InboxEvent(
            kind=kind,
            number=entry.number,
            workspace_id=entry.workspace_id,
            conversation_id=conversation_id,
            at=now,
            id=self._ids(),
            payload=payload,
            actor_id=user_id,
            origin=self._origin,
        )
