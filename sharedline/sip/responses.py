"""Building responses to requests (RFC 3261 §8.2.6) and answering errors with them."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import (
    BadExtension,
    MethodNotAllowed,
    NotAcceptable,
    ProtocolError,
    UnsupportedMediaType,
)
from .message import Request, Response

__all__ = ["REASON_PHRASES", "make_response", "response_for_error"]

# RFC 3261 §21 and extensions used by this project.
REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    440: "Max-Breadth Exceeded",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}


def make_response(
    request: Request,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``request``: Via, From, Call-ID, CSeq and To copied as written (§8.2.6.2).

    ``to_tag`` is added to To when the request's To has none and the status is not 100. Raw
    header text is copied, so even a request with a malformed typed header can be answered.
    """
    lines: list[tuple[str, str]] = []
    lines.extend(("Via", value) for value in request.headers.get_all("via"))
    to_value = request.headers.get("to") or ""
    if to_tag is not None and status_code != 100 and not _has_tag(request):
        to_value = f"{to_value};tag={to_tag}"
    for name in ("From", "To", "Call-ID", "CSeq"):
        copied = to_value if name == "To" else request.headers.get(name)
        if copied is not None:
            lines.append((name, copied))
    if status_code == 100 and (timestamp := request.headers.get("timestamp")) is not None:
        lines.append(("Timestamp", timestamp))  # RFC 3261 §8.2.6.1
    lines.extend(headers)
    lines.append(("Content-Length", str(len(body))))
    phrase = reason if reason is not None else REASON_PHRASES.get(status_code, "Unknown")
    return Response(status_code, phrase, lines, body)


def response_for_error(
    request: Request, error: ProtocolError, *, to_tag: str | None = None
) -> Response:
    """The response an error implies, with the headers its status code requires."""
    extra: list[tuple[str, str]] = []
    if isinstance(error, BadExtension):
        extra.append(("Unsupported", ", ".join(error.unsupported)))  # RFC 3261 §8.2.2.3
    elif isinstance(error, MethodNotAllowed):
        extra.append(("Allow", ", ".join(error.allowed)))  # RFC 3261 §8.2.1
    elif isinstance(error, UnsupportedMediaType | NotAcceptable):
        extra.append(("Accept", "application/sdp"))  # RFC 3261 §21.4.13
    return make_response(
        request, error.status_code, _safe_phrase(error.reason_phrase), to_tag=to_tag, headers=extra
    )


def _has_tag(request: Request) -> bool:
    """Whether the request's To already carries a tag (an in-dialog request, §12.2.2)."""
    try:
        return request.to.tag is not None
    except ProtocolError:  # a malformed To: read it as text, case-insensitively
        raw = (request.headers.get("to") or "").lower()
        return ";tag=" in raw.replace(" ", "").replace("\t", "")


def _safe_phrase(text: str) -> str:
    """A reason phrase that cannot break the status line (no CR, LF or other controls)."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned[:120]
