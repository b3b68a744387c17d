"""Live inbox events: what the team inbox pushes over WebSocket, and who may receive it.

An :class:`InboxEvent` is a past-tense fact about one shared number (a message arrived, a call is
ringing, a teammate is typing). It travels between engine nodes on the event bus
(:mod:`sharedline.bus`) as one JSON object, and from a node to browsers over WebSocket.

Access rule (DESIGN.md "Team inbox": "to each member with access to that number, and to no one
else"): the audience of an event is the members of its ``number`` plus the Owners and Admins of
its workspace, who can always manage every number. Typing indicators are the one exception: the
typist does not receive their own ``typing.*`` event. :func:`audience` applies both rules.

A message from the bus is untrusted text: :meth:`InboxEvent.from_json` validates every field and
raises :class:`InvalidEvent`, which a subscriber logs before dropping the message.
"""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeAlias

__all__ = [
    "SELF_SILENCED",
    "TRUNCATED",
    "EventKind",
    "InboxEvent",
    "InvalidEvent",
    "JSONValue",
    "NumberAccess",
    "audience",
    "new_event_id",
]

JSONValue: TypeAlias = (
    "str | int | float | bool | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)

# E.164: a plus, a non-zero country code digit, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_MAX_ID_LENGTH = 128

TRUNCATED: Mapping[str, JSONValue] = MappingProxyType({"truncated": True})
"""The payload of an event whose payload was too large for the bus: fetch the item instead."""


class InvalidEvent(ValueError):
    """An event that breaks the schema: a bad field in code, or a malformed bus message."""


class EventKind(enum.StrEnum):
    """What happened; the wire name is the value."""

    MESSAGE_CREATED = "message.created"
    MESSAGE_STATUS = "message.status"
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    CALL_ENDED = "call.ended"
    VOICEMAIL_CREATED = "voicemail.created"
    COMMENT_CREATED = "comment.created"
    COMMENT_UPDATED = "comment.updated"
    COMMENT_DELETED = "comment.deleted"
    THREAD_REPLY = "thread.reply"
    TYPING_STARTED = "typing.started"
    TYPING_STOPPED = "typing.stopped"
    CONVERSATION_OPENED = "conversation.opened"


SELF_SILENCED = frozenset({EventKind.TYPING_STARTED, EventKind.TYPING_STOPPED})
"""Kinds never sent back to their actor: nobody needs to see that they are typing."""


def new_event_id() -> str:
    """A random event id (128 bits, hex): unique across nodes without coordination."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxEvent:
    """One change in a shared number's inbox.

    Raises :class:`InvalidEvent` when a field is out of range (see :meth:`from_json`).
    """

    kind: EventKind
    """What happened."""
    number: str
    """The shared number, E.164: the access scope of the event."""
    workspace_id: int
    """The workspace that owns ``number``."""
    conversation_id: int | None
    """The conversation concerned; None for events about the number as a whole."""
    at: float
    """When it happened, in epoch seconds."""
    id: str
    """Unique across nodes (:func:`new_event_id`); clients use it to drop duplicates."""
    payload: Mapping[str, JSONValue] = field(default_factory=lambda: MappingProxyType({}))
    """Kind-specific details, JSON-able (message id, text, call leg, ...)."""
    actor_id: int | None = None
    """The user whose action this is (sender, commenter, typist); None for outside events."""
    origin: str | None = None
    """The node that published it, so a node may ignore its own echo."""

    def __post_init__(self) -> None:
        _check(isinstance(self.kind, EventKind), "kind", self.kind)
        _check(isinstance(self.number, str) and _E164.fullmatch(self.number), "number", self.number)
        _check(_is_int(self.workspace_id), "workspace_id", self.workspace_id)
        _check(
            self.conversation_id is None or _is_int(self.conversation_id),
            "conversation_id",
            self.conversation_id,
        )
        _check(_is_number(self.at) and math.isfinite(self.at), "at", self.at)
        _check(_is_short_str(self.id) and self.id != "", "id", self.id)
        _check(self.actor_id is None or _is_int(self.actor_id), "actor_id", self.actor_id)
        _check(self.origin is None or _is_short_str(self.origin), "origin", self.origin)
        if not isinstance(self.payload, Mapping) or not _is_json(self.payload):
            raise InvalidEvent(f"payload {self.payload!r} is not a JSON object")
        if not isinstance(self.payload, MappingProxyType):
            object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    def to_json(self) -> str:
        """The compact JSON text of the event, as it travels on the bus."""
        document: dict[str, Any] = {
            "kind": self.kind.value,
            "number": self.number,
            "workspace_id": self.workspace_id,
            "conversation_id": self.conversation_id,
            "at": self.at,
            "id": self.id,
            "payload": self.payload,
            "actor_id": self.actor_id,
            "origin": self.origin,
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=dict)

    @classmethod
    def from_json(cls, text: str | bytes) -> InboxEvent:
        """Parse and validate an event; raise :class:`InvalidEvent` on anything malformed."""
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidEvent(f"event is not JSON: {error}") from None
        if not isinstance(document, dict):
            raise InvalidEvent(f"event is a JSON {type(document).__name__}, not an object")
        unknown = document.keys() - _FIELDS
        if unknown:
            raise InvalidEvent(f"event has unknown fields {sorted(unknown)!r}")
        missing = _REQUIRED - document.keys()
        if missing:
            raise InvalidEvent(f"event lacks fields {sorted(missing)!r}")
        try:
            kind = EventKind(document["kind"])
        except ValueError:
            raise InvalidEvent(f"kind {document['kind']!r} is not an event kind") from None
        return cls(**{**document, "kind": kind})

    def without_payload(self) -> InboxEvent:
        """This event with the :data:`TRUNCATED` payload, for transports with a size limit."""
        return replace(self, payload=TRUNCATED)


_FIELDS = frozenset(InboxEvent.__dataclass_fields__)
_REQUIRED = frozenset({"kind", "number", "workspace_id", "conversation_id", "at", "id"})


def _check(ok: object, name: str, value: object) -> None:
    if not ok:
        raise InvalidEvent(f"{name} {value!r} is out of range")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_short_str(value: object) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_ID_LENGTH


def _is_json(value: object, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_json(item, depth + 1) for item in value)
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberAccess:
    """Who may see one shared number: its members and the workspace's managers."""

    workspace_id: int
    """The workspace that owns the number."""
    number: str
    """The shared number, E.164."""
    members: frozenset[int]
    """User ids with a membership on the number (any number role)."""
    managers: frozenset[int] = frozenset()
    """User ids of the workspace's Owners and Admins: they can always manage every number."""


def audience(event: InboxEvent, access: NumberAccess) -> frozenset[int]:
    """The user ids that receive ``event``: members of its number plus the workspace managers,
    minus the actor for :data:`SELF_SILENCED` kinds (a typist never sees their own typing).

    Raises :class:`ValueError` if ``access`` describes another number or workspace: handing the
    wrong access list is our bug, and guessing would leak events across numbers.
    """
    if access.number != event.number or access.workspace_id != event.workspace_id:
        raise ValueError(
            f"access for {access.number!r} in workspace {access.workspace_id} does not cover "
            f"event {event.id!r} for {event.number!r} in workspace {event.workspace_id}"
        )
    users = access.members | access.managers
    if event.kind in SELF_SILENCED and event.actor_id is not None:
        return users - {event.actor_id}
    return users
