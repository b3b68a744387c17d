"""Conversations per (shared number, outside number), their timelines, and who opened them.

DESIGN.md "Team inbox". A conversation holds messages and voicemail by id; calls are the switch's
call records, matched by the shared number and the other party (the caller of an inbound call,
the callee of an outbound one), in either spelling a SIP From user part may carry
(``+12125550100`` or ``12125550100``). Nothing is copied, so the history has one source.

Missed calls are the number's, never a member's (product reference, "First person to answer
stops ringing for others"): a call one member answered is ``answered`` by them for everyone,
whatever the other legs say (``completed_elsewhere``); a call nobody answered (missed, or the
caller gave up) is ``missed`` for the whole number. :func:`call_status` is that rule.

:func:`conversation_for` is the one way to find or start a conversation, shared by messaging and
the switch: race-safe across engine nodes (``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT``).
Functions leave committing to the caller and return dataclasses (STYLE.md §9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .addressbook import aware, normalise_number, number_variants
from .inbox_models import Comment, Conversation, ConversationOpen, Message, Voicemail
from .models import CallRecord, PhoneNumber, User

__all__ = [
    "CallItem",
    "CallStatus",
    "ConversationView",
    "LegView",
    "MessageItem",
    "OpenView",
    "Person",
    "TimelineItem",
    "VoicemailItem",
    "call_status",
    "conversation_for",
    "find_conversation",
    "latest_items",
    "list_calls",
    "list_conversations",
    "list_opens",
    "list_voicemail",
    "record_open",
    "timeline",
]

CallStatus = Literal["answered", "missed", "voicemail", "failed", "ongoing"]

_STATUS: dict[str | None, CallStatus] = {
    "answered": "answered",
    "missed": "missed",
    "abandoned": "missed",
    "voicemail": "voicemail",
    "failed": "failed",
    None: "ongoing",
}
_OUTCOMES_BY_STATUS: dict[CallStatus, tuple[str, ...]] = {
    "answered": ("answered",),
    "missed": ("missed", "abandoned"),
    "voicemail": ("voicemail",),
    "failed": ("failed",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A workspace user as items name them."""

    id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationView:
    id: int
    number_id: int
    number: str
    """The shared number, E.164."""
    contact_e164: str
    created_at: datetime
    last_activity_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageItem:
    id: int
    at: datetime
    direction: str
    body: str
    media_urls: tuple[str, ...]
    status: str
    sender: Person | None
    """The member who sent an outbound message (None for inbound ones, or a deleted user)."""
    comments: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LegView:
    user: Person | None
    outcome: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallItem:
    id: int
    at: datetime
    direction: str
    other_party: str
    """The outside number, normalised to E.164 when it reads as one."""
    status: CallStatus
    outcome: str | None
    answered_by: Person | None
    answered_at: datetime | None
    ended_at: datetime | None
    legs: tuple[LegView, ...]
    comments: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailItem:
    id: int
    at: datetime
    call_id: int | None
    box: str
    duration: float | None
    audio_url: str | None
    transcription: str | None
    comments: int = 0
    contact_e164: str | None = None


TimelineItem = MessageItem | CallItem | VoicemailItem


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenView:
    user: Person
    opened_at: datetime


def call_status(outcome: str | None) -> CallStatus:
    """The team's view of a call's outcome: see the module docstring."""
    return _STATUS.get(outcome, "failed")


def _contact_key(raw: str) -> str:
    return normalise_number(raw) or raw.strip()[:32]


_INSERTS: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


# --- conversations --------------------------------------------------------------------------------


async def conversation_for(
    session: AsyncSession,
    number_id: int,
    contact: str,
    *,
    create: bool = True,
    activity_at: datetime | None = None,
) -> ConversationView | None:
    """The conversation of shared number ``number_id`` with ``contact`` (normalised to E.164
    when it reads as a number); started when missing if ``create``, else None.

    ``activity_at`` (a new message, call or voicemail) moves the conversation's last activity
    forward, never back. Safe when two nodes start the same conversation at once.
    """
    key = _contact_key(contact)
    if create:
        insert = _INSERTS[session.get_bind().dialect.name]
        values = {"number_id": number_id, "contact_e164": key}
        if activity_at is not None:
            values |= {"created_at": activity_at, "last_activity_at": activity_at}
        await session.execute(
            insert(Conversation)
            .values(values)
            .on_conflict_do_nothing(index_elements=["number_id", "contact_e164"])
        )
    if activity_at is not None:
        await session.execute(
            update(Conversation)
            .where(
                Conversation.number_id == number_id,
                Conversation.contact_e164 == key,
                Conversation.last_activity_at < activity_at,
            )
            .values(last_activity_at=activity_at)
        )
    row = (
        await session.execute(
            _conversations().where(
                Conversation.number_id == number_id, Conversation.contact_e164 == key
            )
        )
    ).first()
    return None if row is None else _conversation(row[0], row[1])


def _conversations() -> Select[Conversation, str]:
    return select(Conversation, PhoneNumber.e164).join(
        PhoneNumber, Conversation.number_id == PhoneNumber.id
    )


