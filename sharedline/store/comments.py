"""Internal comments on a conversation's items (messages, calls, voicemail) and their threads.

A comment is about one item of one conversation: a message of it, a voicemail of it, or a call
record of its shared number with its outside party (the caller of an inbound call, the callee of
an outbound one; ``sharedline.store.conversations`` matches calls the same way).
:func:`item_belongs` checks that before a comment is written.

Threads are one level deep: a reply's ``parent_id`` is always a root comment. A reply to a reply
joins the root's thread (as chat threads do), so a thread reads as one list in time order.
Deleting is soft: the body is emptied and ``deleted_at`` set, so the thread and its replies stay.
Functions leave committing to the caller and return dataclasses (STYLE.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .addressbook import aware, number_variants
from .conversations import ConversationView
from .inbox_models import Comment, Conversation, ItemKind, Message, Voicemail
from .models import CallRecord, PhoneNumber, User

__all__ = [
    "CommentRecord",
    "CommentRef",
    "Thread",
    "add_comment",
    "delete_comment",
    "edit_comment",
    "find_comment",
    "item_belongs",
    "list_threads",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentRecord:
    """A comment as the API shows it, with its author's name."""

    id: int
    conversation_id: int
    item_kind: ItemKind
    item_id: int
    parent_id: int | None
    author_id: int | None
    author_name: str | None
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentRef:
    """A comment with the number it lives on (for authorization and events)."""

    comment: CommentRecord
    number: str
    """The shared number, E.164."""
    workspace_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Thread:
    """A root comment and its replies, oldest first."""

    root: CommentRecord
    replies: list[CommentRecord] = field(default_factory=list)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


def _record(row: Comment, author_name: str | None) -> CommentRecord:
    return CommentRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        item_kind=row.item_kind,
        item_id=row.item_id,
        parent_id=row.parent_id,
        author_id=row.author_user_id,
        author_name=author_name,
        body=row.body,
        created_at=aware(row.created_at),
        edited_at=_maybe(row.edited_at),
        deleted_at=_maybe(row.deleted_at),
    )


async def _with_author(session: AsyncSession, row: Comment) -> CommentRecord:
    name = None
    if row.author_user_id is not None:
        name = await session.scalar(select(User.name).where(User.id == row.author_user_id))
    return _record(row, name)


async def item_belongs(
    session: AsyncSession, conversation: ConversationView, item_kind: ItemKind, item_id: int
) -> bool:
    """Whether the message, call or voicemail ``item_id`` is one of the conversation's items."""
    match item_kind:
        case ItemKind.MESSAGE:
            query = select(Message.id).where(
                Message.id == item_id, Message.conversation_id == conversation.id
            )
        case ItemKind.VOICEMAIL:
            query = select(Voicemail.id).where(
                Voicemail.id == item_id, Voicemail.conversation_id == conversation.id
            )
        case ItemKind.CALL:
            spellings = number_variants(conversation.contact_e164)
            query = select(CallRecord.id).where(
                CallRecord.id == item_id,
                CallRecord.number_id == conversation.number_id,
                or_(
                    and_(CallRecord.direction == "inbound", CallRecord.caller.in_(spellings)),
                    and_(CallRecord.direction == "outbound", CallRecord.callee.in_(spellings)),
                ),
            )
    return await session.scalar(query) is not None


async def add_comment(
    session: AsyncSession,
    *,
    conversation_id: int,
    item_kind: ItemKind,
    item_id: int,
    author_id: int,
    body: str,
    now: datetime,
    parent_id: int | None = None,
) -> CommentRecord:
    """Store a comment (a thread reply when ``parent_id`` names a root); flushed."""
    row = Comment(
        conversation_id=conversation_id,
        item_kind=item_kind,
        item_id=item_id,
        parent_id=parent_id,
        author_user_id=author_id,
        body=body,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return await _with_author(session, row)


async def find_comment(
    session: AsyncSession, workspace_id: int, comment_id: int
) -> CommentRef | None:
    """A comment on one of the workspace's numbers, or None."""
    found = (
        await session.execute(
            select(Comment, PhoneNumber.e164, User.name)
            .join(Conversation, Comment.conversation_id == Conversation.id)
            .join(PhoneNumber, Conversation.number_id == PhoneNumber.id)
            .outerjoin(User, Comment.author_user_id == User.id)
            .where(Comment.id == comment_id, PhoneNumber.workspace_id == workspace_id)
        )
    ).first()
    if found is None:
        return None
    row, e164, name = found
    return CommentRef(comment=_record(row, name), number=e164, workspace_id=workspace_id)


async def edit_comment(
    session: AsyncSession, comment_id: int, body: str, *, now: datetime
) -> CommentRecord:
    """Replace the body; ``edited_at`` is now."""
    row = await session.get_one(Comment, comment_id, with_for_update=True)
    row.body = body
    row.edited_at = now
    await session.flush()
    return await _with_author(session, row)


async def delete_comment(session: AsyncSession, comment_id: int, *, now: datetime) -> CommentRecord:
    """Soft delete: the body is emptied and ``deleted_at`` set; replies stay in the thread."""
    row = await session.get_one(Comment, comment_id, with_for_update=True)
    row.body = ""
    row.deleted_at = now
    await session.flush()
    return await _with_author(session, row)


async def list_threads(
    session: AsyncSession,
    conversation_id: int,
    *,
    item_kind: ItemKind | None = None,
    item_id: int | None = None,
) -> list[Thread]:
    """The conversation's threads (of one item kind, or one item), roots oldest first."""
    query = (
        select(Comment, User.name)
        .outerjoin(User, Comment.author_user_id == User.id)
        .where(Comment.conversation_id == conversation_id)
        .order_by(Comment.id)
    )
    if item_kind is not None:
        query = query.where(Comment.item_kind == item_kind)
    if item_id is not None:
        query = query.where(Comment.item_id == item_id)
    threads: dict[int, Thread] = {}
    for row, name in await session.execute(query):
        record = _record(row, name)
        if record.parent_id is None:
            threads[record.id] = Thread(root=record)
        elif record.parent_id in threads:
            threads[record.parent_id].replies.append(record)
    return list(threads.values())
