"""Messages in conversations: storing outbound and inbound ones, their delivery status, and the
recent replies collision control looks at.

An outbound message is written ``queued`` with its sender before the provider is called, then
marked with the provider's id and status (or ``failed`` and the provider's error), so a crash
between the two leaves a trace instead of a message nobody knows was sent. Delivery reports
find the message by ``(provider, provider_id)``. Functions leave committing to the caller and
return dataclasses (STYLE.md §9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .addressbook import aware
from .inbox_models import Conversation, Message, MessageDirection, MessageStatus
from .models import PhoneNumber, User

__all__ = [
    "MessageRecord",
    "NumberRef",
    "StatusChange",
    "add_message",
    "get_message",
    "list_messages",
    "mark_failed",
    "mark_sent",
    "number_by_e164",
    "recent_replies",
    "update_status",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRecord:
    """A message as the API shows it, with the name of the member who sent it."""

    id: int
    conversation_id: int
    direction: MessageDirection
    body: str
    media_urls: tuple[str, ...]
    sender_id: int | None
    sender_name: str | None
    status: MessageStatus
    provider: str
    provider_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberRef:
    """A shared number and the workspace that owns it (for messages from outside)."""

    id: int
    e164: str
    name: str
    workspace_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange:
    """A delivery report applied to a message."""

    message: MessageRecord
    number: NumberRef


def _record(row: Message, sender_name: str | None) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        direction=row.direction,
        body=row.body,
        media_urls=tuple(url for url in row.media_urls.splitlines() if url),
        sender_id=row.sender_user_id,
        sender_name=sender_name,
        status=row.status,
        provider=row.provider,
        provider_id=row.provider_id,
        error=row.error,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


async def _with_sender(session: AsyncSession, row: Message) -> MessageRecord:
    name = None
    if row.sender_user_id is not None:
        name = await session.scalar(select(User.name).where(User.id == row.sender_user_id))
    return _record(row, name)


async def number_by_e164(session: AsyncSession, e164: str) -> NumberRef | None:
    """The shared number ``e164`` (in any workspace: numbers are unique), or None."""
    row = await session.scalar(select(PhoneNumber).where(PhoneNumber.e164 == e164))
    if row is None:
        return None
    return NumberRef(id=row.id, e164=row.e164, name=row.name, workspace_id=row.workspace_id)


async def add_message(
    session: AsyncSession,
    conversation_id: int,
    *,
    direction: MessageDirection,
    body: str,
    media_urls: Sequence[str],
    status: MessageStatus,
    now: datetime,
    sender_id: int | None = None,
    provider: str = "",
    provider_id: str | None = None,
) -> MessageRecord:
    """Store a message in the conversation (flushed, so it has its id)."""
    row = Message(
        conversation_id=conversation_id,
        direction=direction,
        body=body,
        media_urls="\n".join(media_urls),
        sender_user_id=sender_id,
        status=status,
        provider=provider,
        provider_id=provider_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return await _with_sender(session, row)


async def get_message(session: AsyncSession, message_id: int) -> MessageRecord | None:
    row = await session.get(Message, message_id)
    return None if row is None else await _with_sender(session, row)


async def mark_sent(
    session: AsyncSession,
    message_id: int,
    *,
    provider_id: str,
    status: MessageStatus,
    now: datetime,
) -> MessageRecord:
    """The provider took the message: its id there and the status it reported."""
    row = await session.get_one(Message, message_id)
    row.provider_id = provider_id
    row.status = status
    row.updated_at = now
    await session.flush()
    return await _with_sender(session, row)


async def mark_failed(
    session: AsyncSession, message_id: int, *, error: str, now: datetime
) -> MessageRecord:
    """The provider did not take the message: ``failed``, with its error (300 characters)."""
    row = await session.get_one(Message, message_id)
    row.status = MessageStatus.FAILED
    row.error = error[:300]
    row.updated_at = now
    await session.flush()
    return await _with_sender(session, row)


async def update_status(
    session: AsyncSession,
    provider: str,
    provider_id: str,
    status: MessageStatus,
    *,
    now: datetime,
    error: str | None = None,
) -> StatusChange | None:
    """Apply a delivery report to the message ``provider_id``; None if there is no such message."""
    found = (
        await session.execute(
            select(Message, PhoneNumber)
            .join(Conversation, Message.conversation_id == Conversation.id)
            .join(PhoneNumber, Conversation.number_id == PhoneNumber.id)
            .where(Message.provider == provider, Message.provider_id == provider_id)
            .with_for_update(of=Message)
        )
    ).first()
    if found is None:
        return None
    row, number = found
    row.status = status
    if error is not None:
        row.error = error[:300]
    row.updated_at = now
    await session.flush()
    return StatusChange(
        message=await _with_sender(session, row),
        number=NumberRef(
            id=number.id, e164=number.e164, name=number.name, workspace_id=number.workspace_id
        ),
    )


async def list_messages(
    session: AsyncSession, conversation_id: int, *, before: int | None = None, limit: int = 50
) -> list[MessageRecord]:
    """The conversation's messages, newest first; ``before`` (a message id) pages back."""
    query = (
        select(Message, User.name)
        .outerjoin(User, Message.sender_user_id == User.id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Message.id < before)
    rows = await session.execute(query)
    return [_record(row, name) for row, name in rows]


async def recent_replies(
    session: AsyncSession, conversation_id: int, *, since: datetime
) -> list[tuple[int, float]]:
    """``(sender id, epoch seconds)`` of outbound messages sent by members since ``since``."""
    rows = await session.execute(
        select(Message.sender_user_id, Message.created_at).where(
            Message.conversation_id == conversation_id,
            Message.direction == MessageDirection.OUTBOUND,
            Message.sender_user_id.is_not(None),
            Message.created_at >= since,
        )
    )
    return [(user_id, aware(at).timestamp()) for user_id, at in rows if user_id is not None]
