"""RFC 3261 §17 transactions (and RFC 6026's Accepted state) on a virtual clock.

In the manner of aioquic's ``test_connection.py``: ``now`` starts at 0.0 and moves to exactly the
next deadline the layer announces; every step asserts the bytes sent (parsed back), the events
and ``next_deadline()``. Messages are literal SIP text converted to CRLF. No sockets, no sleeps.
"""

from __future__ import annotations

import itertools
from typing import TypeAlias

import pytest

from sharedline.sip.errors import LocalProtocolError
from sharedline.sip.events import (
    AckReceived,
    AckTimedOut,
    Address,
    ClientKey,
    Event,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    ServerKey,
    TransactionTimedOut,
    Transport,
)
from sharedline.sip.message import Request, Response
from sharedline.sip.parser import parse_message
from sharedline.sip.responses import make_response
from sharedline.sip.timers import Timer, TimerSettings
from sharedline.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Outbox,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TransactionState,
)
from sharedline.sip.transactions import TransactionLayer

from .helpers import lf2crlf, parse_request, parse_response

T1, T2, T4 = 0.5, 4.0, 5.0
TIMEOUT = 64 * T1  # Timers B, F, H, J, L and M

ALICE: Address = ("192.0.2.10", 5060)  # the peer that sends us requests
BOB: Address = ("192.0.2.20", 5060)  # the peer we send requests to

# -- what we send as a client ------------------------------------------------------------------

UAC_BRANCH = "z9hG4bK74bf9"
UAC_INVITE = lf2crlf(
    """\
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
Route: <sip:proxy.biloxi.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10:5060>
Content-Length: 0

"""
)

UAC_CANCEL = lf2crlf(
    """\
CANCEL sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
Route: <sip:proxy.biloxi.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 CANCEL
Content-Length: 0

"""
)

UAC_OPTIONS = lf2crlf(
    """\
OPTIONS sip:carrier.example.net SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopt1
Max-Forwards: 70
From: <sip:ping@atlanta.example.com>;tag=ping1
To: <sip:carrier.example.net>
Call-ID: options-1@atlanta.example.com
CSeq: 7 OPTIONS
Content-Length: 0

"""
)


def invite_response(
    status: str, *, to_tag: str = "8321234356", cseq: str = "1 INVITE", branch: str = UAC_BRANCH
) -> bytes:
    """A response from Bob to ``UAC_INVITE`` (or, with ``cseq``, to the CANCEL)."""
    return lf2crlf(
        f"""\
SIP/2.0 {status}
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};received=192.0.2.10
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag={to_tag}
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: {cseq}
Content-Length: 0

"""
    )


def options_response(status: str) -> bytes:
    """A response from the carrier to ``UAC_OPTIONS``."""
    return lf2crlf(
        f"""\
SIP/2.0 {status}
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopt1
From: <sip:ping@atlanta.example.com>;tag=ping1
To: <sip:carrier.example.net>;tag=carrier9
Call-ID: options-1@atlanta.example.com
CSeq: 7 OPTIONS
Content-Length: 0

"""
    )


# -- what peers send us as a server ------------------------------------------------------------

UAS_INVITE = lf2crlf(
    """\
INVITE sip:bob@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@biloxi.example.com>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10>
Content-Length: 0

"""
)

# The ACK for a 3xx-6xx: same branch as the INVITE, part of its transaction (§17.1.1.3).
UAS_NON_2XX_ACK = lf2crlf(
    """\
ACK sip:bob@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@biloxi.example.com>;tag=bob-tag
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 ACK
Content-Length: 0

"""
)

# The ACK for a 2xx: a transaction of its own, with a new branch (§13.2.2.4).
UAS_2XX_ACK = lf2crlf(
    """\
ACK sip:alice-contact@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack2xx
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@biloxi.example.com>;tag=bob-tag
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 ACK
Content-Length: 0

"""
)

UAS_CANCEL = lf2crlf(
    """\
CANCEL sip:bob@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@biloxi.example.com>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 CANCEL
Content-Length: 0

"""
)

UAS_OPTIONS = lf2crlf(
    """\
OPTIONS sip:bob@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopts77
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=8812
To: <sip:bob@192.0.2.20>
Call-ID: opts-77@atlanta.example.com
CSeq: 63104 OPTIONS
Content-Length: 0

"""
)


# -- helpers -----------------------------------------------------------------------------------


def over(data: bytes, transport: Transport) -> bytes:
    """``data`` with its Via transport changed (matching ignores it; it keeps the text honest)."""
    return data.replace(b"SIP/2.0/UDP", f"SIP/2.0/{transport.upper()}".encode())


def start_line(data: bytes) -> str:
    return parse_message(data).start_line()


def sent_lines(layer: TransactionLayer) -> list[str]:
    """Start lines of everything the layer wants sent now."""
    return [start_line(send.data) for send in layer.take_sends()]


