"""The switch running call flows, on a virtual clock with literal SIP (DESIGN.md "Call flows").

Members u1..uN (devices dev1..devN at 127.0.0.1:600i) are on +14155550100; the carrier is at
127.0.0.2:5070. Each test binds the number to a flow and checks who gets an INVITE, when, and
what the caller and the call record see.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sharedline.callflows.interpreter import Interpreter
from sharedline.callflows.loader import known_from_directory, parse_flows
from sharedline.sip.events import Address
from sharedline.sip.message import Request, Response
from sharedline.switch.records import CallOutcome, LegOutcome, SaveTurn

from .playbook import (
    CARRIER,
    NUMBER,
    Bench,
    Sent,
    answer,
    carrier_invite,
    carrier_request,
    member_address,
)
from .test_switch import (
    call_reports,
    lines,
    pick_up,
    requests,
    responses,
    ring,
    ringing,
    statuses,
)

VOICEMAIL_SERVER = ("127.0.0.3", 5090)


def with_flow(bench: Bench, body: str) -> Interpreter:
    """Bind the number to ``body``'s flow ``main``, checked as the engine checks it."""
    flows = parse_flows(
        f"version: 1\nnumbers: {{'{NUMBER}': main}}\n{body}",
        known=known_from_directory(bench.switch.directory),
        backend="sip",
    )
    bench.switch.flows = Interpreter(flows.document, flows.revision)
    return bench.switch.flows


def _fresh(bench: Bench, out: Sent, method: str) -> list[Address]:
    """Where new ``method`` requests in ``out`` went: retransmissions (Timer A/E) left out."""
    earlier = bench.sent[: len(bench.sent) - len(out)]
    seen = {
        (destination, message.via[0].branch or "")
        for destination, message in earlier
        if isinstance(message, Request) and message.method == method
    }
    found: list[Address] = []
    for destination, message in out:
        if isinstance(message, Request) and message.method == method:
            key = (destination, message.via[0].branch or "")
            if key not in seen:
                seen.add(key)
                found.append(destination)
    return found


def invites(bench: Bench, out: Sent) -> list[Address]:
    return _fresh(bench, out, "INVITE")


def cancels(bench: Bench, out: Sent) -> list[Address]:
    return _fresh(bench, out, "CANCEL")


def leg_to(out: Sent, i: int) -> Request:
    """The INVITE sent to member ``i`` in ``out``."""
    [leg] = {
        m.via[0].branch: m
        for d, m in out
        if d == member_address(i) and isinstance(m, Request) and m.method == "INVITE"
    }.values()
    return leg


SEQUENTIAL = """
flows:
  main:
    start: team
    steps:
      team:
        ring:
          targets: [u3@acme.test, u1@acme.test, u2@acme.test]
          strategy: sequential
          leg_timeout: 10
        on: {default: end}
"""


def test_sequential_rings_each_member_in_order_for_its_leg_timeout() -> None:
    bench = ringing(3)
    with_flow(bench, SEQUENTIAL)
    out = bench.feed(carrier_invite(), CARRIER)
    assert invites(bench, out) == [member_address(3)]
    third = leg_to(out, 3)
    out = bench.feed(answer(third, 180, tag="m3", contact=member_address(3)), member_address(3))
    assert lines(out) == [(CARRIER, "SIP/2.0 180 Ringing")]
    out = bench.advance(10.0)
    assert cancels(bench, out) == [member_address(3)]  # u3's turn is over
    assert invites(bench, out) == [member_address(1)]
    first = leg_to(out, 1)
    out = bench.advance(20.0)
    # u1 never sent a provisional: its INVITE is cancelled only once it does (RFC 3261 §9.1)
    assert invites(bench, out) == [member_address(2)]
    second = leg_to(out, 2)
    out = bench.feed(answer(second, 200, tag="m2", contact=member_address(2)), member_address(2))
    assert statuses(out, CARRIER) == [200]
    # u1's phone rings at last: it is cancelled as answered elsewhere at once
    out = bench.feed(answer(first, 180, tag="m1", contact=member_address(1)), member_address(1))
    [cancel] = requests(out)
    assert cancel.method == "CANCEL"
    assert call_reports(bench) == []  # the call is still up


def test_nobody_answers_a_sequential_flow_then_480_and_a_missed_call() -> None:
    bench = ringing(3)
    with_flow(bench, SEQUENTIAL)
    bench.feed(carrier_invite(), CARRIER)
    out = bench.advance(29.0)
    assert invites(bench, out) == [member_address(1), member_address(2)]
    out = bench.advance(30.0)
    assert statuses(out, CARRIER) == [480]
    bench.advance(100.0)  # the legs never answered our INVITEs: Timer B ends them
    [report] = call_reports(bench)
    assert report.outcome is CallOutcome.MISSED
    assert [leg.user_id for leg in report.legs] == [3, 1, 2]
    assert {leg.outcome for leg in report.legs} == {LegOutcome.NO_ANSWER}


def test_cumulative_keeps_earlier_members_ringing_as_it_adds_the_next() -> None:
    bench = ringing(3)
    with_flow(
        bench,
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], strategy: cumulative, leg_timeout: 10}
        next: end
