"""Live events over WebSocket: every change on the numbers a user may see, and typing.

Protocol of ``GET /ws`` (a WebSocket; OpenAPI cannot describe it, so it is described here).

Authentication, on the handshake: ``/ws?token=TOKEN`` or ``Authorization: Bearer TOKEN`` (a
token from ``POST /auth/token``). A missing, unknown, expired or revoked token closes the socket
with code 4401 before it is accepted (HTTP 403 on the handshake).

Server to client, JSON text frames::

    {"type": "hello", "user_id": 7, "numbers": ["+12125550100", ...]}   once, first
    {"type": "event", "kind": "call.ringing", "number": ..., "workspace_id": ...,
     "conversation_id": ..., "at": ..., "id": ..., "payload": {...}, "actor_id": ...,
     "origin": ...}                                   an InboxEvent (sharedline.inbox.events)
    {"type": "subscribed", "numbers": [...]}          the answer to "subscribe"
    {"type": "pong"}                                  the answer to "ping"
    {"type": "error", "code": "not_found", "number": "+1..."}          a number it cannot see
    {"type": "error", "code": "not_found", "conversation_id": 12}      the same, a conversation
    {"type": "error", "code": "invalid", "detail": "..."}              a malformed message

Client to server::

    {"type": "subscribe", "numbers": ["+12125550100"]}   only these numbers from now on
    {"type": "typing", "conversation_id": 12}            the user types (repeat every few seconds)
    {"type": "typing_stopped", "conversation_id": 12}    the draft was sent or cleared
    {"type": "ping"}

Who receives what: an event goes to the users in its audience
(:func:`~sharedline.inbox.events.audience`: members of its number and the workspace's Owners and
Admins; never a typist's own typing) who are subscribed to its number. A new connection is
subscribed to every number it may see, including numbers it is added to later. The audience is
read from the store for every event, so a membership removed while connected stops delivery at
once. A number (or conversation) the user may not see is ``not_found``, exactly like one that
does not exist. Typists are remembered per node (:class:`~sharedline.inbox.presence.TypingTracker`):
silence for the tracker's ``ttl`` or closing the last socket publishes ``typing.stopped``.

Theory of operation: one :class:`Hub` per app, started with its first connection and stopped
with its last, subscribes once to the bus and fans each event out to its connections; each
connection has a bounded outbox drained by its own task, so one stalled client never delays the
others (a client more than ``OUTBOX_SIZE`` frames behind is closed with 1013 and reloads). A
second task expires typists at :meth:`TypingTracker.next_deadline`. Typing events published by
other nodes are fed to :meth:`TypingTracker.observe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..bus import BusError, Subscription
from ..inbox.events import SELF_SILENCED, InboxEvent, NumberAccess, audience
from ..inbox.permissions import visible
from ..store import accounts
from ..store.accounts import Account
from ..store.inbox_models import Conversation
from ..store.models import NumberMembership, PhoneNumber, User, WorkspaceRole
from .errors import ERROR_RESPONSES
from .state import ApiState

__all__ = ["OUTBOX_SIZE", "UNAUTHORIZED", "Hub", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(tags=["live"], responses=ERROR_RESPONSES)

UNAUTHORIZED = 4401
"""Close code for a handshake without a valid token (4000 + HTTP 401)."""
TOO_SLOW = 1013
"""Close code for a client too far behind, or a node whose bus subscription was cut off."""
OUTBOX_SIZE = 1000
"""Frames a connection may fall behind before it is closed."""

_MANAGERS = (WorkspaceRole.OWNER, WorkspaceRole.ADMIN)


# --- reading access from the store ---------------------------------------------------------------


async def _number_access(
    session: AsyncSession, workspace_id: int, e164: str
) -> NumberAccess | None:
    """Who may see the number now: its members and the workspace's managers; None: no such."""
    number_id = await session.scalar(
        select(PhoneNumber.id).where(
            PhoneNumber.e164 == e164, PhoneNumber.workspace_id == workspace_id
        )
    )
    if number_id is None:
        return None
    members = await session.scalars(
        select(NumberMembership.user_id).where(NumberMembership.number_id == number_id)
    )
    managers = await session.scalars(
        select(User.id).where(User.workspace_id == workspace_id, User.role.in_(_MANAGERS))
    )
    return NumberAccess(
        workspace_id=workspace_id,
        number=e164,
        members=frozenset(members),
        managers=frozenset(managers),
    )


