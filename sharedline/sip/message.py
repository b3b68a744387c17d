"""SIP messages: requests and responses with lazily typed headers (RFC 3261 §7).

A message holds its start line, an ordered list of ``(name, value)`` header lines and a body of
bytes. Typed views (``msg.via``, ``msg.cseq``, ``msg.from_`` ...) are parsed the first time they
are read and cached, so a message that is only relayed costs one split of its header section.
Reading a malformed typed header raises :class:`~sharedline.sip.errors.BadHeader`; call
:meth:`Message.validate` to check everything a transaction needs at once.

Messages are values: the ``with_*`` methods return new messages and never change the original.
Unknown headers keep their name and value exactly, and ``bytes(msg)`` writes them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from . import grammar
from .errors import BadHeader, MissingHeader
from .headers import (
    COMPACT_FORMS,
    CSeq,
    MediaType,
    NameAddress,
    Reason,
    Via,
    canonical_name,
    parse_cseq,
    parse_media_type,
    parse_name_address,
    parse_name_address_list,
    parse_reason_list,
    parse_token_list,
    parse_uint,
    parse_via_list,
    split_list,
)
from .uri import SipUri, Uri, parse_uri

__all__ = ["SINGLE_HEADERS", "Headers", "Message", "Request", "Response", "header_key"]

T = TypeVar("T")

_COMPACT_KEYS = {short: long.lower() for short, long in COMPACT_FORMS.items()}
# RFC 3261 §7.3.1: these appear at most once (RFC 4475 §3.3.8 repeats them to test it).
SINGLE_HEADERS = ("call-id", "cseq", "from", "to", "max-forwards", "content-length")
EXPIRES_MAX = 2**32 - 1  # RFC 3261 §20.19: larger values are taken as this


def header_key(name: str) -> str:
    """The lookup key of a header name: lower-case long form (``v`` and ``VIA`` -> ``via``)."""
    key = name.lower()
    return _COMPACT_KEYS.get(key, key) if len(key) == 1 else key


class Headers:
    """An ordered multi-map of header lines; names compare case- and compact-form-insensitively."""

    __slots__ = ("_index", "_items", "_keys")

    def __init__(self, items: Iterable[tuple[str, str]] = (), *, _keys: list[str] | None = None):
        self._items: list[tuple[str, str]] = list(items)
        self._keys = _keys if _keys is not None else [header_key(n) for n, _ in self._items]
        self._index: dict[str, list[str]] | None = None

    def _values_by_key(self) -> dict[str, list[str]]:
        """Values grouped by key, built on the first lookup (a message is read many times)."""
        index = self._index
        if index is None:
            index = self._index = {}
            for key, (_, value) in zip(self._keys, self._items, strict=True):
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
        return index

    def get(self, name: str) -> str | None:
        """The value of the first line called ``name``."""
        values = self._values_by_key().get(header_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """The values of every line called ``name``, in order (not split at commas)."""
        return list(self._values_by_key().get(header_key(name), ()))

    def count(self, name: str) -> int:
        """How many lines are called ``name``."""
        return len(self._values_by_key().get(header_key(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and [v for _, v in self._items] == [
            v for _, v in other._items
        ]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def with_prepended(self, name: str, value: str) -> Headers:
        """A copy with a line added before all others (a new top Via, RFC 3261 §16.6 step 8)."""
        return Headers([(name, value), *self._items], _keys=[header_key(name), *self._keys])

    def with_appended(self, name: str, value: str) -> Headers:
        """A copy with a line added at the end."""
        return Headers([*self._items, (name, value)], _keys=[*self._keys, header_key(name)])

    def without(self, name: str) -> Headers:
        """A copy with every line called ``name`` removed."""
        key = header_key(name)
        kept = [i for i, candidate in enumerate(self._keys) if candidate != key]
        return Headers([self._items[i] for i in kept], _keys=[self._keys[i] for i in kept])

    def replaced(self, name: str, value: str) -> Headers:
        """A copy where ``name`` has exactly one line, ``value``, where the first one stood."""
        key = header_key(name)
        items: list[tuple[str, str]] = []
        keys: list[str] = []
        placed = False
        for (line_name, line_value), candidate in zip(self._items, self._keys, strict=True):
            if candidate != key:
                items.append((line_name, line_value))
                keys.append(candidate)
            elif not placed:
                items.append((line_name, value))
                keys.append(candidate)
                placed = True
        if not placed:
            items.append((canonical_name(name), value))
            keys.append(key)
        return Headers(items, _keys=keys)

    def replaced_first(self, name: str, value: str) -> Headers:
        """A copy where the first line called ``name`` has ``value`` (stamping the top Via)."""
        key = header_key(name)
        if key not in self._keys:
            return self.with_appended(canonical_name(name), value)
        index = self._keys.index(key)
        items = list(self._items)
        items[index] = (items[index][0], value)
        return Headers(items, _keys=list(self._keys))

    def without_first(self, name: str) -> Headers:
        """A copy without the first line called ``name`` (popping our own top Via)."""
        key = header_key(name)
        if key not in self._keys:
            return self
        index = self._keys.index(key)
        return Headers(
            self._items[:index] + self._items[index + 1 :],
            _keys=self._keys[:index] + self._keys[index + 1 :],
        )


class Message:
    """Base of :class:`Request` and :class:`Response`: headers, body and typed views."""

    __slots__ = ("_cache", "body", "headers")

    def __init__(self, headers: Headers, body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        self._cache: dict[str, Any] = {}

    # -- serialisation -------------------------------------------------------------------------

    def start_line(self) -> str:
        """The first line, without CRLF."""
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        lines = [self.start_line()]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    # -- typed views -----------------------------------------------------------------------------

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._cache[key] = compute()
            return value

    def _single(self, name: str) -> str | None:
        values = self.headers.get_all(name)
        if len(values) > 1:
            raise BadHeader(f"{canonical_name(name)} appears {len(values)} times")
        return values[0] if values else None

    def _required(self, name: str) -> str:
        value = self._single(name)
        if value is None:
            raise MissingHeader(f"missing {canonical_name(name)} header")
        return value

    @property
    def via(self) -> tuple[Via, ...]:
        """Every Via value, top first (RFC 3261 §20.42)."""
        return self._cached("via", self._parse_vias)

    def _parse_vias(self) -> tuple[Via, ...]:
        vias = tuple(via for value in self.headers.get_all("via") for via in parse_via_list(value))
        if not vias:
            raise MissingHeader("missing Via header")
        return vias

    @property
    def top_via(self) -> Via:
        """The first Via value: where responses go and which transaction this is."""
        return self.via[0]

    @property
    def from_(self) -> NameAddress:
        """The From header (RFC 3261 §20.20)."""
        return self._cached("from", lambda: parse_name_address(self._required("from"), "From"))

    @property
    def to(self) -> NameAddress:
        """The To header (RFC 3261 §20.39)."""
        return self._cached("to", lambda: parse_name_address(self._required("to"), "To"))

    @property
    def call_id(self) -> str:
        """The Call-ID (RFC 3261 §20.8)."""
        return self._cached("call-id", self._parse_call_id)

    def _parse_call_id(self) -> str:
        value = self._required("call-id").strip(" \t")
        if not grammar.CALLID_RE.fullmatch(value):
            raise BadHeader(f"malformed Call-ID {value[:60]!r}")
        return value

    @property
    def cseq(self) -> CSeq:
        """The CSeq (RFC 3261 §20.16)."""
        return self._cached("cseq", lambda: parse_cseq(self._required("cseq")))

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or ``None`` when absent (RFC 2543 peers omit it; RFC 4475 §3.4.1)."""
        return self._cached("max-forwards", self._parse_max_forwards)

    def _parse_max_forwards(self) -> int | None:
        value = self._single("max-forwards")
        return None if value is None else parse_uint(value, "Max-Forwards", 255)

    @property
    def content_length(self) -> int | None:
        """Content-Length as written, or ``None`` when absent."""
        return self._cached("content-length", self._parse_content_length)

    def _parse_content_length(self) -> int | None:
        value = self._single("content-length")
        return None if value is None else parse_uint(value, "Content-Length", 2**31)

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds, capped at 2**32-1 (RFC 3261 §20.19)."""
        return self._cached("expires", self._parse_expires)

    def _parse_expires(self) -> int | None:
        value = self._single("expires")
        if value is None:
            return None
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise BadHeader(f"Expires must be a number of seconds, got {text[:40]!r}")
        return EXPIRES_MAX if len(text) > 10 else min(int(text), EXPIRES_MAX)

    @property
    def contacts(self) -> tuple[NameAddress, ...]:
        """Every Contact value; empty for none and for the ``*`` wildcard."""
        return self._cached("contact", self._parse_contacts)

    @property
    def contact_wildcard(self) -> bool:
        """True when Contact is ``*`` (REGISTER removing all bindings, RFC 3261 §10.2.2)."""
        self.contacts  # noqa: B018 - parses and validates
        return bool(self._cache.get("contact-wildcard"))

    def _parse_contacts(self) -> tuple[NameAddress, ...]:
        values = [p for v in self.headers.get_all("contact") for p in split_list(v)]
        if any(value.strip(" \t") == "*" for value in values):
            if len(values) > 1:
                raise BadHeader("Contact '*' must be the only contact")
            self._cache["contact-wildcard"] = True
            return ()
        return tuple(parse_name_address(value, "Contact") for value in values)

    @property
    def routes(self) -> tuple[NameAddress, ...]:
        """The Route set, first hop first (RFC 3261 §20.34)."""
        return self._cached("route", lambda: self._name_address_list("route", "Route"))

    @property
    def record_routes(self) -> tuple[NameAddress, ...]:
        """Record-Route values, in message order (RFC 3261 §20.30)."""
        return self._cached(
            "record-route", lambda: self._name_address_list("record-route", "Record-Route")
        )

    def _name_address_list(self, name: str, what: str) -> tuple[NameAddress, ...]:
        return tuple(
            item
            for value in self.headers.get_all(name)
            for item in parse_name_address_list(value, what)
        )

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Reason values (RFC 3326)."""
        return self._cached(
            "reason",
            lambda: tuple(r for v in self.headers.get_all("reason") for r in parse_reason_list(v)),
        )

    @property
    def content_type(self) -> MediaType | None:
        """Content-Type, or ``None`` when absent."""
        return self._cached("content-type", self._parse_content_type)

    def _parse_content_type(self) -> MediaType | None:
        value = self._single("content-type")
        return None if value is None else parse_media_type(value)

    @property
    def accept(self) -> tuple[MediaType, ...] | None:
        """Accept ranges, or ``None`` when the header is absent (RFC 3261 §20.1)."""
        return self._cached("accept", self._parse_accept)

    def _parse_accept(self) -> tuple[MediaType, ...] | None:
        values = self.headers.get_all("accept")
        if not values:
            return None
        parts = [p for v in values for p in split_list(v) if p.strip(" \t")]
        return tuple(parse_media_type(p, "Accept") for p in parts)

    def option_tags(self, name: str) -> tuple[str, ...]:
        """The tokens of Require, Proxy-Require, Supported, Unsupported or Allow."""
        return self._cached(
            f"tokens:{name.lower()}",
            lambda: tuple(t for v in self.headers.get_all(name) for t in parse_token_list(v, name)),
        )

    def validate(self) -> None:
        """Parse every header a transaction or dialog relies on; raise the first fault found.

        Raises :class:`MissingHeader` or :class:`BadHeader` (both :class:`ParseError`).
        """
        for name in SINGLE_HEADERS:
            self._single(name)
        self.via  # noqa: B018
        self.from_  # noqa: B018
        self.to  # noqa: B018
        self.call_id  # noqa: B018
        self.cseq  # noqa: B018
        self.max_forwards  # noqa: B018
        self.contacts  # noqa: B018


