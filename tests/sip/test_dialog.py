"""Dialogs (RFC 3261 §12): creation, routing, CSeq rules, target refresh and termination."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharedline.sip.dialog import (
    TRANSITIONS,
    Dialog,
    DialogId,
    DialogInput,
    DialogState,
    OutOfOrderRequest,
    build_cancel,
    dialog_id_for_request,
    dialog_id_for_response,
)
from sharedline.sip.errors import BadHeader, CallDoesNotExist, LocalProtocolError
from sharedline.sip.headers import NameAddress
from sharedline.sip.ids import CountingIds
from sharedline.sip.message import Request, Response
from sharedline.sip.params import Parameters
from sharedline.sip.parser import parse_message
from sharedline.sip.responses import make_response
from sharedline.sip.uri import SipUri, parse_uri

LOCAL_CONTACT = "<sip:switch@198.51.100.1:5060>"


def lf2crlf(text: str) -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode()


def request(text: str) -> Request:
    message = parse_message(lf2crlf(text))
    assert isinstance(message, Request)
    return message


def response(text: str) -> Response:
    message = parse_message(lf2crlf(text))
    assert isinstance(message, Response)
    return message


def reparse(message: Request) -> Request:
    parsed = parse_message(bytes(message))
    assert isinstance(parsed, Request)
    parsed.validate()
    return parsed


# Our INVITE to Bob through two record-routing proxies, and his answers.
INVITE = request("""
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-inv1
Max-Forwards: 70
Route: <sip:p1.example.com;lr>
From: "Front Desk" <sip:desk@sharedline.example>;tag=a73kszlfl
To: <sip:bob@biloxi.example.com>
Call-ID: f81d4fae-7dec@198.51.100.1
CSeq: 101 INVITE
Contact: <sip:switch@198.51.100.1:5060>
Content-Length: 0

""")


def answer(
    status: str, *, to_tag: str = "314159", cseq: str = "101 INVITE", extra: str = ""
) -> str:
    return f"""
SIP/2.0 {status}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-inv1
Record-Route: <sip:p2.example.com;lr>
Record-Route: <sip:p1.example.com;lr>
From: "Front Desk" <sip:desk@sharedline.example>;tag=a73kszlfl
To: <sip:bob@biloxi.example.com>;tag={to_tag}
Call-ID: f81d4fae-7dec@198.51.100.1
CSeq: {cseq}
{extra}Content-Length: 0

"""


RINGING = response(answer("180 Ringing", extra="Contact: <sip:bob@192.0.2.4:5062>\n"))
OK = response(answer("200 OK", extra="Contact: <sip:bob@192.0.2.4:5062;transport=tcp>\n"))

# Alice's INVITE to us (we are the UAS), record-routed by two proxies.
INCOMING = request("""
INVITE sip:desk@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK-p2
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK-p1
Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-alice
Max-Forwards: 68
Record-Route: <sip:p2.example.com;lr>
Record-Route: <sip:p1.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: <sip:desk@sharedline.example>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@203.0.113.7:5060>
Content-Length: 0

""")


def in_dialog(method: str, cseq: int, *, contact: str = "") -> Request:
    """A request from Alice inside the dialog of INCOMING (our tag is tag-us)."""
    contact_line = f"Contact: {contact}\n" if contact else ""
    return request(f"""
{method} sip:switch@198.51.100.1:5060 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-{method.lower()}{cseq}
Max-Forwards: 70
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
To: <sip:desk@sharedline.example>;tag=tag-us
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: {cseq} {method}
{contact_line}Content-Length: 0

