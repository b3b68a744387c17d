"""RFC 4475 and RFC 5118 torture messages through the parser and the transaction layer.

Every row of ``shared/conformance/rfc4475/cases.tsv`` and ``rfc5118/cases.tsv`` is sent as one UDP
datagram to a :class:`TransactionLayer` with an :class:`OptionsService` that has the switch's
method set, so endpoint answers (415, 406, 420, 501) are reachable. ``RFC4475_VERDICTS`` and
``RFC5118_VERDICTS`` write down what this engine does with each message; ``PERMITTED`` checks that
each such choice is one the row's ``expect`` label allows, so a new label or a changed verdict has
to be decided here, deliberately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sharedline.sip.auth import AuthHeaderError, DigestCredentials
from sharedline.sip.errors import ParseError
from sharedline.sip.events import (
    Address,
    Event,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SendMessage,
)
from sharedline.sip.ids import CountingIds
from sharedline.sip.message import Request, Response
from sharedline.sip.parser import parse_message
from sharedline.sip.service import OptionsService
from sharedline.sip.transactions import TransactionLayer, is_forbidden_destination
from sharedline.sip.uas import UasPolicy
from sharedline.sip.uri import AbsoluteUri, SipUri

from .conformance import (
    ConformanceCase,
    case_params,
    missing_shared,
    require_shared,
    rfc4475_cases,
    rfc5118_cases,
)
from .helpers import lf2crlf, parse_request, parse_response

SWITCH_METHODS = (
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "MESSAGE",
    "UPDATE",
    "INFO",
)
SOURCE: Address = ("127.0.0.1", 5999)

RFC4475 = rfc4475_cases()
RFC5118 = rfc5118_cases()


# -- the harness ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one datagram caused: the core's events and sends, then the service's sends."""

    events: list[Event]
    core_sends: list[SendMessage]
    service_sends: list[SendMessage]
    service_events: list[Event] = field(default_factory=list)

    @property
    def received(self) -> list[Request]:
        return [e.request for e in self.events if isinstance(e, RequestReceived)]

    @property
    def dropped(self) -> list[MessageDropped]:
        return [e for e in self.events if isinstance(e, MessageDropped)]

    @property
    def sends(self) -> list[SendMessage]:
        return self.core_sends + self.service_sends

    def responses(self, sends: list[SendMessage] | None = None) -> list[Response]:
        return [parse_response(s.data) for s in (self.sends if sends is None else sends)]


def new_engine() -> tuple[TransactionLayer, OptionsService]:
    layer = TransactionLayer()
    service = OptionsService(ids=CountingIds(), policy=UasPolicy(allowed_methods=SWITCH_METHODS))
    return layer, service


def serve(
    data: bytes,
    engine: tuple[TransactionLayer, OptionsService] | None = None,
    *,
    source: Address = SOURCE,
    now: float = 0.0,
) -> Outcome:
    """Feed ``data`` to the layer, hand every event to the service, collect what went out."""
    layer, service = engine or new_engine()
    layer.receive(data, source, "udp", now)
    events = layer.take_events()
    core_sends = layer.take_sends()
    for event in events:
        service.handle(event, layer, now)
    service_sends = layer.take_sends()
    return Outcome(events, core_sends, service_sends, layer.take_events())


# -- verdicts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processed:
    """The core hands the request up (RequestReceived); the service answers ``answer``.

    ``None``: the service sends no final response here (an INVITE awaiting the switch, a REGISTER
    for the registrar, a MESSAGE for the inbox).
    """

    answer: int | None


@dataclass(frozen=True)
class Refused:
    """The core answers statelessly with ``status`` and hands nothing up."""

    status: int


@dataclass(frozen=True)
class Dropped:
    """Nothing is sent and nothing handed up (a bad response, or no Via to answer)."""


@dataclass(frozen=True)
class StrayResponse:
    """A valid response that matches no client transaction: parsed, then dropped unanswered."""


Verdict = Processed | Refused | Dropped | StrayResponse


def _accepted(v: Verdict) -> bool:
    return isinstance(v, Processed) and (v.answer is None or 200 <= v.answer < 300)


def _status(v: Verdict) -> int | None:
    return v.answer if isinstance(v, Processed) else v.status if isinstance(v, Refused) else None


