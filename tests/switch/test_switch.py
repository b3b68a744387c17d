"""The switch as a playbook: a message in on one leg, the exact messages out on the other.

Every test drives a :class:`~tests.switch.playbook.Bench` (a switch and its transaction layer on
a virtual clock) with literal SIP from the carrier at 127.0.0.2:5070 and from member devices at
127.0.0.1:600i, and asserts the start lines, destinations and key headers of what comes out
(DESIGN.md "One inbound call", "Outbound").
"""

from __future__ import annotations

from collections import Counter

import pytest

from sharedline.sip.auth import DigestChallenge, authorization_for
from sharedline.sip.events import Address
from sharedline.sip.message import Request, Response
from sharedline.sip.parser import parse_message
from sharedline.switch.records import CallReport, SaveBindings, SaveCall

from .playbook import (
    CARRIER,
    DEVICE_SDP,
    DIALLED,
    NUMBER,
    OUTSIDER,
    SDP,
    Bench,
    Sent,
    answer,
    carrier_ack,
    carrier_cancel,
    carrier_invite,
    carrier_request,
    device_invite,
    lf2crlf,
    member_address,
    member_request,
    non_2xx_ack,
    register_request,
)

COMPLETED_ELSEWHERE = ['SIP;cause=200;text="Call completed elsewhere"', "Q.850;cause=26"]
SWITCH_CONTACT = "<sip:sharedline@127.0.0.1:5060;transport=udp>"
MEMBER_SDP = b"v=0\r\no=member 4 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
CARRIER_RENEGOTIATED = SDP.replace(b"40000", b"40002")
MEMBER_RENEGOTIATED = MEMBER_SDP + b"m=audio 41002 RTP/AVP 0\r\n"


def literal_response(text: str) -> Response:
    message = parse_message(lf2crlf(text))
    assert isinstance(message, Response), message
    return message


# a 200 OK for a dialog the switch never made: requests built from it are strays
NO_SUCH_DIALOG = literal_response("""
SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-x
From: <sip:+12125550123@127.0.0.2>;tag=someone
To: <sip:+14155550100@127.0.0.1>;tag=nobody
Call-ID: no-such-call@127.0.0.2
CSeq: 1 INVITE
Contact: <sip:sharedline@127.0.0.1:5060;transport=udp>
Content-Length: 0

""")


# -- reading what the switch sent -------------------------------------------------------------


def lines(out: Sent) -> list[tuple[Address, str]]:
    """Destinations and start lines: the playbook's view of a step."""
    return [(destination, message.start_line()) for destination, message in out]


def requests(out: Sent) -> list[Request]:
    return [message for _, message in out if isinstance(message, Request)]


def responses(out: Sent) -> list[Response]:
    return [message for _, message in out if isinstance(message, Response)]


def single(out: Sent, destination: Address) -> Request | Response:
    [message] = [m for d, m in out if d == destination]
    return message


def unique(out: Sent) -> Sent:
    """``out`` without retransmissions (the same bytes to the same place)."""
    seen: set[tuple[Address, bytes]] = set()
    kept: Sent = []
    for destination, message in out:
        key = (destination, bytes(message))
        if key not in seen:
            seen.add(key)
            kept.append((destination, message))
    return kept


def statuses(out: Sent, destination: Address) -> list[int]:
    """The status codes of the responses sent to ``destination``, in order."""
    return [m.status_code for d, m in out if d == destination and isinstance(m, Response)]


def call_reports(bench: Bench) -> list[CallReport]:
    return [action.report for action in bench.actions if isinstance(action, SaveCall)]


def leg_outcomes(report: CallReport) -> Counter[str]:
    return Counter(str(leg.outcome) for leg in report.legs)


def ringing(members: int, *, max_channels: int = 1000) -> Bench:
    """A bench whose ``members`` devices are all registered from their own addresses."""
    bench = Bench.create(members=members, max_channels=max_channels)
    for i in range(1, members + 1):
        assert bench.register(i).status_code == 200
    return bench


def fork(bench: Bench, call: str = "in-1") -> list[Request]:
    """Feed the carrier's INVITE; check the 100 Trying; the B-leg INVITEs in member order."""
    out = bench.feed(carrier_invite(call), CARRIER)
    assert lines(out[:1]) == [(CARRIER, "SIP/2.0 100 Trying")]
    assert responses(out[1:]) == []
    return requests(out[1:])


def ring(bench: Bench, legs: list[Request], *indexes: int) -> Sent:
    """Members ``indexes`` (1-based, also the index into ``legs``) send 180 Ringing."""
    out: Sent = []
    for i in indexes:
        contact = member_address(i)
        out += bench.feed(answer(legs[i - 1], 180, tag=f"m{i}", contact=contact), contact)
    return out


def pick_up(bench: Bench, legs: list[Request], i: int, body: bytes = MEMBER_SDP) -> Sent:
    contact = member_address(i)
    return bench.feed(answer(legs[i - 1], 200, tag=f"m{i}", contact=contact, body=body), contact)


