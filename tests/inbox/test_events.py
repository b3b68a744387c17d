"""Inbox events: the wire form, its validation, and who may receive an event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sharedline.inbox.events import (
    TRUNCATED,
    EventKind,
    InboxEvent,
    InvalidEvent,
    NumberAccess,
    audience,
    new_event_id,
)

NUMBER = "+14155550100"


def make_event(**overrides: Any) -> InboxEvent:
    fields: dict[str, Any] = {
        "kind": EventKind.MESSAGE_CREATED,
        "number": NUMBER,
        "workspace_id": 1,
        "conversation_id": 42,
        "at": 1_700_000_000.5,
        "id": "e1",
        "payload": {"message_id": 7, "text": "Hello ☎", "media": ["a.jpg"], "meta": {"x": None}},
        "actor_id": 3,
        "origin": "node-a",
    }
    fields.update(overrides)
    return InboxEvent(**fields)


def wire(**overrides: Any) -> str:
    document = json.loads(make_event().to_json())
    document.update(overrides)
    return json.dumps(document)


def test_every_kind_round_trips_through_json() -> None:
    for kind in EventKind:
        event = make_event(kind=kind)
        assert InboxEvent.from_json(event.to_json()) == event
        assert InboxEvent.from_json(event.to_json().encode()) == event


def test_wire_form_is_one_flat_json_object_with_the_kind_as_its_dotted_name() -> None:
    document = json.loads(make_event(kind=EventKind.CALL_RINGING).to_json())
    assert document == {
        "kind": "call.ringing",
        "number": NUMBER,
        "workspace_id": 1,
        "conversation_id": 42,
        "at": 1_700_000_000.5,
        "id": "e1",
        "payload": {"message_id": 7, "text": "Hello ☎", "media": ["a.jpg"], "meta": {"x": None}},
        "actor_id": 3,
        "origin": "node-a",
    }


def test_optional_fields_may_be_left_out_on_the_wire() -> None:
    text = json.dumps(
        {
            "kind": "voicemail.created",
            "number": NUMBER,
            "workspace_id": 1,
            "conversation_id": None,
            "at": 5,
            "id": "e2",
        }
    )
    event = InboxEvent.from_json(text)
    assert event.payload == {}
    assert event.actor_id is None
    assert event.origin is None
    assert event.conversation_id is None


def test_payload_is_frozen_against_later_changes_by_the_caller() -> None:
    payload: dict[str, Any] = {"text": "hi"}
    event = make_event(payload=payload)
    payload["text"] = "changed"
    assert event.payload == {"text": "hi"}
    with pytest.raises(TypeError):
        event.payload["text"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("not json", "not JSON", id="garbage"),
        pytest.param(b"\xff\xfe", "not JSON", id="bad-utf8"),
        pytest.param("[1, 2]", "JSON list", id="array"),
        pytest.param(wire(kind="call.exploded"), "kind 'call.exploded'", id="unknown-kind"),
        pytest.param(wire(number="4155550100"), "number", id="number-without-plus"),
        pytest.param(wire(number="+0123"), "number", id="number-zero-country"),
        pytest.param(wire(number="+1234567890123456"), "number", id="number-too-long"),
        pytest.param(wire(workspace_id="1"), "workspace_id", id="workspace-as-string"),
        pytest.param(wire(workspace_id=True), "workspace_id", id="workspace-as-bool"),
        pytest.param(wire(conversation_id=1.5), "conversation_id", id="conversation-float"),
        pytest.param(wire(at="now"), "at", id="at-string"),
        pytest.param(wire(id=""), "id", id="empty-id"),
        pytest.param(wire(id="x" * 129), "id", id="long-id"),
        pytest.param(wire(payload=[1]), "payload", id="payload-array"),
        pytest.param(wire(actor_id="bob"), "actor_id", id="actor-string"),
        pytest.param(wire(extra=1), r"unknown fields \['extra'\]", id="unknown-field"),
        pytest.param(json.dumps({"kind": "call.ended"}), "lacks fields", id="missing-fields"),
    ],
)
def test_malformed_messages_raise_invalid_event(text: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        InboxEvent.from_json(text)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="at"):
        InboxEvent.from_json(wire().replace("1700000000.5", "NaN"))
    with pytest.raises(InvalidEvent, match="payload"):
        make_event(payload={"x": float("inf")})


def test_payload_must_be_json_able() -> None:
    with pytest.raises(InvalidEvent, match="payload"):
        make_event(payload={"when": object()})
    with pytest.raises(InvalidEvent, match="payload"):
        make_event(payload={1: "non-string key"})


def test_without_payload_keeps_everything_but_the_payload() -> None:
    event = make_event()
    small = event.without_payload()
    assert small.payload == TRUNCATED == {"truncated": True}
    assert (small.kind, small.id, small.number, small.conversation_id) == (
        event.kind,
        event.id,
        event.number,
        event.conversation_id,
    )
    assert InboxEvent.from_json(small.to_json()) == small


def test_new_event_ids_are_unique() -> None:
    assert len({new_event_id() for _ in range(1000)}) == 1000


ACCESS = NumberAccess(
    workspace_id=1, number=NUMBER, members=frozenset({3, 4}), managers=frozenset({1})
)


def test_audience_is_the_numbers_members_plus_the_workspace_managers() -> None:
    assert audience(make_event(), ACCESS) == {1, 3, 4}


def test_audience_of_a_members_own_action_includes_them_for_their_other_devices() -> None:
    for kind in (
        EventKind.MESSAGE_CREATED,
        EventKind.COMMENT_CREATED,
        EventKind.CONVERSATION_OPENED,
    ):
        assert 3 in audience(make_event(kind=kind, actor_id=3), ACCESS)


def test_a_typist_never_receives_their_own_typing_events() -> None:
    for kind in (EventKind.TYPING_STARTED, EventKind.TYPING_STOPPED):
        assert audience(make_event(kind=kind, actor_id=3), ACCESS) == {1, 4}
        assert audience(make_event(kind=kind, actor_id=1), ACCESS) == {3, 4}


def test_audience_never_reaches_users_outside_the_number() -> None:
    other = NumberAccess(workspace_id=1, number="+14155550199", members=frozenset({9}))
    assert 9 not in audience(make_event(), ACCESS)
    with pytest.raises(ValueError, match=r"\+14155550199"):
        audience(make_event(), other)
    with pytest.raises(ValueError, match="workspace 2"):
        audience(make_event(), NumberAccess(workspace_id=2, number=NUMBER, members=frozenset()))
