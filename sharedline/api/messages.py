"""Sending messages from a shared number (with collision control), delivery status, and
messages arriving from the provider.

Sending (``POST /conversations/{id}/messages``, ``POST /numbers/{e164}/messages``): the caller
must be on the number (else 404). Collision control first (``sharedline.inbox.collision``):
teammates typing in the conversation now, or teammates' replies in the last 60 s, answer
``409 collision`` naming them, unless the request says ``"override": true`` or carries
``Sharedline-Override-Collision: true``. Then the message is stored ``queued`` with its sender and
committed, handed to the provider, and marked with the provider's id and status; if the provider
does not take it, it is marked ``failed`` with the provider's error and the answer is
``502 provider_error``. Either way teammates get ``message.created``, whose payload names the
sending member.

Twilio's webhooks (``/webhooks/twilio/status`` for delivery reports, ``/webhooks/twilio/messages``
for inbound messages) carry no bearer token: each must carry a valid ``X-Twilio-Signature``
(403 otherwise), checked against ``messaging.twilio.webhook_base_url`` + path when set (behind a
proxy), else the URL as received. Their url-encoded forms are parsed here, without
python-multipart, as the raw pairs the signature covers.

The provider comes from ``app.state.messaging`` (:func:`install_messaging`, called by the
composition root); an app without one sends through a :class:`LoopbackProvider`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.settings import MessagingSettings
from ..inbox.collision import DEFAULT_WINDOW, OVERRIDE_HEADER, CollisionWarning, check_collision
from ..inbox.events import EventKind, InboxEvent, JSONValue, new_event_id
from ..inbox.permissions import Action
from ..messaging import MessagingError, MessagingProvider
from ..messaging.loopback import LoopbackProvider
from ..messaging.twilio import SIGNATURE_HEADER, TwilioProvider, status_from_twilio
from ..messaging.twilio import valid_signature as twilio_signature_ok
from ..store import messaging as store
from ..store.accounts import Account, NumberAccess
from ..store.conversations import ConversationView, conversation_for, find_conversation
from ..store.inbox_models import Conversation, Message, MessageDirection, MessageStatus
from ..store.messaging import MessageRecord, NumberRef
from ..store.models import User
from .access import number_for
from .auth import CurrentUser
from .errors import (
    ERROR_RESPONSES,
    ApiError,
    Forbidden,
    InvalidRequest,
    NumberNotFound,
)
from .events import emit
from .message_schemas import (
    MessageIn,
    MessageOut,
    MessagePageOut,
    NewConversationMessageIn,
    message_out,
)
from .schemas import E164_PATTERN, MAX_ID, ErrorResponse
from .state import ApiState, Session, State

__all__ = [
    "Collision",
    "Messaging",
    "ProviderFailed",
    "conversation_access",
    "install_messaging",
    "provider_from_settings",
    "router",
]

log = structlog.get_logger(__name__)

router = APIRouter(tags=["messages"], responses=ERROR_RESPONSES)

ConversationIdPath = Annotated[int, Path(gt=0, le=MAX_ID)]
E164Path = Annotated[str, Path(pattern=E164_PATTERN, description="the number, E.164: +14155550100")]
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_MAX_MEDIA = 10


class Collision(ApiError):
    status_code = 409
    code = CollisionWarning.code


class ProviderFailed(ApiError):
    status_code = MessagingError.status_code
    code = MessagingError.error_code


@dataclass(frozen=True, slots=True)
class Messaging:
    """How this app sends messages and checks provider webhooks (``app.state.messaging``)."""

    settings: MessagingSettings
    provider: MessagingProvider

    async def aclose(self) -> None:
        await self.provider.aclose()


def provider_from_settings(settings: MessagingSettings) -> MessagingProvider:
    """The provider ``settings.provider`` names."""
    if settings.provider == "twilio":
        return TwilioProvider(settings.twilio)
    return LoopbackProvider()


def install_messaging(
    app: FastAPI, settings: MessagingSettings, provider: MessagingProvider | None = None
) -> Messaging:
    """Give ``app`` its messaging (``provider`` default: from ``settings``); the caller closes
    it (:meth:`Messaging.aclose`) when the app stops."""
    messaging = Messaging(settings, provider or provider_from_settings(settings))
    app.state.messaging = messaging
    return messaging


def get_messaging(request: Request) -> Messaging:
    messaging = getattr(request.app.state, "messaging", None)
    if messaging is None:
        messaging = install_messaging(request.app, MessagingSettings())
    assert isinstance(messaging, Messaging)
    return messaging


MessagingDep = Annotated[Messaging, Depends(get_messaging)]


async def conversation_access(
    session: AsyncSession, account: Account, conversation_id: int, action: Action
) -> tuple[ConversationView, NumberAccess]:
    """The conversation and its number, if ``account`` may do ``action`` there; 404 if the
    conversation is not on a number the account can see (its existence must not leak)."""
    conversation = await find_conversation(session, account.workspace_id, conversation_id)
    missing = NumberNotFound(f"no conversation {conversation_id}", conversation_id=conversation_id)
    if conversation is None:
        raise missing
    try:
        number = await number_for(session, account, conversation.number, action)
    except NumberNotFound:
        raise missing from None
    return conversation, number


# --- sending --------------------------------------------------------------------------------------


def _payload(message: MessageRecord) -> dict[str, JSONValue]:
    payload: dict[str, JSONValue] = message_out(message).model_dump(mode="json")
    return payload


async def _names(session: AsyncSession, user_ids: set[int]) -> dict[str, JSONValue]:
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {str(user_id): name for user_id, name in rows}


async def _check_collision(
    session: AsyncSession, state: ApiState, account: Account, conversation_id: int
) -> None:
    now = state.clock()
    # Serialize replies in one conversation (PostgreSQL): a reply committed by a teammate a
    # moment ago is seen by the next check.
    await session.execute(
        select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
    )
    replies = await store.recent_replies(
        session, conversation_id, since=now - timedelta(seconds=DEFAULT_WINDOW)
    )
    typing = state.typing.typing_in(conversation_id, now.timestamp())
    warning = check_collision(account.id, conversation_id, now.timestamp(), typing, replies)
    if warning is None:
        return
    details = warning.body()
    message = str(details.pop("detail"))
    details.pop("code")
    people = set(warning.typing) | {reply.user_id for reply in warning.replies}
    details["names"] = await _names(session, people)
    log.info("message_collision", conversation_id=conversation_id, typing=list(warning.typing))
    raise Collision(message, **details)


async def _send(
    session: AsyncSession,
    state: ApiState,
    messaging: Messaging,
    account: Account,
    number: NumberAccess,
    conversation: ConversationView,
    body: MessageIn,
    override: bool,
) -> MessageOut:
    if not (override or body.override):
        await _check_collision(session, state, account, conversation.id)
    now = state.clock()
    provider = messaging.provider
    queued = await store.add_message(
        session,
        conversation.id,
        direction=MessageDirection.OUTBOUND,
        body=body.body,
        media_urls=body.media_urls,
        status=MessageStatus.QUEUED,
        now=now,
        sender_id=account.id,
        provider=provider.name,
    )
    await conversation_for(
        session, number.id, conversation.contact_e164, create=False, activity_at=now
    )
    await session.commit()
    try:
        result = await provider.send(
            number.e164, conversation.contact_e164, body.body, body.media_urls
        )
    except MessagingError as error:
        failed = await store.mark_failed(session, queued.id, error=error.message, now=now)
        await session.commit()
        await emit(
            state,
            EventKind.MESSAGE_CREATED,
            number,
            account,
            conversation_id=conversation.id,
            payload=_payload(failed),
        )
        log.warning("message_not_sent", message_id=queued.id, provider=provider.name)
        raise ProviderFailed(
            f"the message was not sent: {error.message}",
            message_id=queued.id,
            provider=provider.name,
            provider_status=error.provider_status,
            provider_code=error.code,
        ) from None
    sent = await store.mark_sent(
        session, queued.id, provider_id=result.provider_id, status=result.status, now=now
    )
    await session.commit()
    await emit(
        state,
        EventKind.MESSAGE_CREATED,
        number,
        account,
        conversation_id=conversation.id,
        payload=_payload(sent),
    )
    log.info("message_sent", message_id=sent.id, provider=provider.name)
    # the draft is gone: the teammates stop seeing "typing…" now, not after the ttl
    for stopped in state.typing.stopped(account.id, conversation.id, now.timestamp()):
        await state.bus.publish(stopped)
    return message_out(sent)


def _overrides(header: str | None) -> bool:
    return header is not None and header.strip().lower() == "true"


OverrideHeader = Annotated[
    str | None,
    Header(alias=OVERRIDE_HEADER, description="true: send even if a teammate is on it"),
]


@router.post(
    "/conversations/{conversation_id}/messages",
    operation_id="sendMessage",
    status_code=201,
    response_model=MessageOut,
    responses={502: {"description": "The provider did not take the message (provider_error)"}},
)
async def send_message(
    conversation_id: ConversationIdPath,
    body: MessageIn,
    account: CurrentUser,
    session: Session,
    state: State,
    messaging: MessagingDep,
    override_header: OverrideHeader = None,
) -> MessageOut:
    """Reply in a conversation from its shared number, as yourself (409 ``collision`` when a
    teammate is typing or has just replied, unless overridden)."""
    conversation, number = await conversation_access(
        session, account, conversation_id, Action.SEND_MESSAGE
    )
    return await _send(
        session, state, messaging, account, number, conversation, body, _overrides(override_header)
    )


@router.post(
    "/numbers/{e164}/messages",
    operation_id="sendMessageFromNumber",
    status_code=201,
    response_model=MessageOut,
    responses={502: {"description": "The provider did not take the message (provider_error)"}},
)
async def send_message_from_number(
    e164: E164Path,
    body: NewConversationMessageIn,
    account: CurrentUser,
    session: Session,
    state: State,
    messaging: MessagingDep,
    override_header: OverrideHeader = None,
) -> MessageOut:
    """Text ``to`` from the shared number: starts the conversation, or continues it."""
    number = await number_for(session, account, e164, Action.SEND_MESSAGE)
    if body.to == number.e164:
        raise InvalidRequest("a number cannot text itself", to=body.to)
    conversation = await conversation_for(session, number.id, body.to)
    assert conversation is not None
    return await _send(
        session, state, messaging, account, number, conversation, body, _overrides(override_header)
    )


@router.get(
    "/conversations/{conversation_id}/messages",
    operation_id="listMessages",
    response_model=MessagePageOut,
)
async def list_messages(
    conversation_id: ConversationIdPath,
    account: CurrentUser,
    session: Session,
    before: Annotated[int | None, Query(gt=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePageOut:
    """The conversation's messages, newest first, ``limit`` at a time (``before`` pages back)."""
    conversation, _ = await conversation_access(
        session, account, conversation_id, Action.VIEW_NUMBER
    )
    page = await store.list_messages(session, conversation.id, before=before, limit=limit + 1)
    more = len(page) > limit
    items = page[:limit]
    return MessagePageOut(
        items=[message_out(m) for m in items], next_before=items[-1].id if more else None
    )