""",
    )
    out = bench.feed(carrier_invite(), CARRIER)
    assert invites(bench, out) == [member_address(1)]
    first = leg_to(out, 1)
    bench.feed(answer(first, 180, tag="m1", contact=member_address(1)), member_address(1))
    out = bench.advance(10.0)
    assert cancels(bench, out) == []
    assert invites(bench, out) == [member_address(2)]
    out = bench.advance(20.0)
    assert cancels(bench, out) == []
    assert invites(bench, out) == [member_address(3)]
    out = bench.feed(answer(first, 200, tag="m1", contact=member_address(1)), member_address(1))
    assert statuses(out, CARRIER) == [200]


def test_decline_scope_group_stops_everyone_at_the_first_decline() -> None:
    bench = ringing(3)
    with_flow(
        bench,
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], decline_scope: group}
        on: {declined: refuse, default: end}
      refuse: {hangup: {status: 603}}
""",
    )
    out = bench.feed(carrier_invite(), CARRIER)
    legs = [leg_to(out, i) for i in (1, 2, 3)]
    ring(bench, legs, 1, 2, 3)
    out = bench.feed(answer(legs[1], 603, tag="m2"), member_address(2))
    assert sorted(cancels(bench, out)) == [member_address(1), member_address(3)]
    assert statuses(out, CARRIER) == [603]


def test_a_closed_schedule_goes_straight_to_voicemail_without_ringing_anyone() -> None:
    bench = ringing(2)
    bench.switch.settings = bench.switch.settings.__class__(
        voicemail_uri=f"sip:vm-{{box}}@{VOICEMAIL_SERVER[0]}:{VOICEMAIL_SERVER[1]}"
    )
    # the virtual clock's 0.0 is Saturday 2026-12-26 12:00 UTC
    bench.switch.wall_offset = datetime(2026, 12, 26, 12, 0, tzinfo=UTC).timestamp()
    with_flow(
        bench,
        """
schedules:
  office: {timezone: Europe/Paris, hours: {mon-fri: "09:00-18:00"}}
flows:
  main:
    start: hours
    steps:
      hours: {schedule: office, on: {open: team, default: vm}}
      team: {ring: {targets: [everyone]}, next: end}
      vm: {voicemail: {box: support}}
""",
    )
    out = bench.feed(carrier_invite(), CARRIER)
    assert invites(bench, out) == [VOICEMAIL_SERVER]
    [leg] = [m for d, m in out if d == VOICEMAIL_SERVER and isinstance(m, Request)]
    assert str(leg.uri) == "sip:vm-support@127.0.0.3:5090"
    out = bench.feed(answer(leg, 200, tag="vm", contact=VOICEMAIL_SERVER), VOICEMAIL_SERVER)
    assert statuses(out, CARRIER) == [200]
    assert bench.switch.calls  # connected to the voicemail server
    [ok] = [m for d, m in out if d == CARRIER and isinstance(m, Response)]
    out = bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)
    [bye] = [m for d, m in out if d == VOICEMAIL_SERVER and isinstance(m, Request)]
    bench.feed(answer(bye, 200, tag="vm"), VOICEMAIL_SERVER)
    [report] = call_reports(bench)
    assert report.outcome is CallOutcome.VOICEMAIL
    assert report.voicemail_box == "support"  # the writer files the message under it


def test_voicemail_without_a_voicemail_server_answers_480() -> None:
    bench = ringing(2)
    with_flow(
        bench,
        """
flows:
  main:
    start: vm
    steps:
      vm: {voicemail: {box: support}}
""",
    )
    out = bench.feed(carrier_invite(), CARRIER)
    assert invites(bench, out) == []
    assert statuses(out, CARRIER) == [100, 480]


def test_round_robin_advances_per_call_and_reports_each_turn_for_the_store() -> None:
    bench = ringing(3)
    with_flow(
        bench,
        """
groups:
  desk: {members: [u1@acme.test, u2@acme.test, u3@acme.test]}
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [group:desk], strategy: round_robin, leg_timeout: 5}, next: end}
""",
    )
    firsts = []
    for n in range(4):
        out = bench.feed(carrier_invite(f"rr-{n}"), CARRIER)
        firsts.append(invites(bench, out)[0])
    assert firsts == [member_address(1), member_address(2), member_address(3), member_address(1)]
    turns = [a for a in bench.actions if isinstance(a, SaveTurn)]
    assert [(t.user_id, t.turn) for t in turns] == [(1, 1), (2, 2), (3, 3), (1, 4)]
    assert {t.rotation for t in turns} == {f"{NUMBER}/group:desk"}


def test_skip_busy_passes_over_a_member_already_on_a_call() -> None:
    bench = ringing(2)
    with_flow(
        bench,
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [everyone], skip_busy: true}, next: end}
""",
    )
    out = bench.feed(carrier_invite("first"), CARRIER)
    legs = [leg_to(out, 1), leg_to(out, 2)]
    pick_up(bench, legs, 1)
    out = bench.feed(carrier_invite("second"), CARRIER)
    assert invites(bench, out) == [member_address(2)]


def test_forward_calls_an_outside_number_through_the_numbers_trunk() -> None:
    bench = ringing(1)
    with_flow(
        bench,
        """
flows:
  main:
    start: out
    steps:
      out: {forward: {number: "+12125550199"}, on: {default: end}}
""",
    )
    out = bench.feed(carrier_invite(), CARRIER)
    [leg] = [m for d, m in out if d == CARRIER and isinstance(m, Request)]
    assert leg.start_line() == "INVITE sip:+12125550199@127.0.0.2:5070 SIP/2.0"


def test_a_reload_mid_call_leaves_the_call_on_the_flow_it_started_with() -> None:
    bench = ringing(3)
    with_flow(bench, SEQUENTIAL)
    out = bench.feed(carrier_invite(), CARRIER)
    assert invites(bench, out) == [member_address(3)]
    with_flow(
        bench,
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [u2@acme.test], leg_timeout: 60}, next: end}
""",
    )
    out = bench.advance(10.0)
    assert invites(bench, out) == [member_address(1)]  # the old flow's next member
    out = bench.feed(carrier_invite("new"), CARRIER)
    assert invites(bench, out) == [member_address(2)]  # new calls run the new flow
    assert responses(out)[0].status_code == 100