""")


def uac_dialog(first: Response = OK) -> Dialog:
    return Dialog.from_uac(INVITE, first, local_contact=LOCAL_CONTACT)


def uas_dialog(*, early: bool = False) -> Dialog:
    return Dialog.from_uas(INCOMING, local_tag="tag-us", local_contact=LOCAL_CONTACT, early=early)


def send(dialog: Dialog, method: str, **kwargs: Any) -> Request:
    routed = dialog.create_request(
        method, CountingIds(), via_host="198.51.100.1", via_port=5060, **kwargs
    )
    return routed.request


# -- creation -----------------------------------------------------------------------------------


def test_uac_dialog_from_180_is_early_with_record_route_reversed() -> None:
    dialog = uac_dialog(RINGING)
    assert dialog.state is DialogState.EARLY
    assert dialog.id == DialogId(
        call_id="f81d4fae-7dec@198.51.100.1", local_tag="a73kszlfl", remote_tag="314159"
    )
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4:5062"
    assert (dialog.local_seq, dialog.remote_seq) == (101, None)
    assert dialog.local.tag == "a73kszlfl"
    assert dialog.remote.tag == "314159"
    assert dialog.secure is False


def test_uac_dialog_from_2xx_is_confirmed() -> None:
    dialog = uac_dialog(OK)
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.remote_target.transport == "tcp"


def test_uac_dialog_is_secure_only_for_a_sips_request_uri_sent_over_tls() -> None:
    sips_invite = INVITE.replace(uri="sips:bob@biloxi.example.com")
    assert Dialog.from_uac(sips_invite, OK, local_contact=LOCAL_CONTACT, secure=True).secure
    assert not Dialog.from_uac(INVITE, OK, local_contact=LOCAL_CONTACT, secure=True).secure
    assert not Dialog.from_uac(sips_invite, OK, local_contact=LOCAL_CONTACT).secure


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        ("200 OK", ""),  # §13.3.1.4: a 2xx must carry a Contact
        ("183 Session Progress", ""),
        ("200 OK", "Contact: <tel:+15551234567>\n"),  # the target must be routable
        ("200 OK", "Contact: <sip:a@192.0.2.4>, <sip:b@192.0.2.5>\n"),
    ],
)
def test_uac_dialog_needs_one_sip_contact(status: str, extra: str) -> None:
    with pytest.raises(BadHeader):
        Dialog.from_uac(INVITE, response(answer(status, extra=extra)), local_contact="<sip:x@y>")


def test_uac_dialog_needs_a_to_tag() -> None:
    untagged = response(answer("180 Ringing", extra="Contact: <sip:b@192.0.2.4>\n"))
    untagged = untagged.replace(
        headers=untagged.headers.replaced("To", "<sip:bob@biloxi.example.com>")
    )
    with pytest.raises(BadHeader, match="To tag"):
        Dialog.from_uac(INVITE, untagged, local_contact=LOCAL_CONTACT)


def test_failure_response_creates_no_dialog() -> None:
    busy = response(answer("486 Busy Here", extra="Contact: <sip:b@192.0.2.4>\n"))
    with pytest.raises(LocalProtocolError):
        Dialog.from_uac(INVITE, busy, local_contact=LOCAL_CONTACT)


def test_uas_dialog_keeps_record_route_order_and_remote_cseq() -> None:
    dialog = uas_dialog()
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.id == DialogId(
        call_id="a84b4c76e66710@pc33.atlanta.example.com",
        local_tag="tag-us",
        remote_tag="1928301774",
    )
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:alice@203.0.113.7:5060"
    assert (dialog.local_seq, dialog.remote_seq) == (None, 314159)
    assert str(dialog.local) == "<sip:desk@sharedline.example>;tag=tag-us"
    assert dialog.remote.display_name == "Alice"
    assert uas_dialog(early=True).state is DialogState.EARLY


def test_uas_dialog_needs_a_from_tag_and_a_contact() -> None:
    no_tag = INCOMING.replace(
        headers=INCOMING.headers.replaced("From", "<sip:alice@atlanta.example.com>")
    )
    with pytest.raises(BadHeader, match="From tag"):
        Dialog.from_uas(no_tag, local_tag="t", local_contact=LOCAL_CONTACT)
    no_contact = INCOMING.replace(headers=INCOMING.headers.without("Contact"))
    with pytest.raises(BadHeader, match="Contact"):
        Dialog.from_uas(no_contact, local_tag="t", local_contact=LOCAL_CONTACT)


# -- requests we send ---------------------------------------------------------------------------


def test_bye_with_loose_route_set_targets_the_remote_contact() -> None:
    dialog = uac_dialog()
    routed = dialog.create_request(
        "BYE", CountingIds(), via_host="198.51.100.1", via_port=5060, transport="tcp"
    )
    bye = reparse(routed.request)
    assert bye.uri_text == "sip:bob@192.0.2.4:5062;transport=tcp"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert str(routed.next_hop) == "sip:p1.example.com;lr"
    assert routed.destination == ("p1.example.com", 5060)
    assert str(bye.top_via) == "SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK-1"
    assert str(bye.from_) == '"Front Desk" <sip:desk@sharedline.example>;tag=a73kszlfl'
    assert str(bye.to) == "<sip:bob@biloxi.example.com>;tag=314159"
    assert bye.call_id == "f81d4fae-7dec@198.51.100.1"
    assert str(bye.cseq) == "102 BYE"
    assert bye.max_forwards == 70
    assert "Contact" not in bye.headers  # BYE is not a target refresh
    assert bye.content_length == 0
    assert dialog.local_seq == 102


def test_without_route_set_the_request_goes_straight_to_the_remote_target() -> None:
    dialog = uac_dialog()
    dialog.route_set = ()
    routed = dialog.create_request("INFO", CountingIds(), via_host="h.example", via_port=5070)
    assert routed.request.uri_text == "sip:bob@192.0.2.4:5062;transport=tcp"
    assert "Route" not in routed.request.headers
    assert routed.destination == ("192.0.2.4", 5062)


def test_strict_first_route_becomes_request_uri_and_target_goes_last() -> None:
    strict = response(
        """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-inv1
