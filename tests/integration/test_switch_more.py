"""Real peers, more of the switch: outbound calls, in-dialog requests, registration, draining.

The same test bed as :mod:`tests.integration.test_switch_calls` (:mod:`.switchbed`): a
provisioned team, ``sharedline serve`` as a child process, SIPp phones and a SIPp carrier on
loopback. Every assertion is about what a real peer received (SIPp's message traces) or what
the switch wrote (``sharedline calls list --json``).

Outbound calls: the member's device is a SIPp UAC (``device_call*.xml``) that answers the
switch's 407 with SIPp's own digest (MD5 only, first challenge only, so the switch runs with
``sip.digest_algorithms: [MD5, SHA-256]``); the carrier is SIPp's built-in ``uas`` on the port
the trunk's ``outbound_proxy`` names. The outbound bed moves the trunk's allowed source to
127.0.0.2: INVITEs from a trunk's allowed source are the carrier's (inbound), so a device on
127.0.0.1 without credentials would get the inbound path's 404 rather than a 407.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.process import serving
from tests.integration.switchbed import (
    HOST,
    NUMBER,
    NUMBER_NAME,
    SwitchBed,
    TraceMessage,
    received,
    register_device,
    sent,
    serving_md5_first,
    sharedline,
    trace,
    wait_all,
)
from tests.peers.sipp import SCENARIOS, SippProcess, SippResult, free_udp_port, run_sipp

pytestmark = pytest.mark.peer

DIALLED = "+12125550199"
OUTSIDER = ("x1@bed.test", "x1", "pwx")
"""A user of the workspace with a device, member of no number."""


def _ok(result: SippResult) -> None:
    assert result.ok, result.describe()
    assert result.successful >= 1, result.describe()


def _statuses(result: SippResult) -> list[int]:
    return [m.status for m in trace(result.messages) if m.direction == "received" and m.status]


def _distinct(messages: list[TraceMessage]) -> list[TraceMessage]:
    """Messages without SIPp's copies of retransmissions (one per CSeq)."""
    seen: dict[str | None, TraceMessage] = {}
    for message in messages:
        seen.setdefault(message.header("CSeq"), message)
    return list(seen.values())


def _only_call(bed: SwitchBed) -> dict[str, Any]:
    history = bed.call_history()
    assert len(history) == 1, history
    return history[0]


# -- outbound --------------------------------------------------------------------------------


def _outbound_bed(tmp_path: Path) -> tuple[SwitchBed, int]:
    """One member on the number, an outsider on none, the trunk's outbound proxy a free port."""
    bed = SwitchBed.create(tmp_path, 1)
    carrier_port = free_udp_port()
    email, username, password = OUTSIDER
    extra = tmp_path / "outbound.yaml"
    extra.write_text(
        "\n".join(
            [
                "workspace:",
                "  name: Starter",
                "users:",
                f"  - email: {email}",
                "    name: Outsider",
                "    devices:",
                f"      - username: {username}",
                f'        password: "{password}"',
                "trunks:",
                "  - name: carrier",
                "    allowed_sources: [127.0.0.2/32]",
                f"    outbound_proxy: sip:127.0.0.1:{carrier_port}",
                "",
            ]
        ),
        "utf-8",
    )
    sharedline("provision", str(extra), "--db", bed.db)
    return bed, carrier_port


def _device_call(
    bed: SwitchBed, scenario: str, name: str, *auth: str, device: str = "m1"
) -> SippResult:
    credentials = ["-au", auth[0], "-ap", auth[1]] if auth else []
    return run_sipp(
        SCENARIOS / scenario,
        bed.target,
        extra=["-s", DIALLED, "-key", "device", device, *credentials],
        cwd=bed.root / name,
        timeout=10,
    )


def _carrier(bed: SwitchBed, port: int, *, timeout: float = 15) -> SippProcess:
    return SippProcess.start("uas", "", cwd=bed.root / "carrier", port=port, timeout=timeout)