async def _may_see(session: AsyncSession, user_id: int, e164: str) -> bool:
    """Whether the user (with their current roles) may see the number of their workspace."""
    row = (
        await session.execute(
            select(User.role, NumberMembership.role)
            .join(
                PhoneNumber,
                (PhoneNumber.workspace_id == User.workspace_id) & (PhoneNumber.e164 == e164),
            )
            .outerjoin(
                NumberMembership,
                (NumberMembership.number_id == PhoneNumber.id)
                & (NumberMembership.user_id == User.id),
            )
            .where(User.id == user_id)
        )
    ).first()
    return row is not None and visible(row[0], row[1])


async def _conversation_number(
    session: AsyncSession, account: Account, conversation_id: int
) -> str | None:
    """The number of a conversation the user may see; None if there is none they may see."""
    e164 = await session.scalar(
        select(PhoneNumber.e164)
        .join(Conversation, Conversation.number_id == PhoneNumber.id)
        .where(Conversation.id == conversation_id, PhoneNumber.workspace_id == account.workspace_id)
    )
    if e164 is None or not await _may_see(session, account.id, e164):
        return None
    return e164


# --- connections and the hub ---------------------------------------------------------------------


@dataclass(eq=False)
class _Connection:
    """One accepted socket: its user, its subscription, its outbox."""

    websocket: WebSocket
    account: Account
    numbers: frozenset[str] | None = None
    """The numbers subscribed to; None: every number the user may see."""
    outbox: asyncio.Queue[Mapping[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(OUTBOX_SIZE)
    )

    def wants(self, event: InboxEvent) -> bool:
        if event.workspace_id != self.account.workspace_id:
            return False
        return self.numbers is None or event.number in self.numbers

    def offer(self, frame: Mapping[str, Any] | None) -> None:
        """Queue a frame (None: close, too slow); a full outbox closes the connection."""
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("live_client_too_slow", user_id=self.account.id)
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.outbox.get_nowait()
            self.outbox.put_nowait(None)

    async def pump(self) -> None:
        """Send the outbox, in order; a None closes the socket with :data:`TOO_SLOW`."""
        while (frame := await self.outbox.get()) is not None:
            await self.websocket.send_text(json.dumps(frame, separators=(",", ":")))
        await self.websocket.close(code=TOO_SLOW)


class Hub:
    """This app's live connections, fed from one bus subscription."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        self.connections: set[_Connection] = set()
        self._local_typists: set[tuple[int, int]] = set()
        """(conversation, user) typing on this node's sockets: only these expire from here."""
        self._published: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, connection: _Connection) -> None:
        if not self._tasks:
            subscription = self.state.bus.subscribe()
            self._tasks = [
                asyncio.create_task(self._pump(subscription), name="live-hub"),
                asyncio.create_task(self._expire(), name="live-typing"),
            ]
        self.connections.add(connection)

    async def remove(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        user_id = connection.account.id
        if not any(c.account.id == user_id for c in self.connections):
            keys = {key for key in self._local_typists if key[1] == user_id}
            self._local_typists -= keys
            events = self.state.typing.disconnected(user_id, time.time())
            await self._publish([e for e in events if (e.conversation_id, user_id) in keys])
        if not self.connections:
            self._published.clear()  # their echoes will not be read
            tasks, self._tasks = self._tasks, []
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def typing(
        self, account: Account, conversation_id: int, number: str, *, stopped: bool
    ) -> None:
        now = time.time()
        key = (conversation_id, account.id)
        if stopped:
            self._local_typists.discard(key)
            events = self.state.typing.stopped(account.id, conversation_id, now)
        else:
            self._local_typists.add(key)
            events = self.state.typing.typing(
                account.id, conversation_id, number, now, workspace_id=account.workspace_id
            )
            self._wake.set()
        await self._publish(events)

    async def _publish(self, events: list[InboxEvent]) -> None:
        for event in events:
            self._published.add(event.id)
            if not await self.state.bus.publish(event):
                self._published.discard(event.id)
                log.warning("event_not_published", kind=event.kind.value, number=event.number)

    async def _pump(self, subscription: Subscription) -> None:
        try:
            async with subscription:
                async for event in subscription:
                    try:
                        await self._dispatch(event)
                    except Exception:  # our bug: lose this event, not the hub
                        log.exception("live_dispatch_failed", event_id=event.id)
        except BusError as error:  # cut off: every client must reload
            log.warning("live_hub_cut_off", error=str(error))
        for connection in list(self.connections):
            connection.offer(None)

    async def _dispatch(self, event: InboxEvent) -> None:
        if event.kind in SELF_SILENCED:
            if event.id in self._published:
                self._published.discard(event.id)
            else:
                self.state.typing.observe(event, time.time())
        candidates = [c for c in self.connections if c.wants(event)]
        if not candidates:
            return
        try:
            async with self.state.database.session() as session:
                access = await _number_access(session, event.workspace_id, event.number)
        except Exception:  # the store is down: the event is lost, clients resync on reconnect
            log.exception("live_access_failed", number=event.number, event_id=event.id)
            return
        if access is None:
            return
        users = audience(event, access)
        frame = {"type": "event", **json.loads(event.to_json())}
        for connection in candidates:
            if connection.account.id in users:
                connection.offer(frame)

    async def _expire(self) -> None:
        typing = self.state.typing
        while True:
            deadline = typing.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            expired = typing.expire(time.time())
            local = [e for e in expired if (e.conversation_id, e.actor_id) in self._local_typists]
            self._local_typists -= {(e.conversation_id, e.actor_id or 0) for e in local}
            await self._publish(local)


def _hub(app: FastAPI, state: ApiState) -> Hub:
    hub = getattr(app.state, "live_hub", None)
    if not isinstance(hub, Hub):
        hub = Hub(state)
        app.state.live_hub = hub
    return hub


# --- the socket ----------------------------------------------------------------------------------


def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def _authenticate(state: ApiState, websocket: WebSocket) -> Account | None:
    token = _token(websocket)
    if token is None:
        return None
    async with state.database.session() as session:
        return await accounts.account_for_token(session, token, now=state.clock())


async def _visible_numbers(state: ApiState, account: Account) -> list[str]:
    async with state.database.session() as session:
        numbers = await accounts.numbers_for(session, account)
    return [n.e164 for n in numbers if visible(account.role, n.role)]


@router.websocket("/ws", name="live")
async def live(websocket: WebSocket) -> None:
    """Live inbox events and typing (protocol: this module's docstring)."""
    state = websocket.app.state.api
    assert isinstance(state, ApiState)
    account = await _authenticate(state, websocket)
    if account is None:
        await websocket.close(code=UNAUTHORIZED)
        return
    with structlog.contextvars.bound_contextvars(user_id=account.id):
        await websocket.accept()
        hub = _hub(websocket.app, state)
        connection = _Connection(websocket=websocket, account=account)
        hub.add(connection)  # before hello: nothing published after hello is missed
        log.info("live_connected")
        try:
            numbers = await _visible_numbers(state, account)
            await websocket.send_text(
                json.dumps({"type": "hello", "user_id": account.id, "numbers": numbers})
            )
            sender = asyncio.create_task(connection.pump(), name="live-send")
            try:
                await _receive(websocket, connection, hub)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
        except WebSocketDisconnect:
            pass
        finally:
            await hub.remove(connection)
            log.info("live_disconnected")


async def _receive(websocket: WebSocket, connection: _Connection, hub: Hub) -> None:
    while True:
        text = await websocket.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            connection.offer(_invalid("not JSON"))
            continue
        if not isinstance(message, dict):
            connection.offer(_invalid("a message is a JSON object"))
            continue
        handler = _HANDLERS.get(message.get("type"))  # type: ignore[arg-type]
        if handler is None:
            connection.offer(_invalid(f"unknown message type {message.get('type')!r}"))
            continue
        await handler(message, connection, hub)


def _invalid(detail: str) -> dict[str, Any]:
    return {"type": "error", "code": "invalid", "detail": detail}


async def _on_ping(message: dict[str, Any], connection: _Connection, hub: Hub) -> None:
    connection.offer({"type": "pong"})


async def _on_subscribe(message: dict[str, Any], connection: _Connection, hub: Hub) -> None:
    numbers = message.get("numbers")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        connection.offer(_invalid("'numbers' must be a list of E.164 numbers"))
        return
    chosen: list[str] = []
    async with hub.state.database.session() as session:
        for number in dict.fromkeys(numbers):
            if await _may_see(session, connection.account.id, number):
                chosen.append(number)
            else:
                connection.offer({"type": "error", "code": "not_found", "number": number})
    connection.numbers = frozenset(chosen)
    connection.offer({"type": "subscribed", "numbers": chosen})


async def _on_typing(message: dict[str, Any], connection: _Connection, hub: Hub) -> None:
    conversation_id = message.get("conversation_id")
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        connection.offer(_invalid("'conversation_id' must be an integer"))
        return
    async with hub.state.database.session() as session:
        number = await _conversation_number(session, connection.account, conversation_id)
    if number is None:
        connection.offer({"type": "error", "code": "not_found", "conversation_id": conversation_id})
        return
    stopped = message["type"] == "typing_stopped"
    await hub.typing(connection.account, conversation_id, number, stopped=stopped)


_HANDLERS = {
    "ping": _on_ping,
    "subscribe": _on_subscribe,
    "typing": _on_typing,
    "typing_stopped": _on_typing,
}
