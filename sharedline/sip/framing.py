"""Cutting a TCP or TLS byte stream into SIP messages (RFC 3261 §18.3, RFC 5626 §3.5.1).

On a stream, Content-Length is mandatory and says where the body ends. CRLFs between messages
are ignored (§7.5), except that a double CRLF is a keep-alive ping to be answered with a single
CRLF pong (RFC 5626 §3.5.1). Limits stop a peer from making us buffer without bound: a header
section that does not end within ``max_header_size`` bytes, or a message longer than
``max_message_size``, raises, and the connection must then be closed, because once framing is
lost nothing after it can be trusted (RFC 4475 §3.3.9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import MessageTooLarge, ParseError
from .headers import parse_uint
from .parser import DEFAULT_LIMITS, Limits

__all__ = ["PONG", "KeepAlivePing", "StreamFramer"]

# Content-Length or its compact form l, at the start of a header line (RFC 3261 §20.14).
_CONTENT_LENGTH_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A double-CRLF ping; answer it with ``PONG``."""


PONG = b"\r\n"


class StreamFramer:
    """Accumulates stream bytes and hands out complete messages."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlivePing]:
        """Add ``data``; return every complete message and ping now available.

        Raises :class:`MessageTooLarge` or :class:`ParseError` when framing is impossible.
        """
        self._buffer += data
        frames: list[bytes | KeepAlivePing] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self) -> bytes | KeepAlivePing | None:
        buffer = self._buffer
        while buffer.startswith(b"\r\n"):
            if buffer.startswith(b"\r\n\r\n"):
                del buffer[:4]
                return KeepAlivePing()
            if len(buffer) < 4 and b"\r\n\r\n".startswith(bytes(buffer)):
                return None  # maybe the start of a ping: wait for more
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > self.limits.max_header_size:
                raise MessageTooLarge(f"header section exceeds {self.limits.max_header_size} bytes")
            return None
        if end > self.limits.max_header_size:
            raise MessageTooLarge(f"header section exceeds {self.limits.max_header_size} bytes")
        lengths = _CONTENT_LENGTH_RE.findall(bytes(buffer[:end]))
        if len(lengths) != 1:
            problem = "missing" if not lengths else "repeated"
            raise ParseError(f"Content-Length {problem} on a stream transport")
        text = lengths[0].decode("ascii", "replace")
        length = parse_uint(text, "Content-Length", 2**31)
        total = end + 4 + length
        if total > self.limits.max_message_size:
            raise MessageTooLarge(
                f"message of {total} bytes exceeds {self.limits.max_message_size}"
            )
        if len(buffer) < total:
            return None
        message = bytes(buffer[:total])
        del buffer[:total]
        return message