def _answered(*statuses: int) -> Callable[[Verdict], bool]:
    return lambda v: isinstance(v, Processed) and v.answer in statuses


# What each ``expect`` label allows. A label not listed here fails the test until someone decides.
PERMITTED: dict[str, Callable[[Verdict], bool]] = {
    "ACCEPT": _accepted,
    "ACCEPT (NO PORT)": _accepted,
    "ACCEPT FIRST MESSAGE ONLY": _accepted,
    # the registrar, not this core, sends the 200 or refuses: the core must hand the request up
    "ACCEPT (REGISTER 200)": _accepted,
    "REJECT 4XX, NO BINDING": lambda v: (
        v == Processed(None)
        or (isinstance(v, Processed | Refused) and 400 <= (_status(v) or 0) < 500)
    ),
    "CHALLENGE 401": lambda v: v in (Processed(None), Processed(401)),
    "ACCEPT; 501/405 AT ENDPOINT": _answered(501, 405),
    "415 AT ENDPOINT": _answered(415),
    "406 AT ENDPOINT": _answered(406),
    "REJECT 416": lambda v: v in (Processed(416), Refused(416)),
    "REJECT 420": lambda v: v in (Processed(420), Refused(420)),
    "483 OR ANSWER OPTIONS": lambda v: v in (Processed(200), Processed(483), Refused(483)),
    "ACCEPT RESPONSE": lambda v: v == StrayResponse(),
    "ACCEPT, NEVER SEND TO BROADCAST": lambda v: v in (StrayResponse(), Dropped()),
    "DROP RESPONSE": lambda v: v == Dropped(),
    "REJECT 400": lambda v: v == Refused(400),
    "REJECT 505": lambda v: v == Refused(505),
    "REJECT 400 OR LIBERAL": lambda v: v == Refused(400) or _accepted(v),
    "REJECT 400 OR IGNORE DATE": lambda v: v == Refused(400) or _accepted(v),
    "REJECT 400 OR RFC2543 MATCHING": lambda v: v == Refused(400) or _accepted(v),
    "REJECT 400 OR DROP": lambda v: v in (Refused(400), Dropped()),
    "TOLERATE OR REJECT 400; NEVER GENERATE": lambda v: v == Refused(400) or _accepted(v),
}


RFC4475_VERDICTS: dict[str, Verdict] = {
    "wsinv": Processed(None),
    "intmeth": Processed(501),
    "esc01": Processed(None),
    "escnull": Processed(None),
    "esc02": Processed(501),
    "lwsdisp": Processed(200),
    "longreq": Processed(None),
    "dblreq": Processed(None),
    "semiuri": Processed(200),
    "transports": Processed(200),
    "mpart01": Processed(None),
    "unreason": StrayResponse(),
    "noreason": StrayResponse(),
    "badinv01": Refused(400),
    "clerr": Refused(400),
    "ncl": Refused(400),
    "scalar02": Refused(400),
    "scalarlg": Dropped(),
    "quotbal": Refused(400),
    "ltgtruri": Refused(400),
    "lwsruri": Refused(400),
    "lwsstart": Refused(400),  # our choice: no liberal repair of the request line
    "trws": Refused(400),
    "escruri": Refused(400),  # never strip or honour ?headers in a Request-URI: refuse
    "baddate": Processed(None),  # the Date value is never read
    "regbadct": Refused(400),
    "badaspec": Refused(400),
    "baddn": Refused(400),  # the archive copy has no empty line: unterminated header section
    "badvers": Refused(505),
    "mismatch01": Refused(400),
    "mismatch02": Refused(400),
    "bigcode": Dropped(),
    "badbranch": Processed(200),  # RFC 2543 transaction matching
    "insuf": Refused(400),
    "unkscm": Processed(416),
    "novelsc": Processed(416),
    "unksm2": Processed(None),  # the registrar refuses the non-SIP address-of-record
    "bext01": Processed(420),
    "invut": Processed(415),
    "regaut01": Processed(None),  # the registrar challenges; see the DigestCredentials test
    "multi01": Refused(400),
    "mcl01": Refused(400),
    "bcast": StrayResponse(),
    "zeromf": Processed(200),  # an endpoint answers OPTIONS itself, whatever Max-Forwards says
    "cparam01": Processed(None),
    "cparam02": Processed(None),
    "regescrt": Processed(None),
    "sdp01": Processed(406),
    "inv2543": Processed(None),
    "test": Dropped(),  # no Via can be salvaged, so there is nowhere to send a 400
}

