"""SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760), sans-IO.

Theory of operation
-------------------
A registrar or proxy that wants credentials answers 401/407 with one challenge per algorithm it
accepts, preferred first, all sharing one nonce (RFC 8760 §2.4), from
:meth:`DigestServer.challenge`. The nonce is stateless and self-validating::

    nonce = base64url(issued_at (8-byte double) | entropy | MAC[:16])
    MAC   = HMAC-SHA256(secret, label | SHA256(realm) | SHA256(bind) | issued_at | entropy)

so no state is kept per challenge; a forged or tampered nonce, or one minted with another
``secret``, fails the MAC, and ``bind`` (e.g. the source address) ties a nonce to where it was
issued. Challenges never depend on the user, so they reveal nothing about which users exist.

The client answers ``response = H(HA1:nonce:nc:cnonce:qop:HA2)`` (RFC 7616 §3.4.1), or the
RFC 2069 §2.1.2 form ``H(HA1:nonce:HA2)`` without qop. :meth:`DigestServer.verify` recomputes it
from the stored HA1 (a dummy HA1 for unknown users, so they look like wrong passwords). Only a
correct answer goes on to the time check (expired: STALE, re-challenge with ``stale=true``,
RFC 7616 §3.3) and the nonce-count check: the highest nc accepted per nonce is remembered
(RFC 7616 §3.4, "nc"), in a table pruned by age and bounded by ``max_tracked_nonces``.

Nothing here reads the clock or a random source: ``now`` and ``entropy`` are arguments.
:func:`authorization_for` is the client side, for outbound calls through a carrier trunk.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import heapq
import hmac
import math
import re
import struct
from dataclasses import dataclass
from enum import Enum

from . import grammar
from .errors import ParseError
from .params import quote, unquote

__all__ = [
    "ALGORITHMS",
    "AuthHeaderError",
    "AuthVerdict",
    "DigestChallenge",
    "DigestCredentials",
    "DigestServer",
    "authorization_for",
    "compute_ha1",
    "compute_ha2",
    "compute_response",
    "compute_userhash",
]


class AuthHeaderError(ParseError):
    """An Authorization or *-Authenticate value we cannot use (RFC 3261 §25.1).

    A registrar treats it as "no usable credentials" and challenges (RFC 4475 §3.3.7).
    """


# RFC 7616 §3.3 / RFC 8760 §2.2 algorithm names -> hashlib names. SHA-512-256 is the FIPS 180-4
# SHA-512/256 (distinct initial values), not the truncated SHA-512 behind RFC 7616 §3.9.2's values.
_BASE_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
ALGORITHMS: tuple[str, ...] = tuple(
    name + suffix
    for name, impl in _BASE_HASHES.items()
    if impl in hashlib.algorithms_available
    for suffix in ("", "-sess")
)
_CANONICAL = {name.lower(): name for name in ALGORITHMS}
_QOPS = ("auth", "auth-int")


def _canonical(algorithm: str) -> str:
    """The registered spelling of ``algorithm`` (names are case-insensitive), else as written."""
    return _CANONICAL.get(algorithm.lower(), algorithm)


def _impl(algorithm: str) -> tuple[str, bool]:
    """(hashlib name, is a -sess variant); ValueError for an algorithm we do not support."""
    canonical = _CANONICAL.get(algorithm.lower())
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _BASE_HASHES[canonical.removesuffix("-sess")], canonical.endswith("-sess")


def _h(impl: str, *parts: str | bytes) -> str:
    """H(p1:p2:...) as lower-case hex; strings are UTF-8 (RFC 7616 §3.4.1, §4)."""
    data = b":".join(p.encode() if isinstance(p, str) else p for p in parts)
    return hashlib.new(impl, data).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password) (RFC 7616 §3.4.2); for -sess the plain HA1 as well.

    Raises ValueError for an unsupported algorithm.
    """
    return _h(_impl(algorithm)[0], username, realm, password)