def finish_cancelled_leg(bench: Bench, cancel: Request, leg: Request, i: int) -> Sent:
    """A member answers our CANCEL 200 and its INVITE 487; the switch ACKs the 487."""
    address = member_address(i)
    assert bench.feed(answer(cancel, 200, tag=f"m{i}"), address) == []
    return bench.feed(answer(leg, 487, tag=f"m{i}"), address)


def ok_to_carrier(out: Sent) -> Response:
    [ok] = [m for d, m in out if d == CARRIER and isinstance(m, Response) and m.status_code == 200]
    return ok


# -- one inbound call ---------------------------------------------------------------------------


def test_ten_members_ring_the_first_2xx_wins_and_nine_are_cancelled_as_answered_elsewhere():
    bench = ringing(10)

    # carrier INVITE -> 100 Trying, then one INVITE per registered device
    legs = fork(bench)
    assert [(d, m.start_line()) for d, m in bench.sent[-10:]] == [
        (member_address(i), f"INVITE sip:dev{i}@127.0.0.1:{6000 + i} SIP/2.0") for i in range(1, 11)
    ]
    assert len({leg.call_id for leg in legs}) == 10
    assert "in-1@127.0.0.2" not in {leg.call_id for leg in legs}
    for leg in legs:
        assert leg.body == SDP  # the carrier's SDP, untouched (no media anchoring)
        assert leg.headers.get("content-type") == "application/sdp"
        assert leg.from_.display_name == "[Support] ACME Corp"
        assert leg.max_forwards == 69
        assert leg.headers.get("contact") == SWITCH_CONTACT
        assert leg.cseq.number == 1

    # every member rings -> exactly one 180 upstream
    assert lines(ring(bench, legs, 1)) == [(CARRIER, "SIP/2.0 180 Ringing")]
    assert ring(bench, legs, *range(2, 11)) == []
    assert [m.status_code for m in responses(bench.sent) if m.status_code == 180] == [180]

    # member 4 answers -> ACK to 4, 200 with 4's SDP to the carrier, CANCEL to the nine others
    out = pick_up(bench, legs, 4)
    assert lines(out) == [
        (member_address(4), "ACK sip:member@127.0.0.1:6004 SIP/2.0"),
        (CARRIER, "SIP/2.0 200 OK"),
        *[
            (member_address(i), f"CANCEL sip:dev{i}@127.0.0.1:{6000 + i} SIP/2.0")
            for i in range(1, 11)
            if i != 4
        ],
    ]
    ack = out[0][1]
    assert ack.headers.get("cseq") == "1 ACK"
    assert ack.headers.get("call-id") == legs[3].call_id
    assert ack.headers.get("to") == f"{legs[3].headers.get('to')};tag=m4"
    ok = ok_to_carrier(out)
    assert ok.body == MEMBER_SDP
    assert ok.headers.get("cseq") == "1 INVITE"
    assert ok.headers.get("contact") == SWITCH_CONTACT
    assert ok.to.tag is not None
    cancels = requests(out[2:])
    assert len(cancels) == 9
    for cancel, leg in zip(cancels, [legs[i - 1] for i in range(1, 11) if i != 4], strict=True):
        assert cancel.headers.get_all("reason") == COMPLETED_ELSEWHERE
        assert cancel.top_via.branch == leg.top_via.branch  # same transaction (RFC 3261 §9.1)
        assert cancel.headers.get("cseq") == "1 CANCEL"
        assert cancel.call_id == leg.call_id

    # the carrier ACKs the 200: nothing to relay
    assert bench.feed(carrier_ack(ok), CARRIER) == []

    # the nine answer the CANCEL 200 and the INVITE 487; the switch ACKs each 487
    others = [i for i in range(1, 11) if i != 4]
    for cancel, i in zip(cancels, others, strict=True):
        out = finish_cancelled_leg(bench, cancel, legs[i - 1], i)
        assert lines(out) == [
            (member_address(i), f"ACK sip:dev{i}@127.0.0.1:{6000 + i} SIP/2.0"),
        ]
    assert call_reports(bench) == []  # still talking

    # the carrier hangs up -> 200 to the carrier, BYE to the winner
    out = bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 200 OK"),
        (member_address(4), "BYE sip:member@127.0.0.1:6004 SIP/2.0"),
    ]
    assert out[0][1].headers.get("cseq") == "2 BYE"
    bye = requests(out)[0]
    assert bye.call_id == legs[3].call_id
    assert bye.headers.get("cseq") == "2 BYE"
    assert bye.to.tag == "m4"

    # the winner answers the BYE: the call is over and its record is saved
    assert bench.feed(answer(bye, 200, tag="m4"), member_address(4)) == []
    assert bench.switch.calls == set()
    [report] = call_reports(bench)
    assert report.outcome == "answered"
    assert report.answered_by == 4
    assert report.direction == "inbound"
    assert report.number == NUMBER
    assert report.caller == "+12125550123"
    assert leg_outcomes(report) == Counter({"answered": 1, "completed_elsewhere": 9})
    assert {leg.status_code for leg in report.legs if leg.outcome != "answered"} == {487}