def _conversation(row: Conversation, number: str) -> ConversationView:
    return ConversationView(
        id=row.id,
        number_id=row.number_id,
        number=number,
        contact_e164=row.contact_e164,
        created_at=aware(row.created_at),
        last_activity_at=aware(row.last_activity_at),
    )


async def find_conversation(
    session: AsyncSession, workspace_id: int, conversation_id: int
) -> ConversationView | None:
    """A conversation of one of the workspace's numbers, or None."""
    row = (
        await session.execute(
            _conversations().where(
                Conversation.id == conversation_id, PhoneNumber.workspace_id == workspace_id
            )
        )
    ).first()
    return None if row is None else _conversation(row[0], row[1])


async def list_conversations(
    session: AsyncSession, number_id: int, *, limit: int = 50, offset: int = 0
) -> list[ConversationView]:
    """A number's conversations, the most recently active first."""
    rows = await session.execute(
        _conversations()
        .where(Conversation.number_id == number_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_conversation(row[0], row[1]) for row in rows]


# --- items ---------------------------------------------------------------------------------------


def _with_contacts(number_id: int, contacts: Iterable[str]) -> ColumnElement[bool]:
    """Calls of the number whose other party is one of ``contacts`` (E.164), in any spelling."""
    spellings = sorted({s for contact in contacts for s in number_variants(contact)})
    return and_(
        CallRecord.number_id == number_id,
        or_(
            and_(CallRecord.direction == "inbound", CallRecord.caller.in_(spellings)),
            and_(CallRecord.direction == "outbound", CallRecord.callee.in_(spellings)),
        ),
    )


def _calls_with(number_id: int, contacts: Iterable[str]) -> Select[CallRecord]:
    return select(CallRecord).where(_with_contacts(number_id, contacts))


async def _people(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Person]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: Person(id=user_id, name=name) for user_id, name in rows}


async def _call_items(
    session: AsyncSession, records: Sequence[CallRecord], comments: dict[tuple[str, int], int]
) -> list[CallItem]:
    people = await _people(
        session,
        [r.answered_by_user_id for r in records] + [leg.user_id for r in records for leg in r.legs],
    )
    items = []
    for record in records:
        other = record.caller if record.direction == "inbound" else record.callee
        answered_by = record.answered_by_user_id
        if answered_by is None and record.outcome == "answered":
            answered_by = next((g.user_id for g in record.legs if g.outcome == "answered"), None)
        items.append(
            CallItem(
                id=record.id,
                at=aware(record.started_at),
                direction=record.direction,
                other_party=_contact_key(other),
                status=call_status(record.outcome),
                outcome=record.outcome,
                answered_by=None if answered_by is None else people.get(answered_by),
                answered_at=None if record.answered_at is None else aware(record.answered_at),
                ended_at=None if record.ended_at is None else aware(record.ended_at),
                legs=tuple(
                    LegView(
                        user=None if leg.user_id is None else people.get(leg.user_id),
                        outcome=leg.outcome,
                    )
                    for leg in sorted(record.legs, key=lambda g: g.id)
                ),
                comments=comments.get(("call", record.id), 0),
            )
        )
    return items


def _voicemail_item(
    row: Voicemail, comments: dict[tuple[str, int], int], contact: str | None = None
) -> VoicemailItem:
    return VoicemailItem(
        id=row.id,
        at=aware(row.created_at),
        call_id=row.call_record_id,
        box=row.box,
        duration=row.duration,
        audio_url=row.audio_url,
        transcription=row.transcription,
        comments=comments.get(("voicemail", row.id), 0),
        contact_e164=contact,
    )


async def _comment_counts(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[tuple[str, int], int]:
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(Comment.item_kind, Comment.item_id, func.count())
        .where(Comment.conversation_id.in_(conversation_ids), Comment.deleted_at.is_(None))
        .group_by(Comment.item_kind, Comment.item_id)
    )
    return {(str(kind), item_id): count for kind, item_id, count in rows}


async def timeline(session: AsyncSession, conversation: ConversationView) -> list[TimelineItem]:
    """Everything in the conversation, oldest first: messages, calls and voicemail."""
    comments = await _comment_counts(session, [conversation.id])
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    senders = await _people(session, [m.sender_user_id for m in messages])
    items: list[TimelineItem] = [
        MessageItem(
            id=m.id,
            at=aware(m.created_at),
            direction=m.direction.value,
            body=m.body,
            media_urls=tuple(url for url in m.media_urls.splitlines() if url),
            status=m.status.value,
            sender=None if m.sender_user_id is None else senders.get(m.sender_user_id),
            comments=comments.get(("message", m.id), 0),
        )
        for m in messages
    ]
    records = list(
        await session.scalars(
            _calls_with(conversation.number_id, [conversation.contact_e164]).options(
                selectinload(CallRecord.legs)
            )
        )
    )
    items += await _call_items(session, records, comments)
    voicemails = await session.scalars(
        select(Voicemail).where(Voicemail.conversation_id == conversation.id)
    )
    items += [_voicemail_item(v, comments) for v in voicemails]
    order = {MessageItem: 0, CallItem: 1, VoicemailItem: 2}
    return sorted(items, key=lambda item: (item.at, order[type(item)], item.id))


