"""Typed header values (RFC 3261 §20, grammar in §25.1) and header-name rules.

Each ``parse_*`` function takes one header value (already unfolded) and returns a frozen value
object whose ``str()`` is a valid header value again; on bad input it raises
:class:`~sharedline.sip.errors.BadHeader` naming the header and the offending text. Messages call
these lazily, the first time a typed attribute is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import grammar
from .errors import BadHeader
from .params import Parameters, parse_header_params, quote, unquote
from .uri import SipUri, Uri, format_host, parse_host, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "MediaType",
    "NameAddress",
    "Reason",
    "Via",
    "canonical_name",
    "parse_cseq",
    "parse_media_type",
    "parse_name_address",
    "parse_name_address_list",
    "parse_reason_list",
    "parse_token_list",
    "parse_uint",
    "parse_via_list",
    "split_list",
]

# RFC 3261 §7.3.3 and the IANA registry: compact form -> canonical name.
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_CANONICAL = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Authentication-Info",
        "Authorization",
        "CSeq",
        "Call-Info",
        "Content-Disposition",
        "Content-Language",
        "Date",
        "Error-Info",
        "Expires",
        "In-Reply-To",
        "Max-Forwards",
        "MIME-Version",
        "Min-Expires",
        "Organization",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "RAck",
        "RSeq",
        "Reason",
        "Record-Route",
        "Reply-To",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Timestamp",
        "Unsupported",
        "User-Agent",
        "WWW-Authenticate",
        "Warning",
    )
}
_CANONICAL.update(COMPACT_FORMS)


def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (``v`` -> ``Via``)."""
    return _CANONICAL.get(name.lower(), name)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and ``< >`` (RFC 3261 §7.3.1)."""
    if "," not in value:
        return [value]
    parts, start, depth, in_quotes, index = [], 0, 0, False, 0
    length = len(value)
    while index < length:
        char = value[index]
        if in_quotes:
            if char == "\\":
                index += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(value[start:index])
            start = index + 1
        index += 1
    parts.append(value[start:])
    return parts


def parse_uint(value: str, what: str, maximum: int) -> int:
    """A ``1*DIGIT`` value no larger than ``maximum`` (Python ints never overflow: check here)."""
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise BadHeader(f"{what} must be a non-negative integer, got {text[:40]!r}")
    if len(text) > 12 or int(text) > maximum:
        raise BadHeader(f"{what} {text[:40]} is out of range (at most {maximum})")
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """One Via value (RFC 3261 §20.42): ``SIP/2.0/UDP host:port;branch=...``."""

    protocol: str = "SIP/2.0"
    transport: str
    host: str
    port: int | None = None
    params: Parameters = field(default_factory=Parameters)

    @property
    def branch(self) -> str | None:
        """The branch parameter; RFC 3261 branches start with ``z9hG4bK`` (§8.1.1.7)."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter, brackets removed from an IPv6 value (RFC 5118 §4.5)."""
        value = self.params.get("received")
        return value.strip("[]") if value is not None else None

    @property
    def rport(self) -> int | None:
        """The filled-in ``rport`` value (RFC 3581), ``None`` when absent or empty."""
        value = self.params.get("rport")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """The sent-by host and port as written."""
        return self.host, self.port

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{self.params}"


# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport   (SLASH = SWS "/" SWS)
_VIA_RE = re.compile(
    rf"{grammar.sws}({grammar.token}){grammar.sws}/{grammar.sws}({grammar.token}){grammar.sws}/"
    rf"{grammar.sws}({grammar.token}){grammar.lws}(\[[^\]]*\]|[^;:\s\[]*)(?:{grammar.sws}:"
    rf"{grammar.sws}([^;\s]*))?"
)


def parse_via_list(value: str) -> list[Via]:
    """All via-parms of one Via header value."""
    return [_parse_via(part) for part in split_list(value)]


