"""The event bus: live inbox events fan out to every subscriber on every engine node.

A node publishes an :class:`~sharedline.inbox.events.InboxEvent` once; every subscription open on
any node sharing the bus receives it (a WebSocket hub subscribes once per node and filters each
event by :func:`~sharedline.inbox.events.audience`). Three implementations of :class:`EventBus`:

- :class:`MemoryBus`: one process (tests, the embedded SQLite deployment);
- :class:`RedisBus`: Redis pub/sub on ``sharedline:events``;
- :class:`PostgresBus`: PostgreSQL LISTEN/NOTIFY on ``sharedline_events`` (payloads over the
  NOTIFY limit travel as ``{"truncated": true}``).

Delivery is at most once: the networked buses reconnect by themselves after a connection loss,
and events published while a node was disconnected are lost for that node. Each subscription
buffers at most ``queue_size`` events; a subscriber that falls further behind is cut off with
:class:`SubscriberOverflow` (see :mod:`sharedline.bus.memory` for why).

Errors: ``BusError`` → ``BusClosed``, ``SubscriberOverflow``. A server being down is not an
error the caller sees: ``publish`` logs it and returns False.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Literal, Protocol

from ..inbox.events import InboxEvent
from .memory import (
    DEFAULT_QUEUE_SIZE,
    BusClosed,
    BusError,
    MemoryBus,
    SubscriberOverflow,
    Subscription,
)
from .postgres import PostgresBus
from .redis import RedisBus

__all__ = [
    "BusClosed",
    "BusError",
    "EventBus",
    "MemoryBus",
    "PostgresBus",
    "RedisBus",
    "SubscriberOverflow",
    "Subscription",
    "bus_kind",
    "default_node_id",
    "open_bus",
]


_POSTGRES = ("postgresql", "postgres")


class EventBus(Protocol):
    """Publishes inbox events to every node and hands them to local subscribers."""

    async def publish(self, event: InboxEvent) -> bool:
        """Send ``event`` to every subscriber on every node.

        Returns False, after logging, when the server is unreachable: the event is lost.
        Raises :class:`BusClosed` after :meth:`close`.
        """
        ...

    def subscribe(self) -> Subscription:
        """An async iterator of every event published, on any node, after this call returns."""
        ...

    async def close(self) -> None:
        """Disconnect and end every subscription."""
        ...


def bus_kind(url: str | None, database_url: str) -> Literal["memory", "redis", "postgres"]:
    """Which bus :func:`open_bus` opens for these settings; see there."""
    if url is None:
        scheme = _scheme(database_url)
        return "postgres" if scheme in _POSTGRES else "memory"
    scheme = _scheme(url)
    if scheme in _POSTGRES:
        return "postgres"
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    if scheme == "memory":
        return "memory"
    raise ValueError(f"event bus url {url!r} is not redis://, postgresql:// or memory://")


def _scheme(url: str) -> str:
    return url.partition("://")[0].split("+")[0].lower()


def default_node_id() -> str:
    """``host:pid:random``: tells this process's events apart from other nodes'."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def open_bus(
    url: str | None,
    database_url: str,
    *,
    node_id: str | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    connect_timeout: float = 5.0,
) -> EventBus:
    """The bus the settings ask for, started.

    ``url``: ``redis://`` or ``rediss://`` → :class:`RedisBus`; ``postgresql://`` →
    :class:`PostgresBus` on that database; ``memory://`` → :class:`MemoryBus`. Without ``url``,
    a PostgreSQL ``database_url`` (``postgresql+asyncpg://...``) gives a :class:`PostgresBus` on
    it, anything else (SQLite) a :class:`MemoryBus`. A networked bus that cannot connect within
    ``connect_timeout`` seconds is returned anyway and keeps retrying (an error is logged).

    Raises :class:`ValueError` for any other scheme: a typo must not silently give each node
    its own private bus.
    """
    node = node_id or default_node_id()
    bus: MemoryBus | RedisBus | PostgresBus
    match bus_kind(url, database_url):
        case "memory":
            bus = MemoryBus(queue_size=queue_size, node_id=node)
        case "redis":
            assert url is not None
            bus = RedisBus(url, queue_size=queue_size, node_id=node)
        case "postgres":
            bus = PostgresBus(url or database_url, queue_size=queue_size, node_id=node)
    if isinstance(bus, MemoryBus):
        await bus.start()
    else:
        await bus.start(connect_timeout)
    return bus
