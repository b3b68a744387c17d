"""The checks a UAS core makes before acting on a request (RFC 3261 §8.2), and OPTIONS.

:func:`check_request` runs the inspections of §8.2.1 (method), §8.2.2 (Request-URI scheme and
Require) and §8.2.3 (body type and Accept) in the RFC's order and raises the error whose
response answers the request. :class:`UasPolicy` says what this element supports; the switch
passes its own, the OPTIONS responder of ``sharedline serve`` the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    BadExtension,
    MethodNotAllowed,
    MethodNotImplemented,
    NotAcceptable,
    UnsupportedMediaType,
    UnsupportedUriScheme,
)
from .headers import MediaType
from .message import Request, Response
from .responses import make_response
from .uri import TelUri

__all__ = ["KNOWN_METHODS", "UasPolicy", "check_request", "options_response"]

# Methods of RFC 3261 and the extensions every SIP element has heard of.
KNOWN_METHODS = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    }
)
# Methods whose body, when present, must be a session description (RFC 3261 §13.2.1, §14).
_SDP_METHODS = frozenset({"INVITE", "ACK", "UPDATE", "PRACK"})


@dataclass(frozen=True, slots=True, kw_only=True)
class UasPolicy:
    """What a UAS serves: methods, option tags, URI schemes and body types."""

    allowed_methods: tuple[str, ...] = ("OPTIONS",)
    supported: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("sip", "sips", "tel")
    accepted_bodies: tuple[str, ...] = ("application/sdp",)


def check_request(request: Request, policy: UasPolicy) -> None:
    """Raise the error that answers ``request``, or return when it may be processed.

    Raises :class:`MethodNotImplemented` (501), :class:`MethodNotAllowed` (405),
    :class:`UnsupportedUriScheme` (416), :class:`BadExtension` (420),
    :class:`UnsupportedMediaType` (415) or :class:`NotAcceptable` (406); and
    :class:`~sharedline.sip.errors.BadHeader` for malformed Require, Content-Type or Accept.
    """
    method = request.method
    # §8.2.1: method inspection
    if method not in policy.allowed_methods:
        if method not in KNOWN_METHODS:
            raise MethodNotImplemented(f"method {method!r} is not implemented")
        raise MethodNotAllowed(f"method {method} is not allowed here", policy.allowed_methods)
    # §8.2.2.1: Request-URI scheme (To is not checked: any URI is fine there)
    uri = request.uri
    scheme = "tel" if isinstance(uri, TelUri) else uri.scheme.lower()
    if scheme not in policy.schemes:
        raise UnsupportedUriScheme(f"URI scheme {scheme!r} is not supported")
    # §8.2.2.3: Require, except on ACK and CANCEL
    if method not in ("ACK", "CANCEL"):
        unknown = tuple(t for t in request.option_tags("require") if t not in policy.supported)
        if unknown:
            raise BadExtension(f"unsupported option tags {', '.join(unknown)}", unknown)
    # §8.2.3: content processing
    if method in _SDP_METHODS:
        _check_session_body(request, policy)


def _check_session_body(request: Request, policy: UasPolicy) -> None:
    content_type = request.content_type
    if request.body and (
        content_type is None or content_type.essence not in policy.accepted_bodies
    ):
        shown = content_type.essence if content_type is not None else "none"
        raise UnsupportedMediaType(f"body type {shown} is not supported")
    encodings = request.headers.get("content-encoding")
    if encodings and encodings.strip().lower() not in ("identity", ""):
        raise UnsupportedMediaType(f"content encoding {encodings.strip()[:40]!r} is not supported")
    accept = request.accept
    if request.method == "INVITE" and accept is not None and not _acceptable(accept, policy):
        raise NotAcceptable("Accept excludes application/sdp")


def _acceptable(accept: tuple[MediaType, ...], policy: UasPolicy) -> bool:
    return any(rng.matches(body) for rng in accept for body in policy.accepted_bodies)


def options_response(request: Request, policy: UasPolicy, *, to_tag: str) -> Response:
    """200 OK to OPTIONS with Allow, Accept and Supported (RFC 3261 §11.2)."""
    headers = [
        ("Allow", ", ".join(policy.allowed_methods)),
        ("Accept", ", ".join(policy.accepted_bodies)),
    ]
    if policy.supported:
        headers.append(("Supported", ", ".join(policy.supported)))
    return make_response(request, 200, to_tag=to_tag, headers=headers)
