"""Registrar decisions (RFC 3261 §10.3) with literal REGISTERs and a virtual wall clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedline.sip.registrar import Binding, RegistrarPolicy, process_register
from tests.sip.conformance import require_shared
from tests.sip.helpers import lf2crlf, parse_request

NOW = 1_800_000_000.0


def register(
    *contacts: str, expires: int | None = None, call_id: str = "reg-1", cseq: int = 1
) -> bytes:
    lines = [
        "REGISTER sip:sharedline.test SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1",
        "Max-Forwards: 70",
        "From: <sip:alice@sharedline.test>;tag=a1",
        "To: <sip:alice@sharedline.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += ["Content-Length: 0", "", ""]
    return lf2crlf("\n".join(lines))


def run(data: bytes, bindings: tuple[Binding, ...] = (), now: float = NOW, **policy: int):
    return process_register(
        parse_request(data), bindings, now=now, to_tag="t", policy=RegistrarPolicy(**policy)
    )


def test_new_binding_uses_the_expires_header_and_lists_it_in_the_200() -> None:
    outcome = run(register("<sip:alice@127.0.0.1:5070>", expires=600))
    assert outcome.response.status_code == 200
    assert outcome.changed
    assert [(b.contact, b.expires_at) for b in outcome.bindings] == [
        ("sip:alice@127.0.0.1:5070", NOW + 600)
    ]
    assert outcome.response.headers.get_all("contact") == ["<sip:alice@127.0.0.1:5070>;expires=600"]


def test_contact_expires_param_beats_the_header_and_q_is_kept() -> None:
    outcome = run(register("<sip:a@127.0.0.1:5070>;expires=120;q=0.7", expires=600))
    (binding,) = outcome.bindings
    assert binding.expires_at == NOW + 120
    assert binding.q == 0.7


def test_too_brief_interval_gets_423_with_min_expires() -> None:
    outcome = run(register("<sip:a@127.0.0.1:5070>", expires=10), min_expires=60)
    assert outcome.response.status_code == 423
    assert outcome.response.headers.get("min-expires") == "60"
    assert outcome.bindings == ()


def test_long_interval_is_capped_at_max_expires() -> None:
    outcome = run(register("<sip:a@127.0.0.1:5070>", expires=999999), max_expires=3600)
    assert outcome.bindings[0].expires_at == NOW + 3600


def test_several_contacts_and_refresh_from_the_same_call_id() -> None:
    first = run(register("<sip:a@127.0.0.1:5070>", "<sip:a@127.0.0.1:5080>", expires=300))
    assert len(first.bindings) == 2
    refresh = run(
        register("<sip:a@127.0.0.1:5070>", expires=900, cseq=2), first.bindings, now=NOW + 100
    )
    assert sorted((b.contact, b.expires_at) for b in refresh.bindings) == [
        ("sip:a@127.0.0.1:5070", NOW + 1000),
        ("sip:a@127.0.0.1:5080", NOW + 300),
    ]


def test_out_of_order_register_from_the_same_call_id_is_refused() -> None:
    first = run(register("<sip:a@127.0.0.1:5070>", cseq=5))
    stale = run(register("<sip:a@127.0.0.1:5070>", expires=0, cseq=4), first.bindings)
    assert stale.response.status_code == 500
    assert stale.bindings == first.bindings


def test_expires_zero_removes_one_binding() -> None:
    first = run(register("<sip:a@127.0.0.1:5070>", "<sip:a@127.0.0.1:5080>"))
    removed = run(register("<sip:a@127.0.0.1:5080>;expires=0", cseq=2), first.bindings)
    assert [b.contact for b in removed.bindings] == ["sip:a@127.0.0.1:5070"]


def test_wildcard_with_expires_zero_removes_everything() -> None:
    first = run(register("<sip:a@127.0.0.1:5070>", "<sip:a@127.0.0.1:5080>"))
    cleared = run(register("*", expires=0, call_id="other"), first.bindings)
    assert cleared.response.status_code == 200
    assert cleared.bindings == ()
    assert cleared.response.headers.get("contact") is None


@pytest.mark.parametrize("expires", [None, 60])
def test_wildcard_without_expires_zero_is_400(expires: int | None) -> None:
    assert run(register("*", expires=expires)).response.status_code == 400


def test_expired_bindings_are_gone_and_a_query_lists_the_live_ones() -> None:
    first = run(register("<sip:a@127.0.0.1:5070>", expires=60))
    query = run(register(cseq=2), first.bindings, now=NOW + 61)
    assert query.response.status_code == 200
    assert query.bindings == ()


def test_contact_limit_is_enforced() -> None:
    contacts = [f"<sip:a@127.0.0.1:{5000 + i}>" for i in range(3)]
    assert run(register(*contacts), max_contacts=2).response.status_code == 403


def test_equivalent_uris_update_one_binding() -> None:
    first = run(register("<sip:a@HOST.example:5070;transport=udp>"))
    second = run(register("<sip:a@host.example:5070;TRANSPORT=UDP>", cseq=2), first.bindings)
    assert len(second.bindings) == 1


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("cparam01", "sip:+19725552222@gw1.example.net"),  # ;unknownparam is a header param
        ("cparam02", "sip:+19725552222@gw1.example.net;unknownparam"),  # inside <>: URI param
        ("regescrt", "sip:user@example.com"),  # ?Route=... is dropped before storing
    ],
)
def test_rfc4475_register_contacts_are_stored_as_the_rfc_says(name: str, stored: str) -> None:
    data = require_shared("conformance", "rfc4475", f"{name}.dat").read_bytes()
    outcome = run(data)
    assert outcome.response.status_code == 200
    assert [b.contact for b in outcome.bindings] == [stored]


def test_rfc4475_escnull_keeps_two_distinct_bindings() -> None:
    data = require_shared("conformance", "rfc4475", "escnull.dat").read_bytes()
    outcome = run(data)
    assert outcome.response.status_code == 200
    assert len({b.contact for b in outcome.bindings}) == 2


def test_rfc4475_unksm2_non_sip_aor_creates_no_binding() -> None:
    data = require_shared("conformance", "rfc4475", "unksm2.dat").read_bytes()
    outcome = run(data)
    assert outcome.response.status_code == 404
    assert outcome.bindings == ()


@given(
    st.lists(
        st.tuples(st.integers(5000, 5004), st.integers(0, 7200), st.integers(0, 100)),
        min_size=1,
        max_size=30,
    )
)
def test_bindings_stay_unique_bounded_and_unexpired(steps: list[tuple[int, int, int]]) -> None:
    bindings: tuple[Binding, ...] = ()
    now = NOW
    for cseq, (port, expires, advance) in enumerate(steps, start=1):
        now += advance
        outcome = run(
            register(f"<sip:a@127.0.0.1:{port}>", expires=expires, cseq=cseq), bindings, now=now
        )
        assert outcome.response.status_code in (200, 423)
        bindings = outcome.bindings
        contacts = [b.contact for b in bindings]
        assert len(contacts) == len(set(contacts)) <= 5
        assert all(b.expires_at > now for b in bindings)