def run_timers(layer: TransactionLayer, until: float) -> list[tuple[float, list[str]]]:
    """Move the clock from deadline to deadline up to ``until``: when, and what was sent then."""
    fired: list[tuple[float, list[str]]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        fired.append((deadline, sent_lines(layer)))
    return fired


def start_client(
    data: bytes, transport: Transport = "udp", destination: Address = BOB
) -> tuple[TransactionLayer, ClientKey]:
    layer = TransactionLayer()
    key = layer.send_request(parse_request(over(data, transport)), destination, transport, 0.0)
    return layer, key


def start_server(
    data: bytes, transport: Transport = "udp", now: float = 0.0
) -> tuple[TransactionLayer, ServerKey, Request]:
    """A layer that received ``data`` from Alice; its sends and events are drained."""
    layer = TransactionLayer()
    layer.receive(over(data, transport), ALICE, transport, now)
    layer.take_sends()
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    return layer, event.transaction, event.request


INVITE_LINE = "INVITE sip:bob@biloxi.example.com SIP/2.0"
OPTIONS_LINE = "OPTIONS sip:carrier.example.net SIP/2.0"


# -- INVITE client (RFC 3261 §17.1.1, RFC 6026 §7.2) -------------------------------------------


def test_invite_client_retransmits_on_timer_a_until_timer_b() -> None:
    layer, key = start_client(UAC_INVITE)
    assert key == (UAC_BRANCH, "INVITE")
    assert layer.take_sends() == [SendMessage(transport="udp", destination=BOB, data=UAC_INVITE)]
    assert layer.next_deadline() == T1

    # Timer A doubles each time, with no T2 cap for INVITE (§17.1.1.2).
    retransmissions = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert run_timers(layer, 31.9) == [(t, [INVITE_LINE]) for t in retransmissions]
    assert layer.take_events() == []

    assert layer.next_deadline() == TIMEOUT
    layer.handle_timer(TIMEOUT)
    assert layer.take_sends() == []
    assert layer.take_events() == [TransactionTimedOut(transaction=key, timer=Timer.B)]
    assert layer.transaction_count == 0
    assert layer.next_deadline() is None


def test_invite_client_retransmissions_are_byte_identical() -> None:
    layer, _ = start_client(UAC_INVITE)
    first = layer.take_sends()
    layer.handle_timer(T1)
    assert layer.take_sends() == first


def test_handle_timer_called_early_does_nothing() -> None:
    layer, _ = start_client(UAC_INVITE)
    layer.take_sends()
    layer.handle_timer(0.0)
    layer.handle_timer(T1 - 0.001)
    assert layer.take_sends() == []
    assert layer.take_events() == []
    assert layer.next_deadline() == T1


def test_invite_client_over_tcp_never_retransmits_but_times_out_on_timer_b() -> None:
    layer, key = start_client(UAC_INVITE, "tcp")
    assert sent_lines(layer) == [INVITE_LINE]
    assert layer.next_deadline() == TIMEOUT
    assert run_timers(layer, TIMEOUT) == [(TIMEOUT, [])]
    assert layer.take_events() == [TransactionTimedOut(transaction=key, timer=Timer.B)]
    assert layer.transaction_count == 0


def test_invite_client_provisional_stops_timer_a_and_timer_b() -> None:
    layer, key = start_client(UAC_INVITE)
    layer.take_sends()
    assert run_timers(layer, T1) == [(T1, [INVITE_LINE])]

    layer.receive(invite_response("180 Ringing"), BOB, "udp", 0.7)
    assert layer.take_sends() == []
    assert layer.take_events() == [
        ResponseReceived(response=parse_response(invite_response("180 Ringing")), transaction=key)
    ]
    # Proceeding has no timer of its own: no retransmission and no Timer B timeout (§17.1.1.2).
    assert layer.next_deadline() is None
    layer.handle_timer(1000.0)
    assert layer.take_sends() == []
    assert layer.take_events() == []
    assert layer.transaction_count == 1

    # Further provisionals are passed up too, each time.
    layer.receive(invite_response("183 Session Progress"), BOB, "udp", 1001.0)
    [event] = layer.take_events()
    assert isinstance(event, ResponseReceived)
    assert event.response.status_code == 183


def test_invite_client_acks_a_non_2xx_final_response_itself() -> None:
    layer, key = start_client(UAC_INVITE)
    invite = parse_request(layer.take_sends()[0].data)
    layer.receive(invite_response("486 Busy Here"), BOB, "udp", 2.0)

    [send] = layer.take_sends()
    assert (send.transport, send.destination) == ("udp", BOB)
    ack = parse_request(send.data)
    # RFC 3261 §17.1.1.3: same Request-URI, Call-ID, From and CSeq number; a single Via equal
    # to the INVITE's top Via (same branch); To from the response with its tag; Route copied.
    assert ack.start_line() == "ACK sip:bob@biloxi.example.com SIP/2.0"
    assert ack.headers.get_all("via") == [invite.headers.get("via")]
    assert ack.top_via.branch == UAC_BRANCH
    assert ack.headers.get("from") == invite.headers.get("from")
    assert ack.headers.get("call-id") == invite.headers.get("call-id")
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert ack.headers.get("to") == "Bob <sip:bob@biloxi.example.com>;tag=8321234356"
    assert ack.headers.get_all("route") == ["<sip:proxy.biloxi.example.com;lr>"]
    assert ack.body == b""
    ack.validate()

    [event] = layer.take_events()
    assert event == ResponseReceived(
        response=parse_response(invite_response("486 Busy Here")), transaction=key
    )


def test_invite_client_ack_carries_only_the_top_via_of_the_invite() -> None:
    proxied = UAC_INVITE.replace(
        b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\r\n",
        b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9, "
        b"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKup\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKup2\r\n",
    )
    layer, _ = start_client(proxied)
    layer.take_sends()
    layer.receive(invite_response("404 Not Found"), BOB, "udp", 1.0)
    [send] = layer.take_sends()
    assert parse_request(send.data).headers.get_all("via") == [
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9"
    ]


def test_invite_client_resends_ack_for_a_retransmitted_final_without_passing_it_up() -> None:
    layer, _ = start_client(UAC_INVITE)
    layer.take_sends()
    layer.receive(invite_response("486 Busy Here"), BOB, "udp", 1.0)
    [first_ack] = layer.take_sends()
    assert len(layer.take_events()) == 1

    for now in (1.5, 2.5):
        layer.receive(invite_response("486 Busy Here"), BOB, "udp", now)
        assert layer.take_sends() == [first_ack]
        assert layer.take_events() == []

    # Completed ignores a 2xx or a provisional: nothing sent, nothing passed up.
    layer.receive(invite_response("200 OK"), BOB, "udp", 3.0)
    layer.receive(invite_response("180 Ringing"), BOB, "udp", 3.0)
    assert layer.take_sends() == []
    assert layer.take_events() == []


@pytest.mark.parametrize(("transport", "timer_d"), [("udp", 32.0), ("tcp", 0.0)])
def test_invite_client_timer_d_ends_completed(transport: Transport, timer_d: float) -> None:
    layer, _ = start_client(UAC_INVITE, transport)
    layer.take_sends()
    layer.receive(over(invite_response("603 Decline"), transport), BOB, transport, 1.0)
    assert sent_lines(layer) == ["ACK sip:bob@biloxi.example.com SIP/2.0"]
    layer.take_events()

    assert layer.next_deadline() == 1.0 + timer_d
    assert run_timers(layer, 1000.0) == [(1.0 + timer_d, [])]
    assert layer.take_events() == []
    assert layer.transaction_count == 0

    # After Timer D the transaction is gone: a late retransmission is a stray response.
    layer.receive(over(invite_response("603 Decline"), transport), BOB, transport, 40.0)
    assert layer.take_sends() == []
    [dropped] = layer.take_events()
    assert isinstance(dropped, MessageDropped)
    assert dropped.reason == "stray response"


def test_invite_client_2xx_enters_accepted_and_passes_every_2xx_up_until_timer_m() -> None:
    layer, key = start_client(UAC_INVITE)
    layer.take_sends()
    layer.receive(invite_response("180 Ringing"), BOB, "udp", 0.3)
    layer.take_events()

    layer.receive(invite_response("200 OK"), BOB, "udp", 1.0)
    assert layer.take_sends() == []  # the TU, not the transaction, ACKs a 2xx (§13.2.2.4)
    assert layer.take_events() == [
        ResponseReceived(response=parse_response(invite_response("200 OK")), transaction=key)
    ]
    assert layer.next_deadline() == 1.0 + TIMEOUT  # Timer M

    # RFC 6026 §8.4: a retransmitted 2xx and a 2xx from another fork both reach the TU.
    layer.receive(invite_response("200 OK"), BOB, "udp", 1.5)
    layer.receive(invite_response("200 OK", to_tag="fork-2"), ("192.0.2.30", 5060), "udp", 2.0)
    assert layer.take_sends() == []
    events = layer.take_events()
    assert [type(e) for e in events] == [ResponseReceived, ResponseReceived]
    assert [e.response.to.tag for e in events if isinstance(e, ResponseReceived)] == [
        "8321234356",
        "fork-2",
    ]

    # Non-2xx and provisionals in Accepted are neither ACKed nor passed up.
    layer.receive(invite_response("486 Busy Here", to_tag="fork-3"), BOB, "udp", 3.0)
    layer.receive(invite_response("180 Ringing"), BOB, "udp", 3.0)
    assert layer.take_sends() == []
    assert layer.take_events() == []

    assert run_timers(layer, 1000.0) == [(1.0 + TIMEOUT, [])]
    assert layer.take_events() == []
    assert layer.transaction_count == 0
    layer.receive(invite_response("200 OK"), BOB, "udp", 40.0)
    assert [type(e) for e in layer.take_events()] == [MessageDropped]


# -- non-INVITE client (RFC 3261 §17.1.2) ------------------------------------------------------


def test_non_invite_client_timer_e_doubles_up_to_t2_until_timer_f() -> None:
    layer, key = start_client(UAC_OPTIONS)
    assert sent_lines(layer) == [OPTIONS_LINE]
    assert layer.next_deadline() == T1

    fired = run_timers(layer, TIMEOUT - 0.01)
    times = [t for t, _ in fired]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    intervals = [b - a for a, b in itertools.pairwise([0.0, *times])]
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(lines == [OPTIONS_LINE] for _, lines in fired)

    assert layer.next_deadline() == TIMEOUT
    layer.handle_timer(TIMEOUT)
    assert layer.take_sends() == []
    assert layer.take_events() == [TransactionTimedOut(transaction=key, timer=Timer.F)]
    assert layer.transaction_count == 0


def test_non_invite_client_timer_e_is_t2_in_proceeding() -> None:
    layer, key = start_client(UAC_OPTIONS)
    layer.take_sends()
    assert run_timers(layer, T1) == [(0.5, [OPTIONS_LINE])]

    layer.receive(options_response("100 Trying"), BOB, "udp", 0.6)
    assert layer.take_events() == [
        ResponseReceived(response=parse_response(options_response("100 Trying")), transaction=key)
    ]
    fired = run_timers(layer, TIMEOUT - 0.01)
    assert fired == [(t, [OPTIONS_LINE]) for t in (1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5)]

    # Timer F still runs in Proceeding (§17.1.2.2).
    assert run_timers(layer, TIMEOUT) == [(TIMEOUT, [])]
    assert layer.take_events() == [TransactionTimedOut(transaction=key, timer=Timer.F)]


def test_non_invite_client_over_tcp_never_retransmits_but_times_out_on_timer_f() -> None:
    layer, key = start_client(UAC_OPTIONS, "tcp")
    assert sent_lines(layer) == [OPTIONS_LINE]
    assert run_timers(layer, 1000.0) == [(TIMEOUT, [])]
    assert layer.take_events() == [TransactionTimedOut(transaction=key, timer=Timer.F)]


@pytest.mark.parametrize(("transport", "timer_k"), [("udp", T4), ("tcp", 0.0)])
def test_non_invite_client_timer_k_absorbs_retransmitted_responses(
    transport: Transport, timer_k: float
) -> None:
    layer, key = start_client(UAC_OPTIONS, transport)
    layer.take_sends()
    final = over(options_response("200 OK"), transport)
    layer.receive(final, BOB, transport, 2.0)
    assert layer.take_events() == [
        ResponseReceived(response=parse_response(final), transaction=key)
    ]
    assert layer.next_deadline() == 2.0 + timer_k  # Timer E and F are gone in Completed

    layer.receive(final, BOB, transport, 2.0)
    layer.receive(over(options_response("100 Trying"), transport), BOB, transport, 2.0)
    assert layer.take_sends() == []
    assert layer.take_events() == []

    assert run_timers(layer, 1000.0) == [(2.0 + timer_k, [])]
    assert layer.take_events() == []
    assert layer.transaction_count == 0


# -- INVITE server (RFC 3261 §17.2.1, RFC 6026 §7.1) -------------------------------------------


def test_invite_server_sends_100_trying_at_once_and_passes_the_invite_up() -> None:
    layer = TransactionLayer()
    layer.receive(UAS_INVITE, ALICE, "udp", 0.0)

    [send] = layer.take_sends()
    assert (send.transport, send.destination) == ("udp", ALICE)
    trying = parse_response(send.data)
    assert trying.start_line() == "SIP/2.0 100 Trying"
    assert trying.headers.get("via") == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8"
    assert trying.to.tag is None  # §17.2.1: no To tag on the transaction's 100
    assert trying.headers.get("cseq") == "314159 INVITE"
    assert trying.call_id == "a84b4c76e66710@pc33.atlanta.example.com"

    [event] = layer.take_events()
    assert event == RequestReceived(
        request=parse_request(UAS_INVITE),
        transaction=("3261", "z9hG4bKnashds8", "192.0.2.10", "5060", "INVITE"),
        source=ALICE,
        transport="udp",
        cancels=None,
    )
    assert layer.next_deadline() is None  # Proceeding waits for the TU
    assert layer.transaction_count == 1


def test_invite_server_resends_the_last_provisional_for_a_retransmitted_invite() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.receive(UAS_INVITE, ALICE, "udp", 0.5)
    assert sent_lines(layer) == ["SIP/2.0 100 Trying"]

    assert layer.respond(key, make_response(request, 180, to_tag="bob-tag"), 1.0)
    assert sent_lines(layer) == ["SIP/2.0 180 Ringing"]
    layer.receive(UAS_INVITE, ALICE, "udp", 1.5)
    [send] = layer.take_sends()
    assert parse_response(send.data).to.tag == "bob-tag"
    assert send.destination == ALICE
    assert layer.take_events() == []  # retransmissions are absorbed, never passed up


def test_invite_server_retransmits_non_2xx_on_timer_g_until_timer_h() -> None:
    layer, key, request = start_server(UAS_INVITE)
    assert layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 1.0)
    assert sent_lines(layer) == ["SIP/2.0 486 Busy Here"]
    assert layer.next_deadline() == 1.0 + T1

    # Timer G: T1, 2T1, 4T1 ... capped at T2 (§17.2.1); Timer H at 64*T1.
    fired = run_timers(layer, 1.0 + TIMEOUT - 0.01)
    times = [t for t, _ in fired]
    assert times == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert all(lines == ["SIP/2.0 486 Busy Here"] for _, lines in fired)
    assert layer.take_events() == []

    assert layer.next_deadline() == 1.0 + TIMEOUT
    layer.handle_timer(1.0 + TIMEOUT)
    assert layer.take_sends() == []
    assert layer.take_events() == [AckTimedOut(transaction=key, timer=Timer.H)]
    assert layer.transaction_count == 0


