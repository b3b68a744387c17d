"""The composition root: builds the engine from settings and wires its parts together.

Nothing else constructs transports, the transaction layer or services; everything receives what
it needs from here.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
import uvicorn

from .bus import EventBus, open_bus
from .callflows.loader import FlowError
from .config import Settings
from .flowreload import FlowReloader
from .sip.aio.endpoint import SipEndpoint
from .sip.aio.stream import StreamTransport
from .sip.aio.udp import UdpTransport, open_udp
from .sip.auth import DigestServer
from .sip.events import Address, Transport
from .sip.ids import IdSource, RandomIds
from .sip.parser import Limits
from .sip.registrar import RegistrarPolicy
from .sip.service import Service
from .sip.timers import TimerSettings
from .sip.transactions import TransactionLayer
from .store import Database, migrate
from .store.flowstate import load_availability, load_idle_since, load_turns
from .store.repositories import load_directory
from .store.sync import ActionWriter, Clock, load_switch_bindings
from .switch.call import LocalAddress
from .switch.service import Switch, SwitchSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Engine", "run"]

log = structlog.get_logger(__name__)


@dataclass
class Engine:
    """A running sharedline: its SIP endpoint and listeners."""

    settings: Settings
    ids: IdSource = field(default_factory=RandomIds)
    endpoint: SipEndpoint | None = None
    database: Database | None = None
    switch: Switch | None = None
    bound: list[tuple[Transport, Address]] = field(default_factory=list)
    _udp: list[UdpTransport] = field(default_factory=list)
    _streams: list[StreamTransport] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _locals: dict[Transport, LocalAddress] = field(default_factory=dict)
    _writer: ActionWriter | None = None
    bus: EventBus | None = None
    """Live inbox events (call events from the switch, the API's events), shared by nodes."""
    reloader: FlowReloader | None = None
    api_bound: tuple[str, int] | None = None
    """The team inbox API's address once listening (``api.enabled``)."""
    _api: uvicorn.Server | None = None
    _api_app: FastAPI | None = None
    _api_socket: socket.socket | None = None
    _api_task: asyncio.Task[None] | None = None

    async def build_service(self) -> Service:
        """The switch, on the store: its directory and registrations loaded, its writes queued."""
        sip = self.settings.sip
        database = self.database = Database(self.settings.database_url)
        await migrate(database)
        clock = Clock(asyncio.get_running_loop())
        secret = sip.digest_secret.get_secret_value().encode() if sip.digest_secret else None
        switch = self.switch = Switch(
            ids=self.ids,
            directory=await load_directory(database),
            locals=self._locals,
            digest=DigestServer(
                realm=sip.realm,
                secret=secret or secrets.token_bytes(32),
                algorithms=tuple(sip.digest_algorithms),
            ),
            entropy=lambda: secrets.token_bytes(16),
            settings=SwitchSettings(
                max_channels=sip.max_channels,
                ring_timeout=sip.ring_timeout,
                voicemail_uri=sip.voicemail_uri,
                registrar=RegistrarPolicy(
                    min_expires=sip.min_expires,
                    max_expires=sip.max_expires,
                    default_expires=sip.max_expires,
                ),
            ),
            wall_offset=clock.offset,
        )
        switch.bindings.update(await load_switch_bindings(database, clock))
        switch.availability = await load_availability(database)
        switch.turns = await load_turns(database)
        switch.idle_since = await load_idle_since(database)
        self.reloader = FlowReloader(
            self.settings.flows, switch, database, self.settings.flows_poll_interval
        )
        self.reloader.load_initial()  # FlowError: refuse to start with broken flows
        self.reloader.start()
        self.bus = await open_bus(self.settings.events_url, self.settings.database_url)
        self._writer = ActionWriter(database, clock, self.bus)
        self._writer.start()
        directory = switch.directory
        log.info("switch_ready", numbers=len(directory.numbers), devices=len(directory.devices))
        return switch

    async def start(self) -> None:
        """Open every listen address; log each one with the port actually bound."""
        sip = self.settings.sip
        limits = Limits(max_message_size=sip.max_message_size, max_header_size=sip.max_header_size)
        layer = TransactionLayer(
            timers=TimerSettings(t1=sip.t1, t2=sip.t2, t4=sip.t4), limits=limits
        )
        service = await self.build_service()
        if self.settings.api.enabled and self.database is not None:  # no store (tests): no API
            # before SIP: building the app takes a moment the first REGISTERs must not wait for
            await self._start_api()
        writer = self._writer
        endpoint = self.endpoint = SipEndpoint(
            layer, service, on_actions=writer.submit if writer is not None else None
        )
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
            if address.transport not in self._locals:
                host = bound[0]
                if host in ("0.0.0.0", "::"):
                    host = sip.advertised_host or "127.0.0.1"
                self._locals[address.transport] = LocalAddress(
                    transport=address.transport, host=host, port=bound[1]
                )
            log.info("sip_listening", transport=address.transport, host=bound[0], port=bound[1])

    async def _start_api(self) -> None:
        """Serve the team inbox API with uvicorn on this loop, on the store the switch uses.

        The socket is bound here (an address in use raises ``OSError``, as for SIP); uvicorn's
        own signal handling is not used: ``run`` owns SIGTERM and SIGINT.
        """
        from .api import create_app

        assert self.database is not None
        listen = self.settings.api.listen
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        try:
            sock = socket.create_server((listen.host, listen.port), family=family)
        except OSError as error:
            log.error("api_listen_failed", host=listen.host, port=listen.port, error=str(error))
            raise
        self._api_socket = sock
        app = self._api_app = create_app(self.database, self.settings, bus=self.bus)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", server_header=False
        )
        config.load()
        server = self._api = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._api_task = asyncio.create_task(server.main_loop(), name="api")
        host, port = sock.getsockname()[:2]
        self.api_bound = (host, port)
        log.info("api_listening", host=host, port=port)

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
        if self._api is not None:
            self._api.should_exit = True
            if self._api_task is not None:
                await self._api_task
            await self._api.shutdown(sockets=[self._api_socket] if self._api_socket else None)
            if self._api_app is not None:
                await self._api_app.state.messaging.aclose()  # the provider's connections
        elif self._api_socket is not None:
            self._api_socket.close()
        for server in self._servers:
            server.close()
        for stream in self._streams:
            stream.close()
        for protocol in self._udp:
            if protocol.transport is not None:
                protocol.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self.reloader is not None:
            await self.reloader.stop()
        if self.endpoint is not None:
            self.endpoint.close()
        if self._writer is not None:
            await self._writer.drain()
        if self.bus is not None:
            await self.bus.close()
        if self.database is not None:
            await self.database.close()
        log.info("stopped")

    def reload(self) -> None:
        """Read the call-flow files again now (SIGHUP); nothing before the engine has them."""
        if self.reloader is not None:
            self.reloader.request()

    async def drain(self, timeout: float) -> None:
        """Refuse new calls (503) and give the calls in progress ``timeout`` seconds to end."""
        if self.switch is None:
            return
        self.switch.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.switch.calls and loop.time() < deadline:
            await asyncio.sleep(0.1)
        log.info("drained", calls_left=len(self.switch.calls))


async def run(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; return the process exit status."""
    engine = Engine(settings)
    # Signals are ours from the first moment: a SIGHUP while starting must not kill the process
    # (its default action), and a SIGTERM while starting stops the engine once it has started.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, engine.reload)
    try:
        await engine.start()
    except FlowError as error:
        for line in error.errors:
            log.error("flows_invalid", error=line)
        await engine.stop()
        return 2
    log.info("database_configured", url=_redact(settings.database_url))
    await stop.wait()
    log.info("stopping")
    await engine.drain(settings.sip.drain_timeout)
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
