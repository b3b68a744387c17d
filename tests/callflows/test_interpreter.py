"""The interpreter as a pure function: literal flows, a virtual clock, literal outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sharedline.callflows.actions import (
    CollectDigit,
    Hangup,
    Play,
    RecordTurn,
    Ring,
    RingTarget,
    Voicemail,
)
from sharedline.callflows.facts import CallFacts, MemberAvailability
from sharedline.callflows.interpreter import MAX_HOPS, Decision, Interpreter, Position
from sharedline.callflows.model import DeclineScope, FlowDocument, HangupSpec
from sharedline.callflows.schedule import ScheduleSpec
from sharedline.yamldoc.source import load_yaml

NUMBER = "+14155550100"
TEAM = tuple(f"m{i}@acme.test" for i in range(1, 26))
# 2026-12-23 (a Wednesday) 10:00 in Paris = 09:00 UTC
WEDNESDAY_10H_PARIS = datetime(2026, 12, 23, 9, 0, tzinfo=UTC).timestamp()


def interpreter(text: str) -> Interpreter:
    data, _ = load_yaml(f"version: 1\nnumbers: {{'{NUMBER}': main}}\n{text}", "flows.yaml")
    return Interpreter(FlowDocument.model_validate(data), "r1")


def facts(members: int = 3, **overrides: object) -> CallFacts:
    values: dict[str, object] = {
        "number": NUMBER,
        "caller": "+12125550123",
        "members": TEAM[:members],
        "wall_offset": WEDNESDAY_10H_PARIS,
    }
    values.update(overrides)
    return CallFacts(**values)  # type: ignore[arg-type]


def rung(decision: Decision) -> list[str]:
    rings = [a for a in decision.actions if isinstance(a, Ring)]
    assert len(rings) == 1, decision.actions
    return [target.key for target in rings[0].targets]


def only_ring(decision: Decision) -> Ring:
    rings = [a for a in decision.actions if isinstance(a, Ring)]
    assert len(rings) == 1, decision.actions
    return rings[0]


SEQUENTIAL = """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [m1@acme.test, m2@acme.test, m3@acme.test], strategy: sequential,
               leg_timeout: 15}
        on: {default: vm}
      vm: {voicemail: {box: support}}
"""


def test_sequential_rings_one_member_per_wave_for_its_leg_timeout_then_the_next_step() -> None:
    flows = interpreter(SEQUENTIAL)
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    assert rung(decision) == ["m1@acme.test"]
    assert only_ring(decision).timeout == 15
    decision = flows.step(decision.position, "no_answer", 15.0, facts())
    assert rung(decision) == ["m2@acme.test"]
    decision = flows.step(decision.position, "busy", 16.0, facts())
    assert rung(decision) == ["m3@acme.test"]
    decision = flows.step(decision.position, "no_answer", 31.0, facts())
    assert decision.actions == (Voicemail("support", None),)
    assert decision.position.done


def test_answered_ends_the_flow_with_nothing_more_to_do() -> None:
    flows = interpreter(SEQUENTIAL)
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    decision = flows.step(decision.position, "answered", 3.0, facts())
    assert decision.actions == ()
    assert decision.position.done
    # a done position stays done
    assert flows.step(decision.position, "no_answer", 9.0, facts()).actions == ()


def test_caller_hangup_ends_the_flow() -> None:
    flows = interpreter(SEQUENTIAL)
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    decision = flows.step(decision.position, "caller_hangup", 3.0, facts())
    assert decision.actions == ()
    assert decision.position.done


def test_a_group_of_25_rings_in_waves_of_at_most_ten() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: all
    steps:
      all: {ring: {targets: [everyone], leg_timeout: 20}, next: end}
"""
    )
    team = facts(25)
    decision = flows.start(NUMBER, 0.0, team, seed=1)
    assert rung(decision) == list(TEAM[:10])
    decision = flows.step(decision.position, "no_answer", 20.0, team)
    assert rung(decision) == list(TEAM[10:20])
    decision = flows.step(decision.position, "no_answer", 40.0, team)
    assert rung(decision) == list(TEAM[20:25])
    decision = flows.step(decision.position, "no_answer", 60.0, team)
    assert decision.actions == (Hangup(480, None),)


