"""The SIP parser: framing, header lines, typed views and their faults (RFC 3261 §7, §20, §25).

Table-driven unit tests first, then Hypothesis properties: generated messages survive
``bytes()`` and re-parsing; arbitrary or mutated bytes only ever raise :class:`ParseError`; header
case, compact forms and folding change nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharedline.sip import grammar
from sharedline.sip.errors import (
    BadHeader,
    MessageTooLarge,
    MissingHeader,
    ParseError,
    VersionNotSupported,
)
from sharedline.sip.events import MessageDropped
from sharedline.sip.headers import COMPACT_FORMS, CSeq, NameAddress, Via
from sharedline.sip.message import Message, Request, Response, header_key
from sharedline.sip.params import Parameters
from sharedline.sip.parser import Limits, parse_message
from sharedline.sip.transactions import TransactionLayer
from sharedline.sip.uri import SipUri, TelUri, Uri, parse_uri

from .helpers import lf2crlf, parse_request, parse_response

INVITE = lf2crlf(
    """\
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Type: application/sdp
Content-Length: 5

v=0
"""
)

COMPACT_INVITE = lf2crlf(
    """\
INVITE sip:bob@biloxi.example.com SIP/2.0
v: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds
Max-Forwards: 70
t: Bob <sip:bob@biloxi.example.com>
f: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
i: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
m: <sip:alice@pc33.atlanta.example.com>
c: application/sdp
l: 5