def test_outbound_call_leaves_through_the_trunk_with_the_shared_number(tmp_path: Path) -> None:
    bed, carrier_port = _outbound_bed(tmp_path)
    (member,) = bed.members
    with serving_md5_first(*bed.serve_args(), listeners=1), _carrier(bed, carrier_port) as uas:
        device = _device_call(bed, "device_call.xml", "device", member.username, member.password)
        carrier = uas.wait()

    _ok(device)
    assert _statuses(device)[-2:] == [200, 200], device.describe()  # INVITE, then BYE
    (challenge,) = received(device, 407)
    assert "algorithm=MD5" in (challenge.header("Proxy-Authenticate") or ""), challenge.text
    _ok(carrier)
    (invite,) = received(carrier, "INVITE")
    assert invite.start_line.startswith(f"INVITE sip:{DIALLED}@127.0.0.1:{carrier_port}")
    assert NUMBER in (invite.header("From") or ""), invite.text
    assert f'"{NUMBER_NAME}"' in (invite.header("From") or ""), invite.text
    assert NUMBER in (invite.header("P-Asserted-Identity") or ""), invite.text
    assert member.username not in (invite.header("From") or ""), invite.text
    assert invite.header("Proxy-Authorization") is None, "the device's credentials stay home"
    assert received(carrier, "ACK"), carrier.describe()
    assert received(carrier, "BYE"), carrier.describe()
    call = _only_call(bed)
    assert call["direction"] == "outbound", call
    assert NUMBER in str(call["number"]), call


def test_outbound_call_without_credentials_is_challenged(tmp_path: Path) -> None:
    bed, carrier_port = _outbound_bed(tmp_path)
    with (
        serving_md5_first(*bed.serve_args(), listeners=1),
        _carrier(bed, carrier_port, timeout=2) as uas,
    ):
        device = _device_call(bed, "device_call_noauth.xml", "device")
        carrier = uas.wait()  # exits on its own 2 s timeout, traces flushed

    _ok(device)
    (challenge,) = _distinct(received(device, 407))
    assert challenge.headers("Proxy-Authenticate"), challenge.text
    assert all(h.startswith("Digest ") for h in challenge.headers("Proxy-Authenticate"))
    assert 200 not in _statuses(device), device.describe()
    (invite,) = _distinct(sent(device, "INVITE"))
    (ack,) = _distinct(sent(device, "ACK"))
    assert ack.header("Via") == invite.header("Via"), "the 407's ACK is in its transaction"
    assert carrier.stats.get("IncomingCall(C)") == "0", carrier.stats
    assert received(carrier, "INVITE") == [], carrier.describe()
    assert bed.call_history() == []


def test_outbound_call_from_a_non_member_is_forbidden(tmp_path: Path) -> None:
    bed, carrier_port = _outbound_bed(tmp_path)
    _, username, password = OUTSIDER
    with (
        serving_md5_first(*bed.serve_args(), listeners=1),
        _carrier(bed, carrier_port, timeout=2) as uas,
    ):
        device = _device_call(
            bed, "device_call_forbidden.xml", "outsider", username, password, device=username
        )
        carrier = uas.wait()

    _ok(device)
    statuses = _statuses(device)
    assert 407 in statuses, device.describe()
    assert statuses[-1] == 403, device.describe()
    (forbidden,) = _distinct(received(device, 403))
    assert forbidden.header("CSeq") == "2 INVITE", forbidden.text  # the authenticated INVITE
    assert carrier.stats.get("IncomingCall(C)") == "0", carrier.stats
    assert received(carrier, "INVITE") == [], carrier.describe()
    assert bed.call_history() == []


# -- in the dialog -------------------------------------------------------------------------------


def test_reinvite_from_the_carrier_and_bye_from_the_member(tmp_path: Path) -> None:
    """After the answer: the carrier's re-INVITE reaches the member, whose 200 reaches the
    carrier; then the member hangs up and the carrier receives the BYE."""
    bed = SwitchBed.create(tmp_path, 1)
    (member,) = bed.members
    with bed.serving():
        bed.register()
        with bed.phones([(member, "member_reinvite.xml")]) as phones:
            carrier = bed.call("carrier_reinvite.xml")
            (phone,) = wait_all(phones)

    _ok(carrier)
    _ok(phone)
    first, reinvite = _distinct(received(phone, "INVITE"))
    assert "tag=" not in (first.header("To") or ""), first.text
    assert "tag=" in (reinvite.header("To") or ""), reinvite.text  # in the dialog
    assert reinvite.header("Call-ID") == first.header("Call-ID"), reinvite.text
    assert "a=sendonly" in reinvite.body, reinvite.text  # the carrier's new offer, relayed
    assert "2353687638" in reinvite.body, reinvite.text
    assert len({m.header("CSeq") for m in received(phone, "ACK")}) == 2, phone.describe()

    reinvite_ok = [m for m in received(carrier, 200) if m.header("CSeq") == "2 INVITE"]
    assert reinvite_ok, carrier.describe()
    assert "a=recvonly" in reinvite_ok[0].body, reinvite_ok[0].text  # the member's answer
    (bye,) = _distinct(received(carrier, "BYE"))
    assert bye.header("Call-ID") == received(carrier, 200)[0].header("Call-ID")
    assert sent(carrier, 200)[-1].header("CSeq") == bye.header("CSeq")
    assert [m.header("CSeq") for m in received(phone, 200)] == ["1 BYE"], phone.describe()
    call = _only_call(bed)
    assert (call["direction"], call["outcome"]) == ("inbound", "answered"), call