def test_only_the_first_ten_members_of_a_number_ring():
    bench = ringing(11)
    legs = fork(bench)
    assert len(legs) == 10
    assert [d for d, _ in bench.sent[-10:]] == [member_address(i) for i in range(1, 11)]
    assert [leg.uri_text for leg in legs] == [
        f"sip:dev{i}@127.0.0.1:{6000 + i}" for i in range(1, 11)
    ]
    assert all(d != member_address(11) for d, m in bench.sent if isinstance(m, Request))


def test_a_busy_member_ends_only_its_own_leg_and_the_call_is_still_answered():
    bench = ringing(3)
    legs = fork(bench)
    ring(bench, legs, 1, 3)

    out = bench.feed(answer(legs[1], 486, tag="m2"), member_address(2))
    assert lines(out) == [(member_address(2), "ACK sip:dev2@127.0.0.1:6002 SIP/2.0")]  # §17.1.1.3

    out = pick_up(bench, legs, 1)
    assert lines(out) == [
        (member_address(1), "ACK sip:member@127.0.0.1:6001 SIP/2.0"),
        (CARRIER, "SIP/2.0 200 OK"),
        (member_address(3), "CANCEL sip:dev3@127.0.0.1:6003 SIP/2.0"),
    ]
    finish_cancelled_leg(bench, requests(out)[-1], legs[2], 3)
    ok = ok_to_carrier(out)
    bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)

    [report] = call_reports(bench)
    assert report.outcome == "answered"
    assert report.answered_by == 1
    assert [str(leg.outcome) for leg in report.legs] == ["answered", "busy", "completed_elsewhere"]
    assert report.legs[1].status_code == 486


@pytest.mark.parametrize(
    "codes",
    [(486, 486, 486), (603, 603, 603), (486, 603, 486)],
    ids=["all-busy", "all-decline", "mixed"],
)
def test_when_every_member_declines_the_carrier_gets_480_never_486(codes):
    bench = ringing(3)
    legs = fork(bench)
    ring(bench, legs, 1, 2, 3)

    outs = [
        bench.feed(answer(leg, status, tag=f"m{i}"), member_address(i))
        for i, (leg, status) in enumerate(zip(legs, codes, strict=True), start=1)
    ]
    assert [lines(out) for out in outs[:2]] == [
        [(member_address(1), "ACK sip:dev1@127.0.0.1:6001 SIP/2.0")],
        [(member_address(2), "ACK sip:dev2@127.0.0.1:6002 SIP/2.0")],
    ]
    assert lines(outs[2]) == [
        (member_address(3), "ACK sip:dev3@127.0.0.1:6003 SIP/2.0"),
        (CARRIER, "SIP/2.0 480 Temporarily Unavailable"),
    ]
    assert not {486, 600, 603} & set(statuses(bench.sent, CARRIER))

    [report] = call_reports(bench)
    assert report.outcome == "missed"
    assert report.answered_by is None
    expected = {486: "busy", 603: "declined"}
    assert [str(leg.outcome) for leg in report.legs] == [expected[code] for code in codes]


def test_caller_cancel_while_ringing_cancels_every_leg_without_the_answered_elsewhere_reason():
    bench = ringing(3)
    legs = fork(bench)
    ring(bench, legs, 1, 2)  # member 3 has not rung yet

    out = bench.feed(carrier_cancel(), CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 200 OK"),
        (CARRIER, "SIP/2.0 487 Request Terminated"),
        (member_address(1), "CANCEL sip:dev1@127.0.0.1:6001 SIP/2.0"),
        (member_address(2), "CANCEL sip:dev2@127.0.0.1:6002 SIP/2.0"),
    ]
    assert out[0][1].headers.get("cseq") == "1 CANCEL"
    assert out[1][1].headers.get("cseq") == "1 INVITE"
    cancels = requests(out)
    assert all(cancel.headers.get_all("reason") == [] for cancel in cancels)

    # the carrier ACKs the 487 inside the INVITE transaction: nothing more to send
    refusal = responses(out)[1]
    assert bench.feed(non_2xx_ack(carrier_invite(), refusal), CARRIER) == []

    # a CANCEL only after a provisional (§9.1): member 3 is cancelled when it rings
    out = ring(bench, legs, 3)
    assert lines(out) == [(member_address(3), "CANCEL sip:dev3@127.0.0.1:6003 SIP/2.0")]
    cancels += requests(out)
    assert requests(out)[0].headers.get_all("reason") == []

    for i, cancel in enumerate(cancels, start=1):
        finish_cancelled_leg(bench, cancel, legs[i - 1], i)
    [report] = call_reports(bench)
    assert report.outcome == "missed"
    assert report.answered_by is None
    assert leg_outcomes(report) == Counter({"cancelled": 3})


