"""The live events of inbound calls, as switch actions on the virtual clock: ringing once the
first wave is out, answered with the member who won, ended after the call record (DESIGN.md
"Team inbox": the whole number sees "answered by Alice", or one missed call)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from sharedline.bus import MemoryBus
from sharedline.inbox.events import EventKind, InboxEvent
from sharedline.sip.service import Action
from sharedline.store import Database, PhoneNumber, User, Workspace
from sharedline.store.inbox_models import Contact, ContactNumber, Conversation, Voicemail
from sharedline.store.models import CallRecord
from sharedline.store.repositories import load_directory
from sharedline.store.sync import ActionWriter, Clock, refresh_caller_names
from sharedline.switch.records import (
    CallOutcome,
    CallPhase,
    CallReport,
    PublishCallEvent,
    SaveCall,
)
from tests.store.conftest import database, database_url  # noqa: F401  (fixtures)

from .playbook import (
    CARRIER,
    Bench,
    answer,
    carrier_ack,
    carrier_cancel,
    carrier_invite,
    carrier_request,
)
from .test_switch import (
    finish_cancelled_leg,
    fork,
    ok_to_carrier,
    pick_up,
    requests,
    ring,
    ringing,
)

CALLER = "+12125550123"


def events(bench: Bench) -> list[PublishCallEvent]:
    return [action for action in bench.actions if isinstance(action, PublishCallEvent)]


def kinds(actions: list[Action]) -> list[str]:
    """SaveCall and the call events, in order."""
    return [
        f"event:{action.phase}" if isinstance(action, PublishCallEvent) else "save"
        for action in actions
        if isinstance(action, PublishCallEvent | SaveCall)
    ]


def test_ringing_then_answered_by_the_winner_then_ended_after_the_record() -> None:
    bench = ringing(3)
    bench.now = 10.0
    legs = fork(bench)
    [rang] = events(bench)
    assert rang == PublishCallEvent(
        phase=CallPhase.RINGING,
        call_id="in-1@127.0.0.2",
        number="+14155550100",
        caller=CALLER,
        caller_name="ACME Corp",
        answered_by=None,
        answered_by_name=None,
        outcome=None,
        at=10.0,
    )
    ring(bench, legs, 1, 2, 3)
    assert len(events(bench)) == 1  # phones ringing is one event, not one per phone

    bench.now = 14.5
    out = pick_up(bench, legs, 2)
    answered = events(bench)[-1]
    assert answered.phase is CallPhase.ANSWERED
    assert answered.answered_by == 2
    assert answered.answered_by_name == "User 2"
    assert answered.outcome is CallOutcome.ANSWERED
    assert answered.at == 14.5
    ok = ok_to_carrier(out)
    bench.feed(carrier_ack(ok), CARRIER)
    for cancel, i in zip(requests(out)[1:], (1, 3), strict=True):
        finish_cancelled_leg(bench, cancel, legs[i - 1], i)
    assert len(events(bench)) == 2  # the others hanging up is no news

    bench.now = 70.0
    out = bench.feed(carrier_request("BYE", ok, cseq=2, branch="z9hG4bK-bye"), CARRIER)
    [bye] = requests(out)
    bench.feed(answer(bye, 200, tag="m2"), ("127.0.0.1", 6002))
    assert kinds(bench.actions) == ["event:ringing", "event:answered", "save", "event:ended"]
    ended = events(bench)[-1]
    assert ended.phase is CallPhase.ENDED
    assert ended.outcome is CallOutcome.ANSWERED
    assert ended.answered_by == 2
    assert ended.at == 70.0


def test_a_call_nobody_answers_ends_missed_for_the_whole_number() -> None:
    bench = ringing(2)
    legs = fork(bench)
    ring(bench, legs, 1, 2)
    out = bench.feed(carrier_cancel(), CARRIER)
    for i, cancel in enumerate(requests(out), start=1):
        finish_cancelled_leg(bench, cancel, legs[i - 1], i)
    assert kinds(bench.actions) == ["event:ringing", "save", "event:ended"]
    ended = events(bench)[-1]
    assert ended.outcome is CallOutcome.MISSED
    assert ended.answered_by is None
    assert ended.answered_by_name is None


def test_a_call_with_no_phone_to_ring_is_missed_without_ringing() -> None:
    bench = Bench.create(members=2)  # nobody registered
    bench.feed(carrier_invite(), CARRIER)
    assert kinds(bench.actions) == ["save", "event:ended"]
    assert events(bench)[0].outcome is CallOutcome.MISSED


def test_the_address_book_names_the_caller_on_the_phones_and_in_the_events() -> None:
    bench = ringing(2)
    bench.switch.directory = bench.switch.directory.with_caller_names(
        {0: {CALLER: "Jane Customer"}, 7: {CALLER: "Someone Else's Contact"}}
    )
    legs = fork(bench)
    assert {leg.from_.display_name for leg in legs} == {"[Support] Jane Customer"}
    assert events(bench)[0].caller_name == "Jane Customer"


def test_another_workspaces_address_book_does_not_name_the_caller() -> None:
    bench = ringing(1)
    bench.switch.directory = bench.switch.directory.with_caller_names({7: {CALLER: "Jane"}})
    [leg] = fork(bench)
    assert leg.from_.display_name == "[Support] ACME Corp"


def test_outbound_calls_publish_no_inbound_call_events() -> None:
    bench = Bench.create(members=1)
    bench.call_out()
    assert events(bench) == []


# -- from actions to the store and the bus --------------------------------------------------------


async def provision(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        workspace = Workspace(name="Acme")
        session.add(workspace)
        await session.flush()
        number = PhoneNumber(workspace_id=workspace.id, e164="+14155550100", name="Support")
        user = User(workspace_id=workspace.id, email="u2@acme.test", name="User 2")
        contact = Contact(workspace_id=workspace.id, name="Jane Customer")
        session.add_all([number, user, contact])
        await session.flush()
        session.add(ContactNumber(contact_id=contact.id, workspace_id=workspace.id, e164=CALLER))
        await session.commit()
        return workspace.id, user.id


def call_event(phase: CallPhase, user_id: int | None = None, **fields: Any) -> PublishCallEvent:
    values: dict[str, Any] = {
        "phase": phase,
        "call_id": "in-1@127.0.0.2",
        "number": "+14155550100",
        "caller": CALLER,
        "caller_name": "Jane Customer",
        "answered_by": user_id,
        "answered_by_name": "User 2" if user_id else None,
        "outcome": None,
        "at": 5.0,
        **fields,
    }
    return PublishCallEvent(**values)


def report(user_id: int) -> CallReport:
    return CallReport(
        call_id="in-1@127.0.0.2",
        number="+14155550100",
        direction="inbound",
        caller=CALLER,
        callee="+14155550100",
        started_at=1.0,
        answered_at=2.0,
        ended_at=3.0,
        outcome=CallOutcome.ANSWERED,
        answered_by=user_id,
        legs=(),
    )


async def test_call_events_reach_the_bus_in_the_callers_conversation_after_the_record(
    database: Database,  # noqa: F811
) -> None:
    workspace_id, user_id = await provision(database)
    bus = MemoryBus()
    writer = ActionWriter(database, Clock(asyncio.get_running_loop()), bus)
    seen: list[tuple[InboxEvent, int]] = []

    async def listen() -> None:
        async with bus.subscribe() as events:
            async for event in events:
                async with database.session() as session:
                    saved = await session.scalar(select(func.count()).select_from(CallRecord))
                seen.append((event, saved or 0))
                if event.kind is EventKind.CALL_ENDED:
                    return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    writer.start()
    writer.submit(
        [
            call_event(CallPhase.RINGING),
            call_event(CallPhase.ANSWERED, user_id, outcome=CallOutcome.ANSWERED),
            SaveCall(report=report(user_id)),
            call_event(CallPhase.ENDED, user_id, outcome=CallOutcome.ANSWERED),
        ]
    )
    await asyncio.wait_for(listener, 5)
    await writer.drain()
    assert [e.kind.value for e, _ in seen] == ["call.ringing", "call.answered", "call.ended"]
    assert seen[-1][1] == 1  # the history has the call when its end is announced
    conversations = {e.conversation_id for e, _ in seen}
    assert len(conversations) == 1
    assert None not in conversations
    ringing_event, answered_event, ended_event = (e for e, _ in seen)
    assert ringing_event.workspace_id == workspace_id
    assert ringing_event.payload == {
        "call_id": "in-1@127.0.0.2",
        "caller": CALLER,
        "caller_name": "Jane Customer",
        "answered_by": None,
        "outcome": None,
    }
    assert answered_event.payload["answered_by"] == {"id": user_id, "name": "User 2"}
    assert ended_event.payload["outcome"] == "answered"
    async with database.session() as session:
        rows = (await session.execute(select(Conversation.contact_e164))).scalars().all()
    assert rows == [CALLER]


async def test_a_message_left_on_the_voicemail_server_becomes_a_voicemail_item(
    database: Database,  # noqa: F811
) -> None:
    workspace_id, _ = await provision(database)
    bus = MemoryBus()
    clock = Clock(asyncio.get_running_loop())
    writer = ActionWriter(database, clock, bus)
    left = replace(
        report(0),
        answered_by=None,
        outcome=CallOutcome.VOICEMAIL,
        answered_at=10.0,
        ended_at=42.5,
        voicemail_box="support",
    )
    async with bus.subscribe() as events:
        writer.start()
        writer.submit([SaveCall(report=left), SaveCall(report=left)])  # twice: one voicemail
        event = await asyncio.wait_for(anext(events), 5)
        await writer.drain()
        assert events.pending == 0
    assert event.kind is EventKind.VOICEMAIL_CREATED
    assert event.workspace_id == workspace_id
    assert event.payload["box"] == "support"
    assert event.payload["duration"] == pytest.approx(32.5)
    assert event.payload["audio_url"] is None
    async with database.session() as session:
        (voicemail,) = (await session.execute(select(Voicemail))).scalars().all()
        record_id = await session.scalar(select(CallRecord.id))
        conversation = await session.get(Conversation, voicemail.conversation_id)
    assert voicemail.id == event.payload["voicemail_id"]
    assert voicemail.call_record_id == record_id
    assert conversation is not None
    assert conversation.contact_e164 == CALLER
    assert event.conversation_id == conversation.id


async def test_the_directory_carries_each_workspaces_caller_names(
    database: Database,  # noqa: F811
) -> None:
    workspace_id, _ = await provision(database)
    directory = await load_directory(database)
    number = directory.numbers["+14155550100"]
    assert number.workspace_id == workspace_id
    assert directory.caller_name(number, CALLER) == "Jane Customer"
    assert directory.caller_name(number, CALLER.lstrip("+")) == "Jane Customer"
    assert directory.caller_name(number, "+19995550000") is None
    bench = Bench.create(members=1)
    async with database.session() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
        contact.name = "Jane Q. Customer"
        await session.commit()
    bench.switch.directory = directory
    await refresh_caller_names(database, bench.switch)
    assert bench.switch.directory.caller_name(number, CALLER) == "Jane Q. Customer"
