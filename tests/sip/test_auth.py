"""Digest authentication: published vectors, header parsing, and the server's nonce rules."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedline.sip.auth import (
    ALGORITHMS,
    AuthHeaderError,
    AuthVerdict,
    DigestChallenge,
    DigestCredentials,
    DigestServer,
    authorization_for,
    compute_ha1,
    compute_ha2,
    compute_response,
    compute_userhash,
)
from sharedline.sip.errors import ParseError


def _shared_dir() -> Path:
    beside_repo = Path(__file__).resolve().parents[3] / "shared"
    if beside_repo.is_dir():
        return beside_repo
    return Path(os.environ.get("SHAREDLINE_SHARED_DIR", str(beside_repo)))


SHARED = _shared_dir()
VECTORS_FILE = SHARED / "conformance" / "digest" / "vectors.json"
VECTORS: list[dict[str, Any]] = (
    json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
    if VECTORS_FILE.is_file()
    else []
)
SHA512_256_ID = "rfc7616-sha512-256-userhash"


def vector_params(*, having: str | None = None) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS if having is None or having in v]


def expected(vector: dict[str, Any]) -> dict[str, str]:
    """What a FIPS-correct implementation must produce (see the SHA-512-256 note in the file)."""
    values: dict[str, str] = vector.get("computed_fips_sha512_256") or vector["expected"]
    return values


def header_value(line: str) -> str:
    """The value of a ``Name: value`` line as printed in the vectors."""
    return line.split(":", 1)[1].strip()


# --- vectors ---------------------------------------------------------------------------------


def test_the_vectors_file_is_found_and_complete() -> None:
    assert VECTORS_FILE.is_file(), f"set SHAREDLINE_SHARED_DIR; {VECTORS_FILE} not found"
    assert len(VECTORS) == 14


@pytest.mark.parametrize("vector", vector_params())
def test_vector_ha1(vector: dict[str, Any]) -> None:
    ha1 = compute_ha1(vector["username"], vector["realm"], vector["password"], vector["algorithm"])
    if vector["algorithm"].endswith("-sess"):
        # RFC 7616 §3.4.2: the vector's HA1 is the session HA1, H(HA1:nonce:cnonce)
        base = vector["algorithm"].removesuffix("-sess")
        assert ha1 == compute_ha1(vector["username"], vector["realm"], vector["password"], base)
        session = f"{ha1}:{vector['nonce']}:{vector['cnonce']}".encode()
        name = {"MD5-sess": "md5", "SHA-256-sess": "sha256"}[vector["algorithm"]]
        ha1 = hashlib.new(name, session).hexdigest()
    assert ha1 == expected(vector)["ha1"]


@pytest.mark.parametrize("vector", vector_params())
def test_vector_ha2(vector: dict[str, Any]) -> None:
    ha2 = compute_ha2(
        method=vector["method"],
        uri=vector["uri"],
        algorithm=vector["algorithm"],
        qop=vector.get("qop"),
        body=vector.get("body", "").encode(),
    )
    assert ha2 == expected(vector)["ha2"]


@pytest.mark.parametrize("vector", vector_params())
def test_vector_response(vector: dict[str, Any]) -> None:
    algorithm = vector["algorithm"]
    response = compute_response(
        ha1=compute_ha1(vector["username"], vector["realm"], vector["password"], algorithm),
        nonce=vector["nonce"],
        method=vector["method"],
        uri=vector["uri"],
        algorithm=algorithm,
        qop=vector.get("qop"),
        nc=vector.get("nc"),
        cnonce=vector.get("cnonce"),
        body=vector.get("body", "").encode(),
    )
    assert response == expected(vector)["response"]
    if vector["id"] != SHA512_256_ID and "published" in vector:
        assert response == vector["published"]["response"]


@pytest.mark.parametrize("vector", vector_params(having="userhash"))
def test_vector_userhash(vector: dict[str, Any]) -> None:
    userhash = compute_userhash(vector["username"], vector["realm"], vector["algorithm"])
    assert userhash == expected(vector)["userhash"]
    assert vector["username"].encode().hex() == vector["username_utf8_hex"]


def test_rfc7616_sha512_256_published_values_are_truncated_sha512() -> None:
    """Documentation: RFC 7616 §3.9.2 printed SHA-512 cut to 64 hex digits; we do not."""
    (vector,) = [v for v in VECTORS if v["id"] == SHA512_256_ID]

    def h(text: str) -> str:
        return hashlib.sha512(text.encode()).hexdigest()[:64]

    ha1 = h(f"{vector['username']}:{vector['realm']}:{vector['password']}")
    ha2 = h(f"{vector['method']}:{vector['uri']}")
    fields = (ha1, vector["nonce"], vector["nc"], vector["cnonce"], vector["qop"], ha2)
    assert h(":".join(fields)) == vector["published"]["response"]
    assert h(f"{vector['username']}:{vector['realm']}") == vector["published"]["userhash"]
    ours = compute_ha1(vector["username"], vector["realm"], vector["password"], "SHA-512-256")
    assert ours != ha1
    assert ours == vector["computed_fips_sha512_256"]["ha1"]


@pytest.mark.parametrize("vector", vector_params(having="challenge"))
def test_vector_challenge_text_parses(vector: dict[str, Any]) -> None:
    challenge = DigestChallenge.parse(header_value(vector["challenge"]))
    assert challenge.realm == vector["realm"]
    assert challenge.nonce == vector["nonce"]
    assert challenge.opaque == vector["opaque"]
    assert challenge.algorithm == "MD5"
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.stale is False
    assert DigestChallenge.parse(challenge.to_header_value()) == challenge


@pytest.mark.parametrize("vector", vector_params(having="authorization"))
def test_vector_authorization_text_parses_and_verifies(vector: dict[str, Any]) -> None:
    credentials = DigestCredentials.parse(header_value(vector["authorization"]))
    assert (credentials.username, credentials.realm) == (vector["username"], vector["realm"])
    assert (credentials.nonce, credentials.uri) == (vector["nonce"], vector["uri"])
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (
        vector["qop"],
        vector["nc"],
        vector["cnonce"],
    )
    assert credentials.opaque == vector["opaque"]
    assert credentials.response == vector["published"]["response"]
    ha1 = compute_ha1(vector["username"], vector["realm"], vector["password"])
    assert credentials.expected_response(ha1=ha1, method=vector["method"]) == credentials.response


@pytest.mark.parametrize("vector", vector_params(having="challenge"))
def test_authorization_for_reproduces_the_vector_answer(vector: dict[str, Any]) -> None:
    challenge = DigestChallenge.parse(header_value(vector["challenge"]))
    value = authorization_for(
        challenge,
        username=vector["username"],
        password=vector["password"],
        method=vector["method"],
        uri=vector["uri"],
        cnonce=vector["cnonce"],
    )
    assert DigestCredentials.parse(value) == DigestCredentials.parse(
        header_value(vector["authorization"])
    )


# --- parsing ---------------------------------------------------------------------------------

GOOD = (
    'Digest username="alice", realm="atlanta.example.com", nonce="n1", '
    'uri="sip:atlanta.example.com", response="0123abcd"'
)


@pytest.mark.parametrize(
    ("value", "field", "want"),
    [
        (GOOD, "username", "alice"),
        (GOOD.replace("Digest", "dIgEsT"), "realm", "atlanta.example.com"),
        (GOOD.replace("username=", "UserName ="), "username", "alice"),
        (GOOD.replace(", ", " ,\t"), "uri", "sip:atlanta.example.com"),
        (GOOD.replace('"alice"', r'"al\"ice\\"'), "username", 'al"ice\\'),
        (GOOD.replace('"alice"', '"J\u00e4s\u00f8n Doe"'), "username", "J\u00e4s\u00f8n Doe"),
        (GOOD + ', foo="bar, baz", x-y=z', "username", "alice"),
        (GOOD + ", algorithm=sha-256", "algorithm", "SHA-256"),
        (GOOD + ", algorithm=md5-SESS", "algorithm", "MD5-sess"),
        (GOOD + ", algorithm=Future-Hash", "algorithm", "Future-Hash"),
        (GOOD, "algorithm", "MD5"),
        (GOOD + ', qop="auth", nc=0000000A, cnonce="c"', "nc", "0000000A"),
        (GOOD + ", qop=auth-int, nc=00000001, cnonce=c", "qop", "auth-int"),
        (GOOD + ", userhash=TRUE", "userhash", True),
        (GOOD + "  ", "response", "0123abcd"),
    ],
)
def test_credentials_parse_accepts_rfc3261_auth_params(
    value: str, field: str, want: object
) -> None:
    assert getattr(DigestCredentials.parse(value), field) == want


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("NoOneKnowsThisScheme opaque-data=here", id="regaut01-scheme"),
        pytest.param("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", id="basic"),
        pytest.param("", id="empty"),
        pytest.param("Digest", id="no-params"),
        pytest.param("Digest ", id="blank-params"),
        pytest.param(GOOD.replace('username="alice", ', ""), id="missing-username"),
        pytest.param(GOOD.replace(', response="0123abcd"', ""), id="missing-response"),
        pytest.param(GOOD + ', realm="other"', id="duplicate"),
        pytest.param(GOOD + ', REALM="other"', id="duplicate-other-case"),
        pytest.param(GOOD + ', qop=auth, nc=1, cnonce="c"', id="short-nc"),
        pytest.param(GOOD + ', qop=auth, nc=0000000g, cnonce="c"', id="non-hex-nc"),
        pytest.param(GOOD + ', qop=auth, nc="00000001 ", cnonce="c"', id="padded-nc"),
        pytest.param(GOOD + ", qop=auth", id="qop-without-nc-cnonce"),
        pytest.param(GOOD + ", qop=auth, nc=00000001", id="qop-without-cnonce"),
        pytest.param(GOOD + ', qop=auth, cnonce="c"', id="qop-without-nc"),
        pytest.param(GOOD + ', nc=00000001, cnonce="c"', id="nc-without-qop"),
        pytest.param(GOOD + ', qop="auth,auth-int", nc=00000001, cnonce="c"', id="qop-list"),
        pytest.param(GOOD + ", userhash=maybe", id="bad-userhash"),
        pytest.param(GOOD + ",", id="trailing-comma"),
        pytest.param(GOOD.replace(", ", ",,", 1), id="empty-element"),
        pytest.param(GOOD.replace(", ", " ", 1), id="missing-comma"),
        pytest.param(GOOD[:-1], id="unterminated-quote"),
        pytest.param(GOOD.replace('uri="sip:atlanta.example.com"', "uri=sip:a"), id="bare-uri"),
        pytest.param(GOOD + ", flag", id="param-without-value"),
        pytest.param("Authorization: " + GOOD, id="header-name-included"),
    ],
)
def test_credentials_parse_rejects_with_auth_header_error(value: str) -> None:
    with pytest.raises(AuthHeaderError):
        DigestCredentials.parse(value)


def test_regaut01_unknown_scheme_from_rfc4475_is_an_auth_header_error() -> None:
    message = (SHARED / "conformance" / "rfc4475" / "regaut01.dat").read_bytes().decode()
    (line,) = [x for x in message.split("\r\n") if x.lower().startswith("authorization:")]
    with pytest.raises(AuthHeaderError, match="NoOneKnowsThisScheme") as caught:
        DigestCredentials.parse(header_value(line))
    assert isinstance(caught.value, ParseError)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "value",
    ['Digest nonce="n"', 'Digest realm="r"', 'Digest realm="r", nonce="n", nonce="m"', "Foo a=b"],
)
def test_challenge_parse_rejects_missing_or_duplicate_params(value: str) -> None:
    with pytest.raises(AuthHeaderError):
        DigestChallenge.parse(value)


def test_challenge_parse_reads_stale_and_qop_list_leniently() -> None:
    challenge = DigestChallenge.parse(
        'Digest realm="r", nonce="n", qop=" auth , auth-int ", stale=TRUE, algorithm=SHA-256'
    )
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.stale is True
    assert challenge.algorithm == "SHA-256"
    assert DigestChallenge.parse('Digest realm="r", nonce="n", stale=yes').stale is False


@given(st.text())
def test_credentials_parse_on_arbitrary_text_returns_or_raises_auth_header_error(text: str) -> None:
    for value in (text, "Digest " + text, GOOD + text):
        try:
            parsed = DigestCredentials.parse(value)
        except AuthHeaderError:
            continue
        assert isinstance(parsed, DigestCredentials)


@given(st.text())
def test_challenge_parse_on_arbitrary_text_returns_or_raises_auth_header_error(text: str) -> None:
    for value in (text, 'Digest realm="r", ' + text):
        try:
            parsed = DigestChallenge.parse(value)
        except AuthHeaderError:
            continue
        assert isinstance(parsed, DigestChallenge)


printable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_characters="\x7f")
)


@given(
    username=printable,
    realm=printable,
    uri=printable,
    cnonce=printable,
    opaque=st.none() | printable,
    userhash=st.booleans(),
    nc=st.integers(min_value=0, max_value=0xFFFFFFFF),
)
def test_credentials_survive_to_header_value_and_parse(
    username: str, realm: str, uri: str, cnonce: str, opaque: str | None, userhash: bool, nc: int
) -> None:
    credentials = DigestCredentials(
        username=username,
        realm=realm,
        nonce="abc",
        uri=uri,
        response="00ff",
        algorithm="SHA-256",
        qop="auth",
        nc=f"{nc:08x}",
        cnonce=cnonce,
        opaque=opaque,
        userhash=userhash,
    )
    assert DigestCredentials.parse(credentials.to_header_value()) == credentials


# --- server ----------------------------------------------------------------------------------

REALM = "atlanta.example.com"
SECRET = b"0123456789abcdef-server-key"
PASSWORD = "s3cr3t Pa55"
ENTROPY = bytes(range(16))
URI = "sip:atlanta.example.com"


def make_server(**overrides: Any) -> DigestServer:
    options: dict[str, Any] = {"realm": REALM, "secret": SECRET, **overrides}
    return DigestServer(**options)


def answer(
    challenge: DigestChallenge,
    *,
    password: str = PASSWORD,
    nc: int = 1,
    method: str = "REGISTER",
    body: bytes = b"",
) -> DigestCredentials:
    value = authorization_for(
        challenge,
        username="alice",
        password=password,
        method=method,
        uri=URI,
        cnonce="0a4f113b",
        nc=nc,
        body=body,
    )
    return DigestCredentials.parse(value)


def ha1_for(algorithm: str) -> str:
    return compute_ha1("alice", REALM, PASSWORD, algorithm)


def test_challenge_offers_each_algorithm_preferred_first_sharing_one_nonce() -> None:
    challenges = make_server().challenge(now=0.0, entropy=ENTROPY)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    nonce = challenges[0].nonce
    assert challenges[1].nonce == nonce
    assert re.fullmatch(r"[A-Za-z0-9_-]+", nonce)
    assert challenges[0].to_header_value() == (
        f'Digest realm="{REALM}", nonce="{nonce}", algorithm=SHA-256, qop="auth"'
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_round_trip_with_authorization_for_is_ok(algorithm: str, qop: str) -> None:
    server = make_server(algorithms=(algorithm,), qop=qop)
    (challenge,) = server.challenge(now=10.0, entropy=ENTROPY)
    body = b"v=0\r\n"
    credentials = answer(challenge, method="INVITE", body=body)
    assert credentials.qop == qop
    assert credentials.algorithm == algorithm
    verdict = server.verify(
        credentials, method="INVITE", ha1=ha1_for(algorithm), now=11.0, body=body
    )
    assert verdict is AuthVerdict.OK


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_each_offered_challenge_of_the_default_server_verifies(algorithm: str) -> None:
    server = make_server()
    challenge = next(
        c for c in server.challenge(now=0.0, entropy=ENTROPY) if c.algorithm == algorithm
    )
    verdict = server.verify(answer(challenge), method="REGISTER", ha1=ha1_for(algorithm), now=1.0)
    assert verdict is AuthVerdict.OK


def test_auth_int_body_change_is_invalid() -> None:
    server = make_server(qop="auth-int")
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    credentials = answer(challenge, method="MESSAGE", body=b"hello")
    verdict = server.verify(
        credentials, method="MESSAGE", ha1=ha1_for("SHA-256"), now=0.0, body=b"hellO"
    )
    assert verdict is AuthVerdict.INVALID


def test_wrong_password_is_invalid_and_does_not_use_up_the_nonce_count() -> None:
    server = make_server()
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    wrong = answer(challenge, password="guess")
    assert server.verify(wrong, method="REGISTER", ha1=ha1_for("SHA-256"), now=1.0) is (
        AuthVerdict.INVALID
    )
    assert server.tracked_nonces == 0
    right = answer(challenge)
    assert server.verify(right, method="REGISTER", ha1=ha1_for("SHA-256"), now=1.0) is (
        AuthVerdict.OK
    )


def test_unknown_user_is_invalid_even_with_a_well_formed_answer() -> None:
    server = make_server()
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    verdict = server.verify(answer(challenge), method="REGISTER", ha1=None, now=1.0)
    assert verdict is AuthVerdict.INVALID
    assert server.tracked_nonces == 0
    # even an answer that happens to match the dummy HA1 is refused for an unknown user
    server._dummy_ha1 = {"SHA-256": ha1_for("SHA-256"), "MD5": ha1_for("MD5")}
    verdict = server.verify(answer(challenge), method="REGISTER", ha1=None, now=1.0)
    assert verdict is AuthVerdict.INVALID


def test_challenges_do_not_depend_on_the_user() -> None:
    server = make_server()
    first = server.challenge(now=5.0, entropy=ENTROPY, bind="192.0.2.1:5060")
    # whatever user the request named (known, unknown, wrong password), the answer is the same
    assert server.challenge(now=5.0, entropy=ENTROPY, bind="192.0.2.1:5060") == first
    other = server.challenge(now=5.0, entropy=bytes(16), bind="192.0.2.1:5060")
    assert other != first
    shape = [dataclasses.replace(c, nonce="") for c in other]
    assert shape == [dataclasses.replace(c, nonce="") for c in first]
    assert len(other[0].nonce) == len(first[0].nonce)


def test_expired_nonce_is_stale_and_a_stale_rechallenge_works() -> None:
    server = make_server(nonce_lifetime=30.0)
    challenge = server.challenge(now=100.0, entropy=ENTROPY)[0]
    credentials = answer(challenge)
    ha1 = ha1_for("SHA-256")
    assert server.verify(credentials, method="REGISTER", ha1=ha1, now=130.5) is AuthVerdict.STALE
    assert server.verify(credentials, method="REGISTER", ha1=ha1, now=99.0) is AuthVerdict.STALE
    wrong = answer(challenge, password="guess")
    assert server.verify(wrong, method="REGISTER", ha1=ha1, now=130.5) is AuthVerdict.INVALID

    fresh = server.challenge(now=130.5, entropy=b"another-entropy!", stale=True)[0]
    assert fresh.stale is True
    assert fresh.to_header_value().endswith(", stale=true")
    assert DigestChallenge.parse(fresh.to_header_value()).stale is True
    assert server.verify(answer(fresh), method="REGISTER", ha1=ha1, now=131.0) is AuthVerdict.OK


def test_nonce_is_good_until_exactly_its_lifetime() -> None:
    server = make_server(nonce_lifetime=30.0)
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    verdict = server.verify(answer(challenge), method="REGISTER", ha1=ha1_for("SHA-256"), now=30.0)
    assert verdict is AuthVerdict.OK


def _tamper(nonce: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 7, 8, 23, -16, -1], ids=lambda i: f"byte{i}")
def test_tampered_nonce_is_invalid_even_with_a_matching_response(index: int) -> None:
    server = make_server()
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    forged = dataclasses.replace(challenge, nonce=_tamper(challenge.nonce, index))
    verdict = server.verify(answer(forged), method="REGISTER", ha1=ha1_for("SHA-256"), now=1.0)
    assert verdict is AuthVerdict.INVALID


@pytest.mark.parametrize(
    "nonce",
    ["", "not base64!", "AAAA", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "A" * 43 + "B", "x" * 45],
)
def test_foreign_nonce_is_invalid(nonce: str) -> None:
    server = make_server()
    challenge = dataclasses.replace(server.challenge(now=0.0, entropy=ENTROPY)[0], nonce=nonce)
    verdict = server.verify(answer(challenge), method="REGISTER", ha1=ha1_for("SHA-256"), now=1.0)
    assert verdict is AuthVerdict.INVALID


def test_nonce_from_another_secret_is_invalid() -> None:
    other = make_server(secret=b"a different 32-byte server key!!")
    challenge = other.challenge(now=0.0, entropy=ENTROPY)[0]
    credentials = answer(challenge)
    ha1 = ha1_for("SHA-256")
    assert other.verify(credentials, method="REGISTER", ha1=ha1, now=1.0) is AuthVerdict.OK
    server = make_server()
    assert server.verify(credentials, method="REGISTER", ha1=ha1, now=1.0) is AuthVerdict.INVALID


def test_nonce_is_bound_to_where_it_was_issued() -> None:
    server = make_server()
    challenge = server.challenge(now=0.0, entropy=ENTROPY, bind="192.0.2.1:5060")[0]
    credentials = answer(challenge)
    ha1 = ha1_for("SHA-256")
    moved = server.verify(credentials, method="REGISTER", ha1=ha1, now=1.0, bind="192.0.2.9:5060")
    assert moved is AuthVerdict.INVALID
    unbound = server.verify(credentials, method="REGISTER", ha1=ha1, now=1.0)
    assert unbound is AuthVerdict.INVALID
    home = server.verify(credentials, method="REGISTER", ha1=ha1, now=1.0, bind="192.0.2.1:5060")
    assert home is AuthVerdict.OK


def test_wrong_realm_and_unoffered_algorithm_are_invalid() -> None:
    server = make_server(algorithms=("SHA-256",))
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    elsewhere = answer(dataclasses.replace(challenge, realm="biloxi.example.com"))
    ha1 = compute_ha1("alice", "biloxi.example.com", PASSWORD, "SHA-256")
    assert server.verify(elsewhere, method="REGISTER", ha1=ha1, now=1.0) is AuthVerdict.INVALID
    md5 = answer(dataclasses.replace(challenge, algorithm="MD5"))
    assert server.verify(md5, method="REGISTER", ha1=ha1_for("MD5"), now=1.0) is (
        AuthVerdict.INVALID
    )


def test_nonce_count_replay_is_refused_and_a_higher_count_accepted() -> None:
    """The sip-register-md5-qop-auth-nc2 idea: nc 2 is accepted once, nc 1 again is a replay."""
    server = make_server(algorithms=("MD5",))
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    ha1 = ha1_for("MD5")
    verdicts = [
        server.verify(answer(challenge, nc=nc), method="REGISTER", ha1=ha1, now=1.0)
        for nc in (1, 1, 2, 2, 1, 3, 0xFFFFFFFF, 5)
    ]
    ok, replay = AuthVerdict.OK, AuthVerdict.REPLAY
    assert verdicts == [ok, replay, ok, replay, replay, ok, ok, replay]
    assert answer(challenge, nc=2).nc == "00000002"


def test_no_qop_answers_need_allow_no_qop_and_are_good_once() -> None:
    ha1 = ha1_for("MD5")
    strict = make_server(algorithms=("MD5",))
    challenge = dataclasses.replace(strict.challenge(now=0.0, entropy=ENTROPY)[0], qop=())
    rfc2069 = answer(challenge)
    assert (rfc2069.qop, rfc2069.nc, rfc2069.cnonce) == (None, None, None)
    assert strict.verify(rfc2069, method="REGISTER", ha1=ha1, now=1.0) is AuthVerdict.INVALID

    lenient = make_server(algorithms=("MD5",), allow_no_qop=True)
    assert lenient.verify(rfc2069, method="REGISTER", ha1=ha1, now=1.0) is AuthVerdict.OK
    assert lenient.verify(rfc2069, method="REGISTER", ha1=ha1, now=2.0) is AuthVerdict.REPLAY


def test_sess_algorithm_without_qop_is_invalid_not_an_exception() -> None:
    server = make_server(algorithms=("MD5-sess",), allow_no_qop=True)
    challenge = server.challenge(now=0.0, entropy=ENTROPY)[0]
    good = answer(challenge)
    rfc2069 = dataclasses.replace(good, qop=None, nc=None, cnonce=None)
    verdict = server.verify(rfc2069, method="REGISTER", ha1=ha1_for("MD5"), now=1.0)
    assert verdict is AuthVerdict.INVALID


def test_tracked_nonces_are_pruned_by_age() -> None:
    server = make_server(nonce_lifetime=10.0)
    ha1 = ha1_for("SHA-256")
    for k in range(3):
        challenge = server.challenge(now=float(k), entropy=bytes([k]) * 16)[0]
        assert server.verify(answer(challenge), method="REGISTER", ha1=ha1, now=float(k)) is (
            AuthVerdict.OK
        )
    assert server.tracked_nonces == 3
    late = server.challenge(now=11.5, entropy=ENTROPY)[0]
    assert server.verify(answer(late), method="REGISTER", ha1=ha1, now=11.5) is AuthVerdict.OK
    assert server.tracked_nonces == 2  # issued at 0.0 and 1.0 are gone, 2.0 and 11.5 remain


def test_tracked_nonces_are_bounded_and_an_evicted_nonce_turns_stale_not_replayable() -> None:
    server = make_server(max_tracked_nonces=3)
    ha1 = ha1_for("SHA-256")
    challenges = [server.challenge(now=float(k), entropy=bytes([k]) * 16)[0] for k in range(6)]
    for k, challenge in enumerate(challenges):
        verdict = server.verify(answer(challenge), method="REGISTER", ha1=ha1, now=6.0)
        assert verdict is AuthVerdict.OK, k
        assert server.tracked_nonces == min(k + 1, 3)
    for evicted in challenges[:3]:
        again = server.verify(answer(evicted), method="REGISTER", ha1=ha1, now=6.0)
        assert again is AuthVerdict.STALE
        later = server.verify(answer(evicted, nc=2), method="REGISTER", ha1=ha1, now=6.0)
        assert later is AuthVerdict.STALE
    kept = server.verify(answer(challenges[5]), method="REGISTER", ha1=ha1, now=6.0)
    assert kept is AuthVerdict.REPLAY
    assert server.tracked_nonces == 3


@pytest.mark.parametrize(
    "overrides",
    [
        {"secret": b"short"},
        {"algorithms": ("SHA-1",)},
        {"algorithms": ()},
        {"qop": "auth-conf"},
        {"qop": ""},
        {"nonce_lifetime": 0.0},
        {"max_tracked_nonces": 0},
    ],
)
def test_server_configuration_errors_raise_value_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make_server(**overrides)


def test_challenge_needs_enough_entropy() -> None:
    with pytest.raises(ValueError, match="entropy"):
        make_server().challenge(now=0.0, entropy=b"1234567")


# --- client ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(("auth-int", "auth"), "auth"), (("auth-int",), "auth-int"), (("AUTH",), "auth"), ((), None)],
)
def test_authorization_for_prefers_qop_auth(offered: tuple[str, ...], chosen: str | None) -> None:
    challenge = DigestChallenge(realm=REALM, nonce="n", qop=offered, opaque="op")
    credentials = answer(challenge)
    assert credentials.qop == chosen
    assert credentials.opaque == "op"
    assert (credentials.cnonce is None) == (chosen is None)


@pytest.mark.parametrize(
    ("challenge", "nc"),
    [
        (DigestChallenge(realm=REALM, nonce="n", qop=("auth-conf",)), 1),
        (DigestChallenge(realm=REALM, nonce="n", algorithm="SHA-1"), 1),
        (DigestChallenge(realm=REALM, nonce="n", qop=("auth",)), 0),
        (DigestChallenge(realm=REALM, nonce="n", qop=("auth",)), 0x1_0000_0000),
    ],
)
def test_authorization_for_refuses_what_it_cannot_answer(
    challenge: DigestChallenge, nc: int
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        answer(challenge, nc=nc)


def test_compute_helpers_refuse_unknown_algorithms_and_missing_inputs() -> None:
    with pytest.raises(ValueError, match="SHA-1"):
        compute_ha1("a", "r", "p", "SHA-1")
    with pytest.raises(ValueError, match="cnonce"):
        compute_response(ha1="x", nonce="n", method="M", uri="u", algorithm="MD5-sess")
    with pytest.raises(ValueError, match="nc and cnonce"):
        compute_response(ha1="x", nonce="n", method="M", uri="u", qop="auth")
