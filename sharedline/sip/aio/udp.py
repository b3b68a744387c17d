"""SIP over UDP (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import structlog

from ..events import Address
from .endpoint import SipEndpoint

__all__ = ["UdpTransport", "open_udp"]

log = structlog.get_logger(__name__)


class UdpTransport(asyncio.DatagramProtocol):
    """Feeds datagrams to the endpoint and sends what it asks for."""

    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.endpoint.receive(data, (str(addr[0]), int(addr[1])), "udp")

    def error_received(self, exc: Exception) -> None:
        log.warning("udp_error", error=str(exc))

    def send(self, data: bytes, destination: Address) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.transport.sendto(data, destination)
        except OSError as error:
            log.warning(
                "udp_send_failed",
                destination=f"{destination[0]}:{destination[1]}",
                error=str(error),
            )


async def open_udp(
    endpoint: SipEndpoint, host: str, port: int, *, receive_buffer: int
) -> tuple[UdpTransport, Address]:
    """Bind a UDP socket with a deliberate SO_RCVBUF; returns the protocol and bound address.

    Under load the first thing to overflow is the kernel's receive buffer, so it is sized
    explicitly (Linux caps it at net.core.rmem_max; the granted size is logged).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((host, port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: UdpTransport(endpoint), sock=sock)
    bound = sock.getsockname()
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    log.debug("udp_receive_buffer", requested=receive_buffer, granted=granted)
    return protocol, (str(bound[0]), int(bound[1]))