def test_invite_server_resends_the_final_response_for_a_retransmitted_invite() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 1.0)
    layer.take_sends()
    layer.receive(UAS_INVITE, ALICE, "udp", 1.2)
    assert sent_lines(layer) == ["SIP/2.0 486 Busy Here"]
    assert layer.take_events() == []
    assert layer.next_deadline() == 1.5  # the retransmission left Timer G alone


def test_invite_retransmissions_leave_the_timer_g_schedule_alone() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 1.0)
    layer.take_sends()
    for _ in range(20):
        layer.receive(UAS_INVITE, ALICE, "udp", 1.2)
    assert len(layer.take_sends()) == 20
    # One wake-up per Timer G firing, one send each, then Timer H.
    fired = run_timers(layer, 1000.0)
    assert [t for t, _ in fired] == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5, 33.0]
    assert [len(lines) for _, lines in fired] == [1] * 10 + [0]


def test_invite_server_over_tcp_does_not_retransmit_non_2xx() -> None:
    layer, key, request = start_server(UAS_INVITE, "tcp")
    layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 1.0)
    assert sent_lines(layer) == ["SIP/2.0 486 Busy Here"]
    assert run_timers(layer, 1000.0) == [(1.0 + TIMEOUT, [])]
    assert layer.take_events() == [AckTimedOut(transaction=key, timer=Timer.H)]