def compute_userhash(username: str, realm: str, algorithm: str = "MD5") -> str:
    """userhash = H(username:realm) (RFC 7616 §3.4.4)."""
    return _h(_impl(algorithm)[0], username, realm)


def compute_ha2(
    *, method: str, uri: str, algorithm: str = "MD5", qop: str | None = None, body: bytes = b""
) -> str:
    """HA2 = H(method:uri), or H(method:uri:H(body)) for qop=auth-int (RFC 7616 §3.4.3)."""
    impl = _impl(algorithm)[0]
    if qop is not None and qop.lower() == "auth-int":
        return _h(impl, method, uri, _h(impl, body))
    return _h(impl, method, uri)


def compute_response(
    *,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The request-digest for ``ha1`` (the plain HA1, also for -sess algorithms).

    Raises ValueError for an unsupported algorithm, a -sess algorithm without ``cnonce``, or a
    qop without ``nc`` and ``cnonce``.
    """
    impl, sess = _impl(algorithm)
    if sess:
        if cnonce is None:
            raise ValueError(f"algorithm {algorithm!r} needs a cnonce")
        ha1 = _h(impl, ha1, nonce, cnonce)  # RFC 7616 §3.4.2 session HA1
    ha2 = compute_ha2(method=method, uri=uri, algorithm=algorithm, qop=qop, body=body)
    if qop is None:
        return _h(impl, ha1, nonce, ha2)  # RFC 2069 §2.1.2
    if nc is None or cnonce is None:
        raise ValueError(f"qop {qop!r} needs nc and cnonce")
    return _h(impl, ha1, nonce, nc, cnonce, qop, ha2)  # RFC 7616 §3.4.1


# challenge   = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
# credentials = ("Digest" LWS digest-response) / other-response
# auth-param  = auth-param-name EQUAL ( token / quoted-string )
# COMMA = SWS "," SWS;  EQUAL = SWS "=" SWS                               (RFC 3261 §25.1)
_SCHEME_RE = re.compile(rf"{grammar.sws}({grammar.token}){grammar.lws}")
_PARAM_RE = re.compile(
    rf"({grammar.token}){grammar.sws}={grammar.sws}({grammar.token}|{grammar.quoted_string})"
)
_COMMA_RE = re.compile(rf"{grammar.sws},{grammar.sws}")
_END_RE = re.compile(rf"{grammar.sws}\Z")
# nonce-count = "nc" EQUAL 8LHEX (upper case tolerated)
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]+")
_REQUIRED = ("username", "realm", "nonce", "uri", "response")  # of credentials, RFC 7616 §3.4


def _parse_params(value: str, what: str) -> dict[str, str]:
    """Lower-cased names to unquoted values of a Digest auth-param list; AuthHeaderError else."""
    match = _SCHEME_RE.match(value)
    if match is None:
        raise AuthHeaderError(f"malformed {what}: {value[:40]!r}")
    if match.group(1).lower() != "digest":
        raise AuthHeaderError(f"unsupported {what} scheme {match.group(1)!r}")
    params: dict[str, str] = {}
    pos = match.end()
    while True:
        param = _PARAM_RE.match(value, pos)
        if param is None:
            raise AuthHeaderError(f"malformed {what} parameter: {value[pos : pos + 40]!r}")
        name = param.group(1).lower()
        if name in params:
            raise AuthHeaderError(f"duplicate {what} parameter {name!r}")
        params[name] = unquote(param.group(2))
        if _END_RE.match(value, param.end()):
            return params
        comma = _COMMA_RE.match(value, param.end())
        if comma is None:
            raise AuthHeaderError(f"expected ',' in {what}: {value[param.end() :][:40]!r}")
        pos = comma.end()


def _format(*items: tuple[str, str | None, bool]) -> str:
    """``Digest name=value, ...`` from (name, value or None to omit, quote it) triples."""
    return "Digest " + ", ".join(
        f"{n}={quote(v) if q else v}" for n, v, q in items if v is not None
    )


def _required(params: dict[str, str], name: str, what: str) -> str:
    if name not in params:
        raise AuthHeaderError(f"{what} lacks the {name!r} parameter")
    return params[name]


def _token(params: dict[str, str], name: str, what: str) -> str | None:
    value = params.get(name)
    if value is not None and grammar.TOKEN_RE.fullmatch(value) is None:
        raise AuthHeaderError(f"{what} parameter {name} is not a token: {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestChallenge:
    """One Digest challenge of a WWW- or Proxy-Authenticate header (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    def to_header_value(self) -> str:
        """The header value, e.g. ``Digest realm="x", nonce="n", algorithm=MD5, qop="auth"``."""
        qop = ",".join(self.qop) or None
        stale = "true" if self.stale else None
        return _format(
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("opaque", self.opaque, True),
            ("algorithm", self.algorithm, False),
            ("qop", qop, True),
            ("stale", stale, False),
        )

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        """Parse a challenge header value; raises :class:`AuthHeaderError`."""
        params = _parse_params(value, "challenge")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=_required(params, "realm", "challenge"),
            nonce=_required(params, "nonce", "challenge"),
            algorithm=_canonical(_token(params, "algorithm", "challenge") or "MD5"),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",  # RFC 7616 §3.3: else FALSE
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestCredentials:
    """Digest credentials of an Authorization or Proxy-Authorization header (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    userhash: bool = False

    def to_header_value(self) -> str:
        """The header value; ``parse`` of it gives back an equal object."""
        required = (self.username, self.realm, self.nonce, self.uri, self.response)
        return _format(
            *((name, value, True) for name, value in zip(_REQUIRED, required, strict=True)),
            ("algorithm", self.algorithm, False),
            ("qop", self.qop, False),
            ("nc", self.nc, False),
            ("cnonce", self.cnonce, True),
            ("opaque", self.opaque, True),
            ("userhash", "true" if self.userhash else None, False),
        )

    def expected_response(self, *, ha1: str, method: str, body: bytes = b"") -> str:
        """The response these credentials should carry for a user with ``ha1``.

        Raises ValueError for an unsupported algorithm or a -sess algorithm without cnonce.
        """
        return compute_response(
            ha1=ha1,
            nonce=self.nonce,
            method=method,
            uri=self.uri,
            algorithm=self.algorithm,
            qop=self.qop,
            nc=self.nc,
            cnonce=self.cnonce,
            body=body,
        )

    @classmethod
    def parse(cls, value: str) -> DigestCredentials:
        """Parse a credentials header value; raises :class:`AuthHeaderError`.

        Besides the grammar, RFC 7616 §3.4 is enforced: nc is 8 hex digits, and nc and cnonce
        are sent exactly when qop is.
        """
        what = "credentials"
        params = _parse_params(value, what)
        qop, nc = _token(params, "qop", what), params.get("nc")
        if nc is not None and _NC_RE.fullmatch(nc) is None:
            raise AuthHeaderError(f"nc must be 8 hex digits, not {nc!r}")
        if (qop is None) != (nc is None) or (qop is None) != ("cnonce" not in params):
            raise AuthHeaderError("qop, nc and cnonce must be sent together")
        userhash = params.get("userhash", "false").lower()
        if userhash not in ("true", "false"):
            raise AuthHeaderError(f"userhash must be true or false, not {userhash!r}")
        return cls(
            username=_required(params, "username", what),
            realm=_required(params, "realm", what),
            nonce=_required(params, "nonce", what),
            uri=_required(params, "uri", what),
            response=_required(params, "response", what),
            algorithm=_canonical(_token(params, "algorithm", what) or "MD5"),
            qop=qop,
            nc=nc,
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
            userhash=userhash == "true",
        )


class AuthVerdict(Enum):
    """What :meth:`DigestServer.verify` concluded."""

    OK = "ok"  # the response is right, the nonce is fresh and its nc is new
    STALE = "stale"  # right response on an expired nonce: re-challenge with stale=true
    INVALID = "invalid"  # wrong response, unknown user, foreign or forged nonce, wrong realm...
    REPLAY = "replay"  # right response but nc not above the highest accepted for this nonce


_NONCE_LABEL = b"sharedline digest nonce v1\x00"
_MAC_SIZE = 16
_MIN_ENTROPY = 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DigestServer:
    """Challenges and verifies Digest credentials for one realm (RFC 3261 §22.2, §22.3).

    ``qop`` is a comma-separated list of "auth" / "auth-int". RFC 2069 answers (no qop) are
    refused unless ``allow_no_qop`` is true; each such nonce is then good for one request, as
    without nc a repeat cannot be told from a replay. With ``userhash`` credentials the caller
    finds the user by hash before looking up ``ha1``. Checking that the digest uri matches the
    Request-URI (RFC 3261 §22.4) is left to the caller; the uri is hashed as sent.
    """

    def __init__(
        self,
        *,
        realm: str,
        secret: bytes,
        nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        qop: str = "auth",
        allow_no_qop: bool = False,
        max_tracked_nonces: int = 100_000,
    ) -> None:
        if len(secret) < 16:
            raise ValueError(f"secret must be at least 16 bytes, got {len(secret)}")
        if not algorithms or not nonce_lifetime > 0 or max_tracked_nonces < 1:
            raise ValueError("need an algorithm, a positive lifetime and room for one nonce")
        self.qop = tuple(q.strip().lower() for q in qop.split(",") if q.strip())
        if any(q not in _QOPS for q in self.qop) or not (self.qop or allow_no_qop):
            raise ValueError(f"unsupported qop {qop!r}")
        for algorithm in algorithms:
            _impl(algorithm)  # raises ValueError for an unsupported one
        self.realm = realm
        self.algorithms = tuple(_canonical(a) for a in algorithms)
        self.nonce_lifetime = nonce_lifetime
        self.allow_no_qop = allow_no_qop
        self.max_tracked_nonces = max_tracked_nonces
        self._secret = secret
        self._realm_hash = hashlib.sha256(realm.encode()).digest()
        dummy = hmac.new(secret, b"dummy password", hashlib.sha256).hexdigest()
        self._dummy_ha1 = {a: compute_ha1("", realm, dummy, a) for a in self.algorithms}
        self._highest_nc: dict[bytes, int] = {}  # nonce MAC -> highest nc accepted
        self._by_issue: list[tuple[float, bytes]] = []  # heap of (issued_at, nonce MAC)
        self._floor = -math.inf  # nonces issued at or before this lost their nc record

    @property
    def tracked_nonces(self) -> int:
        """How many nonces have a remembered nonce count."""
        return len(self._highest_nc)

    def challenge(
        self, *, now: float, entropy: bytes, stale: bool = False, bind: str = ""
    ) -> list[DigestChallenge]:
        """One challenge per configured algorithm, preferred first, sharing one fresh nonce.

        ``entropy`` (at least 8 unpredictable bytes) makes the nonce unique; ``bind`` must be
        passed again to :meth:`verify`. Raises ValueError for short entropy.
        """
        if len(entropy) < _MIN_ENTROPY:
            raise ValueError(f"entropy must be at least {_MIN_ENTROPY} bytes, got {len(entropy)}")
        issued = struct.pack(">d", now)
        nonce = _b64(issued + entropy + self._mac(issued + entropy, bind))
        return [
            DigestChallenge(realm=self.realm, nonce=nonce, algorithm=a, qop=self.qop, stale=stale)
            for a in self.algorithms
        ]

    def verify(
        self,
        credentials: DigestCredentials,
        *,
        method: str,
        ha1: str | None,
        now: float,
        bind: str = "",
        body: bytes = b"",
    ) -> AuthVerdict:
        """Check ``credentials`` for a request with ``method`` and ``body``.

        ``ha1`` is the user's stored :func:`compute_ha1`, or None for an unknown user (answered
        INVALID after the same work as a wrong password). Only an OK answer updates nc state.
        """
        algorithm = _canonical(credentials.algorithm)
        opened = self._open_nonce(credentials.nonce, bind)
        qop = None if credentials.qop is None else credentials.qop.lower()
        if (
            opened is None
            or algorithm not in self.algorithms
            or credentials.realm != self.realm
            or (qop not in self.qop if qop is not None else not self.allow_no_qop)
        ):
            return AuthVerdict.INVALID
        known_ha1 = self._dummy_ha1[algorithm] if ha1 is None else ha1
        try:
            expected = credentials.expected_response(ha1=known_ha1, method=method, body=body)
        except ValueError:  # -sess without cnonce
            return AuthVerdict.INVALID
        matches = hmac.compare_digest(expected.encode(), credentials.response.lower().encode())
        if not matches or ha1 is None:
            return AuthVerdict.INVALID
        issued_at, key = opened
        if not 0.0 <= now - issued_at <= self.nonce_lifetime:
            return AuthVerdict.STALE  # RFC 7616 §3.3 stale: the password was right
        nc = 0 if credentials.nc is None else int(credentials.nc, 16)
        return self._record_nc(key, issued_at, nc, now)

    def _mac(self, issued_and_entropy: bytes, bind: str) -> bytes:
        bind_hash = hashlib.sha256(bind.encode()).digest()
        message = _NONCE_LABEL + self._realm_hash + bind_hash + issued_and_entropy
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_SIZE]

    def _open_nonce(self, nonce: str, bind: str) -> tuple[float, bytes] | None:
        """(issued_at, MAC) of a nonce this server issued for ``bind``, else None."""
        if _NONCE_RE.fullmatch(nonce) is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if _b64(raw) != nonce or len(raw) < 8 + _MIN_ENTROPY + _MAC_SIZE:
            return None  # not our canonical encoding, or too short to be ours
        body, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(body, bind)):
            return None
        issued_at: float = struct.unpack(">d", body[:8])[0]
        return issued_at, mac

    def _record_nc(self, key: bytes, issued_at: float, nc: int, now: float) -> AuthVerdict:
        """Accept ``nc`` if it is above the highest seen for this nonce (RFC 7616 §3.4 "nc")."""
        while self._by_issue and self._by_issue[0][0] + self.nonce_lifetime < now:
            del self._highest_nc[heapq.heappop(self._by_issue)[1]]  # expired: STALE anyway
        highest = self._highest_nc.get(key)
        if highest is None:
            if issued_at <= self._floor:
                return AuthVerdict.STALE  # its record was evicted; a fresh nonce is safe
            heapq.heappush(self._by_issue, (issued_at, key))
        elif nc <= highest:
            return AuthVerdict.REPLAY
        self._highest_nc[key] = nc
        while len(self._highest_nc) > self.max_tracked_nonces:
            evicted_at, evicted = heapq.heappop(self._by_issue)
            del self._highest_nc[evicted]
            self._floor = max(self._floor, evicted_at)  # their next use is STALE, never a replay
        return AuthVerdict.OK


def authorization_for(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge`` (RFC 3261 §22.2).

    Chooses qop=auth when offered, else auth-int, else answers in the RFC 2069 form (no qop,
    nc or cnonce). ``uri`` is the digest uri, normally the Request-URI. Raises ValueError for an
    unsupported algorithm, only unknown qop values, or ``nc`` outside 1..0xffffffff.
    """
    offered = {q.lower() for q in challenge.qop}
    qop = next((q for q in _QOPS if q in offered), None)
    if qop is None and offered:
        raise ValueError(f"no supported qop in {challenge.qop!r}")
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError(f"nc must be in 1..0xffffffff, got {nc}")
    unsigned = DigestCredentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response="",
        algorithm=_canonical(challenge.algorithm),
        qop=qop,
        nc=None if qop is None else f"{nc:08x}",
        cnonce=None if qop is None else cnonce,
        opaque=challenge.opaque,
    )
    ha1 = compute_ha1(username, challenge.realm, password, unsigned.algorithm)
    response = unsigned.expected_response(ha1=ha1, method=method, body=body)
    return dataclasses.replace(unsigned, response=response).to_header_value()
