"""Real peers through call flows: ``sharedline serve --flows`` with SIPp phones and carrier.

The bed of :mod:`tests.integration.test_switch_calls` (:mod:`.switchbed`: a provisioned team,
the switch as a child process, one SIPp UAS per member on the port it registered from, a SIPp
carrier on 127.0.0.1), with a flow file written by each test. The assertions are about what each
peer received (SIPp's message traces), when it received it, and the call history the switch
wrote (``sharedline calls list --json``).

Times: every SIPp logs each message with its wall-clock time (:attr:`TraceMessage.at`), so the
times of different phones compare. Waves ring for :data:`LEG_TIMEOUT` seconds; consecutive waves
must start :data:`GAP` apart, which leaves room for a loaded machine and still fails a switch
that rings the next wave at once or not at all.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.process import serve_command
from tests.integration.switchbed import (
    HOST,
    NUMBER,
    Member,
    SwitchBed,
    TraceMessage,
    received,
    sent,
    trace,
    wait_all,
)
from tests.peers.sipp import SippResult, free_udp_port

pytestmark = pytest.mark.peer

LEG_TIMEOUT = 2
"""Seconds each wave rings in these tests' flows."""
GAP = (1.5, 3.5)
"""How far apart, in seconds, the INVITEs of consecutive waves may arrive."""
SLACK = 0.1
"""Seconds by which a CANCEL logged by one phone may trail the next wave's INVITE logged by
another: the switch sends both in one go, but each SIPp logs on its own schedule."""
POLL = {"SHAREDLINE_FLOWS_POLL_INTERVAL": "0.2"}
COMPLETED_ELSEWHERE = ['SIP;cause=200;text="Call completed elsewhere"', "Q.850;cause=26"]


# -- flows -------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    """Put a flow file in place in one rename, so a reload never reads half of it."""
    staging = path.with_name(f".{path.name}.new")
    staging.write_text(textwrap.dedent(text).lstrip(), "utf-8")
    os.replace(staging, path)
    return path


def _ring_flow(targets: list[str], *, strategy: str = "sequential") -> str:
    """The shared number rings ``targets`` (one ring step), then the caller gets 480."""
    return f"""
        version: 1
        numbers:
          "{NUMBER}": main
        flows:
          main:
            start: ring
            steps:
              ring:
                ring:
                  targets: [{", ".join(targets)}]
                  strategy: {strategy}
                  leg_timeout: {LEG_TIMEOUT}
                next: end
    """


def _closed_flow(after_hours: str) -> str:
    """Open every day, all day, but for a ``closed`` override from yesterday to the day after
    tomorrow (UTC): the ``after_hours`` step (YAML) runs, the team must not ring."""
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=1), today + timedelta(days=2)
    return f"""
        version: 1
        numbers:
          "{NUMBER}": main
        schedules:
          office:
            hours: {{ daily: "00:00-24:00" }}
            overrides:
              - {{ from: "{start}T00:00", until: "{end}T00:00", state: closed }}
        flows:
          main:
            start: hours
            steps:
              hours:
                schedule: office
                on: {{ open: ring_team, holiday: ring_team, closed: after_hours }}
              ring_team:
                ring: {{ targets: [everyone], leg_timeout: 5 }}
                next: end
              after_hours:
                {after_hours}
    """


# -- what the peers saw ----------------------------------------------------------------------------


def _ok(result: SippResult) -> None:
    assert result.ok, result.describe()
    assert result.successful >= 1, result.describe()


def _statuses(result: SippResult) -> list[int]:
    return [m.status for m in trace(result.messages) if m.direction == "received" and m.status]


def _call_ids(messages: list[TraceMessage]) -> set[str | None]:
    """The calls (Call-IDs) some messages belong to: retransmissions count once."""
    return {message.header("Call-ID") for message in messages}


def _when(message: TraceMessage) -> float:
    assert message.at is not None, message.text
    return message.at


def _at(result: SippResult, direction: str, what: str | int) -> float:
    """When a peer first sent or received ``what`` (a method or a status)."""
    found = received(result, what) if direction == "received" else sent(result, what)
    assert found, f"nothing {direction} matching {what!r}:\n{result.describe()}"
    return _when(found[0])


def _waves(invited: dict[str, float]) -> list[list[str]]:
    """Members grouped by when their INVITE arrived: a pause of over a second starts a wave."""
    order = sorted(invited, key=invited.__getitem__)
    waves = [[order[0]]]
    for previous, member in itertools.pairwise(order):
        if invited[member] - invited[previous] > 1.0:
            waves.append([])
        waves[-1].append(member)
    return waves


