"""Parser throughput: messages parsed per second, lazy and fully typed.

Run: ``.venv/bin/python -m bench.parser [--seconds 1.0] [--runs 5]``. Prints the median of
``--runs`` timed runs for a typical carrier INVITE with SDP and a 200 OK, each parsed lazily
(``parse_message``) and fully (plus ``validate()`` and every typed view), and the ratio against
the standard library's RFC 5322 header parser on the same bytes, measured in the same run, so
that a noisy machine moves both numbers together.
"""

from __future__ import annotations

import argparse
import email.parser
import statistics
import time
from collections.abc import Callable

from sharedline.sip.message import Message, Request
from sharedline.sip.parser import parse_message

SDP = (
    b"v=0\r\no=carrier 2890844526 2890844526 IN IP4 198.51.100.7\r\ns=-\r\n"
    b"c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:+14155550100@sharedline.example.com;user=phone SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKnashds8;received=203.0.113.9\r\n"
    b"Max-Forwards: 69\r\n"
    b'From: "ACME Corp" <sip:+12125550123@carrier.example.net;user=phone>;tag=1928301774\r\n'
    b"To: <sip:+14155550100@sharedline.example.com;user=phone>\r\n"
    b"Call-ID: a84b4c76e66710@carrier.example.net\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:+12125550123@198.51.100.7:5060;transport=udp>\r\n"
    b"Record-Route: <sip:198.51.100.7;lr>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n"
    b"Supported: timer, 100rel\r\n"
    b"Session-Expires: 1800\r\n"
    b"P-Asserted-Identity: <sip:+12125550123@carrier.example.net;user=phone>\r\n"
    b"User-Agent: CarrierSBC/4.2\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)

OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-b2b-1f3a;received=127.0.0.1\r\n"
    b'From: "ACME Corp" <sip:+12125550123@sharedline.example.com>;tag=sl-73ab\r\n'
    b"To: <sip:alice@127.0.0.1:5072>;tag=8321234356\r\n"
    b"Call-ID: 9f8e7d6c5b4a@sharedline.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@127.0.0.1:5072;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def parse_fully(data: bytes) -> Message:
    """Parse and read every typed header the switch uses."""
    message = parse_message(data)
    message.validate()
    _ = (message.content_type, message.record_routes, message.option_tags("supported"))
    if isinstance(message, Request):
        _ = message.uri
    return message


def stdlib_headers(data: bytes) -> object:
    """The baseline: the standard library's RFC 5322 header parser on the same bytes."""
    return email.parser.BytesHeaderParser().parsebytes(data.partition(b"\r\n")[2])


def rate(function: Callable[[bytes], object], data: bytes, seconds: float) -> float:
    """Calls per second of ``function(data)`` over about ``seconds``."""
    count, batch = 0, 500
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            function(data)
        count += batch
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="SIP parser throughput")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args()
    cases: list[tuple[str, str, Callable[[bytes], object], bytes]] = [
        ("INVITE", "lazy", parse_message, INVITE),
        ("INVITE", "full", parse_fully, INVITE),
        ("INVITE", "email", stdlib_headers, INVITE),
        ("200 OK", "lazy", parse_message, OK_200),
        ("200 OK", "full", parse_fully, OK_200),
        ("200 OK", "email", stdlib_headers, OK_200),
    ]
    runs: dict[tuple[str, str], list[float]] = {(name, mode): [] for name, mode, _, _ in cases}
    for _ in range(args.runs):  # interleaved, so drift on a noisy machine hits every case alike
        for name, mode, function, data in cases:
            runs[(name, mode)].append(rate(function, data, args.seconds))
    medians = {key: statistics.median(values) for key, values in runs.items()}
    print(f"{'message':8} {'mode':6} {'median msg/s':>13} {'vs stdlib email':>16}")
    for name, mode, _, _ in cases:
        ratio = medians[(name, mode)] / medians[(name, "email")]
        print(f"{name:8} {mode:6} {medians[(name, mode)]:13,.0f} {ratio:15.2f}x")
    print(f"runs={args.runs} seconds/run={args.seconds} INVITE={len(INVITE)} B 200={len(OK_200)} B")


if __name__ == "__main__":
    main()
