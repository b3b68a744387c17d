"""Request and response bodies of the messages and comments routes (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ..store.comments import CommentRecord, Thread
from ..store.inbox_models import ItemKind, MessageDirection, MessageStatus
from ..store.messaging import MessageRecord
from .schemas import E164, MAX_ID

__all__ = [
    "CommentEditIn",
    "CommentIn",
    "CommentOut",
    "MessageIn",
    "MessageOut",
    "MessagePageOut",
    "NewConversationMessageIn",
    "ReplyIn",
    "SenderOut",
    "ThreadOut",
    "comment_out",
    "message_out",
    "thread_out",
]

MAX_BODY = 1600
"""Twilio's limit on a message body, in characters."""
MAX_MEDIA = 10
"""Twilio's limit on media per MMS."""

MediaUrl = Annotated[
    str, StringConstraints(max_length=1000, pattern=r"^https?://[^\s]+$", strip_whitespace=True)
]
CommentBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_In):
    body: str = Field("", max_length=MAX_BODY, description="the text; may be empty with media")
    media_urls: list[MediaUrl] = Field(default_factory=list, max_length=MAX_MEDIA)
    override: bool = Field(
        False, description="send even though a teammate is typing or has just replied"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> MessageIn:
        if not self.body.strip() and not self.media_urls:
            raise ValueError("a message needs a body or media_urls")
        return self


class NewConversationMessageIn(MessageIn):
    to: E164 = Field(description="the outside number, E.164: the conversation is started if new")


class SenderOut(BaseModel):
    id: int
    name: str | None


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    direction: MessageDirection
    body: str
    media_urls: list[str]
    sender: SenderOut | None = Field(description="the member who sent it (outbound messages)")
    status: MessageStatus
    provider_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class MessagePageOut(BaseModel):
    items: list[MessageOut] = Field(description="newest first")
    next_before: int | None = Field(description="pass as ?before= for older messages; none: end")


class CommentIn(_In):
    item_kind: ItemKind
    item_id: int = Field(gt=0, le=MAX_ID)
    body: CommentBody


class ReplyIn(_In):
    body: CommentBody


class CommentEditIn(_In):
    body: CommentBody


class CommentOut(BaseModel):
    id: int
    conversation_id: int
    item_kind: ItemKind
    item_id: int
    parent_id: int | None = Field(description="the thread's root for a reply")
    author: SenderOut | None
    body: str = Field(description="empty once deleted")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


class ThreadOut(CommentOut):
    replies: list[CommentOut]


def message_out(message: MessageRecord) -> MessageOut:
    sender = None
    if message.sender_id is not None:
        sender = SenderOut(id=message.sender_id, name=message.sender_name)
    return MessageOut(
        id=message.id,
        conversation_id=message.conversation_id,
        direction=message.direction,
        body=message.body,
        media_urls=list(message.media_urls),
        sender=sender,
        status=message.status,
        provider_id=message.provider_id,
        error=message.error,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


def _fields(comment: CommentRecord) -> dict[str, object]:
    author = None
    if comment.author_id is not None:
        author = SenderOut(id=comment.author_id, name=comment.author_name)
    return {
        "id": comment.id,
        "conversation_id": comment.conversation_id,
        "item_kind": comment.item_kind,
        "item_id": comment.item_id,
        "parent_id": comment.parent_id,
        "author": author,
        "body": comment.body,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "deleted_at": comment.deleted_at,
    }


def comment_out(comment: CommentRecord) -> CommentOut:
    return CommentOut.model_validate(_fields(comment))


def thread_out(thread: Thread) -> ThreadOut:
    return ThreadOut.model_validate(
        {**_fields(thread.root), "replies": [comment_out(reply) for reply in thread.replies]}
    )
