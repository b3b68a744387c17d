"""``sharedline serve`` as a user runs it: a real process, its logs, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.process import serve_command, wait_for_listening
from tests.integration.wire import UdpClient, options_request


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def test_serve_logs_each_address_answers_options_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        serve_command(
            "--sip-listen",
            f"udp:127.0.0.1:{port}",
            "--sip-listen",
            f"tcp:127.0.0.1:{port}",
            "--db",
            f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        listening = wait_for_listening(process, 2)
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
