"""SIP, SIPS and tel URIs, and opaque absolute URIs (RFC 3261 §19.1, §25.1; RFC 3966).

``parse_uri`` turns text into one of :class:`SipUri`, :class:`TelUri` or :class:`AbsoluteUri`.
Escapes are kept as written (``%75ser`` stays so) and resolved only by the comparison rules of
RFC 3261 §19.1.4 (:meth:`SipUri.equivalent`): a user part is never re-read as a scheme or host
(RFC 4475 §3.1.1.3).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote as percent_decode

from . import grammar
from .errors import BadHeader
from .params import Parameters

__all__ = ["AbsoluteUri", "SipUri", "TelUri", "Uri", "format_host", "parse_host", "parse_uri"]

_HOST_RE = re.compile(grammar.host)
_PARAM_RE = re.compile(rf"({grammar.paramchar}+)(?:=({grammar.paramchar}+))?")
_HEADER_RE = re.compile(rf"({grammar.hnvchar}+)=({grammar.hnvchar}*)")
_SCHEME_RE = re.compile(rf"({grammar.scheme}):")
_TEL_NUMBER_RE = re.compile(r"[0-9A-Fa-f*#+\-.()pPwW]+|[A-Za-z0-9\-.!~*'()%]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``host`` is bracket-free for IPv6 (``2001:db8::1``)."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: Parameters = field(default_factory=Parameters)
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def secure(self) -> bool:
        """True for a ``sips:`` URI (RFC 3261 §19.1)."""
        return self.scheme == "sips"

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %-escapes resolved (``%00`` stays a NUL; RFC 4475 §3.1.1.4)."""
        return None if self.user is None else percent_decode(self.user, errors="surrogateescape")

    @property
    def transport(self) -> str | None:
        """The ``transport`` URI parameter, lower-cased."""
        value = self.params.get("transport")
        return None if value is None else value.lower()

    def host_port(self, default_port: int = 5060) -> tuple[str, int]:
        """Where this URI points, for sending: host and port with the scheme's default."""
        # RFC 3263 §4.2: 5061 for sips and for transport=tls
        default = 5061 if self.secure or self.transport == "tls" else default_port
        return self.host, self.port if self.port is not None else default

    def without_headers(self) -> SipUri:
        """A copy without ``?headers``: a Request-URI never carries them (RFC 3261 §19.1.5)."""
        return SipUri(
            scheme=self.scheme,
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            params=self.params,
        )

    def equivalent(self, other: Uri) -> bool:
        """URI equality per RFC 3261 §19.1.4 (user case-sensitive, host and params not)."""
        if not isinstance(other, SipUri) or self.scheme != other.scheme:
            return False
        if self.user_unescaped != other.user_unescaped or self.password != other.password:
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        mine = {k.lower(): _decoded(v) for k, v in self.params}
        theirs = {k.lower(): _decoded(v) for k, v in other.params}
        for name in ("user", "ttl", "method", "maddr", "transport"):
            if mine.get(name) != theirs.get(name):
                return False
        shared = mine.keys() & theirs.keys()
        return all(mine[name] == theirs[name] for name in shared)

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = "&".join(f"{k}={v}" for k, v in self.headers)
        tail = f"?{headers}" if headers else ""
        return f"{self.scheme}:{userinfo}{format_host(self.host)}{port}{self.params}{tail}"


