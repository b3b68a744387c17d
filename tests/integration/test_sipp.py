"""A real peer: SIPp's OPTIONS probes against ``sharedline serve`` over UDP and TCP."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.process import serving
from tests.integration.switchbed import received, trace
from tests.peers.sipp import SCENARIOS, Transport, free_udp_port, run_sipp


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
    answers = [m for m in trace(result.messages) if m.direction == "received"]
    assert [m.start_line for m in answers] == ["SIP/2.0 200 OK"] * 50


@pytest.mark.peer
def test_sipp_invite_from_an_unknown_peer_is_challenged_not_relayed(tmp_path: Path) -> None:
    """No open relay: an INVITE from a stranger to an outside number gets 407 (toll fraud)."""
    port = free_udp_port()
    db = f"sqlite+aiosqlite:///{tmp_path / 'sipp.db'}"
    with serving("--sip-listen", f"udp:127.0.0.1:{port}", "--db", db, listeners=1):
        result = run_sipp("uac", f"127.0.0.1:{port}", calls=1, timeout=10, cwd=tmp_path)
    assert result.failed == 1
    challenges = received(result, 407)
    assert challenges, result.describe()
    assert (challenges[0].header("Proxy-Authenticate") or "").startswith("Digest ")