# --- Twilio's webhooks ----------------------------------------------------------------------------


async def _signed_form(request: Request, messaging: Messaging) -> dict[str, str]:
    """The form Twilio posted, once its signature is checked (403 otherwise)."""
    twilio = messaging.settings.twilio
    if twilio.auth_token is None:
        raise NumberNotFound("twilio webhooks are not configured")
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not an url-encoded form") from None
    url = str(request.url)
    if twilio.webhook_base_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{twilio.webhook_base_url.rstrip('/')}{request.url.path}{query}"
    header = request.headers.get(SIGNATURE_HEADER)
    if not twilio_signature_ok(twilio.auth_token.get_secret_value(), url, pairs, header):
        log.warning("twilio_signature_invalid", path=request.url.path, signed=header is not None)
        raise Forbidden(f"the {SIGNATURE_HEADER} header is missing or wrong")
    return dict(pairs)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise InvalidRequest(f"the form lacks {name}", field=name)
    return value


async def _publish(
    state: ApiState,
    kind: EventKind,
    number: NumberRef,
    conversation_id: int,
    payload: dict[str, JSONValue],
) -> None:
    # emit() takes the workspace from the acting account; events from outside have none.
    event = InboxEvent(
        kind=kind,
        number=number.e164,
        workspace_id=number.workspace_id,
        conversation_id=conversation_id,
        at=state.clock().timestamp(),
        id=new_event_id(),
        payload=payload,
    )
    if not await state.bus.publish(event):
        log.warning("event_not_published", kind=kind.value, number=number.e164)