RFC5118_VERDICTS: dict[str, Verdict] = {
    "ipv6-good": Processed(None),
    "ipv6-bad": Refused(400),
    "port-ambiguous": Processed(None),
    "port-unambiguous": Processed(None),
    "via-received-param-with-delim": Processed(None),
    "via-received-param-no-delim": Processed(200),
    "ipv6-in-sdp": Processed(None),
    "mult-ip-in-header": Processed(None),
    "mult-ip-in-sdp": Processed(None),
    "ipv4-mapped-ipv6": Processed(None),
    # RFC 5118 §4.10: the RFC 3261 grammar wrongly admits three colons; ipaddress does not, and
    # we refuse rather than tolerate an address we would never generate.
    "ipv6-bug-abnf-3-colons": Refused(400),
    "ipv6-correct-abnf-2-colons": Processed(200),
}


def assert_verdict(data: bytes, verdict: Verdict) -> Outcome:
    outcome = serve(data)
    if isinstance(verdict, Processed):
        assert not outcome.dropped, outcome.dropped
        [request] = outcome.received
        expected = parse_request(data)
        assert (request.method, request.uri_text, request.body) == (
            expected.method,
            expected.uri_text,
            expected.body,
        )
        assert request.headers.without("via") == expected.headers.without("via")
        # the core itself only ever says 100 Trying, and only to an INVITE
        core = [r.status_code for r in outcome.responses(outcome.core_sends)]
        assert core == ([100] if request.method == "INVITE" else [])
        answers = outcome.responses(outcome.service_sends)
        if verdict.answer is None:
            assert answers == []
        else:
            assert [r.status_code for r in answers] == [verdict.answer]
            assert [s.destination for s in outcome.service_sends] == [SOURCE]
            assert answers[0].call_id == expected.call_id
    elif isinstance(verdict, Refused):
        assert outcome.received == []
        assert len(outcome.dropped) == 1
        assert [s.destination for s in outcome.sends] == [SOURCE]
        [response] = outcome.responses()
        assert response.status_code == verdict.status
        if verdict.status == 400:
            # the reason phrase names the fault, so the peer's logs say what was wrong
            assert response.reason.startswith("Bad Request (")
            assert len(response.reason) > len("Bad Request ()")
    elif isinstance(verdict, Dropped):
        assert outcome.received == []
        assert outcome.sends == []
        assert outcome.dropped
    else:
        message = parse_message(data)
        assert isinstance(message, Response)
        message.validate()
        assert outcome.sends == []
        assert [d.reason for d in outcome.dropped] == ["stray response"]
        assert outcome.dropped[0].call_id == message.call_id
    return outcome


# -- every row -----------------------------------------------------------------------------------


def test_every_row_has_a_verdict_and_no_verdict_is_stale() -> None:
    if not RFC4475 or not RFC5118:
        missing_shared("conformance/rfc4475 and rfc5118 cases.tsv")
    assert {c.name for c in RFC4475} == set(RFC4475_VERDICTS)
    assert {c.name for c in RFC5118} == set(RFC5118_VERDICTS)
    assert len(RFC4475) == 50
    assert len(RFC5118) == 12


@pytest.mark.parametrize("case", case_params(RFC4475))
def test_rfc4475_message_gets_the_verdict_its_label_permits(case: ConformanceCase | None) -> None:
    if case is None:
        missing_shared("conformance/rfc4475/cases.tsv")
    data = case.read()
    verdict = RFC4475_VERDICTS[case.name]
    assert PERMITTED[case.expect](verdict), f"{verdict} is not allowed by {case.expect!r}"
    assert_verdict(data, verdict)


@pytest.mark.parametrize("case", case_params(RFC5118))
def test_rfc5118_message_gets_the_verdict_its_label_permits(case: ConformanceCase | None) -> None:
    if case is None:
        missing_shared("conformance/rfc5118/cases.tsv")
    data = case.read()
    verdict = RFC5118_VERDICTS[case.name]
    assert PERMITTED[case.expect](verdict), f"{verdict} is not allowed by {case.expect!r}"
    assert_verdict(data, verdict)


