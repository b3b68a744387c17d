"""The live events of inbound calls, as switch actions on the virtual clock: ringing once the
first wave is out, answered with the member who won, ended after the call record (DESIGN.md
"Team inbox": the whole number sees "answered by Alice", or one missed call)."""

from __future__ import annotations

from sharedline.sip.service import Action
from sharedline.switch.records import CallOutcome, CallPhase, PublishCallEvent, SaveCall

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