def _most_ringing_at_once(spans: list[tuple[float, float]]) -> int:
    """The most INVITEs outstanding at one moment, each from its arrival to its end (the CANCEL,
    or the answer), ends counted :data:`SLACK` early."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end - SLACK, -1) for _, end in spans])
    most = ringing = 0
    for _, step in edges:
        ringing += step
        most = max(most, ringing)
    return most


def _usernames(members: list[Member]) -> list[str]:
    return [member.username for member in members]


def _legs(call: dict[str, Any]) -> list[tuple[str | None, str]]:
    """A call's legs as (device username, outcome), in the order they started."""
    legs = call["legs"]
    assert isinstance(legs, list)
    return [(leg["device_username"], leg["outcome"]) for leg in legs]


def _epoch(record: dict[str, Any]) -> float:
    """When the switch logged a record (ISO 8601, UTC), in epoch seconds."""
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


# -- ring strategies -----------------------------------------------------------------------------


def test_sequential_group_rings_each_member_in_flow_order_for_its_leg_timeout(
    tmp_path: Path,
) -> None:
    """Provisioned m1, m2, m3; the flow says m3, m1, m2. Each rings alone for 2 s, is cancelled
    as a missed call when its turn ends, and the last one answers."""
    bed = SwitchBed.create(tmp_path, 3)
    m1, m2, m3 = bed.members
    order = [m3, m1, m2]
    bed.flows = _write(tmp_path / "flows.yaml", _ring_flow([m.email for m in order]))
    scenarios = [(m3, "member_ring_missed.xml"), (m1, "member_ring_missed.xml")]
    with bed.serving():
        bed.register()
        with bed.phones([*scenarios, (m2, "member_answer.xml")]) as phones:
            carrier = bed.call()
            results = wait_all(phones)

    for result in results:
        _ok(result)
        assert len(_call_ids(received(result, "INVITE"))) == 1, result.describe()
    invited = [_at(result, "received", "INVITE") for result in results]
    assert invited == sorted(invited), "the phones rang in the flow's order, not the store's"
    for earlier, later in itertools.pairwise(invited):
        assert GAP[0] <= later - earlier <= GAP[1], invited
    for result, next_turn in zip(results[:2], invited[1:], strict=True):
        cancel = received(result, "CANCEL")[0]
        assert abs(_when(cancel) - next_turn) < 0.5, (cancel.text, next_turn)
        assert not any("cause=200" in r for r in cancel.headers("Reason")), cancel.text
        assert sent(result, 487), result.describe()
    answered = results[2]
    assert received(answered, "ACK"), answered.describe()
    assert received(answered, "BYE"), answered.describe()

    _ok(carrier)
    assert _statuses(carrier).count(180) == 1, carrier.describe()  # one ringback for 3 turns
    assert 0 <= _at(carrier, "received", 200) - invited[2] < 1.0, carrier.describe()
    (call,) = bed.call_history()
    assert (call["outcome"], call["answered_by_name"]) == ("answered", "Member 2")
    assert _legs(call) == [("m3", "no_answer"), ("m1", "no_answer"), ("m2", "answered")]
    started = [leg["started_at"] for leg in call["legs"]]
    for earlier, later in itertools.pairwise(started):  # the switch's own clock agrees
        assert GAP[0] <= later - earlier <= GAP[1], started


def test_twenty_five_members_ring_in_waves_of_ten_ten_and_five(tmp_path: Path) -> None:
    """``targets: [everyone]`` on 25 members: never more than 10 ring at once. Waves 1 and 2
    ring out and are cancelled as the next starts; the third member of wave 3 answers."""
    bed = SwitchBed.create(tmp_path, 25, plan="business")  # Starter allows 10 users a number
    members = bed.members
    first, second, third = members[:10], members[10:20], members[20:]
    answerer = third[2]
    bed.flows = _write(tmp_path / "flows.yaml", _ring_flow(["everyone"], strategy="simultaneous"))
    scenarios = [(m, "member_ring_missed.xml") for m in first + second] + [
        (m, "member_answer.xml" if m is answerer else "member_ring.xml") for m in third
    ]
    with bed.serving():
        bed.register()
        with bed.phones(scenarios) as phones:
            carrier = bed.call()
            results = dict(zip(_usernames(members), wait_all(phones), strict=True))

    for result in results.values():
        _ok(result)
        assert len(_call_ids(received(result, "INVITE"))) == 1, result.describe()
    invited = {name: _at(result, "received", "INVITE") for name, result in results.items()}
    waves = _waves(invited)
    index = {name: i for i, name in enumerate(_usernames(members))}
    assert [sorted(wave, key=index.__getitem__) for wave in waves] == [
        _usernames(first),
        _usernames(second),
        _usernames(third),
    ], waves
    starts = [min(invited[name] for name in wave) for wave in waves]
    for wave, start in zip(waves, starts, strict=True):
        assert max(invited[name] for name in wave) - start < 0.5, "a wave rings all at once"
    for earlier, later in itertools.pairwise(starts):
        assert GAP[0] <= later - earlier <= GAP[1], starts

    # each of waves 1 and 2 is cancelled, as missed calls, when the next wave starts
    for wave, next_start in zip(waves[:2], starts[1:], strict=True):
        for name in wave:
            cancel = received(results[name], "CANCEL")[0]
            assert abs(_when(cancel) - next_start) < 0.5, (name, cancel.at, next_start)
            assert not any("cause=200" in r for r in cancel.headers("Reason")), cancel.text
    for name in _usernames(third):
        if name != answerer.username:
            cancel = received(results[name], "CANCEL")[0]
            assert cancel.headers("Reason") == COMPLETED_ELSEWHERE, cancel.text
    ends = {
        name: _at(result, "sent", 200 if name == answerer.username else 487)
        for name, result in results.items()
    }
    spans = [(invited[name], ends[name]) for name in invited]
    assert _most_ringing_at_once(spans) == 10, spans

    _ok(carrier)
    assert received(results[answerer.username], "BYE"), "the call was connected, then hung up"
    (call,) = bed.call_history()
    assert (call["outcome"], call["answered_by_name"]) == ("answered", "Member 23")
    outcomes = dict(_legs(call))
    assert len(call["legs"]) == 25
    assert outcomes == (
        dict.fromkeys(_usernames(first + second), "no_answer")
        | dict.fromkeys(_usernames(third), "completed_elsewhere")
        | {answerer.username: "answered"}
    )