def test_stages_ring_in_order_each_with_its_own_strategy_and_timeout() -> None:
    flows = interpreter(
        """
groups:
  front: {members: [m1@acme.test, m2@acme.test]}
  managers: {members: [m3@acme.test, m4@acme.test]}
flows:
  main:
    start: team
    steps:
      team:
        ring:
          stages:
            - {targets: [group:front], leg_timeout: 20}
            - {targets: [group:managers], strategy: sequential, leg_timeout: 10}
        on: {no_answer: sorry, default: end}
      sorry: {hangup: 480}
"""
    )
    team = facts(4)
    decision = flows.start(NUMBER, 0.0, team, seed=1)
    assert rung(decision) == ["m1@acme.test", "m2@acme.test"]
    assert only_ring(decision).timeout == 20
    decision = flows.step(decision.position, "no_answer", 20.0, team)
    assert rung(decision) == ["m3@acme.test"]
    assert (only_ring(decision).stage, only_ring(decision).timeout) == (1, 10)
    decision = flows.step(decision.position, "no_answer", 30.0, team)
    assert rung(decision) == ["m4@acme.test"]
    decision = flows.step(decision.position, "no_answer", 40.0, team)
    assert decision.actions == (Hangup(480, None),)


def test_total_timeout_shortens_the_last_wave_and_ends_the_step() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], strategy: sequential, leg_timeout: 20, total_timeout: 30}
        on: {no_answer: vm, default: end}
      vm: {voicemail: {box: main}}
"""
    )
    decision = flows.start(NUMBER, 100.0, facts(), seed=1)
    decision = flows.step(decision.position, "no_answer", 120.0, facts())
    assert only_ring(decision).timeout == 10
    decision = flows.step(decision.position, "no_answer", 130.0, facts())
    assert decision.actions == (Voicemail("main", None),)


@pytest.mark.parametrize(
    ("results", "outcome"),
    [
        (["busy", "busy", "busy"], "busy"),
        (["declined", "declined", "declined"], "declined"),
        (["failed", "failed", "failed"], "failed"),
        (["busy", "no_answer", "failed"], "no_answer"),
        (["busy", "declined", "failed"], "busy"),
        (["declined", "failed", "failed"], "declined"),
    ],
)
def test_the_step_outcome_comes_from_its_waves(results: list[str], outcome: str) -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], strategy: sequential}
        on: {no_answer: a, busy: b, declined: c, failed: d}
      a: {hangup: 480}
      b: {hangup: 404}
      c: {hangup: 603}
      d: {hangup: 500}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    for result in results:
        decision = flows.step(decision.position, result, 1.0, facts())
    status = {"no_answer": 480, "busy": 404, "declined": 603, "failed": 500}[outcome]
    assert decision.actions == (Hangup(status, None),)


def test_decline_scope_group_ends_the_step_at_the_first_decline() -> None:
    text = """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], strategy: sequential, decline_scope: SCOPE}
        on: {declined: refused, default: end}
      refused: {hangup: 603}
