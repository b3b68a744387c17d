"""The composition root: builds the engine from settings and wires its parts together.

Nothing else constructs transports, the transaction layer or services; everything receives what
it needs from here.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import dataclass, field

import structlog

from .config import Settings
from .sip.aio.endpoint import SipEndpoint
from .sip.aio.stream import StreamTransport
from .sip.aio.udp import UdpTransport, open_udp
from .sip.events import Address, Transport
from .sip.ids import IdSource, RandomIds
from .sip.parser import Limits
from .sip.service import OptionsService, Service
from .sip.timers import TimerSettings
from .sip.transactions import TransactionLayer
from .sip.uas import UasPolicy

__all__ = ["Engine", "run"]

log = structlog.get_logger(__name__)


@dataclass
class Engine:
    """A running sharedline: its SIP endpoint and listeners."""

    settings: Settings
    ids: IdSource = field(default_factory=RandomIds)
    endpoint: SipEndpoint | None = None
    bound: list[tuple[Transport, Address]] = field(default_factory=list)
    _udp: list[UdpTransport] = field(default_factory=list)
    _streams: list[StreamTransport] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)

    def build_service(self) -> Service:
        """The service above the transaction layer (the switch replaces this one)."""
        return OptionsService(ids=self.ids, policy=UasPolicy(allowed_methods=("OPTIONS",)))

    async def start(self) -> None:
        """Open every listen address; log each one with the port actually bound."""
        sip = self.settings.sip
        limits = Limits(max_message_size=sip.max_message_size, max_header_size=sip.max_header_size)
        layer = TransactionLayer(
            timers=TimerSettings(t1=sip.t1, t2=sip.t2, t4=sip.t4), limits=limits
        )
        endpoint = self.endpoint = SipEndpoint(layer, self.build_service())
        streams: dict[Transport, StreamTransport] = {}
        for address in sip.listen:
            if address.transport == "udp":
                protocol, bound = await open_udp(
                    endpoint, address.host, address.port, receive_buffer=sip.udp_receive_buffer
                )
                endpoint.add_transport("udp", protocol)
                self._udp.append(protocol)
            else:
                stream = streams.get(address.transport)
                if stream is None:
                    stream = streams[address.transport] = StreamTransport(
                        endpoint,
                        address.transport,
                        limits=limits,
                        max_connections=sip.tcp_max_connections,
                        message_timeout=sip.tcp_message_timeout,
                        idle_timeout=sip.tcp_idle_timeout,
                        server_ssl=self._server_ssl() if address.transport == "tls" else None,
                    )
                    endpoint.add_transport(address.transport, stream)
                    self._streams.append(stream)
                server, bound = await stream.listen(address.host, address.port)
                self._servers.append(server)
            self.bound.append((address.transport, bound))
            log.info("sip_listening", transport=address.transport, host=bound[0], port=bound[1])

    def _server_ssl(self) -> ssl.SSLContext:
        sip = self.settings.sip
        certificate, key = sip.tls_certificate, sip.tls_key
        if certificate is None or key is None:  # SipSettings refuses this; keep mypy honest
            raise ValueError("tls needs sip.tls_certificate and sip.tls_key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        return context

    async def stop(self) -> None:
        """Close listeners and connections."""
        for server in self._servers:
            server.close()
        for stream in self._streams:
            stream.close()
        for protocol in self._udp:
            if protocol.transport is not None:
                protocol.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self.endpoint is not None:
            self.endpoint.close()
        log.info("stopped")


async def run(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; return the process exit status."""
    engine = Engine(settings)
    await engine.start()
    log.info("database_configured", url=_redact(settings.database_url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    await engine.stop()
    return 0


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
