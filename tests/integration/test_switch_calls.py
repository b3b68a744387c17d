"""Real peers: SIPp phones and a SIPp carrier through ``sharedline serve`` (DESIGN.md "One inbound
call").

Every test provisions a team (:mod:`tests.integration.switchbed`), runs the switch as a child
process, registers the members' devices and starts one SIPp UAS per member on the port it
registered from; then a SIPp carrier calls the shared number from 127.0.0.1 (the trunk's
allowed source). The assertions are about what each peer received, read from SIPp's message
traces, and about the call history the switch wrote (``sharedline calls list --json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.switchbed import (
    NUMBER_NAME,
    Member,
    SwitchBed,
    TraceMessage,
    received,
    sent,
    serving_md5_first,
    trace,
    wait_all,
)
from tests.peers.sipp import SCENARIOS, SippResult, run_sipp

pytestmark = pytest.mark.peer

COMPLETED_ELSEWHERE = ['SIP;cause=200;text="Call completed elsewhere"', "Q.850;cause=26"]
CALLER = f'"[{NUMBER_NAME}] ACME Corp"'
"""How the carrier's caller shows on the members' phones: number name, then the caller."""


def _ok(result: SippResult) -> None:
    assert result.ok, result.describe()
    assert result.successful >= 1, result.describe()


def _statuses(result: SippResult) -> list[int]:
    return [m.status for m in trace(result.messages) if m.direction == "received" and m.status]


def _call_ids(messages: list[TraceMessage]) -> set[str | None]:
    """The calls (Call-IDs) some messages belong to: retransmissions count once."""
    return {message.header("Call-ID") for message in messages}


def _only_call(bed: SwitchBed) -> dict[str, Any]:
    history = bed.call_history()
    assert len(history) == 1, history
    return history[0]


def _leg_outcomes(call: dict[str, Any]) -> dict[str, str]:
    legs = call["legs"]
    assert isinstance(legs, list)
    return {leg["device_username"]: leg["outcome"] for leg in legs}


def _ring(members: list[Member], answerer: Member) -> list[tuple[Member, str]]:
    return [
        (member, "member_answer.xml" if member is answerer else "member_ring.xml")
        for member in members
    ]


def test_fork_to_ten_first_answer_wins_the_rest_hear_completed_elsewhere(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 10)
    winner, *losers = bed.members
    with bed.serving():
        bed.register()
        with bed.phones(_ring(bed.members, winner)) as phones:
            carrier = bed.call()
            results = wait_all(phones)

    _ok(carrier)
    assert _statuses(carrier).count(180) == 1, carrier.describe()  # the first 180, once
    answer = next(m for m in received(carrier, 200) if m.header("CSeq") == "1 INVITE")
    assert "o=member" in answer.body, "the winner's SDP answer reaches the caller untouched"
    won, *lost = results
    _ok(won)
    assert received(won, "ACK"), won.describe()
    assert received(won, "BYE"), won.describe()
    for member, result in zip(losers, lost, strict=True):
        _ok(result)  # member_ring.xml checked both Reasons itself; check them here too
        invite = received(result, "INVITE")[0]
        assert (invite.header("From") or "").startswith(CALLER), invite.text
        for cancel in received(result, "CANCEL"):
            assert cancel.headers("Reason") == COMPLETED_ELSEWHERE, (member.username, cancel.text)

    call = _only_call(bed)
    assert (call["outcome"], call["answered_by_name"]) == ("answered", "Member 1")
    expected = {m.username: "completed_elsewhere" for m in losers} | {winner.username: "answered"}
    assert _leg_outcomes(call) == expected


def test_only_the_first_ten_members_ring(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 11, plan="business")  # Starter allows 10 users a number
    *ten, eleventh = bed.members
    with bed.serving():
        bed.register()
        assert {r["username"] for r in bed.registrations()} == {m.username for m in bed.members}
        with (
            bed.phones(_ring(ten, ten[0])) as phones,
            bed.phones([(eleventh, "member_answer.xml")], timeout=3) as spare,
        ):
            carrier = bed.call()
            results = wait_all(phones)
            (unrung,) = wait_all(spare)  # exits on its own 3 s timeout, traces flushed

    _ok(carrier)
    for result in results:
        _ok(result)
        assert len(_call_ids(received(result, "INVITE"))) == 1
    assert "timed out" in unrung.stderr, unrung.describe()  # it was up, listening, all along
    assert unrung.stats.get("IncomingCall(C)") == "0", unrung.stats
    assert received(unrung, "INVITE") == [], unrung.describe()


def test_a_busy_member_does_not_make_the_number_busy(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 2)
    busy, answers = bed.members
    with bed.serving():
        bed.register()
        with bed.phones([(busy, "member_busy.xml"), (answers, "member_answer.xml")]) as phones:
            carrier = bed.call()
            busy_phone, answering_phone = wait_all(phones)

    _ok(carrier)
    assert 486 not in _statuses(carrier), carrier.describe()
    _ok(busy_phone)  # its 486 was ACKed
    assert sent(busy_phone, 486)
    assert received(busy_phone, "ACK")
    _ok(answering_phone)
    assert received(answering_phone, "ACK")
    assert received(answering_phone, "BYE")
    call = _only_call(bed)
    assert call["outcome"] == "answered"
    assert _leg_outcomes(call) == {busy.username: "busy", answers.username: "answered"}


def test_caller_hangs_up_every_phone_logs_a_missed_call(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 3)
    with bed.serving():
        bed.register()
        ringing = [(member, "member_ring_missed.xml") for member in bed.members]
        with bed.phones(ringing) as phones:
            carrier = bed.call("carrier_cancel.xml")
            results = wait_all(phones)

    _ok(carrier)
    assert _statuses(carrier)[-2:] == [200, 487], carrier.describe()
    for result in results:
        _ok(result)  # member_ring_missed.xml refused any cause=200 itself
        cancels = received(result, "CANCEL")
        assert cancels, result.describe()
        for cancel in cancels:
            assert not any("cause=200" in r for r in cancel.headers("Reason")), cancel.text
    call = _only_call(bed)
    assert (call["outcome"], call["answered_by"]) == ("missed", None)
    assert _leg_outcomes(call) == {member.username: "cancelled" for member in bed.members}


def test_twenty_calls_at_once_all_ring_the_team(tmp_path: Path) -> None:
    """Never busy: 20 calls at once each ring both phones; the second answer is hung up.

    The second phone answers every call 100 ms after the first, without a provisional, so each
    call also takes the late-2xx path (ACK, then BYE at once). Two copies of member_answer.xml
    would race inside SIPp instead (see that scenario's header).
    """
    bed = SwitchBed.create(tmp_path, 2)
    first, late = bed.members
    with bed.serving():
        bed.register()
        answering = [(first, "member_answer.xml"), (late, "member_answer_late.xml")]
        with bed.phones(answering, calls=20, timeout=30) as phones:
            carrier = bed.call(calls=20, rate=20, limit=20, timeout=30)
            first_phone, late_phone = wait_all(phones)

    assert (carrier.successful, carrier.failed) == (20, 0), carrier.describe()
    answered = [m for m in received(carrier, 200) if m.header("CSeq") == "1 INVITE"]
    assert len(_call_ids(answered)) == 20, carrier.describe()
    assert not {480, 486, 503} & set(_statuses(carrier)), carrier.describe()
    for phone in (first_phone, late_phone):
        assert (phone.successful, phone.failed) == (20, 0), phone.describe()
        assert len(_call_ids(received(phone, "INVITE"))) == 20, phone.describe()
        assert len(_call_ids(received(phone, "BYE"))) == 20, phone.describe()
    history = bed.call_history()
    assert len(history) == 20
    for call in history:
        assert (call["outcome"], call["answered_by_name"]) == ("answered", "Member 1")
        assert _leg_outcomes(call) == {
            first.username: "answered",
            late.username: "completed_elsewhere",
        }


def test_registrations_survive_a_restart(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 1)
    (member,) = bed.members
    with bed.serving():
        bed.register()
    with (
        bed.serving(),  # the same database; nobody registers again
        bed.phones([(member, "member_answer.xml")]) as phones,
    ):
        carrier = bed.call()
        (phone,) = wait_all(phones)

    _ok(carrier)
    _ok(phone)
    methods = {m.method for m in trace(phone.messages) if m.direction == "received"}
    assert methods == {"INVITE", "ACK", "BYE"}, phone.describe()


def test_a_phone_that_never_answers_the_cancel_does_not_hold_the_call(tmp_path: Path) -> None:
    """RFC 3261 §9.1: 64*T1 after its CANCEL the switch gives up on the leg; the call ends.

    T1 is 50 ms here, so the switch gives up after 3.2 s and the record is written before the
    5 s drain on SIGTERM is over; a switch that waited for the leg would never write it.
    """
    bed = SwitchBed.create(tmp_path, 2)
    bed.sip_settings = {"t1": 0.05, "drain_timeout": 5}
    answers, deaf = bed.members
    with bed.serving():
        bed.register()
        scenarios = [(answers, "member_answer.xml"), (deaf, "member_ring_deaf.xml")]
        with bed.phones(scenarios) as phones:
            carrier = bed.call()
            wait_all(phones)

    _ok(carrier)
    call = _only_call(bed)
    assert call["outcome"] == "answered"
    assert _leg_outcomes(call) == {
        answers.username: "answered",
        deaf.username: "completed_elsewhere",
    }


def test_the_phones_reason_checks_catch_the_wrong_cancel(tmp_path: Path) -> None:
    """The scenarios' own Reason checks bite: each phone fails on the other kind of CANCEL."""
    bed = SwitchBed.create(tmp_path, 2)
    bed.sip_settings = {"t1": 0.05}  # the failing phones never answer the CANCEL: give up soon
    answers, other = bed.members
    with bed.serving():
        bed.register()
        with bed.phones([(answers, "member_answer.xml"), (other, "member_ring_missed.xml")]) as p:
            bed.call()
            _, expects_missed = wait_all(p)
        with bed.phones([(answers, "member_ring.xml"), (other, "member_ring.xml")]) as p:
            bed.call("carrier_cancel.xml", name="carrier-cancel")
            expects_elsewhere = wait_all(p)

    assert expects_missed.failed == 1, expects_missed.describe()
    assert expects_missed.stats.get("FailedRegexpShouldntMatch(C)") == "1"
    for result in expects_elsewhere:
        assert result.failed == 1, result.describe()
        assert result.stats.get("FailedRegexpHdrNotFound(C)") == "1", result.stats


def test_register_xml_registers_where_md5_comes_first(tmp_path: Path) -> None:
    """``register.xml`` against the switch with its registrar offering MD5 first.

    SIPp 3.6.1 answers only the first challenge of a 401, and only MD5; the switch as shipped
    offers SHA-256 first (RFC 8760), which SIPp gives up on. See the module docstring of
    :mod:`tests.integration.switchbed`.
    """
    bed = SwitchBed.create(tmp_path, 2)
    good, bad = bed.members
    with serving_md5_first(*bed.serve_args(), listeners=1):
        registered = run_sipp(
            SCENARIOS / "register.xml",
            bed.target,
            extra=["-s", good.username, "-au", good.username, "-ap", good.password],
            cwd=tmp_path / "register",
            port=good.port,
            timeout=10,
        )
        refused = run_sipp(
            SCENARIOS / "register.xml",
            bed.target,
            extra=["-s", bad.username, "-au", bad.username, "-ap", "not-the-password"],
            cwd=tmp_path / "refused",
            port=bad.port,
            timeout=10,
        )
        bindings = bed.registrations()

    _ok(registered)
    assert _statuses(registered) == [401, 200], registered.describe()
    assert refused.failed == 1, refused.describe()
    assert 403 in _statuses(refused), refused.describe()
    assert [(b["username"], b["contact"], b["source"]) for b in bindings] == [
        (good.username, f"sip:{good.username}@127.0.0.1:{good.port}", f"udp:127.0.0.1:{good.port}")
    ]