# -- schedules -------------------------------------------------------------------------------------


def test_closed_schedule_sends_the_caller_to_voicemail_and_rings_nobody(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 2)
    voicemail_port = free_udp_port()
    bed.flows = _write(tmp_path / "flows.yaml", _closed_flow("voicemail: { box: support }"))
    bed.env = {"SHAREDLINE_SIP__VOICEMAIL_URI": f"sip:vm-{{box}}@{HOST}:{voicemail_port}"}
    with bed.serving():
        bed.register()
        with (
            bed.phones([(m, "member_answer.xml") for m in bed.members], timeout=3) as phones,
            bed.uas("member_answer.xml", name="voicemail", port=voicemail_port) as server,
        ):
            carrier = bed.call()
            voicemail = server.wait()
            unrung = wait_all(phones)  # each exits on its own 3 s timeout, traces flushed

    _ok(voicemail)
    (invite,) = received(voicemail, "INVITE")
    assert invite.start_line == f"INVITE sip:vm-support@{HOST}:{voicemail_port} SIP/2.0"
    assert received(voicemail, "ACK"), voicemail.describe()
    assert received(voicemail, "BYE"), voicemail.describe()
    _ok(carrier)
    answer = next(m for m in received(carrier, 200) if m.header("CSeq") == "1 INVITE")
    assert "o=member" in answer.body, "the voicemail server's SDP answer reaches the caller"
    for phone in unrung:
        assert "timed out" in phone.stderr, phone.describe()  # up and listening all along
        assert phone.stats.get("IncomingCall(C)") == "0", phone.stats
        assert received(phone, "INVITE") == [], phone.describe()
    (call,) = bed.call_history()
    assert call["outcome"] == "voicemail", call
    (leg,) = call["legs"]
    assert (leg["device_username"], leg["outcome"]) == (None, "answered"), leg
    assert leg["contact"] == f"sip:vm-support@{HOST}:{voicemail_port}", leg


@pytest.mark.parametrize(
    "after_hours",
    ["voicemail: { box: support }", "hangup: 480"],
    ids=["voicemail-without-server", "hangup"],
)
def test_closed_schedule_without_voicemail_refuses_with_480_and_rings_nobody(
    tmp_path: Path, after_hours: str
) -> None:
    bed = SwitchBed.create(tmp_path, 2)
    bed.flows = _write(tmp_path / "flows.yaml", _closed_flow(after_hours))
    with bed.serving():
        bed.register()
        with bed.phones([(m, "member_answer.xml") for m in bed.members], timeout=2) as phones:
            carrier = bed.call("carrier_unavailable.xml")
            unrung = wait_all(phones)

    _ok(carrier)
    assert _statuses(carrier)[-1:] == [480], carrier.describe()
    assert 180 not in _statuses(carrier), "nothing rang"
    for phone in unrung:
        assert "timed out" in phone.stderr, phone.describe()
        assert received(phone, "INVITE") == [], phone.describe()
    (call,) = bed.call_history()
    assert (call["outcome"], call["legs"]) == ("missed", []), call


def test_hangup_step_sends_its_reason_phrase(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 1)
    hangup = 'hangup: { status: 480, reason: "Closed for the holidays" }'
    bed.flows = _write(tmp_path / "flows.yaml", _closed_flow(hangup))
    with bed.serving():
        carrier = bed.call("carrier_unavailable.xml")

    _ok(carrier)
    (refusal,) = {m.start_line for m in received(carrier, 480)}
    assert refusal == "SIP/2.0 480 Closed for the holidays"