@pytest.mark.parametrize(("transport", "timer_i"), [("udp", T4), ("tcp", 0.0)])
def test_invite_server_ack_confirms_and_timer_i_absorbs_ack_retransmissions(
    transport: Transport, timer_i: float
) -> None:
    layer, key, request = start_server(UAS_INVITE, transport)
    layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    if transport == "udp":
        assert run_timers(layer, T1) == [(T1, ["SIP/2.0 486 Busy Here"])]

    ack = over(UAS_NON_2XX_ACK, transport)
    layer.receive(ack, ALICE, transport, 0.7)
    assert layer.take_sends() == []
    assert layer.take_events() == []  # the ACK for a non-2xx stays in the transaction
    assert layer.next_deadline() == 0.7 + timer_i  # Confirmed: G and H are gone

    layer.receive(ack, ALICE, transport, 0.7 + timer_i / 2)
    layer.receive(over(UAS_INVITE, transport), ALICE, transport, 0.7 + timer_i / 2)
    assert layer.take_sends() == []
    assert layer.take_events() == []

    assert run_timers(layer, 1000.0) == [(0.7 + timer_i, [])]
    assert layer.take_events() == []
    assert layer.transaction_count == 0


def test_invite_server_retransmits_2xx_until_the_ack_arrives() -> None:
    layer, key, request = start_server(UAS_INVITE)
    ok = make_response(request, 200, to_tag="bob-tag")
    assert layer.respond(key, ok, 0.0)
    assert layer.take_sends() == [SendMessage(transport="udp", destination=ALICE, data=bytes(ok))]

    # §13.3.1.4: T1, doubling, capped at T2.
    assert run_timers(layer, 3.9) == [(t, ["SIP/2.0 200 OK"]) for t in (0.5, 1.5, 3.5)]

    # The ACK has its own branch: matched by Call-ID, CSeq number and From tag.
    layer.receive(UAS_2XX_ACK, ALICE, "udp", 4.0)
    assert layer.take_sends() == []
    assert layer.take_events() == [
        AckReceived(
            request=parse_request(UAS_2XX_ACK), source=ALICE, transport="udp", transaction=key
        )
    ]
    assert layer.next_deadline() == TIMEOUT  # only Timer L is left

    layer.receive(UAS_INVITE, ALICE, "udp", 5.0)  # absorbed in Accepted (RFC 6026 §7.1)
    assert run_timers(layer, 1000.0) == [(TIMEOUT, [])]
    assert layer.take_events() == []
    assert layer.transaction_count == 0


def test_invite_server_2xx_retransmission_interval_is_capped_at_t2() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    times = [t for t, _ in run_timers(layer, TIMEOUT - 0.01)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_invite_server_without_ack_for_2xx_times_out_on_timer_l(transport: Transport) -> None:
    layer, key, request = start_server(UAS_INVITE, transport)
    layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    fired = run_timers(layer, 1000.0)
    assert fired[-1] == (TIMEOUT, [])
    assert all(lines == ["SIP/2.0 200 OK"] for _, lines in fired[:-1])
    assert layer.take_events() == [AckTimedOut(transaction=key, timer=Timer.L)]
    assert layer.transaction_count == 0


def test_invite_server_absorbs_invite_retransmissions_in_accepted() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    layer.receive(UAS_INVITE, ALICE, "udp", 0.2)
    assert layer.take_sends() == []
    assert layer.take_events() == []
    assert layer.transaction_count == 1


def test_invite_server_sends_nothing_but_further_2xx_after_its_final_response() -> None:
    layer, key, request = start_server(UAS_INVITE)
    assert layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    assert not layer.respond(key, make_response(request, 180, to_tag="bob-tag"), 0.1)
    assert not layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 0.1)
    assert layer.take_sends() == []
    # RFC 6026 Figure 7: a 2xx from the TU in Accepted is still sent (a proxy forwarding forks)
    assert layer.respond(key, make_response(request, 200, to_tag="other-tag"), 0.2)
    assert sent_lines(layer) == ["SIP/2.0 200 OK"]