def _decoded(value: str | None) -> str | None:
    return None if value is None else percent_decode(value).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): a telephone number with its parameters."""

    number: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def is_global(self) -> bool:
        """True for an E.164 number written with a leading ``+``."""
        return self.number.startswith("+")

    def equivalent(self, other: Uri) -> bool:
        """Numbers compare without visual separators (RFC 3966 §4)."""
        return isinstance(other, TelUri) and _digits(self.number) == _digits(other.number)

    def __str__(self) -> str:
        return f"tel:{self.number}{self.params}"


def _digits(number: str) -> str:
    return re.sub(r"[\-.()]", "", number)


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """Any other URI (``http:``, ``isbn:``...): kept opaque, never routed to."""

    scheme: str
    rest: str

    def equivalent(self, other: Uri) -> bool:
        """Opaque URIs are equal when their text is equal (scheme case-insensitive)."""
        return (
            isinstance(other, AbsoluteUri)
            and self.scheme.lower() == other.scheme.lower()
            and self.rest == other.rest
        )

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a URI as it appears in a Request-URI or inside ``< >``.

    Raises :class:`BadHeader` for anything that is not a URI.
    """
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None:
        raise BadHeader(f"not a URI: {text[:60]!r}")
    scheme = scheme_match.group(1)
    rest = text[scheme_match.end() :]
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip_uri(lowered, rest, text)
    if lowered == "tel":
        return _parse_tel_uri(rest, text)
    if not grammar.URIC_RE.fullmatch(rest):
        raise BadHeader(f"malformed URI: {text[:60]!r}")
    return AbsoluteUri(scheme=scheme, rest=rest)


def _parse_sip_uri(scheme: str, rest: str, text: str) -> SipUri:
    # SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]  (RFC 3261 §25.1)
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, _, pw = userinfo.partition(":")
        password = pw if ":" in userinfo else None
        if not grammar.USER_RE.fullmatch(user):
            raise BadHeader(f"malformed user part in URI {text[:60]!r}")
        if password is not None and not grammar.PASSWORD_RE.fullmatch(password):
            raise BadHeader(f"malformed password in URI {text[:60]!r}")
    rest, _, header_text = rest.partition("?")
    hostport, *param_texts = rest.split(";")
    host, port = parse_host(hostport, text)
    params = []
    for param_text in param_texts:
        match = _PARAM_RE.fullmatch(param_text)
        if match is None:
            raise BadHeader(f"malformed URI parameter {param_text!r} in {text[:60]!r}")
        params.append((match.group(1), match.group(2)))
    headers = []
    if header_text or "?" in rest:
        for item in header_text.split("&"):
            match = _HEADER_RE.fullmatch(item)
            if match is None:
                raise BadHeader(f"malformed URI header {item!r} in {text[:60]!r}")
            headers.append((match.group(1), match.group(2)))
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=Parameters(tuple(params)),
        headers=tuple(headers),
    )


def parse_host(hostport: str, context: str) -> tuple[str, int | None]:
    """Split ``host [ ":" port ]`` and check both (RFC 3261 §25.1, RFC 5118 §4.3)."""
    if hostport.startswith("["):
        close = hostport.find("]")
        host_text, port_text = hostport[: close + 1], hostport[close + 1 :]
        if close < 0 or (port_text and not port_text.startswith(":")):
            raise BadHeader(f"malformed IPv6 reference in {context[:60]!r}")
        port_text = port_text[1:] if port_text else ""
        has_port = bool(hostport[close + 1 :])
    else:
        host_text, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
    if not _HOST_RE.fullmatch(host_text):
        raise BadHeader(f"malformed host {host_text[:60]!r} in {context[:60]!r}")
    host = host_text
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BadHeader(f"malformed IPv6 address {host!r} in {context[:60]!r}") from None
    port = None
    if has_port:
        if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
            raise BadHeader(f"malformed port {port_text[:20]!r} in {context[:60]!r}")
        port = int(port_text)
        if port > 65535:
            raise BadHeader(f"port {port} out of range in {context[:60]!r}")
    return host, port


def format_host(host: str) -> str:
    """``host`` as written in a URI or Via: IPv6 addresses go in brackets (RFC 5118 §4.1)."""
    return f"[{host}]" if ":" in host else host


def _parse_tel_uri(rest: str, text: str) -> TelUri:
    # telephone-uri = "tel:" telephone-subscriber, with ;params (RFC 3966 §3)
    number, *param_texts = rest.split(";")
    if not number or not _TEL_NUMBER_RE.fullmatch(number):
        raise BadHeader(f"malformed tel URI {text[:60]!r}")
    params = []
    for param_text in param_texts:
        match = _PARAM_RE.fullmatch(param_text)
        if match is None:
            raise BadHeader(f"malformed tel URI parameter {param_text!r} in {text[:60]!r}")
        params.append((match.group(1), match.group(2)))
    return TelUri(number=number, params=Parameters(tuple(params)))
