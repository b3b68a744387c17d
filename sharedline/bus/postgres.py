"""The PostgreSQL bus: inbox events fan out between engine nodes through LISTEN/NOTIFY.

For deployments that already share one PostgreSQL and run no Redis (DESIGN.md "Scale-out").
Each node keeps two connections outside the store's pool: one LISTENs on the channel
(``sharedline_events``), one sends ``SELECT pg_notify($1, $2)`` (channel and text are bound
parameters, so nothing is spliced into SQL; asyncpg quotes the identifier in LISTEN). PostgreSQL
delivers a notification to every listening session, the publisher's node included, and one
session's notifications in the order it sent them.

Payload limit: a NOTIFY payload must be shorter than 8000 bytes. An event whose JSON is longer
than ``max_payload`` bytes is sent with its payload replaced by ``{"truncated": true}``
(:data:`~sharedline.inbox.events.TRUNCATED`) and a warning ``bus_event_truncated`` is logged:
subscribers still learn what changed where (kind, number, conversation, id) and fetch the item
through the API. Inbox events carry ids and short previews, so this is rare.

Theory of operation of the listener task: connect, LISTEN, then (:attr:`PostgresBus.connected`)
wait for the connection to end, checking it with ``SELECT 1`` every ``health_interval`` seconds.
When it ends (server restart, ``pg_terminate_backend``, network), log ``bus_connection_lost``,
back off exponentially (``reconnect_initial`` doubling up to ``reconnect_max``) and start again;
it never gives up and never raises into the engine. Notifications sent while this node was not
listening are lost for it: clients resynchronise when they reconnect. Malformed notifications are
logged (``bus_message_dropped``) and dropped.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog

from ..inbox.events import InboxEvent, InvalidEvent
from .memory import DEFAULT_QUEUE_SIZE, BusClosed, stamp
from .remote import RemoteBus

__all__ = ["DEFAULT_CHANNEL", "MAX_PAYLOAD", "PostgresBus", "dsn_from_url"]

log = structlog.get_logger(__name__)

DEFAULT_CHANNEL = "sharedline_events"
MAX_PAYLOAD = 7999
"""Bytes: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more (default build)."""

_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # an unquoted identifier under NAMEDATALEN
_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def dsn_from_url(url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy URL: ``postgresql+asyncpg://`` → ``postgresql://``."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"database url {url!r} is not a postgresql:// url")
    return f"postgresql://{rest}"


class PostgresBus(RemoteBus):
    """Events shared by every node connected to one PostgreSQL database."""

    connection_errors = _CONNECTION_ERRORS

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        node_id: str | None = None,
        max_payload: int = MAX_PAYLOAD,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
        health_interval: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not _CHANNEL.fullmatch(channel):
            raise ValueError(f"channel {channel!r} is not a lower-case identifier of 1-63 bytes")
        super().__init__(
            queue_size=queue_size,
            node_id=node_id,
            reconnect_initial=reconnect_initial,
            reconnect_max=reconnect_max,
        )
        self.dsn = dsn_from_url(url)
        self.channel = channel
        self.max_payload = max_payload
        self.health_interval = health_interval
        self.connect_timeout = connect_timeout
        self.listener_pid: int | None = None
        """The server process id of the listening connection, while connected."""
        self._publisher: Any = None
        self._publish_lock = asyncio.Lock()

    async def publish(self, event: InboxEvent) -> bool:
        """NOTIFY every node of ``event``; False (and an error logged) if PostgreSQL is down."""
        if self._closed:
            raise BusClosed(f"cannot publish event {event.id!r} on a closed bus")
        text = self._encode(stamp(event, self.node_id))
        async with self._publish_lock:
            for attempt in (1, 2):  # a stale connection gets one fresh retry
                try:
                    if self._publisher is None or self._publisher.is_closed():
                        self._publisher = await asyncpg.connect(
                            self.dsn, timeout=self.connect_timeout
                        )
                    await self._publisher.execute("SELECT pg_notify($1, $2)", self.channel, text)
                except _CONNECTION_ERRORS as error:
                    await _discard(self._publisher)
                    self._publisher = None
                    if attempt == 2:
                        log.error(
                            "bus_publish_failed",
                            channel=self.channel,
                            event_id=event.id,
                            error=str(error) or type(error).__name__,
                        )
                else:
                    return True
        return False

    async def close(self) -> None:
        """Stop listening, close the connections and end every subscription."""
        await self._stop_listening()
        async with self._publish_lock:
            await _discard(self._publisher)
            self._publisher = None
        await self._local.close()

    def _encode(self, event: InboxEvent) -> str:
        text = event.to_json()
        size = len(text.encode())
        if size <= self.max_payload:
            return text
        log.warning("bus_event_truncated", event_id=event.id, size=size, limit=self.max_payload)
        return event.without_payload().to_json()

    async def _listen_once(self) -> None:
        connection: Any = None
        try:
            connection = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
            await self._serve(connection)
        finally:
            self.listener_pid = None
            await _discard(connection)

    async def _serve(self, connection: Any) -> None:
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_termination(_: Any) -> None:
            if not lost.done():
                lost.set_result(None)

        connection.add_termination_listener(on_termination)
        await connection.add_listener(self.channel, self._on_notification)
        self.listener_pid = connection.get_server_pid()
        self._connected.set()
        log.info("bus_listening", channel=self.channel, pid=self.listener_pid)
        while True:
            done, _ = await asyncio.wait({lost}, timeout=self.health_interval)
            if done or connection.is_closed():
                raise ConnectionError("listener connection closed")
            await asyncio.wait_for(connection.fetchval("SELECT 1"), self.health_interval)

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = InboxEvent.from_json(payload)
        except InvalidEvent as error:
            log.warning(
                "bus_message_dropped", channel=self.channel, reason=str(error), data=payload[:200]
            )
            return
        self._local.deliver(event)


async def _discard(connection: Any) -> None:
    """Close a connection that may already be broken, without waiting long or raising."""
    if connection is None or connection.is_closed():
        return
    try:
        await asyncio.wait_for(connection.close(), 2.0)
    except Exception:
        connection.terminate()