WebhookResponses: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse, "description": "X-Twilio-Signature is missing or wrong"},
}


@router.post(
    "/webhooks/twilio/status",
    operation_id="twilioMessageStatus",
    status_code=204,
    response_class=Response,
    responses={**WebhookResponses},
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {}}}}
    },
)
async def twilio_status(
    request: Request, session: Session, state: State, messaging: MessagingDep
) -> Response:
    """Twilio's delivery report (``MessageSid``, ``MessageStatus``, ``ErrorCode``)."""
    form = await _signed_form(request, messaging)
    sid = _required(form, "MessageSid")
    twilio_status = _required(form, "MessageStatus")
    status = status_from_twilio(twilio_status)
    if status is None:
        log.warning("twilio_status_unknown", sid=sid, status=twilio_status[:32])
        return Response(status_code=204)
    code = form.get("ErrorCode", "").strip()
    error = f"twilio error {code[:20]}" if code else None
    change = await store.update_status(
        session, TwilioProvider.name, sid, status, now=state.clock(), error=error
    )
    if change is None:
        raise NumberNotFound(f"no message {sid}", sid=sid)
    await session.commit()
    await _publish(
        state,
        EventKind.MESSAGE_STATUS,
        change.number,
        change.message.conversation_id,
        {"id": change.message.id, "status": status.value, "error": change.message.error},
    )
    log.info("message_status", message_id=change.message.id, status=status.value)
    return Response(status_code=204)