def test_terminated_baddn_variant_is_refused_for_its_display_names() -> None:
    data = require_shared("conformance", "rfc4475", "variants", "baddn.terminated.dat").read_bytes()
    assert len(data) == 333
    outcome = assert_verdict(data, Refused(400))
    assert "display name in From" in outcome.responses()[0].reason


@pytest.mark.parametrize("case", case_params(RFC4475 + RFC5118))
def test_every_parsable_torture_message_survives_serialisation(
    case: ConformanceCase | None,
) -> None:
    if case is None:
        missing_shared("conformance")
    try:
        message = parse_message(case.read())
    except ParseError:
        assert isinstance(RFC4475_VERDICTS.get(case.name), Refused | Dropped) or isinstance(
            RFC5118_VERDICTS.get(case.name), Refused
        )
        return
    again = parse_message(bytes(message))
    assert again == message
    assert bytes(again) == bytes(message)


def test_engine_still_answers_options_after_every_torture_message() -> None:
    if not RFC4475 or not RFC5118:
        missing_shared("conformance")
    engine = new_engine()
    variant = require_shared("conformance", "rfc4475", "variants", "baddn.terminated.dat")
    for index, data in enumerate([*(c.read() for c in RFC4475 + RFC5118), variant.read_bytes()]):
        serve(data, engine, now=index * 0.01)
    outcome = serve(options_probe("after-torture"), engine, now=1.0)
    assert [r.status_code for r in outcome.responses()] == [200]


def options_probe(call_id: str, source_host: str = "127.0.0.1") -> bytes:
    return lf2crlf(
        f"""\
OPTIONS sip:probe@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {source_host}:5999;branch=z9hG4bK-{call_id}
Max-Forwards: 70
From: <sip:monitor@127.0.0.1>;tag=m1
To: <sip:probe@127.0.0.1>
Call-ID: {call_id}
CSeq: 1 OPTIONS
Content-Length: 0

"""
    )


# -- what the accepted messages mean -------------------------------------------------------------


def case_named(name: str) -> ConformanceCase:
    """The RFC 4475 or RFC 5118 row called ``name`` (fail under CI, skip elsewhere, if absent)."""
    case = next((c for c in RFC4475 + RFC5118 if c.name == name), None)
    if case is None:
        missing_shared(f"conformance case {name}")
    return case


def torture(name: str) -> Request:
    """The request ``name`` as parsed, once the service has been shown to receive it.

    The copy the service receives has ``received`` stamped on its top Via; this one is as sent.
    """
    data = case_named(name).read()
    assert len(serve(data).received) == 1
    return parse_request(data)


def torture_response(name: str) -> Response:
    return parse_response(case_named(name).read())


def test_wsinv_unfolds_headers_reads_max_forwards_0068_as_68_and_keeps_unknown_headers() -> None:
    request = torture("wsinv")
    assert request.max_forwards == 68
    assert request.cseq.number == 9
    assert request.cseq.method == "INVITE"
    assert request.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert request.headers.get("NewFangledHeader") == (
        "newfangled value continued newfangled value"
    )
    assert [v.transport for v in request.via] == ["UDP", "TCP", "UDP"]
    assert request.via[1].branch == "z9hG4bK9ikj8"
    assert request.from_.display_name == 'J Rosenberg \\"'
    [contact] = request.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("q") == "0.33"
    assert "secondparam" in contact.params
    [route] = request.routes
    assert isinstance(route.uri, SipUri)
    assert "unknown-no-value" in route.uri.params


def test_esc01_compares_escaped_user_equal_but_never_reinterprets_it() -> None:
    request = torture("esc01")
    to_uri = request.to.uri
    assert isinstance(to_uri, SipUri)
    assert to_uri.user == "%75se%72"
    assert to_uri.user_unescaped == "user"
    assert to_uri.equivalent(SipUri(user="user", host="example.com"))
    uri = request.uri
    assert isinstance(uri, SipUri)
    assert uri.scheme == "sip"
    assert uri.host == "example.net"
    assert uri.user_unescaped == "sips:user@example.com"