@pytest.mark.parametrize("second_rang_first", [True, False], ids=["rang", "straight-200"])
def test_a_second_2xx_after_the_winner_gets_ack_then_bye(second_rang_first):
    bench = ringing(2)
    legs = fork(bench)
    ring(bench, legs, 1, *([2] if second_rang_first else []))

    out = pick_up(bench, legs, 1)
    assert lines(out)[:2] == [
        (member_address(1), "ACK sip:member@127.0.0.1:6001 SIP/2.0"),
        (CARRIER, "SIP/2.0 200 OK"),
    ]
    assert len(requests(out)) == (2 if second_rang_first else 1)  # ACK (+ CANCEL once it rang)

    # member 2 answered too, crossing our CANCEL: it gets ACK then BYE; the carrier hears nothing
    out = pick_up(bench, legs, 2)
    assert lines(out) == [
        (member_address(2), "ACK sip:member@127.0.0.1:6002 SIP/2.0"),
        (member_address(2), "BYE sip:member@127.0.0.1:6002 SIP/2.0"),
    ]
    ack, bye = requests(out)
    assert ack.headers.get("cseq") == "1 ACK"
    assert bye.headers.get("cseq") == "2 BYE"
    assert bye.call_id == legs[1].call_id
    assert bye.to.tag == "m2"
    assert statuses(bench.sent, CARRIER) == [100, 180, 200]

    assert bench.feed(answer(bye, 200, tag="m2"), member_address(2)) == []
    ok = ok_to_carrier(bench.sent)
    bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)
    [report] = call_reports(bench)
    assert report.answered_by == 1
    assert [str(leg.outcome) for leg in report.legs] == ["answered", "completed_elsewhere"]


def test_a_retransmitted_2xx_of_the_winner_is_acked_again():
    bench = ringing(1)
    legs = fork(bench)
    first = pick_up(bench, legs, 1)
    again = pick_up(bench, legs, 1)
    assert lines(again) == [(member_address(1), "ACK sip:member@127.0.0.1:6001 SIP/2.0")]
    assert again[0][1].headers.get("cseq") == first[0][1].headers.get("cseq") == "1 ACK"
    assert statuses(bench.sent, CARRIER) == [100, 200]


def test_early_media_from_one_member_reaches_the_carrier_as_a_plain_180():
    bench = ringing(2)
    legs = fork(bench)
    out = bench.feed(
        answer(legs[0], 183, tag="m1", contact=member_address(1), body=MEMBER_SDP),
        member_address(1),
    )
    assert lines(out) == [(CARRIER, "SIP/2.0 180 Ringing")]
    assert out[0][1].body == b""
    assert ring(bench, legs, 2) == []


def test_a_180_after_100_trying_still_reaches_the_carrier_once():
    bench = ringing(2)
    legs = fork(bench)
    trying = bench.feed(answer(legs[0], 100, tag="m1"), member_address(1))
    assert trying == []  # 100 is hop-by-hop: nothing upstream
    out = bench.feed(answer(legs[0], 180, tag="m1", contact=member_address(1)), member_address(1))
    assert lines(out) == [(CARRIER, "SIP/2.0 180 Ringing")]
    assert ring(bench, legs, 2) == []  # and only once for the whole call


def test_twenty_simultaneous_calls_each_fork_their_own_legs_and_are_all_answered():
    bench = ringing(3)
    calls = [f"in-{k}" for k in range(1, 21)]
    forks = {call: fork(bench, call) for call in calls}
    assert sum(len(legs) for legs in forks.values()) == 60
    assert len({leg.call_id for legs in forks.values() for leg in legs}) == 60
    for legs in forks.values():
        assert [leg.uri_text for leg in legs] == [
            f"sip:dev{i}@127.0.0.1:{6000 + i}" for i in (1, 2, 3)
        ]
    assert len(bench.switch.calls) == 20

    answered = []
    for legs in forks.values():
        out = pick_up(bench, legs, 1)  # member 1 takes every call (call waiting)
        assert lines(out) == [
            (member_address(1), "ACK sip:member@127.0.0.1:6001 SIP/2.0"),
            (CARRIER, "SIP/2.0 200 OK"),
        ]
        answered.append(ok_to_carrier(out).call_id)
    assert answered == [f"{call}@127.0.0.2" for call in calls]
    assert all(not (isinstance(m, Response) and m.status_code == 486) for _, m in bench.sent)
    assert all(
        m.status_code in (100, 200)
        for d, m in bench.sent
        if d == CARRIER and isinstance(m, Response)
    )


def answered_call(bench: Bench) -> tuple[list[Request], Response]:
    """Member 1 answers the carrier's call; the carrier ACKs. The legs and the carrier's 200."""
    legs = fork(bench)
    ok = ok_to_carrier(pick_up(bench, legs, 1))
    assert bench.feed(carrier_ack(ok), CARRIER) == []
    return legs, ok