# -- reloading -------------------------------------------------------------------------------------


def test_reload_mid_call_keeps_the_call_on_its_flow_and_new_calls_take_the_new_one(
    tmp_path: Path,
) -> None:
    """Flow A rings m1 then m2; while m1 rings, the file changes to flow B (m3). The call goes
    on to m2 under A; the next call rings m3. Then a broken file is refused and the call after
    it still rings m3 under B."""
    bed = SwitchBed.create(tmp_path, 3)
    m1, m2, m3 = bed.members
    flows = bed.flows = _write(tmp_path / "flows.yaml", _ring_flow([m1.email, m2.email]))
    flow_b = _ring_flow([m3.email])
    bed.env = POLL
    with bed.serving_logged() as log:
        loaded = log.wait_for("flows_loaded")
        bed.register()
        flow_a_phones = [(m1, "member_ring_missed.xml"), (m2, "member_answer.xml")]
        with (
            bed.phones(flow_a_phones) as a_phones,
            bed.phones([(m3, "member_answer.xml")], calls=2) as (b_phone,),
        ):
            mark = log.mark()
            with bed.start_call(name="call-1") as call_1:
                time.sleep(0.3)  # m1 rings until 2 s
                _write(flows, flow_b)
                reloaded = log.wait_for("flows_reloaded", after=mark, timeout=1.0)
                first = call_1.wait()
            m1_phone, m2_phone = wait_all(a_phones)
            second = bed.call(name="call-2")

            mark = log.mark()
            _write(flows, flow_b.replace("leg_timeout:", "leg_timout:"))
            rejected = log.wait_for("flows_rejected", after=mark, timeout=5)
            third = bed.call(name="call-3")
            (b_result,) = wait_all([b_phone])
        assert log.events("flows_reloaded") == [reloaded], "the broken file never went live"

    assert reloaded["revision"] != loaded["revision"]
    assert reloaded["calls_in_progress"] == 1, reloaded
    m1_invited = _at(m1_phone, "received", "INVITE")
    m2_invited = _at(m2_phone, "received", "INVITE")
    assert m1_invited < _epoch(reloaded) < m2_invited, "the reload came between A's two turns"
    assert GAP[0] <= m2_invited - m1_invited <= GAP[1]
    for result in (first, m1_phone, m2_phone, second, third, b_result):
        _ok(result)
    assert received(m2_phone, "BYE"), "the call under A went on, and the carrier hung up"
    assert [m.header("CSeq") for m in received(first, 200)][-1] == "2 BYE", first.describe()
    assert len(_call_ids(received(b_result, "INVITE"))) == 2, b_result.describe()

    assert rejected["kept_revision"] == reloaded["revision"], rejected
    errors = rejected["errors"]
    assert isinstance(errors, list), rejected
    where = rf"{re.escape(str(flows))}:\d+:\d+ .*leg_timout"
    assert any(re.match(where, error) for error in errors), errors

    calls = bed.call_history()  # newest first
    assert [_legs(call) for call in calls] == [
        [("m3", "answered")],
        [("m3", "answered")],
        [("m1", "no_answer"), ("m2", "answered")],
    ]


def test_sighup_reloads_the_flows_at_once(tmp_path: Path) -> None:
    """With polling an hour apart, only SIGHUP can make the switch see the new file."""
    bed = SwitchBed.create(tmp_path, 2)
    m1, m2 = bed.members
    flows = bed.flows = _write(tmp_path / "flows.yaml", _ring_flow([m1.email]))
    bed.env = {"SHAREDLINE_FLOWS_POLL_INTERVAL": "3600"}
    with bed.serving_logged() as log:
        loaded = log.wait_for("flows_loaded")
        _write(flows, _ring_flow([m2.email]))
        mark = log.mark()
        log.process.send_signal(signal.SIGHUP)
        reloaded = log.wait_for("flows_reloaded", after=mark, timeout=2)
    assert reloaded["revision"] != loaded["revision"], reloaded


def test_serve_refuses_to_start_on_invalid_flows(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 1)
    bad = _write(tmp_path / "bad.yaml", _ring_flow(["nobody@bed.test"]))  # not a member
    done = subprocess.run(
        serve_command(*bed.serve_args(), "--flows", str(bad)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["error"] for r in records if r["event"] == "flows_invalid"] == [
        f"{bad}:10:21 flows.main.steps.ring.ring.targets[0]: nobody@bed.test is not a member "
        f"of {NUMBER} (bound to flow main)"
    ], done.stderr
    assert not [r for r in records if r["event"] == "sip_listening"], "it never took calls"