def test_escnull_keeps_two_distinct_contacts_with_nul_users() -> None:
    request = torture("escnull")
    first, second = (c.uri for c in request.contacts)
    assert isinstance(first, SipUri)
    assert isinstance(second, SipUri)
    assert (first.user, second.user) == ("%00", "%00%00")
    assert (first.user_unescaped, second.user_unescaped) == ("\x00", "\x00\x00")
    assert not first.equivalent(second)


def test_esc02_never_unescapes_method_or_header_names() -> None:
    request = torture("esc02")
    assert request.method == "RE%47IST%45R"
    assert len(request.contacts) == 2
    assert request.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert request.top_via.branch == "z9hG4bK209%fzsnel234"
    assert request.to.display_name == "%Z%45"


def test_intmeth_and_esc02_are_unknown_methods_answered_501_by_the_endpoint() -> None:
    for name in ("intmeth", "esc02"):
        case = case_named(name)
        [answer] = serve(case.read()).responses()
        assert answer.status_code == 501
        assert answer.cseq.method == parse_request(case.read()).method


def test_intmeth_keeps_nul_bel_del_and_utf8_where_the_grammar_allows_them() -> None:
    request = torture("intmeth")
    assert request.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert request.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert request.from_.tag == "_token~1'+`*%!-."
    assert request.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    [extension] = [v for n, v in request.headers if n.startswith("extensionHeader")]
    assert extension == "\ufeff\u5927\u505c\u96fb"  # a BOM and three CJK characters, as UTF-8


def test_semiuri_semicolon_belongs_to_the_user_part() -> None:
    uri = torture("semiuri").uri
    assert isinstance(uri, SipUri)
    assert uri.user == "user;par=u%40example.net"
    assert uri.user_unescaped == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert len(uri.params) == 0


def test_dblreq_processes_only_the_register_and_discards_the_trailing_invite() -> None:
    case = case_named("dblreq")
    outcome = serve(case.read())
    [request] = outcome.received
    assert request.method == "REGISTER"
    assert request.body == b""
    assert outcome.sends == []  # in particular no 100 Trying for the INVITE


def test_mpart01_body_is_the_raw_octets_after_the_blank_line() -> None:
    case = case_named("mpart01")
    data = case.read()
    request = torture("mpart01")
    assert request.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert len(request.body) == request.content_length == 553
    content_type = request.content_type
    assert content_type is not None
    assert content_type.essence == "multipart/mixed"
    assert content_type.params.get("boundary") == "7a9cbec02ceef655"


def test_longreq_reads_every_via_in_order() -> None:
    request = torture("longreq")
    hosts = [v.host for v in request.via]
    assert hosts == [f"sip{n}.example.com" for n in range(33, 0, -1)] + ["host.example.com"]
    assert request.max_forwards == 70
    assert request.call_id.startswith("longreq.onereally")
    assert request.call_id.endswith("reallylongcallid")


def test_inv2543_body_runs_to_the_end_of_the_datagram_and_max_forwards_is_absent() -> None:
    case = case_named("inv2543")
    data = case.read()
    request = torture("inv2543")
    assert request.content_length is None
    assert request.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert request.body.startswith(b"v=0\r\n")
    assert request.max_forwards is None
    assert request.top_via.branch is None
    assert request.from_.tag is None


def test_cparam01_unbracketed_contact_param_is_a_header_param() -> None:
    [contact] = torture("cparam01").contacts
    assert isinstance(contact.uri, SipUri)
    assert "unknownparam" not in contact.uri.params
    assert "unknownparam" in contact.params
    assert str(contact.uri) == "sip:+19725552222@gw1.example.net"


def test_cparam02_bracketed_contact_param_stays_in_the_uri() -> None:
    [contact] = torture("cparam02").contacts
    assert isinstance(contact.uri, SipUri)
    assert "unknownparam" in contact.uri.params
    assert "unknownparam" not in contact.params


def test_regescrt_keeps_escaped_uri_headers_inside_the_contact_uri() -> None:
    request = torture("regescrt")
    [contact] = request.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)
    assert contact.uri.without_headers().headers == ()
    assert request.routes == ()  # never promoted to a real Route header