def test_reinvite_from_the_carrier_is_relayed_to_the_winner_and_back_with_its_ack():
    bench = ringing(1)
    legs, ok = answered_call(bench)
    leg = legs[0]

    reinvite = carrier_request(
        "INVITE", ok, cseq=2, branch="z9hG4bK-reinvite", body=CARRIER_RENEGOTIATED
    )
    out = bench.feed(reinvite, CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 100 Trying"),
        (member_address(1), "INVITE sip:member@127.0.0.1:6001 SIP/2.0"),
    ]
    relayed = requests(out)[0]
    assert relayed.headers.get("cseq") == "2 INVITE"  # the next CSeq of the B dialog
    assert relayed.call_id == leg.call_id
    assert relayed.from_.tag == leg.from_.tag
    assert relayed.to.tag == "m1"
    assert relayed.body == CARRIER_RENEGOTIATED
    assert relayed.headers.get("content-type") == "application/sdp"
    assert relayed.headers.get("contact") == SWITCH_CONTACT

    out = bench.feed(
        answer(relayed, 200, tag="m1", contact=member_address(1), body=MEMBER_RENEGOTIATED),
        member_address(1),
    )
    assert lines(out) == [(CARRIER, "SIP/2.0 200 OK")]
    relayed_ok = responses(out)[0]
    assert relayed_ok.headers.get("cseq") == "2 INVITE"
    assert relayed_ok.call_id == ok.call_id
    assert relayed_ok.to.tag == ok.to.tag
    assert relayed_ok.body == MEMBER_RENEGOTIATED
    assert relayed_ok.headers.get("contact") == SWITCH_CONTACT

    out = bench.feed(carrier_ack(relayed_ok, cseq=2, branch="z9hG4bK-ack2"), CARRIER)
    assert lines(out) == [(member_address(1), "ACK sip:member@127.0.0.1:6001 SIP/2.0")]
    ack = requests(out)[0]
    assert ack.headers.get("cseq") == "2 ACK"
    assert ack.call_id == leg.call_id


def test_info_from_the_member_is_relayed_to_the_carrier_and_its_answer_back():
    bench = ringing(1)
    legs, ok = answered_call(bench)
    dtmf = b"Signal=5\r\nDuration=160\r\n"

    info = member_request(
        "INFO",
        legs[0],
        1,
        tag="m1",
        cseq=1,
        branch="z9hG4bK-info",
        body=dtmf,
        content_type="application/dtmf-relay",
    )
    out = bench.feed(info, member_address(1))
    assert lines(out) == [(CARRIER, "INFO sip:carrier@127.0.0.2:5070 SIP/2.0")]
    relayed = requests(out)[0]
    assert relayed.call_id == ok.call_id
    assert relayed.from_.tag == ok.to.tag  # our tag in the carrier's dialog
    assert relayed.to.tag == "carrier-in-1"
    assert relayed.headers.get("cseq") == "1 INFO"
    assert relayed.body == dtmf
    assert relayed.headers.get("content-type") == "application/dtmf-relay"

    out = bench.feed(answer(relayed, 200, tag="unused"), CARRIER)
    assert lines(out) == [(member_address(1), "SIP/2.0 200 OK")]
    relayed_ok = responses(out)[0]
    assert relayed_ok.headers.get("cseq") == "1 INFO"
    assert relayed_ok.call_id == legs[0].call_id
    assert relayed_ok.from_.tag == "m1"


def test_bye_from_the_member_hangs_up_the_carrier_and_saves_the_call():
    bench = ringing(1)
    legs, ok = answered_call(bench)

    bye = member_request("BYE", legs[0], 1, tag="m1", cseq=1, branch="z9hG4bK-mbye")
    out = bench.feed(bye, member_address(1))
    assert lines(out) == [
        (member_address(1), "SIP/2.0 200 OK"),
        (CARRIER, "BYE sip:carrier@127.0.0.2:5070 SIP/2.0"),
    ]
    assert responses(out)[0].headers.get("cseq") == "1 BYE"
    carrier_bye = requests(out)[0]
    assert carrier_bye.call_id == ok.call_id
    assert carrier_bye.from_.tag == ok.to.tag
    assert carrier_bye.to.tag == "carrier-in-1"

    assert bench.feed(answer(carrier_bye, 200, tag="unused"), CARRIER) == []
    [report] = call_reports(bench)
    assert report.outcome == "answered"
    assert report.answered_by == 1
    assert report.legs[0].ended_at is not None
    # the dialog is gone: a late BYE from the carrier gets 481
    late = bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-late"), CARRIER)
    assert lines(late) == [(CARRIER, "SIP/2.0 481 Call/Transaction Does Not Exist")]


def test_ring_timeout_cancels_every_leg_without_the_answered_elsewhere_reason_and_answers_480():
    bench = ringing(3)
    legs = fork(bench)
    ring(bench, legs, 1, 2, 3)
    assert bench.advance(29.9) == []

    out = unique(bench.advance(31))
    assert lines(out) == [
        (CARRIER, "SIP/2.0 480 Temporarily Unavailable"),
        (member_address(1), "CANCEL sip:dev1@127.0.0.1:6001 SIP/2.0"),
        (member_address(2), "CANCEL sip:dev2@127.0.0.1:6002 SIP/2.0"),
        (member_address(3), "CANCEL sip:dev3@127.0.0.1:6003 SIP/2.0"),
    ]
    cancels = requests(out)
    assert all(cancel.headers.get_all("reason") == [] for cancel in cancels)

    for i, cancel in enumerate(cancels, start=1):
        finish_cancelled_leg(bench, cancel, legs[i - 1], i)
    [report] = call_reports(bench)
    assert report.outcome == "missed"
    # they rang until the timeout: unanswered, not cancelled by the caller
    assert leg_outcomes(report) == Counter({"no_answer": 3})