Record-Route: <sip:p2.example.com;lr>
Record-Route: <sip:old.example.com;method=INVITE;transport=udp>
From: "Front Desk" <sip:desk@sharedline.example>;tag=a73kszlfl
To: <sip:bob@biloxi.example.com>;tag=314159
Call-ID: f81d4fae-7dec@198.51.100.1
CSeq: 101 INVITE
Contact: <sip:bob@192.0.2.4:5062>
Content-Length: 0

"""
    )
    dialog = uac_dialog(strict)
    routed = dialog.create_request("BYE", CountingIds(), via_host="198.51.100.1", via_port=5060)
    bye = reparse(routed.request)
    # §12.2.1.1: the method parameter is not allowed in a Request-URI (§19.1.1 Table 1)
    assert bye.uri_text == "sip:old.example.com;transport=udp"
    assert bye.headers.get_all("Route") == [
        "<sip:p2.example.com;lr>",
        "<sip:bob@192.0.2.4:5062>",
    ]
    assert str(routed.next_hop) == "sip:old.example.com;method=INVITE;transport=udp"


def test_reinvite_carries_contact_body_and_the_next_cseq() -> None:
    dialog = uac_dialog()
    sdp = b"v=0\r\n"
    reinvite = reparse(send(dialog, "INVITE", body=sdp, content_type="application/sdp"))
    assert reinvite.contacts[0].uri == parse_uri("sip:switch@198.51.100.1:5060")
    assert str(reinvite.cseq) == "102 INVITE"
    assert reinvite.headers.get("Content-Type") == "application/sdp"
    assert reinvite.body == sdp
    assert reinvite.content_length == len(sdp)
    update = reparse(send(dialog, "UPDATE"))
    assert str(update.cseq) == "103 UPDATE"
    assert update.headers.get("Contact") == LOCAL_CONTACT


def test_uas_side_starts_its_own_cseq_at_one() -> None:
    dialog = uas_dialog()
    bye = reparse(send(dialog, "BYE"))
    assert str(bye.cseq) == "1 BYE"
    assert str(bye.to) == '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'
    assert bye.from_.tag == "tag-us"
    assert bye.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert dialog.local_seq == 1


def test_ack_reuses_the_invite_number_with_a_new_branch() -> None:
    dialog = uac_dialog()
    routed = dialog.create_ack(101, CountingIds("ack"), via_host="198.51.100.1", via_port=5060)
    ack = reparse(routed.request)
    assert str(ack.cseq) == "101 ACK"
    assert ack.top_via.branch == "z9hG4bK-ack1"
    assert ack.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert "Contact" not in ack.headers
    assert dialog.local_seq == 101  # unchanged: the next request is still 102
    assert str(reparse(send(dialog, "BYE")).cseq) == "102 BYE"


def test_ack_can_be_sent_for_a_2xx_retransmitted_after_the_dialog_ended() -> None:
    dialog = uac_dialog()
    dialog.terminate()
    ack = dialog.create_ack(101, CountingIds(), via_host="198.51.100.1", via_port=5060)
    assert ack.request.method == "ACK"


@pytest.mark.parametrize(
    ("method", "state", "kwargs", "message"),
    [
        ("ACK", DialogState.CONFIRMED, {}, "create_ack"),
        ("CANCEL", DialogState.CONFIRMED, {}, "create_ack"),
        ("BYE", DialogState.TERMINATED, {}, "terminated"),
        ("INVITE", DialogState.EARLY, {}, "re-INVITE"),
        ("INFO", DialogState.CONFIRMED, {"body": b"x"}, "content_type"),
        ("INFO", DialogState.CONFIRMED, {"headers": [("CSeq", "1 INFO")]}, "CSeq"),
        ("INFO", DialogState.CONFIRMED, {"headers": [("l", "0")]}, "'l'"),
        ("INVITE", DialogState.CONFIRMED, {"headers": [("m", "<sip:x@y>")]}, "m"),
    ],
)
def test_misuse_raises_local_protocol_error_and_keeps_the_cseq(
    method: str, state: DialogState, kwargs: dict[str, Any], message: str
) -> None:
    dialog = uac_dialog()
    dialog.state = state
    with pytest.raises(LocalProtocolError, match=message):
        dialog.create_request(
            method,
            CountingIds(),
            via_host="198.51.100.1",
            via_port=5060,
            **kwargs,
        )
    assert dialog.local_seq == 101


def test_a_contact_header_may_be_added_to_non_refresh_requests() -> None:
    notify = send(uac_dialog(), "NOTIFY", headers=[("Contact", "<sip:n@198.51.100.1>")])
    assert notify.headers.get_all("Contact") == ["<sip:n@198.51.100.1>"]


# -- requests we receive ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "cseq", "accepted"),
    [
        ("INFO", 314158, False),  # lower: out of order
        ("INFO", 314159, False),  # equal: a retransmission the transaction layer missed
        ("INFO", 314160, True),
        ("ACK", 314159, True),  # the ACK for the INVITE carries its number
        ("ACK", 314158, True),  # ...and may trail a later request on UDP
    ],
)
def test_remote_cseq_must_increase(method: str, cseq: int, accepted: bool) -> None:
    dialog = uas_dialog()
    if accepted:
        dialog.receive_request(in_dialog(method, cseq))
        assert dialog.remote_seq == (cseq if method != "ACK" else 314159)
    else:
        with pytest.raises(OutOfOrderRequest) as caught:
            dialog.receive_request(in_dialog(method, cseq))
        assert (caught.value.status_code, caught.value.reason) == (500, "Server Internal Error")
        assert dialog.remote_seq == 314159
    assert dialog.state is DialogState.CONFIRMED


def test_first_remote_request_sets_an_empty_remote_seq() -> None:
    dialog = uac_dialog()
    bye = request("""
