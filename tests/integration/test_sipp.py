"""A real peer: SIPp's OPTIONS probes against ``sharedline serve`` over UDP and TCP."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharedline.sip.parser import parse_message
from tests.integration.process import serving
from tests.peers.sipp import SCENARIOS, Transport, free_udp_port, run_sipp


def _responses(messages: str) -> list[str]:
    """Status lines of the messages SIPp received, from its message trace."""
    return [line.strip() for line in messages.splitlines() if line.startswith("SIP/2.0 ")]


@pytest.mark.peer
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_options_probes_get_200_with_allow(tmp_path: Path, transport: Transport) -> None:
    port = free_udp_port()
    args = ("--sip-listen", f"udp:127.0.0.1:{port}", "--sip-listen", f"tcp:127.0.0.1:{port}")
    with serving(*args, listeners=2):
        result = run_sipp(
            SCENARIOS / "options_uac.xml",
            f"127.0.0.1:{port}",
            transport=transport,
            calls=50,
            rate=100,
            timeout=30,
            cwd=tmp_path,
        )
    assert (result.successful, result.failed) == (50, 0), result.describe()
    assert _responses(result.messages) == ["SIP/2.0 200 OK"] * 50


@pytest.mark.peer
def test_sipp_invite_is_refused_with_405_and_allow(tmp_path: Path) -> None:
    """Until the switch serves INVITE, the engine says so properly and SIPp's call fails."""
    port = free_udp_port()
    with serving("--sip-listen", f"udp:127.0.0.1:{port}", listeners=1):
        result = run_sipp("uac", f"127.0.0.1:{port}", calls=1, timeout=10, cwd=tmp_path)
    assert result.failed == 1
    received = [
        parse_message(block.encode())
        for block in _message_blocks(result.messages)
        if block.startswith("SIP/2.0 405")
    ]
    assert received, result.describe()
    assert received[0].headers.get("allow") == "OPTIONS"


def _message_blocks(messages: str) -> list[str]:
    """The raw messages in SIPp's trace, each rebuilt with CRLF line ends."""
    blocks = []
    for chunk in messages.split("\n\n"):
        text = chunk.strip("\n")
        if text.startswith("SIP/2.0") or text.split(" ", 1)[0].isupper():
            lines = text.splitlines()
            blocks.append("\r\n".join(lines) + "\r\n\r\n")
    return blocks