def test_transports_reads_five_vias_with_their_transports() -> None:
    request = torture("transports")
    assert [v.transport for v in request.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_unknown_request_uri_schemes_get_416() -> None:
    for name in ("unkscm", "novelsc"):
        uri = torture(name).uri
        assert isinstance(uri, AbsoluteUri)
        case = case_named(name)
        assert [r.status_code for r in serve(case.read()).responses()] == [416]


def test_bext01_answers_420_listing_the_require_tags_not_the_proxy_require_ones() -> None:
    case = case_named("bext01")
    [answer] = serve(case.read()).responses()
    assert answer.status_code == 420
    assert answer.option_tags("Unsupported") == ("nothingSupportsThis", "nothingSupportsThisEither")


def test_invut_answers_415_with_accept() -> None:
    case = case_named("invut")
    answers = serve(case.read()).responses()
    assert [r.status_code for r in answers] == [100, 415]
    accept = answers[1].accept
    assert accept is not None
    assert [a.essence for a in accept] == ["application/sdp"]


def test_sdp01_answers_406_when_accept_excludes_sdp() -> None:
    case = case_named("sdp01")
    assert [r.status_code for r in serve(case.read()).responses()] == [100, 406]


def test_zeromf_options_with_max_forwards_zero_is_answered_200() -> None:
    request = torture("zeromf")
    assert request.max_forwards == 0
    case = case_named("zeromf")
    assert [r.status_code for r in serve(case.read()).responses()] == [200]


def test_badbranch_bare_magic_cookie_falls_back_to_rfc2543_matching() -> None:
    case = case_named("badbranch")
    outcome = serve(case.read())
    [event] = [e for e in outcome.events if isinstance(e, RequestReceived)]
    assert event.request.top_via.branch == "z9hG4bK"
    assert event.transaction[0] == "2543"


def test_baddate_is_accepted_and_its_date_forwarded_unchanged() -> None:
    request = torture("baddate")
    assert request.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_regaut01_is_handed_up_but_its_unknown_scheme_credentials_are_unusable() -> None:
    request = torture("regaut01")
    value = request.headers.get("Authorization")
    assert value == "NoOneKnowsThisScheme opaque-data=here"
    with pytest.raises(AuthHeaderError):
        DigestCredentials.parse(value)


def test_unksm2_non_sip_uris_parse_as_absolute_uris() -> None:
    request = torture("unksm2")
    assert isinstance(request.to.uri, AbsoluteUri)
    assert isinstance(request.from_.uri, AbsoluteUri)
    [contact] = request.contacts
    assert isinstance(contact.uri, AbsoluteUri)
    assert (request.to.uri.scheme, request.from_.uri.scheme, contact.uri.scheme) == (
        "isbn",
        "http",
        "name",
    )


def test_unreason_keeps_its_utf8_reason_phrase() -> None:
    response = torture_response("unreason")
    assert response.status_code == 200
    assert response.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert bytes(response).split(b"\r\n", 1)[0] == (
        "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое".encode()
    )


def test_noreason_has_an_empty_reason_phrase() -> None:
    response = torture_response("noreason")
    assert response.status_code == 100
    assert response.reason == ""


# -- RFC 5118 --------------------------------------------------------------------------------------


def test_ipv6_good_hosts_are_bracket_free() -> None:
    request = torture("ipv6-good")
    assert isinstance(request.uri, SipUri)
    assert request.uri.host == "2001:db8::10"
    assert request.top_via.host == "2001:db8::9:1"
    [contact] = request.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.host == "2001:db8::1"
    assert str(contact.uri) == "sip:caller@[2001:db8::1]"


def test_port_inside_brackets_is_part_of_the_address() -> None:
    uri = torture("port-ambiguous").uri
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port) == ("2001:db8::10:5070", None)
    assert uri.host_port() == ("2001:db8::10:5070", 5060)


def test_port_outside_brackets_is_the_port() -> None:
    uri = torture("port-unambiguous").uri
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port) == ("2001:db8::10", 5070)


@pytest.mark.parametrize("name", ["via-received-param-with-delim", "via-received-param-no-delim"])
def test_via_received_reads_as_the_bare_ipv6_address_with_or_without_brackets(name: str) -> None:
    via = torture(name).top_via
    assert via.host == "2001:db8::9:1"
    assert via.received == "2001:db8::9:255"