class Request(Message):
    """A SIP request (RFC 3261 §7.1)."""

    __slots__ = ("method", "uri_text", "version")

    def __init__(
        self,
        method: str,
        uri: str | Uri,
        headers: Headers | Iterable[tuple[str, str]],
        body: bytes = b"",
        *,
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers if isinstance(headers, Headers) else Headers(headers), body)
        self.method = method
        self.uri_text = uri if isinstance(uri, str) else str(uri)
        self.version = version
        if not isinstance(uri, str):
            self._cache["uri"] = uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri_text} {self.version}"

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed on first use."""
        return self._cached("uri", lambda: parse_uri(self.uri_text))

    def validate(self) -> None:
        """As :meth:`Message.validate`, plus the Request-URI and the CSeq method (§8.2)."""
        super().validate()
        uri = self.uri
        if isinstance(uri, SipUri) and uri.headers:
            # RFC 3261 §19.1.1 Table 1: headers are not allowed in a Request-URI; taking them as
            # real headers would be route injection (RFC 4475 §3.1.2.11).
            raise BadHeader("Request-URI must not carry ?headers")
        if self.cseq.method != self.method:
            raise BadHeader(
                f"CSeq method {self.cseq.method!r} does not match request method {self.method!r}"
            )

    def replace(
        self,
        *,
        method: str | None = None,
        uri: str | Uri | None = None,
        headers: Headers | None = None,
        body: bytes | None = None,
    ) -> Request:
        """A copy with the given parts replaced."""
        return Request(
            self.method if method is None else method,
            self.uri_text if uri is None else uri,
            self.headers if headers is None else headers,
            self.body if body is None else body,
            version=self.version,
        )

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri_text}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (self.method, self.uri_text, self.version, self.headers, self.body) == (
            other.method,
            other.uri_text,
            other.version,
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]


class Response(Message):
    """A SIP response (RFC 3261 §7.2)."""

    __slots__ = ("reason", "status_code", "version")

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: Headers | Iterable[tuple[str, str]],
        body: bytes = b"",
        *,
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers if isinstance(headers, Headers) else Headers(headers), body)
        self.status_code = status_code
        self.reason = reason
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status_code} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        """1xx (RFC 3261 §21.1)."""
        return self.status_code < 200

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status_code < 300

    def replace(self, *, headers: Headers | None = None, body: bytes | None = None) -> Response:
        """A copy with the given parts replaced."""
        return Response(
            self.status_code,
            self.reason,
            self.headers if headers is None else headers,
            self.body if body is None else body,
            version=self.version,
        )

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status_code, self.reason, self.version, self.headers, self.body) == (
            other.status_code,
            other.reason,
            other.version,
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]
