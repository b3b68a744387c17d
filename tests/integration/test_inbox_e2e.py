"""The team inbox live, end to end: a SIPp carrier calls the shared number of a running
``sharedline serve``, the members' SIPp phones ring and one answers, and a member's WebSocket on
the engine's API sees the call ring, get answered and end, in the caller's conversation, while a
member of another number connected at the same time sees none of it (DESIGN.md "Team inbox").

The bed's team is extended straight in its store before the switch starts: a second number
(Sales) with a user of its own, an address book entry naming the carrier's caller, and bearer
tokens for a member of each number.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from sharedline.store import Database, NumberMembership, NumberRole, PhoneNumber, User, migrate
from sharedline.store.accounts import issue_token
from sharedline.store.inbox_models import Contact, ContactNumber
from tests.integration.switchbed import NUMBER, NUMBER_NAME, SwitchBed, received, wait_all

pytestmark = pytest.mark.peer

SALES = "+14155550199"
CALLER = "+12125550123"
CALLER_NAME = "Jane Customer"


@dataclass(frozen=True, slots=True)
class Tokens:
    member: str
    member_id: int
    other: str


async def extend_team(bed: SwitchBed) -> Tokens:
    """Sales with a user of its own, the caller in the address book, and two tokens."""
    database = Database(bed.db)
    try:
        await migrate(database)
        now = datetime.now(UTC)
        async with database.session() as session:
            m1 = await session.scalar(select(User).where(User.email == "m1@bed.test"))
            assert m1 is not None
            sales = PhoneNumber(workspace_id=m1.workspace_id, e164=SALES, name="Sales")
            seller = User(workspace_id=m1.workspace_id, email="seller@bed.test", name="Seller")
            jane = Contact(workspace_id=m1.workspace_id, name=CALLER_NAME)
            session.add_all([sales, seller, jane])
            await session.flush()
            session.add_all(
                [
                    NumberMembership(number_id=sales.id, user_id=seller.id, role=NumberRole.OWNER),
                    ContactNumber(contact_id=jane.id, workspace_id=m1.workspace_id, e164=CALLER),
                ]
            )
            ttl = timedelta(hours=1)
            member = await issue_token(session, m1.id, now=now, ttl=ttl)
            other = await issue_token(session, seller.id, now=now, ttl=ttl)
            await session.commit()
            return Tokens(member=member.token, member_id=m1.id, other=other.token)
    finally:
        await database.close()


async def next_event(ws: ClientConnection, timeout: float = 20.0) -> dict[str, Any]:
    found = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(found, dict)
    assert found["type"] == "event", found
    return found


async def test_a_call_rings_is_answered_and_ends_live_for_the_number_only(tmp_path: Path) -> None:
    bed = SwitchBed.create(tmp_path, 2)
    tokens = await extend_team(bed)
    answerer, ringer = bed.members
    with bed.serving_logged() as log:
        api = f"127.0.0.1:{log.wait_for('api_listening')['port']}"
        bed.register()
        async with (
            connect(f"ws://{api}/ws?token={tokens.member}") as member_ws,
            connect(f"ws://{api}/ws?token={tokens.other}") as other_ws,
        ):
            assert json.loads(await member_ws.recv())["numbers"] == [NUMBER]
            assert json.loads(await other_ws.recv())["numbers"] == [SALES]
            scenarios = [(answerer, "member_answer.xml"), (ringer, "member_ring.xml")]
            with bed.phones(scenarios) as phones:
                carrier = bed.start_call()
                ringing = await next_event(member_ws)
                answered = await next_event(member_ws)
                ended = await next_event(member_ws)
                carrier_result = await asyncio.to_thread(carrier.wait)
                results = await asyncio.to_thread(wait_all, phones)
            with pytest.raises(TimeoutError):  # Sales saw nothing of Support's call
                await asyncio.wait_for(other_ws.recv(), 1.0)
        async with httpx.AsyncClient(base_url=f"http://{api}") as client:
            headers = {"Authorization": f"Bearer {tokens.member}"}
            calls = (await client.get(f"/numbers/{NUMBER}/calls", headers=headers)).json()
            conversation = (
                await client.get(f"/conversations/{ended['conversation_id']}", headers=headers)
            ).json()

    assert carrier_result.ok, carrier_result.describe()
    assert all(result.ok for result in results), [r.describe() for r in results]
    assert [e["kind"] for e in (ringing, answered, ended)] == [
        "call.ringing",
        "call.answered",
        "call.ended",
    ]
    assert {e["number"] for e in (ringing, answered, ended)} == {NUMBER}
    assert len({e["conversation_id"] for e in (ringing, answered, ended)}) == 1
    call_id = ringing["payload"]["call_id"]
    assert ringing["payload"] == {
        "call_id": call_id,
        "caller": CALLER,
        "caller_name": CALLER_NAME,
        "answered_by": None,
        "outcome": None,
    }
    winner = {"id": tokens.member_id, "name": "Member 1"}
    assert answered["payload"]["answered_by"] == winner
    assert ended["payload"]["answered_by"] == winner
    assert ended["payload"]["outcome"] == "answered"

    # the phones showed the caller by their address book name, on the shared line
    for result in results:
        [invite, *_] = received(result, "INVITE")
        assert invite.header("From") or "".startswith(f'"[{NUMBER_NAME}] {CALLER_NAME}"')

    # the history has it: answered by member 1, in the caller's conversation
    [call] = calls
    assert call["status"] == "answered"
    assert call["answered_by"] == winner
    assert [item["kind"] for item in conversation["items"]] == ["call"]
    assert conversation["items"][0]["id"] == call["id"]