"""
    group = interpreter(text.replace("SCOPE", "group"))
    decision = group.start(NUMBER, 0.0, facts(), seed=1)
    assert only_ring(decision).decline_scope is DeclineScope.GROUP
    decision = group.step(decision.position, "declined", 2.0, facts())
    assert decision.actions == (Hangup(603, None),)
    leg = interpreter(text.replace("SCOPE", "leg"))
    decision = leg.start(NUMBER, 0.0, facts(), seed=1)
    decision = leg.step(decision.position, "declined", 2.0, facts())
    assert rung(decision) == ["m2@acme.test"]


RING_ALL = """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [everyone], SKIP}, next: end}
"""


def test_call_waiting_by_default_and_skip_busy_when_asked() -> None:
    on_a_call = facts(busy=frozenset({"m2@acme.test"}))
    waiting = interpreter(RING_ALL.replace("SKIP", "skip_busy: false"))
    assert rung(waiting.start(NUMBER, 0.0, on_a_call, seed=1)) == list(TEAM[:3])
    skipping = interpreter(RING_ALL.replace("SKIP", "skip_busy: true"))
    assert rung(skipping.start(NUMBER, 0.0, on_a_call, seed=1)) == ["m1@acme.test", "m3@acme.test"]


def test_skip_unavailable_honours_do_not_disturb_and_personal_hours() -> None:
    # Wednesday 10:00 in Paris: m2 is on do-not-disturb, m3 works afternoons only
    afternoons = ScheduleSpec.model_validate(
        {"timezone": "Europe/Paris", "hours": {"mon-fri": "14:00-18:00"}}
    )
    away = facts(
        availability={
            "m2@acme.test": MemberAvailability(dnd=True),
            "m3@acme.test": MemberAvailability(schedule=afternoons),
        }
    )
    skipping = interpreter(RING_ALL.replace("SKIP", "skip_unavailable: true"))
    assert rung(skipping.start(NUMBER, 0.0, away, seed=1)) == ["m1@acme.test"]
    ringing_anyway = interpreter(RING_ALL.replace("SKIP", "skip_unavailable: false"))
    assert rung(ringing_anyway.start(NUMBER, 0.0, away, seed=1)) == list(TEAM[:3])
    # four hours later m3's shift has begun
    later = 4 * 3600.0
    assert rung(skipping.start(NUMBER, later, away, seed=1)) == ["m1@acme.test", "m3@acme.test"]


def test_members_no_longer_on_the_number_never_ring() -> None:
    flows = interpreter(RING_ALL.replace("SKIP", "skip_busy: false"))
    ring = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [m1@acme.test, m9@acme.test, m2@acme.test]}, next: end}
"""
    )
    assert rung(ring.start(NUMBER, 0.0, facts(2), seed=1)) == ["m1@acme.test", "m2@acme.test"]
    assert rung(flows.start(NUMBER, 0.0, facts(1), seed=1)) == ["m1@acme.test"]


def test_nobody_to_ring_is_the_failed_outcome_at_once() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [everyone]}, on: {failed: closed, default: end}}
      closed: {hangup: 503}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(0), seed=1)
    assert decision.actions == (Hangup(503, None),)


ROUND_ROBIN = """
groups:
  desk: {members: [m1@acme.test, m2@acme.test, m3@acme.test]}
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [group:desk], strategy: round_robin}, next: end}
"""


def test_round_robin_starts_with_the_least_recently_served_and_records_the_turn() -> None:
    flows = interpreter(ROUND_ROBIN)
    rotation = f"{NUMBER}/group:desk"
    turns: dict[str, int] = {}
    firsts = []
    for _ in range(6):
        decision = flows.start(NUMBER, 0.0, facts(turns={rotation: dict(turns)}), seed=1)
        (turn,) = [a for a in decision.actions if isinstance(a, RecordTurn)]
        assert turn.rotation == rotation
        firsts.append(rung(decision)[0])
        turns[turn.member] = turn.turn
    assert firsts == ["m1@acme.test", "m2@acme.test", "m3@acme.test"] * 2


def test_schedules_route_by_the_numbers_time_zone() -> None:
    flows = interpreter(
        """
timezone: Europe/Paris
schedules:
  office: {hours: {mon-fri: "09:00-18:00"}}
flows:
  main:
    start: hours
    steps:
      hours: {schedule: office, on: {open: team, closed: closed, holiday: closed}}
      team: {ring: {targets: [everyone]}, next: end}
      closed: {voicemail: {box: after-hours}}
"""
    )
    assert rung(flows.start(NUMBER, 0.0, facts(), seed=1)) == list(TEAM[:3])
    evening = 9 * 3600.0  # 19:00 in Paris
    assert flows.start(NUMBER, evening, facts(), seed=1).actions == (
        Voicemail("after-hours", None),
    )


def test_max_visits_bounds_a_retry_loop() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone]}
        max_visits: 2
        on: {no_answer: again, max_visits: vm, default: end}
      again: {goto: team}
      vm: {voicemail: {box: main}}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    decision = flows.step(decision.position, "no_answer", 20.0, facts())
    assert rung(decision) == list(TEAM[:3])
    assert decision.position.visit_count("team") == 2
    decision = flows.step(decision.position, "no_answer", 40.0, facts())
    assert decision.actions == (Voicemail("main", None),)


def test_an_unbounded_loop_still_stops_after_max_hops() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: a
    steps:
      a: {goto: b}
      b: {goto: a}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    assert decision.position.done
    assert decision.actions == (Hangup(480, f"more than {MAX_HOPS} steps"),)