def _parse_via(text: str) -> Via:
    match = _VIA_RE.match(text)
    if match is None:
        raise BadHeader(f"malformed Via {text.strip()[:60]!r}")
    name, version, transport, host_text, port_text = match.groups()
    hostport = host_text if port_text is None else f"{host_text}:{port_text}"
    host, port = parse_host(hostport, f"Via {text.strip()[:60]}")
    params = parse_header_params(text, match.end(), "Via")
    return Via(
        protocol=f"{name}/{version}",
        transport=transport.upper(),
        host=host,
        port=port,
        params=params,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddress:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route (§20.10)."""

    display_name: str | None = None
    uri: Uri
    params: Parameters = field(default_factory=Parameters)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter of From and To (RFC 3261 §19.3)."""
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri | None:
        """The URI when it is a SIP or SIPS URI."""
        return self.uri if isinstance(self.uri, SipUri) else None

    def with_tag(self, tag: str) -> NameAddress:
        """A copy with ``tag`` set."""
        return NameAddress(
            display_name=self.display_name, uri=self.uri, params=self.params.with_param("tag", tag)
        )

    def __str__(self) -> str:
        name = f"{quote(self.display_name)} " if self.display_name is not None else ""
        return f"{name}<{self.uri}>{self.params}"


# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
# display-name = *(token LWS)/ quoted-string
_DISPLAY_NAME_RE = re.compile(
    rf"{grammar.sws}(?:({grammar.quoted_string})|((?:{grammar.token}{grammar.lws})*"
    rf"{grammar.token})?){grammar.sws}<"
)
_ADDR_SPEC_END_RE = re.compile(r"[;\s]")


def parse_name_address(value: str, what: str) -> NameAddress:
    """Parse ``( name-addr / addr-spec ) *( SEMI generic-param )`` (RFC 3261 §25.1)."""
    match = _DISPLAY_NAME_RE.match(value)
    if match is not None:
        quoted, tokens = match.groups()
        display = unquote(quoted) if quoted is not None else tokens
        close = value.find(">", match.end())
        if close < 0:
            raise BadHeader(f"{what} has '<' without '>': {value.strip()[:60]!r}")
        uri_text = value[match.end() : close]
        rest = close + 1
    elif "<" in value:
        raise BadHeader(f"malformed display name in {what}: {value.strip()[:60]!r}")
    else:
        # addr-spec form: the URI ends at the first ';' or space, so a ';' here starts a header
        # parameter (RFC 3261 §20.10, RFC 4475 §3.3.12); '?' and ',' need brackets.
        display = None
        start = len(value) - len(value.lstrip(" \t"))
        end_match = _ADDR_SPEC_END_RE.search(value, start)
        rest = end_match.start() if end_match else len(value)
        uri_text = value[start:rest]
        if "?" in uri_text:
            raise BadHeader(f"URI with headers in {what} must be in angle brackets")
    try:
        uri = parse_uri(uri_text)
    except BadHeader as error:
        raise BadHeader(f"{what}: {error.message}") from None
    params = parse_header_params(value, rest, what)
    return NameAddress(display_name=display, uri=uri, params=params)


def parse_name_address_list(value: str, what: str) -> list[NameAddress]:
    """All name-addrs of a comma-separated header value (Contact, Route, Record-Route)."""
    return [parse_name_address(part, what) for part in split_list(value)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CSeq:
    """CSeq (RFC 3261 §20.16): the sequence number and the method."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQ_RE = re.compile(rf"{grammar.sws}([0-9]+){grammar.lws}({grammar.token}){grammar.sws}")
CSEQ_MAX = 2**31 - 1  # RFC 3261 §8.1.1.5: less than 2**31


def parse_cseq(value: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method`` with the number below 2**31."""
    match = _CSEQ_RE.fullmatch(value)
    if match is None:
        raise BadHeader(f"malformed CSeq {value.strip()[:60]!r}")
    return CSeq(number=parse_uint(match.group(1), "CSeq number", CSEQ_MAX), method=match.group(2))


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One Reason value (RFC 3326): ``SIP;cause=200;text="Call completed elsewhere"``."""

    protocol: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def cause(self) -> int | None:
        """The cause code, when present and numeric."""
        value = self.params.get("cause")
        return int(value) if value is not None and value.isdigit() and len(value) < 6 else None

    @property
    def text(self) -> str | None:
        """The human-readable text, unquoted."""
        value = self.params.get("text")
        return None if value is None else unquote(value)

    def __str__(self) -> str:
        return f"{self.protocol}{self.params}"


_LEADING_TOKEN_RE = re.compile(rf"{grammar.sws}({grammar.token})")


def parse_reason_list(value: str) -> list[Reason]:
    """Parse ``Reason: protocol *(SEMI reason-params)`` values (RFC 3326 §2)."""
    reasons = []
    for part in split_list(value):
        match = _LEADING_TOKEN_RE.match(part)
        if match is None:
            raise BadHeader(f"malformed Reason {part.strip()[:60]!r}")
        params = parse_header_params(part, match.end(), "Reason")
        reasons.append(Reason(protocol=match.group(1), params=params))
    return reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaType:
    """A media type with parameters (Content-Type, Accept; RFC 3261 §20.15)."""

    type: str
    subtype: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def essence(self) -> str:
        """``type/subtype`` lower-cased, without parameters."""
        return f"{self.type}/{self.subtype}".lower()

    def matches(self, essence: str) -> bool:
        """True when this (possibly wildcard) range covers the type ``essence``."""
        wanted_type, _, wanted_subtype = essence.lower().partition("/")
        return self.type.lower() in ("*", wanted_type) and self.subtype.lower() in (
            "*",
            wanted_subtype,
        )

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{self.params}"


_MEDIA_TYPE_RE = re.compile(
    rf"{grammar.sws}({grammar.token}){grammar.sws}/{grammar.sws}({grammar.token})"
)


def parse_media_type(value: str, what: str = "Content-Type") -> MediaType:
    """Parse ``m-type SLASH m-subtype *(SEMI m-parameter)``."""
    match = _MEDIA_TYPE_RE.match(value)
    if match is None:
        raise BadHeader(f"malformed {what} {value.strip()[:60]!r}")
    params = parse_header_params(value, match.end(), what)
    return MediaType(type=match.group(1), subtype=match.group(2), params=params)


def parse_token_list(value: str, what: str) -> list[str]:
    """A comma-separated token list (Allow, Supported, Require; RFC 3261 §25.1)."""
    tokens = []
    for part in value.split(","):
        item = part.strip(" \t")
        if not item:
            continue
        if not grammar.TOKEN_RE.fullmatch(item):
            raise BadHeader(f"malformed {what} entry {item[:40]!r}")
        tokens.append(item)
    return tokens