def test_invite_server_respond_after_non_2xx_reports_nothing_sent() -> None:
    layer, key, request = start_server(UAS_INVITE)
    assert layer.respond(key, make_response(request, 486, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    assert not layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.1)
    assert layer.take_sends() == []


def test_ack_for_2xx_from_another_dialog_is_not_matched_and_retransmissions_go_on() -> None:
    layer, key, request = start_server(UAS_INVITE)
    layer.respond(key, make_response(request, 200, to_tag="bob-tag"), 0.0)
    layer.take_sends()
    other = UAS_2XX_ACK.replace(b"tag=1928301774", b"tag=someone-else")
    layer.receive(other, ALICE, "udp", 0.2)
    [event] = layer.take_events()
    assert isinstance(event, AckReceived)
    assert event.transaction is None
    assert run_timers(layer, T1) == [(T1, ["SIP/2.0 200 OK"])]


# -- non-INVITE server (RFC 3261 §17.2.2) ------------------------------------------------------


def test_non_invite_server_is_silent_on_retransmission_in_trying() -> None:
    layer = TransactionLayer()
    layer.receive(UAS_OPTIONS, ALICE, "udp", 0.0)
    assert layer.take_sends() == []  # no 100 for non-INVITE (RFC 4320)
    assert [type(e) for e in layer.take_events()] == [RequestReceived]
    assert layer.next_deadline() is None

    layer.receive(UAS_OPTIONS, ALICE, "udp", 0.5)
    assert layer.take_sends() == []
    assert layer.take_events() == []
    assert layer.transaction_count == 1


def test_non_invite_server_resends_the_last_provisional_in_proceeding() -> None:
    layer, key, request = start_server(UAS_OPTIONS)
    layer.respond(key, make_response(request, 100), 0.1)
    assert sent_lines(layer) == ["SIP/2.0 100 Trying"]
    layer.receive(UAS_OPTIONS, ALICE, "udp", 0.5)
    assert sent_lines(layer) == ["SIP/2.0 100 Trying"]
    assert layer.take_events() == []


@pytest.mark.parametrize(("transport", "timer_j"), [("udp", TIMEOUT), ("tcp", 0.0)])
def test_non_invite_server_resends_final_response_until_timer_j(
    transport: Transport, timer_j: float
) -> None:
    layer, key, request = start_server(UAS_OPTIONS, transport)
    ok = make_response(request, 200, to_tag="bob-tag")
    assert layer.respond(key, ok, 1.0)
    assert layer.take_sends() == [
        SendMessage(transport=transport, destination=ALICE, data=bytes(ok))
    ]
    assert layer.next_deadline() == 1.0 + timer_j

    if timer_j:
        layer.receive(over(UAS_OPTIONS, transport), ALICE, transport, 2.0)
        assert layer.take_sends() == [
            SendMessage(transport=transport, destination=ALICE, data=bytes(ok))
        ]
        assert layer.take_events() == []
        # A second final response from the TU is not sent (§17.2.2: Completed).
        layer.respond(key, make_response(request, 500, to_tag="bob-tag"), 2.0)
        assert layer.take_sends() == []

    assert run_timers(layer, 1000.0) == [(1.0 + timer_j, [])]
    assert layer.transaction_count == 0
    assert not layer.respond(key, ok, 50.0)

    # After Timer J the same request is new again.
    layer.receive(over(UAS_OPTIONS, transport), ALICE, transport, 50.0)
    assert [type(e) for e in layer.take_events()] == [RequestReceived]


# -- matching (RFC 3261 §17.1.3, §17.2.3, §9.2) ------------------------------------------------


def test_response_to_cancel_goes_to_the_cancel_transaction_not_the_invite() -> None:
    layer, invite_key = start_client(UAC_INVITE)
    layer.receive(invite_response("180 Ringing"), BOB, "udp", 0.2)
    cancel_key = layer.send_request(parse_request(UAC_CANCEL), BOB, "udp", 1.0)
    assert cancel_key == (UAC_BRANCH, "CANCEL")
    layer.take_sends()
    layer.take_events()

    layer.receive(invite_response("200 OK", cseq="1 CANCEL"), BOB, "udp", 1.1)
    assert layer.take_sends() == []  # a 200 to CANCEL is never ACKed
    [event] = layer.take_events()
    assert isinstance(event, ResponseReceived)
    assert event.transaction == cancel_key

    layer.receive(invite_response("487 Request Terminated"), BOB, "udp", 1.2)
    assert sent_lines(layer) == ["ACK sip:bob@biloxi.example.com SIP/2.0"]
    [event] = layer.take_events()
    assert isinstance(event, ResponseReceived)
    assert (event.transaction, event.response.status_code) == (invite_key, 487)


@pytest.mark.parametrize(
    "response",
    [
        invite_response("200 OK", branch="z9hG4bKunknown"),
        invite_response("200 OK", cseq="1 BYE"),
        invite_response("200 OK", branch="z9hG4bK74bf9x"),
    ],
    ids=["unknown-branch", "same-branch-other-method", "branch-prefix"],
)
def test_stray_response_is_dropped_and_nothing_is_sent(response: bytes) -> None:
    layer, _ = start_client(UAC_INVITE)
    layer.take_sends()
    layer.receive(response, ("203.0.113.9", 5060), "udp", 0.1)
    assert layer.take_sends() == []
    assert layer.take_events() == [
        MessageDropped(
            source=("203.0.113.9", 5060),
            transport="udp",
            reason="stray response",
            call_id="3848276298220188511@atlanta.example.com",
        )
    ]
    # The INVITE transaction did not notice: Timer A still fires.
    assert run_timers(layer, T1) == [(T1, [INVITE_LINE])]


def test_cancel_gets_its_own_server_transaction_naming_the_invite() -> None:
    layer, invite_key, invite = start_server(UAS_INVITE)
    layer.receive(UAS_CANCEL, ALICE, "udp", 1.0)
    assert layer.take_sends() == []  # no 100 for CANCEL: it is a non-INVITE
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.request.method == "CANCEL"
    assert event.cancels == invite_key
    assert event.transaction != invite_key
    assert layer.transaction_count == 2

    cancel = event.request
    assert layer.respond(event.transaction, make_response(cancel, 200, to_tag="bob-tag"), 1.0)
    assert layer.respond(invite_key, make_response(invite, 487, to_tag="bob-tag"), 1.0)
    sent = [parse_response(s.data) for s in layer.take_sends()]
    assert [(r.status_code, r.headers.get("cseq")) for r in sent] == [
        (200, "314159 CANCEL"),
        (487, "314159 INVITE"),
    ]


@pytest.mark.parametrize(
    ("invite", "cancel"),
    [
        (None, UAS_CANCEL),
        (UAS_INVITE, UAS_CANCEL.replace(b"z9hG4bKnashds8", b"z9hG4bKother")),
        (UAS_INVITE, UAS_CANCEL.replace(b"192.0.2.10:5060;", b"192.0.2.10:5070;")),
    ],
    ids=["no-invite-at-all", "other-branch", "other-sent-by"],
)
def test_cancel_that_matches_no_invite_names_none(invite: bytes | None, cancel: bytes) -> None:
    layer = TransactionLayer()
    if invite is not None:
        layer.receive(invite, ALICE, "udp", 0.0)
        layer.take_events()
    layer.receive(cancel, ALICE, "udp", 1.0)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.request.method == "CANCEL"
    assert event.cancels is None


def test_cancel_after_the_invite_transaction_ended_names_none() -> None:
    layer, invite_key, invite = start_server(UAS_INVITE, "tcp")
    layer.respond(invite_key, make_response(invite, 486, to_tag="bob-tag"), 0.0)
    layer.receive(over(UAS_NON_2XX_ACK, "tcp"), ALICE, "tcp", 0.1)
    layer.handle_timer(0.1)  # Timer I = 0 on TCP
    layer.take_events()
    layer.receive(over(UAS_CANCEL, "tcp"), ALICE, "tcp", 0.2)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.cancels is None


@pytest.mark.parametrize(
    "via",
    [
        "SIP/2.0/UDP 192.0.2.10:5060",
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK",
        "SIP/2.0/UDP 192.0.2.10:5060;branch=1234abcd",
    ],
    ids=["no-branch", "bare-cookie", "no-cookie"],
)
def test_rfc_2543_request_and_its_retransmission_match_one_transaction(via: str) -> None:
    invite = UAS_INVITE.replace(b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8", via.encode())
    layer = TransactionLayer()
    layer.receive(invite, ALICE, "udp", 0.0)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    key = event.transaction
    assert key[0] == "2543"
    assert sent_lines(layer) == ["SIP/2.0 100 Trying"]

    layer.receive(invite, ALICE, "udp", 0.5)
    assert layer.take_events() == []
    assert sent_lines(layer) == ["SIP/2.0 100 Trying"]
    assert layer.transaction_count == 1

    # The ACK for a non-2xx matches too (same Request-URI, Via, Call-ID, From tag, CSeq number).
    layer.respond(key, make_response(event.request, 486, to_tag="bob-tag"), 1.0)
    layer.take_sends()
    ack = UAS_NON_2XX_ACK.replace(
        b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8", via.encode()
    )
    layer.receive(ack, ALICE, "udp", 1.2)
    assert layer.take_events() == []
    assert layer.next_deadline() == 1.2 + T4  # Confirmed: Timer I

    # A new CSeq is a new request, so a new transaction.
    layer.receive(invite.replace(b"314159 INVITE", b"314160 INVITE"), ALICE, "udp", 2.0)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.transaction != key
    assert layer.transaction_count == 2


@pytest.mark.parametrize(
    ("via", "source", "stamped"),
    [
        (
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKs1",
            ("192.0.2.10", 5060),
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKs1",
        ),
        (
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKs1",
            ("198.51.100.7", 5060),
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKs1;received=198.51.100.7",
        ),
        (
            "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKs1",
            ("192.0.2.10", 5060),
            "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKs1;received=192.0.2.10",
        ),
        (
            "SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKs1",
            ("192.0.2.10", 41000),
            "SIP/2.0/UDP 192.0.2.10:5060;rport=41000;branch=z9hG4bKs1;received=192.0.2.10",
        ),
        (
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKs1;rport",
            ("203.0.113.4", 62000),
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKs1;rport=62000;received=203.0.113.4",
        ),
    ],
    ids=["same-address", "other-address", "hostname", "rport-same-host", "rport-behind-nat"],
)
def test_top_via_is_stamped_with_received_and_rport(
    via: str, source: Address, stamped: str
) -> None:
    invite = UAS_INVITE.replace(
        b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8",
        f"Via: {via}, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKlower".encode(),
    )
    layer = TransactionLayer()
    layer.receive(invite, source, "udp", 0.0)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.request.headers.get_all("via") == [
        f"{stamped}, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKlower"
    ]
    # The 100 Trying carries the stamped Via and goes back to the real source (RFC 3581 §4).
    [send] = layer.take_sends()
    assert send.destination == source
    assert parse_response(send.data).headers.get_all("via") == event.request.headers.get_all("via")


# -- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "fault"),
    [
        (
            UAS_OPTIONS.replace(b"Call-ID: opts-77@atlanta.example.com\r\n", b""),
            400,
            "missing Call-ID header",
        ),
        (
            UAS_OPTIONS.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"),
            400,
            "CSeq method 'INVITE' does not match request method 'OPTIONS'",
        ),
        (
            UAS_OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards: seventy"),
            400,
            "Max-Forwards",
        ),
        (
            UAS_OPTIONS.replace(b"Max-Forwards: 70", b"this line has no colon"),
            400,
            "malformed header line",
        ),
        (
            UAS_OPTIONS.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 OPTIONS\r\nCSeq: 1 OPTIONS"),
            400,
            "CSeq appears 2 times",
        ),
        (UAS_OPTIONS.replace(b"20 SIP/2.0", b"20 SIP/3.0"), 505, "Version Not Supported"),
    ],
    ids=["missing-call-id", "cseq-method", "max-forwards", "header-line", "two-cseq", "version"],
)  # fmt: skip
def test_malformed_request_gets_a_stateless_error_response_naming_the_fault(
    data: bytes, status: int, fault: str
) -> None:
    layer = TransactionLayer()
    layer.receive(data, ALICE, "udp", 0.0)
    [send] = layer.take_sends()
    assert send.destination == ALICE
    response = parse_response(send.data)
    assert response.status_code == status
    assert fault in response.reason
    assert response.headers.get("via") == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopts77"
    [event] = layer.take_events()
    assert isinstance(event, MessageDropped)
    assert (event.source, event.transport) == (ALICE, "udp")
    assert layer.transaction_count == 0
    assert layer.next_deadline() is None


@pytest.mark.parametrize(
    "data",
    [
        UAS_NON_2XX_ACK.replace(b"CSeq: 314159 ACK", b"CSeq: 314159 INVITE"),
        UAS_NON_2XX_ACK.replace(b"Max-Forwards: 70", b"this line has no colon"),
        UAS_OPTIONS.replace(b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopts77\r\n", b""),
    ],
    ids=["ack-bad-cseq", "ack-unparsable", "request-without-via"],
)
def test_malformed_request_that_cannot_be_answered_is_only_dropped(data: bytes) -> None:
    # An ACK is never answered (RFC 3261 §17.1.1.3: it cannot be rejected), and a response
    # without Via (§8.2.6.2) would be invalid itself.
    layer = TransactionLayer()
    layer.receive(data, ALICE, "udp", 0.0)
    assert layer.take_sends() == []
    assert [type(e) for e in layer.take_events()] == [MessageDropped]


@pytest.mark.parametrize(
    "data",
    [
        invite_response("200 OK").replace(
            b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;received=192.0.2.10\r\n", b""
        ),
        invite_response("200 OK").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"),
        invite_response("200 OK").replace(b"SIP/2.0 200 OK", b"SIP/2.0 99 Too Low"),
        invite_response("200 OK").replace(b"Call-ID: ", b"Call-ID "),
        invite_response("200 OK").replace(b"From: ", b"From: <<<"),
    ],
    ids=["no-via", "bad-cseq", "bad-status", "unparsable-header", "bad-from"],
)
def test_malformed_response_is_dropped_silently(data: bytes) -> None:
    layer, _ = start_client(UAC_INVITE)
    layer.take_sends()
    layer.receive(data, BOB, "udp", 0.1)
    assert layer.take_sends() == []
    [event] = layer.take_events()
    assert isinstance(event, MessageDropped)
    assert event.source == BOB
    assert layer.transaction_count == 1
    assert run_timers(layer, T1) == [(T1, [INVITE_LINE])]  # the INVITE is unaffected


@pytest.mark.parametrize(
    "host", ["255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0", "ff02::1"]
)
def test_sends_to_broadcast_or_multicast_are_refused(host: str) -> None:
    destination = (host, 5060)
    layer, _ = start_client(UAC_OPTIONS, destination=destination)
    assert layer.take_sends() == []
    assert layer.take_events() == [
        MessageDropped(
            source=destination, transport="udp", reason="refused to send to this address"
        )
    ]
    layer.handle_timer(T1)  # a retransmission is refused as well
    assert layer.take_sends() == []
    assert [type(e) for e in layer.take_events()] == [MessageDropped]

    layer.send_stateless(parse_request(UAC_OPTIONS), destination, "udp")
    assert layer.take_sends() == []
    assert [type(e) for e in layer.take_events()] == [MessageDropped]


def test_request_from_a_multicast_source_gets_no_100_trying() -> None:
    layer = TransactionLayer()
    layer.receive(UAS_INVITE, ("224.0.1.75", 5060), "udp", 0.0)
    assert layer.take_sends() == []
    events = layer.take_events()
    assert [type(e) for e in events] == [RequestReceived, MessageDropped]


def test_send_stateless_sends_once_without_a_transaction() -> None:
    layer = TransactionLayer()
    ack = parse_request(UAS_2XX_ACK)
    layer.send_stateless(ack, BOB, "udp")
    assert layer.take_sends() == [SendMessage(transport="udp", destination=BOB, data=bytes(ack))]
    assert layer.transaction_count == 0
    assert layer.next_deadline() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (UAS_2XX_ACK, "ACK for a 2xx is sent with send_stateless"),
        (UAC_OPTIONS.replace(b";branch=z9hG4bKopt1", b";branch=abc"), "RFC 3261 branch"),
        (UAC_OPTIONS.replace(b";branch=z9hG4bKopt1", b""), "RFC 3261 branch"),
    ],
    ids=["ack", "no-cookie", "no-branch"],
)
def test_send_request_refuses_misuse(data: bytes, message: str) -> None:
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError, match=message):
        layer.send_request(parse_request(data), BOB, "udp", 0.0)
    assert layer.take_sends() == []
    assert layer.transaction_count == 0