def test_reinvite_from_the_member_and_bye_from_the_carrier(tmp_path: Path) -> None:
    """The other way round: the member's re-INVITE reaches the carrier, whose 200 reaches the
    member; then the carrier hangs up and the member receives the BYE."""
    bed = SwitchBed.create(tmp_path, 1)
    (member,) = bed.members
    with bed.serving():
        bed.register()
        with bed.phones([(member, "member_reinvite_out.xml")]) as phones:
            carrier = bed.call("carrier_reinvited.xml")
            (phone,) = wait_all(phones)

    _ok(carrier)
    _ok(phone)
    (reinvite,) = _distinct(received(carrier, "INVITE"))  # its own INVITE was sent, not received
    assert "tag=" in (reinvite.header("To") or ""), reinvite.text
    assert "a=sendonly" in reinvite.body, reinvite.text  # the member's offer, relayed
    assert received(carrier, "ACK"), carrier.describe()
    answers = [m for m in received(phone, 200) if (m.header("CSeq") or "").endswith("INVITE")]
    assert answers, phone.describe()
    assert "a=recvonly" in answers[0].body, answers[0].text  # the carrier's answer, relayed
    (bye,) = _distinct(received(phone, "BYE"))
    assert bye.header("Call-ID") == received(phone, "INVITE")[0].header("Call-ID")
    assert [m.header("CSeq") for m in _distinct(received(carrier, 200))][-1] == "2 BYE"
    call = _only_call(bed)
    assert (call["direction"], call["outcome"]) == ("inbound", "answered"), call


# -- registration ---------------------------------------------------------------------------------


def test_a_registration_expires_at_its_expires(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 2)
    short, long = bed.members
    env = {"SHAREDLINE_SIP__MIN_EXPIRES": "1"}
    with serving(*bed.serve_args(), listeners=1, env=env):
        register_device(
            (HOST, bed.port), username=short.username, password=short.password,
            port=short.port, expires=2,
        )  # fmt: skip
        bed.register([long])
        assert {r["username"] for r in bed.registrations()} == {short.username, long.username}
        time.sleep(2.5)  # the short binding's Expires passes (the switch's own clock)
        assert {r["username"] for r in bed.registrations()} == {long.username}
        with (
            bed.phones([(long, "member_answer.xml")]) as phones,
            bed.phones([(short, "member_answer.xml")], timeout=3) as expired,
        ):
            carrier = bed.call()
            (answered,) = wait_all(phones)
            (unrung,) = wait_all(expired)
    assert carrier.ok, carrier.describe()
    assert answered.ok, answered.describe()
    assert received(unrung, "INVITE") == [], unrung.describe()


# -- draining -------------------------------------------------------------------------------------


def test_sigterm_drains_refuses_new_calls_and_lets_the_call_end(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 1)
    (member,) = bed.members
    env = {"SHAREDLINE_SIP__DRAIN_TIMEOUT": "10"}
    with serving(*bed.serve_args(), listeners=1, env=env) as server:
        bed.register()
        with (
            bed.phones([(member, "member_answer.xml")]) as phones,
            SippProcess.start(
                SCENARIOS / "carrier_call_long.xml",
                bed.target,
                extra=["-s", NUMBER],
                cwd=tmp_path / "carrier",
                timeout=20,
            ) as call,
        ):
            time.sleep(1.0)  # answered after 200 ms of ringing; hangs up 3 s after its ACK
            assert call.process.poll() is None, call.wait().describe()
            server.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            time.sleep(0.3)
            late = run_sipp(
                SCENARIOS / "carrier_refused.xml",
                bed.target,
                extra=["-s", NUMBER],
                cwd=tmp_path / "late",
                timeout=5,
            )
            assert server.poll() is None, "the switch must wait for the call in progress"
            carrier = call.wait()
            (phone,) = wait_all(phones)
        assert server.wait(timeout=15) == 0
        drained_in = time.monotonic() - stopped_at

    _ok(late)
    (refusal,) = _distinct(received(late, 503))
    assert refusal.header("Retry-After"), refusal.text
    assert 180 not in _statuses(late), late.describe()
    _ok(carrier)  # its BYE during the drain got its 200
    assert [m.header("CSeq") for m in _distinct(received(carrier, 200))] == ["1 INVITE", "2 BYE"]
    _ok(phone)
    assert received(phone, "BYE"), phone.describe()
    assert drained_in < 8, f"the switch waited {drained_in:.1f} s: the drain did not end early"
    call_record = _only_call(bed)
    assert call_record["outcome"] == "answered", call_record
