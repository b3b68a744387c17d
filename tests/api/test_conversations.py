"""Conversations per (number, contact): the timeline merges messages, calls and voicemail in
time order; a call one member answered is answered for everyone, missed only when nobody did;
opened-by; every route hidden (404) from members of other numbers and other workspaces."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from sharedline.inbox.events import EventKind, InboxEvent
from sharedline.store import CallLeg, CallRecord, NumberRole, WorkspaceRole
from sharedline.store.conversations import conversation_for
from sharedline.store.inbox_models import (
    Comment,
    ItemKind,
    Message,
    MessageDirection,
    MessageStatus,
    Voicemail,
)
from tests.api.conftest import START, Person, Team

NUMBER = "+14155550100"
OTHER_NUMBER = "+14155550199"
ANN = "+12125550100"
ZED = "+12125550177"


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


@dataclass
class Inbox:
    team: Team
    alice: Person
    bob: Person
    carol: Person
    """A member of the other number only."""
    stranger: Person
    """An Owner of another workspace."""
    conversation_id: int
    zed_conversation_id: int


async def _call(
    team: Team,
    call_id: str,
    *,
    started: datetime,
    caller: str = ANN,
    callee: str = NUMBER,
    direction: str = "inbound",
    outcome: str | None,
    answered_by: int | None = None,
    legs: list[tuple[int, str]] | None = None,
    number: str = NUMBER,
) -> int:
    async with team.database.session() as session:
        record = CallRecord(
            call_id=call_id,
            number_id=team.numbers[number],
            direction=direction,
            caller=caller,
            callee=callee,
            started_at=started,
            answered_at=started + timedelta(seconds=5) if answered_by else None,
            ended_at=started + timedelta(minutes=1),
            outcome=outcome,
            answered_by_user_id=answered_by,
        )
        record.legs = [
            CallLeg(user_id=user_id, contact_uri=f"sip:{user_id}@10.0.0.1", outcome=leg_outcome)
            for user_id, leg_outcome in legs or []
        ]
        session.add(record)
        await session.commit()
        return record.id


@pytest.fixture
async def inbox(team: Team) -> Inbox:
    await team.number(NUMBER)
    await team.number(OTHER_NUMBER, "Sales")
    alice = await team.person("alice@acme.test", numbers={NUMBER: NumberRole.MEMBER})
    bob = await team.person("bob@acme.test", numbers={NUMBER: NumberRole.OWNER})
    carol = await team.person("carol@acme.test", numbers={OTHER_NUMBER: NumberRole.OWNER})
    elsewhere = await team.workspace("Globex")
    stranger = await team.person("boss@globex.test", WorkspaceRole.OWNER, workspace_id=elsewhere)
    async with team.database.session() as session:
        conversation = await conversation_for(
            session, team.numbers[NUMBER], "12125550100", activity_at=at(0)
        )
        zed = await conversation_for(session, team.numbers[NUMBER], ZED, activity_at=at(1))
        assert conversation is not None
        assert zed is not None
        await session.commit()
    return Inbox(team, alice, bob, carol, stranger, conversation.id, zed.id)


async def _get(team: Team, caller: Person, url: str) -> Any:
    response = await team.client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_conversation_for_normalises_gets_or_creates_and_moves_activity_forward(
    inbox: Inbox,
) -> None:
    team = inbox.team
    async with team.database.session() as session:
        same = await conversation_for(session, team.numbers[NUMBER], "+1 212 555 0100")
        assert same is not None
        assert same.id == inbox.conversation_id
        assert same.contact_e164 == ANN
        assert same.number == NUMBER
        moved = await conversation_for(session, team.numbers[NUMBER], ANN, activity_at=at(30))
        assert moved is not None
        assert moved.last_activity_at == at(30)
        back = await conversation_for(session, team.numbers[NUMBER], ANN, activity_at=at(10))
        assert back is not None
        assert back.last_activity_at == at(30)
        none = await conversation_for(session, team.numbers[NUMBER], "+19999999999", create=False)
        assert none is None
        await session.commit()


async def test_conversation_for_is_safe_when_started_twice_at_once(inbox: Inbox) -> None:
    team = inbox.team

    async def start() -> int:
        async with team.database.session() as session:
            found = await conversation_for(session, team.numbers[OTHER_NUMBER], ANN)
            assert found is not None
            await session.commit()
            return found.id

    first, second = await asyncio.gather(start(), start())
    assert first == second


async def test_the_timeline_merges_messages_calls_and_voicemail_in_time_order(
    inbox: Inbox,
) -> None:
    team, alice, bob = inbox.team, inbox.alice, inbox.bob
    call_id = await _call(
        team,
        "c1",
        started=at(2),
        caller="12125550100",  # the carrier left out the plus
        outcome="answered",
        answered_by=bob.id,
        legs=[(alice.id, "completed_elsewhere"), (bob.id, "answered")],
    )
    missed_id = await _call(
        team,
        "c2",
        started=at(4),
        outcome="abandoned",
        legs=[(alice.id, "cancelled"), (bob.id, "cancelled")],
    )
    vm_call = await _call(team, "c3", started=at(6), outcome="voicemail")
    out_id = await _call(
        team,
        "c4",
        started=at(8),
        direction="outbound",
        caller=NUMBER,
        callee=ANN,
        outcome="answered",
        answered_by=alice.id,
        legs=[(alice.id, "answered")],
    )
    zed_missed = await _call(team, "c5", started=at(3), caller=ZED, outcome="missed")
    await _call(team, "c6", started=at(3), number=OTHER_NUMBER, outcome="missed")  # other number
    async with team.database.session() as session:
        inbound = Message(
            conversation_id=inbox.conversation_id,
            direction=MessageDirection.INBOUND,
            body="Are you open today?",
            status=MessageStatus.RECEIVED,
            created_at=at(1),
        )
        outbound = Message(
            conversation_id=inbox.conversation_id,
            direction=MessageDirection.OUTBOUND,
            body="Yes, until six.",
            sender_user_id=alice.id,
            status=MessageStatus.DELIVERED,
            created_at=at(3),
        )
        voicemail = Voicemail(
            conversation_id=inbox.conversation_id,
            call_record_id=vm_call,
            box="main",
            duration=12.4,
            audio_url="https://media.test/vm/1.wav",
            created_at=at(7),
        )
        session.add_all([inbound, outbound, voicemail])
        await session.flush()
        session.add(
            Comment(
                conversation_id=inbox.conversation_id,
                item_kind=ItemKind.CALL,
                item_id=call_id,
                author_user_id=alice.id,
                body="Bob took it",
                created_at=at(9),
            )
        )
        await session.commit()

    detail = await _get(team, alice, f"/conversations/{inbox.conversation_id}")
    assert detail["contact"] == {"e164": ANN, "name": None, "contact_id": None}
    assert detail["number"] == NUMBER
    items = detail["items"]
    assert [(i["kind"], i["id"]) for i in items] == [
        ("message", inbound.id),
        ("call", call_id),
        ("message", outbound.id),
        ("call", missed_id),
        ("call", vm_call),
        ("voicemail", voicemail.id),
        ("call", out_id),
    ]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[0]["sender"] is None
    assert items[2]["sender"] == {"id": alice.id, "name": "Alice"}
    assert items[2]["status"] == "delivered"
    answered = items[1]
    assert answered["status"] == "answered"
    assert answered["answered_by"] == {"id": bob.id, "name": "Bob"}
    assert answered["other_party"] == ANN
    assert answered["comments"] == 1
    assert answered["legs"] == [
        {"user": {"id": alice.id, "name": "Alice"}, "outcome": "completed_elsewhere"},
        {"user": {"id": bob.id, "name": "Bob"}, "outcome": "answered"},
    ]
    assert items[3]["status"] == "missed"
    assert items[3]["answered_by"] is None
    assert items[4]["status"] == "voicemail"
    assert items[5]["audio_url"] == "https://media.test/vm/1.wav"
    assert items[5]["call_id"] == vm_call
    assert items[6]["direction"] == "outbound"
    assert items[6]["answered_by"] == {"id": alice.id, "name": "Alice"}

    # Alice's phone lost the race: for her too the call was answered by Bob, not missed
    missed = await _get(team, alice, f"/numbers/{quote(NUMBER)}/calls?status=missed")
    assert [c["id"] for c in missed] == [missed_id, zed_missed]  # newest first
    every = await _get(team, bob, f"/numbers/{quote(NUMBER)}/calls")
    assert every[0]["id"] == out_id
    assert len(every) == 5  # not the other number's
    answered_only = await _get(team, bob, f"/numbers/{quote(NUMBER)}/calls?status=answered")
    assert {c["id"] for c in answered_only} == {call_id, out_id}
    voicemails = await _get(team, bob, f"/numbers/{quote(NUMBER)}/voicemail")
    assert [(v["id"], v["contact_e164"], v["duration"]) for v in voicemails] == [
        (voicemail.id, ANN, 12.4)
    ]


async def test_the_list_is_newest_first_with_names_and_last_items(inbox: Inbox) -> None:
    team, alice = inbox.team, inbox.alice
    created = await team.client.post(
        "/contacts", headers=alice.headers, json={"name": "Ann", "numbers": [{"e164": ANN}]}
    )
    assert created.status_code == 201
    await _call(team, "z0", started=at(2), caller=ZED, outcome="answered", answered_by=alice.id)
    await _call(team, "z1", started=at(5), caller=ZED, outcome="missed")
    await _call(team, "z2", started=at(4), caller=ZED[1:], outcome="voicemail")
    async with team.database.session() as session:
        session.add(
            Message(
                conversation_id=inbox.conversation_id,
                direction=MessageDirection.OUTBOUND,
                body="See you   at\nnine " + "x" * 200,
                sender_user_id=alice.id,
                status=MessageStatus.SENT,
                created_at=at(9),
            )
        )
        await conversation_for(session, team.numbers[NUMBER], ANN, activity_at=at(9))
        await conversation_for(session, team.numbers[NUMBER], ZED, activity_at=at(5))
        await session.commit()
    listed = await _get(team, alice, f"/numbers/{quote(NUMBER)}/conversations")
    assert [c["id"] for c in listed] == [inbox.conversation_id, inbox.zed_conversation_id]
    first, second = listed
    assert first["contact"] == {"e164": ANN, "name": "Ann", "contact_id": created.json()["id"]}
    assert first["last_item"]["kind"] == "message"
    assert first["last_item"]["summary"].startswith("See you at nine xxx")
    assert len(first["last_item"]["summary"]) == 120
    assert second["contact"]["name"] is None
    assert second["last_item"]["kind"] == "call"
    assert second["last_item"]["summary"] == "Missed call"
    paged = await _get(team, alice, f"/numbers/{quote(NUMBER)}/conversations?limit=1&offset=1")
    assert [c["id"] for c in paged] == [inbox.zed_conversation_id]
    other = await _get(team, inbox.carol, f"/numbers/{quote(OTHER_NUMBER)}/conversations")
    assert other == []


async def test_opening_is_recorded_per_member_latest_first_and_pushed_live(inbox: Inbox) -> None:
    team, alice, bob = inbox.team, inbox.alice, inbox.bob
    url = f"/conversations/{inbox.conversation_id}"
    bus = team.client._transport.app.state.api.bus  # type: ignore[attr-defined]
    subscription = bus.subscribe()
    for person in (alice, bob, alice):
        response = await team.client.post(f"{url}/open", headers=person.headers)
        assert response.status_code == 200, response.text
        team.clock.advance(60)
    opens = await _get(team, bob, f"{url}/opens")
    assert opens == [
        {"user": {"id": alice.id, "name": "Alice"}, "opened_at": "2026-11-24T09:02:00Z"},
        {"user": {"id": bob.id, "name": "Bob"}, "opened_at": "2026-11-24T09:01:00Z"},
    ]
    seen: list[InboxEvent] = [await anext(subscription) for _ in range(subscription.pending)]
    subscription.close()
    assert [(e.kind, e.actor_id, e.conversation_id, e.number) for e in seen] == [
        (EventKind.CONVERSATION_OPENED, person.id, inbox.conversation_id, NUMBER)
        for person in (alice, bob, alice)
    ]


def _routes(inbox: Inbox) -> list[tuple[str, str]]:
    conversation = f"/conversations/{inbox.conversation_id}"
    number = f"/numbers/{quote(NUMBER)}"
    return [
        ("GET", f"{number}/conversations"),
        ("GET", conversation),
        ("POST", f"{conversation}/open"),
        ("GET", f"{conversation}/opens"),
        ("GET", f"{number}/calls"),
        ("GET", f"{number}/calls?status=missed"),
        ("GET", f"{number}/voicemail"),
    ]


ROUTE_NAMES = ["conversations", "conversation", "open", "opens", "calls", "missed", "voicemail"]


@pytest.mark.parametrize("route", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
@pytest.mark.parametrize("who", ["other_number_member", "other_workspace_owner"])
async def test_every_route_is_404_for_those_who_cannot_see_the_number(
    inbox: Inbox, route: int, who: str
) -> None:
    caller = inbox.carol if who == "other_number_member" else inbox.stranger
    method, url = _routes(inbox)[route]
    response = await inbox.team.client.request(method, url, headers=caller.headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert ANN not in response.text
    allowed = await inbox.team.client.request(method, url, headers=inbox.alice.headers)
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize("role", [WorkspaceRole.OWNER, WorkspaceRole.ADMIN])
async def test_workspace_owners_and_admins_see_every_number(
    inbox: Inbox, role: WorkspaceRole
) -> None:
    manager = await inbox.team.person(f"{role}@acme.test", role)
    for method, url in _routes(inbox):
        response = await inbox.team.client.request(method, url, headers=manager.headers)
        assert response.status_code == 200, (url, response.text)


@pytest.mark.parametrize(
    "url",
    [
        "/conversations/0",
        "/conversations/-3",
        "/conversations/abc",
        "/conversations/99999999999",
        "/numbers/14155550100/conversations",
        "/numbers/+0123/calls",
        f"/numbers/{quote(NUMBER)}/calls?status=lost",
        f"/numbers/{quote(NUMBER)}/calls?limit=0",
        f"/numbers/{quote(NUMBER)}/calls?limit=201",
        f"/numbers/{quote(NUMBER)}/voicemail?offset=-1",
        f"/numbers/{quote(NUMBER)}/conversations?limit=x",
    ],
)
async def test_bad_input_is_a_422(inbox: Inbox, url: str) -> None:
    response = await inbox.team.client.get(url, headers=inbox.bob.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_unknown_conversations_are_404_and_tokens_are_required(inbox: Inbox) -> None:
    response = await inbox.team.client.get("/conversations/4242", headers=inbox.bob.headers)
    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"conversation_id": 4242}
    for method, url in _routes(inbox):
        anonymous = await inbox.team.client.request(method, url)
        assert anonymous.status_code == 401