def test_send_request_refuses_a_second_transaction_with_the_same_key() -> None:
    layer, _ = start_client(UAC_OPTIONS)
    with pytest.raises(LocalProtocolError, match="already exists"):
        layer.send_request(parse_request(UAC_OPTIONS), BOB, "udp", 0.1)
    assert layer.transaction_count == 1


def test_respond_to_an_unknown_transaction_returns_false() -> None:
    layer = TransactionLayer()
    response = make_response(parse_request(UAS_OPTIONS), 200)
    assert not layer.respond(("3261", "z9hG4bKnone", "192.0.2.10", "5060", "OPTIONS"), response, 0)
    assert layer.take_sends() == []


def test_timer_settings_scale_every_timer() -> None:
    layer = TransactionLayer(timers=TimerSettings(t1=0.1, t2=0.3, t4=1.0))
    layer.send_request(parse_request(UAC_OPTIONS), BOB, "udp", 0.0)
    layer.take_sends()
    times = [t for t, _ in run_timers(layer, 6.39)]
    assert times[:5] == pytest.approx([0.1, 0.3, 0.6, 0.9, 1.2])
    assert layer.next_deadline() == pytest.approx(6.4)  # Timer F = 64*T1


# -- every (machine, state, input) pair (h2's test_state_machines.py) --------------------------

