"""Helpers for SIP tests written as literal messages (aiortc ``lf2crlf``, h11 ``helpers.py``)."""

from __future__ import annotations

from sharedline.sip.message import Request, Response
from sharedline.sip.parser import parse_message


def lf2crlf(text: str) -> bytes:
    """A triple-quoted message as wire bytes: every LF becomes CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def parse_request(data: bytes) -> Request:
    """Parse ``data``, which must be a request."""
    message = parse_message(data)
    assert isinstance(message, Request), message
    return message


def parse_response(data: bytes) -> Response:
    """Parse ``data``, which must be a response."""
    message = parse_message(data)
    assert isinstance(message, Response), message
    return message
