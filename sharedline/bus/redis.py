"""The Redis bus: inbox events fan out between engine nodes through Redis pub/sub.

Every node publishes each event, as its JSON text, on one channel (``sharedline:events``) and
listens on it with one pub/sub connection. Redis hands a published message to every listening
node, the publisher included, so a node's own subscribers receive its events by the same road as
everyone else's, and all nodes see one publisher's events in the order it published them.

Theory of operation of the listener task: connect, SUBSCRIBE, wait for Redis to confirm (only then
is the bus :attr:`RedisBus.connected`), then read messages and hand each valid event to the local
:class:`~sharedline.bus.memory.MemoryBus`. Malformed messages are logged (``bus_message_dropped``)
and dropped. When the connection fails, log ``bus_connection_lost``, wait (exponential backoff,
``reconnect_initial`` doubling up to ``reconnect_max``) and start again; it never gives up and
never raises into the engine. Events published while the listener is disconnected are lost for
this node (pub/sub keeps nothing): clients resynchronise when they reconnect.

Publishing uses a separate pooled client; a failed publish is logged and reported as False.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..inbox.events import InboxEvent, InvalidEvent
from .memory import DEFAULT_QUEUE_SIZE, BusClosed, stamp
from .remote import RemoteBus

__all__ = ["DEFAULT_CHANNEL", "RedisBus"]

log = structlog.get_logger(__name__)

DEFAULT_CHANNEL = "sharedline:events"

_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisBus(RemoteBus):
    """Events shared by every node connected to one Redis server (``redis://host:port/db``)."""

    connection_errors = _CONNECTION_ERRORS

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        node_id: str | None = None,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
    ) -> None:
        super().__init__(
            queue_size=queue_size,
            node_id=node_id,
            reconnect_initial=reconnect_initial,
            reconnect_max=reconnect_max,
        )
        self.url = url
        self.channel = channel
        self._publisher: aioredis.Redis = aioredis.Redis.from_url(url)

    async def publish(self, event: InboxEvent) -> bool:
        """Publish ``event`` to every node; False (and an error logged) if Redis is unreachable."""
        if self._closed:
            raise BusClosed(f"cannot publish event {event.id!r} on a closed bus")
        text = stamp(event, self.node_id).to_json()
        try:
            await self._publisher.publish(self.channel, text)
        except _CONNECTION_ERRORS as error:
            reason = str(error) or type(error).__name__
            log.error("bus_publish_failed", channel=self.channel, event_id=event.id, error=reason)
            return False
        return True

    async def close(self) -> None:
        """Stop listening, close the connections and end every subscription."""
        await self._stop_listening()
        await self._publisher.aclose()
        await self._local.close()

    async def _listen_once(self) -> None:
        client = aioredis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0))
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            await self._pump(pubsub)
        finally:
            await _quietly_close(pubsub, client)

    async def _pump(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] == "subscribe":
                self._connected.set()
                log.info("bus_subscribed", channel=self.channel)
            elif message["type"] == "message":
                self._receive(message["data"])

    def _receive(self, data: bytes) -> None:
        try:
            event = InboxEvent.from_json(data)
        except InvalidEvent as error:
            log.warning(
                "bus_message_dropped", channel=self.channel, reason=str(error), data=data[:200]
            )
            return
        self._local.deliver(event)


async def _quietly_close(pubsub: PubSub, client: aioredis.Redis) -> None:
    with contextlib.suppress(*_CONNECTION_ERRORS):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    with contextlib.suppress(*_CONNECTION_ERRORS):
        await client.aclose()