S = TransactionState
Machine: TypeAlias = (
    ClientInviteTransaction
    | ClientNonInviteTransaction
    | ServerInviteTransaction
    | ServerNonInviteTransaction
)
TIMERS = TimerSettings()
FAR = 1000.0


def _client_response(kind: str, non_invite: bool) -> Response:
    if non_invite:
        status = {"1xx": "100 Trying", "2xx": "200 OK", "2xx-fork": "200 OK"}.get(kind, "404 Nope")
        return parse_response(options_response(status))
    status = {"1xx": "180 Ringing", "2xx": "200 OK", "2xx-fork": "200 OK"}.get(kind, "486 Busy")
    to_tag = "fork-2" if kind == "2xx-fork" else "8321234356"
    return parse_response(invite_response(status, to_tag=to_tag))


CLIENT_INPUTS = ("1xx", "2xx", "2xx-fork", "3xx-6xx", "next-timer", "all-timers")
SERVER_REPLIES = {"respond-1xx": 180, "respond-2xx": 200, "respond-3xx-6xx": 486}
SERVER_INPUTS = ("request", *SERVER_REPLIES, "next-timer", "all-timers")
INVITE_SERVER_INPUTS = (*SERVER_INPUTS, "ack", "2xx-ack")


def _apply(machine: Machine, name: str, outbox: Outbox) -> None:
    """Feed the input called ``name`` to ``machine`` at t = 1.0 (a timer: at its deadline)."""
    now = 1.0
    if name == "next-timer":
        deadline = machine.next_deadline()
        machine.handle_timer(deadline if deadline is not None else now, outbox)
    elif name == "all-timers":
        machine.handle_timer(FAR, outbox)
    elif isinstance(machine, ClientInviteTransaction | ClientNonInviteTransaction):
        non_invite = isinstance(machine, ClientNonInviteTransaction)
        machine.receive_response(_client_response(name, non_invite), now, outbox)
    elif name in SERVER_REPLIES:
        response = make_response(machine.request, SERVER_REPLIES[name], to_tag="bob-tag")
        machine.respond(response, now, outbox)
    elif name == "request":
        machine.receive_request(machine.request, now, outbox)
    elif name == "ack":
        machine.receive_request(parse_request(UAS_NON_2XX_ACK), now, outbox)
    else:
        assert name == "2xx-ack"
        assert isinstance(machine, ServerInviteTransaction)
        machine.receive_2xx_ack(now)


def _new(kind: str, transport: Transport) -> Machine:
    outbox = Outbox()
    machine: Machine
    if kind == "client-invite":
        machine = ClientInviteTransaction(
            (UAC_BRANCH, "INVITE"),
            parse_request(UAC_INVITE),
            transport=transport,
            destination=BOB,
            timers=TIMERS,
        )
        machine.start(0.0, outbox)
    elif kind == "client-non-invite":
        machine = ClientNonInviteTransaction(
            ("z9hG4bKopt1", "OPTIONS"),
            parse_request(UAC_OPTIONS),
            transport=transport,
            destination=BOB,
            timers=TIMERS,
        )
        machine.start(0.0, outbox)
    elif kind == "server-invite":
        machine = ServerInviteTransaction(
            ("3261", "z9hG4bKnashds8", "192.0.2.10", "5060", "INVITE"),
            parse_request(UAS_INVITE),
            transport=transport,
            source=ALICE,
            timers=TIMERS,
        )
    else:
        machine = ServerNonInviteTransaction(
            ("3261", "z9hG4bKopts77", "192.0.2.10", "5060", "OPTIONS"),
            parse_request(UAS_OPTIONS),
            transport=transport,
            source=ALICE,
            timers=TIMERS,
        )
    return machine


# How to reach each state from a new machine: a list of inputs.
PATHS: dict[str, dict[TransactionState, list[str]]] = {
    "client-invite": {
        S.CALLING: [],
        S.PROCEEDING: ["1xx"],
        S.ACCEPTED: ["2xx"],
        S.COMPLETED: ["3xx-6xx"],
        S.TERMINATED: ["3xx-6xx", "all-timers"],
    },
    "client-non-invite": {
        S.TRYING: [],
        S.PROCEEDING: ["1xx"],
        S.COMPLETED: ["2xx"],
        S.TERMINATED: ["2xx", "all-timers"],
    },
    "server-invite": {
        S.PROCEEDING: [],
        S.ACCEPTED: ["respond-2xx"],
        S.COMPLETED: ["respond-3xx-6xx"],
        S.CONFIRMED: ["respond-3xx-6xx", "ack"],
        S.TERMINATED: ["respond-3xx-6xx", "all-timers"],
    },
    "server-non-invite": {
        S.TRYING: [],
        S.PROCEEDING: ["respond-1xx"],
        S.COMPLETED: ["respond-2xx"],
        S.TERMINATED: ["respond-2xx", "all-timers"],
    },
}