BYE sip:switch@198.51.100.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bK-bye
Max-Forwards: 70
From: <sip:bob@biloxi.example.com>;tag=314159
To: "Front Desk" <sip:desk@sharedline.example>;tag=a73kszlfl
Call-ID: f81d4fae-7dec@198.51.100.1
CSeq: 7 BYE
Content-Length: 0

""")
    dialog.receive_request(bye)
    assert dialog.remote_seq == 7
    assert dialog.state is DialogState.TERMINATED


def test_bye_terminates_and_later_requests_get_481() -> None:
    dialog = uas_dialog()
    dialog.receive_request(in_dialog("BYE", 314160))
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(CallDoesNotExist) as caught:
        dialog.receive_request(in_dialog("INFO", 314161))
    assert caught.value.status_code == 481


def test_reinvite_refreshes_the_remote_target_but_info_does_not() -> None:
    dialog = uas_dialog()
    dialog.receive_request(in_dialog("INVITE", 314160, contact="<sip:alice@203.0.113.99:5080>"))
    assert str(dialog.remote_target) == "sip:alice@203.0.113.99:5080"
    dialog.receive_request(in_dialog("INFO", 314161, contact="<sip:elsewhere@203.0.113.1>"))
    assert str(dialog.remote_target) == "sip:alice@203.0.113.99:5080"
    assert reparse(send(dialog, "BYE")).uri_text == "sip:alice@203.0.113.99:5080"


def test_rejected_refresh_leaves_the_dialog_untouched() -> None:
    dialog = uas_dialog()
    with pytest.raises(BadHeader):
        dialog.receive_request(in_dialog("UPDATE", 314160, contact="<tel:+15551234567>"))
    assert (dialog.remote_seq, str(dialog.remote_target)) == (314159, "sip:alice@203.0.113.7:5060")


def test_request_for_another_dialog_is_a_local_error() -> None:
    dialog = uac_dialog()
    with pytest.raises(LocalProtocolError):
        dialog.receive_request(in_dialog("INFO", 1))


# -- responses ----------------------------------------------------------------------------------


def test_2xx_to_update_refreshes_the_remote_target() -> None:
    dialog = uac_dialog()
    send(dialog, "UPDATE")
    dialog.receive_response(
        response(answer("200 OK", cseq="102 UPDATE", extra="Contact: <sip:bob@192.0.2.8>\n"))
    )
    assert str(dialog.remote_target) == "sip:bob@192.0.2.8"
    dialog.receive_response(
        response(answer("200 OK", cseq="103 INFO", extra="Contact: <sip:bob@192.0.2.9>\n"))
    )
    assert str(dialog.remote_target) == "sip:bob@192.0.2.8"


@pytest.mark.parametrize("status", ["481 Call/Transaction Does Not Exist", "408 Request Timeout"])
def test_481_or_408_to_an_in_dialog_request_terminates(status: str) -> None:
    dialog = uac_dialog()
    dialog.receive_response(response(answer(status, cseq="102 INFO")))
    assert dialog.state is DialogState.TERMINATED


def test_other_failures_to_in_dialog_requests_keep_the_dialog() -> None:
    dialog = uac_dialog()
    dialog.receive_response(response(answer("500 Server Internal Error", cseq="102 INFO")))
    dialog.receive_response(response(answer("488 Not Acceptable Here", cseq="103 INVITE")))
    dialog.receive_response(response(answer("401 Unauthorized", cseq="104 BYE")))
    states = [dialog.state]
    dialog.receive_response(response(answer("200 OK", cseq="105 BYE")))
    states.append(dialog.state)
    assert states == [DialogState.CONFIRMED, DialogState.TERMINATED]


def test_2xx_confirms_an_early_dialog_and_recomputes_its_route_set() -> None:
    dialog = uac_dialog(RINGING)
    confirming = answer("200 OK", extra="Contact: <sip:bob@192.0.2.5>\n").replace(
        "Record-Route: <sip:p2.example.com;lr>\n", ""
    )
    dialog.receive_response(response(confirming))
    assert dialog.state is DialogState.CONFIRMED
    assert [str(route.uri) for route in dialog.route_set] == ["sip:p1.example.com;lr"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.5"


def test_non_2xx_final_ends_an_early_dialog_and_provisional_changes_nothing() -> None:
    dialog = uac_dialog(RINGING)
    dialog.receive_response(
        response(answer("183 Session Progress", extra="Contact: <sip:x@192.0.2.9>\n"))
    )
    assert (dialog.state, str(dialog.remote_target)) == (
        DialogState.EARLY,
        "sip:bob@192.0.2.4:5062",
    )
    dialog.receive_response(response(answer("487 Request Terminated")))
    assert dialog.state is DialogState.TERMINATED


def test_uas_early_dialog_is_confirmed_by_the_2xx_it_sends() -> None:
    dialog = uas_dialog(early=True)
    dialog.send_response(make_response(INCOMING, to_tag="tag-us", status_code=180))
    states = [dialog.state]
    dialog.send_response(make_response(INCOMING, to_tag="tag-us", status_code=200))
    states.append(dialog.state)
    assert states == [DialogState.EARLY, DialogState.CONFIRMED]
    rejected = uas_dialog(early=True)
    rejected.send_response(make_response(INCOMING, to_tag="tag-us", status_code=486))
    assert rejected.state is DialogState.TERMINATED


def test_response_with_another_to_tag_is_a_local_error() -> None:
    dialog = uac_dialog(RINGING)
    with pytest.raises(LocalProtocolError):
        dialog.receive_response(OK.replace(headers=OK.headers.replaced("To", "<sip:b@x>;tag=9")))
    assert dialog.state is DialogState.EARLY


# -- the state table ----------------------------------------------------------------------------


def test_every_state_and_input_pair_has_a_next_state() -> None:
    assert set(TRANSITIONS) == {(state, event) for state in DialogState for event in DialogInput}


INPUT_RESPONSES = {
    DialogInput.INVITE_ANSWERED: answer(
        "200 OK", cseq="101 INVITE", extra=f"Contact: {LOCAL_CONTACT}\n"
    ),
    DialogInput.INVITE_REJECTED: answer("486 Busy Here", cseq="101 INVITE"),
    DialogInput.BYE: answer("200 OK", cseq="102 BYE"),
    DialogInput.LOST: answer("481 Call/Transaction Does Not Exist", cseq="102 INFO"),
}


@pytest.mark.parametrize("state", list(DialogState))
@pytest.mark.parametrize("event", list(DialogInput))
def test_responses_follow_the_transition_table(state: DialogState, event: DialogInput) -> None:
    dialog = uac_dialog(RINGING)
    dialog.state = state
    dialog.receive_response(response(INPUT_RESPONSES[event]))
    assert dialog.state is TRANSITIONS[(state, event)]


# -- matching and forking -----------------------------------------------------------------------


def test_forked_responses_make_distinct_dialogs_with_one_call_id_and_local_tag() -> None:
    first = response(answer("200 OK", to_tag="fork-a", extra="Contact: <sip:bob@192.0.2.4>\n"))
    second = response(answer("200 OK", to_tag="fork-b", extra="Contact: <sip:bob@192.0.2.6>\n"))
    id_a, id_b = dialog_id_for_response(first), dialog_id_for_response(second)
    assert id_a is not None
    assert id_b is not None
    assert id_a != id_b
    assert (id_a.call_id, id_a.local_tag) == (id_b.call_id, id_b.local_tag)
    dialogs = {d.id: d for d in (uac_dialog(first), uac_dialog(second))}
    assert set(dialogs) == {id_a, id_b}
    assert str(dialogs[id_b].remote_target) == "sip:bob@192.0.2.6"


def test_request_ids_are_seen_from_the_uas_side() -> None:
    assert dialog_id_for_request(in_dialog("INFO", 2)) == uas_dialog().id
    assert dialog_id_for_request(INCOMING) is None  # no To tag: outside any dialog
    assert dialog_id_for_response(response(answer("100 Trying").replace(";tag=314159", ""))) is None


# -- CANCEL -------------------------------------------------------------------------------------


def test_cancel_copies_the_invite_and_carries_two_reasons() -> None:
    cancel = build_cancel(
        INVITE, ['SIP;cause=200;text="Call completed elsewhere"', "Q.850;cause=26"]
    )
    parsed = reparse(cancel)
    assert parsed.method == "CANCEL"
    assert parsed.uri_text == INVITE.uri_text
    assert parsed.headers.get_all("Via") == ["SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-inv1"]
    for name in ("From", "To", "Call-ID", "Route"):
        assert parsed.headers.get_all(name) == INVITE.headers.get_all(name)
    assert str(parsed.cseq) == "101 CANCEL"
    assert parsed.max_forwards == 70
    assert parsed.content_length == 0
    assert parsed.headers.get_all("Reason") == [
        'SIP;cause=200;text="Call completed elsewhere"',
        "Q.850;cause=26",
    ]
    assert [(r.protocol, r.cause) for r in parsed.reasons] == [("SIP", 200), ("Q.850", 26)]
    assert parsed.reasons[0].text == "Call completed elsewhere"


def test_cancel_without_reason_has_none_and_a_single_string_gives_one() -> None:
    assert "Reason" not in build_cancel(INVITE).headers
    single = build_cancel(INVITE, "Q.850;cause=16")
    assert single.headers.get_all("Reason") == ["Q.850;cause=16"]
    with pytest.raises(LocalProtocolError, match="Reason"):
        build_cancel(INVITE, ";;")
    with pytest.raises(LocalProtocolError, match="only an INVITE"):
        build_cancel(in_dialog("INFO", 2))


# -- property -----------------------------------------------------------------------------------

hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9-]{0,6}[a-z0-9]){0,2}", fullmatch=True),
    st.from_regex(
        r"(25[0-5]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|1[0-9]{2}|[1-9]?[0-9])){3}", fullmatch=True
    ),
    st.sampled_from(["2001:db8::1", "::1", "fe80::2:3"]),
)
ports = st.none() | st.integers(min_value=1, max_value=65535)
tokens = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,12}", fullmatch=True)
call_ids = st.from_regex(r"[A-Za-z0-9.!%*_+~-]{1,16}(@[a-z0-9.]{1,10})?", fullmatch=True)


@st.composite
def sip_uris(draw: st.DrawFn, *, lr: bool | None = None) -> SipUri:
    params: tuple[tuple[str, str | None], ...] = ()
    if draw(st.booleans()):
        params += (("transport", draw(st.sampled_from(["udp", "tcp", "tls"]))),)
    if lr if lr is not None else draw(st.booleans()):
        params += (("lr", None),)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=draw(st.none() | st.from_regex(r"[a-zA-Z0-9_.!~*'()-]{1,10}", fullmatch=True)),
        host=draw(hosts),
        port=draw(ports),
        params=Parameters(params),
    )


@st.composite
def dialogs(draw: st.DrawFn) -> Dialog:
    display = st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
    routes = draw(st.lists(sip_uris(), max_size=3))
    local_tag, remote_tag = draw(tokens), draw(tokens)
    return Dialog(
        id=DialogId(call_id=draw(call_ids), local_tag=local_tag, remote_tag=remote_tag),
        state=DialogState.CONFIRMED,
        local=NameAddress(display_name=draw(display), uri=draw(sip_uris(lr=False))).with_tag(
            local_tag
        ),
        remote=NameAddress(display_name=draw(display), uri=draw(sip_uris(lr=False))).with_tag(
            remote_tag
        ),
        remote_target=draw(sip_uris(lr=False)),
        route_set=tuple(NameAddress(uri=uri) for uri in routes),
        local_contact=f"<{draw(sip_uris(lr=False))}>",
        local_seq=draw(st.none() | st.integers(min_value=0, max_value=2**31 - 2)),
    )


@settings(max_examples=200, deadline=None)
@given(
    dialog=dialogs(),
    method=st.sampled_from(["INVITE", "UPDATE", "BYE", "INFO", "OPTIONS", "NOTIFY", "REFER"]),
    body=st.binary(max_size=40),
    via_host=hosts,
)
def test_created_requests_reparse_and_validate(
    dialog: Dialog, method: str, body: bytes, via_host: str
) -> None:
    before = dialog.local_seq
    routed = dialog.create_request(
        method,
        CountingIds(),
        via_host=via_host,
        via_port=5060,
        body=body,
        content_type="application/octet-stream" if body else None,
    )
    parsed = reparse(routed.request)
    assert parsed == routed.request
    assert parsed.cseq.number == (1 if before is None else before + 1) == dialog.local_seq
    assert dialog_id_for_response(make_response(parsed, 200)) == dialog.id
    assert parsed.body == body
    if dialog.route_set:
        assert routed.next_hop == dialog.route_set[0].uri
    else:
        assert routed.next_hop == dialog.remote_target