# -- registrations --------------------------------------------------------------------------------


def test_every_contact_of_a_device_rings():
    bench = Bench.create(members=1)
    assert bench.register(1).status_code == 200
    second = bench.register(1, address=("127.0.0.1", 7001))
    assert second.status_code == 200
    assert sorted(second.headers.get_all("contact")) == [
        "<sip:dev1@127.0.0.1:6001>;expires=3600",
        "<sip:dev1@127.0.0.1:7001>;expires=3600",
    ]

    legs = fork(bench)
    assert sorted(lines(bench.sent[-2:])) == [
        (("127.0.0.1", 6001), "INVITE sip:dev1@127.0.0.1:6001 SIP/2.0"),
        (("127.0.0.1", 7001), "INVITE sip:dev1@127.0.0.1:7001 SIP/2.0"),
    ]
    assert len({leg.call_id for leg in legs}) == 2


def test_a_registration_that_expired_no_longer_rings():
    bench = Bench.create(members=2)
    assert bench.register(1, expires=60).status_code == 200
    assert bench.register(2).status_code == 200

    assert [leg.uri_text for leg in fork(bench, "in-1")] == [
        "sip:dev1@127.0.0.1:6001",
        "sip:dev2@127.0.0.1:6002",
    ]
    bench.advance(61)  # the first call times out unanswered on the way
    assert [r.outcome for r in call_reports(bench)] == ["missed"]

    assert [leg.uri_text for leg in fork(bench, "in-2")] == ["sip:dev2@127.0.0.1:6002"]


def test_registrations_are_saved_as_binding_actions():
    bench = Bench.create(members=1)
    bench.register(1)
    [saved] = [a for a in bench.actions if isinstance(a, SaveBindings)]
    assert saved.device_id == 1
    [binding] = saved.bindings
    assert binding.contact == "sip:dev1@127.0.0.1:6001"
    assert binding.expires_at == 3600
    assert binding.source == "udp:127.0.0.1:6001"

    bench.register(1, expires=0)  # unregister
    last = [a for a in bench.actions if isinstance(a, SaveBindings)][-1]
    assert last.device_id == 1
    assert last.bindings == ()
    out = bench.feed(carrier_invite(), CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 100 Trying"),
        (CARRIER, "SIP/2.0 480 Temporarily Unavailable"),
    ]


# -- the registrar ---------------------------------------------------------------------------------


def challenge_shape(response: Response) -> list[tuple[str, str, tuple[str, ...], bool]]:
    parsed = [DigestChallenge.parse(v) for v in response.headers.get_all("www-authenticate")]
    return [(c.realm, c.algorithm, c.qop, c.stale) for c in parsed]


def test_register_without_credentials_is_challenged_with_401():
    bench = Bench.create(members=1)
    out = bench.feed(register_request("dev1", address=member_address(1)), member_address(1))
    assert lines(out) == [(member_address(1), "SIP/2.0 401 Unauthorized")]
    assert challenge_shape(responses(out)[0]) == [
        ("sharedline", "SHA-256", ("auth",), False),
        ("sharedline", "MD5", ("auth",), False),
    ]
    assert not any(isinstance(a, SaveBindings) for a in bench.actions)


def test_register_with_a_wrong_password_is_forbidden():
    bench = Bench.create(members=1)
    address = member_address(1)
    challenge = bench.challenge(register_request("dev1", address=address), address)
    authorization = authorization_for(
        challenge, username="dev1", password="wrong", method="REGISTER", uri="sip:127.0.0.1",
        cnonce="x",
    )  # fmt: skip
    out = bench.feed(
        register_request("dev1", address=address, cseq=2, authorization=authorization), address
    )
    assert lines(out) == [(address, "SIP/2.0 403 Forbidden (authentication failed)")]
    assert not any(isinstance(a, SaveBindings) for a in bench.actions)


def test_an_unknown_user_gets_the_same_challenge_as_a_known_one_and_then_403():
    bench = Bench.create(members=1)
    known = bench.feed(register_request("dev1", address=member_address(1)), member_address(1))
    ghost_address = ("127.0.0.1", 6050)
    unknown = bench.feed(register_request("ghost", address=ghost_address), ghost_address)
    [known_401], [unknown_401] = responses(known), responses(unknown)
    assert (known_401.status_code, unknown_401.status_code) == (401, 401)
    assert challenge_shape(unknown_401) == challenge_shape(known_401)
    assert [name for name, _ in unknown_401.headers] == [name for name, _ in known_401.headers]

    challenge = DigestChallenge.parse(unknown_401.headers.get_all("www-authenticate")[0])
    authorization = authorization_for(
        challenge, username="ghost", password="pw", method="REGISTER", uri="sip:127.0.0.1",
        cnonce="g",
    )  # fmt: skip
    out = bench.feed(
        register_request("ghost", address=ghost_address, cseq=2, authorization=authorization),
        ghost_address,
    )
    assert lines(out) == [(ghost_address, "SIP/2.0 403 Forbidden (authentication failed)")]


