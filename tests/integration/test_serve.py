"""The engine on loopback: OPTIONS liveness over UDP and TCP, torture survival, stream limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sharedline.app import Engine
from sharedline.config.settings import load_settings
from sharedline.sip.events import Event, RequestReceived
from sharedline.sip.parser import parse_message
from sharedline.sip.service import OptionsService, Service
from sharedline.sip.transactions import TransactionLayer
from tests.integration.conftest import bound
from tests.integration.wire import UdpClient, options_request
from tests.sip.conformance import missing_shared, require_shared, rfc4475_cases


async def test_udp_options_gets_200_with_allow(engine: Engine) -> None:
    client = await UdpClient.open(bound(engine, "udp"))
    try:
        client.send(options_request(port=client.port))
        response = await client.final()
        assert response.status_code == 200
        allowed = {m.strip() for m in (response.headers.get("allow") or "").split(",")}
        assert {"OPTIONS", "INVITE", "REGISTER", "BYE", "CANCEL"} <= allowed
        assert response.to.tag
    finally:
        client.close()


async def test_server_answers_options_after_every_rfc4475_message(engine: Engine) -> None:
    cases = rfc4475_cases() or missing_shared("conformance/rfc4475")
    client = await UdpClient.open(bound(engine, "udp"))
    try:
        for case in cases:
            client.send(case.read())  # size and SHA-256 checked against cases.tsv
            await asyncio.sleep(0.02)
            while not client.collector.queue.empty():  # answers to the torture message
                client.collector.queue.get_nowait()
            probe = options_request(port=client.port)
            client.send(probe)
            response = await client.final(to=probe)
            assert response.status_code == 200, case.name
    finally:
        client.close()


@pytest.mark.parametrize(
    ("name", "status"), [("badvers", 505), ("mismatch01", 400), ("unkscm", 416), ("bext01", 420)]
)
async def test_torture_verdicts_arrive_over_the_wire(
    engine: Engine, name: str, status: int
) -> None:
    data = require_shared("conformance", "rfc4475", f"{name}.dat").read_bytes()
    client = await UdpClient.open(bound(engine, "udp"))
    try:
        client.send(data)
        assert (await client.final()).status_code == status
    finally:
        client.close()


async def test_stray_response_gets_no_answer(engine: Engine) -> None:
    data = require_shared("conformance", "rfc4475", "unreason.dat").read_bytes()
    client = await UdpClient.open(bound(engine, "udp"))
    try:
        client.send(data)
        assert await client.nothing()
    finally:
        client.close()


async def _tcp(engine: Engine) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = bound(engine, "tcp")
    return await asyncio.open_connection(host, port)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    message = parse_message(head + b"", stream=False)
    body = await reader.readexactly(message.content_length or 0)
    return head + body


async def test_tcp_options_pipelined_and_keepalive_pong(engine: Engine) -> None:
    reader, writer = await _tcp(engine)
    try:
        writer.write(options_request("TCP") + b"\r\n\r\n" + options_request("TCP"))
        first = parse_message(await _read_response(reader))
        pong = await asyncio.wait_for(reader.readexactly(2), 2)
        second = parse_message(await _read_response(reader))
        assert pong == b"\r\n"  # RFC 5626 §3.5.1
        assert [first.start_line(), second.start_line()] == ["SIP/2.0 200 OK"] * 2
    finally:
        writer.close()


async def test_tcp_framing_error_closes_the_connection(engine: Engine) -> None:
    reader, writer = await _tcp(engine)
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


async def test_tcp_slow_message_is_cut_off(engine: Engine) -> None:
    reader, writer = await _tcp(engine)
    writer.write(options_request("TCP")[:40])  # never finished: slowloris
    assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()


class _FailsOnce(OptionsService):
    """A service with a bug on the first request it sees."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failed = False

    def handle(self, event: Event, layer: TransactionLayer, now: float) -> None:
        if not self.failed and isinstance(event, RequestReceived):
            self.failed = True
            raise RuntimeError("bug in the layer above")
        super().handle(event, layer, now)


async def test_a_failing_service_does_not_stop_the_engine() -> None:
    class FlakyEngine(Engine):
        async def build_service(self) -> Service:
            return _FailsOnce(ids=self.ids)

    flaky = FlakyEngine(load_settings(sip_listen=["udp:127.0.0.1:0"]))
    await flaky.start()
    client = await UdpClient.open(bound(flaky, "udp"))
    try:
        client.send(options_request(port=client.port))
        assert await client.nothing(0.3)  # the bug: no answer to the first probe
        client.send(options_request(port=client.port))
        assert (await client.final()).status_code == 200
    finally:
        client.close()
        await flaky.stop()
