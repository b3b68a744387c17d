"""``sharedline serve`` as a user runs it: a real process, its logs, SIGTERM."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.process import serving
from tests.integration.wire import UdpClient, options_request
from tests.peers.sipp import free_udp_port


def test_serve_logs_each_address_answers_options_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_udp_port()
    listening: list[dict[str, Any]] = []
    args = (
        "--sip-listen",
        f"udp:127.0.0.1:{port}",
        "--sip-listen",
        f"tcp:127.0.0.1:{port}",
        "--db",
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    )
    with serving(*args, listeners=2, listening=listening):  # it checks exit 0 on SIGTERM
        assert [(e["transport"], e["port"]) for e in listening] == [("udp", port), ("tcp", port)]

        async def probe() -> int:
            client = await UdpClient.open(("127.0.0.1", port))
            try:
                client.send(options_request(port=client.port))
                return (await client.final()).status_code
            finally:
                client.close()

        assert asyncio.run(probe()) == 200


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
