"""SIP over TCP and TLS (RFC 3261 §18.3): framed by Content-Length, one connection per peer.

Responses go back over the connection the request came in on; requests to a peer without a
connection open one. Each connection is bounded: a message must complete within
``message_timeout`` seconds of its first byte (slowloris), an idle connection closes after
``idle_timeout``, and framing errors close the connection, since nothing after a framing error
can be trusted (RFC 4475 §3.3.9).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

import structlog

from ..errors import ParseError
from ..events import Address, Transport
from ..framing import PONG, KeepAlivePing, StreamFramer
from ..parser import Limits
from .endpoint import SipEndpoint

__all__ = ["StreamConnection", "StreamTransport"]

log = structlog.get_logger(__name__)


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection: frames bytes into messages for the endpoint."""

    def __init__(self, owner: StreamTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer(owner.limits)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self._message_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        if len(self.owner.connections) >= self.owner.max_connections:
            log.warning("stream_connection_refused", peer=_show(self.peer), reason="too many")
            self.transport.abort()
            return
        self.owner.connections[self.peer] = self
        self._touch()

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            frames = self.framer.feed(data)
        except ParseError as error:
            log.warning("stream_framing_error", peer=_show(self.peer), error=error.message)
            self.close()
            return
        for frame in frames:
            if isinstance(frame, KeepAlivePing):
                self.write(PONG)  # RFC 5626 §3.5.1
            else:
                self.owner.endpoint.receive(frame, self.peer, self.owner.name)
        self._watch_partial_message()

    def _watch_partial_message(self) -> None:
        loop = asyncio.get_running_loop()
        if self.framer.pending and self._message_timer is None:
            self._message_timer = loop.call_later(self.owner.message_timeout, self._too_slow)
        elif not self.framer.pending and self._message_timer is not None:
            self._message_timer.cancel()
            self._message_timer = None

    def _too_slow(self) -> None:
        log.warning("stream_message_timeout", peer=_show(self.peer), pending=self.framer.pending)
        self.close()

    def _touch(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self.owner.idle_timeout, self.close)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._touch()
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._message_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        if self.owner.connections.get(self.peer) is self:
            del self.owner.connections[self.peer]


class StreamTransport:
    """The sender for ``tcp`` or ``tls``: the connections of one listener, and new ones out."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        name: Transport,
        *,
        limits: Limits,
        max_connections: int,
        message_timeout: float,
        idle_timeout: float,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.limits = limits
        self.max_connections = max_connections
        self.message_timeout = message_timeout
        self.idle_timeout = idle_timeout
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.connections: dict[Address, StreamConnection] = {}
        self._connecting: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> tuple[asyncio.Server, Address]:
        """Start accepting connections; returns the server and its bound address."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: StreamConnection(self), host, port, ssl=self.server_ssl
        )
        bound = server.sockets[0].getsockname()
        return server, (str(bound[0]), int(bound[1]))

    def send(self, data: bytes, destination: Address) -> None:
        connection = self.connections.get(destination)
        if connection is not None:
            connection.write(data)
            return
        queued = self._connecting.get(destination)
        if queued is not None:
            queued.append(data)
            return
        self._connecting[destination] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(destination))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, destination: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: StreamConnection(self), destination[0], destination[1], ssl=self.client_ssl
            )
        except OSError as error:
            log.warning("stream_connect_failed", destination=_show(destination), error=str(error))
            self._connecting.pop(destination, None)
            return
        for data in self._connecting.pop(destination, []):
            connection.write(data)

    def close(self) -> None:
        """Close every connection and cancel pending connects."""
        for connection in list(self.connections.values()):
            connection.close()
        for task in self._tasks:
            task.cancel()


def _show(address: Address) -> str:
    return f"{address[0]}:{address[1]}"
