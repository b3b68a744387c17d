"""Errors of the SIP core.

Every error knows the SIP response it implies (``status_code`` and ``reason``), so one function,
:func:`sharedline.sip.responses.response_for_error`, turns any of them into an answer.

    SipError
     ├── ProtocolError               the peer sent something we cannot accept (4xx/5xx to it)
     │    ├── ParseError             400: the bytes are not a SIP message we can read
     │    │    ├── MissingHeader     400: a mandatory header is absent
     │    │    ├── BadHeader         400: a header value does not match its grammar
     │    │    ├── MessageTooLarge   513: over the configured size limits
     │    │    └── VersionNotSupported  505: not SIP/2.0
     │    ├── MethodNotAllowed       405: a method we know but do not serve (RFC 3261 §8.2.1)
     │    ├── MethodNotImplemented   501: a method we do not know (RFC 3261 §21.5.2)
     │    ├── UnsupportedUriScheme   416: Request-URI scheme we do not serve (RFC 3261 §8.2.2.1)
     │    ├── BadExtension           420: unknown option tags in Require (RFC 3261 §8.2.2.3)
     │    ├── UnsupportedMediaType   415: a body we cannot handle (RFC 3261 §8.2.3)
     │    ├── NotAcceptable          406: the Accept header excludes what we would answer with
     │    ├── TooManyHops            483: Max-Forwards exhausted (RFC 3261 §16.3)
     │    ├── LoopDetected           482: the request is looping (RFC 3261 §16.3 step 4)
     │    └── DialogError            a request that does not fit its dialog (RFC 3261 §12.2.2)
     │         ├── CallDoesNotExist  481: no dialog or transaction for the request
     │         └── OutOfOrderRequest 500: CSeq not above the remote sequence number
     └── LocalProtocolError          our own code misused the API (a bug: never caught)

Network input never raises past the core: adapters catch :class:`ProtocolError` at their
boundary, answer or drop, and keep serving. ``LocalProtocolError`` is a programming error.
"""

from __future__ import annotations

__all__ = [
    "BadExtension",
    "BadHeader",
    "CallDoesNotExist",
    "DialogError",
    "LocalProtocolError",
    "LoopDetected",
    "MessageTooLarge",
    "MethodNotAllowed",
    "MethodNotImplemented",
    "MissingHeader",
    "NotAcceptable",
    "OutOfOrderRequest",
    "ParseError",
    "ProtocolError",
    "SipError",
    "TooManyHops",
    "UnsupportedMediaType",
    "UnsupportedUriScheme",
    "VersionNotSupported",
]


class SipError(Exception):
    """Base class of every error raised by :mod:`sharedline.sip`."""


class ProtocolError(SipError):
    """The peer violated the protocol; answer with ``status_code`` when a request is answerable."""

    status_code = 400
    reason = "Bad Request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def reason_phrase(self) -> str:
        """A reason phrase naming the fault, for the status line (RFC 3261 §21: free text)."""
        return f"{self.reason} ({self.message})" if self.status_code == 400 else self.reason


class ParseError(ProtocolError):
    """The bytes do not form a SIP message we can read (RFC 3261 §7, §25)."""


class MissingHeader(ParseError):
    """A header that RFC 3261 §8.1.1 makes mandatory is absent."""


class BadHeader(ParseError):
    """A header's value does not match its grammar (RFC 3261 §25.1)."""


class MessageTooLarge(ParseError):
    """The message exceeds the configured limits (RFC 3261 §21.5.14)."""

    status_code = 513
    reason = "Message Too Large"


class VersionNotSupported(ParseError):
    """The SIP-Version is not SIP/2.0 (RFC 3261 §21.5.11)."""

    status_code = 505
    reason = "Version Not Supported"


class MethodNotAllowed(ProtocolError):
    """We know the method but do not serve it here; answer with Allow (RFC 3261 §8.2.1)."""

    status_code = 405
    reason = "Method Not Allowed"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class MethodNotImplemented(ProtocolError):
    """A method this element does not know (RFC 3261 §8.2.1, §21.5.2)."""

    status_code = 501
    reason = "Not Implemented"


class UnsupportedUriScheme(ProtocolError):
    """The Request-URI scheme is not one we serve (RFC 3261 §8.2.2.1, §21.4.14)."""

    status_code = 416
    reason = "Unsupported URI Scheme"


class BadExtension(ProtocolError):
    """Require names option tags we do not support (RFC 3261 §8.2.2.3, §21.4.15)."""

    status_code = 420
    reason = "Bad Extension"

    def __init__(self, message: str, unsupported: tuple[str, ...]) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class UnsupportedMediaType(ProtocolError):
    """The body's type or encoding is not one we accept (RFC 3261 §8.2.3, §21.4.13)."""

    status_code = 415
    reason = "Unsupported Media Type"


class NotAcceptable(ProtocolError):
    """The request's Accept header excludes the body our answer needs (RFC 3261 §21.4.7)."""

    status_code = 406
    reason = "Not Acceptable"


class TooManyHops(ProtocolError):
    """Max-Forwards reached zero on a request we would forward (RFC 3261 §16.3 step 3)."""

    status_code = 483
    reason = "Too Many Hops"


class LoopDetected(ProtocolError):
    """The request came back to us (RFC 3261 §16.3 step 4, RFC 5393)."""

    status_code = 482
    reason = "Loop Detected"


class DialogError(ProtocolError):
    """A request that does not fit its dialog (RFC 3261 §12.2.2)."""


class CallDoesNotExist(DialogError):
    """No dialog or transaction matches the request (RFC 3261 §12.2.2)."""

    status_code = 481
    reason = "Call/Transaction Does Not Exist"


class OutOfOrderRequest(DialogError):
    """A request whose CSeq is not above the remote sequence number (RFC 3261 §12.2.2)."""

    status_code = 500
    reason = "Server Internal Error"


class LocalProtocolError(SipError):
    """Our own code used the core wrongly; this is a bug, never the peer's fault."""
