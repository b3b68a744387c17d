"""The simulator: a scripted team and caller played through the interpreter on paper."""

from __future__ import annotations

from sharedline.callflows.facts import CallFacts
from sharedline.callflows.interpreter import Interpreter
from sharedline.callflows.loader import parse_flows
from sharedline.callflows.simulate import Script, TimelineEntry, simulate

NUMBER = "+14155550100"
TEAM = ("a@acme.test", "b@acme.test", "c@acme.test")


def run(body: str, script: Script) -> list[tuple[float, str, str]]:
    flows = parse_flows(f"version: 1\nnumbers: {{'{NUMBER}': main}}\n{body}")
    facts = CallFacts(number=NUMBER, caller="+12125550123", members=TEAM)
    timeline = simulate(Interpreter(flows.document, flows.revision), NUMBER, facts, script)
    assert all(isinstance(entry, TimelineEntry) for entry in timeline)
    return [(entry.at, entry.event, entry.detail) for entry in timeline]


HUNT = """
flows:
  main:
    start: team
    steps:
      team:
        ring: {targets: [everyone], strategy: sequential, leg_timeout: 10, decline_scope: SCOPE}
        on: {declined: refused, default: vm}
      vm: {voicemail: {box: main}}
      refused: {hangup: 603}
"""


def test_a_member_answers_only_while_their_phone_rings() -> None:
    # b would answer at 5 s, but rings only from 10 s; c answers at 25 s, while ringing
    script = Script(answers={"b@acme.test": 5.0, "c@acme.test": 25.0})
    assert run(HUNT.replace("SCOPE", "leg"), script) == [
        (0.0, "call", "flow main"),
        (0.0, "ring", "team stage 1 wave 1: a@acme.test for 10 s"),
        (10.0, "no answer", ""),
        (10.0, "ring", "team stage 1 wave 2: b@acme.test for 10 s"),
        (20.0, "no answer", ""),
        (20.0, "ring", "team stage 1 wave 3: c@acme.test for 10 s"),
        (25.0, "answered", "c@acme.test"),
        (25.0, "flow ended", ""),
    ]


def test_nobody_answering_ends_in_the_fallback_step() -> None:
    timeline = run(HUNT.replace("SCOPE", "leg"), Script())
    assert timeline[-2:] == [
        (30.0, "step", "team: no_answer -> vm"),
        (30.0, "voicemail", "box main"),
    ]


def test_a_decline_with_group_scope_ends_the_step_at_once() -> None:
    timeline = run(HUNT.replace("SCOPE", "group"), Script(declines=frozenset({"a@acme.test"})))
    assert timeline[2:] == [
        (0.0, "declined", "a@acme.test"),
        (0.0, "step", "team: declined -> refused"),
        (0.0, "hangup", "603"),
    ]


def test_the_caller_hanging_up_stops_everything() -> None:
    timeline = run(HUNT.replace("SCOPE", "leg"), Script(hangup_at=12.0))
    assert timeline[-2:] == [(12.0, "caller hung up", ""), (12.0, "flow ended", "")]


def test_offline_members_fail_at_once_and_the_flow_moves_on() -> None:
    script = Script(unreachable=frozenset(TEAM))
    timeline = run(HUNT.replace("SCOPE", "leg"), script)
    assert (0.0, "failed", "nobody could be rung") in timeline
    assert timeline[-1] == (0.0, "voicemail", "box main")


def test_menus_consume_the_callers_digits_then_time_out() -> None:
    body = """
flows:
  main:
    start: hello
    steps:
      hello: {play: welcome.wav, next: choose}
      choose:
        menu: {prompt: choose.wav, choices: {1: sales}, retries: 1, timeout: 4}
        on: {default: bye}
      sales: {ring: {targets: [a@acme.test]}, next: end}
      bye: {hangup: 480}
"""
    assert run(body, Script(digits=["7"], play_seconds=3.0))[1:] == [
        (0.0, "play", "welcome.wav"),
        (3.0, "step", "hello: done -> choose"),
        (3.0, "menu", "choose.wav, waiting for a digit"),
        (4.0, "digit", "7"),
        (4.0, "menu", "choose.wav, waiting for a digit"),
        (8.0, "no input", ""),
        (8.0, "step", "choose: no_input -> bye"),
        (8.0, "hangup", "480"),
    ]