def test_register_for_another_devices_address_of_record_is_forbidden():
    bench = Bench.create(members=2)
    address = member_address(1)
    challenge = bench.challenge(register_request("dev1", address=address, aor="dev2"), address)
    authorization = authorization_for(
        challenge, username="dev1", password="pw1", method="REGISTER", uri="sip:127.0.0.1",
        cnonce="h",
    )  # fmt: skip
    hijack = register_request(
        "dev1", address=address, aor="dev2", cseq=2, authorization=authorization
    )
    out = bench.feed(hijack, address)
    assert lines(out) == [(address, "SIP/2.0 403 Forbidden (not your address-of-record)")]
    assert not any(isinstance(a, SaveBindings) for a in bench.actions)
    out = bench.feed(carrier_invite(), CARRIER)  # nobody rings at dev1's address for dev2
    assert statuses(out, CARRIER) == [100, 480]


def test_register_with_too_brief_an_expiry_gets_423_with_min_expires():
    bench = Bench.create(members=1)
    refusal = bench.register(1, expires=30)
    assert refusal.status_code == 423
    assert refusal.headers.get("min-expires") == "60"
    assert not any(isinstance(a, SaveBindings) for a in bench.actions)


# -- refusals ------------------------------------------------------------------------------------


def test_an_unknown_number_from_the_trunk_gets_404():
    bench = ringing(1)
    out = bench.feed(carrier_invite(number="+19995550000"), CARRIER)
    assert lines(out) == [(CARRIER, "SIP/2.0 100 Trying"), (CARRIER, "SIP/2.0 404 Not Found")]


def test_the_shared_number_from_a_source_that_is_not_a_trunk_is_forbidden():
    bench = ringing(1)
    stranger = ("127.0.0.9", 5070)
    out = bench.feed(carrier_invite(source=stranger), stranger)
    assert lines(out) == [
        (stranger, "SIP/2.0 100 Trying"),
        (stranger, "SIP/2.0 403 Forbidden (not an allowed trunk)"),
    ]
    assert requests(bench.sent) == []


def test_max_forwards_zero_gets_483():
    bench = ringing(1)
    out = bench.feed(carrier_invite(max_forwards=0), CARRIER)
    assert lines(out) == [(CARRIER, "SIP/2.0 100 Trying"), (CARRIER, "SIP/2.0 483 Too Many Hops")]
    assert requests(bench.sent) == []


def test_an_invite_that_already_passed_through_the_switch_gets_482():
    bench = ringing(1)
    looped = carrier_invite(extra_via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-earlier")
    out = bench.feed(looped, CARRIER)
    assert [(d, m.status_code) for d, m in out if isinstance(m, Response)] == [
        (CARRIER, 100),
        (CARRIER, 482),
    ]
    assert requests(bench.sent) == []


def test_past_max_channels_the_switch_answers_503_with_retry_after_never_486():
    bench = ringing(1, max_channels=1)
    assert len(fork(bench, "in-1")) == 1

    out = bench.feed(carrier_invite("in-2"), CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 100 Trying"),
        (CARRIER, "SIP/2.0 503 Service Unavailable"),
    ]
    assert responses(out)[1].headers.get("retry-after") == "5"
    assert len(requests(bench.sent)) == 1


def test_a_hung_up_call_gives_its_channel_back():
    bench = ringing(1, max_channels=1)
    _, ok = answered_call(bench)
    assert statuses(bench.feed(carrier_invite("in-2"), CARRIER), CARRIER) == [100, 503]

    bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)
    assert bench.switch.calls == set()
    out = bench.feed(carrier_invite("in-3"), CARRIER)
    assert lines(out) == [
        (CARRIER, "SIP/2.0 100 Trying"),
        (member_address(1), "INVITE sip:dev1@127.0.0.1:6001 SIP/2.0"),
    ]


def test_a_retransmitted_carrier_invite_does_not_fork_again():
    bench = ringing(2)
    legs = fork(bench)
    assert len(legs) == 2
    out = bench.feed(carrier_invite(), CARRIER)  # same branch: the same server transaction
    assert lines(out) == [(CARRIER, "SIP/2.0 100 Trying")]
    assert len(bench.switch.calls) == 1


def test_out_of_dialog_bye_gets_481():
    bench = ringing(1)
    answered_call(bench)
    stray = carrier_request("BYE", NO_SUCH_DIALOG, cseq=2, branch="z9hG4bK-stray")
    out = bench.feed(stray, CARRIER)
    assert lines(out) == [(CARRIER, "SIP/2.0 481 Call/Transaction Does Not Exist")]
    assert len(bench.switch.calls) == 1  # the real call is untouched


# -- outbound ------------------------------------------------------------------------------------


def test_an_outbound_invite_without_credentials_gets_407():
    bench = Bench.create(members=1)
    address = member_address(1)
    out = bench.feed(device_invite("dev1", address=address), address)
    assert lines(out) == [
        (address, "SIP/2.0 100 Trying"),
        (address, "SIP/2.0 407 Proxy Authentication Required"),
    ]
    [value, *_] = responses(out)[1].headers.get_all("proxy-authenticate")
    assert DigestChallenge.parse(value).realm == "sharedline"
    assert requests(bench.sent) == []