# (machine, state) -> (next state for any input not listed, {input: next state}), over UDP.
# RFC 3261 Figures 5-8 with RFC 6026 Figure 5 (client INVITE) and Figure 7 (server INVITE).
TRANSITIONS: dict[tuple[str, TransactionState], tuple[TransactionState, dict[str, S]]] = {
    ("client-invite", S.CALLING): (
        S.CALLING,
        {
            "1xx": S.PROCEEDING,
            "2xx": S.ACCEPTED,
            "2xx-fork": S.ACCEPTED,
            "3xx-6xx": S.COMPLETED,
            "all-timers": S.TERMINATED,  # Timer B
        },
    ),
    ("client-invite", S.PROCEEDING): (
        S.PROCEEDING,
        {"2xx": S.ACCEPTED, "2xx-fork": S.ACCEPTED, "3xx-6xx": S.COMPLETED},
    ),
    ("client-invite", S.ACCEPTED): (
        S.ACCEPTED,
        {"next-timer": S.TERMINATED, "all-timers": S.TERMINATED},  # Timer M
    ),
    ("client-invite", S.COMPLETED): (
        S.COMPLETED,
        {"next-timer": S.TERMINATED, "all-timers": S.TERMINATED},  # Timer D
    ),
    ("client-invite", S.TERMINATED): (S.TERMINATED, {}),
    ("client-non-invite", S.TRYING): (
        S.COMPLETED,
        {"1xx": S.PROCEEDING, "next-timer": S.TRYING, "all-timers": S.TERMINATED},
    ),
    ("client-non-invite", S.PROCEEDING): (
        S.COMPLETED,
        {"1xx": S.PROCEEDING, "next-timer": S.PROCEEDING, "all-timers": S.TERMINATED},
    ),
    ("client-non-invite", S.COMPLETED): (
        S.COMPLETED,
        {"next-timer": S.TERMINATED, "all-timers": S.TERMINATED},  # Timer K
    ),
    ("client-non-invite", S.TERMINATED): (S.TERMINATED, {}),
    ("server-invite", S.PROCEEDING): (
        S.PROCEEDING,
        {"respond-2xx": S.ACCEPTED, "respond-3xx-6xx": S.COMPLETED},
    ),
    ("server-invite", S.ACCEPTED): (S.ACCEPTED, {"all-timers": S.TERMINATED}),  # Timer L
    ("server-invite", S.COMPLETED): (
        S.COMPLETED,
        {"ack": S.CONFIRMED, "all-timers": S.TERMINATED},  # Timer H
    ),
    ("server-invite", S.CONFIRMED): (
        S.CONFIRMED,
        {"next-timer": S.TERMINATED, "all-timers": S.TERMINATED},  # Timer I
    ),
    ("server-invite", S.TERMINATED): (S.TERMINATED, {}),
    ("server-non-invite", S.TRYING): (
        S.TRYING,
        {"respond-1xx": S.PROCEEDING, "respond-2xx": S.COMPLETED, "respond-3xx-6xx": S.COMPLETED},
    ),
    ("server-non-invite", S.PROCEEDING): (
        S.PROCEEDING,
        {"respond-2xx": S.COMPLETED, "respond-3xx-6xx": S.COMPLETED},
    ),
    ("server-non-invite", S.COMPLETED): (
        S.COMPLETED,
        {"next-timer": S.TERMINATED, "all-timers": S.TERMINATED},  # Timer J
    ),
    ("server-non-invite", S.TERMINATED): (S.TERMINATED, {}),
}

RESPONSES = ("1xx", "2xx", "2xx-fork", "3xx-6xx")
# (machine, state, input) -> the events handed up, over UDP; every other pair hands up nothing.
EVENTS: dict[tuple[str, TransactionState, str], list[type[Event]]] = {
    **{
        (kind, state, name): [ResponseReceived]
        for kind, state in [
            ("client-invite", S.CALLING),
            ("client-invite", S.PROCEEDING),
            ("client-non-invite", S.TRYING),
            ("client-non-invite", S.PROCEEDING),
        ]
        for name in RESPONSES
    },
    ("client-invite", S.ACCEPTED, "2xx"): [ResponseReceived],  # RFC 6026 §8.4
    ("client-invite", S.ACCEPTED, "2xx-fork"): [ResponseReceived],
    ("client-invite", S.CALLING, "all-timers"): [TransactionTimedOut],  # B
    ("client-non-invite", S.TRYING, "all-timers"): [TransactionTimedOut],  # F
    ("client-non-invite", S.PROCEEDING, "all-timers"): [TransactionTimedOut],  # F
    ("server-invite", S.ACCEPTED, "all-timers"): [AckTimedOut],  # L
    ("server-invite", S.COMPLETED, "all-timers"): [AckTimedOut],  # H
}

# Over TCP/TLS the retransmission timers do not run, so the next timer is the timeout.
TCP_CHANGES: dict[tuple[str, TransactionState, str], tuple[S, list[type[Event]]]] = {
    ("client-invite", S.CALLING, "next-timer"): (S.TERMINATED, [TransactionTimedOut]),  # B
    ("client-non-invite", S.TRYING, "next-timer"): (S.TERMINATED, [TransactionTimedOut]),  # F
    ("client-non-invite", S.PROCEEDING, "next-timer"): (S.TERMINATED, [TransactionTimedOut]),
    ("server-invite", S.COMPLETED, "next-timer"): (S.TERMINATED, [AckTimedOut]),  # H, no G
}


def _inputs(kind: str) -> tuple[str, ...]:
    if kind.startswith("client"):
        return CLIENT_INPUTS
    return INVITE_SERVER_INPUTS if kind == "server-invite" else SERVER_INPUTS


CASES = [
    pytest.param(kind, state, name, transport, id=f"{kind}-{state.name}-{name}-{transport}")
    for kind, paths in PATHS.items()
    for state in paths
    for name in _inputs(kind)
    for transport in ("udp", "tcp")
]


def test_transition_table_covers_every_reachable_state() -> None:
    assert {(kind, state) for kind, paths in PATHS.items() for state in paths} == set(TRANSITIONS)
    for kind, state, name in [*EVENTS, *TCP_CHANGES]:
        assert name in _inputs(kind)
        assert state in PATHS[kind]
    assert len(CASES) == 2 * sum(len(PATHS[k]) * len(_inputs(k)) for k in PATHS)


@pytest.mark.parametrize(("kind", "state", "name", "transport"), CASES)
def test_every_state_and_input_pair(
    kind: str, state: TransactionState, name: str, transport: Transport
) -> None:
    machine = _new(kind, transport)
    for step in PATHS[kind][state]:
        _apply(machine, step, Outbox())
    assert machine.state is state

    outbox = Outbox()
    _apply(machine, name, outbox)  # no exception escapes

    default, moves = TRANSITIONS[kind, state]
    expected_state = moves.get(name, default)
    expected_events = EVENTS.get((kind, state, name), [])
    if transport == "tcp":
        expected_state, expected_events = TCP_CHANGES.get(
            (kind, state, name), (expected_state, expected_events)
        )
    assert machine.state is expected_state
    assert [type(event) for event in outbox.events] == expected_events
    for send in outbox.sends:
        assert (send.transport, send.destination) == (transport, machine.peer)
    if machine.terminated:
        assert machine.next_deadline() is None
    if state is S.TERMINATED:
        assert outbox.sends == []


def test_client_invite_machine_reports_timer_b_once() -> None:
    machine = _new("client-invite", "udp")
    outbox = Outbox()
    machine.handle_timer(FAR, outbox)
    machine.handle_timer(FAR * 2, outbox)
    assert outbox.events == [TransactionTimedOut(transaction=(UAC_BRANCH, "INVITE"), timer=Timer.B)]
