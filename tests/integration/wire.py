"""Small loopback clients for integration tests: send SIP, read the answer."""

from __future__ import annotations

import asyncio
import itertools
import socket

from sharedline.sip.message import Response
from sharedline.sip.parser import parse_message

_counter = itertools.count(1)


def options_request(transport: str = "UDP", port: int = 5999) -> bytes:
    """A fresh OPTIONS probe with unique branch and Call-ID."""
    n = next(_counter)
    return (
        f"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bK-probe-{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe{n}\r\n"
        f"To: <sip:ping@127.0.0.1>\r\nCall-ID: probe-{n}@127.0.0.1\r\n"
        f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)


class UdpClient:
    """A UDP socket on 127.0.0.1 that sends datagrams and collects what comes back."""

    def __init__(self, transport: asyncio.DatagramTransport, collector: _Collector) -> None:
        self.transport = transport
        self.collector = collector

    @classmethod
    async def open(cls, target: tuple[str, int]) -> UdpClient:
        loop = asyncio.get_running_loop()
        transport, collector = await loop.create_datagram_endpoint(
            _Collector, local_addr=("127.0.0.1", 0), remote_addr=target, family=socket.AF_INET
        )
        return cls(transport, collector)

    @property
    def port(self) -> int:
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes) -> None:
        self.transport.sendto(data)

    async def receive(self, timeout: float = 2.0) -> Response:
        data = await asyncio.wait_for(self.collector.queue.get(), timeout)
        message = parse_message(data)
        assert isinstance(message, Response)
        return message

    async def final(self, timeout: float = 2.0, *, to: bytes | None = None) -> Response:
        """The next final (non-1xx) response, to request ``to`` when given.

        Other responses are skipped: over UDP a server retransmits its non-2xx finals until
        they are ACKed (Timer G), so late copies for earlier requests may arrive first.
        """
        call_id = parse_message(to).call_id if to is not None else None
        while True:
            response = await self.receive(timeout)
            if response.status_code >= 200 and call_id in (None, response.call_id):
                return response

    async def nothing(self, within: float = 0.3) -> bool:
        """True when nothing arrives within ``within`` seconds."""
        try:
            await asyncio.wait_for(self.collector.queue.get(), within)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.transport.close()