def test_mult_ip_in_header_reads_ipv4_and_ipv6_vias() -> None:
    vias = torture("mult-ip-in-header").via
    assert [(v.host, v.port) for v in vias] == [
        ("2001:db8::9:1", 6050),
        ("192.0.2.1", None),
        ("2001:db8::9:255", None),
    ]
    assert vias[2].received == "192.0.2.200"


def test_ipv4_mapped_ipv6_addresses_parse() -> None:
    request = torture("ipv4-mapped-ipv6")
    assert [(v.host, v.port) for v in request.via] == [
        ("::ffff:192.0.2.10", 19823),
        ("::ffff:192.0.2.2", None),
    ]
    [contact] = request.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.host == "::ffff:192.0.2.2"


@pytest.mark.parametrize("name", ["ipv6-in-sdp", "mult-ip-in-sdp"])
def test_ipv6_sdp_bodies_are_carried_whole(name: str) -> None:
    request = torture(name)
    assert b"IN IP6 " in request.body
    assert len(request.body) == request.content_length


def test_three_colon_ipv6_reference_is_refused_and_two_colons_accepted() -> None:
    bad = case_named("ipv6-bug-abnf-3-colons")
    outcome = serve(bad.read())
    [response] = outcome.responses()
    assert response.status_code == 400
    assert "2001:db8:::192.0.2.1" in response.reason
    uri = torture("ipv6-correct-abnf-2-colons").uri
    assert isinstance(uri, SipUri)
    assert uri.host == "2001:db8::192.0.2.1"


def test_ipv6_without_brackets_in_request_uri_is_refused() -> None:
    bad = case_named("ipv6-bad")
    [response] = serve(bad.read()).responses()
    assert response.status_code == 400
    assert "2001" in response.reason


def test_received_stamped_for_an_ipv6_source_parses_again() -> None:
    outcome = serve(options_probe("v6-source", "[2001:db8::1]"), source=("2001:db8::2", 5999))
    [request] = outcome.received
    assert request.top_via.received == "2001:db8::2"
    again = parse_request(bytes(request))
    assert again.top_via.received == "2001:db8::2"


# -- never send to broadcast ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "forbidden"),
    [
        ("255.255.255.255", True),
        ("192.0.2.255", False),  # a subnet broadcast needs a netmask we do not know
        ("224.0.0.1", True),
        ("239.255.255.250", True),
        ("0.0.0.0", True),
        ("ff02::1", True),
        ("::", True),
        ("127.0.0.1", False),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("example.com", False),
    ],
)
def test_broadcast_multicast_and_unspecified_destinations_are_forbidden(
    host: str, forbidden: bool
) -> None:
    assert is_forbidden_destination(host) is forbidden


def test_answer_to_a_request_from_a_broadcast_source_is_never_sent() -> None:
    engine = new_engine()
    outcome = serve(options_probe("spoofed"), engine, source=("255.255.255.255", 5060))
    assert len(outcome.received) == 1  # the 200 was produced...
    assert outcome.sends == []  # ...and refused on the way out
    [refused] = [e for e in outcome.service_events if isinstance(e, MessageDropped)]
    assert refused.source == ("255.255.255.255", 5060)
    assert "refused" in refused.reason


def test_bcast_response_to_our_invite_is_never_relayed_toward_its_broadcast_via() -> None:
    case = case_named("bcast")
    layer, _ = new_engine()
    invite = lf2crlf(
        """\
INVITE sip:user@example.edu SIP/2.0
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Max-Forwards: 70
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
Content-Length: 0

"""
    )
    layer.send_request(parse_request(invite), ("192.0.2.50", 5060), "udp", 0.0)
    assert len(layer.take_sends()) == 1
    layer.receive(case.read(), ("192.0.2.50", 5060), "udp", 0.1)
    [event] = layer.take_events()
    assert isinstance(event, ResponseReceived)
    assert event.response.status_code == 200
    assert layer.take_sends() == []
    # a relay would pop its Via and send to the next one: 255.255.255.255. Refused.
    upstream = event.response.via[1]
    relayed = event.response.replace(headers=event.response.headers.without_first("via"))
    layer.send_stateless(relayed, (upstream.host, upstream.port or 5060), "udp")
    assert layer.take_sends() == []
    [refused] = layer.take_events()
    assert isinstance(refused, MessageDropped)
    assert refused.source == ("255.255.255.255", 5060)
