"""Conversations per (shared number, contact): their timeline of messages, calls and
voicemail, who opened them and when; calls and voicemail per number.

A conversation belongs to a number: whoever cannot see the number cannot see the conversation
either, and gets 404 for it as for the number (``Action.VIEW_CONVERSATIONS``; workspace Owners and
Admins see every number). Calls carry the number's view of them (``status``): answered by one
member for everyone, missed only when nobody answered (``store.conversations.call_status``).
Opening a conversation is recorded per member (the latest time) and pushed live as
``conversation.opened``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ..inbox.events import EventKind
from ..inbox.permissions import Action, visible
from ..store import accounts, addressbook, conversations
from ..store.accounts import Account, NumberAccess
from ..store.conversations import (
    CallItem,
    CallStatus,
    ConversationView,
    MessageItem,
    Person,
    TimelineItem,
    VoicemailItem,
)
from .access import number_for, require
from .auth import CurrentUser
from .errors import ERROR_RESPONSES, NumberNotFound
from .events import emit
from .inbox_schemas import (
    CallOut,
    ConversationContactOut,
    ConversationDetailOut,
    ConversationOut,
    LastItemOut,
    LegOut,
    MessageOut,
    OpenOut,
    PersonOut,
    TimelineItemOut,
    VoicemailOut,
)
from .schemas import E164_PATTERN, MAX_ID
from .state import Session, State

__all__ = ["router"]

router = APIRouter(tags=["conversations"], responses=ERROR_RESPONSES)

E164Path = Annotated[str, Path(pattern=E164_PATTERN, description="the number, E.164: +14155550100")]
ConversationIdPath = Annotated[int, Path(gt=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

_SUMMARY_LENGTH = 120


async def _conversation(
    session: Session, account: Account, conversation_id: int
) -> tuple[ConversationView, NumberAccess]:
    """The conversation and its number, if ``account`` may see it; else 404 (never 403: that
    would tell that the conversation exists)."""
    conversation = await conversations.find_conversation(
        session, account.workspace_id, conversation_id
    )
    number = (
        None
        if conversation is None
        else await accounts.number_access(session, account, conversation.number)
    )
    if conversation is None or number is None or not visible(account.role, number.role):
        raise NumberNotFound(f"no conversation {conversation_id}", conversation_id=conversation_id)
    require(account, number, Action.VIEW_CONVERSATIONS)
    return conversation, number


def _person(person: Person | None) -> PersonOut | None:
    return None if person is None else PersonOut(id=person.id, name=person.name)


def _call_out(call: CallItem) -> CallOut:
    return CallOut(
        id=call.id,
        at=call.at,
        direction="inbound" if call.direction == "inbound" else "outbound",
        other_party=call.other_party,
        status=call.status,
        outcome=call.outcome,
        answered_by=_person(call.answered_by),
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        legs=[LegOut(user=_person(leg.user), outcome=leg.outcome) for leg in call.legs],
        comments=call.comments,
    )


def _voicemail_out(voicemail: VoicemailItem) -> VoicemailOut:
    return VoicemailOut(
        id=voicemail.id,
        at=voicemail.at,
        call_id=voicemail.call_id,
        box=voicemail.box,
        duration=voicemail.duration,
        audio_url=voicemail.audio_url,
        transcription=voicemail.transcription,
        comments=voicemail.comments,
        contact_e164=voicemail.contact_e164,
    )


def _item_out(item: TimelineItem) -> TimelineItemOut:
    match item:
        case MessageItem():
            return MessageOut(
                id=item.id,
                at=item.at,
                direction="inbound" if item.direction == "inbound" else "outbound",
                body=item.body,
                media_urls=list(item.media_urls),
                status=item.status,
                sender=_person(item.sender),
                comments=item.comments,
            )
        case CallItem():
            return _call_out(item)
        case VoicemailItem():
            return _voicemail_out(item)


def _summary(item: TimelineItem) -> str:
    match item:
        case MessageItem():
            text = " ".join(item.body.split()) or "(media)"
            if len(text) > _SUMMARY_LENGTH:
                text = text[: _SUMMARY_LENGTH - 1] + "…"
            return text
        case CallItem():
            way = "Incoming" if item.direction == "inbound" else "Outgoing"
            if item.status == "answered" and item.answered_by is not None:
                return f"{way} call, answered by {item.answered_by.name}"
            return {
                "answered": f"{way} call, answered",
                "missed": "Missed call",
                "voicemail": "Call to voicemail",
                "failed": f"{way} call, failed",
                "ongoing": f"{way} call in progress",
            }[item.status]
        case VoicemailItem():
            if item.duration is None:
                return "Voicemail"
            return f"Voicemail ({round(item.duration)} s)"


def _last_item(item: TimelineItem | None) -> LastItemOut | None:
    if item is None:
        return None
    kind = {MessageItem: "message", CallItem: "call", VoicemailItem: "voicemail"}[type(item)]
    return LastItemOut.model_validate(
        {"kind": kind, "id": item.id, "at": item.at, "summary": _summary(item)}
    )


async def _conversation_outs(
    session: Session, account: Account, found: list[ConversationView]
) -> list[ConversationOut]:
    names = await addressbook.names_for(
        session, account.workspace_id, (c.contact_e164 for c in found)
    )
    latest = await conversations.latest_items(session, found)
    outs = []
    for conversation in found:
        contact_id, name = names.get(conversation.contact_e164, (None, None))
        outs.append(
            ConversationOut(
                id=conversation.id,
                number=conversation.number,
                contact=ConversationContactOut(
                    e164=conversation.contact_e164, name=name, contact_id=contact_id
                ),
                created_at=conversation.created_at,
                last_activity_at=conversation.last_activity_at,
                last_item=_last_item(latest.get(conversation.id)),
            )
        )
    return outs


@router.get(
    "/numbers/{e164}/conversations",
    operation_id="listConversations",
    response_model=list[ConversationOut],
)
async def list_conversations(
    e164: E164Path,
    account: CurrentUser,
    session: Session,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ConversationOut]:
    """The number's conversations, the most recently active first, each with the contact's
    name from the address book and a summary of its latest item."""
    number = await number_for(session, account, e164, Action.VIEW_CONVERSATIONS)
    found = await conversations.list_conversations(session, number.id, limit=limit, offset=offset)
    return await _conversation_outs(session, account, found)


@router.get(
    "/conversations/{conversation_id}",
    operation_id="getConversation",
    response_model=ConversationDetailOut,
)
async def get_conversation(
    conversation_id: ConversationIdPath, account: CurrentUser, session: Session
) -> ConversationDetailOut:
    """A conversation and its timeline, oldest first: messages (with the sending member),
    calls (with legs and who answered) and voicemail, each with its comment count."""
    conversation, _ = await _conversation(session, account, conversation_id)
    (summary,) = await _conversation_outs(session, account, [conversation])
    items = await conversations.timeline(session, conversation)
    return ConversationDetailOut(**summary.model_dump(), items=[_item_out(item) for item in items])


@router.post(
    "/conversations/{conversation_id}/open",
    operation_id="openConversation",
    response_model=OpenOut,
)
async def open_conversation(
    conversation_id: ConversationIdPath, account: CurrentUser, session: Session, state: State
) -> OpenOut:
    """Record that you opened the conversation now (teammates see who opened it, and when)."""
    conversation, number = await _conversation(session, account, conversation_id)
    now = state.clock()
    await conversations.record_open(session, conversation.id, account.id, at=now)
    await session.commit()
    await emit(
        state,
        EventKind.CONVERSATION_OPENED,
        number,
        account,
        conversation_id=conversation.id,
        payload={"user_id": account.id, "name": account.name, "opened_at": now.isoformat()},
    )
    return OpenOut(user=PersonOut(id=account.id, name=account.name), opened_at=now)


@router.get(
    "/conversations/{conversation_id}/opens",
    operation_id="listConversationOpens",
    response_model=list[OpenOut],
)
async def list_conversation_opens(
    conversation_id: ConversationIdPath, account: CurrentUser, session: Session
) -> list[OpenOut]:
    """Who opened the conversation and when (each member's latest time), the latest first."""
    conversation, _ = await _conversation(session, account, conversation_id)
    opens = await conversations.list_opens(session, conversation.id)
    return [
        OpenOut(user=PersonOut(id=o.user.id, name=o.user.name), opened_at=o.opened_at)
        for o in opens
    ]


@router.get("/numbers/{e164}/calls", operation_id="listCalls", response_model=list[CallOut])
async def list_calls(
    e164: E164Path,
    account: CurrentUser,
    session: Session,
    status: Annotated[
        CallStatus | None,
        Query(description="only calls the number sees this way: missed means nobody answered"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[CallOut]:
    """The number's call history, the latest first."""
    number = await number_for(session, account, e164, Action.VIEW_CONVERSATIONS)
    calls = await conversations.list_calls(
        session, number.id, status=status, limit=limit, offset=offset
    )
    return [_call_out(call) for call in calls]


@router.get(
    "/numbers/{e164}/voicemail", operation_id="listVoicemail", response_model=list[VoicemailOut]
)
async def list_voicemail(
    e164: E164Path,
    account: CurrentUser,
    session: Session,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[VoicemailOut]:
    """The number's voicemail, the latest first, each with the caller's number."""
    number = await number_for(session, account, e164, Action.VIEW_CONVERSATIONS)
    voicemails = await conversations.list_voicemail(session, number.id, limit=limit, offset=offset)
    return [_voicemail_out(v) for v in voicemails]
