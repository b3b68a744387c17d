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
    args = (
        "--sip-listen",
        f"udp:127.0.0.1:{port}",
        "--sip-listen",
        f"tcp:127.0.0.1:{port}",
        "--db",
        f"sqlite+aiosqlite:///{tmp_path / 'sipp.db'}",
    )
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
def test_sipp_invite_from_an_unknown_peer_is_challenged_not_relayed(tmp_path: Path) -> None:
    """No open relay: an INVITE from a stranger to an outside number gets 407 (toll fraud)."""
    port = free_udp_port()
    db = f"sqlite+aiosqlite:///{tmp_path / 'sipp.db'}"
    with serving("--sip-listen", f"udp:127.0.0.1:{port}", "--db", db, listeners=1):
        result = run_sipp("uac", f"127.0.0.1:{port}", calls=1, timeout=10, cwd=tmp_path)
    assert result.failed == 1
    received = [
        parse_message(block.encode())
        for block in _message_blocks(result.messages)
        if block.startswith("SIP/2.0 407")
    ]
    assert received, result.describe()
    assert (received[0].headers.get("proxy-authenticate") or "").startswith("Digest ")


def _message_blocks(messages: str) -> list[str]:
    """The raw messages in SIPp's trace, each rebuilt with CRLF line ends."""
    blocks = []
    for chunk in messages.split("\n\n"):
        text = chunk.strip("\n")
        if text.startswith("SIP/2.0") or text.split(" ", 1)[0].isupper():
            lines = text.splitlines()
            blocks.append("\r\n".join(lines) + "\r\n\r\n")
    return blocks
