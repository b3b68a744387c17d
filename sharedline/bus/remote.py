"""What the networked buses share: a local fan-out fed by one listener task that reconnects.

:class:`RemoteBus` keeps a :class:`~.memory.MemoryBus` for this node's subscribers and runs
``_listen`` (the subclass's loop against its server: Redis SUBSCRIBE, PostgreSQL LISTEN) as one
task, which sets ``_connected`` while it is listening and feeds every event it receives to the
local bus. Publishing goes to the server; a node's own events come back through it like
everyone else's, so each node sees one publisher's events in publish order.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from .memory import MemoryBus, Subscription, backoff

__all__ = ["RemoteBus"]

log = structlog.get_logger(__name__)


class RemoteBus:
    """The listener task, its connected flag and the local fan-out (subclasses: ``_listen``)."""

    channel: str
    connection_errors: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
    """What losing (or not reaching) the server raises: logged, then a reconnect."""

    def __init__(
        self,
        *,
        queue_size: int,
        node_id: str | None,
        reconnect_initial: float,
        reconnect_max: float,
    ) -> None:
        self.node_id = node_id
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self._local = MemoryBus(queue_size=queue_size, node_id=node_id)
        self._connected = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        """True while the listener is listening on the server."""
        return self._connected.is_set()

    async def start(self, timeout: float = 5.0) -> bool:
        """Start listening; wait up to ``timeout`` seconds for the server to confirm.

        Returns whether it did. If not, the bus keeps trying in the background.
        """
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name=f"bus:{self.channel}")
        return await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the listener is listening; False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def subscribe(self) -> Subscription:
        """A subscription to every event any node publishes from now on."""
        return self._local.subscribe()

    async def _stop_listening(self) -> None:
        """Mark the bus closed and end the listener task."""
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self) -> None:
        """Listen until closed: after each lost or failed connection, back off exponentially
        (``reconnect_initial`` doubling up to ``reconnect_max``) and connect again."""
        failures = 0
        while True:
            try:
                await self._listen_once()
            except self.connection_errors as error:
                failures = 0 if self.connected else failures + 1
                reason = str(error) or type(error).__name__
                event = "bus_connection_lost" if failures == 0 else "bus_connect_failed"
                log.error(event, channel=self.channel, error=reason, failures=failures)
            except Exception:
                failures += 1
                log.exception("bus_listener_failed", channel=self.channel, failures=failures)
            finally:
                self._connected.clear()
            await asyncio.sleep(backoff(failures, self.reconnect_initial, self.reconnect_max))

    async def _listen_once(self) -> None:
        """Connect, listen (setting ``_connected``) and feed ``_local`` until the connection is
        lost; release the connection on the way out."""
        raise NotImplementedError
