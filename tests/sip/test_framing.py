"""Stream framing: Content-Length cuts messages, CRLF keep-alives, limits close the stream."""

from __future__ import annotations

import pytest

from sharedline.sip.errors import MessageTooLarge, ParseError
from sharedline.sip.framing import KeepAlivePing, StreamFramer
from sharedline.sip.parser import Limits, parse_message

OPTIONS = (
    b"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-1\r\n"
    b"From: <sip:probe@127.0.0.1>;tag=a\r\nTo: <sip:ping@127.0.0.1>\r\n"
    b"Call-ID: frame-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody"
)


def test_two_messages_in_one_read_are_cut_by_content_length() -> None:
    framer = StreamFramer()
    frames = framer.feed(OPTIONS + OPTIONS)
    assert frames == [OPTIONS, OPTIONS]
    assert framer.pending == 0
    message = parse_message(OPTIONS, stream=True)
    assert message.body == b"body"


def test_a_message_trickled_byte_by_byte_is_delivered_once_complete() -> None:
    framer = StreamFramer()
    delivered = []
    for index in range(len(OPTIONS)):
        delivered.extend(framer.feed(OPTIONS[index : index + 1]))
        if index < len(OPTIONS) - 1:
            assert delivered == []
    assert delivered == [OPTIONS]


def test_double_crlf_is_a_keepalive_ping_and_single_crlf_is_ignored() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [KeepAlivePing()]
    assert framer.feed(b"\r\n" + OPTIONS) == [OPTIONS]


def test_compact_content_length_frames_too() -> None:
    compact = OPTIONS.replace(b"Content-Length: 4", b"l:4")
    assert StreamFramer().feed(compact) == [compact]


@pytest.mark.parametrize(
    ("mutation", "error"),
    [
        (lambda m: m.replace(b"Content-Length: 4\r\n", b""), ParseError),
        (lambda m: m.replace(b"Content-Length: 4", b"Content-Length: 4\r\nl: 5"), ParseError),
        (lambda m: m.replace(b"Content-Length: 4", b"Content-Length: -4"), ParseError),
        (lambda m: m.replace(b"Content-Length: 4", b"Content-Length: 999999"), MessageTooLarge),
    ],
    ids=["missing", "repeated", "negative", "over-limit"],
)
def test_framing_faults_raise_so_the_connection_closes(mutation, error) -> None:
    with pytest.raises(error):
        StreamFramer().feed(mutation(OPTIONS))


def test_a_header_section_without_end_is_refused_past_the_limit() -> None:
    framer = StreamFramer(Limits(max_header_size=1024))
    framer.feed(b"OPTIONS sip:x SIP/2.0\r\n")
    with pytest.raises(MessageTooLarge):
        framer.feed(b"X-Filler: " + b"a" * 2000 + b"\r\n")