def test_menu_choices_retries_and_no_input() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: welcome
    steps:
      welcome: {play: hello.wav, next: menu}
      menu:
        menu: {prompt: choose.wav, choices: {1: sales, 2: support}, retries: 1, timeout: 4}
        on: {no_input: sales, invalid: bye}
      sales: {ring: {targets: [m1@acme.test]}, next: end}
      support: {ring: {targets: [m2@acme.test]}, next: end}
      bye: {hangup: 404}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    assert decision.actions == (Play("hello.wav"),)
    decision = flows.step(decision.position, "done", 3.0, facts())
    assert decision.actions == (CollectDigit("choose.wav", 4),)
    assert rung(flows.step(decision.position, "2", 5.0, facts())) == ["m2@acme.test"]
    again = flows.step(decision.position, "9", 5.0, facts())
    assert again.actions == (CollectDigit("choose.wav", 4),)
    assert flows.step(again.position, "7", 9.0, facts()).actions == (Hangup(404, None),)
    silent = flows.step(decision.position, "no_input", 9.0, facts())
    assert rung(flows.step(silent.position, "no_input", 13.0, facts())) == ["m1@acme.test"]


def test_forward_rings_an_outside_number_through_a_trunk() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: out
    steps:
      out:
        forward: {number: "+12125550199", trunk: carrier, timeout: 25}
        on: {no_answer: vm, default: end}
      vm: {voicemail: {box: main, greeting: sorry.wav}}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    assert only_ring(decision).targets == (RingTarget(number="+12125550199", trunk="carrier"),)
    assert only_ring(decision).timeout == 25
    decision = flows.step(decision.position, "no_answer", 25.0, facts())
    assert decision.actions == (Voicemail("main", "sorry.wav"),)


def test_reaching_end_unanswered_hangs_up_with_480() -> None:
    flows = interpreter(RING_ALL.replace("SKIP", "skip_busy: false"))
    decision = flows.start(NUMBER, 0.0, facts(), seed=1)
    decision = flows.step(decision.position, "no_answer", 20.0, facts())
    assert decision.actions == (Hangup(480, None),)


def test_positions_are_plain_data_that_round_trip_through_json() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [everyone], strategy: random}, next: end}
"""
    )
    decision = flows.start(NUMBER, 0.0, facts(5), seed=42)
    stored = json.dumps(decision.position.to_dict())
    restored = Position.from_dict(json.loads(stored))
    assert restored == decision.position
    assert flows.step(restored, "no_answer", 20.0, facts(5)) == flows.step(
        decision.position, "no_answer", 20.0, facts(5)
    )


def test_random_strategies_are_reproducible_from_the_seed() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team: {ring: {targets: [everyone], strategy: random}, next: end}
"""
    )
    orders = {tuple(rung(flows.start(NUMBER, 0.0, facts(8), seed=seed))) for seed in range(40)}
    assert len(orders) > 1  # different calls, different orders
    again = rung(flows.start(NUMBER, 0.0, facts(8), seed=7))
    assert again == rung(flows.start(NUMBER, 0.0, facts(8), seed=7))


def test_an_outside_number_in_a_rotation_never_takes_the_members_turns() -> None:
    flows = interpreter(
        """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [m1@acme.test, "+12125550199", m2@acme.test], strategy: round_robin}
        next: end
"""
    )
    rotation = f"{NUMBER}/main.team.0"
    turns: dict[str, int] = {}
    firsts = []
    for _ in range(5):
        decision = flows.start(NUMBER, 0.0, facts(turns={rotation: dict(turns)}), seed=1)
        (turn,) = [a for a in decision.actions if isinstance(a, RecordTurn)]
        firsts.append(rung(decision)[0])
        turns[turn.member] = turn.turn
    assert firsts == ["m1@acme.test", "m2@acme.test"] * 2 + ["m1@acme.test"]


def test_a_hangup_reason_phrase_is_one_line() -> None:
    assert HangupSpec.model_validate({"reason": "Closed today"}).reason == "Closed today"
    with pytest.raises(ValidationError, match="one line of text"):
        HangupSpec.model_validate({"reason": "Closed\r\nX-Injected: 1"})