v=0
"""
)


VIA_LINE = b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds"
VIA_VALUE = VIA_LINE[len(b"Via: ") :]


def request_with(*replacements: tuple[bytes, bytes], base: bytes = INVITE) -> bytes:
    for old, new in replacements:
        assert old in base, old
        base = base.replace(old, new, 1)
    return base


def typed_views(message: Message) -> dict[str, Any]:
    return {
        "via": message.via,
        "from": message.from_,
        "to": message.to,
        "call_id": message.call_id,
        "cseq": message.cseq,
        "max_forwards": message.max_forwards,
        "contacts": message.contacts,
        "content_length": message.content_length,
        "content_type": message.content_type,
    }


# -- header names --------------------------------------------------------------------------------


def test_compact_forms_parse_equal_to_long_forms() -> None:
    long, compact = parse_request(INVITE), parse_request(COMPACT_INVITE)
    assert compact == long
    assert typed_views(compact) == typed_views(long)
    assert compact.body == long.body == b"v=0\r\n"


@pytest.mark.parametrize(("short", "long"), [(s, COMPACT_FORMS[s]) for s in "vftiml"])
def test_compact_form_has_the_key_of_its_long_form(short: str, long: str) -> None:
    assert header_key(short) == header_key(long) == long.lower()
    assert header_key(short.upper()) == long.lower()


def test_header_names_are_case_insensitive() -> None:
    shouting = request_with(
        (b"Via:", b"VIA:"),
        (b"Max-Forwards:", b"max-FORWARDS:"),
        (b"To:", b"tO:"),
        (b"From:", b"FROM:"),
        (b"Call-ID:", b"call-id:"),
        (b"CSeq:", b"cseq:"),
        (b"Contact:", b"CONTACT:"),
        (b"Content-Length:", b"content-length:"),
    )
    message = parse_request(shouting)
    assert message == parse_request(INVITE)
    assert typed_views(message) == typed_views(parse_request(INVITE))
    assert message.headers.get("Call-Id") == "a84b4c76e66710@pc33.atlanta.example.com"


def test_whitespace_before_the_header_colon_is_allowed() -> None:
    message = parse_request(request_with((b"CSeq: ", b"CSeq \t: ")))
    assert message.cseq == CSeq(number=314159, method="INVITE")


@pytest.mark.parametrize(
    "line",
    [b"CSeq 314159 INVITE", b": no name", b"Bad Name: x", b"Name\x00: x", b"Caf\xc3\xa9: x"],
    ids=["no-colon", "empty-name", "space-in-name", "nul-in-name", "utf8-in-name"],
)
def test_malformed_header_lines_are_parse_errors(line: bytes) -> None:
    with pytest.raises(ParseError, match="malformed header line"):
        parse_message(request_with((b"CSeq: 314159 INVITE", line)))


# -- folding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fold", [b"\r\n ", b"\r\n\t", b" \r\n  \t"], ids=["sp", "tab", "mixed"])
def test_folded_header_lines_unfold_to_a_single_space(fold: bytes) -> None:
    folded = request_with(
        (b"Via: SIP/2.0/UDP pc33", b"Via:" + fold + b"SIP/2.0/UDP" + fold + b"pc33"),
        (b"CSeq: 314159 INVITE", b"CSeq: 314159" + fold + b"INVITE"),
        (b'"Alice" <sip', b'"Alice"' + fold + b"<sip"),
    )
    message = parse_request(folded)
    assert message == parse_request(INVITE)
    assert message.cseq == CSeq(number=314159, method="INVITE")
    assert message.top_via.host == "pc33.atlanta.example.com"


def test_a_fold_right_after_the_start_line_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="request line"):
        parse_message(request_with((b"SIP/2.0\r\nVia", b"SIP/2.0\r\n Via")))


# -- lists ---------------------------------------------------------------------------------------


def test_comma_separated_and_repeated_vias_read_the_same() -> None:
    two = b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::1]:5070"
    one = two.replace(b", ", b"\r\nVia: ")
    joined = parse_request(request_with((VIA_LINE, two)))
    repeated = parse_request(request_with((VIA_LINE, one)))
    assert joined.via == repeated.via
    assert [(v.transport, v.host, v.port) for v in joined.via] == [
        ("UDP", "a.example.com", None),
        ("TCP", "2001:db8::1", 5070),
    ]
    assert joined.top_via.branch == "z9hG4bK1"


def test_commas_inside_quotes_and_brackets_do_not_split_contacts() -> None:
    value = b'"Doe, John" <sip:a,b@example.com;x=1>;q=0.5, <sip:c@example.com>'
    message = parse_request(
        request_with((b"Contact: <sip:alice@pc33.atlanta.example.com>", b"Contact: " + value))
    )
    first, second = message.contacts
    assert first.display_name == "Doe, John"
    assert isinstance(first.uri, SipUri)
    assert first.uri.user == "a,b"
    assert first.params.get("q") == "0.5"
    assert str(second.uri) == "sip:c@example.com"


def test_star_contact_is_the_wildcard_and_must_be_alone() -> None:
    star = parse_request(
        request_with((b"Contact: <sip:alice@pc33.atlanta.example.com>", b"Contact: *"))
    )
    assert star.contact_wildcard
    assert star.contacts == ()
    mixed = parse_request(
        request_with((b"Contact: <sip:alice@pc33.atlanta.example.com>", b"Contact: *, <sip:a@b>"))
    )
    with pytest.raises(BadHeader):
        mixed.contacts  # noqa: B018


# -- name-addr, addr-spec, display names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "display"),
    [
        (r'"Alice" <sip:a@example.com>', "Alice"),
        (r'"" <sip:a@example.com>', ""),
        (r'"Say \"hi\"" <sip:a@example.com>', 'Say "hi"'),
        (r'"back\\slash" <sip:a@example.com>', "back\\slash"),
        (r'"\a\b" <sip:a@example.com>', "ab"),
        (r'"Ω \"x\", y" <sip:a@example.com>', 'Ω "x", y'),
        (r"Alice  Smith <sip:a@example.com>", "Alice  Smith"),
        (r"caller<sip:a@example.com>", "caller"),
        (r"<sip:a@example.com>", None),
        (r"sip:a@example.com", None),
    ],
)
def test_display_names_resolve_quoted_pairs(written: str, display: str | None) -> None:
    message = parse_request(
        request_with((b"To: Bob <sip:bob@biloxi.example.com>", f"To: {written}".encode()))
    )
    assert message.to.display_name == display
    assert message.to.uri == SipUri(user="a", host="example.com")


@pytest.mark.parametrize(
    "written",
    [
        '"unterminated <sip:a@example.com>',
        "Bell, Alex <sip:a@example.com>",
        "<sip:a@example.com",
        "< sip:a@example.com >",
    ],
)
def test_malformed_name_addrs_are_bad_headers(written: str) -> None:
    message = parse_request(
        request_with((b"To: Bob <sip:bob@biloxi.example.com>", f"To: {written}".encode()))
    )
    with pytest.raises(BadHeader):
        message.to  # noqa: B018


def test_parameters_after_an_addr_spec_belong_to_the_header() -> None:
    message = parse_request(
        request_with(
            (
                b"To: Bob <sip:bob@biloxi.example.com>",
                b"To: sip:bob@example.com;transport=tcp;tag=9",
            )
        )
    )
    assert message.to.uri == SipUri(user="bob", host="example.com")
    assert message.to.params == Parameters((("transport", "tcp"), ("tag", "9")))
    assert message.to.tag == "9"


def test_parameters_inside_angle_brackets_belong_to_the_uri() -> None:
    message = parse_request(
        request_with(
            (
                b"To: Bob <sip:bob@biloxi.example.com>",
                b"To: <sip:bob@example.com;transport=tcp>;tag=9",
            )
        )
    )
    uri = message.to.uri
    assert isinstance(uri, SipUri)
    assert uri.transport == "tcp"
    assert message.to.params == Parameters((("tag", "9"),))


def test_uri_headers_need_angle_brackets_in_an_addr_spec() -> None:
    bare = parse_request(
        request_with(
            (
                b"Contact: <sip:alice@pc33.atlanta.example.com>",
                b"Contact: sip:a@example.com?Route=x",
            )
        )
    )
    with pytest.raises(BadHeader, match="angle brackets"):
        bare.contacts  # noqa: B018
    bracketed = parse_request(
        request_with(
            (
                b"Contact: <sip:alice@pc33.atlanta.example.com>",
                b"Contact: <sip:a@example.com?Route=x>",
            )
        )
    )
    [contact] = bracketed.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.headers == (("Route", "x"),)


@pytest.mark.parametrize("junk", [";;", ";", "; ;tag=1", ";tag=1,", ";=x", ";tag=a b"])
def test_stray_separators_in_header_params_are_bad_headers(junk: str) -> None:
    message = parse_request(request_with((b"tag=1928301774", f"tag=1928301774{junk}".encode())))
    with pytest.raises(BadHeader, match="parameters"):
        message.from_  # noqa: B018


# -- URIs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "is_global", "params"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", True, ()),
        ("tel:7042;phone-context=example.com", "7042", False, (("phone-context", "example.com"),)),
        ("tel:+358-555-1234567;postd=pp22", "+358-555-1234567", True, (("postd", "pp22"),)),
        (
            "TEL:863-1234;phone-context=+1-914-555",
            "863-1234",
            False,
            (("phone-context", "+1-914-555"),),
        ),
    ],
)
def test_tel_uris_parse(
    text: str, number: str, is_global: bool, params: tuple[tuple[str, str], ...]
) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, TelUri)
    assert uri.number == number
    assert uri.is_global is is_global
    assert uri.params == Parameters(params)


def test_tel_uris_compare_without_visual_separators() -> None:
    assert parse_uri("tel:+1-201-555-0123").equivalent(parse_uri("tel:+1.201.555.0123"))
    assert not parse_uri("tel:+1-201-555-0123").equivalent(parse_uri("tel:+1-201-555-0124"))


@pytest.mark.parametrize("text", ["tel:", "tel:;x=1", "tel:12 34", "tel:+1;=x"])
def test_malformed_tel_uris_are_bad_headers(text: str) -> None:
    with pytest.raises(BadHeader):
        parse_uri(text)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::1]", "2001:db8::1", None),
        ("sip:alice@[2001:db8::1]:5070;transport=tcp", "2001:db8::1", 5070),
        ("sips:[::ffff:192.0.2.1]:5061", "::ffff:192.0.2.1", 5061),
        ("sip:[::1]", "::1", None),
        ("sip:[2001:db8::10:5070]", "2001:db8::10:5070", None),
    ],
)
def test_ipv6_references_are_bracket_free_and_round_trip(
    text: str, host: str, port: int | None
) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text


@pytest.mark.parametrize(
    "text",
    [
        "sip:2001:db8::1",
        "sip:[2001:db8::1",
        "sip:[2001:db8::1]x",
        "sip:[2001:db8:::1]",
        "sip:[fe80::1%25eth0]",
        "sip:[192.0.2.1]",
        "sip:[2001:db8::1]:99999",
        "sip:host:port",
    ],
)
def test_malformed_hosts_are_bad_headers(text: str) -> None:
    with pytest.raises(BadHeader):
        parse_uri(text)


def test_ipv6_via_with_bare_received_reads_and_writes_back() -> None:
    value = "SIP/2.0/UDP [2001:db8::9:1]:5060;received=2001:db8::9:255;branch=z9hG4bK1"
    message = parse_request(request_with((VIA_VALUE, value.encode())))
    via = message.top_via
    assert (via.host, via.port, via.received, via.branch) == (
        "2001:db8::9:1",
        5060,
        "2001:db8::9:255",
        "z9hG4bK1",
    )
    assert str(via) == value


# -- framing: Content-Length, limits, line ends --------------------------------------------------


def test_datagram_without_content_length_has_the_rest_as_body() -> None:
    data = request_with((b"Content-Length: 5\r\n", b""), (b"v=0\r\n", b"v=0\r\nmore"))
    assert parse_request(data).body == b"v=0\r\nmore"


def test_datagram_octets_after_content_length_are_discarded() -> None:
    assert parse_request(INVITE + b"garbage").body == b"v=0\r\n"


def test_datagram_with_content_length_beyond_the_data_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="exceeds"):
        parse_message(request_with((b"Content-Length: 5", b"Content-Length: 40")))


@pytest.mark.parametrize("value", [b"-1", b"4x", b"", b"\xd9\xa4", b"99999999999999"])
def test_malformed_content_length_is_a_parse_error(value: bytes) -> None:
    with pytest.raises(ParseError, match="Content-Length"):
        parse_message(request_with((b"Content-Length: 5", b"Content-Length: " + value)))


def test_two_content_lengths_are_a_parse_error_even_when_equal() -> None:
    with pytest.raises(ParseError, match="more than once"):
        parse_message(request_with((b"Content-Length: 5", b"Content-Length: 5\r\nl: 5")))


def test_stream_message_needs_content_length() -> None:
    with pytest.raises(ParseError, match="required"):
        parse_message(request_with((b"Content-Length: 5\r\n", b"")), stream=True)


def test_stream_message_content_length_must_match_exactly() -> None:
    assert parse_message(INVITE, stream=True).body == b"v=0\r\n"
    with pytest.raises(ParseError, match="does not match"):
        parse_message(INVITE + b"\n", stream=True)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (Limits(max_message_size=len(INVITE) - 1), "exceeds"),
        (Limits(max_header_size=100), "header section"),
        (Limits(max_headers=5), "header lines"),
    ],
    ids=["message", "header-section", "header-count"],
)
def test_limits_raise_message_too_large_with_513(limits: Limits, message: str) -> None:
    with pytest.raises(MessageTooLarge, match=message) as caught:
        parse_message(INVITE, limits=limits)
    assert caught.value.status_code == 513
    assert isinstance(caught.value, ParseError)
    parse_message(INVITE, limits=Limits(max_message_size=len(INVITE)))


def test_an_oversized_datagram_is_answered_513() -> None:
    layer = TransactionLayer(limits=Limits(max_message_size=300))
    layer.receive(INVITE, ("192.0.2.1", 5060), "udp", 0.0)
    [send] = layer.take_sends()
    assert parse_response(send.data).status_code == 513
    assert any(isinstance(e, MessageDropped) for e in layer.take_events())


def test_leading_crlfs_before_the_start_line_are_ignored() -> None:
    assert parse_message(b"\r\n\r\n\r\n" + INVITE) == parse_message(INVITE)


@pytest.mark.parametrize(
    "data",
    [
        INVITE.replace(b"\r\n", b"\n"),
        request_with((b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n")),
        request_with((b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r")),
        request_with((b"Max-Forwards: 70", b"Max-Forwards: 7\r0")),
        INVITE.replace(b"\r\n\r\n", b"\r\n\n"),
    ],
    ids=["all-lf", "one-lf", "bare-cr", "cr-inside", "lf-blank-line"],
)
def test_bare_lf_or_cr_in_the_header_section_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(data)


# -- start lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"INVITE  sip:a@b SIP/2.0",
        b"INVITE sip:a@b SIP/2.0 ",
        b"INVITE sip:a@b",
        b"INV ITE sip:a@b SIP/2.0",
        b"<INVITE> sip:a@b SIP/2.0",
    ],
)
def test_malformed_request_lines_are_parse_errors(line: bytes) -> None:
    with pytest.raises(ParseError, match="request line"):
        parse_message(request_with((b"INVITE sip:bob@biloxi.example.com SIP/2.0", line)))


@pytest.mark.parametrize(
    "line", [b"INVITE sip:a@b SIP/3.0", b"SIP/2.1 200 OK", b"INVITE sip:a@b SIP/20.0"]
)
def test_other_sip_versions_raise_version_not_supported(line: bytes) -> None:
    with pytest.raises(VersionNotSupported) as caught:
        parse_message(request_with((b"INVITE sip:bob@biloxi.example.com SIP/2.0", line)))
    assert caught.value.status_code == 505


@pytest.mark.parametrize(
    "line",
    [
        b"SIP/2.0 099 Low",
        b"SIP/2.0 700 High",
        b"SIP/2.0 2000 OK",
        b"SIP/2.0 20 OK",
        b"SIP/2.0 abc OK",
    ],
)
def test_status_codes_must_be_three_digits_from_100_to_699(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(request_with((b"INVITE sip:bob@biloxi.example.com SIP/2.0", line)))


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"SIP/2.0 100 ", ""), (b"SIP/2.0 100", ""), (b"SIP/2.0 200 Very  OK ", "Very  OK ")],
)
def test_reason_phrase_is_kept_as_written(line: bytes, reason: str) -> None:
    response = parse_response(request_with((b"INVITE sip:bob@biloxi.example.com SIP/2.0", line)))
    assert response.reason == reason


# -- validate() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds\r\n",
        b"To: Bob <sip:bob@biloxi.example.com>\r\n",
        b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n',
        b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n",
        b"CSeq: 314159 INVITE\r\n",
    ],
    ids=["Via", "To", "From", "Call-ID", "CSeq"],
)
def test_validate_raises_missing_header_for_each_mandatory_header(line: bytes) -> None:
    message = parse_message(request_with((line, b"")))
    with pytest.raises(MissingHeader):
        message.validate()


@pytest.mark.parametrize(
    "line",
    [
        b"To: Bob <sip:bob@biloxi.example.com>",
        b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
        b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        b"CSeq: 314159 INVITE",
        b"Max-Forwards: 70",
    ],
    ids=["To", "From", "Call-ID", "CSeq", "Max-Forwards"],
)
def test_validate_refuses_a_repeated_single_instance_header(line: bytes) -> None:
    message = parse_message(request_with((line, line + b"\r\n" + line)))
    with pytest.raises(BadHeader, match="appears 2 times"):
        message.validate()


@pytest.mark.parametrize(
    ("cseq", "valid"),
    [
        (b"0 INVITE", True),
        (b"2147483647 INVITE", True),
        (b"2147483648 INVITE", False),
        (b"36893488147419103232 INVITE", False),
        (b"-1 INVITE", False),
        (b"1 ACK", False),
        (b"1", False),
        (b"1 INVITE extra", False),
    ],
)
def test_validate_checks_the_cseq_range_and_method(cseq: bytes, valid: bool) -> None:
    message = parse_message(request_with((b"314159 INVITE", cseq)))
    if valid:
        message.validate()
    else:
        with pytest.raises(BadHeader):
            message.validate()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"0", 0), (b"255", 255), (b"0068", 68), (b"256", None), (b"-1", None), (b"1e2", None)],
)
def test_validate_checks_max_forwards_is_0_to_255(value: bytes, expected: int | None) -> None:
    message = parse_message(request_with((b"Max-Forwards: 70", b"Max-Forwards: " + value)))
    if expected is None:
        with pytest.raises(BadHeader, match="Max-Forwards"):
            message.validate()
    else:
        message.validate()
        assert message.max_forwards == expected


def test_validate_refuses_headers_in_the_request_uri() -> None:
    message = parse_message(
        request_with(
            (b"sip:bob@biloxi.example.com SIP", b"sip:bob@biloxi.example.com?Route=%3Csip:x%3E SIP")
        )
    )
    with pytest.raises(BadHeader, match="headers"):
        message.validate()


def test_expires_larger_than_32_bits_is_capped_not_refused() -> None:
    message = parse_message(
        request_with((b"Max-Forwards: 70", b"Max-Forwards: 70\r\nExpires: " + b"9" * 100))
    )
    assert message.expires == 2**32 - 1


# -- Hypothesis strategies built from grammar.py -------------------------------------------------

# UTF8-NONASCII is written \x80-\U0010ffff in grammar.py. Hypothesis expands a character class
# one code point at a time (seconds per regex for that range) and the range holds surrogates,
# which are not text on the wire, so strategies use a sample of it: two-, three- and four-octet
# UTF-8 sequences, a BOM included.
UTF8_NONASCII = r"\x80-\u07ff\u4e00-\u4fff\ufeff\U0001f600-\U0001f64f"


def rx(pattern: str) -> st.SearchStrategy[str]:
    """Strings matching a grammar.py piece exactly (non-ASCII sampled as above)."""
    return st.from_regex(pattern.replace(r"\x80-\U0010ffff", UTF8_NONASCII), fullmatch=True)


tokens = rx(grammar.token)
hosts = st.one_of(rx(grammar.hostname), rx(grammar.ipv4address), st.ip_addresses(v=6).map(str))
ports = st.none() | st.integers(0, 65535)
generic_params = st.lists(st.tuples(tokens, st.none() | rx(grammar.gen_value)), max_size=3).map(
    lambda items: Parameters(tuple(items))
)
uri_params = st.lists(
    st.tuples(rx(rf"{grammar.paramchar}+"), st.none() | rx(rf"{grammar.paramchar}+")), max_size=3
).map(lambda items: Parameters(tuple(items)))
uri_headers = st.lists(
    st.tuples(rx(rf"{grammar.hnvchar}+"), rx(rf"{grammar.hnvchar}*")), max_size=2
).map(tuple)
# words separated by single spaces: what survives folding unchanged
display_text = st.lists(
    st.text(
        st.characters(codec="utf-8").filter(lambda c: c.isprintable() and not c.isspace()),
        min_size=1,
        max_size=8,
    ),
    max_size=3,
).map(" ".join)
# extension-header values: TEXT-UTF8 words with LWS between, plus some odd but legal values
odd_values = st.sampled_from(["", ";;,,;;,;", ":", "a,,b", '"', "<", "\\", "%zz", "=;="])
text_values = rx(r"[\x21-\x7e\x80-\U0010ffff]+(?:[ \t]+[\x21-\x7e\x80-\U0010ffff]+)*")
header_values = odd_values | text_values
# names the typed views read are left to the typed strategies
TYPED_KEYS = {
    *(header_key(name) for name in ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")),
    *(header_key(name) for name in ("Contact", "Content-Length", "Content-Type", "Expires")),
    *(header_key(name) for name in ("Route", "Record-Route", "Reason", "Accept", "Require")),
}
users = rx(grammar.user)
passwords = rx(grammar.password)
call_ids = rx(grammar.callid)
tel_numbers = rx(r"\+?[0-9]+(?:-[0-9]+)*")
extension_names = tokens.filter(lambda n: header_key(n) not in TYPED_KEYS)


@st.composite
def sip_uris(draw: st.DrawFn, *, with_headers: bool = False) -> SipUri:
    user = draw(st.none() | users)
    password = draw(st.none() | passwords) if user is not None else None
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=password,
        host=draw(hosts),
        port=draw(ports),
        params=draw(uri_params),
        headers=draw(uri_headers) if with_headers else (),
    )


request_uris = sip_uris()
uris: st.SearchStrategy[Uri] = st.one_of(
    sip_uris(with_headers=True),
    st.builds(TelUri, number=tel_numbers, params=uri_params),
)


@st.composite
def vias(draw: st.DrawFn) -> Via:
    params = draw(generic_params)
    if draw(st.booleans()):
        params = params.with_param("received", str(draw(st.ip_addresses())))
    return Via(
        transport=draw(tokens).upper(),
        host=draw(hosts),
        port=draw(ports),
        params=params.with_param("branch", "z9hG4bK" + draw(tokens)),
    )


name_addresses = st.builds(
    NameAddress, display_name=st.none() | display_text, uri=uris, params=generic_params
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(tokens)
    via_list = draw(st.lists(vias(), min_size=1, max_size=3))
    headers = [("Via", str(via)) for via in via_list]
    headers += [
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
        ("From", str(draw(name_addresses).with_tag(draw(tokens)))),
        ("To", str(draw(name_addresses))),
        ("Call-ID", draw(call_ids)),
        ("CSeq", str(CSeq(number=draw(st.integers(0, 2**31 - 1)), method=method))),
    ]
    headers += [("Contact", str(c)) for c in draw(st.lists(name_addresses, max_size=2))]
    headers += draw(st.lists(st.tuples(extension_names, header_values), max_size=4))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        headers.append(("Content-Length", str(len(body))))
    uri = draw(request_uris)
    return Request(method, uri, headers, body)


@st.composite
def responses(draw: st.DrawFn) -> Response:
    request = draw(requests())
    headers = request.headers.without("max-forwards")
    return Response(
        draw(st.integers(100, 699)),
        draw(st.just("") | text_values),
        headers,
        request.body,
    )


messages = st.one_of(requests(), responses())


def read_every_view(message: Request | Response) -> None:
    """Validate and read every typed view; each may raise ParseError and nothing else."""
    views: list[Callable[[], object]] = [
        message.validate,
        lambda: [str(v) for v in message.via],
        lambda: str(message.top_via),
        lambda: str(message.from_),
        lambda: str(message.to),
        lambda: message.call_id,
        lambda: str(message.cseq),
        lambda: message.max_forwards,
        lambda: message.content_length,
        lambda: message.expires,
        lambda: [str(c) for c in message.contacts],
        lambda: message.contact_wildcard,
        lambda: [str(r) for r in message.routes],
        lambda: [str(r) for r in message.record_routes],
        lambda: [(str(r), r.cause, r.text) for r in message.reasons],
        lambda: str(message.content_type),
        lambda: message.accept,
        lambda: message.option_tags("Require"),
        lambda: message.option_tags("Supported"),
        lambda: [v.rport for v in message.via],
    ]
    if isinstance(message, Request):
        views.append(lambda: str(message.uri))
    for view in views:
        with contextlib.suppress(ParseError):
            view()
    assert isinstance(bytes(message), bytes)


# -- properties ----------------------------------------------------------------------------------


@given(messages)
def test_generated_messages_survive_serialisation(message: Request | Response) -> None:
    again = parse_message(bytes(message))
    assert again == message
    assert bytes(again) == bytes(message)


@given(requests())
def test_reparsing_preserves_typed_views(request: Request) -> None:
    request.validate()
    again = parse_request(bytes(request))
    again.validate()
    assert again.via == request.via
    assert again.cseq == request.cseq
    assert again.from_ == request.from_
    assert again.from_.tag == request.from_.tag
    assert again.to == request.to
    assert again.contacts == request.contacts
    assert again.call_id == request.call_id
    assert again.max_forwards == request.max_forwards
    assert again.uri == request.uri


@given(vias(), name_addresses, sip_uris(with_headers=True))
def test_typed_values_write_text_that_parses_back_to_them(
    via: Via, address: NameAddress, uri: SipUri
) -> None:
    message = parse_request(
        request_with(
            (VIA_VALUE, str(via).encode()),
            (b"<sip:alice@pc33.atlanta.example.com>", str(address).encode()),
        )
    )
    assert message.top_via == via
    assert message.contacts == (address,)
    assert parse_uri(str(uri)) == uri


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError:
        return
    read_every_view(message)


MUTATION_BYTES = b'\r\n \t:;,<>"\\[]@%=?&/\x00\x7f\x80\xff0123456789SIP'


@st.composite
def mutated_invites(draw: st.DrawFn) -> bytes:
    data = bytearray(INVITE)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "flip" and position < len(data):
            data[position] = draw(st.sampled_from(MUTATION_BYTES) | st.integers(0, 255))
        elif kind == "insert":
            filler = st.binary(min_size=1, max_size=4) | st.sampled_from(
                [b"\r\n", b"\r\n ", b";", b",", b"<", b'"', b"%", b"SIP/2.0"]
            )
            data[position:position] = draw(filler)
        else:
            del data[position : position + draw(st.integers(1, 8))]
    return bytes(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_invites())
def test_mutated_invites_only_ever_raise_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError:
        return
    read_every_view(message)


@given(st.one_of(st.binary(max_size=512), mutated_invites()))
def test_the_transaction_layer_never_raises_on_bad_datagrams(data: bytes) -> None:
    layer = TransactionLayer()
    layer.receive(data, ("192.0.2.1", 5060), "udp", 0.0)
    for send in layer.take_sends():
        response = parse_response(send.data)
        assert response.status_code in (100, 400, 505, 513)
        assert send.destination == ("192.0.2.1", 5060)
    assert layer.take_events()


LONG_TO_COMPACT = {long.lower(): short for short, long in COMPACT_FORMS.items()}


@st.composite
def spelling_variants(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A canonical request and the same request with renamed, recased and folded headers."""
    request = draw(requests())
    canonical = bytes(request)
    lines = [request.start_line()]
    for name, value in request.headers:
        short = LONG_TO_COMPACT.get(name.lower())
        if short is not None and draw(st.booleans()):
            name = short
        name = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in name)
        text = f"{name}: {value}"
        pieces = text.split(" ")
        folded = pieces[0]
        for piece in pieces[1:]:
            # a single space between non-blank text may become any LWS with a line break
            fold = draw(st.sampled_from([" ", " ", "\r\n ", "\r\n\t", " \r\n ", "\t\r\n \t"]))
            folded += (
                fold if folded[-1:] not in " \t" and piece[:1] not in ("", " ", "\t") else " "
            ) + piece
        lines.append(folded)
    variant = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + request.body
    return canonical, variant


@given(spelling_variants())
def test_header_case_compact_forms_and_folding_change_nothing(pair: tuple[bytes, bytes]) -> None:
    canonical, variant = pair
    expected, actual = parse_request(canonical), parse_request(variant)
    assert typed_views(actual) == typed_views(expected)
    assert actual.uri == expected.uri
    assert actual.body == expected.body
    assert actual.headers == expected.headers