def test_an_outbound_call_leaves_through_the_trunk_with_the_shared_number_as_caller_id():
    bench = Bench.create(members=1)
    device = member_address(1)

    out = bench.call_out("dev1", "pw1", address=device)
    assert lines(out) == [
        (device, "SIP/2.0 100 Trying"),
        (CARRIER, f"INVITE sip:{DIALLED}@127.0.0.2:5070 SIP/2.0"),
    ]
    leg = requests(out)[0]
    assert str(leg.from_.uri) == f"sip:{NUMBER}@127.0.0.1"
    assert leg.from_.display_name == "Support"
    assert leg.headers.get("p-asserted-identity") == f"<sip:{NUMBER}@127.0.0.1>"
    assert leg.headers.get("proxy-authorization") is None  # the device's credentials stay here
    assert leg.body == DEVICE_SDP
    assert leg.max_forwards == 69

    out = bench.feed(answer(leg, 180, tag="c1", contact=CARRIER), CARRIER)
    assert lines(out) == [(device, "SIP/2.0 180 Ringing")]
    assert responses(out)[0].headers.get("cseq") == "2 INVITE"

    out = bench.feed(answer(leg, 200, tag="c1", contact=CARRIER, body=SDP), CARRIER)
    assert lines(out) == [
        (CARRIER, "ACK sip:member@127.0.0.2:5070 SIP/2.0"),
        (device, "SIP/2.0 200 OK"),
    ]
    ok = responses(out)[0]
    assert ok.body == SDP
    assert ok.headers.get("contact") == SWITCH_CONTACT

    assert bench.feed(carrier_ack(ok, cseq=2, source=device), device) == []
    bye = carrier_request("BYE", ok, cseq=3, branch="z9hG4bK-dbye", source=device)
    out = bench.feed(bye, device)
    assert lines(out) == [
        (device, "SIP/2.0 200 OK"),
        (CARRIER, "BYE sip:member@127.0.0.2:5070 SIP/2.0"),
    ]
    bench.feed(answer(requests(out)[0], 200, tag="unused"), CARRIER)

    [report] = call_reports(bench)
    assert report.direction == "outbound"
    assert report.number == NUMBER
    assert report.caller == NUMBER
    assert report.callee == DIALLED
    assert report.outcome == "answered"
    assert report.answered_by == 1


@pytest.mark.parametrize("preferred", [None, NUMBER], ids=["default", "p-preferred-identity"])
def test_an_outbound_call_from_a_device_without_access_to_the_number_is_forbidden(preferred):
    bench = Bench.create(members=1)
    out = bench.call_out("outsider", "pw999", address=OUTSIDER, preferred=preferred)
    assert [(d, m.status_code) for d, m in out if isinstance(m, Response)] == [
        (OUTSIDER, 100),
        (OUTSIDER, 403),
    ]
    assert requests(bench.sent) == []


def test_an_outbound_call_on_a_trunk_without_outbound_proxy_gets_404():
    bench = Bench.create(members=1, proxy=None)
    out = bench.call_out()
    assert [(d, m.status_code) for d, m in out if isinstance(m, Response)] == [
        (member_address(1), 100),
        (member_address(1), 404),
    ]
    assert requests(bench.sent) == []


def test_an_outbound_call_the_carrier_refuses_passes_its_status_to_the_device():
    bench = Bench.create(members=1)
    device = member_address(1)
    [leg] = requests(bench.call_out())

    out = bench.feed(answer(leg, 486, tag="c1"), CARRIER)
    assert lines(out) == [
        (CARRIER, f"ACK sip:{DIALLED}@127.0.0.2:5070 SIP/2.0"),
        (device, "SIP/2.0 486 Busy Here"),
    ]
    [report] = call_reports(bench)
    assert report.direction == "outbound"
    assert report.outcome == "failed"
    assert [str(leg.outcome) for leg in report.legs] == ["busy"]


def test_a_device_cannot_choose_its_own_asserted_identity():
    bench = Bench.create(members=1)
    forged = "P-Asserted-Identity: <sip:+19005550000@127.0.0.1>"
    [leg] = requests(bench.call_out(extra=forged))
    assert leg.headers.get_all("p-asserted-identity") == [f"<sip:{NUMBER}@127.0.0.1>"]
    assert str(leg.from_.uri) == f"sip:{NUMBER}@127.0.0.1"


def test_a_replayed_register_authorization_is_forbidden():
    bench = Bench.create(members=1)
    address = member_address(1)
    challenge = bench.challenge(register_request("dev1", address=address), address)
    authorization = authorization_for(
        challenge, username="dev1", password="pw1", method="REGISTER", uri="sip:127.0.0.1",
        cnonce="r",
    )  # fmt: skip
    first = register_request("dev1", address=address, cseq=2, authorization=authorization)
    assert statuses(bench.feed(first, address), address) == [200]
    replay = register_request("dev1", address=address, cseq=3, authorization=authorization)
    assert statuses(bench.feed(replay, address), address) == [403]  # same nonce count
