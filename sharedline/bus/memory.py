"""The in-process bus, and what every bus shares: bounded subscriptions, errors, backoff.

:class:`MemoryBus` fans events out to the subscribers of one process: tests, and the embedded
SQLite deployment. The Redis and PostgreSQL buses use one internally to fan out what their
server delivers.

Queue bound policy: each :class:`Subscription` buffers at most ``queue_size`` events. A
subscriber that falls that far behind (a stalled WebSocket) is cut off, not trimmed: its buffer is
discarded at once, a warning ``bus_subscriber_overflow`` is logged, and its next ``__anext__``
raises :class:`SubscriberOverflow`. Dropping the oldest events instead would leave the client
showing a wrong inbox without knowing it; cutting it off makes the WebSocket close, and the
client reconnects and reloads, which is always correct. Memory per subscriber stays bounded.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import replace
from types import TracebackType

import structlog

from ..inbox.events import InboxEvent

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "BusClosed",
    "BusError",
    "MemoryBus",
    "SubscriberOverflow",
    "Subscription",
    "backoff",
    "stamp",
]

log = structlog.get_logger(__name__)

DEFAULT_QUEUE_SIZE = 1000
"""Events a subscriber may fall behind before it is cut off."""


class BusError(Exception):
    """Base class of the bus errors.

    ``BusError`` → ``BusClosed`` (use after :meth:`close`), ``SubscriberOverflow`` (too slow).
    """


class BusClosed(BusError):
    """The bus was closed; subscribing or publishing on it is our bug."""


class SubscriberOverflow(BusError):
    """The subscriber fell ``queue_size`` events behind and was cut off: resynchronise."""


class _State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    OVERFLOWED = "overflowed"


class Subscription:
    """Events published after :meth:`MemoryBus.subscribe`, in order, as an async iterator.

    Iteration ends when the subscription or its bus is closed (after the buffered events) and
    raises :class:`SubscriberOverflow` if the subscriber fell too far behind.
    Use it as ``async with bus.subscribe() as events: async for event in events: ...``.
    """

    def __init__(self, bus: MemoryBus, queue_size: int) -> None:
        self._bus = bus
        self._queue_size = queue_size
        self._events: deque[InboxEvent] = deque()
        self._wakeup = asyncio.Event()
        self._state = _State.OPEN

    @property
    def pending(self) -> int:
        """Events buffered and not yet consumed."""
        return len(self._events)

    @property
    def closed(self) -> bool:
        """True once closed or cut off: no more events will be buffered."""
        return self._state is not _State.OPEN

    def close(self) -> None:
        """Stop receiving; iteration ends after the events already buffered."""
        if self._state is _State.OPEN:
            self._state = _State.CLOSED
            self._bus._discard(self)
            self._wakeup.set()

    def _offer(self, event: InboxEvent) -> None:
        if self._state is not _State.OPEN:
            return
        if len(self._events) >= self._queue_size:
            log.warning("bus_subscriber_overflow", queue_size=self._queue_size, event_id=event.id)
            self._events.clear()
            self._state = _State.OVERFLOWED
            self._bus._discard(self)
        else:
            self._events.append(event)
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> InboxEvent:
        while True:
            if self._events:
                return self._events.popleft()
            if self._state is _State.OVERFLOWED:
                raise SubscriberOverflow(
                    f"subscriber fell {self._queue_size} events behind and was cut off"
                )
            if self._state is _State.CLOSED:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class MemoryBus:
    """Fans events out to the subscribers of this process only.

    ``node_id`` is stamped as ``origin`` on events published without one.
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE, node_id: str | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size {queue_size!r} must be at least 1")
        self.queue_size = queue_size
        self.node_id = node_id
        self._subscriptions: list[Subscription] = []
        self._closed = False

    @property
    def subscribers(self) -> int:
        """Open subscriptions."""
        return len(self._subscriptions)

    async def start(self) -> None:
        """Nothing to connect; here for symmetry with the networked buses."""

    def subscribe(self) -> Subscription:
        """A new subscription; it receives every event published from now on."""
        if self._closed:
            raise BusClosed("cannot subscribe to a closed bus")
        subscription = Subscription(self, self.queue_size)
        self._subscriptions.append(subscription)
        return subscription

    async def publish(self, event: InboxEvent) -> bool:
        """Deliver ``event`` to every subscriber; always True (nothing can be down)."""
        if self._closed:
            raise BusClosed(f"cannot publish event {event.id!r} on a closed bus")
        self.deliver(stamp(event, self.node_id))
        return True

    def deliver(self, event: InboxEvent) -> None:
        """Hand ``event`` to every open subscription, as is (used by the networked buses)."""
        for subscription in list(self._subscriptions):
            subscription._offer(event)

    async def close(self) -> None:
        """Close the bus and end every subscription after its buffered events."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()

    def _discard(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)


def backoff(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait before reconnecting after ``failures`` failed attempts in a row."""
    return min(initial * 2.0 ** min(failures, 32), maximum)


def stamp(event: InboxEvent, node_id: str | None) -> InboxEvent:
    """``event`` with ``origin`` set to ``node_id`` unless it already names one."""
    if event.origin is not None or node_id is None:
        return event
    return replace(event, origin=node_id)
