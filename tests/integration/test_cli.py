"""``sharedline serve`` as a user runs it: a real process, its logs, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.wire import UdpClient, options_request


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sharedline", "serve", "--log-format", "json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_listening(process: subprocess.Popen[str], count: int) -> list[dict[str, object]]:
    assert process.stderr is not None
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + 15
    while len(events) < count and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        record = json.loads(line)
        if record["event"] == "sip_listening":
            events.append(record)
    return events


def test_serve_logs_each_address_answers_options_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    process = _serve(
        "--sip-listen",
        f"udp:127.0.0.1:{port}",
        "--sip-listen",
        f"tcp:127.0.0.1:{port}",
        "--db",
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    )
    try:
        listening = _wait_for_listening(process, 2)
        assert [(e["transport"], e["port"]) for e in listening] == [("udp", port), ("tcp", port)]

        async def probe() -> int:
            client = await UdpClient.open(("127.0.0.1", port))
            try:
                client.send(options_request(port=client.port))
                return (await client.final()).status_code
            finally:
                client.close()

        assert asyncio.run(probe()) == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()  # reaps the process and closes its pipes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sip-listen", "udp:127.0.0.1"], "TRANSPORT:HOST:PORT"),
        (["--sip-listen", "tls:127.0.0.1:15061"], "tls_certificate"),
        (["--config", "/nonexistent/sharedline.yaml"], "cannot read settings file"),
    ],
)
def test_bad_settings_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sharedline", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
