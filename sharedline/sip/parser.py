"""Bytes to messages: RFC 3261 §7 framing of one message, parsed lazily.

``parse_message`` does the least work that makes a message usable: it splits the start line,
unfolds and splits the header lines, and cuts the body by Content-Length. Header values are
typed later, on first read (see :mod:`sharedline.sip.message`). Every fault raises
:class:`~sharedline.sip.errors.ParseError` or a subclass, and nothing else, whatever the bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import grammar
from .errors import MessageTooLarge, ParseError, VersionNotSupported
from .headers import parse_uint
from .message import Headers, Request, Response, header_key

__all__ = ["DEFAULT_LIMITS", "Limits", "parse_message"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Size limits applied before any parsing (RFC 3261 §18.1.1, §21.5.14)."""

    max_message_size: int = 65_535
    max_header_size: int = 16_384
    max_headers: int = 256


DEFAULT_LIMITS = Limits()

# LWS = [*WSP CRLF] 1*WSP: a folded line continues the previous one (RFC 3261 §7.3.1).
_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_VERSION = "SIP/2.0"


def parse_message(
    data: bytes, *, stream: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Request | Response:
    """Parse one SIP message.

    ``stream=False`` (a UDP datagram, RFC 3261 §18.3): without Content-Length the body runs to
    the end of the datagram; octets after Content-Length are discarded. ``stream=True`` (one
    message cut from a TCP/TLS stream by :class:`~sharedline.sip.framing.StreamFramer`):
    Content-Length is mandatory and must match exactly.

    Raises :class:`ParseError` (or :class:`MessageTooLarge`, :class:`VersionNotSupported`).
    """
    if len(data) > limits.max_message_size:
        raise MessageTooLarge(f"message of {len(data)} bytes exceeds {limits.max_message_size}")
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise ParseError("no empty line after the header section")
    if end - start > limits.max_header_size:
        raise MessageTooLarge(f"header section exceeds {limits.max_header_size} bytes")
    head = data[start:end].decode("utf-8", "surrogateescape")
    if "\r\n " in head or "\r\n\t" in head:
        head = _FOLD_RE.sub(" ", head)
    lines = head.split("\r\n")
    crlf = head.count("\r\n")
    if head.count("\r") != crlf or head.count("\n") != crlf:
        raise ParseError("bare CR or LF inside the header section")
    if len(lines) > limits.max_headers:
        raise MessageTooLarge(f"more than {limits.max_headers} header lines")
    items, keys = _split_headers(lines)
    body = _cut_body(data, end + 4, items, keys, stream=stream)
    headers = Headers(items, _keys=keys)
    first = lines[0]
    if first.startswith("SIP/"):
        return _response(first, headers, body)
    return _request(first, headers, body)


def _split_headers(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    items: list[tuple[str, str]] = []
    keys: list[str] = []
    token = grammar.TOKEN_RE.fullmatch
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")  # HCOLON = *( SP / HTAB ) ":" SWS
        if not colon or token(name) is None:
            raise ParseError(f"malformed header line {line[:40]!r}")
        items.append((name, value.strip(" \t")))
        keys.append(header_key(name))
    return items, keys


def _cut_body(
    data: bytes, body_start: int, items: list[tuple[str, str]], keys: list[str], *, stream: bool
) -> bytes:
    lengths = [items[i][1] for i, key in enumerate(keys) if key == "content-length"]
    available = len(data) - body_start
    if not lengths:
        if stream:
            raise ParseError("Content-Length is required on a stream transport")
        return data[body_start:]
    if len(lengths) > 1:
        raise ParseError("Content-Length appears more than once")
    length = parse_uint(lengths[0], "Content-Length", 2**31)
    if length > available:
        raise ParseError(f"Content-Length {length} exceeds the {available} body bytes received")
    if stream and length != available:
        raise ParseError(f"Content-Length {length} does not match the {available} body bytes")
    return data[body_start : body_start + length]


def _request(line: str, headers: Headers, body: bytes) -> Request:
    match = grammar.REQUEST_LINE_RE.fullmatch(line)
    if match is None:
        raise ParseError(f"malformed request line {line[:60]!r}")
    method, uri, version = match.groups()
    if version != _VERSION:
        raise VersionNotSupported(f"SIP version {version!r} is not supported")
    return Request(method, uri, headers, body, version=version)


def _response(line: str, headers: Headers, body: bytes) -> Response:
    match = grammar.STATUS_LINE_RE.fullmatch(line)
    if match is None:
        raise ParseError(f"malformed status line {line[:60]!r}")
    version, code, reason = match.groups()
    if version != _VERSION:
        raise VersionNotSupported(f"SIP version {version!r} is not supported")
    status = int(code)
    if not 100 <= status <= 699:
        raise ParseError(f"status code {status} is outside 100-699")
    return Response(status, reason or "", headers, body, version=version)
