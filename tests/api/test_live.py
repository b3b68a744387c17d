"""``/ws``: live events and typing over a real WebSocket (uvicorn on loopback, ``websockets``
client), on SQLite and PostgreSQL.

Absence is checked with a marker: after the events a user must not get, an event they may get is
published; the first frame they receive must be the marker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from sharedline.api import create_app
from sharedline.api.passwords import Passwords
from sharedline.api.state import ApiState
from sharedline.inbox.events import EventKind, InboxEvent, new_event_id
from sharedline.inbox.presence import TypingTracker
from sharedline.store import Database, NumberRole, WorkspaceRole
from sharedline.store.inbox_models import Conversation
from tests.api.conftest import Clock, Person, Team, api_settings

A, B, C, OTHER = "+12125550100", "+12125550200", "+12125550300", "+13125550100"
TTL = 0.5


@dataclasses.dataclass
class Live:
    team: Team
    state: ApiState
    port: int

    async def connect(self, person: Person, *, header: bool = False) -> ClientConnection:
        if header:
            return await connect(
                f"ws://127.0.0.1:{self.port}/ws", additional_headers=person.headers
            )
        return await connect(f"ws://127.0.0.1:{self.port}/ws?token={person.token}")

    async def publish(
        self, number: str, kind: EventKind = EventKind.MESSAGE_CREATED, **fields: Any
    ) -> InboxEvent:
        workspace_id = fields.pop("workspace_id", self.team.workspace_id)
        event = InboxEvent(
            kind=kind,
            number=number,
            workspace_id=workspace_id,
            conversation_id=fields.pop("conversation_id", None),
            at=1.0,
            id=new_event_id(),
            **fields,
        )
        assert await self.state.bus.publish(event)
        return event

    async def conversation(self, number: str, contact: str = "+15555550123") -> int:
        async with self.team.database.session() as session:
            row = Conversation(number_id=self.team.numbers[number], contact_e164=contact)
            session.add(row)
            await session.commit()
            return row.id


@pytest.fixture
async def live(database: Database, passwords: Passwords) -> AsyncIterator[Live]:
    clock = Clock()
    app = create_app(database, api_settings(), clock=clock, passwords=passwords)
    state = app.state.api = dataclasses.replace(app.state.api, typing=TypingTracker(ttl=TTL))
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio"
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    sock = socket.create_server(("127.0.0.1", 0))
    await server.startup(sockets=[sock])
    task = asyncio.create_task(server.main_loop())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        team = Team(database=database, client=client, clock=clock, passwords=passwords)
        await team.workspace()
        for number, name in ((A, "Support"), (B, "Sales"), (C, "Billing")):
            await team.number(number, name)
        try:
            yield Live(team=team, state=state, port=sock.getsockname()[1])
        finally:
            server.should_exit = True
            await task
            await server.shutdown(sockets=[sock])


async def frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    found = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(found, dict)
    return found


async def hello(ws: ClientConnection) -> dict[str, Any]:
    first = await frame(ws)
    assert first["type"] == "hello"
    return first


async def event_frame(ws: ClientConnection) -> dict[str, Any]:
    found = await frame(ws)
    assert found["type"] == "event", found
    return found


def member(*numbers: str) -> Mapping[str, NumberRole]:
    return dict.fromkeys(numbers, NumberRole.MEMBER)


async def test_a_handshake_without_a_valid_token_is_refused(live: Live) -> None:
    for url in ("/ws", "/ws?token=nope"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{live.port}{url}")
        assert refused.value.response.status_code == 403


async def test_hello_lists_the_numbers_the_user_may_see(live: Live) -> None:
    alice = await live.team.person("alice@acme.test", numbers=member(A))
    admin = await live.team.person("admin@acme.test", WorkspaceRole.ADMIN)
    async with await live.connect(alice) as ws:
        assert await hello(ws) == {"type": "hello", "user_id": alice.id, "numbers": [A]}
        await ws.send(json.dumps({"type": "ping"}))
        assert await frame(ws) == {"type": "pong"}
    async with await live.connect(admin, header=True) as ws:
        assert (await hello(ws))["numbers"] == [A, B, C]


async def test_events_reach_only_the_numbers_audience(live: Live) -> None:
    alice = await live.team.person("alice@acme.test", numbers=member(A, C))
    bob = await live.team.person("bob@acme.test", numbers=member(B, C))
    admin = await live.team.person("admin@acme.test", WorkspaceRole.ADMIN)
    elsewhere = await live.team.workspace("Globex")
    await live.team.number(OTHER, "Front desk", workspace_id=elsewhere)
    stranger = await live.team.person(
        "eve@globex.test", WorkspaceRole.OWNER, member(OTHER), workspace_id=elsewhere
    )
    sockets = [await live.connect(p) for p in (alice, bob, admin, stranger)]
    try:
        for ws in sockets:
            await hello(ws)
        on_a = await live.publish(A, conversation_id=1, payload={"text": "for A"})
        on_b = await live.publish(B, payload={"text": "for B"})
        marker = await live.publish(C, kind=EventKind.COMMENT_CREATED)
        marker_elsewhere = await live.publish(OTHER, workspace_id=elsewhere)
        alice_ws, bob_ws, admin_ws, stranger_ws = sockets
        first = await event_frame(alice_ws)
        assert first["id"] == on_a.id
        assert first["payload"] == {"text": "for A"}
        assert first["kind"] == "message.created"
        assert first["conversation_id"] == 1
        assert (await event_frame(alice_ws))["id"] == marker.id
        assert (await event_frame(bob_ws))["id"] == on_b.id
        assert (await event_frame(bob_ws))["id"] == marker.id
        assert [(await event_frame(admin_ws))["id"] for _ in range(3)] == [
            on_a.id,
            on_b.id,
            marker.id,
        ]
        assert (await event_frame(stranger_ws))["id"] == marker_elsewhere.id
    finally:
        for ws in sockets:
            await ws.close()


async def test_subscribing_to_a_number_out_of_sight_is_not_found(live: Live) -> None:
    alice = await live.team.person("alice@acme.test", numbers=member(A, C))
    async with await live.connect(alice) as ws:
        await hello(ws)
        await ws.send(json.dumps({"type": "subscribe", "numbers": [B, "+19995550000", C]}))
        assert await frame(ws) == {"type": "error", "code": "not_found", "number": B}
        assert await frame(ws) == {"type": "error", "code": "not_found", "number": "+19995550000"}
        assert await frame(ws) == {"type": "subscribed", "numbers": [C]}
        await live.publish(A)
        marker = await live.publish(C)
        assert (await event_frame(ws))["id"] == marker.id
        await ws.send("not json")
        assert (await frame(ws))["code"] == "invalid"


async def test_typing_reaches_teammates_but_not_the_typist(live: Live) -> None:
    alice = await live.team.person("alice@acme.test", numbers=member(A))
    bob = await live.team.person("bob@acme.test", numbers=member(A))
    carol = await live.team.person("carol@acme.test", numbers=member(B))
    on_a = await live.conversation(A)
    on_b = await live.conversation(B)
    async with (
        await live.connect(alice) as alice_ws,
        await live.connect(bob) as bob_ws,
        await live.connect(carol) as carol_ws,
    ):
        for ws in (alice_ws, bob_ws, carol_ws):
            await hello(ws)
        await alice_ws.send(json.dumps({"type": "typing", "conversation_id": on_b}))
        assert await frame(alice_ws) == {
            "type": "error",
            "code": "not_found",
            "conversation_id": on_b,
        }
        await alice_ws.send(json.dumps({"type": "typing", "conversation_id": on_a}))
        started = await event_frame(bob_ws)
        assert started["kind"] == "typing.started"
        assert started["actor_id"] == alice.id
        assert started["conversation_id"] == on_a
        await alice_ws.send(json.dumps({"type": "typing_stopped", "conversation_id": on_a}))
        stopped = await event_frame(bob_ws)
        assert stopped["kind"] == "typing.stopped"
        assert stopped["payload"] == {"user_id": alice.id}
        marker = await live.publish(A)
        assert (await event_frame(alice_ws))["id"] == marker.id  # never their own typing
        await live.publish(C)
        carol_marker = await live.publish(B)
        assert (await event_frame(carol_ws))["id"] == carol_marker.id


async def test_typing_stops_after_silence_and_on_disconnect(live: Live) -> None:
    alice = await live.team.person("alice@acme.test", numbers=member(A))
    bob = await live.team.person("bob@acme.test", numbers=member(A))
    conversation = await live.conversation(A)
    async with await live.connect(bob) as bob_ws:
        await hello(bob_ws)
        async with await live.connect(alice) as alice_ws:
            await hello(alice_ws)
            await alice_ws.send(json.dumps({"type": "typing", "conversation_id": conversation}))
            assert (await event_frame(bob_ws))["kind"] == "typing.started"
            expired = await event_frame(bob_ws)  # nothing more from alice: silent past the ttl
            assert expired["kind"] == "typing.stopped"
            assert expired["payload"] == {"user_id": alice.id, "expired": True}
            await alice_ws.send(json.dumps({"type": "typing", "conversation_id": conversation}))
            assert (await event_frame(bob_ws))["kind"] == "typing.started"
        gone = await event_frame(bob_ws)
        assert gone["kind"] == "typing.stopped"
        assert gone["actor_id"] == alice.id
        assert live.state.typing.typing_in(conversation, 0.0) == set()


async def test_removing_a_member_stops_delivery_at_once(live: Live) -> None:
    owner = await live.team.person("owner@acme.test", WorkspaceRole.OWNER)
    alice = await live.team.person("alice@acme.test", numbers=member(A, C))
    async with await live.connect(alice) as ws:
        await hello(ws)
        before = await live.publish(A)
        assert (await event_frame(ws))["id"] == before.id
        removed = await live.team.client.delete(
            f"/numbers/{A}/members/{alice.id}", headers=owner.headers
        )
        assert removed.status_code == 204, removed.text
        await live.publish(A)
        marker = await live.publish(C)
        assert (await event_frame(ws))["id"] == marker.id
