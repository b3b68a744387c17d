"""Collision control: warn a member before they reply on top of a teammate.

Two members answering the same customer at once is the failure a shared inbox must prevent.
Before a reply is sent in a conversation, :func:`check_collision` looks at the teammates typing
there now (:meth:`~sharedline.inbox.presence.TypingTracker.typing_in`) and the teammates' replies
within the last ``window`` seconds. If there are any, it returns a :class:`CollisionWarning`,
which the API answers as ``409 Conflict`` with ``{"code": "collision", ...}``
(:meth:`CollisionWarning.body`).
The client shows who is on it and may resend with ``"override": true`` in the body or the
:data:`OVERRIDE_HEADER` header set to ``true``; the API then skips the check.

The sender's own typing and own replies never count: following up on yourself is not a collision.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import ClassVar

from .events import JSONValue

__all__ = [
    "DEFAULT_WINDOW",
    "OVERRIDE_FIELD",
    "OVERRIDE_HEADER",
    "CollisionWarning",
    "RecentReply",
    "check_collision",
]

DEFAULT_WINDOW = 60.0
"""Seconds during which a teammate's reply still counts as a collision."""

OVERRIDE_FIELD = "override"
"""The request body field that sends anyway (``"override": true``)."""

OVERRIDE_HEADER = "Sharedline-Override-Collision"
"""The request header that sends anyway (value ``true``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentReply:
    """A teammate's reply in the conversation."""

    user_id: int
    """Who replied."""
    at: float
    """When, in epoch seconds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CollisionWarning:
    """Teammates are on this conversation: the reply needs an explicit override."""

    status_code: ClassVar[int] = 409
    code: ClassVar[str] = "collision"

    conversation_id: int
    """The conversation of the attempted reply."""
    typing: tuple[int, ...]
    """Teammates typing in it now, by user id, ascending."""
    replies: tuple[RecentReply, ...]
    """Teammates' replies within the window, newest first."""

    def body(self) -> dict[str, JSONValue]:
        """The JSON body of the 409 response."""
        return {
            "code": self.code,
            "detail": "a teammate is typing or has just replied in this conversation",
            "conversation_id": self.conversation_id,
            "typing": list(self.typing),
            "replies": [{"user_id": reply.user_id, "at": reply.at} for reply in self.replies],
        }


def check_collision(
    sender_id: int,
    conversation_id: int,
    now: float,
    typing: Set[int],
    last_replies: Sequence[tuple[int, float]],
    window: float = DEFAULT_WINDOW,
) -> CollisionWarning | None:
    """Whether ``sender_id`` replying in ``conversation_id`` at ``now`` would collide.

    ``typing``: user ids typing in the conversation now. ``last_replies``: ``(user_id, at)`` of
    recent replies there, in any order. A reply counts if ``now - at <= window`` (a reply stamped
    slightly in the future by another node's clock counts too). Returns None when the way is clear.
    """
    typists = tuple(sorted(user for user in typing if user != sender_id))
    recent = tuple(
        RecentReply(user_id=user, at=at)
        for user, at in sorted(last_replies, key=lambda reply: reply[1], reverse=True)
        if user != sender_id and now - at <= window
    )
    if not typists and not recent:
        return None
    return CollisionWarning(conversation_id=conversation_id, typing=typists, replies=recent)