@router.post(
    "/webhooks/twilio/messages",
    operation_id="twilioInboundMessage",
    response_class=Response,
    responses={
        **WebhookResponses,
        200: {"content": {"text/xml": {}}, "description": "empty TwiML"},
    },
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {}}}}
    },
)
async def twilio_inbound(
    request: Request, session: Session, state: State, messaging: MessagingDep
) -> Response:
    """A message to one of our numbers (``From``, ``To``, ``Body``, ``NumMedia``,
    ``MediaUrl0``…); answered with empty TwiML (no automatic reply)."""
    form = await _signed_form(request, messaging)
    to = _required(form, "To")
    sender = _required(form, "From")
    sid = form.get("MessageSid", "").strip()[:64] or None
    number = await store.number_by_e164(session, to)
    if number is None:
        raise NumberNotFound(f"no number {to}", number=to)
    if sid is not None and await _known(session, sid):
        return _twiml()  # Twilio retried a message we already have
    try:
        count = min(int(form.get("NumMedia", "0") or "0"), _MAX_MEDIA)
    except ValueError:
        raise InvalidRequest("NumMedia is not a number", field="NumMedia") from None
    media = [form[f"MediaUrl{i}"] for i in range(count) if form.get(f"MediaUrl{i}")]
    now = state.clock()
    conversation = await conversation_for(session, number.id, sender, activity_at=now)
    assert conversation is not None
    message = await store.add_message(
        session,
        conversation.id,
        direction=MessageDirection.INBOUND,
        body=form.get("Body", ""),
        media_urls=media,
        status=MessageStatus.RECEIVED,
        now=now,
        provider=TwilioProvider.name,
        provider_id=sid,
    )
    await session.commit()
    await _publish(state, EventKind.MESSAGE_CREATED, number, conversation.id, _payload(message))
    log.info("message_received", message_id=message.id, number=number.e164)
    return _twiml()


async def _known(session: AsyncSession, sid: str) -> bool:
    found = await session.scalar(
        select(Message.id).where(
            Message.provider == TwilioProvider.name, Message.provider_id == sid
        )
    )
    return found is not None


def _twiml() -> Response:
    return Response(_EMPTY_TWIML, media_type="text/xml")