async def latest_items(
    session: AsyncSession, conversations: Sequence[ConversationView]
) -> dict[int, TimelineItem]:
    """The latest item of each conversation (one number's), for conversation lists."""
    if not conversations:
        return {}
    by_id = {c.id: c for c in conversations}
    latest: dict[int, TimelineItem] = {}

    def offer(conversation_id: int, item: TimelineItem) -> None:
        current = latest.get(conversation_id)
        if current is None or item.at >= current.at:
            latest[conversation_id] = item

    newest = (
        select(
            Message,
            func.row_number()
            .over(partition_by=Message.conversation_id, order_by=Message.id.desc())
            .label("rank"),
        )
        .where(Message.conversation_id.in_(by_id))
        .subquery()
    )
    messages = await session.execute(select(newest).where(newest.c.rank == 1))
    for row in messages.mappings():
        offer(
            row["conversation_id"],
            MessageItem(
                id=row["id"],
                at=aware(row["created_at"]),
                direction=str(row["direction"]),
                body=row["body"],
                media_urls=(),
                status=str(row["status"]),
                sender=None,
            ),
        )
    voicemails = await session.scalars(
        select(Voicemail).where(Voicemail.conversation_id.in_(by_id))
    )
    for voicemail in voicemails:
        offer(voicemail.conversation_id, _voicemail_item(voicemail, {}))
    number_id = conversations[0].number_id
    keys = {c.contact_e164: c.id for c in conversations}
    # The newest call per (direction, caller, callee): at most a few per conversation.
    ranked = (
        select(
            CallRecord.id,
            func.row_number()
            .over(
                partition_by=(CallRecord.direction, CallRecord.caller, CallRecord.callee),
                order_by=(CallRecord.started_at.desc(), CallRecord.id.desc()),
            )
            .label("rank"),
        )
        .where(_with_contacts(number_id, keys))
        .subquery()
    )
    records = list(
        await session.scalars(
            select(CallRecord)
            .where(CallRecord.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
            .options(selectinload(CallRecord.legs))
        )
    )
    newest_call: dict[int, CallRecord] = {}
    for record in records:
        other = record.caller if record.direction == "inbound" else record.callee
        conversation_id = keys.get(_contact_key(other))
        if conversation_id is None:
            continue
        current = newest_call.get(conversation_id)
        if current is None or (record.started_at, record.id) > (current.started_at, current.id):
            newest_call[conversation_id] = record
    calls = await _call_items(session, list(newest_call.values()), {})
    for conversation_id, item in zip(newest_call, calls, strict=True):
        offer(conversation_id, item)
    return latest


# --- per number ----------------------------------------------------------------------------------


async def list_calls(
    session: AsyncSession,
    number_id: int,
    *,
    status: CallStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CallItem]:
    """A number's call history, newest first, optionally only calls with one ``status``."""
    query = select(CallRecord).where(CallRecord.number_id == number_id)
    if status == "ongoing":
        query = query.where(CallRecord.outcome.is_(None))
    elif status is not None:
        query = query.where(CallRecord.outcome.in_(_OUTCOMES_BY_STATUS[status]))
    records = list(
        await session.scalars(
            query.order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
            .limit(limit)
            .offset(offset)
            .options(selectinload(CallRecord.legs))
        )
    )
    return await _call_items(session, records, {})


async def list_voicemail(
    session: AsyncSession, number_id: int, *, limit: int = 50, offset: int = 0
) -> list[VoicemailItem]:
    """A number's voicemail, newest first, each with the outside number it came from."""
    rows = await session.execute(
        select(Voicemail, Conversation.contact_e164)
        .join(Conversation, Voicemail.conversation_id == Conversation.id)
        .where(Conversation.number_id == number_id)
        .order_by(Voicemail.created_at.desc(), Voicemail.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_voicemail_item(voicemail, {}, contact) for voicemail, contact in rows]


# --- opened by -----------------------------------------------------------------------------------


async def record_open(
    session: AsyncSession, conversation_id: int, user_id: int, *, at: datetime
) -> None:
    """``user_id`` opened the conversation ``at``: keep the latest time per member."""
    insert = _INSERTS[session.get_bind().dialect.name]
    statement = insert(ConversationOpen).values(
        conversation_id=conversation_id, user_id=user_id, opened_at=at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id", "user_id"],
            set_={"opened_at": statement.excluded.opened_at},
            where=ConversationOpen.opened_at < statement.excluded.opened_at,
        )
    )


async def list_opens(session: AsyncSession, conversation_id: int) -> list[OpenView]:
    """Who opened the conversation, the latest first."""
    rows = await session.execute(
        select(ConversationOpen.opened_at, User.id, User.name)
        .join(User, ConversationOpen.user_id == User.id)
        .where(ConversationOpen.conversation_id == conversation_id)
        .order_by(ConversationOpen.opened_at.desc(), User.id)
    )
    return [
        OpenView(user=Person(id=user_id, name=name), opened_at=aware(opened_at))
        for opened_at, user_id, name in rows
    ]
